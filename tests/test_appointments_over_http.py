"""Scheduling through the REST API as the hospital's staff would: a clash is HTTP 409 naming
the appointment in the way, a reschedule keeps the appointment, a nurse checks a patient in
but cannot move the appointment, and a doctor's week is replaced in one call or not at all.

Runs against the gateway on the demo hospital (seed.sql), at a far-future time chosen per run,
and removes or restores what it changed afterwards.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession

FRONT_DESK = "frontdesk@nabha.carebase.test"
NURSE = "nurse@nabha.carebase.test"
DOCTOR_USER = "20000000-0000-4000-8000-000000000002"
# Another demo doctor, whose weekly hours the schedule test replaces and then restores.
SCHEDULED_DOCTOR_USER = "20000000-0000-4000-8000-000000000004"


def _headers(stack: Settings, email: str) -> dict[str, str]:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(email)
    return {
        "apikey": stack.anon_key,
        "Authorization": f"Bearer {issue(claims, stack.jwt_secret)}",
    }


@pytest.fixture
def booking(stack: Settings, gateway: str) -> Iterator[dict]:
    """The demo doctor, two of the hospital's patients, a free hour; cleans up after."""
    with psycopg.connect(stack.dsn()) as conn:
        doctor, hospital = conn.execute(
            "select id, hospital_id from public.doctors where user_id = %s", (DOCTOR_USER,)
        ).fetchone()
        patients = [
            row[0]
            for row in conn.execute(
                "select patient_id from public.patient_registrations where hospital_id = %s"
                " order by patient_id limit 2",
                (hospital,),
            ).fetchall()
        ]
    # A random hour in 2040 so that runs never meet each other's bookings (not a secret).
    hours = random.randrange(0, 24 * 300)  # noqa: S311
    start = datetime(2040, 1, 2, tzinfo=UTC) + timedelta(hours=hours)
    made: list[str] = []
    patient_ids = [str(p) for p in patients]
    yield {"doctor": str(doctor), "patients": patient_ids, "start": start, "made": made}
    with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn:
        ids = [uuid.UUID(i) for i in made]
        conn.execute("delete from private.outbox where subject_id = any(%s)", (ids,))
        conn.execute("delete from public.status_history where subject_id = any(%s)", (ids,))
        conn.execute("delete from public.appointments where id = any(%s)", (ids,))


def test_a_clash_is_409_naming_the_appointment_and_a_reschedule_keeps_it(
    stack: Settings, gateway: str, booking: dict
) -> None:
    headers = _headers(stack, FRONT_DESK)
    start: datetime = booking["start"]
    first = httpx.post(
        f"{gateway}/rest/v1/rpc/book_appointment",
        headers=headers,
        json={
            "doctor_id": booking["doctor"],
            "patient_id": booking["patients"][0],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=30)).isoformat(),
            "source": "front_desk",
        },
    )
    assert first.status_code == 200, first.text
    winner = first.json()["id"]
    booking["made"].append(winner)

    clash = httpx.post(
        f"{gateway}/rest/v1/rpc/book_appointment",
        headers=headers,
        json={
            "doctor_id": booking["doctor"],
            "patient_id": booking["patients"][1],
            "starts_at": (start + timedelta(minutes=15)).isoformat(),
            "ends_at": (start + timedelta(minutes=45)).isoformat(),
        },
    )
    if clash.status_code == 200:  # keep the cleanup honest even when the rule is broken
        booking["made"].append(clash.json()["id"])
    assert clash.status_code == 409, clash.text
    body = clash.json()
    assert body["code"] == "23P01"
    assert f"(appointment {winner})" in body["message"]
    assert body["message"].startswith("the doctor is already booked")
    assert "find_slots" in body["hint"]

    moved = httpx.post(
        f"{gateway}/rest/v1/rpc/reschedule_appointment",
        headers=headers,
        json={"appointment_id": winner, "starts_at": (start + timedelta(hours=1)).isoformat()},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["id"] == winner
    assert datetime.fromisoformat(moved.json()["ends_at"]) == start + timedelta(minutes=90)

    retry = httpx.post(
        f"{gateway}/rest/v1/rpc/book_appointment",
        headers=headers,
        json={
            "doctor_id": booking["doctor"],
            "patient_id": booking["patients"][1],
            "starts_at": (start + timedelta(minutes=15)).isoformat(),
            "ends_at": (start + timedelta(minutes=45)).isoformat(),
        },
    )
    assert retry.status_code == 200, retry.text
    booking["made"].append(retry.json()["id"])


def test_a_nurse_checks_the_patient_in_but_cannot_move_the_appointment(
    stack: Settings, gateway: str, booking: dict
) -> None:
    start: datetime = booking["start"]
    booked = httpx.post(
        f"{gateway}/rest/v1/rpc/book_appointment",
        headers=_headers(stack, FRONT_DESK),
        json={
            "doctor_id": booking["doctor"],
            "patient_id": booking["patients"][0],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=30)).isoformat(),
            "resource": f"Room {start.timestamp():.0f}",
        },
    )
    assert booked.status_code == 200, booked.text
    appointment = booked.json()["id"]
    booking["made"].append(appointment)
    nurse = {**_headers(stack, NURSE), "Prefer": "return=representation"}
    url = f"{gateway}/rest/v1/appointments?id=eq.{appointment}"

    moved = httpx.patch(
        url, headers=nurse, json={"starts_at": (start + timedelta(hours=2)).isoformat()}
    )
    assert moved.status_code == 403, moved.text
    assert moved.json()["code"] == "42501"
    assert moved.json()["message"] == "a nurse may change only the status of an appointment"
    room = httpx.patch(url, headers=nurse, json={"status": "arrived", "resource": "Room 0"})
    assert room.status_code == 403, room.text

    arrived = httpx.patch(url, headers=nurse, json={"status": "arrived"})
    assert arrived.status_code == 200, arrived.text
    row = arrived.json()[0]
    assert row["status"] == "arrived"
    assert datetime.fromisoformat(row["starts_at"]) == start
    assert row["resource"] == booked.json()["resource"]


