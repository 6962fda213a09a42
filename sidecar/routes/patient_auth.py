"""Patient phone login through Firebase (seed 000 epic A), ending in a Supabase session.

- `otp` + `verify`: the sidecar drives Firebase's phone sign-in for apps without its SDK;
- `exchange`: apps that ran the Firebase SDK trade their Firebase ID token;
- `refresh`: Supabase Auth's refresh grant.
Each login answers the same session as the staff login: Supabase's own tokens, with the
patient claims of the custom access token hook (user_role patient, patient_id).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, field_validator

from sidecar.accounts import patient_login
from sidecar.accounts.sessions import SessionOut, session_out
from sidecar.errors import error_responses
from sidecar.integrations.firebase_identity import IdentityToolkit
from sidecar.routes.dependencies import Supabase
from sidecar.settings import SidecarSettings

router = APIRouter(prefix="/auth/patient", tags=["Authentication"])

_E164 = r"^\+[1-9][0-9]{7,14}$"
# Postgres text cannot hold NUL: refused here as a 422, not as a failure of the database.
_NO_NUL = r"^[^\x00]*$"
FullName = Annotated[
    str | None,
    Field(
        None,
        max_length=200,
        pattern=_NO_NUL,
        description="The patient's name, used only when a new patient record is created",
    ),
]


class OtpRequest(BaseModel):
    phone: str = Field(description="E.164, e.g. +919876543210", examples=["+919876543210"])
    recaptcha_token: str | None = Field(
        None, max_length=8192, description="App verification Firebase asks for in production"
    )

    @field_validator("phone")
    @classmethod
    def _e164(cls, phone: str) -> str:
        if not re.fullmatch(_E164, phone):
            raise ValueError("the phone number must be in E.164 format, e.g. +919876543210")
        return phone


class OtpSent(BaseModel):
    session_info: str = Field(description="Send it back with the code to /verify")


class VerifyRequest(BaseModel):
    session_info: str = Field(min_length=1, max_length=4096)
    code: str = Field(pattern=r"^[0-9]{4,8}$", description="The code sent by SMS")
    full_name: FullName


class ExchangeRequest(BaseModel):
    id_token: str = Field(
        min_length=1, max_length=8192, description="A Firebase ID token from a phone sign-in"
    )
    full_name: FullName


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=1024, pattern=_NO_NUL)


def _settings(request: Request) -> SidecarSettings:
    return request.app.state.settings


def _identity_toolkit(request: Request) -> IdentityToolkit:
    settings = _settings(request)
    return IdentityToolkit(
        request.app.state.http, settings.identity_toolkit_base_url, settings.firebase_web_api_key
    )


_LOGIN_ERRORS = error_responses(401, 403, 409, 422, 429, 502, 503)


@router.post(
    "/otp",
    operation_id="patient_login_otp",
    summary="Send a sign-in code by SMS (Firebase phone auth)",
    response_model=OtpSent,
    responses=error_responses(422, 429, 502, 503),
)
async def send_code(body: OtpRequest, request: Request) -> OtpSent:
    session_info = await _identity_toolkit(request).send_verification_code(
        body.phone, body.recaptcha_token
    )
    return OtpSent(session_info=session_info)


@router.post(
    "/verify",
    operation_id="patient_login_verify",
    summary="Sign in with the SMS code: a Supabase session of the patient",
    response_model=SessionOut,
    responses=_LOGIN_ERRORS,
)
async def verify_code(body: VerifyRequest, request: Request, supabase: Supabase) -> SessionOut:
    id_token = await _identity_toolkit(request).sign_in_with_phone_number(
        body.session_info, body.code
    )
    return session_out(
        await patient_login.sign_in(supabase, _settings(request), id_token, body.full_name)
    )


@router.post(
    "/exchange",
    operation_id="patient_login_exchange",
    summary="Trade a Firebase ID token (phone sign-in by the app) for a Supabase session",
    response_model=SessionOut,
    responses=_LOGIN_ERRORS,
)
async def exchange(body: ExchangeRequest, request: Request, supabase: Supabase) -> SessionOut:
    return session_out(
        await patient_login.sign_in(supabase, _settings(request), body.id_token, body.full_name)
    )


@router.post(
    "/refresh",
    operation_id="patient_login_refresh",
    summary="Renew a session (Supabase Auth refresh grant; the refresh token rotates)",
    response_model=SessionOut,
    responses=error_responses(401, 422, 429, 502, 503),
)
async def refresh_session(body: RefreshRequest, supabase: Supabase) -> SessionOut:
    return session_out(await patient_login.refresh(supabase, body.refresh_token))
