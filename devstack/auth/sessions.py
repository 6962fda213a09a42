"""Sessions and their refresh tokens (auth.sessions, auth.refresh_tokens, auth.mfa_amr_claims).

Refresh follows GoTrue: the token is swapped for a child (rotation); a rotated token that is
the parent of the session's current token gets that current token back (the client lost the
answer); any other rotated token is accepted only within the reuse interval, after which the
whole session's tokens are revoked and the refresh refused. A session whose tokens were all
revoked that way stays dead: none of its tokens is accepted again, not even within the reuse
interval (GoTrue's revocation touches updated_at, which would reopen that window for the
newest token and let whoever holds it carry the session on). A session idle for longer than
the inactivity timeout (last activity = sessions.refreshed_at, else the token's last update,
else the session's creation) can no longer be refreshed.
"""

from __future__ import annotations

import secrets
import string
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from devstack.auth import access_tokens, audit, users
from devstack.auth.audit import INSTANCE_ID
from devstack.auth.auth_config import AuthConfig
from devstack.auth.errors import AuthError, bad_request
from devstack.gateway.connections import ConnectionPool

_TOKEN_ALPHABET = string.ascii_lowercase + string.digits


def new_refresh_token() -> str:
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(12))


@dataclass(frozen=True)
class Client:
    """What a session records about the device that opened or refreshed it."""

    ip: str
    user_agent: str | None


async def _insert_refresh_token(
    conn: AsyncConnection, user_id: str, session_id: uuid.UUID | str, parent: str | None
) -> str:
    token = new_refresh_token()
    await conn.execute(
        "insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, "
        "updated_at, parent, session_id) values (%s, %s, %s, false, now(), now(), %s, %s)",
        (INSTANCE_ID, token, user_id, parent, str(session_id)),
    )
    return token


async def add_amr_claim(conn: AsyncConnection, session_id: uuid.UUID | str, method: str) -> None:
    await conn.execute(
        "insert into auth.mfa_amr_claims (session_id, created_at, updated_at, "
        "authentication_method, id) values (%s, now(), now(), %s, %s) "
        "on conflict on constraint mfa_amr_claims_session_id_authentication_method_pkey "
        "do update set updated_at = excluded.updated_at",
        (str(session_id), method, uuid.uuid4()),
    )


async def token_response(
    conn: AsyncConnection,
    config: AuthConfig,
    secret: str,
    user_id: str,
    session_id: uuid.UUID | str,
    refresh_token: str,
    method: str,
) -> dict[str, Any]:
    access_token, expires_at = await access_tokens.issue(
        conn, config, secret, user_id, session_id, method
    )
    return {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": config.jwt_expiry,
        "expires_at": expires_at,
        "refresh_token": refresh_token,
        "user": await users.present(conn, user_id),
    }


async def start(
    conn: AsyncConnection,
    config: AuthConfig,
    secret: str,
    user_id: str,
    method: str,
    client: Client,
) -> dict[str, Any]:
    """A new aal1 session for the user, signed in with `method`; the token response."""
    session_id = uuid.uuid4()
    await conn.execute(
        "insert into auth.sessions (id, user_id, created_at, updated_at, aal, user_agent, ip) "
        "values (%s, %s, now(), now(), 'aal1', %s, %s)",
        (session_id, user_id, client.user_agent, client.ip),
    )
    refresh_token = await _insert_refresh_token(conn, user_id, session_id, None)
    await add_amr_claim(conn, session_id, method)
    await conn.execute(
        "update auth.users set last_sign_in_at = now(), updated_at = now() where id = %s",
        (user_id,),
    )
    await conn.execute(
        "update auth.identities set last_sign_in_at = now() where user_id = %s", (user_id,)
    )
    return await token_response(conn, config, secret, user_id, session_id, refresh_token, method)


async def swap_refresh_token(conn: AsyncConnection, token: dict[str, Any]) -> str:
    """Revoke `token` and issue its child in the same session."""
    await conn.execute(
        "update auth.refresh_tokens set revoked = true, updated_at = now() where id = %s",
        (token["id"],),
    )
    return await _insert_refresh_token(
        conn, token["user_id"], token["session_id"], parent=token["token"]
    )


