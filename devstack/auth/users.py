"""auth.users and auth.identities: finding, creating and presenting users as GoTrue does."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from devstack.auth.audit import INSTANCE_ID
from devstack.auth.errors import bad_request, unprocessable

_EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")

USER_COLUMNS = (
    "id, aud, role, email, encrypted_password, email_confirmed_at, invited_at, "
    "confirmation_sent_at, recovery_sent_at, email_change, email_change_sent_at, "
    "last_sign_in_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at, phone, "
    "phone_confirmed_at, phone_change, confirmed_at, banned_until, deleted_at, is_anonymous, "
    "is_sso_user, banned_until > now() as is_banned"
)


def timestamp(value: dt.datetime | None) -> str | None:
    """RFC 3339 in UTC, as Go's encoding/json writes a time.Time."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 255:
        raise bad_request("validation_failed", "Unable to validate email address: invalid format")
    return email


def normalize_phone(phone: str) -> str:
    """E.164 without the '+', as GoTrue stores phone numbers."""
    digits = re.sub(r"[\s\-()]", "", phone).lstrip("+")
    if not re.fullmatch(r"[1-9]\d{7,14}", digits):
        raise bad_request("validation_failed", "Invalid phone number format (E.164 required)")
    return digits


async def find_by_id(conn: AsyncConnection, user_id: uuid.UUID | str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            f"select {USER_COLUMNS} from auth.users where id = %s",  # noqa: S608 - fixed columns
            (str(user_id),),
        )
        return await cursor.fetchone()


async def find_by_email(conn: AsyncConnection, email: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            f"select {USER_COLUMNS} from auth.users "  # noqa: S608 - fixed columns
            "where lower(email) = lower(%s) and not is_sso_user and deleted_at is null",
            (email,),
        )
        return await cursor.fetchone()


async def find_by_phone(conn: AsyncConnection, phone: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            f"select {USER_COLUMNS} from auth.users "  # noqa: S608 - fixed columns
            "where phone = %s and deleted_at is null",
            (phone,),
        )
        return await cursor.fetchone()


async def ensure_unique(
    conn: AsyncConnection, *, email: str | None, phone: str | None, except_id: str | None = None
) -> None:
    if email:
        other = await find_by_email(conn, email)
        if other and str(other["id"]) != except_id:
            raise unprocessable(
                "email_exists", "A user with this email address has already been registered"
            )
    if phone:
        other = await find_by_phone(conn, phone)
        if other and str(other["id"]) != except_id:
            raise unprocessable(
                "phone_exists", "A user with this phone number has already been registered"
            )


@dataclass(frozen=True)
class NewUser:
    """A user to create, as signup or the admin API describe one."""

    email: str | None
    phone: str | None
    password_hash: str | None
    user_metadata: dict[str, Any]
    app_metadata: dict[str, Any] = field(default_factory=dict)
    role: str = "authenticated"
    email_confirmed: bool = False
    phone_confirmed: bool = False
    banned_for_seconds: float | None = None
    user_id: uuid.UUID | None = None


async def create(conn: AsyncConnection, new: NewUser) -> uuid.UUID:
    """Insert the user and one identity per provider (email, phone), as GoTrue does."""
    user_id = new.user_id or uuid.uuid4()
    email, phone = new.email, new.phone
    providers = [p for p, v in (("email", email), ("phone", phone)) if v]
    meta = {"provider": providers[0], "providers": providers, **new.app_metadata}
    await conn.execute(
        """
        insert into auth.users (
            instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
            phone, phone_confirmed_at, raw_app_meta_data, raw_user_meta_data,
            created_at, updated_at, banned_until, confirmation_token, recovery_token,
            email_change_token_new, email_change, is_sso_user, is_anonymous
        )
        values (
            %(instance)s, %(id)s, 'authenticated', %(role)s, %(email)s, %(hash)s,
            case when %(email_confirmed)s then now() end,
            %(phone)s, case when %(phone_confirmed)s then now() end,
            %(app)s::jsonb, %(user)s::jsonb, now(), now(),
            case when %(ban)s::float8 > 0 then now() + make_interval(secs => %(ban)s::float8) end,
            '', '', '', '', false, false
        )
        """,
        {
            "instance": INSTANCE_ID,
            "id": user_id,
            "role": new.role,
            "email": email,
            "hash": new.password_hash or "",
            "email_confirmed": new.email_confirmed,
            "phone": phone,
            "phone_confirmed": new.phone_confirmed,
            "app": json.dumps(meta),
            "user": json.dumps(new.user_metadata),
            "ban": new.banned_for_seconds or 0,
        },
    )
    for provider in providers:
        data: dict[str, Any] = {"sub": str(user_id)}
        if provider == "email":
            data.update(email=email, email_verified=new.email_confirmed, phone_verified=False)
        else:
            data.update(phone=phone, email_verified=False, phone_verified=new.phone_confirmed)
        await conn.execute(
            "insert into auth.identities (id, provider_id, user_id, identity_data, provider, "
            "created_at, updated_at) values (%s, %s, %s, %s::jsonb, %s, now(), now())",
            (uuid.uuid4(), str(user_id), user_id, json.dumps(data), provider),
        )
    return user_id


