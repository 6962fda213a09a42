"""POST /signup with email and password. With email confirmations off (config.toml), the new
user is confirmed at once and signed in, as GoTrue's autoconfirm does."""

from __future__ import annotations

from typing import Any

from devstack.auth import audit, passwords, sessions, users
from devstack.auth.auth_config import AuthConfig
from devstack.auth.errors import AuthError, bad_request, not_implemented, unprocessable
from devstack.gateway.connections import ConnectionPool


async def sign_up(
    pool: ConnectionPool,
    config: AuthConfig,
    secret: str,
    body: dict[str, Any],
    client: sessions.Client,
) -> dict[str, Any]:
    if not config.signup_enabled:
        raise AuthError(422, "signup_disabled", "Signups not allowed for this instance")
    if body.get("phone"):
        raise not_implemented("Phone signup (it sends an SMS to confirm the number)")
    if not body.get("email"):
        raise bad_request("validation_failed", "Signup requires a valid password")
    if not config.email_signup_enabled:
        raise unprocessable("email_provider_disabled", "Email signups are disabled")
    if config.email_confirmations:
        raise not_implemented("Email signup with confirmation emails")
    email = users.normalize_email(str(body["email"]))
    password = str(body.get("password") or "")
    if not password:
        raise bad_request("validation_failed", "Signup requires a valid password")
    passwords.check_strength(config, password)
    metadata = body.get("data") if isinstance(body.get("data"), dict) else {}

    async with pool.connection() as conn, conn.transaction():
        if await users.find_by_email(conn, email):
            raise unprocessable("user_already_exists", "User already registered")
        new = users.NewUser(
            email=email,
            phone=None,
            password_hash=await passwords.hash_password(conn, password),
            user_metadata=metadata or {},
            email_confirmed=True,
        )
        user_id = await users.create(conn, new)
        await audit.record(
            conn,
            "user_signedup",
            actor_id=str(user_id),
            actor_username=email,
            ip_address=client.ip,
            traits={"provider": "email"},
        )
        await audit.record(
            conn,
            "login",
            actor_id=str(user_id),
            actor_username=email,
            ip_address=client.ip,
            traits={"provider": "email"},
        )
        return await sessions.start(conn, config, secret, str(user_id), "password", client)
