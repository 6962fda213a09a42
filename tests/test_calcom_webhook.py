"""Cal.com webhooks through the running sidecar (issue 14, items 1 and 2), as Cal.com, the
hospital admin and the front desk see them: only a correctly signed body is stored; a replay
is a 200 no-op; events out of order or along a reschedule chain leave one correct
appointment; an unknown organizer waits in the inbox until the admin links the doctor and
re-applies it; a clash is flagged for the front desk; an unknown phone becomes one patient.

Runs on the demo hospital (seed.sql) at far-future times chosen per run; every uid, phone and
Cal.com user id carries the run's tag, and what the run made is removed afterwards.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from devstack import services
from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession
from sidecar.app import create_app
from sidecar.integrations.calcom_webhook import sign
from sidecar.settings import SidecarSettings
from tests.fakes.calcom import FakeCalcom

ADMIN = "admin@nabha.carebase.test"
FRONT_DESK = "frontdesk@nabha.carebase.test"
HOSPITAL = "10000000-0000-4000-8000-000000000001"
# Two demo doctors: one linked for the run, one the admin links during a test.
LINKED_DOCTOR = "30000000-0000-4000-8000-000000000002"
LATE_DOCTOR = "30000000-0000-4000-8000-000000000003"


class Run:
    """This run's tag, times, Cal.com ids, and the clients that speak for each party."""

    def __init__(self, stack: Settings, sidecar: str) -> None:
        self.stack = stack
        self.tag = f"pytest-{uuid.uuid4().hex[:8]}"
        self.secret = services.sidecar_environment(stack)["CAREBASE_CALCOM_WEBHOOK_SECRET"]
        self.webhook = f"{sidecar}/api/v1/webhooks/cal"
        # A random day in 2041-2049 so that runs never meet each other's bookings.
        days = random.randrange(0, 365 * 8)  # noqa: S311
        self.day0 = datetime(2041, 1, 1, 4, 0, tzinfo=UTC) + timedelta(days=days)
        self.cal_user = random.randrange(10**9, 10**10)  # noqa: S311
        self.phones: list[str] = []
        # Uids that do not carry the tag (made by the Cal.com fake), to remove afterwards.
        self.refs: list[str] = []

    def uid(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def at(self, day: int, minutes: int = 0) -> datetime:
        return self.day0 + timedelta(days=day, minutes=minutes)

    def phone(self) -> str:
        number = f"+9197{random.randrange(10**7, 10**8)}"  # noqa: S311
        self.phones.append(number)
        return number

    def headers(self, email: str) -> dict[str, str]:
        with psycopg.connect(self.stack.dsn()) as conn:
            claims = PostgrestSession(conn).claims_for(email)
        return {
            "apikey": self.stack.anon_key,
            "Authorization": f"Bearer {issue(claims, self.stack.jwt_secret)}",
        }

    def rest(self, email: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.stack.api_url}/rest/v1", headers=self.headers(email), timeout=30
        )

    def body(
        self,
        trigger: str,
        uid: str,
        starts: datetime,
        *,
        phone: str | None = None,
        organizer: int | None = None,
        **booking: Any,
    ) -> bytes:
        payload = {
            "uid": uid,
            "title": "Consultation",
            "status": {"BOOKING_CANCELLED": "CANCELLED", "BOOKING_REQUESTED": "PENDING"}.get(
                trigger, "ACCEPTED"
            ),
            "startTime": starts.isoformat().replace("+00:00", "Z"),
            "endTime": (starts + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"),
            "organizer": {
                "id": organizer or self.cal_user,
                "email": f"{self.tag}@cal.test",
                "timeZone": "Asia/Kolkata",
            },
            "attendees": [
                {"name": "Cal Attendee", "email": None, "phoneNumber": phone or self.phones[0]}
            ],
            "location": "integrations:daily",
            **booking,
        }
        created = datetime.now(UTC).isoformat()
        return json.dumps(
            {"triggerEvent": trigger, "createdAt": created, "payload": payload}
        ).encode()

    def send(self, body: bytes, signature: str | None = "sign") -> httpx.Response:
        headers = {"Content-Type": "application/json", "X-Cal-Webhook-Version": "2021-10-20"}
        if signature == "sign":
            headers["X-Cal-Signature-256"] = sign(self.secret, body)
        elif signature is not None:
            headers["X-Cal-Signature-256"] = signature
        return httpx.post(self.webhook, content=body, headers=headers, timeout=30)

    def deliver(self, body: bytes) -> dict[str, Any]:
        response = self.send(body)
        assert response.status_code == 200, response.text
        return response.json()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.stack.dsn()) as conn:
            return conn.execute(sql, params).fetchall()

    def walk_in(self) -> str:
        """A patient of the hospital with the run's phone (removed with the run, care team
        included), so that no demo patient's care team is changed."""
        (patient,) = self.query(
            "with p as (insert into public.patients (full_name, phone) values ('Run Patient', %s)"
            " returning id) insert into public.patient_registrations (patient_id, hospital_id, mrn)"
            " select p.id, %s, %s from p returning patient_id",
            self.phone(),
            HOSPITAL,
            f"RUN-{self.tag[-10:]}",
        )[0]
        return str(patient)


