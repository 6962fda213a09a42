"""The admin API (/admin/users...), for callers whose token has an admin role (service_role)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from psycopg import AsyncConnection

from devstack.auth import audit, passwords, users
from devstack.auth.auth_config import AuthConfig
from devstack.auth.errors import bad_request, not_found
from devstack.auth.go_durations import parse_seconds

DEFAULT_PER_PAGE = 50


def user_id_of(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found("validation_failed", "user_id must be an UUID") from None


def _ban_seconds(body: dict[str, Any]) -> float | None:
    """None: leave as is; 0: lift the ban; > 0: ban for that long."""
    raw = body.get("ban_duration")
    if raw in (None, ""):
        return None
    if raw == "none":
        return 0.0
    try:
        return parse_seconds(str(raw))
    except ValueError as error:
        raise bad_request(
            "validation_failed", f"invalid format for ban duration: {error}"
        ) from None


def _object(body: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("validation_failed", f"{key} must be an object")
    return value


async def create_user(
    conn: AsyncConnection, config: AuthConfig, admin: dict[str, Any], body: dict[str, Any], ip: str
) -> dict[str, Any]:
    email = users.normalize_email(str(body["email"])) if body.get("email") else None
    phone = users.normalize_phone(str(body["phone"])) if body.get("phone") else None
    if not email and not phone:
        raise bad_request(
            "validation_failed", "Cannot create a user without either an email or phone"
        )
    await users.ensure_unique(conn, email=email, phone=phone)
    password = body.get("password")
    if password:
        passwords.check_strength(config, str(password))
    ban = _ban_seconds(body)
    requested_id = None
    if body.get("id"):
        try:
            requested_id = uuid.UUID(str(body["id"]))
        except ValueError:
            raise bad_request(
                "validation_failed", "ID must conform to the uuid v4 format"
            ) from None
    new = users.NewUser(
        email=email,
        phone=phone,
        password_hash=await passwords.hash_password(conn, str(password)) if password else None,
        user_metadata=_object(body, "user_metadata") or {},
        app_metadata={},
        role=str(body.get("role") or "authenticated"),
        email_confirmed=bool(body.get("email_confirm")),
        phone_confirmed=bool(body.get("phone_confirm")),
        banned_for_seconds=ban,
        user_id=requested_id,
    )
    user_id = await users.create(conn, new)
    app_metadata = _object(body, "app_metadata")
    if app_metadata:
        await _merge_app_metadata(conn, str(user_id), app_metadata)
    await audit.record(
        conn,
        "user_signedup",
        actor_id=str(admin.get("sub") or uuid.UUID(int=0)),
        actor_username=str(admin.get("email") or admin.get("role") or ""),
        ip_address=ip,
        traits={"user_id": str(user_id), "user_email": email or "", "user_phone": phone or ""},
    )
    return await users.present(conn, user_id)


async def _merge_app_metadata(conn: AsyncConnection, user_id: str, updates: dict) -> None:
    user = await users.find_by_id(conn, user_id)
    assert user is not None
    merged = users.merge_metadata(user["raw_app_meta_data"], updates)
    await conn.execute(
        "update auth.users set raw_app_meta_data = %s::jsonb, updated_at = now() where id = %s",
        (json.dumps(merged), user_id),
    )


async def list_users(
    conn: AsyncConnection, page: int, per_page: int, email_filter: str | None
) -> tuple[dict[str, Any], int]:
    pattern = f"%{email_filter}%" if email_filter else None
    cursor = await conn.execute(
        "select count(*) from auth.users where aud = 'authenticated' "
        "and (%(pattern)s::text is null or email ilike %(pattern)s)",
        {"pattern": pattern},
    )
    row = await cursor.fetchone()
    total = int(row[0]) if row else 0
    cursor = await conn.execute(
        "select id from auth.users where aud = 'authenticated' "
        "and (%(pattern)s::text is null or email ilike %(pattern)s) "
        "order by created_at desc, id limit %(limit)s offset %(offset)s",
        {"pattern": pattern, "limit": per_page, "offset": (page - 1) * per_page},
    )
    ids = [r[0] for r in await cursor.fetchall()]
    listed = [await users.present(conn, user_id) for user_id in ids]
    return {"users": listed, "aud": "authenticated"}, total


async def get_user(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, Any]:
    if await users.find_by_id(conn, user_id) is None:
        raise not_found("user_not_found", "User not found")
    return await users.present(conn, user_id)


async def update_user(
    conn: AsyncConnection,
    config: AuthConfig,
    admin: dict[str, Any],
    user_id: uuid.UUID,
    body: dict[str, Any],
    ip: str,
) -> dict[str, Any]:
    user = await users.find_by_id(conn, user_id)
    if user is None:
        raise not_found("user_not_found", "User not found")
    uid = str(user_id)
    ban = _ban_seconds(body)
    email = users.normalize_email(str(body["email"])) if body.get("email") else None
    phone = users.normalize_phone(str(body["phone"])) if body.get("phone") else None
    await users.ensure_unique(conn, email=email, phone=phone, except_id=uid)
    if body.get("password"):
        password = str(body["password"])
        passwords.check_strength(config, password)
        await conn.execute(
            "update auth.users set encrypted_password = %s where id = %s",
            (await passwords.hash_password(conn, password), uid),
        )
        # GoTrue's admin password change signs the user out of every session.
        await conn.execute("delete from auth.sessions where user_id = %s", (uid,))
    if email and email != (user["email"] or ""):
        await conn.execute("update auth.users set email = %s where id = %s", (email, uid))
        await conn.execute(
            "update auth.identities set identity_data = identity_data || "
            "jsonb_build_object('email', %s::text), updated_at = now() "
            "where user_id = %s and provider = 'email'",
            (email, uid),
        )
    if phone and phone != (user["phone"] or ""):
        await conn.execute("update auth.users set phone = %s where id = %s", (phone, uid))
    if body.get("email_confirm"):
        await conn.execute(
            "update auth.users set email_confirmed_at = coalesce(email_confirmed_at, now()) "
            "where id = %s",
            (uid,),
        )
    if body.get("phone_confirm"):
        await conn.execute(
            "update auth.users set phone_confirmed_at = coalesce(phone_confirmed_at, now()) "
            "where id = %s",
            (uid,),
        )
    if body.get("role"):
        await conn.execute(
            "update auth.users set role = %s where id = %s", (str(body["role"]), uid)
        )
    app_metadata = _object(body, "app_metadata")
    if app_metadata is not None:
        await _merge_app_metadata(conn, uid, app_metadata)
    user_metadata = _object(body, "user_metadata")
    if user_metadata is not None:
        merged = users.merge_metadata(user["raw_user_meta_data"], user_metadata)
        await conn.execute(
            "update auth.users set raw_user_meta_data = %s::jsonb where id = %s",
            (json.dumps(merged), uid),
        )
    if ban is not None:
        await conn.execute(
            "update auth.users set banned_until = case when %(secs)s::float8 > 0 "
            "then now() + make_interval(secs => %(secs)s::float8) end where id = %(id)s",
            {"secs": ban, "id": uid},
        )
    await conn.execute("update auth.users set updated_at = now() where id = %s", (uid,))
    await audit.record(
        conn,
        "user_modified",
        actor_id=str(admin.get("sub") or uuid.UUID(int=0)),
        actor_username=str(admin.get("email") or admin.get("role") or ""),
        ip_address=ip,
        traits={"user_id": uid, "user_email": user["email"] or "", "user_phone": user["phone"]},
    )
    return await users.present(conn, user_id)


async def delete_user(
    conn: AsyncConnection, admin: dict[str, Any], user_id: uuid.UUID, soft: bool, ip: str
) -> None:
    user = await users.find_by_id(conn, user_id)
    if user is None:
        raise not_found("user_not_found", "User not found")
    uid = str(user_id)
    await audit.record(
        conn,
        "user_deleted",
        actor_id=str(admin.get("sub") or uuid.UUID(int=0)),
        actor_username=str(admin.get("email") or admin.get("role") or ""),
        ip_address=ip,
        traits={"user_id": uid, "user_email": user["email"] or "", "user_phone": user["phone"]},
    )
    if not soft:
        await conn.execute("delete from auth.users where id = %s", (uid,))
        return
    if user["deleted_at"] is not None:
        return
    # Soft delete: the row stays (for foreign keys) but can no longer sign in or be found.
    await conn.execute(
        "update auth.users set deleted_at = now(), updated_at = now(), encrypted_password = '', "
        "email = case when email is null then null else 'deleted-' || md5(email) || '@deleted' "
        "end, phone = null, raw_app_meta_data = '{}', raw_user_meta_data = '{}' where id = %s",
        (uid,),
    )
    await conn.execute("delete from auth.identities where user_id = %s", (uid,))
    await conn.execute("delete from auth.mfa_factors where user_id = %s", (uid,))
    await conn.execute("delete from auth.sessions where user_id = %s", (uid,))
