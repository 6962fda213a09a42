"""Scheduling as an attacker with an ordinary account would try it (issue 10, findings 5, 12).

Two hospitals, A and B, made for the run. One doctor works at both; a patient is registered
at both; B has a patient of its own. The front desk of A, a patient of A and a doctor of A
call rpc/check_conflicts and book or move appointments into times held by appointments they
may not read: the doctor's at B, the shared patient's at B, another patient's at A, a room
at A. Every answer may say that the time is taken and on what (doctor, patient, room); none
may carry, anywhere in its message, details or hint, the id, patient, status or exact times
of an appointment the caller cannot read. A booking of a patient the caller cannot reach is
refused the same way whether or not that patient is busy then.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from psycopg import sql

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession

DAY = datetime(2041, 3, 5, tzinfo=UTC)  # a Tuesday, far from other tests' bookings
LOCAL = ZoneInfo("Asia/Kolkata")


def at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    return DAY + timedelta(days=days, hours=hour, minutes=minute)


@dataclass
class Appointment:
    id: str
    patient_id: str
    patient_name: str
    starts_at: datetime
    ends_at: datetime
    # The other hospital's id and name, when the appointment is there.
    elsewhere: tuple[str, ...] = ()
    status: str = "requested"

    def secrets(self) -> list[str]:
        """What must not reach a caller who cannot read this appointment."""
        times = []
        for moment in (self.starts_at, self.ends_at):
            times += [moment.isoformat(), moment.strftime("%H:%M")]
            times.append(moment.astimezone(LOCAL).strftime("%H:%M"))
        return [self.id, self.patient_id, self.patient_name, self.status, *self.elsewhere, *times]


@dataclass
class World:
    gateway: str
    anon_key: str
    hospital_a: str
    hospital_b: str
    doctor_a: str  # the doctor's profile at A (the same person has one at B)
    doctor_a2: str  # a colleague at A, on the shared patient's care team
    patient_1: str  # a patient of A with a login
    patient_2: str  # another patient of A
    shared: str  # a patient registered at A and at B
    b_only: str  # a patient of B only
    mine: str  # patient_1's appointment with doctor_a at A
    hidden: dict[str, Appointment] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def call(self, who: str, method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(
            method, f"{self.gateway}/rest/v1/{path}", headers=self.headers[who], **kwargs
        )

    def rpc(self, who: str, name: str, body: dict) -> httpx.Response:
        return self.call(who, "POST", f"rpc/{name}", json=body)


def _user(conn: psycopg.Connection, email: str, name: str) -> str:
    (user_id,) = conn.execute(
        "insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data)"
        " values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated',"
        " 'authenticated', %s, %s) returning id",
        (email, json.dumps({"full_name": name})),
    ).fetchone()
    return str(user_id)


def _one(conn: psycopg.Connection, query: str, params: tuple) -> str:
    (value,) = conn.execute(query, params).fetchone()
    return str(value)


@pytest.fixture(scope="module")
def world(stack: Settings, gateway: str) -> Iterator[World]:
    run = uuid.uuid4().hex[:6].upper()
    users: dict[str, str] = {}
    with psycopg.connect(stack.dsn()) as conn:
        hospital_a = _one(
            conn,
            "insert into public.hospitals (code, name) values (%s, %s) returning id",
            (f"AA{run}", f"Adversary A {run}"),
        )
        hospital_b_name = f"Hidden Hospital B {run}"
        hospital_b = _one(
            conn,
            "insert into public.hospitals (code, name) values (%s, %s) returning id",
            (f"AB{run}", hospital_b_name),
        )
        for name in ("front_desk_a", "doctor_both", "doctor_a2", "doctor_b", "patient_1"):
            users[name] = _user(conn, f"{name}.{run}@adversarial.test", name)
        conn.execute(
            "insert into public.staff_memberships (user_id, hospital_id, role) values"
            " (%s, %s, 'front_desk'), (%s, %s, 'doctor'), (%s, %s, 'doctor'),"
            " (%s, %s, 'doctor'), (%s, %s, 'doctor')",
            (
                users["front_desk_a"], hospital_a, users["doctor_both"], hospital_a,
                users["doctor_both"], hospital_b, users["doctor_a2"], hospital_a,
                users["doctor_b"], hospital_b,
            ),
        )  # fmt: skip
        doctor = {}
        for key, user, hospital in (
            ("a", users["doctor_both"], hospital_a),
            ("at_b", users["doctor_both"], hospital_b),
            ("a2", users["doctor_a2"], hospital_a),
            ("b", users["doctor_b"], hospital_b),
        ):
            doctor[key] = _one(
                conn,
                "insert into public.doctors (user_id, hospital_id, specialty, licence_number)"
                " values (%s, %s, 'General Medicine', %s) returning id",
                (user, hospital, f"ADV-{run}-{key}"),
            )
        conn.execute(
            "insert into public.doctor_working_hours"
            " (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)"
            " select %s, %s, d, '00:00', '23:30', 30 from generate_series(1, 7) as d",
            (doctor["a"], hospital_a),
        )
        patient, names = {}, {}
        for key, name, login, hospitals in (
            ("p1", f"Asker {run}", users["patient_1"], [hospital_a]),
            ("p2", f"Neighbour Kaur {run}", None, [hospital_a]),
            ("shared", f"Traveller Singh {run}", None, [hospital_a, hospital_b]),
            ("b_only", f"Stranger Devi {run}", None, [hospital_b]),
        ):
            patient[key] = _one(
                conn,
                "insert into public.patients (full_name, user_id) values (%s, %s) returning id",
                (name, login),
            )
            names[key] = name
            for hospital in hospitals:
                conn.execute(
                    "insert into public.patient_registrations (patient_id, hospital_id)"
                    " values (%s, %s)",
                    (patient[key], hospital),
                )
        conn.execute(
            "insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)"
            " values (%s, %s, %s, 'doctor')",
            (patient["shared"], hospital_a, users["doctor_a2"]),
        )

        def book(hospital, doctor_id, who, start, end, resource=None, status="requested"):
            return _one(
                conn,
                "insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at,"
                " ends_at, resource, status) values (%s, %s, %s, %s, %s, %s, %s) returning id",
                (hospital, doctor_id, patient[who], start, end, resource, status),
            )

        hidden = {}
        for key, hospital, doctor_id, who, start, end, resource in (
            ("doctor_at_b", hospital_b, doctor["at_b"], "b_only", at(4, 10), at(4, 50), None),
            ("shared_at_b", hospital_b, doctor["b"], "shared", at(5, 10), at(5, 50), None),
            ("other_patient", hospital_a, doctor["a"], "p2", at(6, 10), at(6, 50), "Room 7"),
        ):
            hidden[key] = Appointment(
                book(hospital, doctor_id, who, start, end, resource),
                patient[who],
                names[who],
                start,
                end,
                (hospital_b, hospital_b_name) if hospital == hospital_b else (),
            )
        mine = book(hospital_a, doctor["a"], "p1", at(9), at(9, 30), status="scheduled")
        conn.commit()

        session = PostgrestSession(conn)
        headers = {}
        for who, user, aal in (
            ("front_desk", users["front_desk_a"], "aal2"),
            ("doctor", users["doctor_a2"], "aal2"),
            ("patient", users["patient_1"], "aal1"),
        ):
            token = issue(session.claims_for(user, aal), stack.jwt_secret)
            headers[who] = {"apikey": stack.anon_key, "Authorization": f"Bearer {token}"}
        conn.rollback()

    yield World(
        gateway=gateway,
        anon_key=stack.anon_key,
        hospital_a=hospital_a,
        hospital_b=hospital_b,
        doctor_a=doctor["a"],
        doctor_a2=doctor["a2"],
        patient_1=patient["p1"],
        patient_2=patient["p2"],
        shared=patient["shared"],
        b_only=patient["b_only"],
        mine=mine,
        hidden=hidden,
        headers=headers,
    )

    # Everything the run made, dependents first (as the superuser, triggers off: clinical
    # and audit guards do not apply to test fixtures; audit entries stay, as always).
    hospitals = [hospital_a, hospital_b]
    people = list(users.values())
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        for schema, table in (("private", "outbox"), ("public", "status_history")):
            conn.execute(
                sql.SQL(
                    "delete from {} where subject_id in"
                    " (select id from public.appointments where hospital_id = any(%s::uuid[]))"
                ).format(sql.Identifier(schema, table)),
                (hospitals,),
            )
        for schema, table in (
            ("public", "appointments"),
            ("public", "care_team_members"),
            ("public", "doctor_working_hours"),
            ("public", "doctors"),
            ("public", "patient_registrations"),
            ("public", "staff_memberships"),
            ("private", "mrn_counters"),
        ):
            conn.execute(
                sql.SQL("delete from {} where hospital_id = any(%s::uuid[])").format(
                    sql.Identifier(schema, table)
                ),
                (hospitals,),
            )
        conn.execute(
            "delete from public.patients where id = any(%s::uuid[])", (list(patient.values()),)
        )
        conn.execute("delete from public.hospitals where id = any(%s::uuid[])", (hospitals,))
        conn.execute("delete from public.profiles where id = any(%s::uuid[])", (people,))
        conn.execute("delete from auth.users where id = any(%s::uuid[])", (people,))


def assert_reveals_nothing_of(response: httpx.Response, *appointments: Appointment) -> None:
    """The whole answer (message, details, hint, or the RPC's result) names none of these
    appointments: no id, patient id or name, status or time."""
    text = response.text.lower()
    for appointment in appointments:
        for secret in appointment.secrets():
            assert secret.lower() not in text, f"{secret!r} leaked in {response.text}"


def window(start: datetime, end: datetime, **extra: str) -> dict:
    return {"starts_at": start.isoformat(), "ends_at": end.isoformat(), **extra}


UNSEEN = {
    "appointment_id": None,
    "patient_id": None,
    "status": None,
    "start_time": None,
    "end_time": None,
}


# rpc/check_conflicts ---------------------------------------------------------------------------


def test_the_front_desk_hears_that_the_doctor_is_busy_at_the_other_hospital_and_no_more(
    world: World,
) -> None:
    answer = world.rpc(
        "front_desk", "check_conflicts", {"doctor_id": world.doctor_a, **window(at(4), at(5))}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["conflicting_appointments"] == [{**UNSEEN, "conflict_on": "doctor"}]
    assert_reveals_nothing_of(answer, world.hidden["doctor_at_b"])


def test_the_front_desk_hears_that_its_patient_is_busy_elsewhere_and_no_more(
    world: World,
) -> None:
    answer = world.rpc(
        "front_desk",
        "check_conflicts",
        {"doctor_id": world.doctor_a, "patient_id": world.shared, **window(at(5), at(5, 30))},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["conflicting_appointments"] == [{**UNSEEN, "conflict_on": "patient"}]
    assert_reveals_nothing_of(answer, world.hidden["shared_at_b"])


def test_the_front_desk_still_sees_its_own_hospitals_clash_in_full(world: World) -> None:
    answer = world.rpc(
        "front_desk", "check_conflicts", {"doctor_id": world.doctor_a, **window(at(6), at(7))}
    )
    assert answer.status_code == 200, answer.text
    [clash] = answer.json()["conflicting_appointments"]
    own = world.hidden["other_patient"]
    assert (clash["appointment_id"], clash["patient_id"], clash["status"]) == (
        own.id,
        own.patient_id,
        "requested",
    )


def test_no_one_lists_the_appointments_of_a_patient_out_of_their_reach(world: World) -> None:
    for who, patient in (
        ("front_desk", world.b_only),
        ("patient", world.patient_2),
        ("patient", world.shared),
        ("doctor", world.patient_2),
    ):
        answer = world.rpc(
            who,
            "check_conflicts",
            {"doctor_id": world.doctor_a, "patient_id": patient, **window(at(0), at(23))},
        )
        assert answer.status_code == 403, (who, answer.text)
        assert answer.json()["code"] == "42501"
        assert_reveals_nothing_of(answer, *world.hidden.values())
        stranger = world.rpc(
            who,
            "check_conflicts",
            {"doctor_id": world.doctor_a, "patient_id": str(uuid.uuid4()), **window(at(0), at(23))},
        )
        assert (stranger.status_code, stranger.json()) == (answer.status_code, answer.json())


def test_a_patient_and_a_doctor_hear_that_the_doctor_is_busy_not_with_whom(
    world: World,
) -> None:
    for who in ("patient", "doctor"):
        answer = world.rpc(
            who, "check_conflicts", {"doctor_id": world.doctor_a, **window(at(4), at(7))}
        )
        assert answer.status_code == 200, (who, answer.text)
        assert answer.json()["conflicting_appointments"] == [{**UNSEEN, "conflict_on": "doctor"}]
        assert_reveals_nothing_of(
            answer, world.hidden["doctor_at_b"], world.hidden["other_patient"]
        )


def test_an_appointment_out_of_reach_cannot_be_left_out_to_confirm_its_time(
    world: World,
) -> None:
    answer = world.rpc(
        "front_desk",
        "check_conflicts",
        {
            "doctor_id": world.doctor_a,
            "exclude_appointment_id": world.hidden["doctor_at_b"].id,
            **window(at(4), at(5)),
        },
    )
    assert answer.status_code == 404, answer.text
    assert_reveals_nothing_of(answer, world.hidden["doctor_at_b"])


# Booking and moving into clashes ----------------------------------------------------------------


def test_booking_into_clashes_over_the_rpc_is_a_409_that_names_nothing_unseen(
    world: World,
) -> None:
    attempts = [
        (
            "front_desk",
            {
                "doctor_id": world.doctor_a,
                "patient_id": world.patient_1,
                **window(at(4), at(4, 30)),
            },
            "the doctor is already booked at this time",
            world.hidden["doctor_at_b"],
        ),
        (
            "front_desk",
            {"doctor_id": world.doctor_a2, "patient_id": world.shared, **window(at(5), at(5, 30))},
            "the patient is already booked at this time",
            world.hidden["shared_at_b"],
        ),
        (
            "patient",
            {"doctor_id": world.doctor_a, "starts_at": at(6).isoformat()},
            "the doctor is already booked at this time",
            world.hidden["other_patient"],
        ),
        (
            "doctor",
            {
                "doctor_id": world.doctor_a2,
                "patient_id": world.shared,
                **window(at(5, 20), at(5, 40)),
            },
            "the patient is already booked at this time",
            world.hidden["shared_at_b"],
        ),
        (
            "doctor",
            {
                "doctor_id": world.doctor_a2,
                "patient_id": world.shared,
                "resource": "Room 7",
                **window(at(6, 20), at(6, 40)),
            },
            "the resource is already booked at this time",
            world.hidden["other_patient"],
        ),
    ]
    for who, body, message, hidden in attempts:
        answer = world.rpc(who, "book_appointment", body)
        assert answer.status_code == 409, (who, answer.text)
        assert answer.json()["code"] == "23P01"
        assert answer.json()["message"] == message
        assert_reveals_nothing_of(answer, hidden)


def test_moving_an_appointment_into_a_clash_names_nothing_unseen(world: World) -> None:
    for who, start, hidden in (
        ("front_desk", at(4, 20), world.hidden["doctor_at_b"]),
        ("patient", at(6, 20), world.hidden["other_patient"]),
    ):
        answer = world.rpc(
            who,
            "reschedule_appointment",
            {"appointment_id": world.mine, "starts_at": start.isoformat()},
        )
        assert answer.status_code == 409, (who, answer.text)
        assert answer.json()["message"] == "the doctor is already booked at this time"
        assert_reveals_nothing_of(answer, hidden)
        patched = world.call(
            who,
            "PATCH",
            f"appointments?id=eq.{world.mine}",
            json={
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(minutes=30)).isoformat(),
            },
        )
        assert patched.status_code == 409, (who, patched.text)
        assert patched.json()["message"] == "the doctor is already booked at this time"
        assert_reveals_nothing_of(patched, hidden)


def test_a_direct_insert_into_a_clash_gets_the_same_answer(world: World) -> None:
    answer = world.call(
        "front_desk",
        "POST",
        "appointments",
        json={
            "hospital_id": world.hospital_a,
            "doctor_id": world.doctor_a,
            "patient_id": world.patient_1,
            **window(at(4), at(4, 30)),
        },
    )
    assert answer.status_code == 409, answer.text
    assert answer.json()["message"] == "the doctor is already booked at this time"
    assert_reveals_nothing_of(answer, world.hidden["doctor_at_b"])


def test_booking_another_hospitals_patient_answers_alike_busy_or_not(world: World) -> None:
    """No oracle on B's schedule: busy then, free then, or no such patient, one answer."""

    def book(patient: str, start: datetime) -> httpx.Response:
        return world.call(
            "front_desk",
            "POST",
            "appointments",
            json={
                "hospital_id": world.hospital_a,
                "doctor_id": world.doctor_a2,
                "patient_id": patient,
                **window(start, start + timedelta(minutes=30)),
            },
        )

    busy = book(world.b_only, at(4, 20))
    free = book(world.b_only, at(4, 20, days=1))
    unknown = book(str(uuid.uuid4()), at(4, 20))
    assert busy.status_code == 403, busy.text
    assert (busy.json(), free.status_code, free.json()) == (unknown.json(), 403, busy.json())
    assert_reveals_nothing_of(busy, world.hidden["doctor_at_b"])