def _link(run: Run, doctor: str, cal_user: int) -> httpx.Response:
    with run.rest(ADMIN) as rest:
        return rest.post(
            "/doctor_calendar_links",
            json={
                "hospital_id": HOSPITAL,
                "doctor_id": doctor,
                "cal_user_id": cal_user,
                "cal_email": f"{run.tag}.{cal_user}@cal.test",
            },
            headers={"Prefer": "return=representation"},
        )


@pytest.fixture
def run(stack: Settings, sidecar: str) -> Iterator[Run]:
    """The run, with LINKED_DOCTOR linked by the admin to the run's Cal.com user."""
    the_run = Run(stack, sidecar)
    the_run.phone()
    with psycopg.connect(stack.dsn()) as conn:
        conn.execute(
            "delete from public.doctor_calendar_links where doctor_id in (%s, %s)",
            (LINKED_DOCTOR, LATE_DOCTOR),
        )
    linked = _link(the_run, LINKED_DOCTOR, the_run.cal_user)
    assert linked.status_code == 201, linked.text
    yield the_run
    _clean(the_run)


def _clean(run: Run) -> None:
    like = f"{run.tag}-%"
    ours = "(external_ref like %s or external_ref = any(%s))"
    with psycopg.connect(run.stack.dsn()) as conn:
        conn.execute(
            "delete from public.doctor_calendar_links where doctor_id in (%s, %s)",
            (LINKED_DOCTOR, LATE_DOCTOR),
        )
        appointments = f"select id from public.appointments where {ours} or reason = %s"  # noqa: S608
        conn.execute(
            f"delete from public.calendar_sync_flags where {ours}"  # noqa: S608
            f" or appointment_id in ({appointments})",
            (like, run.refs, like, run.refs, run.tag),
        )
        conn.execute(
            f"delete from private.webhook_inbox where {ours}",  # noqa: S608
            (like, run.refs),
        )
        # Their notifications too, so that the worker never delivers for a removed booking.
        conn.execute(
            f"delete from private.outbox where subject_id in ({appointments})",  # noqa: S608
            (like, run.refs, run.tag),
        )
        conn.execute(
            f"delete from public.appointments where {ours} or reason = %s",  # noqa: S608
            (like, run.refs, run.tag),
        )
        if run.phones:
            patients = "select id from public.patients where phone = any(%s)"
            for table in ("care_team_members", "patient_registrations"):
                conn.execute(
                    f"delete from public.{table} where patient_id in ({patients})",  # noqa: S608
                    (run.phones,),
                )
            conn.execute("delete from public.patients where phone = any(%s)", (run.phones,))


def appointments_of(run: Run, uid: str) -> list[tuple[Any, ...]]:
    """(id, status, external_ref, starts_at, patient_id, source, sync_state) of the appointment
    that mirrors `uid` (through the lineage)."""
    return run.query(
        "select a.id, a.status::text, a.external_ref, a.starts_at, a.patient_id, a.source::text,"
        " a.sync_state::text from public.appointments as a"
        " where a.id in (select r.appointment_id from private.appointment_external_refs as r"
        " where r.external_ref = %s) or a.external_ref = %s",
        uid,
        uid,
    )


