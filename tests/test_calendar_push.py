"""Cal.com out (issue 14, item 3) through the real stack and the local Cal.com fake: the admin
stores the doctor's Cal.com key (Vault) and the front desk books, moves and cancels in
carebase; the worker's calendar push (sidecar/jobs/calendar_push.py) makes Cal.com hold the
same, stores the uid and the sync state, and the webhooks Cal.com then sends about our own
bookings leave one appointment. A time Cal.com refuses cancels the appointment and tells the
patient; a create whose answer was lost is not made twice; working hours reach the schedule.

Runs on the demo hospital's Dr. Bhatia (seed.sql) at far-future times chosen per run; what the
run made is removed afterwards (the link, the key, the appointments, the patient).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from devstack import services
from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.local_server import LocalServer
from devstack.postgrest_session import PostgrestSession
from sidecar.integrations.calcom import APPOINTMENT_ID_KEY, CalcomClient
from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.jobs.calendar_push import CalendarPush
from sidecar.jobs.calendar_reconcile import COUNTS, CalendarReconciler
from sidecar.settings import SidecarSettings
from tests.fakes.calcom import FakeCalcom

ADMIN = "admin@nabha.carebase.test"
FRONT_DESK = "frontdesk@nabha.carebase.test"
HOSPITAL = "10000000-0000-4000-8000-000000000001"
DOCTOR = "30000000-0000-4000-8000-000000000003"  # Dr. Bhatia
EVENT_TYPE = 9501
SCHEDULE = 9301


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeCalcom, str]]:
    fake = FakeCalcom()
    with LocalServer(fake.app) as api:
        yield fake, f"{api.url}/v2"


class Run:
    def __init__(self, stack: Settings, sidecar: str, fake: FakeCalcom, api: str) -> None:
        self.stack = stack
        self.fake = fake
        self.tag = f"pytest-{uuid.uuid4().hex[:8]}"
        self.key = f"cal_live_{uuid.uuid4().hex}"
        self.cal_user = random.randrange(10**9, 10**10)  # noqa: S311
        days = random.randrange(0, 365 * 8)  # noqa: S311
        self.day0 = datetime(2041, 1, 1, 4, 0, tzinfo=UTC) + timedelta(days=days)
        self.phone = f"+9198{random.randrange(10**7, 10**8)}"  # noqa: S311
        self.settings = SidecarSettings(
            supabase_url=stack.api_url,
            supabase_anon_key=stack.anon_key,
            supabase_service_role_key=stack.service_role_key,
            calcom_base_url=api,
            calcom_api_key="",  # the doctor's own key, from Vault
            worker_max_attempts=3,
            delivery_timeout=5.0,
        )
        self.reconciled: list[datetime] = []  # window starts of the run's reconciliations
        fake.webhook_secret = services.sidecar_environment(stack)["CAREBASE_CALCOM_WEBHOOK_SECRET"]
        fake.subscriber_url = f"{sidecar}/api/v1/webhooks/cal"

    def at(self, day: int, minutes: int = 0) -> datetime:
        return self.day0 + timedelta(days=day, minutes=minutes)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.stack.dsn()) as conn:
            return conn.execute(sql, params).fetchall()

    def rest(self, email: str) -> httpx.Client:
        with psycopg.connect(self.stack.dsn()) as conn:
            claims = PostgrestSession(conn).claims_for(email)
        headers = {
            "apikey": self.stack.anon_key,
            "Authorization": f"Bearer {issue(claims, self.stack.jwt_secret)}",
        }
        return httpx.Client(base_url=f"{self.stack.api_url}/rest/v1", headers=headers, timeout=30)

    def push(self, timeout: float = 5.0) -> int:
        """One round of the worker's calendar push."""

        async def once() -> int:
            async with httpx.AsyncClient(timeout=timeout) as http:
                return await CalendarPush(
                    self.settings, SupabaseApi(self.settings, http), http
                ).run_once()

        return asyncio.run(once())

    def book(self, starts: datetime) -> str:
        with self.rest(FRONT_DESK) as rest:
            booked = rest.post(
                "/rpc/book_appointment",
                json={
                    "doctor_id": DOCTOR,
                    "patient_id": self.patient,
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + timedelta(minutes=30)).isoformat(),
                    "reason": self.tag,
                },
            )
        assert booked.status_code == 200, booked.text
        return str(booked.json()["id"])

    def change(self, appointment: str, **fields: Any) -> None:
        with self.rest(FRONT_DESK) as rest:
            changed = rest.patch(
                "/appointments",
                params={"id": f"eq.{appointment}"},
                json=fields,
                headers={"Prefer": "return=representation"},
            )
        assert changed.status_code == 200 and len(changed.json()) == 1, changed.text

    def state(self, appointment: str) -> tuple[Any, ...]:
        """(status, status_reason, sync_state, external_ref)"""
        return self.query(
            "select status::text, status_reason, sync_state::text, external_ref"
            " from public.appointments where id = %s",
            appointment,
        )[0]

    def remote(self, appointment: str) -> list[Any]:
        """The fake's bookings tagged with this appointment, oldest first."""
        with self.fake.lock:
            return sorted(
                (
                    b
                    for b in self.fake.bookings.values()
                    if b.metadata.get(APPOINTMENT_ID_KEY) == appointment
                ),
                key=lambda b: b.id,
            )

    def booked_in_cal_com(self, starts: datetime) -> tuple[str, str]:
        """The run's patient books the doctor on cal.com; the webhook mirrors it. Answers the
        booking's uid and the appointment."""
        uid = self.fake.book_as_attendee(
            starts, "Cal Patient", "", phone_number=self.phone, event_type_id=EVENT_TYPE
        )
        assert [(d.trigger, d.status_code) for d in self.fake.deliver()] == [
            ("BOOKING_CREATED", 200)
        ]
        ((appointment, source),) = self.query(
            "select id, source::text from public.appointments where external_ref = %s", uid
        )
        assert source == "calcom"
        return uid, str(appointment)

    def front_desk(self, rpc: str, **params: Any) -> dict[str, Any]:
        with self.rest(FRONT_DESK) as rest:
            answer = rest.post(f"/rpc/{rpc}", json=params)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def reconcile(self, start: datetime, end: datetime) -> dict[str, int]:
        """One manual reconciliation run over [start, end) with the doctor's key."""
        settings = self.settings.model_copy(update={"calcom_api_key": self.key})
        self.reconciled.append(start)

        async def once() -> dict[str, Any]:
            async with httpx.AsyncClient(timeout=30) as http:
                client = CalcomClient(settings.calcom_base_url, settings.calcom_api_key, http)
                reconciler = CalendarReconciler(settings, SupabaseApi(settings, http), client)
                return await reconciler.reconcile("manual", start, end)

        done = asyncio.run(once())
        assert done["error"] is None, done
        return {name: done[name] for name in COUNTS}

    def flags(self, appointment: str) -> list[tuple[Any, ...]]:
        return self.query(
            "select kind from public.calendar_sync_flags where appointment_id = %s order by kind",
            appointment,
        )

    def due_now(self, appointment: str) -> None:
        """Skips the backoff of a failed try (the test does not wait 30 s)."""
        self.query(
            "update private.calendar_pushes set next_attempt_at = now()"
            " where appointment_id = %s returning 1",
            appointment,
        )


