"""Adversarial: reading the clinical record without an audit entry naming the patient (issue 10,
finding 6), over HTTP as each role would try it.

- a write with `Prefer: return=representation` sends clinical rows back: the patient's
  `record_disclosures` shows the read, with the reader's name;
- a PATCH whose filter tests a clinical value answers with a row count: the matched patient is
  named in the trail, and the shapes that would roll the entry back (`handling=strict,
  max-affected`, `tx=rollback`, a singular Accept) are refused before anything is read, with
  the same answer whatever the record holds;
- a GET embedding a clinical table answers the same whether or not the patient has such rows,
  for someone who may not read them (before, a 405 told a front desk that the patient had a
  diagnosis).
Staff tokens carry aal2 (MFA done), so that these checks stay about logging.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg import sql
from supabase import create_client

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession
from tests.rest_conformance import authenticator_setting, eventually

DOCTOR = "dr.sandhu@nabha.carebase.test"
FRONT_DESK = "frontdesk@nabha.carebase.test"
ADMIN = "admin@nabha.carebase.test"
HOSPITAL = "10000000-0000-4000-8000-000000000001"
# Dr. Sandhu's patients (care team), each with a login.
PATIENT = "60000000-0000-4000-8000-000000000001"
PATIENT_USER = "50000000-0000-4000-8000-000000000001"
OTHER_PATIENT = "60000000-0000-4000-8000-000000000002"
SINGULAR = "application/vnd.pgrst.object+json"
NO_ID = "00000000-0000-4000-8000-000000000000"


def token(stack: Settings, user: str, aal: str = "aal2") -> str:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(user, aal)
    return issue(claims, stack.jwt_secret)


def rest(gateway: str, stack: Settings, user: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{gateway}/rest/v1",
        headers={"apikey": stack.anon_key, "Authorization": f"Bearer {token(stack, user)}"},
        timeout=30,
    )


def audit_entries(stack: Settings, request_id: str) -> list[tuple[str, str, str | None]]:
    """(action, table, patient) of the entries a request left, in order."""
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        return conn.execute(
            "select action, table_name, patient_id::text from audit.log"
            " where request_id = %s order by seq",
            (request_id,),
        ).fetchall()


def remove_clinical_rows(stack: Settings, table: str, ids: list[str]) -> None:
    """Clinical rows are never deleted through any role: the superuser skips the guard in
    replica mode."""
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        conn.execute(
            sql.SQL("delete from public.{} where id = any(%s::uuid[])").format(
                sql.Identifier(table)
            ),
            (ids,),
        )


@pytest.fixture
def lab_result(stack: Settings) -> Iterator[tuple[str, str]]:
    """A draft lab result of Dr. Sandhu's patient with a value nobody could guess: (id, value)."""
    value = f"{uuid.uuid4().int % 1000 / 10:.1f} mmol/L #{uuid.uuid4().hex[:6]}"
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        (doctor,) = conn.execute("select id from auth.users where email = %s", (DOCTOR,)).fetchone()
        (result_id,) = conn.execute(
            "insert into public.lab_results (patient_id, hospital_id, recorded_by, test_name,"
            " result_value, unit, status) values (%s, %s, %s, 'Glucose', %s, 'mmol/L', 'normal')"
            " returning id::text",
            (PATIENT, HOSPITAL, doctor, value),
        ).fetchone()
    yield result_id, value
    remove_clinical_rows(stack, "lab_results", [result_id])


@pytest.fixture
def diagnosis(stack: Settings) -> Iterator[str]:
    """A diagnosis of PATIENT (OTHER_PATIENT has none of this code)."""
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        (doctor,) = conn.execute("select id from auth.users where email = %s", (DOCTOR,)).fetchone()
        (diagnosis_id,) = conn.execute(
            "insert into public.diagnoses (patient_id, hospital_id, diagnosed_by, icd10_code,"
            " description) values (%s, %s, %s, 'F32.1', 'Moderate depressive episode')"
            " returning id::text",
            (PATIENT, HOSPITAL, doctor),
        ).fetchone()
    yield diagnosis_id
    remove_clinical_rows(stack, "diagnoses", [diagnosis_id])


