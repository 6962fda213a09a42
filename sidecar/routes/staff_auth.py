"""POST /api/v1/auth/staff/login: Supabase Auth's password grant for staff (seed 000).

A thin alias: Supabase Auth checks the password, the password verification hook applies the
lockout (5 failures, 15 minutes), and the custom access token hook sets the claims.

A wrong password, an unknown email, a locked and a banned (deactivated) login get one and the
same answer, so that the route tells nobody whether an account exists or what state it is
in. Supabase Auth itself says `user_banned` before it even checks the password.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from supabase_auth.errors import AuthApiError

from sidecar.accounts.sessions import SessionOut, session_out
from sidecar.errors import ApiError, error_responses
from sidecar.routes.dependencies import Supabase

router = APIRouter(prefix="/auth/staff", tags=["Authentication"])


class StaffLogin(BaseModel):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")
    password: str = Field(min_length=1, max_length=1024)


INVALID_LOGIN = "Invalid login credentials"
# Supabase Auth's error codes → the sidecar's (any other refusal: invalid_credentials).
_REFUSALS = {
    "email_not_confirmed": (403, "email_not_confirmed"),
    "over_request_rate_limit": (429, "rate_limited"),
}


@router.post(
    "/login",
    operation_id="staff_login",
    summary="Staff login with email and password",
    response_model=SessionOut,
    responses=error_responses(401, 403, 422, 429, 502, 503),
)
async def staff_login(body: StaffLogin, supabase: Supabase) -> SessionOut:
    client = supabase.anonymous()
    try:
        result = await client.auth.sign_in_with_password(
            {"email": body.email, "password": body.password}
        )
    except AuthApiError as error:
        if error.status >= 500:
            raise ApiError(502, "upstream_error", "Supabase Auth failed; try again") from error
        refusal = _REFUSALS.get(error.code or "")
        if refusal is None:
            raise ApiError(401, "invalid_credentials", INVALID_LOGIN) from error
        raise ApiError(*refusal, error.message) from error
    if result.session is None:
        raise ApiError(401, "invalid_credentials", INVALID_LOGIN)
    return session_out(result.session)
