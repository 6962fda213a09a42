"""Cal.com API v2: bookings, free slots and schedules of the doctors who keep their calendars
there.

`{base}/bookings...`, `{base}/slots` and `{base}/schedules/{id}` with `Authorization: Bearer
<key>` and the `cal-api-version` header each endpoint family is written against (without it
Cal.com answers with an older version's shapes). Answers are `{"status": "success", "data":
...}`; errors are `{"status": "error", "error": {"code", "message", ...}}`. Booking statuses are
lowercase here (`accepted`, `pending`, `cancelled`, `rejected`), unlike in webhooks.

Idempotency: Cal.com takes no idempotency key, so a create that timed out may or may not have
made a booking. `create_booking_once` therefore tags every booking with the carebase
appointment id in `metadata` and, before creating, looks for a booking carrying that id (GET
/bookings cannot filter on metadata: it lists the event type's bookings around the start and
matches here). A retry after a timeout finds the first booking instead of making a second;
two creates racing inside Cal.com can still both land, which reconciliation sees as two
bookings with one appointment id. Cancel and reschedule are made idempotent the same way: a
repeat that Cal.com refuses (already cancelled, already moved) answers what the first did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from sidecar.integrations.outcomes import DeliveryFailed, permanent, transient

BOOKINGS_VERSION = "2024-08-13"
SLOTS_VERSION = "2024-09-04"
SCHEDULES_VERSION = "2024-06-11"

# The metadata key that carries the carebase appointment id on a booking (Cal.com allows 50
# keys of at most 40 characters, values of at most 500).
APPOINTMENT_ID_KEY = "carebase_appointment_id"
MAX_PAGE = 250  # GET /bookings: `take` is at most 250

# DeliveryFailed.code values a caller can act on.
SLOT_UNAVAILABLE = "slot_unavailable"  # the time is taken or outside the doctor's hours
NOT_FOUND = "not_found"
REFUSED = "refused"  # any other refusal of the request itself

# Cal.com's error codes for "this time cannot be booked" (409, or 400 from older versions).
_SLOT_CODES = {
    "no_available_users_found_error",
    "fixed_hosts_unavailable_for_booking",
    "round_robin_host_unavailable_for_booking",
    "hosts_unavailable_for_booking",
    "booking_conflict_error",
    "booking_time_out_of_bounds_error",
}


@dataclass(frozen=True)
class NewAttendee:
    """Who a booking is for. Cal.com needs an email or a phone number (E.164)."""

    name: str
    time_zone: str
    email: str | None = None
    phone_number: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Attendee:
    name: str
    email: str
    time_zone: str
    phone_number: str | None
    absent: bool


@dataclass(frozen=True)
class Host:
    id: int
    name: str
    email: str
    username: str
    time_zone: str


@dataclass(frozen=True)
class Booking:
    id: int
    uid: str
    status: str  # accepted, pending, cancelled, rejected
    start: datetime
    end: datetime
    event_type_id: int
    title: str
    hosts: tuple[Host, ...]
    attendees: tuple[Attendee, ...]
    metadata: Mapping[str, str]
    cancellation_reason: str | None
    rescheduled_from_uid: str | None
    rescheduled_to_uid: str | None
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def appointment_id(self) -> str | None:
        return self.metadata.get(APPOINTMENT_ID_KEY)


@dataclass(frozen=True)
class WeeklyHours:
    """Open hours on the named weekdays ("Monday"...), "HH:MM" in the schedule's zone."""

    days: tuple[str, ...]
    start_time: str
    end_time: str


@dataclass(frozen=True)
class DateOverride:
    """Hours on one date replacing the weekly ones; 00:00-00:00 closes the whole day."""

    date: str  # YYYY-MM-DD
    start_time: str
    end_time: str