@pytest.fixture
def run(stack: Settings, sidecar: str, served: tuple[FakeCalcom, str]) -> Iterator[Run]:
    fake, api = served
    fake.reset()
    the_run = Run(stack, sidecar, fake, api)
    fake.add_user(the_run.cal_user, "Dr. Rohit Bhatia", f"{the_run.tag}@cal.test", the_run.key)
    fake.add_event_type(EVENT_TYPE, the_run.cal_user, "consultation", "Consultation", 30)
    fake.add_schedule(SCHEDULE, the_run.cal_user)
    (patient,) = the_run.query(
        "with p as (insert into public.patients (full_name, phone) values ('Push Patient', %s)"
        " returning id) insert into public.patient_registrations (patient_id, hospital_id, mrn)"
        " select p.id, %s, %s from p returning patient_id",
        the_run.phone,
        HOSPITAL,
        f"RUN-{the_run.tag[-10:]}",
    )[0]
    the_run.patient = str(patient)
    the_run.query(
        "delete from public.doctor_calendar_links where doctor_id = %s returning 1", DOCTOR
    )
    with the_run.rest(ADMIN) as rest:
        linked = rest.post(
            "/doctor_calendar_links",
            json={
                "hospital_id": HOSPITAL,
                "doctor_id": DOCTOR,
                "cal_user_id": the_run.cal_user,
                "cal_email": f"{the_run.tag}@cal.test",
                "cal_event_type_ids": [EVENT_TYPE],
            },
        )
        assert linked.status_code == 201, linked.text
        stored = rest.post(
            "/rpc/set_doctor_calendar_key", json={"doctor_id": DOCTOR, "api_key": the_run.key}
        )
        assert stored.status_code == 200, stored.text
        assert stored.json() == {"doctor_id": DOCTOR, "has_key": True}
    yield the_run
    _clean(the_run)


