"""The devstack gateway: one ASGI app on :54321 serving what Supabase serves there.

Like Supabase's API gateway it checks the `apikey` header (or query parameter) first, and a
request without an `Authorization` header is made with the API key as its bearer token.
/rest/v1 is PostgREST-compatible (devstack.rest), /auth/v1 Supabase Auth-compatible
(devstack.auth), /realtime/v1 Supabase Realtime's Broadcast (devstack.realtime), /storage/v1
Supabase Storage (devstack.storage).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from devstack.auth.api import AuthApi
from devstack.config import Settings
from devstack.gateway import forwarding
from devstack.gateway.connections import ConnectionPool
from devstack.realtime.api import RealtimeApi
from devstack.rest.api import RestApi
from devstack.storage.api import StorageApi

log = logging.getLogger("carebase.gateway")

KEYLESS_PREFIX = "/storage/v1/"


class Gateway:
    """What Supabase's gateway does before the services: gives every request an id (kept
    from x-request-id when sent) and logs it once, refuses requests without a known API
    key, and passes on X-Forwarded-For and X-Real-IP as a reverse proxy does (forwarding.py).
    One pass over the raw headers (this runs on every request)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.keys = {settings.anon_key, settings.service_role_key}
        self.trusted_proxies = settings.gateway_trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = key = None
        authorized = False
        headers = []
        received_forwarded_for = []
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if request_id is None:
                    request_id = value.decode("latin-1")
                    headers.append((name, value))
                continue  # one x-request-id, the first
            if name == b"x-forwarded-for":
                received_forwarded_for.append(value.decode("latin-1"))
                continue  # rebuilt below
            if name == b"x-real-ip":
                continue  # set below: never the client's own claim
            if name == b"apikey" and key is None:
                key = value.decode("latin-1")
            elif name == b"authorization":
                authorized = True
            headers.append((name, value))
        if not request_id:
            request_id = str(uuid.uuid4())
            headers = [(n, v) for n, v in headers if n != b"x-request-id"]
            headers.append((b"x-request-id", request_id.encode("latin-1")))
        chain = forwarding.forwarded_for(
            received_forwarded_for, forwarding.peer_address(scope), self.trusted_proxies
        )
        headers.append((b"x-forwarded-for", ", ".join(chain).encode("latin-1")))
        headers.append((b"x-real-ip", chain[0].encode("latin-1")))
        scope.setdefault("state", {})[forwarding.CLIENT_IP] = chain[0]
        scope["headers"] = headers
        started = time.perf_counter()
        status = 500
        encoded_id = request_id.encode("latin-1")

        async def send_with_id(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *(h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"),
                    (b"x-request-id", encoded_id),
                ]
            await send(message)

        try:
            key = key or _query_param(scope, "apikey")
            if not key and scope["path"].startswith(KEYLESS_PREFIX):
                # Storage answers for itself, as behind Supabase's gateway: public and signed
                # URLs open without any key, other routes refuse a request without a JWT.
                await self.app(scope, receive, send_with_id)
            elif not key:
                response = JSONResponse({"message": "No API key found in request"}, 401)
                await response(scope, receive, send_with_id)
            elif key not in self.keys:
                response = JSONResponse({"message": "Invalid API key"}, 401)
                await response(scope, receive, send_with_id)
            else:
                if not authorized:
                    headers.append((b"authorization", f"Bearer {key}".encode("latin-1")))
                await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "%s %s %s %s %.1fms",
                request_id,
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
            )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A websocket upgrade (/realtime/v1) needs a known API key too, in the `apikey`
        query parameter as the Realtime clients send it, or the header."""
        key = _query_param(scope, "apikey") or dict(scope["headers"]).get(b"apikey", b"").decode(
            "latin-1"
        )
        if key in self.keys:
            await self.app(scope, receive, send)
            return
        message = "Invalid API key" if key else "No API key found in request"
        websocket = WebSocket(scope, receive, send)
        await websocket.send_denial_response(JSONResponse({"message": message}, 401))


def _query_param(scope: Scope, name: str) -> str | None:
    from urllib.parse import parse_qs

    values = parse_qs(scope.get("query_string", b"").decode()).get(name)
    return values[0] if values else None


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    # PostgREST connects as `authenticator`, Supabase Auth as `supabase_auth_admin`.
    # devstack.rest.wire prepares the request statements itself: psycopg's own automatic
    # preparing stays off on these connections (it would DEALLOCATE ALL after a rollback).
    rest_pool = ConnectionPool(
        settings.dsn("authenticator"),
        max_size=10,
        kwargs={"prepare_threshold": None},
        name="rest",
    )
    auth_pool = ConnectionPool(settings.dsn("supabase_auth_admin"), max_size=5, name="auth")
    rest = RestApi(settings, rest_pool)
    auth = AuthApi(settings, auth_pool)
    realtime = RealtimeApi(settings)
    storage = StorageApi(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await rest_pool.open()
        await auth_pool.open()
        await rest.startup()
        await auth.startup()
        await realtime.startup()
        await storage.startup()
        try:
            yield
        finally:
            await storage.shutdown()
            await realtime.shutdown()
            await rest.shutdown()
            await auth.shutdown()
            await rest_pool.close()
            await auth_pool.close()

    app = Starlette(
        routes=[
            Mount("/rest/v1", routes=rest.routes),
            Mount("/auth/v1", routes=auth.routes),
            Mount("/realtime/v1", routes=realtime.routes),
            Mount("/storage/v1", routes=storage.routes),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(Gateway, settings=settings)
    return app
