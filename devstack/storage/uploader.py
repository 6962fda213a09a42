"""An upload from start to finish, as Supabase Storage's Uploader runs it, for standard,
signed and resumable uploads alike:

1. the bucket's limits (read as the Storage role): size (the bucket's, at most the project's)
   and allowed MIME types; 413 / 415 before any byte is read when the request shows it;
2. the permission test: the insert (or, with upsert, the insert-or-update) the upload will make,
   tried as the caller and rolled back, so RLS refuses before the body is read;
3. the bytes streamed to a new version file (object_store.py), 413 past the limit;
4. one transaction: the object's name locked, the row inserted (or upserted) as the caller, the
   version file renamed into place, commit; the previous version's file removed after it.
   Any failure removes the new file: a failed upload leaves neither row nor bytes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from devstack.storage import errors
from devstack.storage.config import StorageConfig
from devstack.storage.database import Caller, Queries, StorageDatabase, owner_columns
from devstack.storage.object_store import ObjectStore, StagedFile, file_metadata
from devstack.storage.request_files import IncomingFile

EMPTY_FOLDER = ".emptyFolderPlaceholder"


@dataclass(frozen=True)
class Target:
    """Where an upload goes, and for whom: `caller` None for a signed upload, whose token
    was the permission (Storage writes it as its own role)."""

    bucket: str
    name: str
    caller: Caller | None
    owner: str | None
    upsert: bool


@dataclass(frozen=True)
class Limits:
    max_size: int
    allowed_mime_types: list[str] | None


class Uploader:
    def __init__(self, db: StorageDatabase, store: ObjectStore, config: StorageConfig) -> None:
        self.db = db
        self.store = store
        self.config = config

    async def limits(self, target: Target) -> Limits:
        """The bucket's limits (404 for a bucket that does not exist)."""
        check_bucket_name(target.bucket)
        check_key(target.name)
        async with self.db.transaction() as queries:
            bucket = await queries.find_bucket(target.bucket)
        if bucket is None:
            raise errors.no_such_bucket()
        if target.name.endswith(EMPTY_FOLDER):  # a folder marker holds nothing
            return Limits(0, None)
        size = self.config.file_size_limit
        if bucket["file_size_limit"]:
            size = min(size, bucket["file_size_limit"])
        return Limits(size, bucket["allowed_mime_types"] or None)

    async def check_permission(self, target: Target, metadata: dict[str, Any]) -> None:
        """Storage's canUpload: the row the upload will write, tried and rolled back."""
        async with self.db.transaction(rollback=True) as queries:
            await self.write_row(queries, target, _row(target, str(uuid.uuid4()), metadata))

    async def upload(self, target: Target, file: IncomingFile) -> str:
        """A standard upload, from the request to the committed object; returns its id."""
        limits = await self.limits(target)
        if limits.allowed_mime_types:
            check_mime_type(file.mime_type, limits.allowed_mime_types)
        if file.declared_length is not None and file.declared_length > limits.max_size:
            raise errors.entity_too_large()
        await self.check_permission(
            target, {"mimetype": file.mime_type, "contentLength": file.declared_length}
        )
        staged = self.store.stage(target.bucket, target.name, str(uuid.uuid4()))
        await self.store.receive(staged, file.chunks, limits.max_size)
        metadata = file_metadata(
            staged.size,
            staged.md5.hexdigest(),
            file.mime_type,
            file.cache_control,
            staged.temporary.stat().st_mtime,
        )
        return await self.complete(target, staged, metadata, file.user_metadata)

    async def complete(
        self,
        target: Target,
        staged: StagedFile,
        metadata: dict[str, Any],
        user_metadata: dict[str, Any] | None,
    ) -> str:
        """Step 4: row and file together, or neither."""
        try:
            async with self.db.transaction() as queries:
                await queries.lock_object(target.bucket, target.name)
                previous = await queries.find_object(target.bucket, target.name)
                object_id = previous["id"] if previous and target.upsert else uuid.uuid4()
                row = _row(target, staged.final.name, metadata)
                row["id"] = object_id
                row["user_metadata"] = user_metadata
                await self.write_row(queries, target, row)
                await staged.publish()
        except BaseException:
            staged.discard()
            raise
        if previous is not None:
            self.store.remove(target.bucket, target.name, previous["version"])
        return str(object_id)

    async def write_row(self, queries: Queries, target: Target, row: dict[str, Any]) -> None:
        if target.caller is not None:
            await queries.become(target.caller)
        try:
            if target.upsert:
                await queries.upsert_object(row)
            else:
                await queries.insert_object(row)
        except psycopg.errors.UniqueViolation:
            raise errors.already_exists("KeyAlreadyExists") from None


def _row(target: Target, version: str, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "bucket_id": target.bucket,
        "name": target.name,
        **owner_columns(target.owner),
        "version": version,
        "metadata": metadata,
    }


def check_key(name: str) -> None:
    """Storage's object key rule: S3-safe characters only, not empty."""
    if not name or any(c not in _KEY_CHARACTERS for c in name):
        raise errors.invalid_key(name)


def check_bucket_name(name: str) -> None:
    if not name or len(name) > 100 or any(c not in _BUCKET_CHARACTERS for c in name):
        raise errors.invalid_bucket_name()


def check_mime_type(mime_type: str, allowed: list[str]) -> None:
    """Storage's rule: type and subtype as sent (parameters included) must equal an allowed
    one's, or the allowed one is `type/*`."""
    parts = mime_type.split("/")
    if len(parts) < 2:
        raise errors.invalid_mime_type(mime_type)
    for entry in allowed:
        allowed_parts = entry.split("/")
        if len(allowed_parts) < 2 or allowed_parts[0] != parts[0]:
            continue
        if allowed_parts[1] in ("*", parts[1]):
            return
    raise errors.invalid_mime_type(mime_type)


_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_!.*'() &$=@;:+,?-"
_KEY_CHARACTERS = frozenset(_SAFE + "/")
_BUCKET_CHARACTERS = frozenset(_SAFE)
