"""Object bytes on local disk, one immutable file per object version.

An object's files live in a directory named by the SHA-256 of "<bucket>/<name>" (object names
may hold anything Storage allows, "..", 1,000 characters..., none of which reaches a path), one
file per version (a uuid, the `version` column). A version is written once: streamed into a
temporary file in the same directory, fsynced, then renamed into place, so a reader never sees
half of it. A new version never replaces a file: the row is switched to it in the database
transaction, and the old version's file is removed after the commit. Copies and moves are hard
links to the same immutable bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.storage import errors


@dataclass
class StagedFile:
    """A version being written: bytes go to `temporary` until `publish` renames it."""

    temporary: Path
    final: Path
    size: int = 0
    md5: Any = field(default_factory=hashlib.md5)
    _fd: int = -1

    @classmethod
    def written(cls, temporary: Path, final: Path) -> StagedFile:
        """Bytes already written elsewhere (a resumable upload's), to be published."""
        final.parent.mkdir(parents=True, exist_ok=True)
        return cls(temporary, final, temporary.stat().st_size, _fd=os.open(temporary, os.O_RDONLY))

    def write(self, chunk: bytes) -> None:
        write_all(self._fd, chunk)
        self.md5.update(chunk)
        self.size += len(chunk)

    async def publish(self) -> None:
        """Durable, then visible under its final name (rename is atomic)."""
        await asyncio.to_thread(os.fsync, self._fd)
        os.close(self._fd)
        self._fd = -1
        os.rename(self.temporary, self.final)
        await asyncio.to_thread(_fsync_directory, self.final.parent)

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temporary)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.final)
        _remove_if_empty(self.final.parent)


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, bucket: str, name: str, version: str) -> Path:
        digest = hashlib.sha256(f"{bucket}/{name}".encode()).hexdigest()
        return self.root / "objects" / digest[:2] / digest / version

    def stage(self, bucket: str, name: str, version: str) -> StagedFile:
        final = self.path(bucket, name, version)
        final.parent.mkdir(parents=True, exist_ok=True)
        staged = StagedFile(final.with_name(f".{version}.part"), final)
        staged._fd = os.open(staged.temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        return staged

    async def receive(
        self, staged: StagedFile, chunks: AsyncIterator[bytes], limit: int
    ) -> StagedFile:
        """Streams `chunks` into `staged`, never holding more than one chunk; discards it
        and answers 413 once it grows past `limit` bytes."""
        try:
            async for chunk in chunks:
                if staged.size + len(chunk) > limit:
                    raise errors.entity_too_large()
                staged.write(chunk)
        except BaseException:
            staged.discard()
            raise
        return staged

    def open(self, bucket: str, name: str, version: str | None) -> int:
        """A descriptor on a version's bytes: they stay readable even if the version is
        removed meanwhile. 404 when the file is missing."""
        try:
            return os.open(self.path(bucket, name, version or ""), os.O_RDONLY)
        except (FileNotFoundError, IsADirectoryError):
            raise errors.no_such_key() from None

    def link(self, source: tuple[str, str, str], target: tuple[str, str, str]) -> Path:
        """The same bytes under another object version (copy, move); returns the new path."""
        destination = self.path(*target)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.path(*source), destination)
        except FileNotFoundError:
            raise errors.no_such_key() from None
        return destination

    def remove(self, bucket: str, name: str, version: str | None) -> None:
        if not version:
            return
        path = self.path(bucket, name, version)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        _remove_if_empty(path.parent)


def forget_all(root: Path) -> None:
    """Every object's bytes and every upload in progress under `root`: gone with the database
    whose rows named them (`carebase db reset`). The root itself may be shared: it stays."""
    for part in ("objects", "uploads"):
        shutil.rmtree(root / part, ignore_errors=True)


def file_metadata(
    size: int, etag: str, mime_type: str, cache_control: str, modified: float
) -> dict[str, Any]:
    """The `metadata` column as Storage fills it after an upload."""
    return {
        "eTag": f'"{etag}"',
        "size": size,
        "mimetype": mime_type,
        "cacheControl": cache_control,
        "lastModified": datetime.fromtimestamp(modified, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "contentLength": size,
        "httpStatusCode": 200,
    }


def write_all(fd: int, chunk: bytes) -> None:
    """os.write until every byte is written (it may write fewer)."""
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_if_empty(directory: Path) -> None:
    with contextlib.suppress(OSError):
        directory.rmdir()
