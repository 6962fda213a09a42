"""A doctor signed in with a password only (aal1) reads and writes no clinical record.

The demo doctor signs in over /auth/v1 with the documented password and calls the clinical
and prescription RPCs and a clinical table through /rest/v1: each answers 403 with PostgREST's
body, code PT403 and details `insufficient_aal` (what a client matches to prompt for the TOTP
code), and writes nothing. The same session, once its TOTP factor is verified (aal2, with
the demo secret the README documents), makes the same calls successfully. A patient signed
in with their phone OTP alone (aal1) still reads their own timeline.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pyotp
import pytest

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession
from tests.auth_target import (
    DEMO_DOCTOR,
    DEMO_PASSWORD,
    DEMO_TOTP_SECRET,
    AuthTarget,
    claims,
    sign_in,
)

pytest_plugins = ["tests.auth_target"]

DOCTOR_USER = "20000000-0000-4000-8000-000000000002"
HIS_PATIENT = "60000000-0000-4000-8000-000000000001"
HIS_PATIENT_USER = "50000000-0000-4000-8000-000000000001"
HOSPITAL = "10000000-0000-4000-8000-000000000001"


@dataclass
class Record:
    """A signed note and an issued prescription of the doctor's patient, made for the test."""

    note_id: str
    prescription_id: str


def minted_headers(stack: Settings, user: str) -> dict[str, str]:
    """A token as Supabase Auth issues it to this user, at their usual level (aal2 for staff)."""
    with psycopg.connect(stack.dsn()) as conn:
        token = PostgrestSession(conn).claims_for(user)
    return {"apikey": stack.anon_key, "Authorization": f"Bearer {issue(token, stack.jwt_secret)}"}


