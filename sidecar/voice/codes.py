"""The voice agent's SMS code (the `send_verification_code` tool; issue 14, item 5).

The database makes the code for the caller of the call, keeps only its hash, and answers
`{result, sms: {to, body}}`: `to` is the patient's own phone on record, never a number the
agent or the caller named. This module texts `body` to `to` through Twilio and gives the agent
only `result` ("a code was sent to the phone number on your record"): never the code, never
the number. A caller who spoofs another patient's number makes that patient's real phone get
the text, which the spoofer cannot read, so they stay unverified.

When Twilio is not configured, or the send fails, the agent hears that the code could not be
sent, and nothing is verified. Without Twilio the database is not asked at all (no code is
made that nobody could receive).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from sidecar.integrations.outcomes import DeliveryFailed
from sidecar.integrations.twilio_sms import TwilioSms
from sidecar.settings import SidecarSettings

log = logging.getLogger("sidecar.voice.codes")

TOOL = "send_verification_code"

NOT_CONFIGURED = {
    "sent": False,
    "reason": "sms_not_configured",
    "say": "The code could not be sent: text messages are not set up. The caller can use their "
    "voice PIN, or the front desk can help.",
}
NOT_SENT = {
    "sent": False,
    "reason": "sms_failed",
    "say": "The code could not be sent just now. Try again in a moment, use the voice PIN, or "
    "the front desk can help.",
}


def sms_client(settings: SidecarSettings, http: httpx.AsyncClient) -> TwilioSms | None:
    """Twilio's client, when its account, token and sender are all set."""
    if not (
        settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number
    ):
        return None
    return TwilioSms(
        settings.twilio_base_url,
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_from_number,
        http,
    )


async def deliver(sms: TwilioSms, answer: Any) -> Any:
    """Texts the code of the database's answer; returns what the agent may hear (`result` or
    `error`), without the text or the number."""
    if not isinstance(answer, dict) or "error" in answer:
        return answer
    text = answer.get("sms")
    if not isinstance(text, dict):  # refused (a limit, an unidentified caller): nothing to send
        return {"result": answer.get("result")}
    try:
        await sms.send(str(text["to"]), str(text["body"]))
    except (DeliveryFailed, ValueError) as error:
        # The message says why Twilio refused; it holds neither the code nor the body.
        log.warning("voice code not sent: %s", error)
        return {"result": NOT_SENT}
    return {"result": answer.get("result")}
