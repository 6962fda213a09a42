"""Reconciliation of the Cal.com mirror (issue 14, item 4).

Webhooks get lost (an outage of the sidecar, Cal.com giving up after its retries). A run takes
a window [start, end), lists Cal.com's bookings in it through API v2 and hands them, a page per
transaction, to rpc/calendar_reconcile_bookings, which applies each through the same function
as the webhook (private.calendar_apply_booking: forward only, along the uid lineage, clashes
flagged). Then the other direction: the mirrored appointments of the window whose uid Cal.com
did not list are asked for one by one; one that moved out of the window is applied like the
rest, one that is gone (404) goes to rpc/calendar_reconcile_missing (a carebase-born one is
pushed again, a Cal.com-born one flagged). Every run is recorded with its counts; the rule of
which side wins is in the README ("Cal.com reconciliation") and the migration
20261207200000_calendar_reconciliation.sql.

A reschedule makes a new booking (new uid) and cancels the old one: the older uids of a chain
are applied first, and a chain whose other end lies outside the window is followed by uid, so
that the one appointment of the chain is found instead of a second one being made.

The worker runs it every CAREBASE_CALCOM_RECONCILE_INTERVAL seconds over the next
CAREBASE_CALCOM_RECONCILE_AHEAD_DAYS days (from a day back, so that a booking under way is
seen), and once a night over the last CAREBASE_CALCOM_RECONCILE_BEHIND_DAYS days; `carebase
reconcile cal [--from --to]` runs one on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from supabase import AsyncClient

from sidecar.errors import ApiError
from sidecar.integrations.calcom import Booking, CalcomClient, iso
from sidecar.integrations.outcomes import DeliveryFailed
from sidecar.integrations.supabase_api import SupabaseApi, call_rpc
from sidecar.settings import SidecarSettings

log = logging.getLogger("sidecar.calendar_reconcile")

COUNTS = ("checked", "created", "updated", "cancelled", "flagged", "skipped")
# How far a reschedule chain is followed outside the window, per run.
MAX_CHAIN_LOOKUPS = 500
# Tries of one page when the database answers "try again" (a deadlock with a webhook).
PAGE_TRIES = 3


def booking_json(booking: Booking) -> dict[str, Any]:
    """The booking in API v2's own shape, as rpc/calendar_reconcile_bookings reads it."""
    return {
        "uid": booking.uid,
        "status": booking.status,
        "start": iso(booking.start),
        "end": iso(booking.end),
        "hosts": [{"id": h.id, "email": h.email} for h in booking.hosts],
        "attendees": [
            {
                "name": a.name,
                "email": a.email,
                "phoneNumber": a.phone_number,
                "absent": a.absent,
            }
            for a in booking.attendees
        ],
        "rescheduledFromUid": booking.rescheduled_from_uid,
        "rescheduledToUid": booking.rescheduled_to_uid,
        "cancellationReason": booking.cancellation_reason,
        "metadata": dict(booking.metadata),
    }


def _is_link(booking: Booking) -> bool:
    """A booking cancelled by a reschedule: the link from its uid to the next."""
    return booking.status in ("cancelled", "rejected") and bool(booking.rescheduled_to_uid)


def in_chain_order(bookings: Iterable[Booking]) -> list[Booking]:
    """Older uids of a reschedule chain before newer ones (the links first at each step), so
    that each uid is applied once the appointment already holds the one it replaces."""
    items = list(bookings)
    previous: dict[str, str] = {}
    for booking in items:
        if booking.rescheduled_from_uid:
            previous[booking.uid] = booking.rescheduled_from_uid
        if _is_link(booking):
            previous[booking.rescheduled_to_uid or ""] = booking.uid

    def depth(uid: str) -> int:
        seen = {uid}
        steps = 0
        while uid in previous and previous[uid] not in seen:
            uid = previous[uid]
            seen.add(uid)
            steps += 1
        return steps

    def key(booking: Booking) -> tuple[int, int, datetime, str]:
        applies_to = booking.rescheduled_to_uid if _is_link(booking) else booking.uid
        return (
            depth(applies_to or booking.uid),
            0 if _is_link(booking) else 1,
            booking.start,
            booking.uid,
        )

    return sorted(items, key=key)


def _add(total: dict[str, int], tally: dict[str, dict[str, int]] | None) -> None:
    for counts in (tally or {}).values():
        for name in COUNTS:
            total[name] = total.get(name, 0) + int(counts.get(name, 0))


