"""/api/v1/staff and /api/v1/users (seed 003 /users, seed 000 "CRUD staff"): hospital admins
create a login with its staff records for any role, deactivate and reactivate any member and
force a password reset; every user changes their own password.

Listing is the Supabase REST API's (`GET /rest/v1/rpc/staff_members`), and so are profile
changes (`PATCH /rest/v1/profiles?id=eq.<user id>`: name, phone; doctors and pharmacists also
`PUT /api/v1/doctors/{id}`, `/pharmacists/{id}`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response

from sidecar.accounts import passwords, staff_provisioning
from sidecar.accounts.staff_records import (
    NewStaffMember,
    PasswordChange,
    PasswordChanged,
    PasswordReset,
    StaffMember,
)
from sidecar.errors import error_responses
from sidecar.routes.dependencies import CallerToken, Supabase

router = APIRouter(tags=["Staff"])


async def sign_in_rate_limit(request: Request) -> None:
    """The own-password change checks a password: it counts against the sign-in routes' limit
    per client address (app.py's `auth` RateLimit)."""
    await request.app.state.auth_rate_limit(request)


_CHANGE_ERRORS = error_responses(401, 403, 404, 409, 422, 502, 503)


@router.post(
    "/staff",
    operation_id="staff_create",
    status_code=201,
    summary="Create a staff login with its records, any role (hospital admin)",
    description=(
        "Nurse, front desk, CRO, hospital admin, doctor or pharmacist: the login and the "
        "membership (and a doctor's or pharmacist's profile) are created together, or neither "
        "is. The answer is the new member's row of rpc/staff_members."
    ),
    response_model=StaffMember,
    responses={
        201: {
            "headers": {
                "Location": {
                    "description": "The hospital's staff list in the Supabase REST API",
                    "schema": {"type": "string", "format": "uri"},
                }
            }
        },
        **error_responses(401, 403, 409, 422, 502, 503),
    },
)
async def create_staff_member(
    body: NewStaffMember,
    token: CallerToken,
    supabase: Supabase,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    fields = body.model_dump(mode="json", exclude={"password"})
    member = await staff_provisioning.provision_member(supabase, token, fields, body.password)
    base = request.app.state.settings.supabase_url
    response.headers["Location"] = (
        f"{base}/rest/v1/rpc/staff_members?hospital_id={member['hospital_id']}"
        f"&membership_id=eq.{member['membership_id']}"
    )
    return member


_DEACTIVATE = (
    "Ends the membership's access at once, the login's sessions with it, and bans the login "
    "unless it still serves another role (another active membership, a patient record). A "
    "doctor's or pharmacist's profile is deactivated with it. An admin cannot deactivate "
    "themself."
)


@router.post(
    "/staff/{membership_id}/deactivate",
    operation_id="staff_deactivate",
    summary="Deactivate a staff member of any role (hospital admin)",
    description=_DEACTIVATE,
    response_model=StaffMember,
    responses=_CHANGE_ERRORS,
)
async def deactivate_staff_member(
    membership_id: UUID, token: CallerToken, supabase: Supabase
) -> Any:
    return await staff_provisioning.set_active(
        supabase,
        token,
        "set_staff_member_active",
        {"membership_id": str(membership_id)},
        active=False,
    )


@router.post(
    "/staff/{membership_id}/reactivate",
    operation_id="staff_reactivate",
    summary="Reactivate a staff member of any role and lift the ban (hospital admin)",
    response_model=StaffMember,
    responses=_CHANGE_ERRORS,
)
async def reactivate_staff_member(
    membership_id: UUID, token: CallerToken, supabase: Supabase
) -> Any:
    return await staff_provisioning.set_active(
        supabase,
        token,
        "set_staff_member_active",
        {"membership_id": str(membership_id)},
        active=True,
    )


@router.post(
    "/users/{user_id}/password-reset",
    operation_id="user_password_reset",
    summary="Force a staff member's password reset (hospital admin)",
    description=(
        "Ends every session of the login now and replaces its password with a random "
        "temporary one, answered here once; the login is marked password_change_required "
        "until the person sets their own (PATCH /api/v1/users/{id}/password). Not for one's own "
        "login, nor for one that also serves a hospital the admin does not run or a patient."
    ),
    response_model=PasswordReset,
    responses=_CHANGE_ERRORS,
)
async def force_password_reset(user_id: UUID, token: CallerToken, supabase: Supabase) -> Any:
    return await passwords.force_reset(supabase, token, str(user_id))


@router.patch(
    "/users/{user_id}/password",
    dependencies=[Depends(sign_in_rate_limit)],
    operation_id="user_password_change",
    summary="Change your own password (current password required)",
    description=(
        "The current password is checked (wrong ones count towards the lockout), the new one "
        "must meet the password policy, and every other session of the login ends. A staff "
        "login with a second factor needs an aal2 token. Clears password_change_required."
    ),
    response_model=PasswordChanged,
    responses=error_responses(401, 403, 422, 429, 502, 503),
)
async def change_password(
    user_id: UUID, body: PasswordChange, token: CallerToken, supabase: Supabase
) -> Any:
    return await passwords.change_own(
        supabase, token, str(user_id), body.current_password, body.new_password
    )