def test_forged_or_missing_signatures_are_refused_and_store_nothing(run: Run) -> None:
    body = run.body("BOOKING_CREATED", run.uid("forged"), run.at(0))
    forged = {
        "missing": None,
        "empty": "",
        "unsigned (Cal.com's literal)": "no-secret-provided",
        "another secret": sign("not-the-secret", body),
        "another body": sign(run.secret, body + b" "),
        "upper case": sign(run.secret, body).upper(),
        "garbage": "zz" * 32,
    }
    for why, signature in forged.items():
        response = run.send(body, signature)
        assert response.status_code == 401, why
        assert response.json()["code"] == "invalid_signature", why
    # A body changed after signing (the signature of the original).
    tampered = body.replace(b"Cal Attendee", b"Mallory Cal")
    assert run.send(tampered, sign(run.secret, body)).status_code == 401
    assert run.query(
        "select count(*) from private.webhook_inbox where external_ref = %s", run.uid("forged")
    ) == [(0,)]
    assert appointments_of(run, run.uid("forged")) == []


def test_unconfigured_secret_refuses_every_webhook() -> None:
    app = create_app(SidecarSettings(calcom_webhook_secret=""))
    with TestClient(app) as client:
        body = b'{"triggerEvent": "BOOKING_CREATED", "payload": {}}'
        response = client.post(
            "/api/v1/webhooks/cal",
            content=body,
            headers={"X-Cal-Signature-256": "no-secret-provided"},
        )
    assert response.status_code == 503
    assert response.json()["code"] == "not_configured"


def test_the_same_webhook_twice_is_one_appointment_and_a_200_no_op(run: Run) -> None:
    uid = run.uid("twice")
    first = run.deliver(run.body("BOOKING_CREATED", uid, run.at(1)))
    # Cal.com re-sending the event: the same booking, a new createdAt.
    second = run.deliver(run.body("BOOKING_CREATED", uid, run.at(1)))
    assert first["outcome"] == "applied"
    assert second["outcome"] == "duplicate"
    assert second["inbox_entry_id"] == first["inbox_entry_id"]
    rows = appointments_of(run, uid)
    assert len(rows) == 1
    _, status, external_ref, _, _, source, sync_state = rows[0]
    assert (status, external_ref, source, sync_state) == ("scheduled", uid, "calcom", "synced")
    assert run.query(
        "select deliveries, outcome from private.webhook_inbox where id = %s",
        first["inbox_entry_id"],
    ) == [(2, "applied")]
    # Written as the service role, by this delivery: the audit trail names both.
    audited = run.query(
        "select l.actor_db_role, l.actor_jwt_role, l.request_path from audit.log as l"
        " join private.webhook_inbox as i on i.request_id = l.request_id"
        " where i.id = %s and l.table_name = 'public.appointments' and l.action = 'INSERT'",
        first["inbox_entry_id"],
    )
    assert audited == [("service_role", "service_role", "/rpc/receive_calcom_webhook")]
    # Booked as an app booking is: the doctor and the patient are told once.
    assert run.query(
        "select count(*) from private.outbox where subject_id = %s and kind = 'appointment_booked'",
        rows[0][0],
    ) == [(2,)]


def test_cancelled_before_created_leaves_one_cancelled_appointment(run: Run) -> None:
    uid = run.uid("reverse")
    cancelled = run.deliver(
        run.body("BOOKING_CANCELLED", uid, run.at(2), cancellationReason="cannot travel")
    )
    created = run.deliver(run.body("BOOKING_CREATED", uid, run.at(2)))
    assert cancelled["outcome"] == "applied"
    assert (created["outcome"], created["reason"]) == ("ignored", "not_forward")
    rows = appointments_of(run, uid)
    assert [row[1] for row in rows] == ["cancelled"]
    assert run.query("select status_reason from public.appointments where id = %s", rows[0][0]) == [
        ("cancelled in Cal.com: cannot travel",)
    ]


def test_a_reschedule_chain_of_three_uids_is_one_appointment_found_by_its_first_uid(
    run: Run,
) -> None:
    first, second, third = run.uid("chain-a"), run.uid("chain-b"), run.uid("chain-c")
    made = run.deliver(run.body("BOOKING_CREATED", first, run.at(3)))
    run.deliver(run.body("BOOKING_RESCHEDULED", second, run.at(4), rescheduleUid=first))
    # The third under the wrong trigger, with the null rescheduledToUid Cal.com sometimes sends.
    run.deliver(
        run.body("BOOKING_CREATED", third, run.at(5), rescheduleUid=second, rescheduledToUid=None)
    )
    for uid in (first, second, third):
        rows = appointments_of(run, uid)
        assert [(row[0], row[2], row[3]) for row in rows] == [
            (uuid.UUID(made["appointment_id"]), third, run.at(5))
        ], uid
    cancel = run.deliver(run.body("BOOKING_CANCELLED", first, run.at(3)))
    assert cancel["outcome"] == "applied"
    assert cancel["appointment_id"] == made["appointment_id"]
    rows = appointments_of(run, third)
    assert [(row[1], row[3]) for row in rows] == [("cancelled", run.at(5))]