class CalendarReconciler:
    def __init__(
        self, settings: SidecarSettings, supabase: SupabaseApi, calcom: CalcomClient
    ) -> None:
        self.settings = settings
        self.supabase = supabase
        self.calcom = calcom

    async def reconcile(self, trigger: str, start: datetime, end: datetime) -> dict[str, Any]:
        """One run over [start, end); answers the run as recorded (counts, error)."""
        service = self.supabase.as_service()
        run_id = await call_rpc(
            service,
            "calendar_reconcile_begin",
            {"run_trigger": trigger, "window_from": iso(start), "window_to": iso(end)},
        )
        error = None
        try:
            await self._compare(service, run_id, start, end)
        except DeliveryFailed as failure:
            error = str(failure)
        except ApiError as failure:
            error = f"database: {failure.status} {failure.code} {failure.message}"
        except Exception as failure:  # recorded on the run; the worker goes on
            log.exception("the calendar reconciliation failed")
            error = f"{type(failure).__name__}: {failure}"
        run = await call_rpc(
            service, "calendar_reconcile_finish", {"run_id": run_id, "error": error}
        )
        log.info(
            "calendar reconciliation run",
            extra={"run": run_id, "trigger": trigger, **{n: run.get(n) for n in COUNTS}},
        )
        return run

    async def _compare(
        self, service: AsyncClient, run_id: str, start: datetime, end: datetime
    ) -> None:
        listed: dict[str, Booking] = {}
        async for booking in self.calcom.bookings(after_start=start, before_end=end):
            listed[booking.uid] = booking
        lookups = [MAX_CHAIN_LOOKUPS]
        await self._follow_chains(listed, lookups)
        await self._apply(service, run_id, listed.values())

        # The other direction: what the mirror holds in the window that Cal.com did not list.
        unseen = await call_rpc(
            service, "calendar_reconcile_unseen", {"run_id": run_id, "seen_refs": list(listed)}
        )
        found: dict[str, Booking] = {}
        missing: list[str] = []
        for uid in unseen or []:
            booking = await self.calcom.get_booking(uid)
            if booking is None:
                missing.append(uid)
            else:
                found[booking.uid] = booking
        if found:
            known = dict(listed)
            known.update(found)
            await self._follow_chains(known, lookups)
            await self._apply(service, run_id, (b for u, b in known.items() if u not in listed))
        if missing:
            await call_rpc(
                service, "calendar_reconcile_missing", {"run_id": run_id, "external_refs": missing}
            )

    async def _follow_chains(self, bookings: dict[str, Booking], lookups: list[int]) -> None:
        """Adds the uids of reschedule chains that lie outside the window, both ways."""
        wanted = [
            uid
            for b in bookings.values()
            for uid in (b.rescheduled_from_uid, b.rescheduled_to_uid)
            if uid and uid not in bookings
        ]
        while wanted and lookups[0] > 0:
            uid = wanted.pop()
            if uid in bookings:
                continue
            lookups[0] -= 1
            booking = await self.calcom.get_booking(uid)
            if booking is None:
                continue
            bookings[booking.uid] = booking
            wanted.extend(
                u
                for u in (booking.rescheduled_from_uid, booking.rescheduled_to_uid)
                if u and u not in bookings
            )

    async def _apply(self, service: AsyncClient, run_id: str, bookings: Iterable[Booking]) -> None:
        ordered = in_chain_order(bookings)
        size = self.settings.calcom_reconcile_page_size
        for first in range(0, len(ordered), size):
            page = [booking_json(b) for b in ordered[first : first + size]]
            for attempt in range(1, PAGE_TRIES + 1):
                try:
                    await call_rpc(
                        service, "calendar_reconcile_bookings", {"run_id": run_id, "bookings": page}
                    )
                    break
                except ApiError as failure:
                    # Rolled back whole: sending it again applies nothing twice.
                    if failure.status != 503 or attempt == PAGE_TRIES:
                        raise
                    await asyncio.sleep(0.2 * attempt)

    # The worker's schedule

    async def _last_nightly(self) -> datetime | None:
        service = self.supabase.as_service()
        response = (
            await service.rpc("calendar_reconciliations", {})
            .eq("run_trigger", "nightly")
            .order("started_at", desc=True)
            .limit(1)
            .execute()
        )
        rows = response.data or []
        return datetime.fromisoformat(rows[0]["started_at"]) if rows else None

    def nightly_due(self, now: datetime, last: datetime | None) -> bool:
        """In the configured hour (UTC), once; or whenever a night was missed."""
        if last is None or now - last >= timedelta(hours=48):
            return now.hour == self.settings.calcom_reconcile_nightly_hour or last is not None
        return now.hour == self.settings.calcom_reconcile_nightly_hour and now - last >= timedelta(
            hours=20
        )

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        interval = settings.calcom_reconcile_interval
        log.info("calendar reconciliation started", extra={"interval_seconds": interval})
        last_nightly: datetime | None = None
        with contextlib.suppress(Exception):
            last_nightly = await self._last_nightly()
        while not stop.is_set():
            now = datetime.now(UTC)
            try:
                await self.reconcile(
                    "periodic",
                    now - timedelta(days=1),
                    now + timedelta(days=settings.calcom_reconcile_ahead_days),
                )
                if self.nightly_due(now, last_nightly):
                    last_nightly = now
                    await self.reconcile(
                        "nightly", now - timedelta(days=settings.calcom_reconcile_behind_days), now
                    )
            except Exception:
                log.exception("the calendar reconciliation failed; trying again at the next round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
