"""Encrypted columns over HTTP, attacked by a doctor of the patient's care team.

An encrypted column holds only what the encrypting RPCs produced: a POST or PATCH putting raw
bytes, plain text or another row's ciphertext there is refused (403, code 42501, details
encrypted_column_direct_write) instead of storing a value that no read could decrypt. A value
that cannot be decrypted anyway (planted here by the superuser, as one could be stored before
the check existed) is a clear answer for its own record, not a server error: read_prescriptions
returns the other prescriptions and marks that one, clinical_note answers 409 (details
undecryptable_field), the timeline answers.
"""

from __future__ import annotations

import datetime
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

RAW_BYTES = "\\xdeadbeef000102030405060708"
PLAIN_TEXT = "\\x" + b'{"plan": "typed in clear"}'.hex()


def doctor_headers(stack: Settings) -> dict[str, str]:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(DOCTOR, aal="aal2")
    return {
        "apikey": stack.anon_key,
        "Authorization": f"Bearer {issue(claims, stack.jwt_secret)}",
    }


def post(gateway: str, stack: Settings, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{gateway}/rest/v1/{path}", json=body, headers=doctor_headers(stack))


# The rows this test module makes for the patient, by table (subquery on notes or prescriptions).
MADE_SINCE = {
    "notes": "select id from public.clinical_notes where patient_id = %s and created_at >= %s",
    "prescriptions": (
        "select id from public.prescriptions where patient_id = %s and created_at >= %s"
    ),
}
CLEANUP = [
    "delete from public.clinical_note_addenda where note_id in ({notes})",
    "delete from public.clinical_notes where id in ({notes})",
    "delete from public.prescription_items where prescription_id in ({prescriptions})",
    "delete from public.status_history where subject_id in ({prescriptions})",
    "delete from private.outbox where subject_id in ({prescriptions})",
    "delete from public.prescriptions where id in ({prescriptions})",
]


@pytest.fixture
def leftovers(stack: Settings) -> Iterator[None]:
    """Removes the notes and prescriptions the test made for the patient (clinical rows are
    never deleted through any role: the superuser skips the guards in replica mode)."""
    started = datetime.datetime.now(datetime.UTC)
    yield
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        for statement in CLEANUP:
            conn.execute(statement.format(**MADE_SINCE), (HIS_PATIENT, started))


def write_note(gateway: str, stack: Settings, soap: dict) -> str:
    response = post(
        gateway,
        stack,
        "rpc/write_clinical_note",
        {"patient_id": HIS_PATIENT, "hospital_id": HIS_HOSPITAL, "soap": soap},
    )
    assert response.status_code == 200, response.text
    return response.json()


def issue_prescription(gateway: str, stack: Settings, medicine: str) -> str:
    response = post(
        gateway,
        stack,
        "rpc/issue_prescription",
        {
            "patient_id": HIS_PATIENT,
            "hospital_id": HIS_HOSPITAL,
            "medications": [{"name": medicine, "quantity": 30}],
            "notes": "check BP in a week",
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


def assert_refused_as_direct_write(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "42501"
    assert body["details"] == "encrypted_column_direct_write"


def stored_anywhere(stack: Settings, value: str) -> bool:
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        (found,) = conn.execute(
            "select exists (select from public.clinical_notes where soap_encrypted = %(v)s::bytea)"
            " or exists (select from public.prescription_items where details = %(v)s::bytea)",
            {"v": value},
        ).fetchone()
    return found


@pytest.mark.parametrize("value", [RAW_BYTES, PLAIN_TEXT], ids=["raw bytes", "plain text"])
def test_a_doctor_cannot_post_a_note_with_an_arbitrary_ciphertext(
    stack: Settings, gateway: str, leftovers: None, value: str
) -> None:
    response = post(
        gateway,
        stack,
        "clinical_notes",
        {"patient_id": HIS_PATIENT, "hospital_id": HIS_HOSPITAL, "soap_encrypted": value},
    )
    assert_refused_as_direct_write(response)
    assert not stored_anywhere(stack, value)


def test_a_doctor_cannot_patch_a_draft_with_raw_bytes(
    stack: Settings, gateway: str, leftovers: None
) -> None:
    note = write_note(gateway, stack, {"plan": "ECG"})
    response = httpx.patch(
        f"{gateway}/rest/v1/clinical_notes",
        params={"id": f"eq.{note}"},
        json={"soap_encrypted": RAW_BYTES},
        headers=doctor_headers(stack),
    )
    assert_refused_as_direct_write(response)
    assert not stored_anywhere(stack, RAW_BYTES)


@pytest.mark.parametrize("value", [RAW_BYTES, PLAIN_TEXT], ids=["raw bytes", "plain text"])
def test_a_doctor_cannot_post_a_prescription_line_with_an_arbitrary_ciphertext(
    stack: Settings, gateway: str, leftovers: None, value: str
) -> None:
    prescription = issue_prescription(gateway, stack, "Amlodipine")
    response = post(
        gateway,
        stack,
        "prescription_items",
        {"prescription_id": prescription, "line_no": 2, "details": value, "quantity": 10},
    )
    assert_refused_as_direct_write(response)
    assert not stored_anywhere(stack, value)


@pytest.fixture
def planted(stack: Settings, gateway: str, leftovers: None) -> dict[str, str]:
    """Two prescriptions and two notes of the doctor's patient; one of each then holds bytes
    that cannot be decrypted, written by the superuser with the triggers off."""
    ids = {
        "good_rx": issue_prescription(gateway, stack, "Amlodipine"),
        "bad_rx": issue_prescription(gateway, stack, "Aspirin"),
        "good_note": write_note(gateway, stack, {"assessment": "Stable angina"}),
        "bad_note": write_note(gateway, stack, {"assessment": "Hypertension"}),
    }
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        conn.execute(
            "update public.prescription_items set details = %s::bytea where prescription_id = %s",
            (RAW_BYTES, ids["bad_rx"]),
        )
        conn.execute(
            "update public.clinical_notes set soap_encrypted = %s::bytea where id = %s",
            (PLAIN_TEXT, ids["bad_note"]),
        )
    return ids


def test_reading_prescriptions_returns_the_others_and_marks_the_undecryptable_one(
    stack: Settings, gateway: str, planted: dict[str, str]
) -> None:
    response = post(
        gateway,
        stack,
        "rpc/read_prescriptions",
        {"prescription_ids": [planted["good_rx"], planted["bad_rx"]]},
    )
    assert response.status_code == 200, response.text
    rows = {row["id"]: row for row in response.json()}
    good, bad = rows[planted["good_rx"]], rows[planted["bad_rx"]]
    assert good["medications"][0]["medicine"] == "Amlodipine"
    assert good["notes"] == "check BP in a week"
    assert good["undecryptable"] == []
    assert bad["undecryptable"] == ["medications"]
    [line] = bad["medications"]
    assert line["undecryptable"] is True
    assert "medicine" not in line
    assert line["quantity"] == 30
    assert bad["notes"] == "check BP in a week"


def test_reading_the_undecryptable_note_is_a_409_with_a_stable_code(
    stack: Settings, gateway: str, planted: dict[str, str]
) -> None:
    response = post(gateway, stack, "rpc/clinical_note", {"note_id": planted["bad_note"]})
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["code"] == "PT409"
    assert body["details"] == "undecryptable_field"
    good = post(gateway, stack, "rpc/clinical_note", {"note_id": planted["good_note"]})
    assert good.status_code == 200, good.text
    assert good.json()["soap"]["assessment"] == "Stable angina"


def test_the_timeline_still_answers(stack: Settings, gateway: str, planted: dict[str, str]) -> None:
    response = post(gateway, stack, "rpc/patient_timeline", {"patient_id": HIS_PATIENT})
    assert response.status_code == 200, response.text
    listed = {item["item_id"] for item in response.json()}
    assert {planted["bad_note"], planted["bad_rx"], planted["good_note"]} <= listed
