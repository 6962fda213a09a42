"""TOTP multi-factor authentication: enroll a factor, challenge it, verify a code (which lifts
the session to aal2), unenroll. Stored in auth.mfa_factors / auth.mfa_challenges as GoTrue
stores them (the secret in the clear, as GoTrue does without DB encryption configured)."""

from __future__ import annotations

import io
import uuid
from typing import Any
from urllib.parse import quote, urlencode, urlparse

import pyotp
import segno
from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row

from devstack.auth import audit, sessions, users
from devstack.auth.auth_config import AuthConfig
from devstack.auth.bearer import Caller
from devstack.auth.errors import AuthError, bad_request, forbidden, not_found, unprocessable

CHALLENGE_EXPIRY_SECONDS = 300


def otpauth_uri(secret: str, issuer: str, account: str) -> str:
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode(
        {"algorithm": "SHA1", "digits": 6, "issuer": issuer, "period": 30, "secret": secret}
    )
    return f"otpauth://totp/{label}?{query}"


def qr_code_svg(uri: str) -> str:
    buffer = io.BytesIO()
    segno.make(uri, error="h").save(buffer, kind="svg", scale=3, xmldecl=False)
    return buffer.getvalue().decode()


async def enroll(
    conn: AsyncConnection, config: AuthConfig, caller: Caller, body: dict[str, Any], ip: str
) -> dict[str, Any]:
    factor_type = body.get("factor_type")
    if factor_type == "phone":
        raise AuthError(422, "mfa_phone_enroll_not_enabled", "MFA enroll is disabled for Phone")
    if factor_type != "totp":
        raise bad_request("validation_failed", "factor_type needs to be totp or phone")
    if not config.totp_enroll_enabled:
        raise unprocessable("mfa_totp_enroll_not_enabled", "MFA enroll is disabled for TOTP")
    cursor = await conn.execute(
        "select count(*), count(*) filter (where status = 'verified') "
        "from auth.mfa_factors where user_id = %s",
        (caller.user_id,),
    )
    row = await cursor.fetchone()
    enrolled, verified = (row[0], row[1]) if row else (0, 0)
    if enrolled >= config.max_enrolled_factors:
        raise forbidden(
            "too_many_enrolled_mfa_factors",
            "Maximum number of verified factors reached, unenroll to continue",
        )
    if verified > 0 and not caller.session_is_aal2:
        raise forbidden("insufficient_aal", "AAL2 required to enroll a new factor")
    issuer = str(body.get("issuer") or urlparse(config.site_url).netloc)
    friendly_name = str(body.get("friendly_name") or "")
    secret = pyotp.random_base32()
    uri = otpauth_uri(secret, issuer, caller.user["email"] or caller.user["phone"] or "")
    factor_id = uuid.uuid4()
    try:
        async with conn.transaction():
            await conn.execute(
                "insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, "
                "created_at, updated_at, secret) "
                "values (%s, %s, %s, 'totp', 'unverified', now(), now(), %s)",
                (factor_id, caller.user_id, friendly_name, secret),
            )
    except errors.UniqueViolation:
        raise unprocessable(
            "mfa_factor_name_conflict",
            f'A factor with the friendly name "{friendly_name}" for this user likely '
            "already exists",
        ) from None
    await audit.record(
        conn,
        "factor_in_progress",
        actor_id=caller.user_id,
        actor_username=users.username(caller.user),
        ip_address=ip,
        traits={"factor_id": str(factor_id)},
    )
    return {
        "id": str(factor_id),
        "type": "totp",
        "friendly_name": friendly_name,
        "totp": {"qr_code": qr_code_svg(uri), "secret": secret, "uri": uri},
    }


async def _own_factor(conn: AsyncConnection, caller: Caller, raw_id: str) -> dict[str, Any]:
    try:
        factor_id = uuid.UUID(raw_id)
    except ValueError:
        raise not_found("mfa_factor_not_found", "Factor not found") from None
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            "select id, user_id, factor_type::text as factor_type, status::text as status, "
            "secret from auth.mfa_factors where id = %s and user_id = %s",
            (factor_id, caller.user_id),
        )
        factor = await cursor.fetchone()
    if factor is None:
        raise not_found("mfa_factor_not_found", "Factor not found")
    return factor


async def challenge(
    conn: AsyncConnection, config: AuthConfig, caller: Caller, factor_id: str, ip: str
) -> dict[str, Any]:
    factor = await _own_factor(conn, caller, factor_id)
    if not config.totp_verify_enabled:
        raise unprocessable("mfa_totp_verify_not_enabled", "MFA verification is disabled for TOTP")
    challenge_id = uuid.uuid4()
    cursor = await conn.execute(
        "insert into auth.mfa_challenges (id, factor_id, created_at, ip_address) "
        "values (%s, %s, now(), %s) returning extract(epoch from created_at)::bigint",
        (challenge_id, factor["id"], ip),
    )
    row = await cursor.fetchone()
    created = int(row[0]) if row else 0
    await conn.execute(
        "update auth.mfa_factors set last_challenged_at = clock_timestamp(), updated_at = now() "
        "where id = %s",
        (factor["id"],),
    )
    await audit.record(
        conn,
        "challenge_created",
        actor_id=caller.user_id,
        actor_username=users.username(caller.user),
        ip_address=ip,
        traits={"factor_id": str(factor["id"]), "factor_status": factor["status"]},
    )
    return {
        "id": str(challenge_id),
        "type": "totp",
        "expires_at": created + CHALLENGE_EXPIRY_SECONDS,
    }


