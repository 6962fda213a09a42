"""devstack Storage (/storage/v1) with the official `storage3` client, as an app would use it:
upload, download, list, move, copy, remove, signed URLs, bucket limits, and the
patient-documents bucket's real policies deciding who reads what."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jwt
import psycopg
import pytest
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession
from devstack.storage.config import StorageConfig
from devstack.storage.object_store import ObjectStore

DOCTOR = "dr.sandhu@nabha.carebase.test"
HOSPITAL = "10000000-0000-4000-8000-000000000001"
# Two patients of Dr. Sandhu's care team, each with a login.
PATIENT, PATIENT_USER = (
    "60000000-0000-4000-8000-000000000001",
    "50000000-0000-4000-8000-000000000001",
)
OTHER_PATIENT, OTHER_USER = (
    "60000000-0000-4000-8000-000000000002",
    "50000000-0000-4000-8000-000000000002",
)


def client(gateway: str, key: str, token: str | None = None) -> SyncStorageClient:
    headers = {"apikey": key, "Authorization": f"Bearer {token or key}"}
    return SyncStorageClient(f"{gateway}/storage/v1/", headers)


def user_token(stack: Settings, user: str, aal: str | None = None) -> str:
    with psycopg.connect(stack.dsn()) as conn:
        return issue(PostgrestSession(conn).claims_for(user, aal), stack.jwt_secret)


def refusal(call: Callable[[], object]) -> dict[str, str]:
    """What Storage answered a storage3 call it refused: the error's status and message."""
    with pytest.raises(StorageApiError) as raised:
        call()
    return {"status": str(raised.value.status), "message": raised.value.message}


def files_of(stack: Settings, bucket: str, name: str) -> list[Path]:
    """Every file (versions, partial uploads) devstack keeps for an object."""
    directory = ObjectStore(StorageConfig.from_settings(stack).root).path(bucket, name, "x").parent
    try:
        return sorted(directory.iterdir())
    except FileNotFoundError:  # none yet, or Storage removed the last one as we looked
        return []


@pytest.fixture
def service(gateway: str, stack: Settings) -> SyncStorageClient:
    return client(gateway, stack.service_role_key)


@pytest.fixture
def bucket(service: SyncStorageClient) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:10]}"
    service.create_bucket(name)
    yield name
    service.empty_bucket(name)
    service.delete_bucket(name)


def test_upload_download_info_and_list(service: SyncStorageClient, bucket: str) -> None:
    files = service.from_(bucket)
    files.upload(
        "reports/2026/ecg.pdf",
        b"%PDF-1.7 ecg",
        {"content-type": "application/pdf", "metadata": {"study": "resting ECG"}},
    )
    files.upload("reports/echo.pdf", b"%PDF-1.7 echo", {"content-type": "application/pdf"})
    files.upload("readme.txt", b"hello", {"content-type": "text/plain", "cache-control": "60"})

    assert files.download("reports/2026/ecg.pdf") == b"%PDF-1.7 ecg"
    info = files.info("readme.txt")
    assert (info["size"], info["content_type"], info["cache_control"]) == (
        5,
        "text/plain",
        "max-age=60",
    )
    assert info["etag"] == '"5d41402abc4b2a76b9719d911017c592"'  # md5 of "hello", as S3's
    assert files.exists("readme.txt") and not files.exists("nope.txt")
    assert files.info("reports/2026/ecg.pdf")["metadata"] == {"study": "resting ECG"}

    top = files.list()
    assert [(entry["name"], entry["id"] is None) for entry in top] == [
        ("readme.txt", False),
        ("reports", True),
    ]
    assert top[0]["metadata"]["mimetype"] == "text/plain"
    assert [entry["name"] for entry in files.list("reports")] == ["2026", "echo.pdf"]
    assert [entry["name"] for entry in files.list("reports", {"search": "ec"})] == ["echo.pdf"]