def _clean(run: Run) -> None:
    with psycopg.connect(run.stack.dsn()) as conn:
        # The run's bookings: made in carebase (tagged), or in Cal.com by the run's patient.
        mine = "select id from public.appointments where reason = %s or patient_id = %s"
        conn.execute(
            f"delete from public.calendar_sync_flags where appointment_id in ({mine})"  # noqa: S608
            " or (doctor_id = %s and kind = 'schedule_push_failed')",
            (run.tag, run.patient, DOCTOR),
        )
        conn.execute(
            f"delete from private.webhook_inbox where appointment_id in ({mine})",  # noqa: S608
            (run.tag, run.patient),
        )
        conn.execute(
            f"delete from private.outbox where subject_id in ({mine})",  # noqa: S608
            (run.tag, run.patient),
        )
        conn.execute(
            "delete from public.appointments where reason = %s or patient_id = %s",
            (run.tag, run.patient),
        )
        conn.execute(
            "delete from private.calendar_reconciliations where window_from = any(%s)",
            (run.reconciled,),
        )
        conn.execute(
            "delete from private.doctor_calendar_credentials where doctor_id = %s", (DOCTOR,)
        )
        conn.execute("delete from public.doctor_calendar_links where doctor_id = %s", (DOCTOR,))
        conn.execute("delete from private.calendar_schedule_pushes where doctor_id = %s", (DOCTOR,))
        conn.execute(
            "delete from public.doctor_availability_exceptions"
            " where doctor_id = %s and reason = %s",
            (DOCTOR, run.tag),
        )
        for table in ("care_team_members", "patient_registrations"):
            conn.execute(
                f"delete from public.{table} where patient_id = %s",  # noqa: S608
                (run.patient,),
            )
        conn.execute("delete from public.patients where id = %s", (run.patient,))


def test_a_carebase_booking_reaches_cal_com_once_and_its_webhook_echo_changes_nothing(
    run: Run,
) -> None:
    appointment = run.book(run.at(1))
    assert run.state(appointment)[2] == "pending"
    assert run.push() >= 1
    (booking,) = run.remote(appointment)
    assert (booking.start, booking.status, booking.owner_id) == (
        run.at(1),
        "accepted",
        run.cal_user,
    )
    assert booking.attendees[0]["phoneNumber"] == run.phone
    assert run.state(appointment) == ("scheduled", None, "synced", booking.uid)
    # Nothing more to do: a second round pushes nothing.
    requests = len(run.fake.requests)
    run.push()
    assert len(run.fake.requests) == requests

    # Cal.com tells the sidecar about the booking carebase made: the same appointment.
    deliveries = run.fake.deliver()
    assert [(d.trigger, d.status_code) for d in deliveries] == [("BOOKING_CREATED", 200)]
    assert run.query(
        "select outcome, appointment_id from private.webhook_inbox where external_ref = %s",
        booking.uid,
    ) == [("ignored", uuid.UUID(appointment))]
    assert run.query(
        "select count(*) from public.appointments where doctor_id = %s and starts_at = %s"
        " and status <> 'cancelled'",
        DOCTOR,
        run.at(1),
    ) == [(1,)]
    assert run.query(
        "select count(*) from public.calendar_sync_flags where external_ref = %s", booking.uid
    ) == [(0,)]


