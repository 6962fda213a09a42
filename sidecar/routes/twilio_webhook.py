"""POST /api/v1/webhooks/twilio/sms: a patient texts a hospital's line (seed 000 epic F).

The rural flow: a patient without the app texts CALL (or कॉल, ਕਾਲ) to the line and the voice
agent calls them back. Twilio's signature is checked over the URL and the form before
anything is used (401 otherwise, nothing recorded); the database decides whether the text asks
for a call, records the request (one per number going, 3 a day) and the call is placed. The
answer is TwiML: a short reply to the sender, or nothing.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sidecar.errors import ApiError, error_responses
from sidecar.integrations import twilio_signature
from sidecar.integrations.supabase_api import call_rpc
from sidecar.integrations.vapi import VapiClient
from sidecar.routes.dependencies import Supabase
from sidecar.voice import callbacks

router = APIRouter(tags=["Webhooks"])

PATH = "/api/v1/webhooks/twilio/sms"
REPLIES = {
    "requested": "We will call you back in a few minutes.",
    "already_requested": "We will call you back in a few minutes.",
    "too_many_callbacks": "We have called you back 3 times today. Please call the hospital.",
    "not_a_request": "Reply CALL and we will call you back.",
}


def _twiml(text: str | None) -> Response:
    inner = f"<Message>{escape(text)}</Message>" if text else ""
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'
    return Response(body, media_type="text/xml")


@router.post(
    "/webhooks/twilio/sms",
    operation_id="twilio_sms_receive",
    summary="An SMS to a hospital's line (Twilio): CALL asks the voice agent to call back",
    response_class=Response,
    responses={
        200: {"content": {"text/xml": {}}, "description": "TwiML: the reply, if any"},
        **error_responses(401, 502, 503),
    },
)
async def receive(request: Request, supabase: Supabase) -> Response:
    settings = request.app.state.settings
    if not settings.twilio_auth_token:
        raise ApiError(503, "not_configured", "Twilio webhooks are not accepted: no auth token")
    form = await request.form()
    params = [(name, str(value)) for name, value in form.multi_items()]
    base = settings.sidecar_public_url.rstrip("/") or str(request.base_url).rstrip("/")
    url = base + PATH + (f"?{request.url.query}" if request.url.query else "")
    given = request.headers.get("x-twilio-signature")
    if not twilio_signature.is_valid(settings.twilio_auth_token, url, params, given):
        raise ApiError(401, "invalid_signature", "X-Twilio-Signature does not match")
    fields = dict(params)
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
    return _twiml(REPLIES.get(outcome))