def test_ranges_and_cached_copies(gateway: str, stack: Settings, bucket: str) -> None:
    """A viewer reads part of a large study, and revalidates what it has."""
    url = f"{gateway}/storage/v1/object/{bucket}/series.bin"
    headers = {"apikey": stack.service_role_key}
    assert httpx.post(url, content=bytes(range(256)), headers=headers).status_code == 200
    part = httpx.get(url, headers={**headers, "Range": "bytes=10-19"})
    assert (part.status_code, part.content) == (206, bytes(range(10, 20)))
    assert part.headers["content-range"] == "bytes 10-19/256"
    tail = httpx.get(url, headers={**headers, "Range": "bytes=-6"})
    assert tail.content == bytes(range(250, 256))
    beyond = httpx.get(url, headers={**headers, "Range": "bytes=300-"})
    assert (beyond.status_code, beyond.json()["code"]) == (416, "InvalidRange")
    etag = httpx.get(url, headers=headers).headers["etag"]
    assert httpx.get(url, headers={**headers, "If-None-Match": etag}).status_code == 304


def test_a_duplicate_needs_upsert(
    gateway: str, stack: Settings, service: SyncStorageClient, bucket: str
) -> None:
    files = service.from_(bucket)
    files.upload("a.txt", b"first", {"content-type": "text/plain"})
    assert refusal(lambda: files.upload("a.txt", b"second")) == {
        "status": "409",
        "message": "The resource already exists",
    }
    # on the wire as Storage answers it: HTTP 400, the error's own status in the body
    raw = httpx.post(
        f"{gateway}/storage/v1/object/{bucket}/a.txt",
        content=b"again",
        headers={"apikey": stack.service_role_key},
    )
    assert (raw.status_code, raw.json()) == (
        400,
        {
            "statusCode": "409",
            "code": "KeyAlreadyExists",
            "error": "Duplicate",
            "message": "The resource already exists",
        },
    )
    assert refusal(lambda: service.create_bucket(bucket))["status"] == "409"
    files.upload("a.txt", b"second", {"content-type": "text/plain", "upsert": "true"})
    assert files.download("a.txt") == b"second"
    files.update("a.txt", b"third", {"content-type": "text/plain"})
    assert files.download("a.txt") == b"third"


def test_move_copy_and_remove(stack: Settings, service: SyncStorageClient, bucket: str) -> None:
    files = service.from_(bucket)
    files.upload("inbox/scan.png", b"\x89PNG scan", {"content-type": "image/png"})
    files.move("inbox/scan.png", "archive/scan.png")
    assert refusal(lambda: files.download("inbox/scan.png")) == {
        "status": "404",
        "message": "Object not found",
    }
    files.copy("archive/scan.png", "shared/scan.png")
    assert files.download("archive/scan.png") == files.download("shared/scan.png")

    removed = files.remove(["archive/scan.png", "shared/scan.png", "never/was.png"])
    assert sorted(row["name"] for row in removed) == ["archive/scan.png", "shared/scan.png"]
    assert files.list() == []
    for name in ("inbox/scan.png", "archive/scan.png", "shared/scan.png"):
        assert files_of(stack, bucket, name) == []  # no bytes left behind


def test_signed_download_urls(
    gateway: str, stack: Settings, service: SyncStorageClient, bucket: str
) -> None:
    files = service.from_(bucket)
    files.upload("x-ray.png", b"\x89PNG x-ray", {"content-type": "image/png"})
    signed = files.create_signed_url("x-ray.png", 60)["signedURL"]
    opened = httpx.get(signed)  # no key, no JWT: the token is the permission
    assert (opened.status_code, opened.content) == (200, b"\x89PNG x-ray")
    assert opened.headers["content-type"] == "image/png"

    base = signed.split("?")[0]
    now = int(time.time())
    expired = jwt.encode(
        {"url": f"{bucket}/x-ray.png", "scope": "download", "iat": now - 120, "exp": now - 60},
        stack.jwt_secret,
    )
    forged = jwt.encode(
        {"url": f"{bucket}/x-ray.png", "scope": "download", "exp": now + 60}, "not-the-secret" * 3
    )
    other_object = files.create_signed_url("x-ray.png", 60)["signedURL"].split("token=")[1]
    for token, message in [
        (expired, '"exp" claim timestamp check failed'),
        (forged, "signature verification failed"),
    ]:
        answer = httpx.get(base, params={"token": token})
        assert answer.status_code == 400
        assert answer.json() == {
            "statusCode": "400",
            "code": "InvalidJWT",
            "error": "InvalidJWT",
            "message": message,
        }
    elsewhere = httpx.get(
        f"{gateway}/storage/v1/object/sign/{bucket}/other.png", params={"token": other_object}
    )
    assert elsewhere.json()["code"] == "InvalidSignature"


