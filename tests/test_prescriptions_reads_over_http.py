"""Prescription contents over HTTP: decrypted only by a logged call.

The prescription_details view answers a GET (read-only, so nothing could be logged) without
the medication contents; rpc/read_prescriptions (POST, read-write) returns them in clear and
leaves a READ entry naming the patient, with the request's id, in the audit trail. A GET of
the RPC cannot log, so it is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession

DOCTOR = "dr.sandhu@nabha.carebase.test"
HIS_PATIENT = "60000000-0000-4000-8000-000000000001"
HIS_HOSPITAL = "10000000-0000-4000-8000-000000000001"


def doctor_headers(stack: Settings) -> dict[str, str]:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(DOCTOR)
    return {
        "apikey": stack.anon_key,
        "Authorization": f"Bearer {issue(claims, stack.jwt_secret)}",
    }


def read_entries(stack: Settings, request_id: str) -> list[tuple[str, str, str | None, str | None]]:
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        return conn.execute(
            "select table_name, row_id, patient_id::text, request_method from audit.log"
            " where request_id = %s and action = 'READ'",
            (request_id,),
        ).fetchall()


@pytest.fixture
def issued(stack: Settings, gateway: str) -> Iterator[tuple[dict, str]]:
    """A prescription the doctor issues for their patient over HTTP (the response and its
    request id), removed afterwards as the superuser (triggers off, so dependents first)."""
    request_id = str(uuid.uuid4())
    response = httpx.post(
        f"{gateway}/rest/v1/rpc/issue_prescription",
        json={
            "patient_id": HIS_PATIENT,
            "hospital_id": HIS_HOSPITAL,
            "medications": [{"name": "Amlodipine", "strength": "5 mg", "quantity": 30}],
            "notes": "check BP in a week",
        },
        headers={**doctor_headers(stack), "X-Request-Id": request_id},
    )
    assert response.status_code == 200, response.text
    prescription = response.json()
    yield prescription, request_id
    key = (prescription["id"],)
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        conn.execute("delete from public.prescription_items where prescription_id = %s", key)
        conn.execute("delete from public.status_history where subject_id = %s", key)
        conn.execute("delete from private.outbox where subject_id = %s", key)
        conn.execute("delete from public.prescriptions where id = %s", key)


def test_issuing_returns_the_contents_to_the_doctor_as_a_logged_read(
    stack: Settings, issued: tuple[dict, str]
) -> None:
    prescription, request_id = issued
    assert prescription["medications"][0]["medicine"] == "Amlodipine"
    assert prescription["notes"] == "check BP in a week"
    assert read_entries(stack, request_id) == [
        ("public.prescriptions", prescription["id"], HIS_PATIENT, "POST")
    ]


def test_a_get_of_the_view_shows_the_prescription_without_its_contents(
    stack: Settings, gateway: str, issued: tuple[dict, str]
) -> None:
    prescription, _ = issued
    response = httpx.get(
        f"{gateway}/rest/v1/prescription_details",
        params={"id": f"eq.{prescription['id']}"},
        headers=doctor_headers(stack),
    )
    assert response.status_code == 200, response.text
    [row] = response.json()
    assert row["status_code"] == "PENDING"
    assert row["notes"] is None
    assert [set(line) for line in row["medications"]] == [
        {"item_id", "line_no", "quantity", "dispensed_quantity"}
    ]
    assert "Amlodipine" not in response.text


def test_the_rpc_returns_the_contents_and_logs_the_read_naming_the_patient(
    stack: Settings, gateway: str, issued: tuple[dict, str]
) -> None:
    prescription, _ = issued
    request_id = str(uuid.uuid4())
    response = httpx.post(
        f"{gateway}/rest/v1/rpc/read_prescriptions",
        json={"prescription_ids": [prescription["id"]]},
        headers={**doctor_headers(stack), "X-Request-Id": request_id},
    )
    assert response.status_code == 200, response.text
    [row] = response.json()
    assert row["medications"][0]["strength"] == "5 mg"
    assert read_entries(stack, request_id) == [
        ("public.prescriptions", prescription["id"], HIS_PATIENT, "POST")
    ]


def test_a_get_of_the_rpc_is_refused_because_it_could_not_be_logged(
    stack: Settings, gateway: str, issued: tuple[dict, str]
) -> None:
    prescription, _ = issued
    request_id = str(uuid.uuid4())
    response = httpx.get(
        f"{gateway}/rest/v1/rpc/read_prescriptions",
        params={"prescription_ids": "{" + prescription["id"] + "}"},
        headers={**doctor_headers(stack), "X-Request-Id": request_id},
    )
    assert response.status_code == 405, response.text
    assert "Amlodipine" not in response.text
    assert read_entries(stack, request_id) == []
