"""Resumable uploads in progress, on disk beside the objects (what tus' FileStore keeps): per
upload a directory with `info.json` (what the creation said) and `data` (the bytes received so
far; its size is the upload's offset, so an upload survives a gateway restart and is shared by
every gateway worker). A lock file serializes the requests of one upload across workers.

An upload id is Supabase Storage's: base64url of "<bucket>/<object name>/<version>".
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devstack.storage import errors

LOCK_TIMEOUT_SECONDS = 10.0


class LockTimeout(Exception):
    """Another request held the upload for the whole timeout."""


@dataclass
class ResumableUpload:
    id: str
    size: int  # Upload-Length
    metadata: dict[str, str]  # Upload-Metadata, cacheControl made Storage's
    created: float = field(default_factory=time.time)
    completed: bool = False

    @property
    def location(self) -> tuple[str, str, str]:
        """(bucket, object name, version)."""
        return parse_upload_id(self.id)


def upload_id(bucket: str, name: str, version: str) -> str:
    return base64.urlsafe_b64encode(f"{bucket}/{name}/{version}".encode()).decode().rstrip("=")


def parse_upload_id(text: str) -> tuple[str, str, str]:
    """(bucket, object name, version) of an upload id; Storage's InvalidUploadId else."""
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise errors.StorageError(400, "InvalidUploadId", "Invalid upload id") from None
    bucket, _, rest = decoded.partition("/")
    name, _, version = rest.rpartition("/")
    if not bucket or not name or not version:
        raise errors.StorageError(400, "InvalidUploadId", "Invalid upload id")
    return bucket, name, version


class UploadDirectory:
    def __init__(self, root: Path) -> None:
        self.root = root / "uploads"

    def _dir(self, upload_id: str) -> Path:
        return self.root / hashlib.sha256(upload_id.encode()).hexdigest()

    def data_path(self, upload_id: str) -> Path:
        return self._dir(upload_id) / "data"

    def create(self, upload: ResumableUpload) -> None:
        directory = self._dir(upload.id)
        directory.mkdir(parents=True, exist_ok=False)
        (directory / "data").touch()
        self.save(upload)

    def save(self, upload: ResumableUpload) -> None:
        directory = self._dir(upload.id)
        temporary = directory / "info.json.part"
        temporary.write_text(json.dumps(asdict(upload)))
        os.replace(temporary, directory / "info.json")

    def find(self, upload_id: str) -> ResumableUpload | None:
        try:
            info = json.loads((self._dir(upload_id) / "info.json").read_text())
        except FileNotFoundError:
            return None
        return ResumableUpload(**info)

    def offset(self, upload: ResumableUpload) -> int:
        if upload.completed:
            return upload.size
        try:
            return self.data_path(upload.id).stat().st_size
        except FileNotFoundError:
            return 0

    def remove(self, upload_id: str) -> None:
        shutil.rmtree(self._dir(upload_id), ignore_errors=True)

    def sweep(self, max_age_seconds: float) -> int:
        """Removes uploads created longer ago than `max_age_seconds` (abandoned ones, and the
        record of finished ones); how many. Run when the gateway starts."""
        removed = 0
        cutoff = time.time() - max_age_seconds
        for info in self.root.glob("*/info.json"):
            try:
                created = json.loads(info.read_text())["created"]
            except (OSError, ValueError, KeyError):
                continue
            if created < cutoff:
                shutil.rmtree(info.parent, ignore_errors=True)
                removed += 1
        return removed

    @contextlib.asynccontextmanager
    async def locked(self, upload_id: str) -> AsyncIterator[None]:
        """This upload to this request alone (every worker): waits while a previous request
        of it (say, one whose client vanished mid-chunk) is still finishing."""
        path = self._dir(upload_id) / "lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockTimeout() from None
                    await asyncio.sleep(0.05)
            yield
        finally:
            os.close(fd)  # releases the lock


def parse_metadata(header: str) -> dict[str, str]:
    """TUS Upload-Metadata: comma-separated "key base64(value)" pairs (value optional), keys
    unique and without spaces or commas. ValueError when it is not that."""
    metadata: dict[str, str] = {}
    for pair in header.split(","):
        key, _, value = pair.strip().partition(" ")
        if not key or " " in value.strip() or key in metadata:
            raise ValueError("invalid Upload-Metadata")
        try:
            metadata[key] = base64.b64decode(value.strip(), validate=True).decode() if value else ""
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError("invalid Upload-Metadata") from None
    return metadata


def format_metadata(metadata: dict[str, Any]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(str(value).encode()).decode()}" if value else key
        for key, value in metadata.items()
    )
