"""The Cal.com client against the local Cal.com fake, over real HTTP on 127.0.0.1.

What the Cal.com worker and the reconciler will rely on: a booking made is listed and fetched,
listing pages through everything, a taken slot is a permanent `slot_unavailable`, outages are
transient, a retry after a timeout finds the first booking instead of making a second, cancel
and reschedule (also repeated), schedules; and the webhooks the fake sends are signed as
Cal.com documents (`X-Cal-Signature-256`: hex HMAC-SHA256 of the raw body).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest

from devstack.local_server import LocalServer
from sidecar.integrations.calcom import (
    APPOINTMENT_ID_KEY,
    NOT_FOUND,
    REFUSED,
    SLOT_UNAVAILABLE,
    Booking,
    CalcomClient,
    DateOverride,
    NewAttendee,
    WeeklyHours,
)
from sidecar.integrations.outcomes import DeliveryFailed
from tests.fakes.calcom import FakeCalcom
from tests.fakes.receiver import Receiver

T = TypeVar("T")
PATIENT = NewAttendee(
    name="Ravi Kumar",
    time_zone="Asia/Kolkata",
    email="ravi@example.com",
    phone_number="+919812345678",
)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeCalcom, Receiver, str]]:
    fake, receiver = FakeCalcom(), Receiver()
    with LocalServer(fake.app) as api, LocalServer(receiver.app) as subscriber:
        fake.subscriber_url = f"{subscriber.url}/api/v1/webhooks/cal"
        yield fake, receiver, f"{api.url}/v2"  # the base URL, as CAREBASE_CALCOM_BASE_URL


@pytest.fixture
def calcom(served: tuple[FakeCalcom, Receiver, str]) -> FakeCalcom:
    fake, receiver, _ = served
    fake.reset()
    fake.webhook_secret = "fake-cal-webhook-secret"
    with receiver.lock:
        receiver.received.clear()
    return fake


@pytest.fixture
def receiver(served: tuple[FakeCalcom, Receiver, str], calcom: FakeCalcom) -> Receiver:
    return served[1]


@pytest.fixture
def api(served: tuple[FakeCalcom, Receiver, str], calcom: FakeCalcom) -> str:
    return served[2]


def with_client(
    api: str,
    use: Callable[[CalcomClient], Awaitable[T]],
    *,
    key: str = "cal_test_fake_key",
    timeout: float = 5.0,
) -> T:
    async def run() -> T:
        async with httpx.AsyncClient(timeout=timeout) as http:
            return await use(CalcomClient(api, key, http))

    return asyncio.run(run())


def slot(hours: int, minutes: int = 0) -> datetime:
    """A time in the coming days, on the minute."""
    base = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=2)
    return base.replace(hour=0, minute=0) + timedelta(hours=hours, minutes=minutes)


def failure_of(api: str, use: Callable[[CalcomClient], Awaitable[Any]]) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        with_client(api, use)
    return caught.value


async def listed(client: CalcomClient, **filters: Any) -> list[Booking]:
    return [booking async for booking in client.bookings(**filters)]


def test_a_created_booking_is_listed_and_fetched(calcom: FakeCalcom, api: str) -> None:
    start = slot(10)

    async def use(client: CalcomClient) -> tuple[Booking, Booking | None, list[Booking]]:
        made = await client.create_booking(
            event_type_id=501, start=start, attendee=PATIENT, metadata={APPOINTMENT_ID_KEY: "a-1"}
        )
        fetched = await client.get_booking(made.uid)
        window = await listed(
            client, after_start=start - timedelta(hours=1), before_end=start + timedelta(hours=1)
        )
        return made, fetched, window

    made, fetched, window = with_client(api, use)
    assert made.status == "accepted"
    assert made.start == start and made.end == start + timedelta(minutes=30)
    assert made.appointment_id == "a-1"
    assert made.hosts[0].id == 101 and made.event_type_id == 501
    assert made.attendees[0].phone_number == "+919812345678"
    assert fetched == made
    assert [b.uid for b in window] == [made.uid]
    assert with_client(api, lambda c: c.get_booking("no-such-uid")) is None


def test_listing_pages_through_more_than_250_bookings(calcom: FakeCalcom, api: str) -> None:
    first = slot(0)
    made = {
        calcom.book_as_attendee(first + timedelta(minutes=30 * n), f"P {n}", f"p{n}@example.com")
        for n in range(260)
    }
    calcom.requests.clear()

    everything = with_client(api, lambda c: listed(c))
    assert {b.uid for b in everything} == made
    assert len(everything) == 260
    assert calcom.requests == ["GET /v2/bookings"] * 2  # take=250, then the last 10

    calcom.requests.clear()
    in_pages_of_100 = with_client(api, lambda c: listed(c, page_size=100))
    assert {b.uid for b in in_pages_of_100} == made
    assert len(calcom.requests) == 3


def test_listing_filters_by_window_status_and_event_type(calcom: FakeCalcom, api: str) -> None:
    calcom.add_event_type(502, 101, "follow-up", "Follow-up", 15)
    early = calcom.book_as_attendee(slot(9), "Early", "early@example.com")
    late = calcom.book_as_attendee(slot(15), "Late", "late@example.com")
    other = calcom.book_as_attendee(slot(11), "Other", "other@example.com", event_type_id=502)
    calcom.cancel_as_attendee(late)

    async def use(client: CalcomClient) -> dict[str, set[str]]:
        def uids(found: list[Booking]) -> set[str]:
            return {b.uid for b in found}

        return {
            "morning": uids(await listed(client, after_start=slot(8), before_end=slot(12))),
            "upcoming": uids(await listed(client, status=["upcoming"])),
            "cancelled": uids(await listed(client, status=["cancelled"])),
            "follow-ups": uids(await listed(client, event_type_id=502)),
        }

    assert with_client(api, use) == {
        "morning": {early, other},
        "upcoming": {early, other},
        "cancelled": {late},
        "follow-ups": {other},
    }


def test_a_taken_slot_is_a_permanent_slot_unavailable(calcom: FakeCalcom, api: str) -> None:
    calcom.book_as_attendee(slot(10), "Someone Else", "else@example.com")

    failure = failure_of(
        api,
        lambda c: c.create_booking_once(
            appointment_id="a-2", event_type_id=501, start=slot(10, 15), attendee=PATIENT
        ),
    )
    assert failure.permanent and failure.code == SLOT_UNAVAILABLE
    assert len(calcom.bookings) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_rate_limits_and_server_errors_are_transient(
    calcom: FakeCalcom, api: str, status: int
) -> None:
    calcom.fail_next = [status]
    failure = failure_of(api, lambda c: c.get_booking("any"))
    assert not failure.permanent


def test_an_unreachable_cal_com_is_transient(calcom: FakeCalcom) -> None:
    async def use() -> None:
        async with httpx.AsyncClient(timeout=2) as http:
            await CalcomClient("http://127.0.0.1:9/v2", "key", http).get_booking("any")

    with pytest.raises(DeliveryFailed) as caught:
        asyncio.run(use())
    assert not caught.value.permanent


def test_a_wrong_key_is_transient_and_a_bad_request_is_permanent(
    calcom: FakeCalcom, api: str
) -> None:
    with pytest.raises(DeliveryFailed) as wrong_key:
        with_client(api, lambda c: c.get_booking("any"), key="cal_live_wrong")
    assert not wrong_key.value.permanent  # an operator fixes the key, then it retries

    too_long = {APPOINTMENT_ID_KEY: "x" * 501}
    failure = failure_of(
        api,
        lambda c: c.create_booking(
            event_type_id=501, start=slot(10), attendee=PATIENT, metadata=too_long
        ),
    )
    assert failure.permanent and failure.code == REFUSED
    assert calcom.bookings == {}


def test_a_retry_after_a_timeout_finds_the_first_booking(calcom: FakeCalcom, api: str) -> None:
    def book(c: CalcomClient) -> Awaitable[Booking]:
        return c.create_booking_once(
            appointment_id="a-3", event_type_id=501, start=slot(11), attendee=PATIENT
        )

    calcom.slow_next = [0, 2.0]  # the lookup answers at once; the create lands, its answer is late
    with pytest.raises(DeliveryFailed) as caught:
        with_client(api, book, timeout=0.5)
    assert not caught.value.permanent
    assert len(calcom.bookings) == 1  # Cal.com made it although the client never heard

    again = with_client(api, book)
    assert len(calcom.bookings) == 1
    assert again.uid in calcom.bookings and again.appointment_id == "a-3"
    assert calcom.requests.count("POST /v2/bookings") == 1


def test_cancel_with_a_reason_and_a_repeated_cancel(calcom: FakeCalcom, api: str) -> None:
    uid = calcom.book_as_attendee(slot(12), "Ravi Kumar", "ravi@example.com")

    async def use(client: CalcomClient) -> tuple[Booking, Booking, Booking | None]:
        first = await client.cancel_booking(uid, "Doctor on leave")
        repeated = await client.cancel_booking(uid, "Doctor on leave")
        return first, repeated, await client.get_booking(uid)

    first, repeated, fetched = with_client(api, use)
    assert first.status == repeated.status == "cancelled"
    assert fetched is not None and fetched.cancellation_reason == "Doctor on leave"

    failure = failure_of(api, lambda c: c.cancel_booking("no-such-uid", "x"))
    assert failure.permanent and failure.code == NOT_FOUND


def test_reschedule_answers_the_new_uid_and_links_both(calcom: FakeCalcom, api: str) -> None:
    old_uid = calcom.book_as_attendee(
        slot(9), "Ravi Kumar", "ravi@example.com", metadata={APPOINTMENT_ID_KEY: "a-4"}
    )
    moved_to = slot(14)

    async def use(client: CalcomClient) -> tuple[Booking, Booking | None, Booking]:
        new = await client.reschedule_booking(old_uid, moved_to, reason="Clinic closed")
        old = await client.get_booking(old_uid)
        repeated = await client.reschedule_booking(old_uid, moved_to)
        return new, old, repeated

    new, old, repeated = with_client(api, use)
    assert new.uid != old_uid and new.start == moved_to and new.status == "accepted"
    assert new.rescheduled_from_uid == old_uid and new.appointment_id == "a-4"
    assert old is not None and old.status == "cancelled" and old.rescheduled_to_uid == new.uid
    assert repeated.uid == new.uid  # the retry answers the first move
    assert len(calcom.bookings) == 2

    calcom.book_as_attendee(slot(16), "Someone Else", "else@example.com")
    failure = failure_of(api, lambda c: c.reschedule_booking(new.uid, slot(16)))
    assert failure.permanent and failure.code == SLOT_UNAVAILABLE


def test_schedule_hours_and_dated_overrides(calcom: FakeCalcom, api: str) -> None:
    hours = [
        WeeklyHours(("Monday", "Wednesday", "Friday"), "10:00", "14:00"),
        WeeklyHours(("Saturday",), "09:00", "12:00"),
    ]
    closed = [
        DateOverride("2026-12-25", "00:00", "00:00"),
        DateOverride("2026-12-31", "09:00", "11:00"),
    ]

    async def use(client: CalcomClient) -> tuple[Any, ...]:
        before = await client.get_schedule(301)
        updated = await client.update_schedule(301, availability=hours, overrides=closed)
        only_overrides = await client.update_schedule(301, overrides=closed[:1])
        return before, updated, only_overrides, await client.get_schedule(999)

    before, updated, only_overrides, missing = with_client(api, use)
    assert before.owner_id == 101 and before.availability[0].start_time == "09:00"
    assert updated.availability == tuple(hours) and updated.overrides == tuple(closed)
    assert only_overrides.availability == tuple(hours)  # what is left out stays
    assert only_overrides.overrides == tuple(closed[:1])
    assert missing is None

    bad = failure_of(
        api,
        lambda c: c.update_schedule(301, availability=[WeeklyHours(("Funday",), "9", "5")]),
    )
    assert bad.permanent and bad.code == REFUSED


def test_free_slots_follow_the_hours_overrides_and_bookings(calcom: FakeCalcom, api: str) -> None:
    india = ZoneInfo("Asia/Kolkata")
    today = datetime.now(india).date()
    monday = today + timedelta(days=7 - today.weekday())  # next week's, always ahead
    wednesday = monday + timedelta(days=2)
    calcom.book_as_attendee(
        datetime.combine(monday, time(9, 30), india), "Taken", "taken@example.com"
    )

    async def use(client: CalcomClient) -> list[datetime]:
        await client.update_schedule(
            301,
            availability=[
                WeeklyHours(("Monday",), "09:00", "11:00"),
                WeeklyHours(("Wednesday",), "10:00", "11:00"),
            ],
            overrides=[DateOverride(wednesday.isoformat(), "00:00", "00:00")],
        )
        return await client.available_slots(
            event_type_id=501,
            start=datetime.combine(monday, time(0, 0), india),
            end=datetime.combine(wednesday, time(23, 59), india),
            time_zone="Asia/Kolkata",
        )

    free = with_client(api, use)
    assert [f"{t:%a %H:%M%z}" for t in free] == [
        "Mon 09:00+0530",
        "Mon 10:00+0530",
        "Mon 10:30+0530",
    ]


def test_the_fake_refuses_like_cal_com(calcom: FakeCalcom, api: str) -> None:
    url = f"{api}/bookings"
    no_key = httpx.get(url, headers={"cal-api-version": "2024-08-13"})
    no_version = httpx.get(url, headers={"Authorization": "Bearer cal_test_fake_key"})
    too_many = httpx.get(
        url,
        params={"take": 251},
        headers={"Authorization": "Bearer cal_test_fake_key", "cal-api-version": "2024-08-13"},
    )
    assert no_key.status_code == 401 and no_key.json()["status"] == "error"
    assert no_version.status_code == 400
    assert too_many.status_code == 400
    assert set(no_key.json()["error"]) >= {"code", "message"}


# Webhooks


def signed_correctly(secret: str, body: bytes, header: str) -> bool:
    """Cal.com's documented check: hex HMAC-SHA256 of the raw body, compared in constant time."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def test_webhooks_are_signed_and_a_tampered_one_does_not_verify(
    calcom: FakeCalcom, receiver: Receiver, api: str
) -> None:
    outside = calcom.book_as_attendee(slot(9), "Asha Patient", "asha.p@example.com")

    async def use(client: CalcomClient) -> Booking:
        made = await client.create_booking(
            event_type_id=501,
            start=slot(10),
            attendee=PATIENT,
            metadata={APPOINTMENT_ID_KEY: "a-5"},
        )
        await client.cancel_booking(outside, "Feeling better")
        return await client.reschedule_booking(made.uid, slot(13))

    moved = with_client(api, use)
    deliveries = calcom.deliver()
    assert [d.status_code for d in deliveries] == [200] * 4

    got = receiver.received
    events = [json.loads(r.body) for r in got]
    assert [e["triggerEvent"] for e in events] == [
        "BOOKING_CREATED",
        "BOOKING_CREATED",
        "BOOKING_CANCELLED",
        "BOOKING_RESCHEDULED",
    ]
    for request in got:
        assert request.path == "/api/v1/webhooks/cal"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-cal-webhook-version"] == "2021-10-20"
        signature = request.headers["x-cal-signature-256"]
        assert signature == signature.lower() and len(signature) == 64
        assert signed_correctly("fake-cal-webhook-secret", request.body, signature)
        tampered = request.body.replace(b'"uid"', b'"uid" ', 1)
        assert not signed_correctly("fake-cal-webhook-secret", tampered, signature)
        assert not signed_correctly("another-secret", request.body, signature)

    created, mine, cancelled, rescheduled = (e["payload"] for e in events)
    assert created["uid"] == outside and created["status"] == "ACCEPTED"
    assert created["organizer"]["id"] == 101 and created["eventTypeId"] == 501
    assert created["attendees"][0]["email"] == "asha.p@example.com"
    assert mine["metadata"][APPOINTMENT_ID_KEY] == "a-5"
    assert mine["attendees"][0]["phoneNumber"] == "+919812345678"
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["cancellationReason"] == "Feeling better"
    assert rescheduled["uid"] == moved.uid and rescheduled["status"] == "ACCEPTED"
    assert rescheduled["rescheduleUid"] == mine["uid"]
    assert rescheduled["startTime"].startswith(f"{slot(13):%Y-%m-%dT%H:%M}")


