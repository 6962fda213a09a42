"""Staff sign-in: Supabase Auth's password grant (seed 000).

Supabase Auth checks the password, the password verification hook applies the lockout (5
failures, 15 minutes), and the custom access token hook sets the claims.

A wrong password, an unknown email, a locked and a banned (deactivated) login get one and the
same answer, so that nobody learns whether an account exists or what state it is in.
Supabase Auth itself says `user_banned` before it even checks the password.
"""

from __future__ import annotations

from supabase_auth.errors import AuthApiError
from supabase_auth.types import Session

from sidecar.errors import ApiError
from sidecar.integrations.supabase_api import SupabaseApi

INVALID_LOGIN = "Invalid login credentials"
# Supabase Auth's error codes → the sidecar's (any other refusal: invalid_credentials).
_REFUSALS = {
    "email_not_confirmed": (403, "email_not_confirmed"),
    "over_request_rate_limit": (429, "rate_limited"),
}


async def sign_in(supabase: SupabaseApi, email: str, password: str) -> Session:
    try:
        result = await supabase.anonymous().auth.sign_in_with_password(
            {"email": email, "password": password}
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
    return result.session