def test_an_unknown_organizer_waits_until_the_admin_links_the_doctor_and_reapplies(
    run: Run,
) -> None:
    stranger = run.cal_user + 1
    uid = run.uid("late-link")
    stored = run.deliver(run.body("BOOKING_CREATED", uid, run.at(6), organizer=stranger))
    assert (stored["outcome"], stored["reason"]) == ("unprocessable", "unknown_organizer")
    assert appointments_of(run, uid) == []
    with run.rest(ADMIN) as rest:
        listed = rest.post(
            "/rpc/webhook_inbox_entries", json={}, params={"external_ref": f"eq.{uid}"}
        )
        assert listed.status_code == 200, listed.text
        assert listed.json() == [], "an entry that matched no hospital is nobody's to see"
    linked = _link(run, LATE_DOCTOR, stranger)
    assert linked.status_code == 201, linked.text
    with run.rest(ADMIN) as rest:
        listed = rest.post(
            "/rpc/webhook_inbox_entries", json={}, params={"external_ref": f"eq.{uid}"}
        )
        assert [(e["id"], e["outcome"], e["reason"]) for e in listed.json()] == [
            (stored["inbox_entry_id"], "unprocessable", "unknown_organizer")
        ]
        reapplied = rest.post(
            "/rpc/reapply_webhook", json={"inbox_entry_id": stored["inbox_entry_id"]}
        )
        assert reapplied.status_code == 200, reapplied.text
        assert reapplied.json()["outcome"] == "applied"
        again = rest.post("/rpc/reapply_webhook", json={"inbox_entry_id": stored["inbox_entry_id"]})
        assert again.status_code == 409
    rows = appointments_of(run, uid)
    assert [row[1] for row in rows] == ["scheduled"]
    assert run.query("select doctor_id from public.appointments where id = %s", rows[0][0]) == [
        (uuid.UUID(LATE_DOCTOR),)
    ]


def test_a_clashing_booking_is_flagged_for_the_front_desk(run: Run) -> None:
    starts = run.at(7)
    patient = run.walk_in()
    with run.rest(FRONT_DESK) as rest:
        booked = rest.post(
            "/rpc/book_appointment",
            json={
                "doctor_id": LINKED_DOCTOR,
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(minutes=30)).isoformat(),
                "patient_id": str(patient),
                "reason": run.tag,
            },
        )
        assert booked.status_code == 200, booked.text
        local = booked.json()["id"]
    uid = run.uid("clash")
    flagged = run.deliver(run.body("BOOKING_CREATED", uid, starts + timedelta(minutes=15)))
    assert (flagged["outcome"], flagged["reason"]) == ("flagged", "clash")
    assert appointments_of(run, uid) == []
    with run.rest(FRONT_DESK) as rest:
        flags = rest.get("/calendar_sync_flags", params={"external_ref": f"eq.{uid}"}).json()
        assert [(f["kind"], f["details"]["clashes"][0]["appointment_id"]) for f in flags] == [
            ("clash", local)
        ]
        assert flags[0]["details"]["attendee"]["phone"] == run.phones[0]
        payload = rest.post(
            "/rpc/webhook_inbox_payload", json={"inbox_entry_id": flagged["inbox_entry_id"]}
        )
        assert payload.status_code == 404, "the front desk reads no raw payload"


def test_an_unknown_phone_becomes_one_unverified_patient_reused_by_the_next_booking(
    run: Run,
) -> None:
    phone = run.phone()
    first = run.deliver(run.body("BOOKING_CREATED", run.uid("new-1"), run.at(8), phone=phone))
    second = run.deliver(run.body("BOOKING_CREATED", run.uid("new-2"), run.at(9), phone=phone))
    assert first["outcome"] == second["outcome"] == "applied"
    patients = run.query(
        "select p.id, p.user_id, p.full_name, r.hospital_id, r.referral_source"
        " from public.patients as p join public.patient_registrations as r on r.patient_id = p.id"
        " where p.phone = %s",
        phone,
    )
    assert len(patients) == 1
    patient, login, name, hospital, source = patients[0]
    assert (login, name, str(hospital), source) == (None, "Cal Attendee", HOSPITAL, "calcom")
    for uid in (run.uid("new-1"), run.uid("new-2")):
        assert [row[4] for row in appointments_of(run, uid)] == [patient]