def test_a_move_and_a_cancellation_go_out_and_their_echoes_keep_one_appointment(
    run: Run,
) -> None:
    appointment = run.book(run.at(2))
    run.push()
    (first,) = run.remote(appointment)
    run.change(
        appointment,
        starts_at=run.at(2, 60).isoformat(),
        ends_at=run.at(2, 90).isoformat(),
    )
    assert run.state(appointment)[2] == "pending"
    run.push()
    moved = [b for b in run.remote(appointment) if b.status == "accepted"]
    assert [(b.start, b.rescheduled_from_uid) for b in moved] == [(run.at(2, 60), first.uid)]
    assert run.state(appointment) == ("scheduled", None, "synced", moved[0].uid)
    run.fake.deliver()  # CREATED and RESCHEDULED about our own bookings
    # Every uid of the chain finds this one appointment.
    for uid in (first.uid, moved[0].uid):
        assert run.query(
            "select appointment_id from private.appointment_external_refs where external_ref = %s",
            uid,
        ) == [(uuid.UUID(appointment),)]
    assert run.query(
        "select starts_at, sync_state::text from public.appointments where id = %s", appointment
    ) == [(run.at(2, 60), "synced")]

    run.change(appointment, status="cancelled", status_reason="patient unwell")
    assert run.state(appointment)[2] == "pending"
    run.push()
    assert [b.status for b in run.remote(appointment)] == ["cancelled", "cancelled"]
    assert run.fake.bookings[moved[0].uid].cancellation_reason == "Cancelled in carebase"
    assert run.state(appointment) == ("cancelled", "patient unwell", "synced", moved[0].uid)
    run.fake.deliver()
    assert run.query("select count(*) from public.appointments where reason = %s", run.tag) == [
        (1,)
    ]


def test_cancelling_an_appointment_never_pushed_calls_nobody(run: Run) -> None:
    appointment = run.book(run.at(3))
    run.change(appointment, status="cancelled", status_reason="booked by mistake")
    requests = len(run.fake.requests)
    run.push()
    assert run.fake.requests[requests:] == []
    assert run.state(appointment) == ("cancelled", "booked by mistake", "synced", None)


def test_a_retry_after_a_timeout_makes_one_booking(run: Run) -> None:
    appointment = run.book(run.at(4))
    # The lookup answers at once; the create is made but its answer comes too late.
    run.fake.slow_next = [0, 2.0]
    run.push(timeout=0.5)
    assert len(run.remote(appointment)) == 1
    assert run.state(appointment)[2] == "pending"
    assert run.query(
        "select attempts, last_error like '%%unreachable%%' from private.calendar_pushes"
        " where appointment_id = %s",
        appointment,
    ) == [(1, True)]
    run.due_now(appointment)
    run.push()
    (booking,) = run.remote(appointment)
    assert run.state(appointment) == ("scheduled", None, "synced", booking.uid)


def test_a_time_cal_com_refuses_cancels_the_appointment_and_tells_the_patient(run: Run) -> None:
    # Someone booked the doctor on cal.com; that webhook never reached carebase.
    run.fake.book_as_attendee(
        run.at(5), "Walk-in Elsewhere", "elsewhere@example.com", event_type_id=EVENT_TYPE
    )
    run.fake.pending.clear()
    appointment = run.book(run.at(5, 15))
    run.push()
    assert run.remote(appointment) == []
    assert run.state(appointment) == ("cancelled", "calendar_slot_taken", "failed", None)
    told = run.query(
        "select recipient_kind, payload ->> 'reason' from private.outbox"
        " where subject_id = %s and kind = 'appointment_cancelled' order by recipient_kind",
        appointment,
    )
    assert ("patient", "calendar_slot_taken") in told
    with run.rest(FRONT_DESK) as rest:
        flags = rest.get("/calendar_sync_flags", params={"appointment_id": f"eq.{appointment}"})
        assert [f["kind"] for f in flags.json()] == ["slot_taken"]
        assert "no_available_users_found_error" in flags.json()[0]["details"]["error"]
    with run.rest(ADMIN) as rest:
        history = rest.get(
            "/status_history", params={"subject_id": f"eq.{appointment}", "order": "occurred_at"}
        )
        assert history.status_code == 200, history.text
        assert (history.json()[-1]["to_state"], history.json()[-1]["reason"]) == (
            "cancelled",
            "calendar_slot_taken",
        )


def test_a_permanent_failure_leaves_the_appointment_failed_and_flagged(run: Run) -> None:
    appointment = run.book(run.at(6))
    run.fake.fail_next = [403]  # the lookup is refused: our key may not do this
    run.push()
    assert run.state(appointment)[2] == "failed"
    assert run.state(appointment)[0] == "scheduled"
    assert run.query(
        "select kind, details ->> 'error' like '%%403%%' from public.calendar_sync_flags"
        " where appointment_id = %s",
        appointment,
    ) == [("push_failed", True)]


