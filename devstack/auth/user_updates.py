"""PUT /user: a signed-in user changes their password (under the policy) or metadata."""

from __future__ import annotations

import json
from typing import Any

from psycopg import AsyncConnection

from devstack.auth import audit, passwords, users
from devstack.auth.auth_config import AuthConfig
from devstack.auth.bearer import Caller
from devstack.auth.errors import AuthError, bad_request, not_implemented, unprocessable


async def has_verified_factor(conn: AsyncConnection, user_id: str) -> bool:
    cursor = await conn.execute(
        "select exists (select from auth.mfa_factors where user_id = %s and status = 'verified')",
        (user_id,),
    )
    row = await cursor.fetchone()
    return bool(row and row[0])


async def update_self(
    conn: AsyncConnection, config: AuthConfig, caller: Caller, body: dict[str, Any], ip: str
) -> dict[str, Any]:
    user = caller.user
    user_id = caller.user_id
    email = body.get("email")
    if email and users.normalize_email(str(email)) != (user["email"] or "").lower():
        raise not_implemented("Changing the email address (it sends confirmation emails)")
    phone = body.get("phone")
    if phone and users.normalize_phone(str(phone)) != (user["phone"] or ""):
        raise not_implemented("Changing the phone number (it sends an SMS)")
    data = body.get("data")
    if data is not None and not isinstance(data, dict):
        raise bad_request("validation_failed", "data must be an object")

    password = body.get("password")
    if password is not None:
        password = str(password)
        if await has_verified_factor(conn, user_id) and not caller.session_is_aal2:
            raise AuthError(
                401,
                "insufficient_aal",
                "AAL2 session is required to update email or password when MFA is enabled.",
            )
        passwords.check_strength(config, password)
        if await passwords.password_matches(conn, password, user["encrypted_password"]):
            raise unprocessable(
                "same_password", "New password should be different from the old password."
            )
        await conn.execute(
            "update auth.users set encrypted_password = %s, updated_at = now() where id = %s",
            (await passwords.hash_password(conn, password), user_id),
        )
        # A new password signs the user out everywhere else, as in GoTrue.
        session_id = caller.session["id"] if caller.session else None
        if session_id is None:
            await conn.execute("delete from auth.sessions where user_id = %s", (user_id,))
        else:
            await conn.execute(
                "delete from auth.sessions where user_id = %s and id <> %s",
                (user_id, session_id),
            )
        await audit.record(
            conn,
            "user_updated_password",
            actor_id=user_id,
            actor_username=users.username(user),
            ip_address=ip,
        )

    if data:
        merged = users.merge_metadata(user["raw_user_meta_data"], data)
        await conn.execute(
            "update auth.users set raw_user_meta_data = %s::jsonb, updated_at = now() "
            "where id = %s",
            (json.dumps(merged), user_id),
        )
    await audit.record(
        conn,
        "user_modified",
        actor_id=user_id,
        actor_username=users.username(user),
        ip_address=ip,
    )
    return await users.present(conn, user_id)
