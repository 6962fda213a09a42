"""DICOM files made with pydicom, uploaded through Storage by the doctor, read by the worker's
ingestion job (issue 20, item 1): a real file yields its study, series and instance rows and the
scan is acquired; the same instance again is refused; a file whose PatientID is not the MRN is
flagged and not attached; a file that is not DICOM is said so. The database's rules are in
supabase/tests/radiology_scans.test.sql."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession
from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.jobs.dicom_ingestion import DicomIngestion, read_header
from sidecar.settings import SidecarSettings

DOCTOR = "dr.sandhu@nabha.carebase.test"
HOSPITAL = "10000000-0000-4000-8000-000000000001"
PATIENT = "60000000-0000-4000-8000-000000000001"  # on Dr. Sandhu's care team
ECHO_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.6.1"  # Ultrasound Image Storage


def dicom_file(patient_id: str, sop: str, study: str, series: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ECHO_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = ECHO_SOP_CLASS, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientID, ds.PatientName = patient_id, "Singh^Balwinder"
    ds.Modality, ds.StudyDate, ds.StudyDescription = "US", "20261201", "Echocardiogram"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 64, 64, 1
    ds.PhotometricInterpretation, ds.BitsAllocated, ds.BitsStored, ds.HighBit = (
        "MONOCHROME2",
        8,
        8,
        7,
    )
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(256)) * 16  # 64 x 64, 8 bits
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.fixture
def scan(stack: Settings) -> Iterator[tuple[str, str]]:
    """An echo ordered for Dr. Sandhu's patient: (scan id, the patient's MRN); everything made
    for it is removed afterwards (clinical rows only in replica mode, as the superuser)."""
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        (doctor,) = conn.execute("select id from auth.users where email = %s", (DOCTOR,)).fetchone()
        (scan_id,) = conn.execute(
            "insert into public.radiology_scans (patient_id, hospital_id, ordered_by, modality,"
            " study_type) values (%s, %s, %s, 'US', 'Echocardiogram') returning id::text",
            (PATIENT, HOSPITAL, doctor),
        ).fetchone()
        (mrn,) = conn.execute(
            "select mrn from public.patient_registrations"
            " where patient_id = %s and hospital_id = %s",
            (PATIENT, HOSPITAL),
        ).fetchone()
    yield scan_id, mrn
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        conn.execute(
            "delete from public.dicom_instances where storage_path like %s", (f"scans/{scan_id}/%",)
        )
        conn.execute(
            "delete from public.dicom_series where study_id in"
            " (select id from public.dicom_studies where scan_id = %s)",
            (scan_id,),
        )
        conn.execute("delete from public.dicom_uploads where scan_id = %s", (scan_id,))
        conn.execute("delete from public.dicom_studies where scan_id = %s", (scan_id,))
        conn.execute("delete from public.radiology_scans where id = %s", (scan_id,))
        conn.execute("delete from public.status_history where subject_id = %s", (scan_id,))
    with httpx.Client(base_url=f"{stack.api_url}/storage/v1", timeout=30) as http:
        removed = http.request(
            "DELETE",
            "/object/dicom",
            headers=service_headers(stack),
            json={"prefixes": [f"scans/{scan_id}/{name}" for name in NAMES]},
        )
        assert removed.status_code == 200, removed.text


NAMES = ("echo-1.dcm", "echo-1-again.dcm", "other-patient.dcm", "notes.txt")


def service_headers(stack: Settings) -> dict[str, str]:
    key = stack.service_role_key
    return {"apikey": key, "Authorization": f"Bearer {key}"}


def upload(stack: Settings, scan_id: str, name: str, body: bytes) -> httpx.Response:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(DOCTOR, "aal2")
    headers = {
        "apikey": stack.anon_key,
        "Authorization": f"Bearer {issue(claims, stack.jwt_secret)}",
        "Content-Type": "application/dicom",
    }
    return httpx.post(
        f"{stack.api_url}/storage/v1/object/dicom/scans/{scan_id}/{name}",
        content=body,
        headers=headers,
        timeout=30,
    )


async def ingest(stack: Settings, scan_id: str) -> None:
    """Runs the job until the scan's uploads are decided (`make up`'s worker runs the same job
    and may take some of them first: then its answer is waited for)."""
    settings = SidecarSettings(supabase_url=stack.api_url)
    async with httpx.AsyncClient() as http:
        job = DicomIngestion(settings, SupabaseApi(settings, http))
        for _ in range(100):
            await job.run_once()
            with psycopg.connect(stack.dsn()) as conn:
                (pending,) = conn.execute(
                    "select count(*) from public.dicom_uploads where scan_id = %s"
                    " and status = 'pending'",
                    (scan_id,),
                ).fetchone()
            if pending == 0:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the uploads were not ingested")


def test_a_real_dicom_file_is_ingested_once_and_a_wrong_patients_file_is_flagged(
    stack: Settings, sidecar: str, scan: tuple[str, str]
) -> None:
    scan_id, mrn = scan
    study, series, sop = (generate_uid() for _ in range(3))
    echo = dicom_file(mrn, sop, study, series)
    other = dicom_file("NAB-2026-999999", generate_uid(), study, series)
    for name, body in zip(NAMES, (echo, echo, other, b"not a dicom file at all"), strict=True):
        assert upload(stack, scan_id, name, body).status_code == 200, name
    asyncio.run(ingest(stack, scan_id))

    with psycopg.connect(stack.dsn()) as conn:
        outcomes = dict(
            conn.execute(
                "select split_part(storage_path, '/', 3), status::text from public.dicom_uploads"
                " where scan_id = %s",
                (scan_id,),
            ).fetchall()
        )
        rows = conn.execute(
            "select st.study_instance_uid, se.series_instance_uid, i.sop_instance_uid,"
            " i.rows_count, i.dicom_patient_id from public.dicom_instances as i"
            " join public.dicom_series as se on se.id = i.series_id"
            " join public.dicom_studies as st on st.id = se.study_id where st.scan_id = %s",
            (scan_id,),
        ).fetchall()
        (status,) = conn.execute(
            "select status::text from public.radiology_scans where id = %s", (scan_id,)
        ).fetchone()
    assert outcomes == {
        "echo-1.dcm": "ingested",
        "echo-1-again.dcm": "duplicate",
        "other-patient.dcm": "patient_mismatch",
        "notes.txt": "not_dicom",
    }
    assert rows == [(study, series, sop, 64, mrn)]
    assert status == "acquired"

    # The viewer's URLs: the doctor's signed link downloads the very file.
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(DOCTOR, "aal2")
    response = httpx.get(
        f"{sidecar}/api/v1/scans/{scan_id}/dicom",
        headers={"Authorization": f"Bearer {issue(claims, stack.jwt_secret)}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    [instance] = response.json()["studies"][0]["series"][0]["instances"]
    url = instance["signed_url"]
    downloaded = httpx.get(url if url.startswith("http") else f"{stack.api_url}/storage/v1{url}")
    assert downloaded.content == echo


def test_the_header_is_read_from_the_files_start_without_its_pixel_data() -> None:
    sop = generate_uid()
    body = dicom_file("NAB-1", sop, generate_uid(), generate_uid())
    start = body[: len(body) - 64 * 64 + 16]  # the pixel data cut off
    header = read_header(start, complete=False)
    assert (header["dicm"], header["sop_instance_uid"], header["patient_id"]) == (
        True,
        sop,
        "NAB-1",
    )
    assert read_header(b"\0" * 200, complete=True) == {"dicm": False}
