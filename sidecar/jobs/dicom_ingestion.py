"""DICOM ingestion (issue 20, item 1): the worker job that reads the headers of the files the
care team uploaded to the Storage bucket `dicom`.

The database queues each new object (a trigger on storage.objects) and decides everything
(supabase/migrations/20261210140000_radiology_scans.sql): this job leases pending uploads with
`claim_dicom_uploads`, reads the start of each object (one Range request: a header, never the
pixel data), checks the DICM preamble and parses the header with pydicom
(`stop_before_pixels`), and hands what it read to `record_dicom_header`, which makes the study,
series and instance rows, refuses a SOP instance stored already and flags a PatientID that is
not the patient's MRN. A file it cannot fetch is reported with `fail_dicom_upload` (retried
with backoff, then failed).
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import httpx
from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from sidecar.integrations.supabase_api import SupabaseApi, call_rpc, storage_object_start
from sidecar.jobs.polling import poll
from sidecar.settings import SidecarSettings

log = logging.getLogger("sidecar.dicom_ingestion")

BUCKET = "dicom"
PREAMBLE = 128
# A header larger than the first read (private tags, an embedded icon) gets one larger read.
FIRST_READ = 256 * 1024
SECOND_READ = 8 * 1024 * 1024

# The header's elements the database keeps, by pydicom keyword.
ELEMENTS = {
    "sop_instance_uid": "SOPInstanceUID",
    "sop_class_uid": "SOPClassUID",
    "study_instance_uid": "StudyInstanceUID",
    "series_instance_uid": "SeriesInstanceUID",
    "modality": "Modality",
    "study_date": "StudyDate",
    "study_time": "StudyTime",
    "accession_number": "AccessionNumber",
    "study_description": "StudyDescription",
    "series_number": "SeriesNumber",
    "series_description": "SeriesDescription",
    "body_part": "BodyPartExamined",
    "instance_number": "InstanceNumber",
    "rows": "Rows",
    "columns": "Columns",
    "frames": "NumberOfFrames",
    "patient_id": "PatientID",
    "patient_name": "PatientName",
}


class TruncatedHeader(Exception):
    """The bytes read end before the header does."""


def read_header(data: bytes, complete: bool) -> dict[str, Any]:
    """What the database needs of a DICOM Part 10 file's start: {"dicm": false} without the
    DICM preamble; otherwise the header's elements as strings. TruncatedHeader when `data` is
    not the whole file and the header runs past it."""
    if len(data) < PREAMBLE + 4 or data[PREAMBLE : PREAMBLE + 4] != b"DICM":
        return {"dicm": False}
    try:
        dataset = dcmread(io.BytesIO(data), stop_before_pixels=True)
    except (InvalidDicomError, EOFError, OSError, ValueError) as error:
        if not complete:
            raise TruncatedHeader from error
        return {"dicm": False, "error": str(error)[:200]}
    header: dict[str, Any] = {"dicm": True}
    for key, keyword in ELEMENTS.items():
        value = dataset.get(keyword)
        if value is not None and str(value) != "":
            header[key] = str(value)
    syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    if syntax:
        header["transfer_syntax_uid"] = str(syntax)
    if not complete and "sop_instance_uid" not in header:
        raise TruncatedHeader
    return header


class DicomIngestion:
    def __init__(self, settings: SidecarSettings, supabase: SupabaseApi) -> None:
        self.settings = settings
        self.supabase = supabase

    async def _header(self, path: str) -> dict[str, Any]:
        for length in (FIRST_READ, SECOND_READ):
            data = await storage_object_start(self.supabase, BUCKET, path, length)
            complete = len(data) < length
            try:
                return await asyncio.to_thread(read_header, data, complete)
            except TruncatedHeader:
                continue
        return {"dicm": False, "error": f"no header within the first {SECOND_READ} bytes"}

    async def run_once(self) -> int:
        """Ingests one batch of pending uploads; returns how many were claimed."""
        service = self.supabase.as_service()
        leases = await call_rpc(service, "claim_dicom_uploads", {"batch": 20, "lease_seconds": 120})
        for lease in leases or []:
            ids = {"upload_id": lease["upload_id"], "scan_id": lease["scan_id"]}
            try:
                header = await self._header(lease["storage_path"])
            except httpx.HTTPError as error:
                outcome = await call_rpc(
                    service,
                    "fail_dicom_upload",
                    {
                        "upload_id": lease["upload_id"],
                        "claim_token": lease["claim_token"],
                        "error": f"the file could not be read: {error}"[:500],
                        "max_attempts": self.settings.worker_max_attempts,
                    },
                )
                log.warning("dicom upload not read", extra={**ids, "outcome": outcome})
                continue
            answer = await call_rpc(
                service,
                "record_dicom_header",
                {
                    "upload_id": lease["upload_id"],
                    "claim_token": lease["claim_token"],
                    "header": header,
                },
            )
            log.info("dicom upload ingested", extra={**ids, "outcome": answer.get("outcome")})
        return len(leases or [])

    async def run(self, stop: asyncio.Event) -> None:
        log.info("dicom ingestion started")
        await poll(
            self.run_once, stop, self.settings.worker_poll_seconds, log, "dicom ingestion failed"
        )
