"""`/object/move` and `/object/copy`: a row renamed or added as the caller (their select
policy must show the source; a move needs their update policy, a copy their insert policy,
or insert and update with x-upsert), the bytes shared by a hard link to a new version file,
all in one transaction; the file that no row names any more is removed after the commit."""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from devstack.storage import errors
from devstack.storage.callers import caller_of
from devstack.storage.config import StorageConfig
from devstack.storage.database import StorageDatabase, owner_columns
from devstack.storage.http import json_body, message, required_text
from devstack.storage.object_store import ObjectStore
from devstack.storage.uploader import Target, Uploader, check_bucket_name, check_key


class TransferRoutes:
    def __init__(
        self, db: StorageDatabase, store: ObjectStore, uploader: Uploader, config: StorageConfig
    ) -> None:
        self.db = db
        self.store = store
        self.uploader = uploader
        self.secret = config.jwt_secret

    async def move(self, request: Request) -> Response:
        caller = caller_of(request, self.secret)
        source, target = _endpoints(await json_body(request))
        if source == target:
            return message("Successfully moved")
        version = str(uuid.uuid4())
        new_file = None
        try:
            async with self.db.transaction() as queries:
                await queries.lock_object(*target)
                found = await queries.find_object(*source, lock=True)
                await queries.become(caller)
                if found is None or await queries.find_object(*source) is None:
                    raise errors.no_such_key()
                changes = {
                    "bucket_id": target[0],
                    "name": target[1],
                    "version": version,
                    **owner_columns(caller.owner),
                }
                if not await queries.update_object(*source, changes):
                    raise errors.no_such_key()
                new_file = self.store.link((*source, found["version"]), (*target, version))
        except BaseException:
            _unlink(new_file)
            raise
        self.store.remove(*source, found["version"])
        return message("Successfully moved")

    async def copy(self, request: Request) -> Response:
        caller = caller_of(request, self.secret)
        body = await json_body(request)
        source, (bucket, name) = _endpoints(body)
        upsert = request.headers.get("x-upsert") == "true"
        target = Target(bucket, name, caller, caller.owner, upsert)
        version = str(uuid.uuid4())
        new_file = None
        try:
            async with self.db.transaction() as queries:
                await queries.lock_object(bucket, name)
                previous = await queries.find_object(bucket, name)
                await queries.become(caller)
                original = await queries.find_object(*source)
                if original is None:
                    raise errors.no_such_key()
                metadata = _copied_metadata(original, body)
                row = {
                    "id": previous["id"] if previous and upsert else uuid.uuid4(),
                    "bucket_id": bucket,
                    "name": name,
                    **owner_columns(caller.owner),
                    "version": version,
                    "metadata": metadata,
                    "user_metadata": original["user_metadata"],
                }
                await self.uploader.write_row(queries, target, row)
                new_file = self.store.link((*source, original["version"]), (bucket, name, version))
        except BaseException:
            _unlink(new_file)
            raise
        if previous is not None:
            self.store.remove(bucket, name, previous["version"])
        return JSONResponse(
            {
                "Id": str(row["id"]),
                "Key": f"{bucket}/{name}",
                "name": name,
                "bucket_id": bucket,
                "owner": caller.owner or "",
                "owner_id": caller.owner or "",
                "version": version,
                "metadata": metadata,
            }
        )


def _endpoints(body: dict[str, Any]) -> tuple[tuple[str, str], tuple[str, str]]:
    """(bucket, name) of the source and of the destination (same bucket unless named)."""
    bucket = required_text(body, "bucketId")
    source = required_text(body, "sourceKey")
    destination = required_text(body, "destinationKey")
    destination_bucket = body.get("destinationBucket") or bucket
    for name in (bucket, str(destination_bucket)):
        check_bucket_name(name)
    check_key(source)
    check_key(destination)
    return (bucket, source), (str(destination_bucket), destination)


def _copied_metadata(original: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The source's metadata, with a new mimetype or cacheControl when the copy asks not to
    keep them (`copyMetadata: false` with `metadata`)."""
    metadata = dict(original["metadata"] or {})
    asked = body.get("metadata")
    if body.get("copyMetadata") is False and isinstance(asked, dict):
        for key in ("cacheControl", "mimetype"):
            if asked.get(key) is not None:
                metadata[key] = asked[key]
    return metadata


def _unlink(path: os.PathLike | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