def test_without_a_secret_the_signature_header_says_so(
    calcom: FakeCalcom, receiver: Receiver
) -> None:
    calcom.webhook_secret = None
    calcom.book_as_attendee(slot(9), "Asha Patient", "asha.p@example.com")
    calcom.deliver()
    assert receiver.received[0].headers["x-cal-signature-256"] == "no-secret-provided"


def test_webhooks_can_be_dropped_doubled_and_reordered(
    calcom: FakeCalcom, receiver: Receiver
) -> None:
    calcom.dropping = True
    lost = calcom.book_as_attendee(slot(9), "Lost Webhook", "lost@example.com")
    calcom.dropping = False
    assert calcom.deliver() == [] and [h.trigger for h in calcom.dropped] == ["BOOKING_CREATED"]
    assert lost in calcom.bookings  # the booking exists; only its webhook never comes

    first = calcom.book_as_attendee(slot(10), "First", "first@example.com")
    calcom.cancel_as_attendee(first)
    calcom.deliver(reverse=True)
    order = [json.loads(r.body)["triggerEvent"] for r in receiver.received]
    assert order == ["BOOKING_CANCELLED", "BOOKING_CREATED"]

    calcom.duplicating = True
    calcom.book_as_attendee(slot(11), "Twice", "twice@example.com")
    calcom.deliver()
    assert receiver.received[-1].body == receiver.received[-2].body


