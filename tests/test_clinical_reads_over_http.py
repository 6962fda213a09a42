"""Clinical reads through the gateway: refused when they could not be logged, logged when not.

PostgREST runs GET in a read-only transaction, where the pre-request function cannot append
its audit entry; carebase refuses such reads (PT405, with the logged call to use instead),
whether the clinical table is the request's target or embedded in another resource (the
restrictive read_logged policies). The logged RPC answers and leaves a READ entry with the
request's id in the audit trail.
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


def doctor_headers(stack: Settings) -> dict[str, str]:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(DOCTOR)
    return {
        "apikey": stack.anon_key,
        "Authorization": f"Bearer {issue(claims, stack.jwt_secret)}",
    }


def test_a_plain_get_of_clinical_notes_is_refused_with_the_logged_way(
    stack: Settings, gateway: str
) -> None:
    response = httpx.get(f"{gateway}/rest/v1/clinical_notes", headers=doctor_headers(stack))
    assert response.status_code == 405
    body = response.json()
    assert body["code"] == "PT405"
    assert "rpc/clinical_note" in body["hint"]


def test_the_timeline_rpc_answers_and_is_in_the_audit_trail(stack: Settings, gateway: str) -> None:
    request_id = str(uuid.uuid4())
    response = httpx.post(
        f"{gateway}/rest/v1/rpc/patient_timeline",
        json={"patient_id": HIS_PATIENT},
        headers={**doctor_headers(stack), "X-Request-Id": request_id},
    )
    assert response.status_code == 200, response.text
    assert isinstance(response.json(), list)
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        logged = conn.execute(
            "select action, request_method, actor_jwt_role from audit.log where request_id = %s",
            (request_id,),
        ).fetchall()
    assert ("READ", "POST", "authenticated") in logged


HIS_HOSPITAL = "10000000-0000-4000-8000-000000000001"


@pytest.fixture
def his_lab_result(stack: Settings) -> Iterator[str]:
    """A final lab result of the doctor's patient, removed afterwards (clinical rows are never
    deleted through any role: the superuser skips the guard in replica mode)."""
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        (doctor,) = conn.execute("select id from auth.users where email = %s", (DOCTOR,)).fetchone()
        (result_id,) = conn.execute(
            "insert into public.lab_results (patient_id, hospital_id, recorded_by, test_name,"
            " result_value, unit, status, finalised_at)"
            " values (%s, %s, %s, 'HbA1c', '6.1', '%%', 'normal', now()) returning id",
            (HIS_PATIENT, HIS_HOSPITAL, doctor),
        ).fetchone()
    yield str(result_id)
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        conn.execute("delete from public.lab_results where id = %s", (result_id,))


def test_a_get_embedding_clinical_rows_in_another_resource_is_refused(
    stack: Settings, gateway: str, his_lab_result: str
) -> None:
    response = httpx.get(
        f"{gateway}/rest/v1/patient_registrations",
        params={
            "select": "patient_id,lab_results(test_name,result_value)",
            "patient_id": f"eq.{HIS_PATIENT}",
        },
        headers=doctor_headers(stack),
    )
    assert response.status_code == 405, response.text
    body = response.json()
    assert body["code"] == "PT405"
    assert "lab_results" in body["message"]
    assert "rpc/patient_timeline" in body["hint"]


def test_the_timeline_returns_the_result_with_one_read_entry_naming_the_patient(
    stack: Settings, gateway: str, his_lab_result: str
) -> None:
    request_id = str(uuid.uuid4())
    response = httpx.post(
        f"{gateway}/rest/v1/rpc/patient_timeline",
        json={"patient_id": HIS_PATIENT},
        headers={**doctor_headers(stack), "X-Request-Id": request_id},
    )
    assert response.status_code == 200, response.text
    assert his_lab_result in {item["item_id"] for item in response.json()}
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        logged = conn.execute(
            "select table_name, patient_id::text, hospital_id::text from audit.log"
            " where request_id = %s and action = 'READ'",
            (request_id,),
        ).fetchall()
    # The timeline's own entry names the patient; the tables it read are not logged again.
    assert logged == [("public.patient_timeline", HIS_PATIENT, None)]
