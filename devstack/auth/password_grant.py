"""POST /token?grant_type=password: sign in with email or phone and a password.

Order as in GoTrue: find the user, check the password, ask the password verification hook
(its `reject` wins, with its message, and may sign the user out everywhere), then refuse a
wrong password or an unconfirmed address, and finally open a session.

One deliberate difference: GoTrue answers `user_banned` before it checks the password, which
tells anyone who types an email that the account exists and is banned. Here an unknown email,
a user without a password and a banned user given a wrong password all get the answer of a
wrong password, after the same bcrypt comparison (so the time taken does not tell them
apart either); only the right password of a banned user is told `user_banned`. A locked
account is refused by the hook with the same answer (supabase/migrations, lockout).
"""

from __future__ import annotations

from typing import Any

from devstack.auth import audit, hooks, passwords, sessions, users
from devstack.auth.auth_config import AuthConfig
from devstack.auth.errors import AuthError, bad_request
from devstack.gateway.connections import ConnectionPool

INVALID_LOGIN = "Invalid login credentials"
# A bcrypt hash (cost 10, as GoTrue's) of nothing anyone types: compared against when there is
# no user, so that an unknown email takes as long to refuse as a wrong password.
_NO_USER_HASH = "$2a$10$LJmaflf.WKV8jL0wBw6urOh18AEFLyl9nukRIuVsD1lCoxDx71PjO"


async def sign_in(
    pool: ConnectionPool,
    config: AuthConfig,
    secret: str,
    body: dict[str, Any],
    client: sessions.Client,
) -> dict[str, Any]:
    email = str(body.get("email") or "")
    phone = str(body.get("phone") or "")
    password = str(body.get("password") or "")
    if email and phone:
        raise bad_request(
            "validation_failed",
            "Only an email address or phone number should be provided on login.",
        )
    if not email and not phone:
        raise bad_request("validation_failed", "missing email or phone")

    refused: AuthError | None = None
    async with pool.connection() as conn:
        async with conn.transaction():
            if email:
                user = await users.find_by_email(conn, email.strip())
            else:
                user = await users.find_by_phone(conn, phone.strip().lstrip("+"))
            if user is None or not user["encrypted_password"]:
                await passwords.password_matches(conn, password or "-", _NO_USER_HASH)
                raise bad_request("invalid_credentials", INVALID_LOGIN)
            valid = await passwords.password_matches(conn, password, user["encrypted_password"])
            if user["is_banned"]:
                if valid:
                    raise bad_request("user_banned", "User is banned")
                raise bad_request("invalid_credentials", INVALID_LOGIN)
            if config.password_verification_hook:
                # The hook's own writes (attempt counters) stand whatever the answer is.
                decision = await hooks.password_verification(
                    conn, config.password_verification_hook, str(user["id"]), valid
                )
                if decision.reject:
                    if decision.should_logout_user:
                        await sessions.logout(conn, str(user["id"]), None, "global")
                    refused = bad_request("invalid_credentials", decision.message)
        if refused is not None:
            raise refused
        if not valid:
            raise bad_request("invalid_credentials", INVALID_LOGIN)
        if email and user["email_confirmed_at"] is None:
            raise bad_request("email_not_confirmed", "Email not confirmed")
        if phone and user["phone_confirmed_at"] is None:
            raise bad_request("phone_not_confirmed", "Phone not confirmed")

        async with conn.transaction():
            await audit.record(
                conn,
                "login",
                actor_id=str(user["id"]),
                actor_username=users.username(user),
                ip_address=client.ip,
                traits={"provider": "email" if email else "phone"},
            )
            response = await sessions.start(
                conn, config, secret, str(user["id"]), "password", client
            )
    weak = passwords.weakness(config, password)
    if weak:
        response["weak_password"] = weak
    return response
