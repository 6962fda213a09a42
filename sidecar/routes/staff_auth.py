"""POST /api/v1/auth/staff/login: Supabase Auth's password grant for staff (seed 000).

A thin alias of sidecar/accounts/staff_login.py, which gives every refusal of a wrong
password, an unknown email, a locked or a deactivated login one and the same answer.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sidecar.accounts import staff_login
from sidecar.accounts.sessions import SessionOut, session_out
from sidecar.errors import error_responses
from sidecar.routes.dependencies import Supabase

router = APIRouter(prefix="/auth/staff", tags=["Authentication"])


class StaffLogin(BaseModel):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")
    password: str = Field(min_length=1, max_length=1024)


@router.post(
    "/login",
    operation_id="staff_login",
    summary="Staff login with email and password",
    response_model=SessionOut,
    responses=error_responses(401, 403, 422, 429, 502, 503),
)
async def login(body: StaffLogin, supabase: Supabase) -> SessionOut:
    return session_out(await staff_login.sign_in(supabase, body.email, body.password))