def test_signed_upload_urls(service: SyncStorageClient, bucket: str) -> None:
    files = service.from_(bucket)
    signed = files.create_signed_upload_url("uploads/consent.pdf")
    files.upload_to_signed_url(
        "uploads/consent.pdf", signed["token"], b"%PDF consent", {"content-type": "application/pdf"}
    )
    assert files.download("uploads/consent.pdf") == b"%PDF consent"
    # the token names one object, and uploading is all it allows
    assert (
        refusal(lambda: files.upload_to_signed_url("uploads/other.pdf", signed["token"], b"x"))[
            "status"
        ]
        == "400"
    )


def test_size_and_mime_type_limits(stack: Settings, service: SyncStorageClient) -> None:
    name = f"limits-{uuid.uuid4().hex[:8]}"
    service.create_bucket(
        name, options={"file_size_limit": 1024, "allowed_mime_types": ["image/png", "text/*"]}
    )
    files = service.from_(name)
    try:
        assert refusal(
            lambda: files.upload("big.png", b"x" * 2048, {"content-type": "image/png"})
        ) == {"status": "413", "message": "The object exceeded the maximum allowed size"}
        assert refusal(
            lambda: files.upload("a.pdf", b"%PDF", {"content-type": "application/pdf"})
        ) == {"status": "415", "message": "mime type application/pdf is not supported"}
        files.upload("small.png", b"x" * 1024, {"content-type": "image/png"})
        files.upload("notes.txt", b"ok", {"content-type": "text/markdown"})
        # a refused upload leaves neither a row nor bytes
        assert sorted(entry["name"] for entry in files.list()) == ["notes.txt", "small.png"]
        assert files_of(stack, name, "big.png") == []
    finally:
        service.empty_bucket(name)
        service.delete_bucket(name)


def test_an_upload_cut_off_midway_leaves_nothing(
    gateway: str, stack: Settings, service: SyncStorageClient, bucket: str
) -> None:
    """The connection drops after half the body: no object, no file, no partial file."""
    url = urlsplit(gateway)
    with socket.create_connection((url.hostname, url.port)) as connection:
        connection.sendall(
            f"POST /storage/v1/object/{bucket}/cut.bin HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"apikey: {stack.service_role_key}\r\n"
            f"Authorization: Bearer {stack.service_role_key}\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n".encode()
            + b"x" * 524288
        )
        deadline = time.monotonic() + 10
        while not files_of(stack, bucket, "cut.bin") and time.monotonic() < deadline:
            time.sleep(0.05)
        [partial] = files_of(stack, bucket, "cut.bin")  # being written, under a temporary name
        assert partial.name.endswith(".part")
    deadline = time.monotonic() + 10
    while files_of(stack, bucket, "cut.bin") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert files_of(stack, bucket, "cut.bin") == []
    assert not service.from_(bucket).exists("cut.bin")


def test_public_buckets_serve_without_a_key(gateway: str, service: SyncStorageClient) -> None:
    name = f"public-{uuid.uuid4().hex[:8]}"
    service.create_bucket(name, options={"public": True})
    try:
        service.from_(name).upload("logo.png", b"\x89PNG logo", {"content-type": "image/png"})
        url = service.from_(name).get_public_url("logo.png")
        assert httpx.get(url).content == b"\x89PNG logo"
        private = httpx.get(f"{gateway}/storage/v1/object/public/patient-documents/x.pdf")
        assert private.json()["message"] == "Bucket not found"
    finally:
        service.empty_bucket(name)
        service.delete_bucket(name)