def merge_metadata(current: dict[str, Any] | None, updates: dict[str, Any]) -> dict[str, Any]:
    """GoTrue's metadata update: keys are set, a null value removes its key."""
    merged = dict(current or {})
    for key, value in updates.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


async def present(conn: AsyncConnection, user_id: uuid.UUID | str) -> dict[str, Any]:
    """The user as GoTrue's JSON shows it, with identities and (when any) factors."""
    user = await find_by_id(conn, user_id)
    assert user is not None
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            "select id, provider_id, user_id, identity_data, provider, last_sign_in_at, "
            "created_at, updated_at, email from auth.identities where user_id = %s "
            "order by created_at, id",
            (str(user_id),),
        )
        identities = await cursor.fetchall()
        await cursor.execute(
            "select id, friendly_name, factor_type, status, created_at, updated_at, phone, "
            "last_challenged_at from auth.mfa_factors where user_id = %s order by created_at",
            (str(user_id),),
        )
        factors = await cursor.fetchall()
    body: dict[str, Any] = {
        "id": str(user["id"]),
        "aud": user["aud"] or "",
        "role": user["role"] or "",
        "email": user["email"] or "",
    }
    optional = {
        "email_confirmed_at": timestamp(user["email_confirmed_at"]),
        "invited_at": timestamp(user["invited_at"]),
    }
    body.update({k: v for k, v in optional.items() if v})
    body["phone"] = user["phone"] or ""
    optional = {
        "phone_confirmed_at": timestamp(user["phone_confirmed_at"]),
        "confirmation_sent_at": timestamp(user["confirmation_sent_at"]),
        "confirmed_at": timestamp(user["confirmed_at"]),
        "recovery_sent_at": timestamp(user["recovery_sent_at"]),
        "new_email": user["email_change"] or None,
        "email_change_sent_at": timestamp(user["email_change_sent_at"]),
        "new_phone": user["phone_change"] or None,
        "last_sign_in_at": timestamp(user["last_sign_in_at"]),
    }
    body.update({k: v for k, v in optional.items() if v})
    body["app_metadata"] = user["raw_app_meta_data"] or {}
    body["user_metadata"] = user["raw_user_meta_data"] or {}
    body["identities"] = [
        {
            "identity_id": str(i["id"]),
            "id": i["provider_id"],
            "user_id": str(i["user_id"]),
            "identity_data": i["identity_data"],
            "provider": i["provider"],
            "last_sign_in_at": timestamp(i["last_sign_in_at"]),
            "created_at": timestamp(i["created_at"]),
            "updated_at": timestamp(i["updated_at"]),
            "email": i["email"] or "",
        }
        for i in identities
    ]
    body["created_at"] = timestamp(user["created_at"])
    body["updated_at"] = timestamp(user["updated_at"])
    if factors:
        body["factors"] = [present_factor(f) for f in factors]
    if user["banned_until"] is not None:
        body["banned_until"] = timestamp(user["banned_until"])
    if user["deleted_at"] is not None:
        body["deleted_at"] = timestamp(user["deleted_at"])
    body["is_anonymous"] = bool(user["is_anonymous"])
    return body


def present_factor(factor: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(factor["id"]),
        "friendly_name": factor["friendly_name"] or "",
        "factor_type": factor["factor_type"],
        "status": factor["status"],
        "created_at": timestamp(factor["created_at"]),
        "updated_at": timestamp(factor["updated_at"]),
    }
    if factor.get("phone"):
        body["phone"] = factor["phone"]
    if factor.get("last_challenged_at"):
        body["last_challenged_at"] = timestamp(factor["last_challenged_at"])
    return body


def username(user: dict[str, Any]) -> str:
    """How GoTrue names a user in the audit log: the email, else the phone."""
    return user.get("email") or user.get("phone") or ""