def test_a_write_returning_clinical_rows_is_in_the_patients_disclosures(
    stack: Settings, gateway: str
) -> None:
    """The official client inserts with `Prefer: return=representation`: the vital signs come
    back, and the patient sees that Dr. Sandhu read their vital signs."""
    with rest(gateway, stack, PATIENT_USER) as patient:
        seen = patient.get("/record_disclosures", params={"select": "seq", "order": "seq.desc"})
        assert seen.status_code == 200, seen.text
        last_seq = max((row["seq"] for row in seen.json()), default=0)

    doctor = create_client(gateway, stack.anon_key)
    doctor.postgrest.auth(token(stack, DOCTOR))
    inserted = (
        doctor.table("vital_signs")
        .insert({"patient_id": PATIENT, "hospital_id": HOSPITAL, "heart_rate_bpm": 77})
        .execute()
    )
    try:
        assert inserted.data[0]["heart_rate_bpm"] == 77
        with rest(gateway, stack, PATIENT_USER) as patient:
            disclosures = patient.get(
                "/record_disclosures",
                params={"seq": f"gt.{last_seq}", "table_name": "eq.public.vital_signs"},
            )
        assert disclosures.status_code == 200, disclosures.text
        reads = [row for row in disclosures.json() if row["action"] == "READ"]
        assert [(row["actor_name"], row["hospital_id"]) for row in reads] == [
            ("Dr. Gurpreet Sandhu", HOSPITAL)
        ]
    finally:
        remove_clinical_rows(stack, "vital_signs", [inserted.data[0]["id"]])


def test_a_patch_matching_a_clinical_value_names_the_patient(
    stack: Settings, gateway: str, lab_result: tuple[str, str]
) -> None:
    """The row count of a PATCH is an answer about the record: the matched patient is named,
    even though nothing changed (so no UPDATE entry)."""
    _, value = lab_result
    request_id = str(uuid.uuid4())
    with rest(gateway, stack, DOCTOR) as doctor:
        response = doctor.patch(
            "/lab_results",
            params={"result_value": f"eq.{value}", "patient_id": f"eq.{PATIENT}"},
            json={"unit": "mmol/L"},
            headers={"X-Request-Id": request_id},
        )
    assert response.status_code == 204, response.text
    assert response.headers["content-range"] == "0-0/*"
    assert ("READ", "public.lab_results", PATIENT) in audit_entries(stack, request_id)


@pytest.mark.parametrize(
    ("prefer", "accept"),
    [
        ("handling=strict, max-affected=0", None),
        ("max-affected=0, handling=strict, return=representation", None),
        ("return=representation", SINGULAR),
    ],
    ids=["max-affected", "max-affected-representation", "singular"],
)
def test_a_patch_that_would_roll_back_is_refused_whatever_the_record_holds(
    stack: Settings, gateway: str, lab_result: tuple[str, str], prefer: str, accept: str | None
) -> None:
    """Before: 400 "The query affects 1 rows" for the right value, 204 for a wrong one, and
    the rollback took the audit entry with it. Now the same refusal either way, before any row
    is read, and nothing changes."""
    result_id, value = lab_result
    headers = {"Prefer": prefer} | ({"Accept": accept} if accept else {})
    answers = []
    with rest(gateway, stack, DOCTOR) as doctor:
        for guess in (value, value + " (wrong)"):
            response = doctor.patch(
                "/lab_results",
                params={"result_value": f"eq.{guess}"},
                json={"unit": "mg/dL"},
                headers=headers,
            )
            answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    status, body = answers[0]
    assert (status, body["code"]) == (400, "PT400"), body
    with psycopg.connect(stack.dsn()) as conn:
        (unit,) = conn.execute(
            "select unit from public.lab_results where id = %s", (result_id,)
        ).fetchone()
    assert unit == "mmol/L"