def test_events_of_one_booking_arriving_together_agree_on_one_appointment(run: Run) -> None:
    """Cal.com sends CREATED and CANCELLED of a booking within moments; they may be applied
    at once. Each pair must end as one cancelled appointment, never a failed apply."""
    pairs = [run.uid(f"race-{n}") for n in range(6)]
    bodies = [
        body
        for n, uid in enumerate(pairs)
        for body in (
            run.body("BOOKING_CREATED", uid, run.at(10 + n)),
            run.body("BOOKING_CANCELLED", uid, run.at(10 + n)),
        )
    ]
    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        answers = list(pool.map(run.deliver, bodies))
    assert {answer["outcome"] for answer in answers} <= {"applied", "ignored"}, answers
    for uid in pairs:
        assert [row[1] for row in appointments_of(run, uid)] == ["cancelled"], uid


def test_a_signed_malformed_body_is_stored_unprocessable_and_answered_200(run: Run) -> None:
    for body, reason in (
        (
            b'{"triggerEvent": "BOOKING_CREATED", "payload": {"uid": "' + run.uid("bad").encode(),
            "malformed_json",
        ),
        (
            json.dumps(
                {
                    "triggerEvent": "BOOKING_CREATED",
                    "payload": {"uid": run.uid("bad"), "startTime": "soon"},
                }
            ).encode(),
            "malformed_event",
        ),
    ):
        answer = run.deliver(body)
        assert (answer["outcome"], answer["reason"]) == ("unprocessable", reason)
        digest = hashlib.sha256(body).hexdigest()
        assert run.query(
            "select outcome, reason from private.webhook_inbox where id = %s and body_sha256 = %s",
            answer["inbox_entry_id"],
            digest,
        ) == [("unprocessable", reason)]
        run.query(
            "delete from private.webhook_inbox where id = %s returning id", answer["inbox_entry_id"]
        )


def test_a_body_over_the_limit_is_refused_before_it_is_read_whole() -> None:
    app = create_app(SidecarSettings(calcom_webhook_secret="s3cret", webhook_max_bytes=1024))
    body = b'{"triggerEvent": "BOOKING_CREATED", "pad": "' + b"x" * 2048 + b'"}'
    with TestClient(app) as client:
        response = client.post(
            "/api/v1/webhooks/cal",
            content=body,
            headers={"X-Cal-Signature-256": sign("s3cret", body)},
        )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_the_cal_com_fake_s_webhooks_doubled_and_reversed_leave_one_correct_appointment(
    run: Run,
) -> None:
    """The local Cal.com fake (tests/fakes/calcom.py) sends what Cal.com sends, signed with the
    sidecar's secret: a booking on the doctor's page, two reschedules, the meeting started and
    ended; every webhook twice, newest first."""
    fake = FakeCalcom(webhook_secret=run.secret, subscriber_url=run.webhook)
    fake.add_user(run.cal_user, "Dr. Run", f"{run.tag}@cal.test")
    fake.add_event_type(9001, run.cal_user, "consultation", "Consultation", 30)
    first = fake.book_as_attendee(
        run.at(20), "Fake Patient", "", phone_number=run.phones[0], event_type_id=9001
    )
    second = fake.reschedule_as_attendee(first, run.at(21))
    third = fake.reschedule_as_attendee(second, run.at(22))
    fake.start_meeting(third)
    fake.end_meeting(third)
    run.refs.extend([first, second, third])
    fake.duplicating = True
    deliveries = fake.deliver(reverse=True)
    assert [d.status_code for d in deliveries] == [200] * 10
    rows = appointments_of(run, first)
    assert [(row[1], row[2], row[3]) for row in rows] == [("completed", third, run.at(22))]
    assert appointments_of(run, second) == rows == appointments_of(run, third)
    assert run.query(
        "select count(*), sum(deliveries) from private.webhook_inbox where external_ref = any(%s)",
        [first, second, third],
    ) == [(5, 10)]
