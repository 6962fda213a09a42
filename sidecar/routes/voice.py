"""POST /api/v1/voice/callback: the voice agent calls a patient back (seed 000 epic F).

The patient asks for themselves (no body), or staff ask for a patient registered at their
hospital (`patient_id`, `hospital_id`). The request is recorded with the caller's own token
(rpc/request_voice_callback decides who may ask, and keeps one request per number going and
at most 3 a day), then placed through Vapi with the service role.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sidecar.errors import ApiError, error_responses
from sidecar.integrations.supabase_api import call_rpc
from sidecar.integrations.vapi import VapiClient
from sidecar.routes.dependencies import CallerToken, Supabase
from sidecar.voice import callbacks

router = APIRouter(tags=["Voice"])


class CallbackRequest(BaseModel):
    patient_id: UUID | None = Field(
        None, description="Staff: the patient to call (default: yourself)"
    )
    hospital_id: UUID | None = Field(None, description="Staff: your hospital, whose line calls")


class Callback(BaseModel):
    id: UUID
    status: str = Field(description="placed, failed, or requested/placing when already under way")
    vapi_call_id: str | None = None


@router.post(
    "/voice/callback",
    operation_id="voice_callback_request",
    summary="Ask the voice agent to call a patient back",
    status_code=202,
    response_model=Callback,
    responses=error_responses(401, 403, 404, 422, 429, 502, 503),
)
async def request_callback(
    request: Request, body: CallbackRequest, token: CallerToken, supabase: Supabase
) -> JSONResponse:
    settings = request.app.state.settings
    callbacks.require_configured(settings)
    recorded = await call_rpc(
        supabase.as_user(token),
        "request_voice_callback",
        body.model_dump(mode="json"),
    )
    vapi = VapiClient(settings.vapi_base_url, settings.vapi_api_key, request.app.state.http)
    finished = await callbacks.place(settings, supabase.as_service(), vapi, recorded["id"])
    if finished is None:  # under way already: the earlier request's call
        return JSONResponse({"id": recorded["id"], "status": recorded["status"]}, 202)
    if finished["status"] == "failed":
        raise ApiError(502, "callback_failed", "Vapi did not place the call; try again later")
    answer = {"id": finished["id"], "status": "placed", "vapi_call_id": finished["vapi_call_id"]}
    return JSONResponse(answer, 202)