_SESSION_STATE_QUERY = """
    select rt.id, rt.token, rt.user_id, rt.revoked, rt.parent, rt.session_id,
        rt.updated_at + make_interval(secs => %(reuse)s) < now() as reuse_expired,
        s.id is null as session_missing,
        s.not_after is not null and s.not_after < now() as past_not_after,
        %(idle)s > 0 and coalesce(
            s.refreshed_at at time zone 'UTC', greatest(rt.updated_at, s.created_at)
        ) + make_interval(secs => %(idle)s) < now() as timed_out,
        u.banned_until is not null and u.banned_until > now() as banned
    from auth.refresh_tokens as rt
    join auth.users as u on u.id::text = rt.user_id
    left join auth.sessions as s on s.id = rt.session_id
    where rt.token = %(token)s
"""


async def _find_token(
    conn: AsyncConnection, config: AuthConfig, refresh_token: str, *, lock: bool
) -> dict[str, Any] | None:
    query = _SESSION_STATE_QUERY + (" for update of rt" if lock else "")
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            query,
            {
                "token": refresh_token,
                "reuse": config.refresh_token_reuse_interval,
                "idle": config.inactivity_timeout,
            },
        )
        return await cursor.fetchone()


def _check_usable(token: dict[str, Any] | None) -> dict[str, Any]:
    if token is None:
        raise bad_request(
            "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found"
        )
    if token["banned"]:
        raise bad_request("user_banned", "Invalid Refresh Token: User Banned")
    if token["session_missing"]:
        raise bad_request("session_not_found", "Invalid Refresh Token: No Valid Session Found")
    if token["past_not_after"]:
        raise bad_request("session_expired", "Invalid Refresh Token: Session Expired")
    if token["timed_out"]:
        raise bad_request("session_expired", "Invalid Refresh Token: Session Expired (Inactivity)")
    return token


async def refresh(
    pool: ConnectionPool,
    config: AuthConfig,
    secret: str,
    refresh_token: str,
    client: Client,
) -> dict[str, Any]:
    refused: AuthError | None = None
    async with pool.connection() as conn, conn.transaction():
        token = _check_usable(await _find_token(conn, config, refresh_token, lock=False))
        # Serialise refreshes of one session: lock it, then re-read the token.
        await conn.execute(
            "select 1 from auth.sessions where id = %s for update", (token["session_id"],)
        )
        token = _check_usable(await _find_token(conn, config, refresh_token, lock=True))
        issued: str | None = None
        if token["revoked"]:
            cursor = await conn.execute(
                "select token, parent from auth.refresh_tokens "
                "where session_id = %s and not revoked order by id desc limit 1",
                (token["session_id"],),
            )
            active = await cursor.fetchone()
            if active and active[1] == token["token"]:
                issued = active[0]
            elif active is None:
                # Every token of the session is revoked: reuse was detected and the whole
                # family revoked. The reuse interval no longer applies: the revocation touched
                # each token's updated_at, and the newest would otherwise live on for it.
                refused = bad_request(
                    "refresh_token_already_used", "Invalid Refresh Token: Already Used"
                )
            elif token["reuse_expired"]:
                if config.refresh_token_rotation:
                    await conn.execute(
                        "update auth.refresh_tokens set revoked = true, updated_at = now() "
                        "where session_id = %s and not revoked",
                        (token["session_id"],),
                    )
                refused = bad_request(
                    "refresh_token_already_used", "Invalid Refresh Token: Already Used"
                )
        if refused is None:
            user = await users.find_by_id(conn, token["user_id"])
            assert user is not None
            await audit.record(
                conn,
                "token_refreshed",
                actor_id=token["user_id"],
                actor_username=users.username(user),
                ip_address=client.ip,
            )
            if issued is None:
                issued = await swap_refresh_token(conn, token)
            response = await token_response(
                conn,
                config,
                secret,
                token["user_id"],
                token["session_id"],
                issued,
                "token_refresh",
            )
            await conn.execute(
                "update auth.sessions set refreshed_at = now() at time zone 'UTC', "
                "user_agent = %s, ip = %s where id = %s",
                (client.user_agent, client.ip, token["session_id"]),
            )
    if refused is not None:
        raise refused
    return response


async def logout(conn: AsyncConnection, user_id: str, session_id: str | None, scope: str) -> None:
    if session_id is not None and scope == "local":
        await conn.execute("delete from auth.sessions where id = %s", (session_id,))
    elif session_id is not None and scope == "others":
        await conn.execute(
            "delete from auth.sessions where user_id = %s and id <> %s", (user_id, session_id)
        )
    else:
        await conn.execute("delete from auth.sessions where user_id = %s", (user_id,))
