"""Password changes the database cannot make alone (issue 20, item 5).

- A user changes their own password: the current one is checked by Supabase Auth's password
  grant (so wrong guesses count towards the lockout of 5), then Supabase Auth's own user
  endpoint sets the new one with the caller's token: the password policy is Auth's, and Auth
  ends every other session of the login (GoTrue's "log out all except me"; the check's own
  session with them). A pending forced reset is then cleared.
- An admin forces a reset: the database checks the admin may and ends every session of the
  login (rpc/begin_password_reset); then the login gets a random temporary password, shown to
  the admin once, and the `password_change_required` mark in app_metadata, which only the
  service role writes and which the user's own change clears.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from sidecar.accounts import staff_login
from sidecar.errors import ApiError
from sidecar.integrations.supabase_api import (
    AuthRefusal,
    SupabaseApi,
    call_rpc,
    own_user_request,
)

CHANGE_REQUIRED = "password_change_required"
_SYMBOLS = "!@#$%^&*-_=+"


def temporary_password(length: int = 20) -> str:
    """Random, and meeting the policy: upper and lower case letters, digits and symbols."""
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, _SYMBOLS)
    chars = [secrets.choice(c) for c in classes]
    alphabet = "".join(classes)
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def _refusal(error: AuthRefusal) -> ApiError:
    if error.code in ("weak_password", "same_password"):
        return ApiError(422, error.code, error.message)
    if error.code == "insufficient_aal":
        return ApiError(
            403, "insufficient_aal", "verify your second factor (TOTP) before changing the password"
        )
    if error.status == 401 or error.code in ("bad_jwt", "session_not_found", "user_not_found"):
        return ApiError(401, "invalid_token", "the access token is not valid; sign in again")
    return ApiError(502, "upstream_error", f"Supabase Auth refused: {error.message}")


async def change_own(
    api: SupabaseApi, access_token: str, user_id: str, current: str, new: str
) -> dict[str, Any]:
    try:
        user = await own_user_request(api, access_token, "GET")
    except AuthRefusal as error:
        raise _refusal(error) from error
    if user.get("id") != user_id:
        raise ApiError(403, "not_own_password", "you change only your own password")
    email = user.get("email")
    if not email:
        raise ApiError(422, "no_password_login", "this login signs in without a password")
    try:
        await staff_login.sign_in(api, email, current)
    except ApiError as error:
        if error.code == "invalid_credentials":
            raise ApiError(
                403, "invalid_current_password", "the current password is not right"
            ) from error
        raise
    try:
        await own_user_request(api, access_token, "PUT", {"password": new})
    except AuthRefusal as error:
        raise _refusal(error) from error
    if (user.get("app_metadata") or {}).get(CHANGE_REQUIRED):
        await _set_mark(api, user_id, {"app_metadata": {CHANGE_REQUIRED: None}})
    return {"user_id": user_id, "other_sessions_ended": True}


async def force_reset(api: SupabaseApi, caller_token: str, user_id: str) -> dict[str, Any]:
    login = await call_rpc(api.as_user(caller_token), "begin_password_reset", {"user_id": user_id})
    password = temporary_password()
    await _set_mark(
        api, login["user_id"], {"password": password, "app_metadata": {CHANGE_REQUIRED: True}}
    )
    return {**login, "temporary_password": password, CHANGE_REQUIRED: True}


async def _set_mark(api: SupabaseApi, user_id: str, changes: dict[str, Any]) -> None:
    try:
        await api.as_service().auth.admin.update_user_by_id(user_id, changes)
    except (AuthApiError, AuthWeakPasswordError) as error:
        raise ApiError(
            502, "upstream_error", f"Supabase Auth refused to update the login: {error.message}"
        ) from error