@dataclass(frozen=True)
class Schedule:
    id: int
    owner_id: int
    name: str
    time_zone: str
    is_default: bool
    availability: tuple[WeeklyHours, ...]
    overrides: tuple[DateOverride, ...] = field(default_factory=tuple)


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with milliseconds and Z, as Cal.com writes and reads times."""
    if moment.tzinfo is None:
        raise ValueError("Cal.com times must be timezone-aware")
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _booking(data: Mapping[str, Any]) -> Booking:
    event_type = data.get("eventType") or {}
    return Booking(
        id=int(data["id"]),
        uid=str(data["uid"]),
        status=str(data["status"]),
        start=datetime.fromisoformat(data["start"]),
        end=datetime.fromisoformat(data["end"]),
        event_type_id=int(event_type.get("id") or data.get("eventTypeId") or 0),
        title=str(data.get("title") or ""),
        hosts=tuple(
            Host(
                id=int(h["id"]),
                name=str(h.get("name") or ""),
                email=str(h.get("email") or ""),
                username=str(h.get("username") or ""),
                time_zone=str(h.get("timeZone") or ""),
            )
            for h in data.get("hosts") or []
        ),
        attendees=tuple(
            Attendee(
                name=str(a.get("name") or ""),
                email=str(a.get("email") or ""),
                time_zone=str(a.get("timeZone") or ""),
                phone_number=a.get("phoneNumber") or None,
                absent=bool(a.get("absent")),
            )
            for a in data.get("attendees") or []
        ),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
        cancellation_reason=data.get("cancellationReason") or None,
        rescheduled_from_uid=data.get("rescheduledFromUid") or None,
        rescheduled_to_uid=data.get("rescheduledToUid") or None,
        created_at=_time(data.get("createdAt")),
        updated_at=_time(data.get("updatedAt")),
    )


def _schedule(data: Mapping[str, Any]) -> Schedule:
    return Schedule(
        id=int(data["id"]),
        owner_id=int(data.get("ownerId") or 0),
        name=str(data.get("name") or ""),
        time_zone=str(data.get("timeZone") or ""),
        is_default=bool(data.get("isDefault")),
        availability=tuple(
            WeeklyHours(tuple(a.get("days") or ()), a["startTime"], a["endTime"])
            for a in data.get("availability") or []
        ),
        overrides=tuple(
            DateOverride(o["date"], o["startTime"], o["endTime"])
            for o in data.get("overrides") or []
        ),
    )


def _failure(response: httpx.Response, what: str) -> DeliveryFailed:
    """Cal.com's refusal as retry-later or never, with a code for the refusals that matter."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    code = str(error.get("code") or "") if isinstance(error, dict) else ""
    message = str(error.get("message") or "") if isinstance(error, dict) else ""
    described = f"cal.com {what}: {response.status_code} {code} {message}".strip()
    status = response.status_code
    if status == 429 or status >= 500:
        return transient(described)
    if status == 401:
        # Our key: an operator fixes it, then the retry goes through.
        return transient(described)
    if status == 409 or (status == 400 and (code in _SLOT_CODES or message in _SLOT_CODES)):
        return permanent(described, SLOT_UNAVAILABLE)
    if status == 404:
        return permanent(described, NOT_FOUND)
    return permanent(described, REFUSED)


