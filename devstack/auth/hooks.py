"""Auth hooks as Postgres functions, called as GoTrue calls them: `select schema.fn(event)` on
Supabase Auth's own connection (role supabase_auth_admin)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql

from devstack.auth.auth_config import HookFunction
from devstack.auth.errors import AuthError

# The claims a custom access token hook must keep (GoTrue refuses the token otherwise).
REQUIRED_CLAIMS = ("aud", "exp", "iat", "sub", "role", "aal", "session_id", "email", "phone")


async def _call(conn: AsyncConnection, hook: HookFunction, event: dict[str, Any]) -> Any:
    query = sql.SQL("select {}.{}(%s::jsonb)").format(
        sql.Identifier(hook.schema), sql.Identifier(hook.function)
    )
    cursor = await conn.execute(query, (json.dumps(event),))
    row = await cursor.fetchone()
    return row[0] if row else None


def _raise_hook_error(result: dict[str, Any]) -> None:
    error = result.get("error")
    if isinstance(error, dict):
        status = int(error.get("http_code") or 500)
        code = "unexpected_failure" if status >= 500 else "unknown"
        raise AuthError(status, code, str(error.get("message") or "Hook returned an error"))


async def custom_access_token(
    conn: AsyncConnection,
    hook: HookFunction,
    user_id: str,
    claims: dict[str, Any],
    authentication_method: str,
) -> dict[str, Any]:
    """The claims the hook returns in place of `claims`; its {error} as an AuthError."""
    result = await _call(
        conn,
        hook,
        {"user_id": user_id, "claims": claims, "authentication_method": authentication_method},
    )
    if not isinstance(result, dict):
        raise AuthError(500, "unexpected_failure", "Error running hook URI: invalid response")
    _raise_hook_error(result)
    new_claims = result.get("claims")
    if not isinstance(new_claims, dict) or any(c not in new_claims for c in REQUIRED_CLAIMS):
        raise AuthError(
            500,
            "unexpected_failure",
            "output claims do not conform to the expected schema",
        )
    return new_claims


@dataclass(frozen=True)
class PasswordDecision:
    reject: bool
    message: str
    should_logout_user: bool


async def password_verification(
    conn: AsyncConnection, hook: HookFunction, user_id: str, valid: bool
) -> PasswordDecision:
    result = await _call(conn, hook, {"user_id": user_id, "valid": valid})
    if not isinstance(result, dict):
        raise AuthError(500, "unexpected_failure", "Error running hook URI: invalid response")
    _raise_hook_error(result)
    return PasswordDecision(
        reject=result.get("decision") == "reject",
        message=str(
            result.get("message") or "Further password verification attempts will be rejected."
        ),
        should_logout_user=bool(result.get("should_logout_user")),
    )
