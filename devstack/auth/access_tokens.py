"""Access tokens with the claims Supabase Auth issues, passed through the custom access token
hook when one is configured."""

from __future__ import annotations

import time
import uuid
from typing import Any

from psycopg import AsyncConnection

from devstack.auth import hooks, users
from devstack.auth.auth_config import AuthConfig
from devstack.gateway import tokens


async def session_assurance(
    conn: AsyncConnection, session_id: uuid.UUID | str
) -> tuple[str, list[dict[str, Any]]]:
    """The session's aal and amr, from its mfa_amr_claims rows (aal2 once TOTP was used)."""
    cursor = await conn.execute(
        "select authentication_method, extract(epoch from updated_at)::bigint "
        "from auth.mfa_amr_claims where session_id = %s order by updated_at, id",
        (str(session_id),),
    )
    rows = await cursor.fetchall()
    amr = [{"method": method, "timestamp": int(at)} for method, at in rows]
    aal = "aal2" if any(entry["method"] == "totp" for entry in amr) else "aal1"
    return aal, amr


async def issue(
    conn: AsyncConnection,
    config: AuthConfig,
    secret: str,
    user_id: uuid.UUID | str,
    session_id: uuid.UUID | str,
    authentication_method: str,
) -> tuple[str, int]:
    """A signed access token for the session, and its expiry (unix seconds)."""
    user = await users.find_by_id(conn, user_id)
    assert user is not None
    aal, amr = await session_assurance(conn, session_id)
    issued_at = int(time.time())
    expires_at = issued_at + config.jwt_expiry
    claims: dict[str, Any] = {
        "aud": user["aud"] or "authenticated",
        "exp": expires_at,
        "iat": issued_at,
        "iss": config.issuer,
        "sub": str(user["id"]),
        "email": user["email"] or "",
        "phone": user["phone"] or "",
        "app_metadata": user["raw_app_meta_data"] or {},
        "user_metadata": user["raw_user_meta_data"] or {},
        "role": user["role"] or "authenticated",
        "aal": aal,
        "amr": amr,
        "session_id": str(session_id),
        "is_anonymous": bool(user["is_anonymous"]),
    }
    if config.access_token_hook:
        claims = await hooks.custom_access_token(
            conn, config.access_token_hook, str(user["id"]), claims, authentication_method
        )
    token = tokens.issue(claims, secret)
    return token, int(claims.get("exp", expires_at))
