"""The sweep for voice calls whose end-of-call report never arrived (issue 14, item 5).

Vapi posts each call's report once and gives up on failure, so a sidecar outage loses
sessions. Every few minutes the worker lists the calls of the lookback window through Vapi's
API, asks the database which ended ones have no recorded report, and records those from the
call itself, through the same rpc/record_voice_call as the webhook (one session per call id:
a report that does arrive later is then a duplicate).

The same round settles callbacks left `placing` (the sidecar stopped between asking Vapi to
call and recording the answer): the call Vapi made for one, to its number from its line after
it was taken, finishes it as placed; none after PLACING_GIVE_UP finishes it as failed, for the
front desk to see. A request is never placed again here: that could ring the patient twice.
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

# Longer than a request to Vapi can take (its timeout): a callback still placing after this
# has lost its sidecar.
PLACING_GRACE = timedelta(minutes=2)
# Vapi lists a call as soon as it is queued: none this long after the request was taken means
# none was made.
PLACING_GIVE_UP = timedelta(minutes=15)


@dataclass(frozen=True)
class SweepCount:
    ended: int  # ended calls of the window
    recorded: int  # of which the report was missing and is now recorded
    settled: int = 0  # callbacks left placing, now finished (placed or failed)


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
        now = now or datetime.now(UTC)
        since = now - timedelta(hours=self.settings.vapi_sweep_lookback_hours)
        calls = [call async for call in self.vapi.calls_since(since)]
        service = self.supabase.as_service()
        ended = {call.id: call for call in calls if call.ended}
        missing = []
        if ended:
            missing = await call_rpc(
                service, "voice_calls_without_report", {"call_ids": list(ended)}
            )
        for call_id in missing or []:
            await call_rpc(service, "record_voice_call", {"message": report_of(ended[call_id])})
        settled = await self.settle_callbacks(service, calls, now)
        return SweepCount(len(ended), len(missing or []), settled)

    async def settle_callbacks(self, service: Any, calls: list[Call], now: datetime) -> int:
        """Finishes the callbacks left placing; returns how many."""
        left = await call_rpc(
            service,
            "voice_callbacks_left_placing",
            {"taken_before": (now - PLACING_GRACE).isoformat()},
        )
        settled = 0
        for callback in left or []:
            taken = datetime.fromisoformat(callback["taken_at"])
            made = sorted(
                (
                    call
                    for call in calls
                    if call.customer_number == callback["phone"]
                    and call.phone_number_id == callback["vapi_phone_number_id"]
                    and call.created_at >= taken
                ),
                key=lambda call: call.created_at,
            )
            if made:
                outcome = {"vapi_call_id": made[0].id}
            elif now - taken >= PLACING_GIVE_UP:
                outcome = {"failure": "no call was made: the request was left unfinished"}
            else:
                continue
            await call_rpc(
                service, "finish_voice_callback", {"callback_id": callback["id"], **outcome}
            )
            settled += 1
        return settled

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.settings.vapi_sweep_interval
        log.info("voice call sweep started", extra={"interval_seconds": interval})
        while not stop.is_set():
            try:
                count = await self.sweep_once()
                if count.recorded or count.settled:
                    log.warning(
                        "recorded voice calls whose report never arrived, settled callbacks "
                        "left placing",
                        extra={
                            "recorded": count.recorded,
                            "ended": count.ended,
                            "settled": count.settled,
                        },
                    )
            except DeliveryFailed as failure:
                log.error("the voice call sweep could not list calls: %s", failure)
            except Exception:
                log.exception("the voice call sweep failed; trying again at the next round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