async def verify(
    conn: AsyncConnection,
    config: AuthConfig,
    secret: str,
    caller: Caller,
    factor_id: str,
    body: dict[str, Any],
    ip: str,
) -> dict[str, Any]:
    factor = await _own_factor(conn, caller, factor_id)
    code = str(body.get("code") or "")
    if not code:
        raise bad_request("validation_failed", "Code needs to be non-empty")
    if caller.session is None:
        raise AuthError(
            500,
            "unexpected_failure",
            "A valid session and a registered user are required to verify a factor",
        )
    try:
        challenge_id = uuid.UUID(str(body.get("challenge_id") or ""))
    except ValueError:
        raise bad_request("validation_failed", "challenge_id must be an UUID") from None
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            "select id, verified_at, host(ip_address) as ip, "
            "created_at + make_interval(secs => %s) < now() as expired "
            "from auth.mfa_challenges where id = %s and factor_id = %s for update",
            (CHALLENGE_EXPIRY_SECONDS, challenge_id, factor["id"]),
        )
        found = await cursor.fetchone()
    if found is None:
        raise not_found(
            "mfa_factor_not_found", "MFA factor with the provided challenge ID not found"
        )
    if found["verified_at"] is not None or found["ip"] != ip:
        raise unprocessable("mfa_ip_address_mismatch", "Challenge and verify IP addresses mismatch")
    if found["expired"]:
        raise unprocessable(
            "mfa_challenge_expired",
            f"MFA challenge {challenge_id} has expired, verify against another challenge or "
            "create a new challenge.",
        )
    if not pyotp.TOTP(factor["secret"]).verify(code, valid_window=1):
        raise unprocessable("mfa_verification_failed", "Invalid TOTP code entered")

    session_id = str(caller.session["id"])
    await audit.record(
        conn,
        "verification_attempted",
        actor_id=caller.user_id,
        actor_username=users.username(caller.user),
        ip_address=ip,
        traits={"factor_id": str(factor["id"]), "challenge_id": str(challenge_id)},
    )
    await conn.execute(
        "update auth.mfa_challenges set verified_at = now() where id = %s", (challenge_id,)
    )
    await conn.execute(
        "update auth.mfa_factors set status = 'verified', updated_at = now() where id = %s",
        (factor["id"],),
    )
    # The session keeps its id; its current refresh token is swapped and it becomes aal2.
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            "select id, token, user_id, session_id from auth.refresh_tokens "
            "where session_id = %s and not revoked order by id desc limit 1",
            (session_id,),
        )
        current = await cursor.fetchone()
    if current is None:
        raise bad_request("session_not_found", "Session has no active refresh token")
    refresh_token = await sessions.swap_refresh_token(conn, current)
    await conn.execute(
        "update auth.sessions set aal = 'aal2', factor_id = %s, updated_at = now() where id = %s",
        (factor["id"], session_id),
    )
    await sessions.add_amr_claim(conn, session_id, "totp")
    response = await sessions.token_response(
        conn, config, secret, caller.user_id, session_id, refresh_token, "totp"
    )
    # As GoTrue: the user's weaker sessions end, unverified TOTP factors are dropped.
    await conn.execute(
        "delete from auth.sessions where user_id = %s and aal < 'aal2'", (caller.user_id,)
    )
    await conn.execute(
        "delete from auth.mfa_factors where user_id = %s and factor_type = 'totp' "
        "and status = 'unverified'",
        (caller.user_id,),
    )
    response["user"] = await users.present(conn, caller.user_id)
    return response


async def unenroll(
    conn: AsyncConnection, caller: Caller, factor_id: str, ip: str
) -> dict[str, Any]:
    factor = await _own_factor(conn, caller, factor_id)
    if factor["status"] == "verified" and not caller.session_is_aal2:
        raise unprocessable("insufficient_aal", "AAL2 required to unenroll verified factor")
    await conn.execute("delete from auth.mfa_factors where id = %s", (factor["id"],))
    await conn.execute(
        "update auth.sessions set aal = 'aal1', factor_id = null where factor_id = %s",
        (factor["id"],),
    )
    await audit.record(
        conn,
        "factor_unenrolled",
        actor_id=caller.user_id,
        actor_username=users.username(caller.user),
        ip_address=ip,
        traits={"factor_id": str(factor["id"]), "factor_status": factor["status"]},
    )
    return {"id": str(factor["id"])}
