"""/api/v1/webhooks: what Cal.com, Vapi, Razorpay and Twilio post to carebase (seed 000 epics D
and F, seed 003 payments).

Each body is read whole (up to CAREBASE_WEBHOOK_MAX_BYTES, 413 beyond) and authenticated as
its provider signs it before anything parses it (401 otherwise, nothing stored); then it goes,
as it came, to one Postgres function with the service role that records and applies it in one
transaction.

- `cal`: rpc/receive_calcom_webhook records the event in the inbox and applies it to the
  appointment mirror. Every event it stores, applied or not, is answered 200, so that Cal.com
  does not disable the webhook; a replay is a duplicate, also 200.
- `vapi`: `status-update` and `end-of-call-report` (and a body that cannot be read) go to the
  inbox and the call's voice session (rpc/receive_vapi_message: one entry per event, a replay a
  duplicate, all answered 200); `assistant-request` is answered with the assistant and what it
  may say to a caller known only by their number (rpc/voice_caller_context: nothing clinical);
  `tool-calls` runs each of the agent's tool calls for the call's caller (rpc/voice_tool_call:
  the database decides who the caller is and what they may hear) and answers in Vapi's results
  format; `send_verification_code`'s code is texted here to the patient's phone on record
  (Twilio), and the agent hears only that it was sent. Other message types are acknowledged
  and not kept.
- `razorpay`: Razorpay's payment, refund and payment link events (`X-Razorpay-Signature`,
  the HMAC-SHA256 of the raw body with the webhook secret, checked in constant time before
  anything parses it) go to rpc/receive_razorpay_webhook: one inbox entry per
  `x-razorpay-event-id` (a replay is a duplicate and changes nothing), payments moved forward
  only, refunds settled, a paid payment link's payment captured. Every event it
  stores is answered 200 (Razorpay disables a webhook that keeps failing).
- `twilio/sms`: a patient texts CALL (or कॉल, ਕਾਲ) to a hospital's line; the database decides
  whether the text asks for a call, records the request (one per number going, 3 a day) and
  the call is placed. The answer is TwiML: a short reply to the sender, or nothing.
- `twilio/status`: Twilio's status callback of a message carebase sent (the worker names this
  URL with `?message_id=`); rpc/receive_twilio_status keeps it in the inbox and moves the
  message forward (sent, delivered, read, failed), never back.
- `twilio/whatsapp`: a patient's WhatsApp message (rpc/receive_patient_message): kept as a
  received message at their hospitals, and it opens the 24-hour window for free text.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from sidecar.errors import ApiError, error_responses
from sidecar.integrations import calcom_webhook, razorpay, twilio_signature, vapi_server_auth
from sidecar.integrations.supabase_api import call_rpc
from sidecar.integrations.vapi import VapiClient
from sidecar.routes.dependencies import Supabase
from sidecar.voice import callbacks, codes

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


def _text(body: bytes) -> str:
    """The body for the database, which parses it (a malformed one is stored too); text
    cannot hold NUL."""
    return body.decode("utf-8", "replace").replace("\x00", "\ufffd")


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
        raise ApiError(503, "not_configured", "the Cal.com webhook secret is not configured")
    body = await _raw_body(request, settings.webhook_max_bytes)
    signature = request.headers.get(calcom_webhook.SIGNATURE_HEADER)
    if not calcom_webhook.signature_valid(settings.calcom_webhook_secret, body, signature):
        raise ApiError(
            401, "invalid_signature", f"{calcom_webhook.SIGNATURE_HEADER} does not match the body"
        )
    return await call_rpc(supabase.as_service(), "receive_calcom_webhook", {"body": _text(body)})


class RazorpayReceipt(BaseModel):
    inbox_entry_id: str = Field(description="The inbox entry that holds the event")
    outcome: str = Field(
        description="applied, ignored, unprocessable, or duplicate (a replay: nothing changed)"
    )
    reason: str | None = Field(None, description="A stable code for why it was not applied")
    detail: str | None = None
    payment_id: str | None = None
    refund_id: str | None = None
    status: str | None = Field(None, description="The payment's status after the event")
    first_outcome: str | None = Field(None, description="For a duplicate: the event's outcome")


@router.post(
    "/webhooks/razorpay",
    operation_id="razorpay_webhook_receive",
    summary="Receive a Razorpay webhook (signed with X-Razorpay-Signature)",
    description=(
        "The body is Razorpay's event JSON as sent; `X-Razorpay-Signature` must be the hex "
        "HMAC-SHA256 of the exact body with the webhook secret (a missing or wrong one: 401, "
        "nothing stored). The event is recorded in the webhook inbox (one entry per "
        "`x-razorpay-event-id`) and applied in one transaction: payment.authorized, "
        "payment.captured, order.paid and payment.failed move the payment forward only; "
        "refund.processed and refund.failed settle a refund; payment_link.paid records the "
        "link's payment as captured (its receipt number, the invoice paid), "
        "payment_link.cancelled and payment_link.expired close the link. A replay is a "
        "duplicate; an event that cannot be applied is stored with its reason; both are "
        "answered 200. 503 when no secret is configured, or for a transient database failure "
        "(retry)."
    ),
    response_model=RazorpayReceipt,
    response_model_exclude_none=True,
    responses=error_responses(401, 413, 502, 503),
)
async def receive_razorpay(request: Request, supabase: Supabase) -> Any:
    settings = request.app.state.settings
    if not settings.razorpay_webhook_secret:
        raise ApiError(503, "not_configured", "the Razorpay webhook secret is not configured")
    body = await _raw_body(request, settings.webhook_max_bytes)
    signature = request.headers.get(razorpay.SIGNATURE_HEADER)
    if not razorpay.webhook_signature_valid(settings.razorpay_webhook_secret, body, signature):
        raise ApiError(
            401, "invalid_signature", f"{razorpay.SIGNATURE_HEADER} does not match the body"
        )
    return await call_rpc(
        supabase.as_service(),
        "receive_razorpay_webhook",
        {"body": _text(body), "event_id": request.headers.get(razorpay.EVENT_ID_HEADER)},
    )


VAPI_RECORDED_TYPES = ("status-update", "end-of-call-report")


class Acknowledgement(BaseModel):
    received: str = Field(description="The message type")
    inbox_entry_id: str | None = Field(None, description="The webhook inbox entry, when kept")
    outcome: str | None = Field(
        None, description="applied, ignored, unprocessable or duplicate; none when not kept"
    )
    reason: str | None = None
    session_id: str | None = Field(None, description="The call's voice session")


def _vapi_message(body: bytes) -> dict[str, Any] | None:
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


def _tool_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Vapi's tool calls: `toolCallList` items `{id, type: function, function: {name,
    arguments}}` (older ones `{id, name, arguments|parameters}`), else the `toolCall` of each
    `toolWithToolCallList` item."""
    listed = message.get("toolCallList")
    if not isinstance(listed, list):
        listed = [
            item.get("toolCall") | {"name": item.get("name")}
            for item in message.get("toolWithToolCallList") or []
            if isinstance(item, dict) and isinstance(item.get("toolCall"), dict)
        ]
    return [call for call in listed if isinstance(call, dict)]