def test_transient_failures_retry_until_max_attempts(run: Run) -> None:
    appointment = run.book(run.at(7))
    for attempt in range(1, 4):
        run.fake.fail_next = [503]
        run.push()
        expected = "failed" if attempt == 3 else "pending"
        assert run.state(appointment)[2] == expected, attempt
        run.due_now(appointment)
    assert run.remote(appointment) == []
    assert run.query(
        "select kind from public.calendar_sync_flags where appointment_id = %s", appointment
    ) == [("push_failed",)]


def test_a_booking_that_vanished_from_cal_com_is_made_again_once(run: Run) -> None:
    appointment = run.book(run.at(8))
    run.push()
    (first,) = run.remote(appointment)
    with run.fake.lock:
        del run.fake.bookings[first.uid]
    # What the reconciliation does when it finds a carebase booking missing in Cal.com.
    run.query(
        "update public.appointments set sync_state = 'pending' where id = %s returning 1",
        appointment,
    )
    run.push()
    (again,) = run.remote(appointment)
    assert again.uid != first.uid
    assert run.state(appointment) == ("scheduled", None, "synced", again.uid)
    assert run.query(
        "select external_ref, superseded from private.appointment_external_refs"
        " where appointment_id = %s order by superseded",
        appointment,
    ) == [(again.uid, False), (first.uid, True)]


def test_a_change_of_working_hours_reaches_the_cal_com_schedule(run: Run) -> None:
    with run.rest(ADMIN) as rest:
        linked = rest.patch(
            "/doctor_calendar_links",
            params={"doctor_id": f"eq.{DOCTOR}"},
            json={"cal_schedule_id": SCHEDULE},
        )
        assert linked.status_code in (200, 204), linked.text
    run.push()
    schedule = run.fake.schedules[SCHEDULE]
    assert schedule.time_zone == "Asia/Kolkata"
    # Dr. Bhatia's week in seed.sql: Monday, Wednesday, Friday 09:00-13:00.
    assert schedule.availability == [
        {"days": ["Monday", "Wednesday", "Friday"], "startTime": "09:00", "endTime": "13:00"}
    ]
    # A morning off on a coming Monday: that day keeps 11:00-13:00 only.
    today = datetime.now(UTC).date()
    monday = today + timedelta(days=7 - today.weekday() + 7)
    off_from = datetime.combine(monday, datetime.min.time(), UTC) + timedelta(hours=3, minutes=30)
    with run.rest(ADMIN) as rest:
        added = rest.post(
            "/doctor_availability_exceptions",
            json={
                "doctor_id": DOCTOR,
                "hospital_id": HOSPITAL,
                "kind": "time_off",
                "starts_at": off_from.isoformat(),  # 09:00 in Kolkata
                "ends_at": (off_from + timedelta(hours=2)).isoformat(),  # 11:00
                "reason": run.tag,
            },
        )
        assert added.status_code == 201, added.text
    run.push()
    assert run.fake.schedules[SCHEDULE].overrides == [
        {"date": date.isoformat(monday), "startTime": "11:00", "endTime": "13:00"}
    ]
    requests = len(run.fake.requests)
    run.push()
    assert run.fake.requests[requests:] == [], "pushed once per change"


def test_the_key_is_never_readable_and_an_admin_of_another_hospital_cannot_set_it(
    run: Run,
) -> None:
    assert run.query(
        "select s.decrypted_secret = %s from private.doctor_calendar_credentials as c"
        " join vault.decrypted_secrets as s on s.id = c.secret_id where c.doctor_id = %s",
        run.key,
        DOCTOR,
    ) == [(True,)]
    with run.rest(ADMIN) as rest:
        links = rest.get("/doctor_calendar_links", params={"doctor_id": f"eq.{DOCTOR}"}).json()
        assert run.key not in str(links)
        assert links[0]["api_key_set_at"] is not None
        refused = rest.post("/rpc/calendar_api_key", json={"doctor_id": DOCTOR})
        assert refused.status_code in (401, 403, 404), refused.text
        cleared = rest.post(
            "/rpc/set_doctor_calendar_key", json={"doctor_id": DOCTOR, "api_key": None}
        )
        assert cleared.json() == {"doctor_id": DOCTOR, "has_key": False}
    assert run.query(
        "select count(*) from vault.secrets where name = %s", f"carebase_calcom_key_{DOCTOR}"
    ) == [(0,)]
    with run.rest(FRONT_DESK) as rest:
        refused = rest.post(
            "/rpc/set_doctor_calendar_key", json={"doctor_id": DOCTOR, "api_key": "cal_x"}
        )
        assert refused.status_code == 404, refused.text


