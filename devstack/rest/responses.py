"""Response shapes PostgREST produces: media types (JSON array, singular object, CSV,
nulls stripped), Content-Range and its statuses, Preference-Applied, error bodies."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from devstack.rest import errors
from devstack.rest.errors import ApiError
from devstack.rest.preferences import APPLIED_ORDER

JSON = "application/json"
OBJECT = "application/vnd.pgrst.object+json"
ARRAY = "application/vnd.pgrst.array+json"
CSV = "text/csv"
OPENAPI = "application/openapi+json"


@dataclass(frozen=True)
class MediaType:
    name: str  # JSON, OBJECT, ARRAY or CSV
    strip_nulls: bool = False

    @property
    def singular(self) -> bool:
        return self.name == OBJECT

    @property
    def content_type(self) -> str:
        if self.name == CSV:
            return "text/csv; charset=utf-8"
        suffix = ";nulls=stripped" if self.strip_nulls else ""
        if self.name == JSON:
            return "application/json; charset=utf-8"
        return f"{self.name}{suffix}; charset=utf-8"


def negotiate(accept: str | None, allow_csv: bool = True) -> MediaType:
    """The first acceptable media type of the Accept header (406 if none)."""
    if not accept or not accept.strip():
        return MediaType(JSON)
    for entry in accept.split(","):
        parts = [part.strip() for part in entry.split(";")]
        name = parts[0].lower()
        strip = "nulls=stripped" in [p.replace(" ", "").lower() for p in parts[1:]]
        if name in ("*/*", "application/*", JSON):
            return MediaType(JSON)
        if name in (OBJECT, ARRAY):
            return MediaType(name, strip)
        if name in (CSV, "text/*") and allow_csv:
            return MediaType(CSV)
    raise errors.unacceptable(accept.strip())


def error_response(error: ApiError) -> Response:
    body = json.dumps(error.body()).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", **error.headers}
    return Response(body, error.status, headers=headers)


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(item) for item in value]
    return value


def render_rows(body: str | bytes, media: MediaType, names: list[str], count: int) -> str | bytes:
    """A body from sql_builder.aggregate_rows in the negotiated media type; plain JSON
    passes through as Postgres wrote it."""
    if media.name == CSV:
        # the body holds the lines (sql_builder.aggregate_rows); PostgREST's header is the
        # first row's keys, unquoted, and empty without rows
        text = body.decode() if isinstance(body, bytes) else body
        return f"{','.join(names) if count else ''}\n{text}"
    if media.singular:
        if count != 1:
            raise errors.not_singular(count)
        row = json.loads(body)[0]
        return json.dumps(_strip_nulls(row) if media.strip_nulls else row)
    if media.strip_nulls:
        return json.dumps(_strip_nulls(json.loads(body)))
    return body


def content_location(relation: str, params: tuple[tuple[str, str], ...]) -> str:
    """A read's Content-Location: its query string in PostgREST's canonical form, sorted by
    name (stable), percent-encoded, the values of a repeated name joined by commas."""
    joined: dict[str, list[str]] = {}
    for name, value in sorted(params, key=lambda param: param[0]):
        joined.setdefault(name, []).append(_url_encoded(value))
    query = "&".join(f"{_url_encoded(name)}={','.join(v)}" for name, v in joined.items())
    return f"/{relation}?{query}" if query else f"/{relation}"


def _url_encoded(text: str) -> str:
    """As PostgREST encodes it: each UTF-8 byte taken as a character and encoded again, so a
    non-ASCII character comes out twice encoded (é: %C3%83%C2%A9), as PostgREST sends it."""
    return quote(text.encode().decode("latin-1"), safe="-_.~")


def content_range(lower: int, count: int, total: int | None) -> str:
    shown = f"{lower}-{lower + count - 1}" if count > 0 else "*"
    return f"{shown}/{'*' if total is None else total}"


def range_status(lower: int, count: int, total: int | None) -> int:
    """200, 206 (a counted, partial page) or 416 (past the end)."""
    if total is None:
        return 200
    if lower > total:
        raise errors.range_not_satisfiable(
            f"An offset of {lower} was requested, but there are only {total} rows."
        )
    if count < total:
        return 206
    return 200


_RANGE = re.compile(r"^\s*(?:items=)?(\d+)-(\d*)\s*$")


def parse_range(header: str | None) -> tuple[int, int | None] | None:
    """`Range: 0-9` (items); a malformed header is ignored, as PostgREST does."""
    if not header:
        return None
    match = _RANGE.match(header)
    if not match:
        return None
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) else None
    if end is not None and end < start:
        raise errors.range_not_satisfiable(
            "The lower boundary must be lower than or equal to the upper boundary in the "
            f"Range header ({start}-{end})."
        )
    return start, end


def applied(prefs: list[str]) -> dict[str, str]:
    """The Preference-Applied header of `name=value` items, in PostgREST's order."""
    ordered = sorted(prefs, key=lambda item: APPLIED_ORDER.index(item.split("=")[0]))
    return {"Preference-Applied": ", ".join(ordered)} if prefs else {}


def body_response(
    body: str | bytes | None, status: int, media: MediaType | None, headers: dict[str, str]
) -> Response:
    if body is None or media is None:
        return Response(status_code=status, headers=headers)
    all_headers = {"Content-Type": media.content_type, **headers}
    content = body.encode() if isinstance(body, str) else body
    return Response(content, status, headers=all_headers)
