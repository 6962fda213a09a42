"""/api/v1/webhooks/cal: Cal.com's booking webhooks (seed 000 epic D).

The signature is checked on the raw body before anything reads it; then the body goes, as it
came, to one Postgres function (rpc/receive_calcom_webhook, service role) that records it in
the inbox and applies it to the appointment mirror in one transaction. Every event it stores,
applied or not, is answered 200, so that Cal.com does not disable the webhook; a replay is a
duplicate, also 200.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from sidecar.errors import ApiError, error_responses
from sidecar.integrations import calcom_webhook
from sidecar.integrations.supabase_api import call_rpc
from sidecar.routes.dependencies import Supabase

router = APIRouter(tags=["Webhooks"])


class WebhookReceipt(BaseModel):
    inbox_entry_id: str = Field(description="The inbox entry that holds the event")
    outcome: str = Field(
        description="applied, ignored, unprocessable, flagged, or duplicate (a replay: nothing "
        "changed)"
    )
    reason: str | None = Field(None, description="A stable code for why it was not applied")
    detail: str | None = None
    appointment_id: str | None = None
    first_outcome: str | None = Field(None, description="For a duplicate: the event's outcome")


async def _raw_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")
    return bytes(body)


@router.post(
    "/webhooks/cal",
    operation_id="calcom_webhook_receive",
    summary="Receive a Cal.com webhook (signed with X-Cal-Signature-256)",
    description=(
        "The body is Cal.com's JSON as sent; `X-Cal-Signature-256` must be the lowercase hex "
        "HMAC-SHA256 of the exact body with the configured secret (a missing or wrong one: 401, "
        "nothing stored). The event is recorded in the webhook inbox and applied to the "
        "appointment mirror in one transaction; an event that cannot be applied is stored with "
        "its reason and still answered 200, as is a replay (outcome duplicate). 503 when no "
        "secret is configured, or for a transient database failure (retry)."
    ),
    response_model=WebhookReceipt,
    response_model_exclude_none=True,
    responses=error_responses(401, 413, 502, 503),
)
async def receive_cal(request: Request, supabase: Supabase) -> Any:
    settings = request.app.state.settings
    if not settings.calcom_webhook_secret:
        raise ApiError(503, "webhook_unconfigured", "the Cal.com webhook secret is not configured")
    body = await _raw_body(request, settings.webhook_max_bytes)
    signature = request.headers.get(calcom_webhook.SIGNATURE_HEADER)
    if not calcom_webhook.signature_valid(settings.calcom_webhook_secret, body, signature):
        raise ApiError(
            401, "invalid_signature", f"{calcom_webhook.SIGNATURE_HEADER} does not match the body"
        )
    # The database parses it (a malformed body is stored too); text cannot hold NUL.
    text = body.decode("utf-8", "replace").replace("\x00", "\ufffd")
    return await call_rpc(supabase.as_service(), "receive_calcom_webhook", {"body": text})
