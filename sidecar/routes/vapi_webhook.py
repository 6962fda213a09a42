"""POST /api/v1/webhooks/vapi: the voice agent's server messages (seed 000 epic F).

Each message is authenticated on its raw body first (integrations/vapi_server_auth), then
handed to the database with the service role: `status-update` and `end-of-call-report` (and a
body that cannot be read) go to the webhook inbox and the call's voice session in one
transaction (rpc/receive_vapi_message: one entry per event, a replay a duplicate, an
unreadable message kept as unprocessable; all answered 200 so that Vapi does not retry what
cannot change); `assistant-request` is answered with the assistant and what it may say to a
caller known only by their number (rpc/voice_caller_context: nothing clinical). Other message
types are acknowledged and not kept.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from sidecar.errors import ApiError, error_responses
from sidecar.integrations import vapi_server_auth
from sidecar.integrations.supabase_api import call_rpc
from sidecar.routes.dependencies import Supabase

router = APIRouter(tags=["Webhooks"])

RECORDED_TYPES = ("status-update", "end-of-call-report")


class Acknowledgement(BaseModel):
    received: str = Field(description="The message type")
    inbox_entry_id: str | None = Field(None, description="The webhook inbox entry, when kept")
    outcome: str | None = Field(
        None, description="applied, ignored, unprocessable or duplicate; none when not kept"
    )
    reason: str | None = None
    session_id: str | None = Field(None, description="The call's voice session")


def _message(body: bytes) -> dict[str, Any] | None:
    """The message, or None when the body is not a Vapi message at all."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if isinstance(message, dict) and isinstance(message.get("type"), str):
        return message
    return None


def _caller_number(message: dict[str, Any]) -> str | None:
    for holder in (message, message.get("call") or {}):
        customer = holder.get("customer") if isinstance(holder, dict) else None
        if isinstance(customer, dict) and isinstance(customer.get("number"), str):
            return customer["number"]
    return None


@router.post(
    "/webhooks/vapi",
    operation_id="vapi_webhook_receive",
    summary="Vapi server messages: call status, end-of-call reports, assistant requests",
    response_model=None,
    responses={
        200: {
            "description": "The message was taken; for assistant-request, the assistant",
            "model": Acknowledgement,
        },
        **error_responses(401, 503),
    },
)
async def receive(request: Request, supabase: Supabase) -> dict[str, Any]:
    settings = request.app.state.settings
    body = await request.body()
    vapi_server_auth.verify(settings, request.headers, body)
    message = _message(body)
    kind = message["type"] if message else "unreadable"
    service = supabase.as_service()
    if message is None or kind in RECORDED_TYPES:
        text = body.decode("utf-8", errors="replace")
        result = await call_rpc(service, "receive_vapi_message", {"body": text})
        return {"received": kind, **result}
    if kind == "assistant-request":
        if not settings.vapi_assistant_id:
            raise ApiError(503, "not_configured", "no assistant is set up (VAPI_ASSISTANT_ID)")
        context = await call_rpc(
            service, "voice_caller_context", {"phone": _caller_number(message)}
        )
        answer: dict[str, Any] = {"assistantId": settings.vapi_assistant_id}
        if context:
            answer["assistantOverrides"] = {"variableValues": context}
        return answer
    return {"received": kind}
