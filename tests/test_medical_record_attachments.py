"""A medical record's attachments over HTTP (seed 003 POST /medical-records/:id/attachments):
the care team writes the record (rpc/create_medical_record), announces the file
(rpc/attach_medical_record_file) and uploads it to Storage at the path it was given; another
doctor can neither attach nor read; the patient downloads their own attachment; every read of
the file is in the audit trail naming the patient."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession

DOCTOR = "dr.sandhu@nabha.carebase.test"
OTHER_DOCTOR = "dr.mehta@nabha.carebase.test"  # same hospital, not on the patient's care team
HOSPITAL = "10000000-0000-4000-8000-000000000001"
PATIENT, PATIENT_USER = (
    "60000000-0000-4000-8000-000000000001",
    "50000000-0000-4000-8000-000000000001",
)
BUCKET = "patient-documents"


def token(stack: Settings, user: str, aal: str | None = None) -> str:
    with psycopg.connect(stack.dsn()) as conn:
        return issue(PostgrestSession(conn).claims_for(user, aal), stack.jwt_secret)


def headers(stack: Settings, user_token: str) -> dict[str, str]:
    return {"apikey": stack.anon_key, "Authorization": f"Bearer {user_token}"}


def storage(gateway: str, stack: Settings, user_token: str) -> SyncStorageClient:
    return SyncStorageClient(f"{gateway}/storage/v1/", headers(stack, user_token))


def refusal(call: Callable[[], object]) -> str:
    with pytest.raises(StorageApiError) as raised:
        call()
    return str(raised.value.status)


def rpc(gateway: str, stack: Settings, user_token: str, name: str, body: dict) -> httpx.Response:
    return httpx.post(
        f"{gateway}/rest/v1/rpc/{name}", json=body, headers=headers(stack, user_token)
    )


@pytest.fixture
def record(gateway: str, stack: Settings) -> Iterator[str]:
    """A signed record of the patient by their doctor; its rows and files go afterwards (as
    the superuser in replica mode, the objects with the service role)."""
    answer = rpc(
        gateway,
        stack,
        token(stack, DOCTOR, "aal2"),
        "create_medical_record",
        {
            "patient_id": PATIENT,
            "hospital_id": HOSPITAL,
            "sign": True,
            "content": {
                "chief_complaint": "Chest pain",
                "vital_signs": {"systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 72},
                "assessment": "Suspected angina",
                "diagnoses": [{"icd10_code": "I20.9", "is_primary": True}],
            },
        },
    )
    assert answer.status_code == 200, answer.text
    record_id = answer.json()["id"]
    yield record_id
    with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn:
        paths = [
            row[0]
            for row in conn.execute(
                "select storage_path from public.patient_documents where encounter_id = %s",
                (record_id,),
            )
        ]
        if paths:
            storage(gateway, stack, stack.service_role_key).from_(BUCKET).remove(paths)
        with conn.transaction():
            conn.execute("set local session_replication_role = replica")
            for table in ("patient_documents", "diagnoses", "clinical_notes", "vital_signs"):
                conn.execute(
                    f"delete from public.{table} where encounter_id = %s",  # noqa: S608 (fixed names)
                    (record_id,),
                )
            conn.execute("delete from public.encounters where id = %s", (record_id,))


def test_the_care_team_attaches_a_file_that_only_the_records_readers_read(
    gateway: str, stack: Settings, record: str
) -> None:
    doctor = token(stack, DOCTOR, "aal2")
    attached = rpc(
        gateway,
        stack,
        doctor,
        "attach_medical_record_file",
        {
            "encounter_id": record,
            "name": "ECG strip.pdf",
            "mime_type": "application/pdf",
            "size_bytes": 64,
        },
    )
    assert attached.status_code == 200, attached.text
    path = attached.json()["storage_path"]
    assert path.startswith(f"patients/{PATIENT}/records/{record}/")

    doctors_files = storage(gateway, stack, doctor).from_(BUCKET)
    # not what the row announced: another type, or larger
    pdf = {"content-type": "application/pdf"}
    assert (
        refusal(lambda: doctors_files.upload(path, b"<html>", {"content-type": "text/html"}))
        == "403"
    )
    assert refusal(lambda: doctors_files.upload(path, b"%PDF" * 100, pdf)) == "403"
    doctors_files.upload(path, b"%PDF-1.4 ecg", pdf)

    # another doctor of the hospital: no attaching, no reading, no writing beside it
    other = token(stack, OTHER_DOCTOR, "aal2")
    refused = rpc(
        gateway,
        stack,
        other,
        "attach_medical_record_file",
        {"encounter_id": record, "name": "x.pdf", "mime_type": "application/pdf", "size_bytes": 8},
    )
    assert (refused.status_code, refused.json()["details"]) == (404, "medical_record_not_found")
    others_files = storage(gateway, stack, other).from_(BUCKET)
    assert refusal(lambda: others_files.download(path)) == "404"
    assert (
        refusal(
            lambda: others_files.upload(
                f"patients/{PATIENT}/records/{record}/x/y.pdf",
                b"%PDF",
                {"content-type": "application/pdf"},
            )
        )
        == "403"
    )

    # the patient reads their own record's attachment, and the read names them in the trail
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        mark = conn.execute("select coalesce(max(seq), 0) from audit.log").fetchone()[0]
    patient = storage(gateway, stack, token(stack, PATIENT_USER)).from_(BUCKET)
    assert patient.download(path) == b"%PDF-1.4 ecg"
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        logged = conn.execute(
            "select action, table_name, patient_id::text from audit.log"
            " where seq > %s and actor_id = %s",
            (mark, PATIENT_USER),
        ).fetchall()
    assert ("READ", "public.patient_documents", PATIENT) in logged

    # and the record lists it
    read = rpc(gateway, stack, doctor, "medical_record", {"encounter_id": record})
    assert read.status_code == 200, read.text
    assert [a["storage_path"] for a in read.json()["attachments"]] == [path]
