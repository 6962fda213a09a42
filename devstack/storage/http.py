"""What every Storage route shares on the HTTP side: its errors turned into Storage's answers,
JSON bodies read with a bound on nesting, and rows written as Storage's JSON writes them
(timestamps as JavaScript's ISO strings, uuids as text, null strings as "")."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from devstack.gateway import json_bodies
from devstack.storage import errors

log = logging.getLogger("carebase.storage")

Handler = Callable[[Request], Awaitable[Response]]
BODY_LIMIT = 1024 * 1024  # JSON bodies (lists, moves, signs) are small


def storage_route(handler: Handler) -> Handler:
    """Storage's errors as their JSON answers; anything unexpected as its 500."""

    @functools.wraps(handler)
    async def respond(request: Request) -> Response:
        try:
            return await handler(request)
        except errors.StorageError as error:
            return error.response()
        except Exception:
            log.exception("storage: %s %s failed", request.method, request.url.path)
            return errors.internal().response()

    return respond


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object ({} for an empty body); 400 for anything else."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > BODY_LIMIT:
            raise errors.StorageError(413, "EntityTooLarge", "Request body is too large")
    if not raw.strip():
        return {}
    try:
        body = json_bodies.loads(bytes(raw))
    except ValueError:
        raise errors.invalid_request("Body is not valid JSON") from None
    if not isinstance(body, dict):
        raise errors.invalid_request("body must be object")
    return body


def required_text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise errors.invalid_request(f"body must have required property '{name}'")
    return value


def js_time(value: datetime | None) -> str | None:
    """A timestamp as JSON.stringify writes a JavaScript Date."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def rendered(row: dict[str, Any]) -> dict[str, Any]:
    return {key: _rendered_value(value) for key, value in row.items()}


def _rendered_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return js_time(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def object_json(row: dict[str, Any]) -> dict[str, Any]:
    """An object row as Storage's object schema writes it (a null string becomes "")."""
    item = rendered(row)
    for key in ("owner", "owner_id", "version"):
        if key in item:
            item[key] = item[key] or ""
    return item


def bucket_json(row: dict[str, Any]) -> dict[str, Any]:
    """A bucket as Storage's bucket schema writes it (a null string becomes "")."""
    bucket = rendered(row)
    for key in ("owner", "owner_id"):
        bucket[key] = bucket.get(key) or ""
    bucket["type"] = "STANDARD"
    return bucket


def message(text: str) -> JSONResponse:
    return JSONResponse({"message": text})


def http_date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
