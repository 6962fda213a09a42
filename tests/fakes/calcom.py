"""A fake of Cal.com: its API v2 (bookings, schedules) and the webhooks it sends.

API (`/v2/...`, `Authorization: Bearer <key>`, `cal-api-version` per endpoint family):
`POST /v2/bookings`, `GET /v2/bookings` (status, afterStart, beforeEnd, eventTypeId,
attendeeEmail, bookingUid, sortStart, take <= 250, skip; the answer carries `pagination`),
`GET /v2/bookings/{uid}`, `POST /v2/bookings/{uid}/cancel`, `POST /v2/bookings/{uid}/reschedule`
(bookings 2024-08-13), `GET /v2/slots` (2024-09-04, the free starts of an event type from its
owner's default schedule), `GET|PATCH /v2/schedules/{id}` (2024-06-11). Answers are `{"status":
"success", "data"}`, errors `{"status": "error", "timestamp", "path", "error": {"code",
"message"}}`; a slot that overlaps an accepted booking of the same organizer is refused with 409
`no_available_users_found_error`. Booking statuses are lowercase in the API.

Where the fake is stricter than Cal.com: a missing or wrong `cal-api-version` is refused with 400
(Cal.com would answer with an older version's shapes, which carebase must never depend on),
and a key sees only its own user's bookings in lists. Creating a booking does not check working
hours (only clashes).

Webhooks (version 2021-10-20): every change (through the API or through the "outside user"
methods, as a patient booking on cal.com would) queues `{"triggerEvent", "createdAt",
"payload"}` with UPPERCASE status; MEETING_STARTED / MEETING_ENDED carry the booking at the top
level and BOOKING_NO_SHOW_UPDATED has its own shape. `deliver()` posts the queued ones to the
subscriber URL signed as Cal.com does: `X-Cal-Signature-256` = lowercase hex HMAC-SHA256 of the
raw body with the secret (the literal `no-secret-provided` without one). Switches: `dropping`
(events made meanwhile are lost, as after Cal.com gives up), `duplicating` (each sent twice),
`deliver(reverse=True)` (out of order); `fail_next` / `slow_next` shape API answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BOOKINGS_VERSION = "2024-08-13"
SCHEDULES_VERSION = "2024-06-11"
SLOTS_VERSION = "2024-09-04"
WEBHOOK_VERSION = "2021-10-20"
NO_SECRET = "no-secret-provided"
_DAYS = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_LIST_STATUSES = {"upcoming", "recurring", "past", "cancelled", "unconfirmed"}


def cal_signature(secret: str | None, body: bytes) -> str:
    """What Cal.com puts in `X-Cal-Signature-256` for this raw body."""
    if not secret:
        return NO_SECRET
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def iso(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def cal_error(status: int, code: str, message: str, path: str) -> JSONResponse:
    body = {
        "status": "error",
        "timestamp": iso(datetime.now(UTC)),
        "path": path,
        "error": {"code": code, "message": message},
    }
    return JSONResponse(body, status_code=status)


_EXCEPTIONS = {
    400: "BadRequestException",
    401: "UnauthorizedException",
    403: "ForbiddenException",
    404: "NotFoundException",
    429: "ThrottlerException",
    500: "InternalServerErrorException",
    503: "ServiceUnavailableException",
}


@dataclass
class User:
    id: int
    name: str
    email: str
    username: str
    time_zone: str = "Asia/Kolkata"


@dataclass
class EventType:
    id: int
    owner_id: int
    slug: str
    title: str
    length: int = 30
    requires_confirmation: bool = False


@dataclass
class Booking:
    id: int
    uid: str
    event_type_id: int
    owner_id: int
    title: str
    start: datetime
    end: datetime
    status: str  # accepted, pending, cancelled, rejected
    attendees: list[dict[str, Any]]
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime
    cancellation_reason: str | None = None
    rejection_reason: str | None = None
    rescheduling_reason: str | None = None
    rescheduled_from_uid: str | None = None
    rescheduled_to_uid: str | None = None
    ical_sequence: int = 0


@dataclass
class Schedule:
    id: int
    owner_id: int
    name: str
    time_zone: str
    is_default: bool
    availability: list[dict[str, Any]]
    overrides: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Webhook:
    trigger: str
    body: bytes  # the exact bytes sent (and signed)


@dataclass
class Delivery:
    trigger: str
    body: bytes
    headers: dict[str, str]
    status_code: int | None  # None: the subscriber could not be reached


class FakeCalcom:
    def __init__(
        self,
        api_key: str = "cal_test_fake_key",
        webhook_secret: str | None = "fake-cal-webhook-secret",  # noqa: S107 (a fake's)
        subscriber_url: str | None = None,
    ) -> None:
        self.default_api_key = api_key
        self.webhook_secret = webhook_secret
        self.subscriber_url = subscriber_url
        self.lock = threading.Lock()
        self.reset()
        self.app = Starlette(
            routes=[
                Route("/v2/bookings", self.create_booking_route, methods=["POST"]),
                Route("/v2/bookings", self.list_bookings_route, methods=["GET"]),
                Route("/v2/bookings/{uid}", self.get_booking_route, methods=["GET"]),
                Route("/v2/bookings/{uid}/cancel", self.cancel_route, methods=["POST"]),
                Route("/v2/bookings/{uid}/reschedule", self.reschedule_route, methods=["POST"]),
                Route("/v2/slots", self.slots_route, methods=["GET"]),
                Route("/v2/schedules/{id:int}", self.get_schedule_route, methods=["GET"]),
                Route("/v2/schedules/{id:int}", self.update_schedule_route, methods=["PATCH"]),
            ]
        )

    def reset(self) -> None:
        """One doctor (user 101, event type 501 of 30 minutes, schedule 301), no bookings."""
        with self.lock:
            self.users: dict[int, User] = {}
            self.api_keys: dict[str, int] = {}
            self.event_types: dict[int, EventType] = {}
            self.schedules: dict[int, Schedule] = {}
            self.bookings: dict[str, Booking] = {}
            self.next_id = 1000
            self.requests: list[str] = []  # "POST /v2/bookings", ... in order
            self.fail_next: list[int] = []  # statuses to answer, one per API request
            self.slow_next: list[float] = []  # seconds to wait before answering (after acting)
            self.pending: list[Webhook] = []
            self.delivered: list[Delivery] = []
            self.dropped: list[Webhook] = []
            self.dropping = False
            self.duplicating = False
        self.add_user(101, "Dr. Asha Mehta", "asha.mehta@example.com", self.default_api_key)
        self.add_event_type(501, 101, "consultation", "Consultation", 30)
        self.add_schedule(301, 101)

    # Setting up the account

    def add_user(self, user_id: int, name: str, email: str, api_key: str | None = None) -> User:
        user = User(user_id, name, email, email.split("@")[0])
        with self.lock:
            self.users[user_id] = user
            if api_key:
                self.api_keys[api_key] = user_id
        return user

    def add_event_type(
        self,
        event_type_id: int,
        owner_id: int,
        slug: str,
        title: str,
        length: int = 30,
        requires_confirmation: bool = False,
    ) -> EventType:
        event_type = EventType(event_type_id, owner_id, slug, title, length, requires_confirmation)
        with self.lock:
            self.event_types[event_type_id] = event_type
        return event_type

    def add_schedule(self, schedule_id: int, owner_id: int) -> Schedule:
        weekdays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
        schedule = Schedule(
            schedule_id,
            owner_id,
            "Working hours",
            self.users[owner_id].time_zone,
            True,
            [{"days": weekdays, "startTime": "09:00", "endTime": "17:00"}],
        )
        with self.lock:
            self.schedules[schedule_id] = schedule
        return schedule

    # What people do on cal.com itself (each queues the webhook Cal.com would send)

    def book_as_attendee(
        self,
        start: datetime,
        name: str,
        email: str,
        phone_number: str | None = None,
        event_type_id: int = 501,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """A patient books on the doctor's booking page; returns the uid. No slot check, so
        that tests can set up clashes with carebase's own appointments."""
        event_type = self.event_types[event_type_id]
        attendee = self._attendee(name, email, phone_number, "Asia/Kolkata")
        with self.lock:
            booking = self._new_booking(event_type, start, attendee, metadata or {})
            self._emit_booking(
                "BOOKING_REQUESTED" if booking.status == "pending" else "BOOKING_CREATED", booking
            )
        return booking.uid

    def cancel_as_attendee(self, uid: str, reason: str = "Cannot make it") -> None:
        with self.lock:
            booking = self.bookings[uid]
            self._cancel(booking, reason)

    def reschedule_as_attendee(self, uid: str, start: datetime, reason: str = "") -> str:
        with self.lock:
            return self._reschedule(self.bookings[uid], start, reason).uid

    def confirm(self, uid: str) -> None:
        """The organizer accepts a requested booking: Cal.com sends BOOKING_CREATED."""
        with self.lock:
            booking = self.bookings[uid]
            booking.status = "accepted"
            booking.updated_at = datetime.now(UTC)
            self._emit_booking("BOOKING_CREATED", booking)

    def reject(self, uid: str, reason: str = "Not available") -> None:
        with self.lock:
            booking = self.bookings[uid]
            booking.status = "rejected"
            booking.rejection_reason = reason
            booking.updated_at = datetime.now(UTC)
            self._emit_booking("BOOKING_REJECTED", booking, {"rejectionReason": reason})

    def start_meeting(self, uid: str) -> None:
        with self.lock:
            self._emit_meeting("MEETING_STARTED", self.bookings[uid])

    def end_meeting(self, uid: str) -> None:
        with self.lock:
            self._emit_meeting("MEETING_ENDED", self.bookings[uid])

    def mark_no_show(self, uid: str, email: str, no_show: bool = True) -> None:
        with self.lock:
            booking = self.bookings[uid]
            for attendee in booking.attendees:
                if attendee["email"] == email:
                    attendee["absent"] = no_show
            marked = "marked" if no_show else "unmarked"
            envelope = {
                "triggerEvent": "BOOKING_NO_SHOW_UPDATED",
                "createdAt": iso(datetime.now(UTC)),
                "payload": {
                    "message": f"{email} {marked} as no-show",
                    "attendees": [{"email": email, "noShow": no_show}],
                    "bookingUid": booking.uid,
                    "bookingId": booking.id,
                },
            }
            self._queue("BOOKING_NO_SHOW_UPDATED", envelope)

    # Webhooks

    def deliver(self, *, reverse: bool = False, url: str | None = None) -> list[Delivery]:
        """Posts the queued webhooks (oldest first, or newest first) and forgets them."""
        target = url or self.subscriber_url
        if not target:
            raise RuntimeError("no subscriber URL: set FakeCalcom.subscriber_url")
        with self.lock:
            batch, self.pending = self.pending, []
            copies = 2 if self.duplicating else 1
        if reverse:
            batch.reverse()
        results = []
        with httpx.Client(timeout=10) as http:
            for hook in batch:
                for _ in range(copies):
                    results.append(self._post(http, target, hook))
        with self.lock:
            self.delivered.extend(results)
        return results

    def signed_headers(self, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Cal-Signature-256": cal_signature(self.webhook_secret, body),
            "X-Cal-Webhook-Version": WEBHOOK_VERSION,
        }

    def _post(self, http: httpx.Client, url: str, hook: Webhook) -> Delivery:
        headers = self.signed_headers(hook.body)
        try:
            status: int | None = http.post(url, content=hook.body, headers=headers).status_code
        except httpx.HTTPError:
            status = None
        return Delivery(hook.trigger, hook.body, headers, status)

    def _queue(self, trigger: str, envelope: dict[str, Any]) -> None:
        hook = Webhook(trigger, json.dumps(envelope).encode())
        (self.dropped if self.dropping else self.pending).append(hook)

    def _emit_booking(
        self, trigger: str, booking: Booking, extra: dict[str, Any] | None = None
    ) -> None:
        event_type = self.event_types[booking.event_type_id]
        organizer = self.users[booking.owner_id]
        first = booking.attendees[0]
        payload: dict[str, Any] = {
            "bookerUrl": "https://cal.com",
            "type": event_type.slug,
            "title": booking.title,
            "description": "",
            "additionalNotes": "",
            "customInputs": {},
            "startTime": iso(booking.start),
            "endTime": iso(booking.end),
            "organizer": {
                "id": organizer.id,
                "name": organizer.name,
                "email": organizer.email,
                "username": organizer.username,
                "timeZone": organizer.time_zone,
                "language": {"locale": "en"},
                "timeFormat": "h:mma",
                "utcOffset": 330,
            },
            "responses": {
                "name": {"label": "your_name", "value": first["name"], "isHidden": False},
                "email": {"label": "email_address", "value": first["email"], "isHidden": False},
                "attendeePhoneNumber": {
                    "label": "phone_number",
                    "value": first.get("phoneNumber"),
                    "isHidden": False,
                },
            },
            "userFieldsResponses": {},
            "attendees": [
                {
                    "email": a["email"],
                    "name": a["name"],
                    "firstName": a["name"].split(" ")[0],
                    "lastName": " ".join(a["name"].split(" ")[1:]),
                    "timeZone": a["timeZone"],
                    "phoneNumber": a.get("phoneNumber"),
                    "language": {"locale": "en"},
                    "utcOffset": 330,
                }
                for a in booking.attendees
            ],
            "location": "integrations:daily",
            "destinationCalendar": None,
            "hideCalendarNotes": False,
            "requiresConfirmation": event_type.requires_confirmation,
            "eventTypeId": event_type.id,
            "seatsShowAttendees": True,
            "seatsPerTimeSlot": None,
            "iCalUID": f"{booking.uid}@Cal.com",
            "iCalSequence": booking.ical_sequence,
            "uid": booking.uid,
            "bookingId": booking.id,
            "eventTitle": event_type.title,
            "eventDescription": "",
            "price": 0,
            "currency": "usd",
            "length": int((booking.end - booking.start).total_seconds() // 60),
            "status": booking.status.upper(),
        }
        if trigger not in ("BOOKING_CANCELLED", "BOOKING_REJECTED"):
            video = f"https://app.cal.com/video/{booking.uid}"
            payload["metadata"] = {**booking.metadata, "videoCallUrl": video}
        payload.update(extra or {})
        self._queue(
            trigger,
            {"triggerEvent": trigger, "createdAt": iso(datetime.now(UTC)), "payload": payload},
        )

    def _emit_meeting(self, trigger: str, booking: Booking) -> None:
        organizer = self.users[booking.owner_id]
        # The booking row itself, at the top level; `createdAt` is the booking's.
        envelope = {
            "triggerEvent": trigger,
            "id": booking.id,
            "uid": booking.uid,
            "userId": organizer.id,
            "userPrimaryEmail": organizer.email,
            "eventTypeId": booking.event_type_id,
            "title": booking.title,
            "description": "",
            "customInputs": {},
            "startTime": iso(booking.start),
            "endTime": iso(booking.end),
            "location": "integrations:daily",
            "createdAt": iso(booking.created_at),
            "updatedAt": iso(booking.updated_at),
            "status": booking.status.upper(),
            "paid": False,
            "cancellationReason": booking.cancellation_reason,
            "rejectionReason": booking.rejection_reason,
            "rescheduled": None,
            "fromReschedule": booking.rescheduled_from_uid,
            "metadata": booking.metadata,
            "iCalUID": f"{booking.uid}@Cal.com",
            "iCalSequence": booking.ical_sequence,
            "user": {
                "email": organizer.email,
                "name": organizer.name,
                "timeZone": organizer.time_zone,
                "username": organizer.username,
            },
            "attendees": [
                {
                    "id": booking.id * 10 + n,
                    "email": a["email"],
                    "name": a["name"],
                    "timeZone": a["timeZone"],
                    "phoneNumber": a.get("phoneNumber"),
                    "locale": "en",
                    "bookingId": booking.id,
                    "noShow": a.get("absent", False),
                }
                for n, a in enumerate(booking.attendees)
            ],
        }
        self._queue(trigger, envelope)

    # The bookings themselves (callers hold the lock)

    @staticmethod
    def _attendee(
        name: str, email: str | None, phone: str | None, time_zone: str
    ) -> dict[str, Any]:
        return {
            "name": name,
            "email": email or "",
            "timeZone": time_zone,
            "phoneNumber": phone,
            "absent": False,
        }

    def _new_booking(
        self,
        event_type: EventType,
        start: datetime,
        attendee: dict[str, Any],
        metadata: dict[str, str],
        length: int | None = None,
    ) -> Booking:
        self.next_id += 1
        now = datetime.now(UTC)
        organizer = self.users[event_type.owner_id]
        booking = Booking(
            id=self.next_id,
            uid=secrets.token_urlsafe(16),
            event_type_id=event_type.id,
            owner_id=event_type.owner_id,
            title=f"{event_type.title} between {organizer.name} and {attendee['name']}",
            start=start.astimezone(UTC),
            end=start.astimezone(UTC) + timedelta(minutes=length or event_type.length),
            status="pending" if event_type.requires_confirmation else "accepted",
            attendees=[attendee],
            metadata=dict(metadata),
            created_at=now,
            updated_at=now,
        )
        self.bookings[booking.uid] = booking
        return booking

    def _clash(self, owner_id: int, start: datetime, end: datetime, but: str = "") -> bool:
        return any(
            b.owner_id == owner_id
            and b.status == "accepted"
            and b.uid != but
            and b.start < end
            and start < b.end
            for b in self.bookings.values()
        )

    def _cancel(self, booking: Booking, reason: str) -> None:
        booking.status = "cancelled"
        booking.cancellation_reason = reason
        booking.updated_at = datetime.now(UTC)
        booking.ical_sequence += 1
        self._emit_booking(
            "BOOKING_CANCELLED",
            booking,
            {"cancellationReason": reason, "requestReschedule": False},
        )

    def _reschedule(self, old: Booking, start: datetime, reason: str) -> Booking:
        event_type = self.event_types[old.event_type_id]
        length = int((old.end - old.start).total_seconds() // 60)
        new = self._new_booking(
            event_type, start, dict(old.attendees[0]), old.metadata, length=length
        )
        new.status = "accepted"
        new.rescheduled_from_uid = old.uid
        new.rescheduling_reason = reason or None
        new.ical_sequence = old.ical_sequence + 1
        old.status = "cancelled"
        old.rescheduled_to_uid = new.uid
        old.updated_at = new.created_at
        self._emit_booking(
            "BOOKING_RESCHEDULED",
            new,
            {
                "rescheduleId": old.id,
                "rescheduleUid": old.uid,
                "rescheduleStartTime": iso(old.start),
                "rescheduleEndTime": iso(old.end),
            },
        )
        return new

    def output(self, booking: Booking) -> dict[str, Any]:
        """The booking as API v2 (2024-08-13) shows it."""
        event_type = self.event_types[booking.event_type_id]
        organizer = self.users[booking.owner_id]
        shown: dict[str, Any] = {
            "id": booking.id,
            "uid": booking.uid,
            "title": booking.title,
            "description": "",
            "hosts": [
                {
                    "id": organizer.id,
                    "name": organizer.name,
                    "email": organizer.email,
                    "displayEmail": organizer.email,
                    "username": organizer.username,
                    "timeZone": organizer.time_zone,
                }
            ],
            "status": booking.status,
            "start": iso(booking.start),
            "end": iso(booking.end),
            "duration": int((booking.end - booking.start).total_seconds() // 60),
            "eventTypeId": event_type.id,
            "eventType": {"id": event_type.id, "slug": event_type.slug},
            "location": f"https://app.cal.com/video/{booking.uid}",
            "absentHost": False,
            "createdAt": iso(booking.created_at),
            "updatedAt": iso(booking.updated_at),
            "metadata": booking.metadata,
            "attendees": [
                {
                    "name": a["name"],
                    "email": a["email"],
                    "displayEmail": a["email"],
                    "timeZone": a["timeZone"],
                    "absent": a.get("absent", False),
                    **({"phoneNumber": a["phoneNumber"]} if a.get("phoneNumber") else {}),
                }
                for a in booking.attendees
            ],
            "guests": [],
            "bookingFieldsResponses": {
                "name": booking.attendees[0]["name"],
                "email": booking.attendees[0]["email"],
            },
        }
        for key, value in (
            ("cancellationReason", booking.cancellation_reason),
            ("reschedulingReason", booking.rescheduling_reason),
            ("rescheduledFromUid", booking.rescheduled_from_uid),
            ("rescheduledToUid", booking.rescheduled_to_uid),
        ):
            if value:
                shown[key] = value
        return shown

    # The API

    async def _gate(
        self, request: Request, version: str, *, public: bool = False
    ) -> tuple[int | None, JSONResponse | None]:
        """(the key's user, or a refusal) after the programmed failures, key and version."""
        path = request.url.path
        with self.lock:
            self.requests.append(f"{request.method} {path}")
            failure = self.fail_next.pop(0) if self.fail_next else None
            user_id = self.api_keys.get(
                request.headers.get("authorization", "").removeprefix("Bearer ")
            )
        if failure is not None:
            name = _EXCEPTIONS.get(failure, "HttpException")
            return None, cal_error(failure, name, "Simulated failure", path)
        if user_id is None and not public:
            return None, cal_error(401, "UnauthorizedException", "Invalid API Key", path)
        if request.headers.get("cal-api-version") != version:
            message = f"cal-api-version must be {version} for this endpoint"
            return None, cal_error(400, "BadRequestException", message, path)
        return user_id, None

    async def _answer(self, body: dict[str, Any], status: int = 200) -> JSONResponse:
        with self.lock:
            delay = self.slow_next.pop(0) if self.slow_next else 0.0
        if delay:
            await asyncio.sleep(delay)  # the change is made; only the answer is late
        return JSONResponse(body, status_code=status)

    @staticmethod
    async def _json(request: Request) -> dict[str, Any] | None:
        try:
            body = await request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def create_booking_route(self, request: Request) -> JSONResponse:
        path = request.url.path
        _, refusal = await self._gate(request, BOOKINGS_VERSION)
        if refusal:
            return refusal
        body = await self._json(request)
        if body is None:
            return cal_error(400, "BadRequestException", "Invalid JSON body", path)
        start = _parse_time(body.get("start"))
        attendee = body.get("attendee")
        metadata = body.get("metadata") or {}
        if start is None:
            return cal_error(400, "BadRequestException", "start must be an ISO 8601 time", path)
        if (
            not isinstance(attendee, dict)
            or not attendee.get("name")
            or not attendee.get("timeZone")
            or not (attendee.get("email") or attendee.get("phoneNumber"))
        ):
            message = "attendee needs name, timeZone and an email or phone number"
            return cal_error(400, "BadRequestException", message, path)
        if (
            not isinstance(metadata, dict)
            or len(metadata) > 50
            or any(len(str(k)) > 40 or len(str(v)) > 500 for k, v in metadata.items())
        ):
            message = (
                "Metadata must have at most 50 keys, each key up to 40 characters,"
                " and string values up to 500 characters."
            )
            return cal_error(400, "BadRequestException", message, path)
        with self.lock:
            event_type = self.event_types.get(body.get("eventTypeId") or 0)
            if event_type is None:
                message = f"Event type with id={body.get('eventTypeId')} not found"
                return cal_error(404, "NotFoundException", message, path)
            if start < datetime.now(UTC):
                message = "Attempting to book a meeting in the past."
                return cal_error(400, "BadRequestException", message, path)
            length = body.get("lengthInMinutes") or event_type.length
            if self._clash(event_type.owner_id, start, start + timedelta(minutes=length)):
                return cal_error(
                    409, "no_available_users_found_error", "No available users found.", path
                )
            booking = self._new_booking(
                event_type,
                start,
                self._attendee(
                    attendee["name"],
                    attendee.get("email"),
                    attendee.get("phoneNumber"),
                    attendee["timeZone"],
                ),
                {str(k): str(v) for k, v in metadata.items()},
                length=length,
            )
            self._emit_booking(
                "BOOKING_REQUESTED" if booking.status == "pending" else "BOOKING_CREATED", booking
            )
            shown = self.output(booking)
        return await self._answer({"status": "success", "data": shown}, 201)

    async def list_bookings_route(self, request: Request) -> JSONResponse:
        path = request.url.path
        user_id, refusal = await self._gate(request, BOOKINGS_VERSION)
        if refusal:
            return refusal
        query = request.query_params
        try:
            take = int(query.get("take", "100"))
            skip = int(query.get("skip", "0"))
        except ValueError:
            return cal_error(400, "BadRequestException", "take and skip must be numbers", path)
        if not 1 <= take <= 250 or skip < 0:
            message = "take must be between 1 and 250, skip at least 0"
            return cal_error(400, "BadRequestException", message, path)
        statuses = [s.strip() for s in query.get("status", "").split(",") if s.strip()]
        if any(s not in _LIST_STATUSES for s in statuses):
            message = (
                "Invalid status. Allowed are upcoming, recurring, past, cancelled, unconfirmed"
            )
            return cal_error(400, "BadRequestException", message, path)
        after_start = _parse_time(query.get("afterStart")) if "afterStart" in query else None
        before_end = _parse_time(query.get("beforeEnd")) if "beforeEnd" in query else None
        if ("afterStart" in query and after_start is None) or (
            "beforeEnd" in query and before_end is None
        ):
            return cal_error(400, "BadRequestException", "dates must be ISO 8601", path)
        wanted = [*query.get("eventTypeIds", "").split(","), query.get("eventTypeId", "")]
        event_type_ids = {int(n) for n in wanted if n.strip().isdigit()}
        now = datetime.now(UTC)

        def in_status(b: Booking) -> bool:
            live = b.status in ("accepted", "pending")
            return not statuses or any(
                (s == "upcoming" and live and b.end >= now)
                or (s == "past" and b.end < now and b.status not in ("cancelled", "rejected"))
                or (s == "cancelled" and b.status in ("cancelled", "rejected"))
                or (s == "unconfirmed" and b.status == "pending" and b.end >= now)
                for s in statuses
            )

        with self.lock:
            matching = [
                b
                for b in self.bookings.values()
                if b.owner_id == user_id
                and in_status(b)
                and (after_start is None or b.start >= after_start)
                and (before_end is None or b.end <= before_end)
                and (not event_type_ids or b.event_type_id in event_type_ids)
                and (
                    "attendeeEmail" not in query
                    or any(a["email"] == query["attendeeEmail"] for a in b.attendees)
                )
                and ("bookingUid" not in query or b.uid == query["bookingUid"])
            ]
            matching.sort(key=lambda b: (b.start, b.id), reverse=query.get("sortStart") == "desc")
            page = [self.output(b) for b in matching[skip : skip + take]]
        total = len(matching)
        pagination = {
            "totalItems": total,
            "remainingItems": max(0, total - (skip + len(page))),
            "returnedItems": len(page),
            "itemsPerPage": take,
            "currentPage": skip // take + 1,
            "totalPages": -(-total // take),
            "hasNextPage": skip + len(page) < total,
            "hasPreviousPage": skip > 0,
        }
        return await self._answer({"status": "success", "data": page, "pagination": pagination})

    async def get_booking_route(self, request: Request) -> JSONResponse:
        _, refusal = await self._gate(request, BOOKINGS_VERSION)
        if refusal:
            return refusal
        uid = request.path_params["uid"]
        with self.lock:
            booking = self.bookings.get(uid)
            shown = self.output(booking) if booking else None
        if shown is None:
            message = f"Booking with uid={uid} was not found in the database"
            return cal_error(404, "NotFoundException", message, request.url.path)
        return await self._answer({"status": "success", "data": shown})

    async def cancel_route(self, request: Request) -> JSONResponse:
        path = request.url.path
        _, refusal = await self._gate(request, BOOKINGS_VERSION)
        if refusal:
            return refusal
        body = await self._json(request) or {}
        uid = request.path_params["uid"]
        with self.lock:
            booking = self.bookings.get(uid)
            if booking is None:
                message = f"Booking with uid={uid} was not found in the database"
                return cal_error(404, "NotFoundException", message, path)
            if booking.status in ("cancelled", "rejected"):
                message = "This booking has already been cancelled."
                return cal_error(400, "BadRequestException", message, path)
            self._cancel(booking, str(body.get("cancellationReason") or ""))
            shown = self.output(booking)
        return await self._answer({"status": "success", "data": shown})

    async def reschedule_route(self, request: Request) -> JSONResponse:
        path = request.url.path
        _, refusal = await self._gate(request, BOOKINGS_VERSION)
        if refusal:
            return refusal
        body = await self._json(request) or {}
        uid = request.path_params["uid"]
        start = _parse_time(body.get("start"))
        if start is None:
            return cal_error(400, "BadRequestException", "start must be an ISO 8601 time", path)
        with self.lock:
            old = self.bookings.get(uid)
            if old is None:
                message = f"Booking with uid={uid} was not found in the database"
                return cal_error(404, "NotFoundException", message, path)
            if old.status in ("cancelled", "rejected"):
                code = "cancelled_bookings_cannot_be_rescheduled"
                return cal_error(400, code, code, path)
            end = start + (old.end - old.start)
            if self._clash(old.owner_id, start, end, but=old.uid):
                return cal_error(
                    409, "no_available_users_found_error", "No available users found.", path
                )
            new = self._reschedule(old, start, str(body.get("reschedulingReason") or ""))
            shown = self.output(new)
        return await self._answer({"status": "success", "data": shown}, 201)

    def _slots(self, event_type: EventType, start: datetime, end: datetime) -> list[datetime]:
        """Free starts between start and end: the owner's default schedule (a dated override
        replaces the weekday's hours; 00:00-00:00 closes the day), minus accepted bookings
        and the past, one every event length."""
        schedule = next(
            (
                s
                for s in self.schedules.values()
                if s.owner_id == event_type.owner_id and s.is_default
            ),
            None,
        )
        if schedule is None:
            return []
        zone = ZoneInfo(schedule.time_zone)
        length = timedelta(minutes=event_type.length)
        now = datetime.now(UTC)
        free = []
        day: date = start.astimezone(zone).date()
        while day <= end.astimezone(zone).date():
            dated = [o for o in schedule.overrides if o["date"] == day.isoformat()]
            hours = dated or [a for a in schedule.availability if day.strftime("%A") in a["days"]]
            for window in hours:
                at = datetime.combine(day, time.fromisoformat(window["startTime"]), zone)
                until = datetime.combine(day, time.fromisoformat(window["endTime"]), zone)
                while at + length <= until:
                    if (
                        start <= at
                        and at + length <= end
                        and at > now
                        and not self._clash(event_type.owner_id, at, at + length)
                    ):
                        free.append(at)
                    at += length
            day += timedelta(days=1)
        return sorted(free)

    async def slots_route(self, request: Request) -> JSONResponse:
        """GET /v2/slots (2024-09-04, no key needed): `{"data": {"YYYY-MM-DD": [{"start"}]}}`
        with times and dates in `timeZone` (default UTC)."""
        path = request.url.path
        _, refusal = await self._gate(request, SLOTS_VERSION, public=True)
        if refusal:
            return refusal
        query = request.query_params

        def bound(name: str, day_end: bool) -> datetime | None:
            value = query.get(name, "")
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                moment = time(23, 59, 59) if day_end else time(0, 0)
                return datetime.combine(date.fromisoformat(value), moment, UTC)
            return _parse_time(value)

        start, end = bound("start", False), bound("end", True)
        if start is None or end is None:
            message = "start and end must be ISO 8601 dates or UTC times"
            return cal_error(400, "BadRequestException", message, path)
        try:
            zone = ZoneInfo(query.get("timeZone") or "UTC")
        except (KeyError, ValueError):
            return cal_error(400, "BadRequestException", "timeZone must be an IANA zone", path)
        with self.lock:
            event_type = self.event_types.get(int(query.get("eventTypeId", "0") or 0))
            if event_type is None:
                message = f"Event type with id={query.get('eventTypeId')} not found"
                return cal_error(404, "NotFoundException", message, path)
            free = self._slots(event_type, start, end)
        days: dict[str, list[dict[str, str]]] = {}
        for at in free:
            local = at.astimezone(zone)
            shown = f"{local:%Y-%m-%dT%H:%M:%S}.000{local:%z}"
            days.setdefault(local.date().isoformat(), []).append(
                {"start": f"{shown[:-2]}:{shown[-2:]}"}
            )
        return await self._answer({"status": "success", "data": days})

    def _schedule_output(self, schedule: Schedule) -> dict[str, Any]:
        return {
            "id": schedule.id,
            "ownerId": schedule.owner_id,
            "name": schedule.name,
            "timeZone": schedule.time_zone,
            "availability": schedule.availability,
            "isDefault": schedule.is_default,
            "overrides": schedule.overrides,
        }

    async def get_schedule_route(self, request: Request) -> JSONResponse:
        _, refusal = await self._gate(request, SCHEDULES_VERSION)
        if refusal:
            return refusal
        with self.lock:
            schedule = self.schedules.get(request.path_params["id"])
            shown = self._schedule_output(schedule) if schedule else None
        if shown is None:
            message = f"Schedule with id={request.path_params['id']} not found"
            return cal_error(404, "NotFoundException", message, request.url.path)
        return await self._answer({"status": "success", "data": shown})

    async def update_schedule_route(self, request: Request) -> JSONResponse:
        path = request.url.path
        _, refusal = await self._gate(request, SCHEDULES_VERSION)
        if refusal:
            return refusal
        body = await self._json(request)
        if body is None:
            return cal_error(400, "BadRequestException", "Invalid JSON body", path)
        availability = body.get("availability")
        overrides = body.get("overrides")
        if availability is not None and not (
            isinstance(availability, list)
            and all(
                isinstance(a, dict)
                and a.get("days")
                and set(a["days"]) <= _DAYS
                and _HHMM.match(str(a.get("startTime")))
                and _HHMM.match(str(a.get("endTime")))
                for a in availability
            )
        ):
            message = "availability: days are weekday names, times HH:MM"
            return cal_error(400, "BadRequestException", message, path)
        if overrides is not None and not (
            isinstance(overrides, list)
            and all(
                isinstance(o, dict)
                and re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(o.get("date")))
                and _HHMM.match(str(o.get("startTime")))
                and _HHMM.match(str(o.get("endTime")))
                for o in overrides
            )
        ):
            message = "overrides: date is YYYY-MM-DD, times HH:MM"
            return cal_error(400, "BadRequestException", message, path)
        with self.lock:
            schedule = self.schedules.get(request.path_params["id"])
            if schedule is None:
                message = f"Schedule with id={request.path_params['id']} not found"
                return cal_error(404, "NotFoundException", message, path)
            if availability is not None:
                schedule.availability = availability
            if overrides is not None:
                schedule.overrides = overrides
            if body.get("timeZone"):
                schedule.time_zone = str(body["timeZone"])
            shown = self._schedule_output(schedule)
        return await self._answer({"status": "success", "data": shown})
