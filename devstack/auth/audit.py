"""auth.audit_log_entries, written as GoTrue writes them (one row per account event)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from psycopg import AsyncConnection

INSTANCE_ID = "00000000-0000-0000-0000-000000000000"

# GoTrue's action -> log type.
_LOG_TYPES = {
    "login": "account",
    "logout": "account",
    "user_signedup": "team",
    "user_deleted": "team",
    "user_modified": "user",
    "user_updated_password": "user",
    "token_refreshed": "token",
    "token_revoked": "token",
    "factor_in_progress": "factor",
    "factor_unenrolled": "factor",
    "challenge_created": "factor",
    "verification_attempted": "factor",
}


async def record(
    conn: AsyncConnection,
    action: str,
    *,
    actor_id: str,
    actor_username: str,
    ip_address: str,
    traits: dict[str, Any] | None = None,
) -> None:
    payload: dict[str, Any] = {
        "action": action,
        "actor_id": actor_id,
        "actor_username": actor_username,
        "actor_via_sso": False,
        "log_type": _LOG_TYPES.get(action, "account"),
    }
    if traits:
        payload["traits"] = traits
    await conn.execute(
        "insert into auth.audit_log_entries (instance_id, id, payload, created_at, ip_address) "
        "values (%s, %s, %s::json, now(), %s)",
        (INSTANCE_ID, uuid.uuid4(), json.dumps(payload), ip_address[:64]),
    )