@pytest.fixture
def rollback_allowed(stack: Settings, gateway: str) -> Iterator[None]:
    """db-tx-end `commit-allow-override`, so that `Prefer: tx=rollback` is honoured."""
    service = httpx.Client(
        base_url=f"{gateway}/rest/v1",
        headers={"apikey": stack.service_role_key, "Prefer": "tx=rollback"},
    )

    def honoured() -> bool:
        probe = service.delete("/hospitals", params={"id": f"eq.{NO_ID}"})
        return "tx=rollback" in probe.headers.get("preference-applied", "")

    with service, authenticator_setting(stack, "db_tx_end", "commit-allow-override"):
        assert eventually(honoured), "the gateway never honoured Prefer: tx=rollback"
        yield


def test_tx_rollback_is_refused_on_clinical_resources(
    stack: Settings, gateway: str, rollback_allowed: None
) -> None:
    """A rolled-back request would answer with the record and leave no entry: refused on
    clinical tables and on the RPCs that disclose, honoured elsewhere."""
    with rest(gateway, stack, DOCTOR) as doctor:
        written = doctor.post(
            "/vital_signs",
            json={"patient_id": PATIENT, "hospital_id": HOSPITAL, "heart_rate_bpm": 70},
            headers={"Prefer": "return=representation, tx=rollback"},
        )
        timeline = doctor.post(
            "/rpc/patient_timeline",
            json={"patient_id": PATIENT},
            headers={"Prefer": "tx=rollback"},
        )
        elsewhere = doctor.post(
            "/rpc/cancel_appointment",
            json={"appointment_id": NO_ID, "reason": "probe"},
            headers={"Prefer": "tx=rollback"},
        )
    for response in (written, timeline):
        assert (response.status_code, response.json()["code"]) == (400, "PT400"), response.text
        assert "tx=rollback" in response.json()["message"]
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "PT404"), elsewhere.text


def test_a_get_embedding_diagnoses_tells_the_front_desk_nothing(
    stack: Settings, gateway: str, diagnosis: str
) -> None:
    """Before: 405 for the patient with a diagnosis, 200 for the one without, to a front desk
    who may not read diagnoses at all. Now 200 with nothing embedded for both; the care team,
    who may read them, is still refused (405: a GET could not log the read)."""
    params = {"select": "patient_id,diagnoses(icd10_code)", "hospital_id": f"eq.{HOSPITAL}"}
    answers = {}
    with rest(gateway, stack, FRONT_DESK) as front_desk:
        for patient in (PATIENT, OTHER_PATIENT):
            response = front_desk.get(
                "/patient_registrations", params={**params, "patient_id": f"eq.{patient}"}
            )
            answers[patient] = (response.status_code, [row["diagnoses"] for row in response.json()])
    assert answers[PATIENT] == answers[OTHER_PATIENT] == (200, [[]])
    with rest(gateway, stack, DOCTOR) as doctor:
        refused = doctor.get(
            "/patient_registrations", params={**params, "patient_id": f"eq.{PATIENT}"}
        )
    assert (refused.status_code, refused.json()["code"]) == (405, "PT405"), refused.text


def test_the_admin_sees_the_named_read_in_the_hospitals_trail(
    stack: Settings, gateway: str, lab_result: tuple[str, str]
) -> None:
    """The entry naming the patient carries the row's hospital: its admin sees who read what."""
    result_id, _ = lab_result
    request_id = str(uuid.uuid4())
    with rest(gateway, stack, DOCTOR) as doctor:
        response = doctor.patch(
            "/lab_results",
            params={"id": f"eq.{result_id}"},
            json={"unit": "mmol/L"},
            headers={"X-Request-Id": request_id, "Prefer": "return=representation"},
        )
    assert response.status_code == 200 and len(response.json()) == 1, response.text
    with rest(gateway, stack, ADMIN) as admin:
        trail = admin.get(
            "/audit_trail",
            params={
                "request_id": f"eq.{request_id}",
                "action": "eq.READ",
                "patient_id": f"eq.{PATIENT}",
            },
        )
    assert trail.status_code == 200, trail.text
    assert [(row["table_name"], row["hospital_id"]) for row in trail.json()] == [
        ("public.lab_results", HOSPITAL)
    ]