@pytest.fixture
def doctor_week(stack: Settings) -> Iterator[str]:
    """A demo doctor's id; their weekly hours are put back as they were afterwards."""
    with psycopg.connect(stack.dsn()) as conn:
        (doctor,) = conn.execute(
            "select id from public.doctors where user_id = %s", (SCHEDULED_DOCTOR_USER,)
        ).fetchone()
        (saved,) = conn.execute(
            "select coalesce(jsonb_agg(to_jsonb(w)), '[]') from public.doctor_working_hours as w"
            " where w.doctor_id = %s",
            (doctor,),
        ).fetchone()
    yield str(doctor)
    with psycopg.connect(stack.dsn(), autocommit=True) as conn, conn.transaction():
        conn.execute("delete from public.doctor_working_hours where doctor_id = %s", (doctor,))
        conn.execute(
            "insert into public.doctor_working_hours"
            " select * from jsonb_populate_recordset(null::public.doctor_working_hours, %s)",
            (Jsonb(saved),),
        )


def _range(row: dict) -> tuple:
    return (row["weekday"], row["starts_at"], row["ends_at"], row["slot_minutes"])


def _week(gateway: str, headers: dict[str, str], doctor: str) -> list[tuple]:
    response = httpx.get(
        f"{gateway}/rest/v1/doctor_working_hours",
        headers=headers,
        params={
            "doctor_id": f"eq.{doctor}",
            "select": "weekday,starts_at,ends_at,slot_minutes",
            "order": "weekday,starts_at",
        },
    )
    assert response.status_code == 200, response.text
    return [_range(r) for r in response.json()]


def test_a_doctors_week_is_replaced_in_one_call_or_not_at_all(
    stack: Settings, gateway: str, doctor_week: str
) -> None:
    headers = _headers(stack, FRONT_DESK)
    week = [
        {"weekday": 1, "starts_at": "09:00", "ends_at": "13:00", "slot_minutes": 20},
        {"weekday": 1, "starts_at": "15:00", "ends_at": "18:00"},
        {"weekday": 4, "starts_at": "10:00", "ends_at": "12:00", "consultation_modes": ["video"]},
    ]
    put = httpx.post(
        f"{gateway}/rest/v1/rpc/set_doctor_schedule",
        headers=headers,
        json={"doctor_id": doctor_week, "hours": week, "time_zone": "Asia/Kolkata"},
    )
    assert put.status_code == 200, put.text
    expected = [
        (1, "09:00:00", "13:00:00", 20),
        (1, "15:00:00", "18:00:00", 15),
        (4, "10:00:00", "12:00:00", 15),
    ]
    assert [_range(r) for r in put.json()] == expected
    assert _week(gateway, headers, doctor_week) == expected

    broken = httpx.post(
        f"{gateway}/rest/v1/rpc/set_doctor_schedule",
        headers=headers,
        json={
            "doctor_id": doctor_week,
            "hours": [
                {"weekday": 2, "starts_at": "09:00", "ends_at": "12:00"},
                {"weekday": 2, "starts_at": "11:00", "ends_at": "14:00"},
            ],
        },
    )
    assert broken.status_code == 400, broken.text
    assert broken.json()["code"] == "22023"
    assert broken.json()["message"] == "hours item 2: overlaps item 1 on the same weekday"
    assert _week(gateway, headers, doctor_week) == expected

    refused = httpx.post(
        f"{gateway}/rest/v1/rpc/set_doctor_schedule",
        headers=_headers(stack, NURSE),
        json={"doctor_id": doctor_week, "hours": []},
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "42501"
    assert _week(gateway, headers, doctor_week) == expected
