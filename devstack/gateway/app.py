"""The devstack gateway: one ASGI app on :54321 serving what Supabase serves there.

Like Supabase's API gateway it checks the `apikey` header (or query parameter) first, and a
request without an `Authorization` header is made with the API key as its bearer token.
/rest/v1 is PostgREST-compatible (devstack.rest), /auth/v1 Supabase Auth-compatible
(devstack.auth).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from devstack.auth.api import AuthApi
from devstack.config import Settings
from devstack.rest.api import RestApi

log = logging.getLogger("carebase.gateway")


class ApiKeyGate:
    """Refuses requests without a known API key, as Supabase's gateway does."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.keys = {settings.anon_key, settings.service_role_key}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = MutableHeaders(scope=scope)
        key = headers.get("apikey") or _query_param(scope, "apikey")
        if not key:
            await JSONResponse({"message": "No API key found in request"}, 401)(
                scope, receive, send
            )
            return
        if key not in self.keys:
            await JSONResponse({"message": "Invalid API key"}, 401)(scope, receive, send)
            return
        if "authorization" not in headers:
            headers["authorization"] = f"Bearer {key}"
        await self.app(scope, receive, send)


class RequestLog:
    """Gives every request an id (kept from x-request-id when sent) and logs it once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = MutableHeaders(scope=scope)
        request_id = headers.get("x-request-id") or str(uuid.uuid4())
        headers["x-request-id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        try:
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


def _query_param(scope: Scope, name: str) -> str | None:
    from urllib.parse import parse_qs

    values = parse_qs(scope.get("query_string", b"").decode()).get(name)
    return values[0] if values else None


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    # PostgREST connects as `authenticator`, Supabase Auth as `supabase_auth_admin`.
    # devstack.rest.wire prepares the request statements itself: psycopg's own automatic
    # preparing stays off on these connections (it would DEALLOCATE ALL after a rollback).
    rest_pool = AsyncConnectionPool(
        settings.dsn("authenticator"),
        min_size=1,
        max_size=10,
        open=False,
        kwargs={"prepare_threshold": None},
    )
    auth_pool = AsyncConnectionPool(
        settings.dsn("supabase_auth_admin"), min_size=1, max_size=5, open=False
    )
    rest = RestApi(settings, rest_pool)
    auth = AuthApi(settings, auth_pool)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await rest_pool.open(wait=True)
        await auth_pool.open(wait=True)
        await rest.startup()
        await auth.startup()
        try:
            yield
        finally:
            await rest.shutdown()
            await auth.shutdown()
            await rest_pool.close()
            await auth_pool.close()

    app = Starlette(
        routes=[Mount("/rest/v1", routes=rest.routes), Mount("/auth/v1", routes=auth.routes)],
        lifespan=lifespan,
    )
    app.add_middleware(ApiKeyGate, settings=settings)
    app.add_middleware(RequestLog)
    return app
