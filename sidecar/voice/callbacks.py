"""Placing a recorded callback request: the database takes it (only a waiting request is
taken, so two requests at once place one call), Vapi calls the number from the line's phone
number with the configured assistant, and the database records the call or why it failed.

Vapi takes no idempotency key: if the sidecar stops between asking Vapi and recording the
answer, the request stays `placing` (never placed twice) until the voice sweep finds the call
Vapi made for it, or none (sidecar/jobs/voice_sweep.py); the call itself still reaches
ai_sessions through its report.
"""

from __future__ import annotations

import logging
from typing import Any

from supabase import AsyncClient

from sidecar.errors import ApiError
from sidecar.integrations.outcomes import DeliveryFailed
from sidecar.integrations.supabase_api import call_rpc
from sidecar.integrations.vapi import VapiClient
from sidecar.settings import SidecarSettings

log = logging.getLogger("sidecar.voice_callbacks")


def require_configured(settings: SidecarSettings) -> None:
    """Refuses before anything is recorded when no call could be placed."""
    if not (settings.vapi_api_key and settings.vapi_assistant_id):
        raise ApiError(
            503,
            "not_configured",
            "calls cannot be placed: VAPI_API_KEY or VAPI_ASSISTANT_ID is unset",
        )


async def place(
    settings: SidecarSettings, service: AsyncClient, vapi: VapiClient, callback_id: str
) -> dict[str, Any] | None:
    """Places a waiting request; returns the finished request, or None when it was not
    waiting (already placed, or being placed by another request)."""
    claimed = await call_rpc(service, "claim_voice_callback", {"callback_id": callback_id})
    if not claimed:
        return None
    try:
        call = await vapi.create_call(
            assistant_id=settings.vapi_assistant_id,
            phone_number_id=claimed["vapi_phone_number_id"],
            customer_number=claimed["phone"],
        )
    except DeliveryFailed as failure:
        log.warning("a callback could not be placed: %s", failure, extra={"callback": callback_id})
        return await call_rpc(
            service,
            "finish_voice_callback",
            {"callback_id": callback_id, "failure": str(failure)[:500]},
        )
    return await call_rpc(
        service, "finish_voice_callback", {"callback_id": callback_id, "vapi_call_id": call.id}
    )
