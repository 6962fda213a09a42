"""/api/v1/analytics/realtime: the dashboard's live numbers as server-sent events (seed 001).

The numbers are rpc/analytics_realtime's, read with the viewer's own token (so the database
decides which hospital they may see). The stream waits on the hospital's analytics topic in
Supabase Realtime (sidecar.integrations.realtime_topic), where the database broadcasts only a
key when appointments, messages, tickets or journeys of the hospital change; it then re-reads
the numbers and sends them when their version (the topic's last seq, the event's `id`) moved.
A reconnecting client sends `Last-Event-ID`: the numbers come at once only if they changed
meanwhile. Heartbeat comments keep proxies from closing the stream; each user may hold a few
streams at once (CAREBASE_ANALYTICS_STREAMS_PER_USER). Everything else of analytics is
/rest/v1/rpc/analytics_* (README, seed 001 map).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sidecar.errors import ApiError, error_responses
from sidecar.integrations.realtime_topic import TopicWatcher
from sidecar.integrations.supabase_api import call_rpc, token_claims
from sidecar.routes.dependencies import Supabase

router = APIRouter(tags=["Analytics"])
log = logging.getLogger("sidecar.analytics")
_bearer = HTTPBearer(auto_error=False, description="A Supabase access token (JWT)")
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def stream_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[
        str | None,
        Query(description="For EventSource, which cannot send headers: the access token"),
    ] = None,
) -> str:
    token = access_token
    if credentials is not None and credentials.scheme.lower() == "bearer":
        token = credentials.credentials or token
    if not token:
        raise ApiError(401, "missing_token", "send the access token as `Authorization: Bearer ...`")
    if not _JWT.fullmatch(token):
        raise ApiError(401, "invalid_token", "the access token is not a JWT")
    return token


def _event(numbers: dict[str, Any]) -> bytes:
    return f"id: {numbers['version']}\nevent: metrics\ndata: {json.dumps(numbers)}\n\n".encode()


@router.get(
    "/analytics/realtime",
    operation_id="analytics_realtime_stream",
    summary="The hospital's live numbers, as server-sent events (seed 001)",
    description=(
        "For the hospital's admins and CROs. Each `metrics` event carries rpc/analytics_realtime's "
        "numbers (today's appointments, messages, tickets, active journeys) with `id` = their "
        "version; a new event follows within a second or two of any change, and `: heartbeat` "
        "comments keep the connection alive. Reconnect with `Last-Event-ID`: the numbers are "
        "sent at once only if they moved meanwhile. The token goes in `Authorization: Bearer` "
        "(or `access_token=` for EventSource). 404 for a hospital you may not see; 429 with "
        "Retry-After when you hold too many streams."
    ),
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **error_responses(401, 403, 404, 422, 429, 503),
    },
)
async def analytics_realtime(
    request: Request,
    supabase: Supabase,
    token: Annotated[str, Depends(stream_token)],
    hospital_id: UUID | None = None,
) -> StreamingResponse:
    settings = request.app.state.settings
    streams: Counter[str] = request.app.state.analytics_streams
    viewer = str(token_claims(token).get("sub") or token)
    if streams[viewer] >= settings.analytics_streams_per_user:
        raise ApiError(
            429,
            "too_many_streams",
            f"you already hold {streams[viewer]} live streams; close one first",
            headers={"Retry-After": str(max(1, math.ceil(settings.analytics_heartbeat_seconds)))},
        )
    client = supabase.as_user(token)
    params = {"hospital_id": str(hospital_id) if hospital_id else None}
    current = await call_rpc(client, "analytics_realtime", params)
    seen = request.headers.get("last-event-id")
    streams[viewer] += 1

    async def events() -> AsyncIterator[bytes]:
        nonlocal current
        try:
            async with TopicWatcher(
                settings.supabase_url, settings.supabase_anon_key, token, current["topic"]
            ) as watcher:
                if str(current["version"]) != seen:
                    yield _event(current)
                while not await request.is_disconnected():
                    if not await watcher.wait(settings.analytics_heartbeat_seconds):
                        yield b": heartbeat\n\n"
                    try:
                        latest = await call_rpc(client, "analytics_realtime", params)
                    except ApiError as error:
                        failure = {"code": error.code, "message": error.message}
                        yield f"event: error\ndata: {json.dumps(failure)}\n\n".encode()
                        return
                    if latest["version"] != current["version"]:
                        current = latest
                        yield _event(current)
                    if not watcher.open:
                        return  # the channel closed (an expired token): the client reconnects
        finally:
            streams[viewer] -= 1

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
