"""RealtimeApi: /realtime/v1/websocket, Supabase Realtime's Broadcast and Postgres Changes
over Phoenix channels (serializers 1.0.0 and 2.0.0), with private channels authorized by RLS
on realtime.messages and each row change by the subscriber's RLS (changes.py).

The socket's own token is its `apikey` (query parameter or header), checked at connect as
Realtime does: a bad or expired one is answered 401 with `{"error": ...}` and no upgrade.
Channels take the join's `access_token` when sent. Each gateway worker LISTENs for the
messages the database announces (sql/platform/75_realtime_delivery.sql) and delivers them to
its own sockets; client broadcasts go through the database too, so every worker sees them.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from devstack.config import Settings
from devstack.gateway import tokens
from devstack.gateway.connections import ConnectionPool
from devstack.realtime import changes, database, frames
from devstack.realtime.hub import Hub
from devstack.realtime.limits import Limits
from devstack.realtime.socket import ClientSocket, RealtimeContext

ROLE = "supabase_realtime_admin"


class RealtimeApi:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = ConnectionPool(settings.dsn(ROLE), max_size=5, name="realtime")
        self.hub = Hub()
        self.listener = database.Listener(settings.dsn(ROLE), self.hub.deliver)
        self.changes = changes.ChangeFeed(settings.dsn(ROLE), self.pool)
        self.context = RealtimeContext(
            self.pool, self.changes, settings.jwt_secret, Limits.from_env(), str(os.getpid())
        )
        self.routes = [WebSocketRoute("/websocket", self.websocket)]

    async def startup(self) -> None:
        await self.pool.open()
        self.listener.start()
        self.changes.start()

    async def shutdown(self) -> None:
        await self.changes.stop()
        await self.listener.stop()
        await self.pool.close()

    async def websocket(self, websocket: WebSocket) -> None:
        token = websocket.query_params.get("apikey") or websocket.headers.get("x-api-key")
        refusal = _connect_refusal(token, self.settings.jwt_secret)
        if refusal is not None:
            await websocket.send_denial_response(JSONResponse({"error": refusal}, 401))
            return
        try:
            serializer = frames.Serializer(websocket.query_params.get("vsn") or frames.V1)
        except frames.BadFrame as bad:
            await websocket.send_denial_response(JSONResponse({"error": str(bad)}, 400))
            return
        await websocket.accept()
        context = self.context.for_socket(token)
        await ClientSocket(websocket, self.hub, context, serializer).serve()


def _connect_refusal(token: Any, secret: str) -> str | None:
    """Realtime's answer to a socket whose token is missing, invalid or expired."""
    if not token:
        return "API key is missing"
    try:
        claims = tokens.verify(token, secret, leeway=0)
    except tokens.TokenRejected as rejected:
        if rejected.expired:
            return "Token has expired"
        if "cryptographic" in rejected.message:
            return "Failed to validate JWT signature"
        return "The token provided is not a valid JWT"
    if "role" not in claims or "exp" not in claims:
        return "Fields `role` and `exp` are required in JWT"
    return None
