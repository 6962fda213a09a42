"""Cal.com out (issue 14, item 3): the worker job that pushes carebase appointments and doctors'
working hours to their Cal.com calendars.

The database says what to do: an appointment whose `sync_state` is `pending` (a trigger marks
carebase-born appointments of linked doctors when they are made, moved or cancelled, and
Cal.com-born ones when a user moves or cancels them in carebase; the reconciliation marks
carebase bookings missing in Cal.com). `claim_calendar_pushes` leases them with what was last
pushed; for each this job

* creates the booking (`create_booking_once`: a retry after a timeout finds the booking the
  first try made instead of making a second), also when the booking it had vanished; never for
  a booking born in Cal.com (that one is moved or cancelled, or the push fails and is flagged),
* moves it (`reschedule_booking`: Cal.com makes a new uid) when its time differs in Cal.com,
* cancels the live booking it is now (following moves made in Cal.com; nothing to call for an
  appointment that was never pushed or whose booking is no longer live),

and reports with `complete_calendar_push` (the uid joins the appointment's lineage, so the
webhook Cal.com then sends about our own booking finds this appointment) or
`fail_calendar_push` (transient: retried with backoff; a refused slot: the appointment is
cancelled with `calendar_slot_taken` and the patient told). Doctors whose working hours or
exceptions changed are claimed with `claim_schedule_pushes` and their whole schedule is sent
with `update_schedule`. Keys: the doctor's own from Vault (`calendar_api_key`), else
CALCOM_API_KEY.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from sidecar.integrations.calcom import (
    NOT_FOUND,
    REFUSED,
    SLOT_UNAVAILABLE,
    Booking,
    CalcomClient,
    DateOverride,
    NewAttendee,
    WeeklyHours,
)
from sidecar.integrations.outcomes import DeliveryFailed, permanent
from sidecar.integrations.supabase_api import SupabaseApi, call_rpc
from sidecar.jobs.polling import poll
from sidecar.observability import request_id
from sidecar.settings import SidecarSettings

log = logging.getLogger("sidecar.calendar_push")

LIVE = ("accepted", "pending")
CANCEL_REASON = "Cancelled in carebase"
RESCHEDULE_REASON = "Moved in carebase"


@dataclass(frozen=True)
class Pushed:
    """What a push left in Cal.com: the booking's uid (None: there is none) and the uid it
    replaced (a move or a booking made again)."""

    uid: str | None
    state: str  # booked, cancelled
    replaced: str | None = None


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


class CalendarPush:
    def __init__(
        self, settings: SidecarSettings, supabase: SupabaseApi, http: httpx.AsyncClient
    ) -> None:
        self.settings = settings
        self.supabase = supabase
        self.http = http
        self.name = f"calendar-push-{uuid.uuid4().hex[:8]}"

    async def _rpc(self, function: str, params: dict[str, Any]) -> Any:
        return await call_rpc(self.supabase.as_service(), function, params)

    async def _client(self, doctor_id: str, keys: dict[str, str | None]) -> CalcomClient:
        if doctor_id not in keys:
            own = await self._rpc("calendar_api_key", {"doctor_id": doctor_id})
            keys[doctor_id] = own or self.settings.calcom_api_key or None
        key = keys[doctor_id]
        if not key:
            raise permanent("no Cal.com API key for this doctor", "no_key")
        return CalcomClient(self.settings.calcom_base_url, key, self.http)

    def _claim_params(self) -> dict[str, Any]:
        return {
            "batch": self.settings.worker_batch_size,
            "lease": f"{self.settings.worker_lease_seconds} seconds",
            "max_attempts": self.settings.worker_max_attempts,
            "default_key": bool(self.settings.calcom_api_key),
        }

    async def run_once(self) -> int:
        """Claims and settles one batch of appointments and one of schedules; returns how
        many it claimed."""
        token = request_id.set(f"{self.name}-{uuid.uuid4().hex[:12]}")
        try:
            keys: dict[str, str | None] = {}
            appointments = await self._rpc("claim_calendar_pushes", self._claim_params()) or []
            for row in appointments:
                try:
                    await self._settle(row, keys)
                except Exception:
                    # Left claimed: claimed again when its lease ends.
                    log.exception(
                        "pushing an appointment failed",
                        extra={"appointment_id": row["appointment_id"]},
                    )
            schedules = await self._rpc("claim_schedule_pushes", self._claim_params()) or []
            for row in schedules:
                try:
                    await self._settle_schedule(row, keys)
                except Exception:
                    log.exception(
                        "pushing a schedule failed", extra={"doctor_id": row["doctor_id"]}
                    )
            return len(appointments) + len(schedules)
        finally:
            request_id.reset(token)

    # Appointments

    async def _settle(self, row: dict[str, Any], keys: dict[str, str | None]) -> None:
        ids = {"appointment_id": row["appointment_id"], "attempt": row["attempts"]}
        try:
            cal = await self._client(row["doctor_id"], keys)
            pushed = await self.push(cal, row)
        except DeliveryFailed as failure:
            state = await self._rpc(
                "fail_calendar_push",
                {
                    "appointment_id": row["appointment_id"],
                    "claim_token": row["claim_token"],
                    "error": str(failure),
                    "permanent": failure.permanent,
                    "slot_taken": failure.permanent and failure.code == SLOT_UNAVAILABLE,
                    "max_attempts": self.settings.worker_max_attempts,
                },
            )
            log.warning("calendar push failed", extra={**ids, "error": str(failure), "now": state})
            return
        state = await self._rpc(
            "complete_calendar_push",
            {
                "appointment_id": row["appointment_id"],
                "claim_token": row["claim_token"],
                "remote_uid": pushed.uid,
                "pushed_state": pushed.state,
                "pushed_starts_at": row["starts_at"],
                "pushed_ends_at": row["ends_at"],
                "replaced_uid": pushed.replaced,
            },
        )
        log.info("calendar push done", extra={**ids, "uid": pushed.uid, "now": state})

    async def push(self, cal: CalcomClient, row: dict[str, Any]) -> Pushed:
        """Makes Cal.com hold what the appointment is now."""
        uid = row.get("remote_uid") or row.get("external_ref")
        if row["status"] == "cancelled":
            return await self._cancel(cal, row, uid)
        starts = _time(row["starts_at"])
        if uid:
            current = await self._current(cal, uid)
            if current is not None:
                if current.start == starts:
                    return Pushed(current.uid, "booked", uid if current.uid != uid else None)
                moved = await cal.reschedule_booking(current.uid, starts, reason=RESCHEDULE_REASON)
                return Pushed(moved.uid, "booked", current.uid)
        if row.get("calcom_born"):
            # The patient's booking in Cal.com is gone or cancelled there: carebase does not
            # book it again on its own (its webhook, or the reconciliation, brings the news).
            raise permanent(
                f"the Cal.com booking {uid} is no longer live; a booking made in Cal.com is not"
                " made again from carebase",
                REFUSED,
            )
        # Never pushed, or the booking vanished from Cal.com: booked (again).
        return Pushed((await self._create(cal, row, starts)).uid, "booked", uid)

    async def _current(self, cal: CalcomClient, uid: str) -> Booking | None:
        """The live booking the uid is now: following moves made in Cal.com (a webhook may not
        have told us yet); None when it is gone or cancelled."""
        booking = await cal.get_booking(uid)
        for _ in range(10):
            if booking is None or booking.status in LIVE or not booking.rescheduled_to_uid:
                break
            booking = await cal.get_booking(booking.rescheduled_to_uid)
        return booking if booking is not None and booking.status in LIVE else None

    async def _create(self, cal: CalcomClient, row: dict[str, Any], starts: datetime) -> Booking:
        if not row.get("event_type_id"):
            raise permanent("the doctor's calendar link has no Cal.com event type", "no_event_type")
        email, phone = row.get("attendee_email"), row.get("attendee_phone")
        if not (email or phone):
            raise permanent("the patient has neither an email nor a phone number", "no_contact")
        attendee = NewAttendee(
            name=row.get("attendee_name") or "Patient",
            time_zone=row["time_zone"],
            email=email,
            phone_number=phone,
        )
        booking = await cal.create_booking_once(
            appointment_id=row["appointment_id"],
            event_type_id=int(row["event_type_id"]),
            start=starts,
            attendee=attendee,
        )
        if booking.status not in LIVE:
            # Only a cancelled booking carries the id: this appointment is booked again (a
            # retry then finds the new, live one).
            booking = await cal.create_booking(
                event_type_id=int(row["event_type_id"]),
                start=starts,
                attendee=attendee,
                metadata={"carebase_appointment_id": row["appointment_id"]},
            )
        return booking

    async def _cancel(self, cal: CalcomClient, row: dict[str, Any], uid: str | None) -> Pushed:
        if not uid:
            if not row.get("create_attempted") or not row.get("event_type_id"):
                return Pushed(None, "cancelled")  # never pushed: nothing to call
            # A create whose answer was lost may have made it: look it up by its id.
            found = await cal.find_by_appointment(
                row["appointment_id"],
                event_type_id=int(row["event_type_id"]),
                around=_time(row["starts_at"]),
            )
            if found is None:
                return Pushed(None, "cancelled")
            uid = found.uid
        # The booking the uid is now (it may have been moved in Cal.com since): that one goes.
        current = await self._current(cal, uid)
        if current is None:
            return Pushed(uid, "cancelled")  # cancelled or gone there already
        try:
            await cal.cancel_booking(current.uid, CANCEL_REASON)
        except DeliveryFailed as failure:
            if failure.code != NOT_FOUND:
                raise
        return Pushed(current.uid, "cancelled", uid if current.uid != uid else None)

    # Schedules

    async def _settle_schedule(self, row: dict[str, Any], keys: dict[str, str | None]) -> None:
        ids = {"doctor_id": row["doctor_id"], "version": row["version"]}
        schedule = row["schedule"]
        try:
            cal = await self._client(row["doctor_id"], keys)
            await cal.update_schedule(
                int(row["schedule_id"]),
                availability=[
                    WeeklyHours(tuple(a["days"]), a["startTime"], a["endTime"])
                    for a in schedule["availability"]
                ],
                overrides=[
                    DateOverride(o["date"], o["startTime"], o["endTime"])
                    for o in schedule["overrides"]
                ],
                time_zone=schedule["timeZone"],
            )
        except DeliveryFailed as failure:
            state = await self._rpc(
                "fail_schedule_push",
                {
                    "doctor_id": row["doctor_id"],
                    "claim_token": row["claim_token"],
                    "error": str(failure),
                    "permanent": failure.permanent,
                    "max_attempts": self.settings.worker_max_attempts,
                },
            )
            log.warning("schedule push failed", extra={**ids, "error": str(failure), "now": state})
            return
        state = await self._rpc(
            "complete_schedule_push",
            {
                "doctor_id": row["doctor_id"],
                "claim_token": row["claim_token"],
                "version": row["version"],
            },
        )
        log.info("schedule pushed", extra={**ids, "now": state})

    async def run(self, stop: asyncio.Event) -> None:
        log.info(
            "calendar push started",
            extra={"worker": self.name, "deployment_key": bool(self.settings.calcom_api_key)},
        )
        await poll(
            self.run_once,
            stop,
            self.settings.worker_poll_seconds,
            log,
            "claiming calendar pushes failed",
        )
