"""Clinical reads through the gateway: refused when they could not be logged, logged when not.

PostgREST runs GET in a read-only transaction, where the pre-request function cannot append
its audit entry; carebase refuses such reads (PT405, with the logged call to use instead).
The logged RPC answers and leaves a READ entry with the request's id in the audit trail.
"""

from __future__ import annotations

import uuid

import httpx
import psycopg

from devstack.config import Settings
from devstack.gateway.tokens import issue
from tests.postgrest_session import PostgrestSession

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
