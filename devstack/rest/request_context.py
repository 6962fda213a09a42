"""Who a request acts as and what it tells Postgres: the JWT's claims and role, and the one
`set_config` statement PostgREST runs at the start of every transaction."""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

from starlette.requests import Request

from devstack.gateway import tokens
from devstack.rest import wire
from devstack.rest.errors import ApiError

ANON_ROLE = "anon"
SEARCH_PATH = "public, extensions"


@dataclass(frozen=True)
class Identity:
    role: str
    claims: dict[str, Any]
    claims_json: str  # request.jwt.claims

    @property
    def anonymous(self) -> bool:
        return self.role == ANON_ROLE


ANONYMOUS = Identity(ANON_ROLE, {"role": ANON_ROLE}, json.dumps({"role": ANON_ROLE}))
# Tokens verified before, with the time until which they stay valid: a token's signature
# and claims never change, only the clock can expire it. Bounded; cleared when full.
_verified: dict[tuple[str, str], tuple[Identity, float]] = {}
_VERIFIED_MAX = 4096


def authenticate(authorization: str | None, secret: str) -> Identity:
    """The identity of a bearer token (anon without one); 401 PGRST301/303 for a bad one."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return ANONYMOUS
    token = token.strip()
    known = _verified.get((token, secret))
    if known is not None and time.time() < known[1]:
        return known[0]
    identity, valid_until = _verify(token, secret)
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[(token, secret)] = (identity, valid_until)
    return identity


def _verify(token: str, secret: str) -> tuple[Identity, float]:
    try:
        claims = tokens.verify(token, secret)
    except tokens.TokenRejected as rejected:
        raise ApiError(
            401,
            rejected.code,
            rejected.message,
            headers={
                "WWW-Authenticate": (
                    f'Bearer error="invalid_token", error_description="{rejected.message}"'
                )
            },
        ) from None
    role = claims.get("role", ANON_ROLE)
    if not isinstance(role, str) or not role:
        raise ApiError(
            401,
            "PGRST301",
            "JWT role claim must be a non-empty string",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    # valid while now < exp + skew (nbf and iat, once passed, stay passed)
    try:
        valid_until = float(claims["exp"]) + tokens.CLOCK_SKEW_SECONDS
    except KeyError:
        valid_until = math.inf
    except (TypeError, ValueError):
        valid_until = 0.0  # not worth remembering
    return Identity(role, claims, json.dumps(claims)), valid_until


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


@functools.lru_cache(maxsize=16)
def _set_configs(count: int) -> bytes:
    calls = ", ".join(f"set_config(${2 * i + 1}, ${2 * i + 2}, true)" for i in range(count))
    return f"select {calls}".encode()


def context_query(
    identity: Identity,
    request: Request,
    path: str,
    role_settings: list[tuple[str, str]],
) -> wire.Query:
    """One statement setting everything transaction-locally, as PostgREST does."""
    settings: list[tuple[str, str]] = [("search_path", SEARCH_PATH)]
    settings += role_settings
    settings += [
        ("role", identity.role),
        ("request.jwt.claims", identity.claims_json),
        ("request.method", request.method),
        ("request.path", path),
        ("request.headers", json.dumps(_headers(request))),
        ("request.cookies", json.dumps(_cookies(request))),
    ]
    params = tuple(wire.dump(part) for setting in settings for part in setting)
    return wire.Query(_set_configs(len(settings)), params)
