"""One HTTP request read once, as PostgREST's ApiRequest: who it acts as, what it targets,
its query parameters, preferences, media types and body. Plans, queries, the transaction and
the response read this frozen value instead of the Starlette request, so what a stage may
depend on is visible in one place."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from devstack.gateway import json_bodies
from devstack.rest import errors, preferences, schema_cache
from devstack.rest.identity import Identity, authenticate
from devstack.rest.preferences import Preferences

BODY_METHODS = ("POST", "PATCH", "PUT")
UNREADABLE_BODIES = ("text/csv", "application/x-www-form-urlencoded", "text/plain")


@dataclass(frozen=True)
class ApiRequest:
    method: str
    target: str  # the relation or function the path names; "" for the root
    path: str  # request.path as PostgREST sets it
    identity: Identity
    prefs: Preferences
    params: tuple[tuple[str, str], ...]  # the query string in order, without `apikey`
    query_string: bytes  # as sent: part of the key of a read's remembered statements
    accept: str | None
    content_type: str
    range: str | None
    headers_json: str  # request.headers
    cookies_json: str  # request.cookies
    body: bytes
    by_profile: bool = False  # the schema was named by a profile header: say it back

    @property
    def is_read(self) -> bool:
        return self.method in ("GET", "HEAD")


async def read(
    request: Request, secret: str, timezones: frozenset[str], strict_prefs: bool = True
) -> ApiRequest:
    """The request's ApiRequest, refusing in PostgREST's order: a schema that is not exposed
    (406), a bad token (401), invalid preferences under handling=strict (400; the root,
    which never read preferences, passes strict_prefs=False)."""
    method = request.method
    by_profile = _check_profile(request, write=method not in ("GET", "HEAD", "OPTIONS"))
    identity = authenticate(request.headers.get("authorization"), secret)
    prefs = preferences.parse(request.headers.getlist("prefer"), timezones)
    if strict_prefs:
        preferences.refuse_invalid(prefs)
    query_string = request.scope.get("query_string", b"")
    pairs = parse_qsl(query_string.decode(), keep_blank_values=True)
    return ApiRequest(
        method=method,
        target=request.path_params.get("name", ""),
        path=_path(request.scope),
        identity=identity,
        prefs=prefs,
        # `apikey` is the gateway's (Supabase's gateway hides it from PostgREST too)
        params=tuple((k, v) for k, v in pairs if k != "apikey"),
        query_string=query_string,
        accept=request.headers.get("accept"),
        content_type=request.headers.get("content-type", "application/json"),
        range=request.headers.get("range"),
        headers_json=json.dumps(_headers(request)),
        cookies_json=json.dumps(_cookies(request)),
        body=await request.body() if method in BODY_METHODS else b"",
        by_profile=by_profile,
    )


def payload(req: ApiRequest, allow_empty: bool) -> Any:
    """The JSON body; an empty one is {} when allowed (a call without arguments)."""
    media = req.content_type.split(";")[0].strip().lower()
    if media in UNREADABLE_BODIES:
        raise errors.not_implemented(f"Request bodies of type {media}")
    if media not in ("application/json", "", "*/*") and not media.endswith("+json"):
        raise errors.unsupported_media(media)
    if not req.body.strip():
        if allow_empty:
            return {}
        raise errors.invalid_body("Empty or invalid json")
    try:
        return json_bodies.loads(req.body)
    except json_bodies.TooDeep as error:
        raise errors.invalid_body("Empty or invalid json", str(error)) from None
    except ValueError:
        raise errors.invalid_body("Empty or invalid json") from None


def _check_profile(request: Request, write: bool) -> bool:
    """Whether the request names its schema (Accept-Profile, or Content-Profile for writes);
    406 for one that is not exposed."""
    header = "content-profile" if write else "accept-profile"
    profile = request.headers.get(header)
    if profile is not None and profile != schema_cache.EXPOSED_SCHEMA:
        raise errors.unknown_schema(profile, schema_cache.EXPOSED_SCHEMA)
    return profile is not None


def _path(scope: dict) -> str:
    """request.path: the URL path under /rest/v1, as Starlette's request.url.path gives it."""
    path = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    return path.removeprefix(scope.get("root_path", "")) or "/"


def _cookies(request: Request) -> dict[str, str]:
    jar = SimpleCookie()
    try:
        jar.load(request.headers.get("cookie", ""))
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _headers(request: Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        name = name.lower()
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers
