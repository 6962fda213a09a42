"""`/object`: upload, download, info, list and remove, as Supabase Storage serves them.

Reads of a private bucket's objects are selects as the caller (RLS decides); a public
bucket's objects are read as the Storage role, by anyone (a request without a valid JWT only
there). Bytes are streamed from an open descriptor, never read whole.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from devstack.storage import errors
from devstack.storage.callers import caller_of
from devstack.storage.config import StorageConfig
from devstack.storage.database import Caller, StorageDatabase
from devstack.storage.http import (
    http_date,
    js_time,
    json_body,
    message,
    object_json,
    rendered,
)
from devstack.storage.object_store import ObjectStore
from devstack.storage.request_files import incoming_file
from devstack.storage.uploader import Target, Uploader, check_bucket_name, check_key

READ_CHUNK = 256 * 1024


class ObjectRoutes:
    def __init__(
        self, db: StorageDatabase, store: ObjectStore, uploader: Uploader, config: StorageConfig
    ) -> None:
        self.db = db
        self.store = store
        self.uploader = uploader
        self.secret = config.jwt_secret

    # ---------------------------------------------------------------- writes

    async def upload(self, request: Request) -> Response:
        """POST creates (x-upsert: true overwrites), PUT overwrites."""
        bucket, name = _location(request)
        caller = caller_of(request, self.secret)
        upsert = request.method == "PUT" or request.headers.get("x-upsert") == "true"
        target = Target(bucket, name, caller, caller.owner, upsert)
        object_id = await self.uploader.upload(target, await incoming_file(request))
        return JSONResponse({"Id": object_id, "Key": f"{bucket}/{name}"})

    async def remove_one(self, request: Request) -> Response:
        bucket, name = _location(request)
        caller = caller_of(request, self.secret)
        async with self.db.transaction() as queries:
            found = await queries.find_object(bucket, name, lock=True)
            if found is None:
                raise errors.no_such_key()
            await queries.become(caller)
            if not await queries.delete_objects(bucket, [name]):
                raise errors.access_denied()
        self.store.remove(bucket, name, found["version"])
        return message("Successfully deleted")

    async def remove_many(self, request: Request) -> Response:
        """Removes the named objects the caller may delete; answers those removed."""
        bucket = request.path_params["bucket"]
        caller = caller_of(request, self.secret)
        prefixes = (await json_body(request)).get("prefixes")
        if not isinstance(prefixes, list) or not prefixes:
            raise errors.invalid_request("body must have required property 'prefixes'")
        names = [str(p) for p in prefixes]
        async with self.db.as_caller(caller) as queries:
            removed = await queries.delete_objects(bucket, names)
        for row in removed:
            self.store.remove(bucket, row["name"], row["version"])
        return JSONResponse([object_json(row) for row in removed])

    # ---------------------------------------------------------------- reads

    async def download(self, request: Request) -> Response:
        """/object/{bucket}/{path} (anon without a valid JWT) and /object/authenticated/..."""
        allow_anon = not request.url.path.startswith(_AUTHENTICATED)
        caller = caller_of(request, self.secret, allow_invalid=allow_anon)
        row = await self.readable(caller, *_location(request))
        return self.asset(request, row)

    async def download_public(self, request: Request) -> Response:
        row = await self.public_object(*_location(request))
        return self.asset(request, row)

    async def head(self, request: Request) -> Response:
        bucket, name = _location(request)
        if "/object/public/" in request.url.path:
            row = await self.public_object(bucket, name)
        else:
            allow_anon = not request.url.path.startswith(_AUTHENTICATED)
            caller = caller_of(request, self.secret, allow_invalid=allow_anon)
            row = await self.readable(caller, bucket, name)
        return Response(status_code=200, headers=_asset_headers(row["metadata"] or {}))

    async def info(self, request: Request) -> Response:
        """/object/info/{bucket}/{path}, .../authenticated/..., .../public/...: the object's
        facts as JSON."""
        bucket, name = _location(request)
        path = request.url.path
        if "/info/public/" in path:
            row = await self.public_object(bucket, name)
        else:
            allow_anon = "/info/authenticated/" not in path
            caller = caller_of(request, self.secret, allow_invalid=allow_anon)
            row = await self.readable(caller, bucket, name)
        metadata = row["metadata"] or {}
        body = {
            "id": str(row["id"]),
            "name": row["name"],
            "version": row["version"],
            "bucket_id": row["bucket_id"],
            "size": metadata.get("size"),
            "content_type": metadata.get("mimetype"),
            "cache_control": metadata.get("cacheControl"),
            "etag": metadata.get("eTag"),
            "metadata": row["user_metadata"],
            "last_modified": js_time(row["updated_at"]),
            "created_at": js_time(row["created_at"]),
        }
        return JSONResponse(body, headers=_info_headers(metadata))

    async def list(self, request: Request) -> Response:
        bucket = request.path_params["bucket"]
        check_bucket_name(bucket)
        caller = caller_of(request, self.secret)
        body = await json_body(request)
        prefix = body.get("prefix")
        if not isinstance(prefix, str):
            raise errors.invalid_request("body must have required property 'prefix'")
        if prefix and not prefix.endswith("/"):
            prefix += "/"  # a prefix is a folder, as Storage reads it
        sort = body.get("sortBy") if isinstance(body.get("sortBy"), dict) else {}
        options = {**sort, **{k: body.get(k) for k in ("limit", "offset", "search")}}
        for key, least in (("limit", 1), ("offset", 0)):
            value = options[key]
            if value is not None and (not isinstance(value, int) or value < least):
                raise errors.invalid_request(f"body/{key} must be >= {least}")
        async with self.db.as_caller(caller) as queries:
            rows = await queries.search(bucket, prefix, options)
        return JSONResponse([rendered(row) for row in rows])

    # ---------------------------------------------------------------- lookups

    async def readable(self, caller: Caller, bucket: str, name: str) -> dict[str, Any]:
        """The object as the caller may read it: a private bucket's through their select
        policies, a public bucket's by anyone. A request without a valid JWT sees public
        buckets only."""
        check_key(name)
        async with self.db.transaction() as queries:
            found = await queries.find_bucket(bucket)
            if found is None or (not caller.authenticated and not found["public"]):
                raise errors.no_such_bucket()
            if not found["public"]:
                await queries.become(caller)
            row = await queries.find_object(bucket, name)
        if row is None:
            raise errors.no_such_key()
        return row

    async def public_object(self, bucket: str, name: str) -> dict[str, Any]:
        check_key(name)
        async with self.db.transaction() as queries:
            found = await queries.find_bucket(bucket)
            row = await queries.find_object(bucket, name)
        if found is None or not found["public"]:
            raise errors.no_such_bucket()
        if row is None:
            raise errors.no_such_key()
        return row

    def asset(self, request: Request, row: dict[str, Any], expires: str | None = None) -> Response:
        """The object's bytes with Storage's headers: 304 when the client's ETag is current,
        206 with one `Range: bytes=...`, `download` for an attachment."""
        metadata = row["metadata"] or {}
        headers = _asset_headers(metadata)
        if expires:
            headers["Expires"] = expires
        if metadata.get("eTag") and request.headers.get("if-none-match") == metadata["eTag"]:
            del headers["Content-Length"]
            return Response(status_code=304, headers=headers)
        fd = self.store.open(row["bucket_id"], row["name"], row["version"])
        size = os.fstat(fd).st_size
        start, length, status = 0, size, 200
        if request.headers.get("range"):
            try:
                start, end = byte_range(request.headers["range"], size)
            except errors.StorageError:
                os.close(fd)
                raise
            length, status = end - start + 1, 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(length)
        headers["Accept-Ranges"] = "bytes"
        download = request.query_params.get("download")
        if download is not None:
            headers["Content-Disposition"] = _attachment(download)
        return StreamingResponse(_chunks(fd, start, length), status_code=status, headers=headers)


_AUTHENTICATED = "/storage/v1/object/authenticated/"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _location(request: Request) -> tuple[str, str]:
    bucket, name = request.path_params["bucket"], request.path_params["path"]
    check_bucket_name(bucket)
    check_key(name)
    return bucket, name


def _asset_headers(metadata: dict[str, Any]) -> dict[str, str]:
    headers = {
        "Content-Type": metadata.get("mimetype") or "application/octet-stream",
        "Cache-Control": metadata.get("cacheControl") or "no-cache",
        "X-Robots-Tag": "none",
    }
    if metadata.get("eTag"):
        headers["ETag"] = metadata["eTag"]
    if metadata.get("size") is not None:
        headers["Content-Length"] = str(metadata["size"])
    if metadata.get("lastModified"):
        headers["Last-Modified"] = _last_modified(metadata["lastModified"])
    return headers


def _info_headers(metadata: dict[str, Any]) -> dict[str, str]:
    headers = {"Cache-Control": metadata.get("cacheControl") or "no-cache"}
    if metadata.get("eTag"):
        headers["ETag"] = metadata["eTag"]
    return headers


def _last_modified(value: str) -> str:
    try:
        return http_date(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return value


def _attachment(filename: str) -> str:
    if not filename:
        return "attachment;"
    encoded = quote(filename, safe="")
    return f"attachment; filename={encoded}; filename*=UTF-8''{encoded}"


def byte_range(header: str, size: int) -> tuple[int, int]:
    """First and last byte of a single `bytes=a-b`, `bytes=a-` or `bytes=-n` range, the end
    clamped to the object; Storage's 416 InvalidRange for anything else."""
    match = _RANGE.match(header)
    invalid = errors.StorageError(416, "InvalidRange", "invalid range provided", "invalid_range")
    if match is None or size <= 0 or not (match.group(1) or match.group(2)):
        raise invalid.with_http_status(416)
    first, last = match.group(1), match.group(2)
    if not first:  # the last n bytes
        if int(last) <= 0:
            raise invalid.with_http_status(416)
        return max(size - int(last), 0), size - 1
    start, end = int(first), int(last) if last else size - 1
    if start > end or start >= size:
        raise invalid.with_http_status(416)
    return start, min(end, size - 1)


async def _chunks(fd: int, start: int, length: int) -> AsyncIterator[bytes]:
    try:
        os.lseek(fd, start, os.SEEK_SET)
        while length > 0 and (chunk := os.read(fd, min(READ_CHUNK, length))):
            length -= len(chunk)
            yield chunk
    finally:
        os.close(fd)