def test_only_the_service_role_manages_buckets(
    gateway: str, stack: Settings, service: SyncStorageClient, bucket: str
) -> None:
    doctor = client(gateway, stack.anon_key, user_token(stack, DOCTOR, "aal2"))
    assert refusal(lambda: doctor.create_bucket("mine")) == {
        "status": "403",
        "message": "new row violates row-level security policy",
    }
    assert doctor.list_buckets() == []
    assert bucket in {b.id for b in service.list_buckets()}
    service.update_bucket(bucket, {"public": True, "file_size_limit": 10})
    assert (service.get_bucket(bucket).public, service.get_bucket(bucket).file_size_limit) == (
        True,
        10,
    )
    service.from_(bucket).upload("f.txt", b"0123456789", {"content-type": "text/plain"})
    assert refusal(lambda: service.delete_bucket(bucket))["status"] == "409"


@pytest.fixture
def documents(stack: Settings) -> Iterator[dict[str, str]]:
    """One document row of each patient (metadata first, then the upload, as the app does);
    the clinical rows go afterwards as the superuser in replica mode, their objects with the
    service role."""
    paths = {}
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        for patient in (PATIENT, OTHER_PATIENT):
            path = f"patients/{patient}/{uuid.uuid4()}/report.pdf"
            conn.execute(
                "insert into public.patient_documents (patient_id, hospital_id, name,"
                " document_type, storage_path, mime_type) values (%s, %s, 'Report',"
                " 'lab_report', %s, 'application/pdf')",
                (patient, HOSPITAL, path),
            )
            paths[patient] = path
    yield paths
    service = client(stack.api_url, stack.service_role_key).from_("patient-documents")
    service.remove(list(paths.values()))
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        conn.execute(
            "delete from public.patient_documents where storage_path = any(%s)",
            (list(paths.values()),),
        )


def test_a_patient_reads_their_own_document_and_no_one_elses(
    gateway: str, stack: Settings, documents: dict[str, str]
) -> None:
    doctor = client(gateway, stack.anon_key, user_token(stack, DOCTOR, "aal2"))
    for patient, path in documents.items():
        doctor.from_("patient-documents").upload(
            path, f"report of {patient}".encode(), {"content-type": "application/pdf"}
        )
    # the care team uploads only where a document row says so (metadata first)
    unlisted = f"patients/{PATIENT}/{uuid.uuid4()}/extra.pdf"
    assert (
        refusal(lambda: doctor.from_("patient-documents").upload(unlisted, b"%PDF"))["status"]
        == "403"
    )
    patient = client(gateway, stack.anon_key, user_token(stack, PATIENT_USER)).from_(
        "patient-documents"
    )
    assert patient.download(documents[PATIENT]) == f"report of {PATIENT}".encode()

    theirs = documents[OTHER_PATIENT]
    not_found = {"status": "404", "message": "Object not found"}
    assert refusal(lambda: patient.download(theirs)) == not_found
    assert refusal(lambda: patient.info(theirs)) == not_found
    assert refusal(lambda: patient.create_signed_url(theirs, 60)) == not_found
    assert patient.list(f"patients/{OTHER_PATIENT}") == []
    # nor write into the other patient's folder, nor overwrite their document
    assert refusal(lambda: patient.upload(f"patients/{OTHER_PATIENT}/x/y.pdf", b"x")) == {
        "status": "403",
        "message": "new row violates row-level security policy",
    }
    assert refusal(lambda: patient.update(theirs, b"x"))["status"] == "403"
    assert refusal(lambda: patient.create_signed_upload_url(theirs))["status"] == "403"
    assert (
        client(gateway, stack.service_role_key).from_("patient-documents").download(theirs)
        == f"report of {OTHER_PATIENT}".encode()
    )


def test_a_bad_jwt_is_refused(gateway: str, stack: Settings, bucket: str) -> None:
    answer = httpx.post(
        f"{gateway}/storage/v1/object/list/{bucket}",
        json={"prefix": ""},
        headers={"apikey": stack.anon_key, "Authorization": "Bearer not-a-jwt"},
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "AccessDenied"