def _tool_name_and_arguments(call: dict[str, Any]) -> tuple[str | None, Any]:
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    name = function.get("name") or call.get("name")
    arguments = function.get("arguments", call.get("arguments", call.get("parameters")))
    if isinstance(arguments, str):  # Vapi sends the model's arguments as a string or an object
        arguments = json.loads(arguments) if arguments.strip() else {}
    return (name if isinstance(name, str) else None), arguments if arguments is not None else {}


def _one_line(value: Any) -> str:
    """A tool's answer as Vapi wants it: a single-line string (a line break breaks its parsing)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return " ".join(text.splitlines())


async def _run_tool_calls(
    request: Request, service: Any, message: dict[str, Any]
) -> dict[str, Any]:
    """`{"results": [{"toolCallId", "name", "result" | "error"}]}`, one per tool call, in order;
    always answered 200 (Vapi ignores any other status), a failed call as its `error`.
    send_verification_code's text goes out by SMS here (sidecar.voice.codes); the agent hears
    only whether it went."""
    call = message.get("call") if isinstance(message.get("call"), dict) else {}
    sms = codes.sms_client(request.app.state.settings, request.app.state.http)
    results = []
    for tool_call in _tool_calls(message):
        try:
            name, arguments = _tool_name_and_arguments(tool_call)
        except ValueError:
            name, arguments = None, None
        entry: dict[str, Any] = {"toolCallId": str(tool_call.get("id", "")), "name": name or ""}
        if arguments is None or not isinstance(arguments, dict):
            entry["error"] = "the tool's arguments are not a JSON object"
        elif name == codes.TOOL and sms is None:
            entry["result"] = _one_line(codes.NOT_CONFIGURED)
        else:
            try:
                answer = await call_rpc(
                    service,
                    "voice_tool_call",
                    {
                        "call_id": call.get("id"),
                        "caller_phone": _caller_number(message),
                        "phone_number_id": call.get("phoneNumberId"),
                        "tool": name,
                        "arguments": arguments,
                    },
                )
            except ApiError as error:
                answer = {"error": error.message}
            if name == codes.TOOL and sms is not None:
                answer = await codes.deliver(sms, answer)
            if not isinstance(answer, dict) or "error" in answer:
                entry["error"] = _one_line((answer or {}).get("error", "no answer"))
            else:
                entry["result"] = _one_line(answer.get("result"))
        results.append(entry)
    return {"results": results}


@router.post(
    "/webhooks/vapi",
    operation_id="vapi_webhook_receive",
    summary="Vapi server messages: call status, reports, assistant requests, tool calls",
    response_model=None,
    responses={
        200: {
            "description": "The message was taken; for assistant-request, the assistant; for "
            "tool-calls, `{results: [{toolCallId, name, result | error}]}`",
            "model": Acknowledgement,
        },
        **error_responses(401, 413, 503),
    },
)
async def receive_vapi(request: Request, supabase: Supabase) -> dict[str, Any]:
    settings = request.app.state.settings
    body = await _raw_body(request, settings.webhook_max_bytes)
    vapi_server_auth.verify(settings, request.headers, body)
    message = _vapi_message(body)
    kind = message["type"] if message else "unreadable"
    service = supabase.as_service()
    if message is None or kind in VAPI_RECORDED_TYPES:
        result = await call_rpc(service, "receive_vapi_message", {"body": _text(body)})
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
    if kind == "tool-calls":
        return await _run_tool_calls(request, service, message)
    return {"received": kind}


TWILIO_SMS_PATH = "/api/v1/webhooks/twilio/sms"
SMS_REPLIES = {
    "requested": "We will call you back in a few minutes.",
    "already_requested": "We will call you back in a few minutes.",
    "too_many_callbacks": "We have called you back 3 times today. Please call the hospital.",
    "not_a_request": "Reply CALL and we will call you back.",
}


def _twiml(text: str | None) -> Response:
    inner = f"<Message>{escape(text)}</Message>" if text else ""
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'
    return Response(body, media_type="text/xml")


def _twilio_form(request: Request, body: bytes, path: str) -> dict[str, str]:
    """The form Twilio posted, once X-Twilio-Signature proves Twilio signed it for this URL
    (the public URL as configured in Twilio, query included); 401 otherwise."""
    settings = request.app.state.settings
    params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    base = settings.sidecar_public_url.rstrip("/") or str(request.base_url).rstrip("/")
    url = base + path + (f"?{request.url.query}" if request.url.query else "")
    given = request.headers.get("x-twilio-signature")
    if not twilio_signature.is_valid(settings.twilio_auth_token, url, params, given):
        raise ApiError(401, "invalid_signature", "X-Twilio-Signature does not match")
    return dict(params)


async def _verified_twilio_form(request: Request, path: str) -> dict[str, str]:
    settings = request.app.state.settings
    if not settings.twilio_auth_token:
        raise ApiError(503, "not_configured", "Twilio webhooks are not accepted: no auth token")
    body = await _raw_body(request, settings.webhook_max_bytes)
    return _twilio_form(request, body, path)


TWILIO_STATUS_PATH = "/api/v1/webhooks/twilio/status"
TWILIO_WHATSAPP_PATH = "/api/v1/webhooks/twilio/whatsapp"


@router.post(
    "/webhooks/twilio/status",
    operation_id="twilio_status_receive",
    summary="Twilio's status callback of a message carebase sent (sent, delivered, read, failed)",
    description=(
        "Form-encoded as Twilio posts it (MessageSid, MessageStatus, ErrorCode...), to the URL "
        "the worker gave with `?message_id=`; `X-Twilio-Signature` is checked on the full URL "
        "and every parameter before anything is read (401, nothing stored). Kept in the webhook "
        "inbox, one entry per message and status (a replay is a duplicate); the message moves "
        "forward only. Every stored callback is answered 200."
    ),
    response_model=WebhookReceipt,
    response_model_exclude_none=True,
    responses=error_responses(401, 413, 502, 503),
)
async def receive_twilio_status(request: Request, supabase: Supabase) -> Any:
    form = await _verified_twilio_form(request, TWILIO_STATUS_PATH)
    message_id = request.query_params.get("message_id")
    try:
        message = str(uuid.UUID(message_id or ""))
    except ValueError:
        message = None
    return await call_rpc(
        supabase.as_service(), "receive_twilio_status", {"message_id": message, "params": form}
    )


@router.post(
    "/webhooks/twilio/whatsapp",
    operation_id="twilio_whatsapp_receive",
    summary="A patient's WhatsApp message to the hospital (Twilio)",
    description=(
        "Form-encoded as Twilio posts it (From whatsapp:+91..., Body, MessageSid), signed with "
        "`X-Twilio-Signature` (401 otherwise). Kept as a received message at each hospital "
        "where a patient with that number is registered, which opens the 24-hour window for "
        "free text. The answer is empty TwiML (no automatic reply)."
    ),
    response_class=Response,
    responses={
        200: {"content": {"text/xml": {}}, "description": "TwiML: no reply"},
        **error_responses(401, 413, 502, 503),
    },
)
async def receive_twilio_whatsapp(request: Request, supabase: Supabase) -> Response:
    form = await _verified_twilio_form(request, TWILIO_WHATSAPP_PATH)
    await call_rpc(
        supabase.as_service(),
        "receive_patient_message",
        {
            "channel": "whatsapp",
            "from_phone": form.get("From"),
            "body": form.get("Body"),
            "provider_message_id": form.get("MessageSid"),
        },
    )
    return _twiml(None)


@router.post(
    "/webhooks/twilio/sms",
    operation_id="twilio_sms_receive",
    summary="An SMS to a hospital's line (Twilio): CALL asks the voice agent to call back",
    response_class=Response,
    responses={
        200: {"content": {"text/xml": {}}, "description": "TwiML: the reply, if any"},
        **error_responses(401, 413, 502, 503),
    },
)
async def receive_twilio_sms(request: Request, supabase: Supabase) -> Response:
    settings = request.app.state.settings
    # Twilio posts application/x-www-form-urlencoded; every parameter is signed.
    fields = await _verified_twilio_form(request, TWILIO_SMS_PATH)
    service = supabase.as_service()
    asked = await call_rpc(
        service,
        "request_voice_callback_by_sms",
        {
            "from_phone": fields.get("From"),
            "to_phone": fields.get("To"),
            "body": fields.get("Body"),
        },
    )
    outcome = asked["outcome"]
    if outcome == "requested":
        callbacks.require_configured(settings)
        vapi = VapiClient(settings.vapi_base_url, settings.vapi_api_key, request.app.state.http)
        await callbacks.place(settings, service, vapi, asked["id"])
    return _twiml(SMS_REPLIES.get(outcome))