def counts(stack: Settings) -> tuple[int, int, int]:
    """The patient's notes, vital signs and prescriptions, as the superuser sees them."""
    with psycopg.connect(stack.dsn()) as conn:
        row = conn.execute(
            "select (select count(*) from public.clinical_notes where patient_id = %(p)s),"
            " (select count(*) from public.vital_signs where patient_id = %(p)s),"
            " (select count(*) from public.prescriptions where patient_id = %(p)s)",
            {"p": HIS_PATIENT},
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


@pytest.fixture
def record(stack: Settings, gateway: str) -> Iterator[Record]:
    """Made over HTTP by the doctor at aal2; everything the doctor's patient gained during the
    test is removed afterwards as the superuser (clinical rows are never deleted through any
    role, so the guards are off: replica mode)."""
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        (started,) = conn.execute("select clock_timestamp()").fetchone()
    headers = minted_headers(stack, DEMO_DOCTOR)
    assert claims(headers["Authorization"].split()[1])["aal"] == "aal2"
    written = httpx.post(
        f"{gateway}/rest/v1/rpc/write_clinical_note",
        json={"patient_id": HIS_PATIENT, "hospital_id": HOSPITAL, "soap": {"assessment": "Angina"}},
        headers=headers,
    )
    assert written.status_code == 200, written.text
    signed = httpx.post(
        f"{gateway}/rest/v1/rpc/sign_clinical_note",
        json={"note_id": written.json()},
        headers=headers,
    )
    assert signed.status_code == 200, signed.text
    issued = httpx.post(
        f"{gateway}/rest/v1/rpc/issue_prescription",
        json={
            "patient_id": HIS_PATIENT,
            "hospital_id": HOSPITAL,
            "medications": [{"name": "Amlodipine", "strength": "5 mg", "quantity": 30}],
        },
        headers=headers,
    )
    assert issued.status_code == 200, issued.text
    yield Record(written.json(), issued.json()["id"])
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        rx = [
            row[0]
            for row in conn.execute(
                "select id from public.prescriptions where patient_id = %s and created_at >= %s",
                (HIS_PATIENT, started),
            )
        ]
        conn.execute("delete from public.prescription_items where prescription_id = any(%s)", (rx,))
        conn.execute("delete from public.status_history where subject_id = any(%s)", (rx,))
        conn.execute("delete from private.outbox where subject_id = any(%s)", (rx,))
        conn.execute("delete from public.prescriptions where id = any(%s)", (rx,))
        conn.execute(
            "delete from public.clinical_notes where patient_id = %s and created_at >= %s",
            (HIS_PATIENT, started),
        )
        conn.execute(
            "delete from public.vital_signs where patient_id = %s and recorded_at >= %s",
            (HIS_PATIENT, started),
        )


# Each call the doctor makes: (method, path, body) built from the record.
CALLS: dict[str, Callable[[Record], tuple[str, dict]]] = {
    "rpc/clinical_note": lambda r: ("rpc/clinical_note", {"note_id": r.note_id}),
    "rpc/patient_timeline": lambda r: ("rpc/patient_timeline", {"patient_id": HIS_PATIENT}),
    "rpc/write_clinical_note": lambda r: (
        "rpc/write_clinical_note",
        {"patient_id": HIS_PATIENT, "hospital_id": HOSPITAL, "soap": {"plan": "ECG"}},
    ),
    "vital_signs": lambda r: (
        "vital_signs",
        {"patient_id": HIS_PATIENT, "hospital_id": HOSPITAL, "heart_rate_bpm": 72},
    ),
    "rpc/read_prescriptions": lambda r: (
        "rpc/read_prescriptions",
        {"prescription_ids": [r.prescription_id]},
    ),
    "rpc/issue_prescription": lambda r: (
        "rpc/issue_prescription",
        {
            "patient_id": HIS_PATIENT,
            "hospital_id": HOSPITAL,
            "medications": [{"name": "Ibuprofen", "quantity": 10}],
        },
    ),
}


def call(gateway: str, stack: Settings, token: str, name: str, record: Record) -> httpx.Response:
    path, body = CALLS[name](record)
    return httpx.post(
        f"{gateway}/rest/v1/{path}",
        json=body,
        headers={"apikey": stack.anon_key, "Authorization": f"Bearer {token}"},
    )


def assert_insufficient_aal(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details", "hint"}
    assert body["code"] == "PT403"
    assert body["details"] == "insufficient_aal"
    assert "multi-factor authentication" in body["message"]
    assert "/auth/v1/factors/" in body["hint"]
    assert "Angina" not in response.text
    assert "Amlodipine" not in response.text


@pytest.mark.parametrize("name", CALLS)
def test_a_password_only_doctor_is_refused_with_insufficient_aal(
    auth: AuthTarget, stack: Settings, gateway: str, record: Record, name: str
) -> None:
    session = sign_in(auth, DEMO_DOCTOR, DEMO_PASSWORD)
    assert claims(session["access_token"])["aal"] == "aal1"
    before = counts(stack)
    assert_insufficient_aal(call(gateway, stack, session["access_token"], name, record))
    assert counts(stack) == before, "a refused call writes nothing"


def test_the_same_session_works_once_its_totp_factor_is_verified(
    auth: AuthTarget, stack: Settings, gateway: str, record: Record
) -> None:
    client = auth.client()
    client.auth.sign_in_with_password({"email": DEMO_DOCTOR, "password": DEMO_PASSWORD})
    weak = client.auth.get_session()
    assert weak is not None
    assert_insufficient_aal(call(gateway, stack, weak.access_token, "rpc/clinical_note", record))

    # As the README shows: the login's verified TOTP factor, a code of the demo secret.
    [factor] = client.auth.mfa.list_factors().totp
    verified = client.auth.mfa.challenge_and_verify(
        {"factor_id": factor.id, "code": pyotp.TOTP(DEMO_TOTP_SECRET).now()}
    )
    token = verified.access_token
    assert claims(token)["aal"] == "aal2"
    assert claims(token)["session_id"] == claims(weak.access_token)["session_id"]

    note = call(gateway, stack, token, "rpc/clinical_note", record)
    assert note.status_code == 200, note.text
    assert note.json()["soap"]["assessment"] == "Angina"
    timeline = call(gateway, stack, token, "rpc/patient_timeline", record)
    assert timeline.status_code == 200, timeline.text
    assert record.note_id in {item["item_id"] for item in timeline.json()}
    written = call(gateway, stack, token, "rpc/write_clinical_note", record)
    assert written.status_code == 200, written.text
    assert uuid.UUID(written.json())
    vitals = call(gateway, stack, token, "vital_signs", record)
    assert vitals.status_code == 201, vitals.text
    rx = call(gateway, stack, token, "rpc/read_prescriptions", record)
    assert rx.status_code == 200, rx.text
    assert rx.json()[0]["medications"][0]["medicine"] == "Amlodipine"
    issued = call(gateway, stack, token, "rpc/issue_prescription", record)
    assert issued.status_code == 200, issued.text


def test_a_patient_at_aal1_reads_their_own_timeline(
    stack: Settings, gateway: str, record: Record
) -> None:
    headers = minted_headers(stack, HIS_PATIENT_USER)
    assert claims(headers["Authorization"].split()[1])["aal"] == "aal1"
    response = httpx.post(
        f"{gateway}/rest/v1/rpc/patient_timeline", json={"patient_id": HIS_PATIENT}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert record.note_id in {item["item_id"] for item in response.json()}
    note = httpx.post(
        f"{gateway}/rest/v1/rpc/clinical_note", json={"note_id": record.note_id}, headers=headers
    )
    assert note.status_code == 200, note.text
    assert note.json()["soap"]["assessment"] == "Angina"