def test_a_move_cal_com_refuses_cancels_the_appointment_and_the_booking_left_behind(
    run: Run,
) -> None:
    appointment = run.book(run.at(9))
    run.push()
    (first,) = run.remote(appointment)
    run.fake.book_as_attendee(
        run.at(9, 120), "Walk-in Elsewhere", "elsewhere@example.com", event_type_id=EVENT_TYPE
    )
    run.fake.pending.clear()
    run.change(
        appointment, starts_at=run.at(9, 120).isoformat(), ends_at=run.at(9, 150).isoformat()
    )
    run.push()
    assert run.state(appointment) == ("cancelled", "calendar_slot_taken", "pending", first.uid)
    run.push()  # the booking at the old time goes too
    assert [b.status for b in run.remote(appointment)] == ["cancelled"]
    assert run.state(appointment) == ("cancelled", "calendar_slot_taken", "synced", first.uid)
    assert run.query(
        "select kind from public.calendar_sync_flags where appointment_id = %s", appointment
    ) == [("slot_taken",)]


def test_the_webhook_of_a_booking_whose_answer_was_lost_finds_the_appointment(run: Run) -> None:
    """Cal.com made the booking but its answer timed out; its BOOKING_CREATED (which carries
    the appointment id in its metadata) arrives before the worker tries again."""
    appointment = run.book(run.at(10))
    run.fake.slow_next = [0, 2.0]
    run.push(timeout=0.5)
    (booking,) = run.remote(appointment)
    [delivered] = run.fake.deliver()
    assert delivered.status_code == 200
    # Applied: the webhook recorded the uid the worker had not.
    assert run.query(
        "select outcome, appointment_id from private.webhook_inbox where external_ref = %s",
        booking.uid,
    ) == [("applied", uuid.UUID(appointment))]
    assert run.query(
        "select count(*) from public.calendar_sync_flags where external_ref = %s", booking.uid
    ) == [(0,)]
    assert run.state(appointment) == ("scheduled", None, "pending", booking.uid)
    run.due_now(appointment)
    run.push()
    assert [b.uid for b in run.remote(appointment)] == [booking.uid]
    assert run.state(appointment) == ("scheduled", None, "synced", booking.uid)


def test_a_late_webhook_about_our_booking_does_not_undo_a_move_not_yet_pushed(run: Run) -> None:
    appointment = run.book(run.at(11))
    run.push()
    (booking,) = run.remote(appointment)
    run.change(
        appointment, starts_at=run.at(11, 60).isoformat(), ends_at=run.at(11, 90).isoformat()
    )
    run.fake.deliver()  # BOOKING_CREATED at the first time, after the move
    assert run.query(
        "select starts_at, sync_state::text from public.appointments where id = %s", appointment
    ) == [(run.at(11, 60), "pending")]
    run.push()
    live = [b for b in run.remote(appointment) if b.status == "accepted"]
    assert [(b.start, b.rescheduled_from_uid) for b in live] == [(run.at(11, 60), booking.uid)]
    assert run.state(appointment) == ("scheduled", None, "synced", live[0].uid)