class CalcomClient:
    def __init__(self, base_url: str, api_key: str, http: httpx.AsyncClient) -> None:
        self.base = base_url.rstrip("/")
        self.api_key = api_key
        self.http = http

    async def _call(
        self,
        method: str,
        path: str,
        version: str,
        what: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.api_key}", "cal-api-version": version}
        try:
            response = await self.http.request(
                method, f"{self.base}{path}", json=json, params=params, headers=headers
            )
        except httpx.HTTPError as error:
            # A timeout may hide a change Cal.com made: callers retry idempotently.
            raise transient(f"cal.com {what}: unreachable ({type(error).__name__})") from error
        if response.status_code >= 300:
            raise _failure(response, what)
        return response

    # Bookings

    async def create_booking(
        self,
        *,
        event_type_id: int,
        start: datetime,
        attendee: NewAttendee,
        metadata: Mapping[str, str] | None = None,
        length_minutes: int | None = None,
    ) -> Booking:
        """One POST /bookings; prefer `create_booking_once` for anything that may be retried."""
        person: dict[str, Any] = {"name": attendee.name, "timeZone": attendee.time_zone}
        for key, value in (
            ("email", attendee.email),
            ("phoneNumber", attendee.phone_number),
            ("language", attendee.language),
        ):
            if value:
                person[key] = value
        body: dict[str, Any] = {
            "start": iso(start),
            "eventTypeId": event_type_id,
            "attendee": person,
            "metadata": dict(metadata or {}),
        }
        if length_minutes:
            body["lengthInMinutes"] = length_minutes
        response = await self._call("POST", "/bookings", BOOKINGS_VERSION, "create", json=body)
        return _booking(response.json()["data"])

    async def create_booking_once(
        self,
        *,
        appointment_id: str,
        event_type_id: int,
        start: datetime,
        attendee: NewAttendee,
        length_minutes: int | None = None,
    ) -> Booking:
        """The booking for this appointment: the one a previous try made, else a new one."""
        existing = await self.find_by_appointment(
            appointment_id, event_type_id=event_type_id, around=start
        )
        if existing is not None:
            return existing
        return await self.create_booking(
            event_type_id=event_type_id,
            start=start,
            attendee=attendee,
            metadata={APPOINTMENT_ID_KEY: appointment_id},
            length_minutes=length_minutes,
        )

    async def find_by_appointment(
        self, appointment_id: str, *, event_type_id: int, around: datetime
    ) -> Booking | None:
        """A live booking of the event type within a day of `around` tagged with the id."""
        found = None
        async for booking in self.bookings(
            event_type_id=event_type_id,
            after_start=around - timedelta(days=1),
            before_end=around + timedelta(days=1),
        ):
            if booking.appointment_id != appointment_id:
                continue
            if booking.status in ("accepted", "pending"):
                return booking
            found = found or booking  # a cancelled one only if no live one exists
        return found

    async def get_booking(self, uid: str) -> Booking | None:
        try:
            response = await self._call("GET", f"/bookings/{uid}", BOOKINGS_VERSION, "get")
        except DeliveryFailed as failure:
            if failure.code == NOT_FOUND:
                return None
            raise
        return _booking(response.json()["data"])

    async def bookings(
        self,
        *,
        status: Sequence[str] = (),
        after_start: datetime | None = None,
        before_end: datetime | None = None,
        event_type_id: int | None = None,
        attendee_email: str | None = None,
        page_size: int = MAX_PAGE,
    ) -> AsyncIterator[Booking]:
        """Every booking matching the filters, page after page (`status`: upcoming, recurring,
        past, cancelled, unconfirmed). Offset paging over changing data can show a booking
        twice: each uid is yielded once."""
        params: dict[str, Any] = {"take": min(max(page_size, 1), MAX_PAGE), "sortStart": "asc"}
        if status:
            params["status"] = ",".join(status)
        if after_start is not None:
            params["afterStart"] = iso(after_start)
        if before_end is not None:
            params["beforeEnd"] = iso(before_end)
        if event_type_id is not None:
            params["eventTypeId"] = event_type_id
        if attendee_email:
            params["attendeeEmail"] = attendee_email
        seen: set[str] = set()
        skip = 0
        while True:
            response = await self._call(
                "GET", "/bookings", BOOKINGS_VERSION, "list", params={**params, "skip": skip}
            )
            body = response.json()
            page = body.get("data") or []
            for item in page:
                booking = _booking(item)
                if booking.uid not in seen:
                    seen.add(booking.uid)
                    yield booking
            pagination = body.get("pagination") or {}
            if not page or not pagination.get("hasNextPage"):
                return
            skip += len(page)

    async def cancel_booking(self, uid: str, reason: str) -> Booking:
        """Cancels; a booking already cancelled (a retried cancel) is answered as it is."""
        try:
            response = await self._call(
                "POST",
                f"/bookings/{uid}/cancel",
                BOOKINGS_VERSION,
                "cancel",
                json={"cancellationReason": reason},
            )
        except DeliveryFailed as failure:
            current = await self._after_refusal(uid, failure)
            if current is not None and current.status == "cancelled":
                return current
            raise
        return _booking(response.json()["data"])

    async def reschedule_booking(
        self,
        uid: str,
        start: datetime,
        *,
        reason: str | None = None,
        rescheduled_by: str | None = None,
    ) -> Booking:
        """Moves a booking; Cal.com makes a new booking (new uid) and cancels the old one.
        A retried move of the old uid answers the booking it was already moved to."""
        body: dict[str, Any] = {"start": iso(start)}
        if reason:
            body["reschedulingReason"] = reason
        if rescheduled_by:
            body["rescheduledBy"] = rescheduled_by
        try:
            response = await self._call(
                "POST", f"/bookings/{uid}/reschedule", BOOKINGS_VERSION, "reschedule", json=body
            )
        except DeliveryFailed as failure:
            old = await self._after_refusal(uid, failure)
            if old is not None and old.rescheduled_to_uid:
                moved = await self.get_booking(old.rescheduled_to_uid)
                if moved is not None and moved.start == start:
                    return moved
            raise
        return _booking(response.json()["data"])

    async def _after_refusal(self, uid: str, failure: DeliveryFailed) -> Booking | None:
        """The booking as it is now, when a refusal may mean an earlier try already did it."""
        if not failure.permanent or failure.code != REFUSED:
            return None
        return await self.get_booking(uid)

    # Slots

    async def available_slots(
        self, *, event_type_id: int, start: datetime, end: datetime, time_zone: str = "UTC"
    ) -> list[datetime]:
        """The free start times of an event type between start and end, in `time_zone`."""
        params = {
            "eventTypeId": event_type_id,
            "start": iso(start),
            "end": iso(end),
            "timeZone": time_zone,
        }
        response = await self._call("GET", "/slots", SLOTS_VERSION, "slots", params=params)
        days = response.json().get("data") or {}
        return sorted(
            datetime.fromisoformat(item["start"]) for day in days.values() for item in day
        )

    # Schedules (a doctor's working hours and dated exceptions)

    async def get_schedule(self, schedule_id: int) -> Schedule | None:
        try:
            response = await self._call(
                "GET", f"/schedules/{schedule_id}", SCHEDULES_VERSION, "get schedule"
            )
        except DeliveryFailed as failure:
            if failure.code == NOT_FOUND:
                return None
            raise
        data = response.json().get("data")
        return _schedule(data) if data else None

    async def update_schedule(
        self,
        schedule_id: int,
        *,
        availability: Sequence[WeeklyHours] | None = None,
        overrides: Sequence[DateOverride] | None = None,
        time_zone: str | None = None,
    ) -> Schedule:
        """Replaces the weekly hours and/or the dated overrides given (PATCH: what is left out
        stays as it is). Pushing the same hours twice changes nothing, so retries are safe."""
        body: dict[str, Any] = {}
        if availability is not None:
            body["availability"] = [
                {"days": list(a.days), "startTime": a.start_time, "endTime": a.end_time}
                for a in availability
            ]
        if overrides is not None:
            body["overrides"] = [
                {"date": o.date, "startTime": o.start_time, "endTime": o.end_time}
                for o in overrides
            ]
        if time_zone is not None:
            body["timeZone"] = time_zone
        response = await self._call(
            "PATCH", f"/schedules/{schedule_id}", SCHEDULES_VERSION, "update schedule", json=body
        )
        return _schedule(response.json()["data"])
