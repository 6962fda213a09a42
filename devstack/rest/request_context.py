"""Who a request acts as and what it tells Postgres: the JWT's claims and role, and the one
`set_config` statement PostgREST runs at the start of every transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

from psycopg import sql
from starlette.requests import Request

from devstack.gateway import tokens
from devstack.rest.errors import ApiError

ANON_ROLE = "anon"
SEARCH_PATH = "public, extensions"


@dataclass(frozen=True)
class Identity:
    role: str
    claims: dict[str, Any]

    @property
    def anonymous(self) -> bool:
        return self.role == ANON_ROLE


def authenticate(authorization: str | None, secret: str) -> Identity:
    """The identity of a bearer token (anon without one); 401 PGRST301/303 for a bad one."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return Identity(ANON_ROLE, {"role": ANON_ROLE})
    try:
        claims = tokens.verify(token.strip(), secret)
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
    return Identity(role, claims)


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


def context_statement(
    identity: Identity,
    request: Request,
    path: str,
    role_settings: list[tuple[str, str]],
) -> tuple[sql.Composed, list[str]]:
    """One statement setting everything transaction-locally, as PostgREST does."""
    settings: list[tuple[str, str]] = [("search_path", SEARCH_PATH)]
    settings += role_settings
    settings += [
        ("role", identity.role),
        ("request.jwt.claims", json.dumps(identity.claims)),
        ("request.method", request.method),
        ("request.path", path),
        ("request.headers", json.dumps(_headers(request))),
        ("request.cookies", json.dumps(_cookies(request))),
    ]
    calls = sql.SQL(", ").join(sql.SQL("set_config(%s, %s, true)") for _ in settings)
    params = [part for setting in settings for part in setting]
    return sql.SQL("select {}").format(calls), params
