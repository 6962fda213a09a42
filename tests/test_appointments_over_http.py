"""Booking through the REST API as the front desk would: a clash is HTTP 409 naming the
appointment in the way, and a reschedule keeps the appointment.

Runs against the gateway on the demo hospital (seed.sql), at a far-future time chosen per run,
and removes what it booked afterwards.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from devstack.config import Settings
from devstack.gateway.tokens import issue
from tests.postgrest_session import PostgrestSession

FRONT_DESK = "frontdesk@nabha.carebase.test"
DOCTOR_USER = "20000000-0000-4000-8000-000000000002"


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