def test_make_up_s_worker_pushes_nothing_to_cal_com(
    stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """There is no Cal.com locally: the tests push to their own fake. A deployment pushes."""
    monkeypatch.delenv("CAREBASE_CALCOM_PUSH", raising=False)
    environment = services.worker(stack).env
    assert environment["CAREBASE_CALCOM_PUSH"] == "off"
    assert SidecarSettings(CAREBASE_CALCOM_PUSH="off").calcom_push is False
    assert SidecarSettings().calcom_push is True


# Bookings born in Cal.com, changed in carebase (issue 14): the front desk or the patient
# cancels or moves in the app a booking a patient made on cal.com. The push cancels or moves that
# booking (never makes one), the webhook Cal.com sends back changes nothing, and the
# reconciliation then finds nothing to fix.

NOTHING_TO_FIX = {"created": 0, "updated": 0, "cancelled": 0, "flagged": 0, "skipped": 0}


def test_a_cal_com_booking_cancelled_in_carebase_is_cancelled_in_cal_com(run: Run) -> None:
    uid, appointment = run.booked_in_cal_com(run.at(12))
    assert run.state(appointment) == ("scheduled", None, "synced", uid)

    run.front_desk("cancel_appointment", appointment_id=appointment, reason="patient called")
    assert run.state(appointment)[2] == "pending"
    run.push()
    assert list(run.fake.bookings) == [uid], "no booking was made"
    assert (run.fake.bookings[uid].status, run.fake.bookings[uid].cancellation_reason) == (
        "cancelled",
        "Cancelled in carebase",
    )
    assert run.state(appointment) == ("cancelled", "patient called", "synced", uid)

    # Cal.com's BOOKING_CANCELLED about it changes nothing.
    before = run.query("select updated_at from public.appointments where id = %s", appointment)
    assert [(d.trigger, d.status_code) for d in run.fake.deliver()] == [("BOOKING_CANCELLED", 200)]
    assert run.query(
        "select outcome, reason from private.webhook_inbox where external_ref = %s"
        " order by received_at",
        uid,
    ) == [("applied", None), ("ignored", "no_change")]
    assert run.query("select updated_at from public.appointments where id = %s", appointment) == (
        before
    )
    assert run.state(appointment) == ("cancelled", "patient called", "synced", uid)

    counts = run.reconcile(run.at(11), run.at(13))
    assert {**counts, "checked": None} == {**NOTHING_TO_FIX, "checked": None}
    assert counts["checked"] >= 1
    assert run.flags(appointment) == []


def test_a_cal_com_booking_moved_in_carebase_moves_in_cal_com_and_stays_one_appointment(
    run: Run,
) -> None:
    uid, appointment = run.booked_in_cal_com(run.at(13))
    run.front_desk(
        "reschedule_appointment", appointment_id=appointment, starts_at=run.at(13, 60).isoformat()
    )
    assert run.state(appointment)[2] == "pending"
    run.push()
    old = run.fake.bookings[uid]
    assert (old.status, old.rescheduled_to_uid is not None) == ("cancelled", True)
    new = run.fake.bookings[old.rescheduled_to_uid]
    assert (new.status, new.start, new.rescheduled_from_uid) == ("accepted", run.at(13, 60), uid)
    assert len(run.fake.bookings) == 2, "moved, not booked again"
    assert run.state(appointment)[2:] == ("synced", new.uid)
    # The uid lineage: both uids find this one appointment, the newest is its reference.
    assert run.query(
        "select external_ref, superseded from private.appointment_external_refs"
        " where appointment_id = %s order by superseded",
        appointment,
    ) == [(new.uid, False), (uid, True)]

    # Cal.com's BOOKING_RESCHEDULED about our move changes nothing.
    assert [(d.trigger, d.status_code) for d in run.fake.deliver()] == [
        ("BOOKING_RESCHEDULED", 200)
    ]
    assert run.query(
        "select outcome from private.webhook_inbox where external_ref = %s", new.uid
    ) == [("ignored",)]
    assert run.query(
        "select id, starts_at, status::text, sync_state::text from public.appointments"
        " where patient_id = %s",
        run.patient,
    ) == [(uuid.UUID(appointment), run.at(13, 60), "scheduled", "synced")]

    counts = run.reconcile(run.at(12), run.at(14))
    assert {**counts, "checked": None} == {**NOTHING_TO_FIX, "checked": None}
    assert run.flags(appointment) == []
    assert run.query(
        "select starts_at, external_ref from public.appointments where id = %s", appointment
    ) == [(run.at(13, 60), new.uid)]


def test_a_move_of_a_cal_com_booking_refused_there_cancels_it_and_tells_the_patient_why(
    run: Run,
) -> None:
    uid, appointment = run.booked_in_cal_com(run.at(14))
    # Someone else took 16:00 on cal.com; that webhook never reached carebase.
    taken = run.fake.book_as_attendee(
        run.at(14, 120), "Walk-in Elsewhere", "elsewhere@example.com", event_type_id=EVENT_TYPE
    )
    run.fake.pending.clear()
    run.front_desk(
        "reschedule_appointment", appointment_id=appointment, starts_at=run.at(14, 120).isoformat()
    )
    run.push()
    # Cancelled here; the booking at the old time still stands in Cal.com, so it stays pending.
    assert run.state(appointment) == ("cancelled", "calendar_slot_taken", "pending", uid)
    run.push()
    assert run.fake.bookings[uid].status == "cancelled"
    assert sorted(run.fake.bookings) == sorted([uid, taken]), "no booking was made"
    assert run.state(appointment) == ("cancelled", "calendar_slot_taken", "synced", uid)
    assert run.flags(appointment) == [("slot_taken",)]

    # What the patient reads (the worker sends the outbox row's rendered text).
    told = run.query(
        "select r.title, r.body from private.outbox as o,"
        " private.render_notification(o.kind, o.recipient_kind, o.payload, 'Asia/Kolkata') as r"
        " where o.subject_id = %s and o.kind = 'appointment_cancelled'"
        " and o.recipient_kind = 'patient'",
        appointment,
    )
    assert len(told) == 1
    title, body = told[0]
    assert title == "Appointment cancelled"
    assert "the time was taken in the doctor's calendar" in body
    assert body.endswith("Please choose another time.")
    assert len(f"{title}: {body}") <= 160, "one SMS"  # the SMS the worker sends


def test_a_cancellation_of_a_cal_com_booking_waits_for_its_push_and_a_failed_one_is_flagged_once(
    run: Run,
) -> None:
    uid, appointment = run.booked_in_cal_com(run.at(15))
    run.front_desk("cancel_appointment", appointment_id=appointment, reason="patient called")
    # Pending: the reconciliation leaves it to the push, whatever Cal.com still shows.
    counts = run.reconcile(run.at(14), run.at(16))
    assert {**counts, "checked": None} == {**NOTHING_TO_FIX, "checked": None}
    assert run.state(appointment) == ("cancelled", "patient called", "pending", uid)
    assert run.flags(appointment) == []

    run.fake.fail_next = [403]  # our key may not touch this booking
    run.push()
    assert run.state(appointment) == ("cancelled", "patient called", "failed", uid)
    assert run.fake.bookings[uid].status == "accepted"
    assert run.flags(appointment) == [("push_failed",)]
    # The push's flag is the one flag: runs keep the appointment cancelled and add none.
    for _ in range(2):
        counts = run.reconcile(run.at(14), run.at(16))
        assert {**counts, "checked": None} == {**NOTHING_TO_FIX, "checked": None}
    assert run.state(appointment) == ("cancelled", "patient called", "failed", uid)
    assert run.flags(appointment) == [("push_failed",)]


def test_a_cancellation_in_carebase_reaches_the_booking_the_patient_moved_to_on_cal_com(
    run: Run,
) -> None:
    uid, appointment = run.booked_in_cal_com(run.at(16))
    # The patient moves it on cal.com; that webhook is lost.
    moved = run.fake.reschedule_as_attendee(uid, run.at(16, 60))
    run.fake.pending.clear()
    run.front_desk("cancel_appointment", appointment_id=appointment, reason="patient called")
    run.push()
    assert [(b.uid, b.status) for b in sorted(run.fake.bookings.values(), key=lambda b: b.id)] == [
        (uid, "cancelled"),
        (moved, "cancelled"),
    ], "the live booking went, none was made"
    assert run.state(appointment) == ("cancelled", "patient called", "synced", moved)
    assert run.query(
        "select external_ref, superseded from private.appointment_external_refs"
        " where appointment_id = %s order by superseded",
        appointment,
    ) == [(moved, False), (uid, True)]
    counts = run.reconcile(run.at(15), run.at(17))
    assert {**counts, "checked": None} == {**NOTHING_TO_FIX, "checked": None}


def test_a_cal_com_booking_gone_there_is_not_booked_again_when_moved_in_carebase(
    run: Run,
) -> None:
    uid, appointment = run.booked_in_cal_com(run.at(17))
    # The patient cancels on cal.com; that webhook is lost; the front desk moves it meanwhile.
    run.fake.cancel_as_attendee(uid)
    run.fake.pending.clear()
    run.front_desk(
        "reschedule_appointment", appointment_id=appointment, starts_at=run.at(17, 60).isoformat()
    )
    run.push()
    assert list(run.fake.bookings) == [uid], "no booking was made"
    assert run.state(appointment)[2] == "failed"
    assert run.flags(appointment) == [("push_failed",)]
    # The reconciliation brings Cal.com's news: the patient cancelled.
    counts = run.reconcile(run.at(16), run.at(18))
    assert counts["cancelled"] == 1
    assert run.state(appointment)[0] == "cancelled"
