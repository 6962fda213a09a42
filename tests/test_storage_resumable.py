"""Resumable uploads (TUS 1.0.0 at /storage/v1/upload/resumable) with the official `tuspy`
client, as a radiology workstation sends a large study: in chunks, surviving a dropped
connection, the object appearing only once the last byte is in."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from tusclient import client as tus
from tusclient.exceptions import TusCommunicationError

from devstack.config import Settings
from devstack.storage.resumable_uploads import ResumableUpload, UploadDirectory, upload_id

CHUNK = 6 * 1024 * 1024  # Supabase's resumable chunk size
SIZE = 200 * 1024 * 1024


def tus_client(stack: Settings, token: str, upsert: bool = False) -> tus.TusClient:
    headers = {"apikey": stack.anon_key, "Authorization": f"Bearer {token}"}
    if upsert:
        headers["x-upsert"] = "true"
    return tus.TusClient(f"{stack.api_url}/storage/v1/upload/resumable", headers=headers)


def metadata(bucket: str, name: str, content_type: str = "application/dicom") -> dict[str, str]:
    return {
        "bucketName": bucket,
        "objectName": name,
        "contentType": content_type,
        "cacheControl": "3600",
    }


@pytest.fixture
def bucket(gateway: str, stack: Settings) -> Iterator[str]:
    name = f"studies-{uuid.uuid4().hex[:8]}"
    headers = {"apikey": stack.service_role_key}
    created = httpx.post(
        f"{gateway}/storage/v1/bucket",
        json={"name": name, "allowed_mime_types": ["application/dicom"]},
        headers=headers,
    )
    assert created.status_code == 200, created.text
    yield name
    httpx.post(f"{gateway}/storage/v1/bucket/{name}/empty", headers=headers)
    httpx.delete(f"{gateway}/storage/v1/bucket/{name}", headers=headers)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def interrupted_patch(upload_url: str, stack: Settings, offset: int, sent: bytes) -> None:
    """A PATCH announcing a full chunk whose connection drops after `sent`, as a flaky
    network leaves it."""
    url = urlsplit(upload_url)
    with socket.create_connection((url.hostname, url.port)) as connection:
        head = (
            f"PATCH {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"apikey: {stack.service_role_key}\r\n"
            f"Authorization: Bearer {stack.service_role_key}\r\n"
            f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n"
            f"Content-Type: application/offset+octet-stream\r\nContent-Length: {CHUNK}\r\n\r\n"
        )
        connection.sendall(head.encode() + sent)


def test_an_interrupted_200_mb_upload_resumes_and_stores_the_same_bytes(
    gateway: str, stack: Settings, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "study.dcm"
    with source.open("wb") as file:  # 200 MB nobody could guess, written in 8 MB steps
        for _ in range(SIZE // (8 * 1024 * 1024)):
            file.write(os.urandom(8 * 1024 * 1024))
    started = time.monotonic()
    first = tus_client(stack, stack.service_role_key).uploader(
        str(source), chunk_size=CHUNK, metadata=metadata(bucket, "ct/study.dcm")
    )
    first.upload(stop_at=SIZE // 2)
    assert first.offset >= SIZE // 2

    # the connection drops halfway through the next chunk
    with source.open("rb") as file:
        file.seek(first.offset)
        interrupted_patch(first.url, stack, first.offset, file.read(CHUNK // 2))
    info = httpx.get(
        f"{gateway}/storage/v1/object/info/{bucket}/ct/study.dcm",
        headers={"apikey": stack.service_role_key},
    )
    assert info.json()["message"] == "Object not found"  # not until the last byte

    # a new client resumes from the bytes the server kept (HEAD), not from zero
    resumed = tus_client(stack, stack.service_role_key).uploader(
        str(source), chunk_size=CHUNK, url=first.url
    )
    assert resumed.offset > first.offset
    resumed.upload()
    assert time.monotonic() - started < 120

    stored = tmp_path / "stored.dcm"
    with (
        httpx.stream(
            "GET",
            f"{gateway}/storage/v1/object/{bucket}/ct/study.dcm",
            headers={"apikey": stack.service_role_key},
            timeout=60,
        ) as response,
        stored.open("wb") as file,
    ):
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            file.write(chunk)
    assert sha256(stored) == sha256(source)
    listed = httpx.post(
        f"{gateway}/storage/v1/object/list/{bucket}",
        json={"prefix": "ct"},
        headers={"apikey": stack.service_role_key},
    ).json()
    assert [(e["name"], e["metadata"]["size"], e["metadata"]["mimetype"]) for e in listed] == [
        ("study.dcm", SIZE, "application/dicom")
    ]


def test_creation_checks_the_callers_policies_and_the_bucket(
    stack: Settings, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "small.dcm"
    source.write_bytes(b"DICM" * 1000)
    anonymous = tus_client(stack, stack.anon_key)
    with pytest.raises(TusCommunicationError) as refused:
        anonymous.uploader(
            str(source), metadata=metadata("patient-documents", "patients/x/y/z.dcm")
        ).upload()
    assert refused.value.status_code == 403
    assert "new row violates row-level security policy" in str(refused.value.response_content)

    service = tus_client(stack, stack.service_role_key)
    with pytest.raises(TusCommunicationError) as wrong_type:
        service.uploader(
            str(source), metadata=metadata(bucket, "a.pdf", "application/pdf")
        ).upload()
    assert wrong_type.value.status_code == 415

    service.uploader(str(source), metadata=metadata(bucket, "a.dcm")).upload()
    with pytest.raises(TusCommunicationError) as duplicate:  # x-upsert not sent
        service.uploader(str(source), metadata=metadata(bucket, "a.dcm")).upload()
    assert duplicate.value.status_code == 409
    tus_client(stack, stack.service_role_key, upsert=True).uploader(
        str(source), metadata=metadata(bucket, "a.dcm")
    ).upload()


def test_a_signed_upload_url_serves_a_resumable_upload(
    gateway: str, stack: Settings, bucket: str, tmp_path: Path
) -> None:
    """The signer's permission travels in the token (`x-signature`): no JWT needed, and the
    token names one object."""
    service = {"apikey": stack.service_role_key}
    signed = httpx.post(f"{gateway}/storage/v1/object/upload/sign/{bucket}/s.dcm", headers=service)
    token = signed.json()["token"]
    source = tmp_path / "s.dcm"
    source.write_bytes(os.urandom(CHUNK + 1000))
    uploads = f"{stack.api_url}/storage/v1/upload/resumable/sign"
    holder = tus.TusClient(uploads, headers={"x-signature": token})
    uploader = holder.uploader(str(source), chunk_size=CHUNK, metadata=metadata(bucket, "s.dcm"))
    uploader.upload()
    assert "/upload/resumable/sign/" in uploader.url
    stored = httpx.get(f"{gateway}/storage/v1/object/{bucket}/s.dcm", headers=service)
    assert stored.content == source.read_bytes()
    with pytest.raises(TusCommunicationError) as elsewhere:
        holder.uploader(str(source), metadata=metadata(bucket, "other.dcm")).upload()
    assert elsewhere.value.status_code == 400


def test_a_chunk_at_the_wrong_offset_is_refused(gateway: str, stack: Settings, bucket: str) -> None:
    headers = {
        "apikey": stack.service_role_key,
        "Tus-Resumable": "1.0.0",
        "Upload-Length": "10",
        "Upload-Metadata": "bucketName " + _b64(bucket) + ",objectName " + _b64("b.dcm"),
    }
    created = httpx.post(f"{gateway}/storage/v1/upload/resumable", headers=headers)
    assert created.status_code == 201, created.text
    patch = {
        "apikey": stack.service_role_key,
        "Tus-Resumable": "1.0.0",
        "Content-Type": "application/offset+octet-stream",
    }
    location = created.headers["location"]
    conflict = httpx.patch(location, headers={**patch, "Upload-Offset": "5"}, content=b"12345")
    assert (conflict.status_code, conflict.text) == (409, "Upload-Offset conflict\n")
    done = httpx.patch(location, headers={**patch, "Upload-Offset": "0"}, content=b"0123456789")
    assert (done.status_code, done.headers["upload-offset"]) == (204, "10")
    download = httpx.get(
        f"{gateway}/storage/v1/object/{bucket}/b.dcm", headers={"apikey": stack.service_role_key}
    )
    assert download.content == b"0123456789"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_uploads_abandoned_for_a_day_are_swept(tmp_path: Path) -> None:
    uploads = UploadDirectory(tmp_path)
    old = ResumableUpload(upload_id("b", "old.dcm", "v1"), 10, {}, created=time.time() - 2 * 86400)
    fresh = ResumableUpload(upload_id("b", "new.dcm", "v2"), 10, {})
    uploads.create(old)
    uploads.create(fresh)
    assert uploads.sweep(86400) == 1
    assert uploads.find(old.id) is None and uploads.find(fresh.id) == fresh