def test_requested_rejected_meeting_and_no_show_webhooks(
    calcom: FakeCalcom, receiver: Receiver
) -> None:
    calcom.add_event_type(503, 101, "first-visit", "First visit", 45, requires_confirmation=True)
    requested = calcom.book_as_attendee(
        slot(9), "New Patient", "new@example.com", event_type_id=503
    )
    calcom.reject(requested, "Please book a follow-up instead")
    held = calcom.book_as_attendee(slot(12), "Held", "held@example.com")
    calcom.start_meeting(held)
    calcom.end_meeting(held)
    calcom.mark_no_show(held, "held@example.com")
    calcom.deliver()

    events = [json.loads(r.body) for r in receiver.received]
    assert [e["triggerEvent"] for e in events] == [
        "BOOKING_REQUESTED",
        "BOOKING_REJECTED",
        "BOOKING_CREATED",
        "MEETING_STARTED",
        "MEETING_ENDED",
        "BOOKING_NO_SHOW_UPDATED",
    ]
    requested_event, rejected, _, started, ended, no_show = events
    assert requested_event["payload"]["status"] == "PENDING"
    assert rejected["payload"]["status"] == "REJECTED"
    assert rejected["payload"]["rejectionReason"] == "Please book a follow-up instead"
    for meeting in (started, ended):
        assert "payload" not in meeting
        assert meeting["uid"] == held and meeting["status"] == "ACCEPTED"
    assert no_show["payload"] == {
        "message": "held@example.com marked as no-show",
        "attendees": [{"email": "held@example.com", "noShow": True}],
        "bookingUid": held,
        "bookingId": calcom.bookings[held].id,
    }
