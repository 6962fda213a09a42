"""The sweep for voice calls whose end-of-call report never arrived (issue 14, item 5).

Vapi posts each call's report once and gives up on failure, so a sidecar outage loses
sessions. Every few minutes the worker lists the calls of the lookback window through Vapi's
API, asks the database which ended ones have no recorded report, and records those from the
call itself, through the same rpc/record_voice_call as the webhook (one session per call id:
a report that does arrive later is then a duplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sidecar.integrations.outcomes import DeliveryFailed
from sidecar.integrations.supabase_api import SupabaseApi, call_rpc
from sidecar.integrations.vapi import Call, VapiClient
from sidecar.settings import SidecarSettings

log = logging.getLogger("sidecar.voice_sweep")


@dataclass(frozen=True)
class SweepCount:
    ended: int  # ended calls of the window
    recorded: int  # of which the report was missing and is now recorded


def _text(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def report_of(call: Call) -> dict[str, Any]:
    """The end-of-call-report Vapi would have sent, from the call as its API shows it."""
    return {
        "type": "end-of-call-report",
        "endedReason": call.ended_reason,
        "cost": call.cost,
        "startedAt": _text(call.started_at),
        "endedAt": _text(call.ended_at),
        "call": {
            "id": call.id,
            "phoneNumberId": call.phone_number_id,
            "customer": {"number": call.customer_number},
        },
        "artifact": {
            "transcript": call.transcript,
            "messages": list(call.messages),
            "recordingUrl": call.recording_url,
        },
        "analysis": {"summary": call.summary, "structuredData": call.structured_data},
    }


class VoiceSweep:
    def __init__(self, settings: SidecarSettings, supabase: SupabaseApi, vapi: VapiClient) -> None:
        self.settings = settings
        self.supabase = supabase
        self.vapi = vapi

    async def sweep_once(self, now: datetime | None = None) -> SweepCount:
        since = (now or datetime.now(UTC)) - timedelta(
            hours=self.settings.vapi_sweep_lookback_hours
        )
        ended = {call.id: call async for call in self.vapi.calls_since(since) if call.ended}
        if not ended:
            return SweepCount(0, 0)
        service = self.supabase.as_service()
        missing = await call_rpc(service, "voice_calls_without_report", {"call_ids": list(ended)})
        for call_id in missing or []:
            await call_rpc(service, "record_voice_call", {"message": report_of(ended[call_id])})
        return SweepCount(len(ended), len(missing or []))

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.settings.vapi_sweep_interval
        log.info("voice call sweep started", extra={"interval_seconds": interval})
        while not stop.is_set():
            try:
                count = await self.sweep_once()
                if count.recorded:
                    log.warning(
                        "recorded voice calls whose report never arrived",
                        extra={"recorded": count.recorded, "ended": count.ended},
                    )
            except DeliveryFailed as failure:
                log.error("the voice call sweep could not list calls: %s", failure)
            except Exception:
                log.exception("the voice call sweep failed; trying again at the next round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
