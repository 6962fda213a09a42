"""Creating, changing and deactivating staff logins: the steps the database cannot take alone.

The database decides every step (supabase/migrations/20261124000300_staff_provisioning.sql;
deactivation also ends the login's sessions, 20261201070001_staff_deactivation_ends_sessions.sql):
each starts with an RPC made with the admin's own JWT. The service role is used only after
that, and only for the Auth admin API: create the login, delete it again when the staff records
could not be made, ban or unban it. So a login and its staff records exist together or not at
all, and a caller the database refuses gets nothing done with the service role.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from supabase import AsyncClient
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from sidecar.errors import ApiError
from sidecar.integrations.supabase_api import SupabaseApi, call_rpc

log = logging.getLogger("sidecar.staff")

# Longer than any career: GoTrue's ban_duration is a Go duration.
BAN_DURATION = "876000h"
# Marks (in app_metadata, which only the service role writes) a ban that a deactivation set,
# as opposed to one an operator set: the patient phone login lifts only this kind (the login
# is no longer staff; sidecar/accounts/patient_login.py).
DEACTIVATION_BAN = "staff_deactivation_ban"


# What Supabase Auth refuses; AuthRetryableError (it does not answer) is the app's 503.
_AUTH_REFUSALS = (AuthApiError, AuthWeakPasswordError)


def _auth_error(error: AuthApiError | AuthWeakPasswordError) -> ApiError:
    if error.code == "weak_password":
        return ApiError(422, "weak_password", error.message)
    if error.code in ("email_exists", "user_already_exists"):
        return ApiError(409, "email_exists", "a login with this email already exists")
    if error.code == "validation_failed":
        return ApiError(422, "invalid_value", error.message)
    log.error("auth admin api refused", extra={"auth_code": error.code, "status": error.status})
    return ApiError(502, "upstream_error", f"Supabase Auth refused: {error.message}")


async def _create_login(
    service: AsyncClient, email: str, password: str, full_name: str, grant_id: str
) -> str:
    try:
        created = await service.auth.admin.create_user(
            {
                "email": email,
                "password": password,
                "email_confirm": True,
                "user_metadata": {"full_name": full_name},
                # Only the service role writes app_metadata: the database redeems the grant
                # only for the login that carries it.
                "app_metadata": {"provisioning_grant": grant_id},
            }
        )
    except _AUTH_REFUSALS as error:
        raise _auth_error(error) from error
    return created.user.id


async def _delete_login(service: AsyncClient, user_id: str) -> None:
    try:
        await service.auth.admin.delete_user(user_id)
    except Exception as error:
        log.error("orphan login left behind", extra={"user_id": user_id}, exc_info=error)
        raise ApiError(
            502,
            "provisioning_undo_failed",
            f"the staff records could not be created, and the login {user_id} could not be "
            "deleted; delete it before trying again",
        ) from error
    log.info("login deleted after failed provisioning", extra={"user_id": user_id})


async def provision(
    api: SupabaseApi,
    caller_token: str,
    begin_function: str,
    request: dict[str, Any],
    password: str,
) -> dict[str, Any]:
    """Begin (as the caller) -> create the login (service role) -> complete (as the caller),
    deleting the login when completing fails."""
    caller = api.as_user(caller_token)
    grant_id = await call_rpc(caller, begin_function, request)
    service = api.as_service()
    user_id = await _create_login(
        service, request["email"], password, request["full_name"], str(grant_id)
    )
    try:
        return await call_rpc(
            caller, "complete_staff_provisioning", {"grant_id": grant_id, "user_id": user_id}
        )
    except BaseException:
        # Shielded: a client hanging up must not leave the login behind.
        await asyncio.shield(_delete_login(service, user_id))
        raise


async def provision_member(
    api: SupabaseApi, caller_token: str, request: dict[str, Any], password: str
) -> dict[str, Any]:
    """Any staff role through the one path (rpc/begin_staff_provisioning), answered as the
    staff list shows the new member (rpc/staff_members)."""
    created = await provision(api, caller_token, "begin_staff_provisioning", request, password)
    rows = await call_rpc(
        api.as_user(caller_token), "staff_members", {"hospital_id": request["hospital_id"]}
    )
    return next(
        row
        for row in rows
        if row["user_id"] == created["user_id"] and row["role"] == request["role"]
    )


async def set_active(
    api: SupabaseApi, caller_token: str, function: str, params: dict[str, Any], active: bool
) -> dict[str, Any]:
    """The database marks the record and membership (as the caller) and, on deactivation, ends
    the login's sessions in the same transaction; then the login is banned, unless it still
    serves another role, or unbanned on reactivation."""
    record = await call_rpc(api.as_user(caller_token), function, {**params, "active": active})
    if active or not record.get("login_keeps_access"):
        service = api.as_service()
        try:
            await service.auth.admin.update_user_by_id(
                record["user_id"],
                {
                    "ban_duration": "none" if active else BAN_DURATION,
                    "app_metadata": {DEACTIVATION_BAN: None if active else True},
                },
            )
        except _AUTH_REFUSALS as error:
            # The records are changed; repeating the call repeats the ban, harmlessly.
            raise ApiError(
                502,
                "login_ban_failed",
                f"the staff record was updated but Supabase Auth refused to "
                f"{'unban' if active else 'ban'} the login ({error.message}); try again",
            ) from error
    return record
