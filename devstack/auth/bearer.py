"""Who is calling: the bearer token of a request, checked as GoTrue checks it (a user with
an existing session for /user, /logout, /factors; an admin role for /admin)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from starlette.requests import Request

from devstack.auth import users
from devstack.auth.errors import AuthError, bad_request, forbidden
from devstack.gateway import forwarding, tokens

ADMIN_ROLES = frozenset({"service_role", "supabase_admin"})


@dataclass(frozen=True)
class Caller:
    claims: dict[str, Any]
    user: dict[str, Any]
    session: dict[str, Any] | None

    @property
    def user_id(self) -> str:
        return str(self.user["id"])

    @property
    def session_is_aal2(self) -> bool:
        return bool(self.session and self.session["aal"] == "aal2")


def claims_of(request: Request, secret: str) -> dict[str, Any]:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token")
    try:
        return tokens.verify(token.strip(), secret)
    except tokens.TokenRejected as rejected:
        raise forbidden(
            "bad_jwt", f"invalid JWT: unable to parse or verify signature, {rejected.message}"
        ) from None


def require_admin(request: Request, secret: str) -> dict[str, Any]:
    claims = claims_of(request, secret)
    if claims.get("role") not in ADMIN_ROLES:
        raise forbidden("not_admin", "User not allowed")
    return claims


async def require_user(request: Request, secret: str, conn: AsyncConnection) -> Caller:
    claims = claims_of(request, secret)
    subject = claims.get("sub")
    if not subject:
        raise forbidden("bad_jwt", "invalid claim: missing sub claim")
    try:
        user_id = uuid.UUID(str(subject))
    except ValueError:
        raise bad_request("bad_jwt", "invalid claim: sub claim must be a UUID") from None
    user = await users.find_by_id(conn, user_id)
    if user is None:
        raise forbidden("user_not_found", "User from sub claim in JWT does not exist")
    session = None
    session_id = claims.get("session_id")
    if session_id and session_id != str(uuid.UUID(int=0)):
        try:
            session_uuid = uuid.UUID(str(session_id))
        except ValueError:
            raise bad_request("bad_jwt", "invalid claim: session_id claim must be a UUID") from None
        async with conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(
                "select id, user_id, aal::text as aal, factor_id from auth.sessions where id = %s",
                (session_uuid,),
            )
            session = await cursor.fetchone()
        if session is None:
            raise forbidden(
                "session_not_found", "Session from session_id claim in JWT does not exist"
            )
    return Caller(claims, user, session)


def client_ip(request: Request) -> str:
    """The caller's address as the gateway established it: never a client-chosen
    X-Forwarded-For entry (devstack.gateway.forwarding)."""
    return forwarding.client_ip(request)
