"""POST /api/v1/leads/website: a hospital's public website form files a lead (seed 004 §3.2,
"created via API (website)").

No login: limited per client address, a captcha when one is configured, and a honeypot field
that only bots fill. The lead goes to `rpc/receive_website_lead` with the service role, which
files it (or records a repeat inquiry on the open lead of the phone). The endpoint creates and
never reads: every accepted form gets the same answer, whatever the database holds.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sidecar.errors import ApiError, error_responses
from sidecar.integrations.captcha import CaptchaUnavailable, CaptchaVerifier
from sidecar.integrations.supabase_api import call_rpc
from sidecar.rate_limit import client_ip
from sidecar.routes.dependencies import Supabase

router = APIRouter(tags=["Leads"])


class WebsiteLead(BaseModel):
    hospital_code: str = Field(
        min_length=2, max_length=10, description="The hospital's code, e.g. JAN (its MRN prefix)"
    )
    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(
        min_length=6, max_length=32, description="E.164, or a 10-digit Indian number"
    )
    email: str | None = Field(None, max_length=254)
    inquiry: str | None = Field(None, max_length=60, description="e.g. IVF, IUI, General")
    message: str | None = Field(None, max_length=4000)
    captcha_token: str | None = Field(
        None, max_length=4096, description="The captcha widget's token (when the site uses one)"
    )
    website: str | None = Field(
        None, max_length=200, description="Leave empty: a hidden field that only bots fill in"
    )


class Received(BaseModel):
    received: bool = Field(description="Always true: the form was taken (nothing is read back)")


@router.post(
    "/leads/website",
    operation_id="website_lead_create",
    summary="File a lead from a hospital's public website form",
    status_code=202,
    response_model=Received,
    responses=error_responses(403, 404, 422, 429, 502, 503),
)
async def receive_website_lead(
    request: Request, body: WebsiteLead, supabase: Supabase
) -> JSONResponse:
    settings = request.app.state.settings
    accepted = JSONResponse({"received": True}, 202)
    if body.website:
        return accepted  # a bot: told the same, nothing stored
    if settings.captcha_secret:
        if not body.captcha_token:
            raise ApiError(403, "captcha_required", "solve the captcha and send its token")
        verifier = CaptchaVerifier(
            settings.captcha_verify_url,
            settings.captcha_secret,
            request.app.state.http,
            settings.captcha_timeout,
        )
        try:
            passed = await verifier.passed(
                body.captcha_token, client_ip(request, settings.trusted_proxies)
            )
        except CaptchaUnavailable as error:
            raise ApiError(
                503, "captcha_unavailable", "the captcha could not be checked; try again"
            ) from error
        if not passed:
            raise ApiError(403, "captcha_failed", "the captcha was not solved; try again")
    await call_rpc(
        supabase.as_service(),
        "receive_website_lead",
        {
            "hospital_code": body.hospital_code,
            "full_name": body.name,
            "phone": body.phone,
            "email": body.email,
            "inquiry": body.inquiry,
            "message": body.message,
        },
    )
    return accepted
