"""No double booking under concurrency: the exclusion constraints hold whatever path writes.

Many connections book overlapping times for one doctor at the same instant, as the front
desk would through PostgREST (role `authenticated`, the user's claims), half through the
`book_appointment` RPC and half by inserting the row directly. Exactly one booking wins;
every other one fails with SQLSTATE 23P01 (HTTP 409) naming the winner, whichever path it took.
Runs on a scratch database (platform shim + migrations), so nothing is left behind.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.conftest import ScratchDatabase

BOOKINGS = 12
TIMEOUT_SECONDS = 30
FIRST_START = datetime(2030, 6, 3, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Clinic:
    dsn: str
    front_desk: uuid.UUID
    doctor: uuid.UUID
    patients: list[uuid.UUID]
    hospital: uuid.UUID


def _user(conn: psycopg.Connection, name: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    conn.execute(
        "insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data)"
        " values ('00000000-0000-0000-0000-000000000000', %s, 'authenticated',"
        " 'authenticated', %s, %s)",
        (user_id, f"{name}@concurrency.test", json.dumps({"full_name": name})),
    )
    return user_id


@pytest.fixture
def clinic(migrated_copy: ScratchDatabase) -> Clinic:
    dsn = migrated_copy.dsn()
    with psycopg.connect(dsn, autocommit=True) as conn:
        (hospital,) = conn.execute(
            "insert into public.hospitals (code, name)"
            " values ('CONC', 'Concurrency Hospital') returning id"
        ).fetchone()
        front_desk = _user(conn, "front_desk")
        doctor_user = _user(conn, "doctor")
        conn.execute(
            "insert into public.staff_memberships (user_id, hospital_id, role)"
            " values (%s, %s, 'front_desk'), (%s, %s, 'doctor')",
            (front_desk, hospital, doctor_user, hospital),
        )
        (doctor,) = conn.execute(
            "insert into public.doctors (user_id, hospital_id, specialty, licence_number)"
            " values (%s, %s, 'General Medicine', 'CONC-1') returning id",
            (doctor_user, hospital),
        ).fetchone()
        patients = []
        for n in range(BOOKINGS):
            (patient,) = conn.execute(
                "insert into public.patients (full_name) values (%s) returning id",
                (f"Patient {n}",),
            ).fetchone()
            conn.execute(
                "insert into public.patient_registrations (patient_id, hospital_id, mrn)"
                " values (%s, %s, %s)",
                (patient, hospital, f"CONC-{n:04d}"),
            )
            patients.append(patient)
    return Clinic(dsn, front_desk, doctor, patients, hospital)


def _book(clinic: Clinic, n: int, start: threading.Barrier) -> tuple[str, str]:
    """Books patient n at 10:00 + n seconds for 30 minutes: every pair overlaps."""
    claims = json.dumps({"sub": str(clinic.front_desk), "role": "authenticated"})
    starts_at = FIRST_START + timedelta(seconds=n)
    ends_at = starts_at + timedelta(minutes=30)
    with psycopg.connect(clinic.dsn, connect_timeout=10) as conn:
        conn.execute("set statement_timeout = '20s'")
        conn.execute(
            "select set_config('role', 'authenticated', true),"
            " set_config('request.jwt.claims', %s, true)",
            (claims,),
        )
        start.wait(timeout=TIMEOUT_SECONDS)
        try:
            if n % 2 == 0:
                (booked,) = conn.execute(
                    "select id from public.book_appointment(%s, %s, %s, patient_id => %s)",
                    (clinic.doctor, starts_at, ends_at, clinic.patients[n]),
                ).fetchone()
            else:
                (booked,) = conn.execute(
                    "insert into public.appointments"
                    " (hospital_id, doctor_id, patient_id, starts_at, ends_at)"
                    " values (%s, %s, %s, %s, %s) returning id",
                    (clinic.hospital, clinic.doctor, clinic.patients[n], starts_at, ends_at),
                ).fetchone()
            conn.commit()
            return "booked", str(booked)
        except psycopg.Error as error:
            conn.rollback()
            return error.sqlstate or "", str(error)


def test_parallel_overlapping_bookings_yield_exactly_one_appointment(clinic: Clinic) -> None:
    start = threading.Barrier(BOOKINGS)
    with ThreadPoolExecutor(max_workers=BOOKINGS) as pool:
        futures = [pool.submit(_book, clinic, n, start) for n in range(BOOKINGS)]
        outcomes = [future.result(timeout=TIMEOUT_SECONDS) for future in futures]

    winners = [detail for outcome, detail in outcomes if outcome == "booked"]
    assert len(winners) == 1, outcomes
    (winner,) = winners
    conflicts = [
        (n, outcome, detail) for n, (outcome, detail) in enumerate(outcomes) if outcome != "booked"
    ]
    assert len(conflicts) == BOOKINGS - 1
    assert {outcome for _, outcome, _ in conflicts} == {"23P01"}, conflicts
    through_rpc = [detail for n, _, detail in conflicts if n % 2 == 0]
    assert through_rpc, "some losers booked through the RPC"
    for detail in through_rpc:
        assert "the doctor is already booked" in detail
        assert f"(appointment {winner})" in detail
    # A direct insert waits on the booking locks, then its clash check sees the committed
    # winner: the same clear answer, not the bare constraint error.
    directly = [detail for n, _, detail in conflicts if n % 2 == 1]
    assert directly, "some losers inserted the row directly"
    for detail in directly:
        assert "the doctor is already booked from" in detail, detail
        assert f"(appointment {winner})" in detail

    with psycopg.connect(clinic.dsn) as conn:
        rows = conn.execute(
            "select id::text, status::text from public.appointments where doctor_id = %s",
            (clinic.doctor,),
        ).fetchall()
        history = conn.execute(
            "select count(*) from public.status_history where subject_id = %s", (winner,)
        ).fetchone()
    assert rows == [(winner, "scheduled")]
    assert history == (1,), "only the winner's creation is recorded; the losers left no trace"


def test_a_doctor_of_two_hospitals_cannot_be_booked_at_both_at_once(clinic: Clinic) -> None:
    """Two doctor profiles, one person: the overlap rule follows the person."""
    with psycopg.connect(clinic.dsn, autocommit=True) as conn:
        (doctor_user,) = conn.execute(
            "select user_id from public.doctors where id = %s", (clinic.doctor,)
        ).fetchone()
        (second,) = conn.execute(
            "insert into public.hospitals (code, name) values ('CON2', 'Second Hospital')"
            " returning id"
        ).fetchone()
        conn.execute(
            "insert into public.staff_memberships (user_id, hospital_id, role)"
            " values (%s, %s, 'doctor')",
            (doctor_user, second),
        )
        (second_profile,) = conn.execute(
            "insert into public.doctors (user_id, hospital_id, specialty, licence_number)"
            " values (%s, %s, 'General Medicine', 'CON2-1') returning id",
            (doctor_user, second),
        ).fetchone()
        conn.execute(
            "insert into public.patient_registrations (patient_id, hospital_id, mrn)"
            " values (%s, %s, 'CON2-0001')",
            (clinic.patients[1], second),
        )
        book = (
            "insert into public.appointments"
            " (hospital_id, doctor_id, patient_id, starts_at, ends_at)"
            " values (%s, %s, %s, '2030-06-04 09:00+00', '2030-06-04 09:30+00')"
        )
        conn.execute(book, (clinic.hospital, clinic.doctor, clinic.patients[0]))
        with pytest.raises(psycopg.errors.ExclusionViolation, match="no_doctor_overlap"):
            conn.execute(book, (second, second_profile, clinic.patients[1]))
