"""`/upload/resumable`: TUS 1.0.0 resumable uploads as Supabase Storage serves them (its tus
server with creation, creation-with-upload and termination).

- POST creates an upload: Upload-Length, Upload-Metadata with `bucketName`, `objectName`,
  `contentType`, `cacheControl` (seconds) and optional `metadata` (JSON), header `x-upsert`.
  The bucket's size limit (413), MIME types (415) and the caller's RLS policies (the insert,
  or upsert, the object will need: 403) are checked here, before any byte. 201 with Location.
- PATCH appends a chunk at Upload-Offset (409 on a mismatch), streamed to disk; a dropped
  connection keeps what arrived. With the last byte the object is written as any upload is
  (uploader.py): the row as the caller and the file in one transaction; only then it exists.
- HEAD tells the offset to resume from; DELETE abandons an upload; OPTIONS needs no key.
- Under `/upload/resumable/sign` the same, without a JWT: the header `x-signature` carries the
  token of a signed upload URL (`POST /object/upload/sign/...`), which names the object.

Errors are TUS's: the real HTTP status and a plain-text message (Storage's own message for
its errors, e.g. "new row violates row-level security policy" with 403).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from devstack.storage import errors, signed_urls
from devstack.storage.callers import caller_of
from devstack.storage.config import StorageConfig
from devstack.storage.database import Caller
from devstack.storage.object_store import ObjectStore, StagedFile, file_metadata, write_all
from devstack.storage.resumable_uploads import (
    LockTimeout,
    ResumableUpload,
    UploadDirectory,
    format_metadata,
    parse_metadata,
    upload_id,
)
from devstack.storage.uploader import Target, Uploader, check_mime_type

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination"
CHUNK_TYPE = "application/offset+octet-stream"
TUS_HEADERS = (
    "Authorization, Content-Type, Location, Tus-Extension, Tus-Max-Size, Tus-Resumable,"
    " Tus-Version, Upload-Concat, Upload-Defer-Length, Upload-Length, Upload-Metadata,"
    " Upload-Offset, X-HTTP-Method-Override, X-Requested-With, X-Forwarded-Host,"
    " X-Forwarded-Proto, Forwarded"
)
PATH = "/storage/v1/upload/resumable"


class TusError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


MISSING_OFFSET = TusError(403, "Upload-Offset header required\n")
MISSING_CONTENT_TYPE = TusError(403, "Content-Type header required\n")
NOT_FOUND = TusError(404, "The file for this url was not found\n")
OFFSET_CONFLICT = TusError(409, "Upload-Offset conflict\n")
SIZE_EXCEEDED = TusError(413, "upload's size exceeded\n")
MAX_SIZE_EXCEEDED = TusError(413, "Maximum size exceeded\n")
INVALID_LENGTH = TusError(400, "Upload-Length or Upload-Defer-Length header required\n")
INVALID_METADATA = TusError(400, "Upload-Metadata is invalid.")
LOCKED = TusError(500, "failed to acquire lock before timeout")
DEFER_LENGTH = TusError(501, "creation-defer-length extension is not (yet) supported.\n")
ALREADY_COMPLETED = TusError(400, "Cannot terminate an already completed upload")


class TusRoutes:
    def __init__(self, uploader: Uploader, store: ObjectStore, config: StorageConfig) -> None:
        self.uploader = uploader
        self.store = store
        self.config = config
        self.uploads = UploadDirectory(config.root)

    async def options(self, request: Request) -> Response:
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(self.config.file_size_limit),
            "Access-Control-Allow-Methods": "POST, HEAD, PATCH, OPTIONS, DELETE",
            "Access-Control-Allow-Headers": f"{TUS_HEADERS}, Authorization, X-Upsert,"
            " Upload-Expires, ApiKey, x-signature",
            "Access-Control-Max-Age": "86400",
        }
        return Response(status_code=204, headers=headers)

    async def create(self, request: Request) -> Response:
        return await self._answer(request, self._create)

    async def append(self, request: Request) -> Response:
        return await self._answer(request, self._append)

    async def offset(self, request: Request) -> Response:
        return await self._answer(request, self._offset)

    async def terminate(self, request: Request) -> Response:
        return await self._answer(request, self._terminate)

    # ------------------------------------------------------------------ protocol

    async def _answer(
        self, request: Request, handle: Callable[[Request, Caller | None], Awaitable[Response]]
    ) -> Response:
        """The JWT first (Storage's JSON error when it fails, as its auth runs before tus),
        then the TUS exchange with TUS's plain-text errors. Under `/sign` no JWT: the
        `x-signature` token of a signed upload URL is the permission (see `_target`)."""
        signed = _signed(request)
        caller = None if signed else caller_of(request, self.config.jwt_secret)
        headers = {"Tus-Resumable": TUS_VERSION, "Access-Control-Expose-Headers": TUS_HEADERS}
        try:
            if not request.headers.get("tus-resumable"):
                raise TusError(412, "Tus-Resumable Required\n")
            response = await handle(request, caller)
        except errors.StorageError as error:
            response = _plain(error.status, error.message)
        except TusError as error:
            response = _plain(error.status, error.body)
        except LockTimeout:
            response = _plain(LOCKED.status, LOCKED.body)
        response.headers.update(headers)
        return response

    async def _create(self, request: Request, caller: Caller | None) -> Response:
        if request.headers.get("upload-defer-length") is not None:
            raise DEFER_LENGTH
        length = request.headers.get("upload-length")
        if length is None or not length.isdigit():
            raise INVALID_LENGTH
        header = request.headers.get("upload-metadata")
        try:
            metadata = parse_metadata(header) if header else {}
        except ValueError:
            raise INVALID_METADATA from None
        if not metadata:
            raise errors.StorageError(400, "InvalidRequest", "Metadata header is required")
        target = self._target(
            request, caller, metadata.get("bucketName", ""), metadata.get("objectName", "")
        )
        limits = await self.uploader.limits(target)
        if int(length) > limits.max_size:
            raise MAX_SIZE_EXCEEDED
        content_type = metadata.get("contentType")
        await self.uploader.check_permission(
            target, {"mimetype": content_type, "contentLength": int(length)}
        )
        seconds = metadata.get("cacheControl", "")
        metadata["cacheControl"] = f"max-age={seconds}" if _is_integer(seconds) else "no-cache"
        if content_type and limits.allowed_mime_types:
            check_mime_type(content_type, limits.allowed_mime_types)
        version = str(uuid.uuid4())
        upload = ResumableUpload(
            upload_id(target.bucket, target.name, version), int(length), metadata
        )
        self.uploads.create(upload)
        headers = {"Location": f"{_base_url(request)}/{upload.id}"}
        if request.headers.get("content-type") == CHUNK_TYPE:  # creation-with-upload
            async with self.uploads.locked(upload.id):
                offset = await self._receive(request, upload, 0)
                headers["Upload-Offset"] = str(offset)
                if offset == upload.size:
                    headers.update(await self._finish(request, caller, upload))
        elif upload.size == 0:
            headers.update(await self._finish(request, caller, upload))
        return Response(status_code=201, headers=headers)

    async def _append(self, request: Request, caller: Caller | None) -> Response:
        upload_offset = request.headers.get("upload-offset")
        if upload_offset is None:
            raise MISSING_OFFSET
        content_type = request.headers.get("content-type")
        if content_type is None:
            raise MISSING_CONTENT_TYPE
        if content_type != CHUNK_TYPE:
            raise TusError(400, "Invalid content-type\n")
        if not upload_offset.isdigit():
            raise TusError(400, "Invalid upload-offset\n")
        upload = self._find(request, caller)
        bucket, name, _ = upload.location
        target = self._target(request, caller, bucket, name)
        await self.uploader.check_permission(
            target, {"mimetype": upload.metadata.get("contentType"), "contentLength": upload.size}
        )
        async with self.uploads.locked(upload.id):
            upload = self._find(request, caller)  # as the previous holder of the lock left it
            if upload.completed or self.uploads.offset(upload) != int(upload_offset):
                raise OFFSET_CONFLICT
            offset = await self._receive(request, upload, int(upload_offset))
            headers = {"Upload-Offset": str(offset)}
            if offset == upload.size:
                headers.update(await self._finish(request, caller, upload))
        return Response(status_code=204, headers=headers)

    async def _offset(self, request: Request, caller: Caller | None) -> Response:
        """Under the lock: a chunk still arriving (or whose client just vanished) is
        counted once it is in, so the client resumes from where the bytes really end."""
        upload = self._find(request, caller)
        async with self.uploads.locked(upload.id):
            upload = self._find(request, caller)
        headers = {
            "Cache-Control": "no-store",
            "Upload-Offset": str(self.uploads.offset(upload)),
            "Upload-Length": str(upload.size),
            "Upload-Metadata": format_metadata(upload.metadata),
        }
        return Response(status_code=200, headers=headers)

    async def _terminate(self, request: Request, caller: Caller | None) -> Response:
        upload = self._find(request, caller)
        if upload.completed:
            raise ALREADY_COMPLETED
        async with self.uploads.locked(upload.id):
            self.uploads.remove(upload.id)
        return Response(status_code=204)

    # ------------------------------------------------------------------ internals

    def _target(self, request: Request, caller: Caller | None, bucket: str, name: str) -> Target:
        """For whom and how the object is written: the caller, with x-upsert; or, for a
        signed upload, the signer and the upsert their token names (written as the Storage
        role, the token being the permission)."""
        if caller is not None:
            upsert = request.headers.get("x-upsert") == "true"
            return Target(bucket, name, caller, caller.owner, upsert)
        claims = self._signature(request, bucket, name)
        return Target(bucket, name, None, claims.get("owner"), bool(claims.get("upsert")))

    def _signature(self, request: Request, bucket: str, name: str) -> dict:
        """The claims of a signed upload's `x-signature` token, which must name this object."""
        token = request.headers.get("x-signature")
        if not token:
            raise errors.invalid_signature("Missing x-signature header")
        return signed_urls.verify(self.config.jwt_secret, token, bucket, name, signed_urls.UPLOAD)

    def _find(self, request: Request, caller: Caller | None) -> ResumableUpload:
        """The upload the URL names (404 else); a signed request's token must name its object."""
        found = self.uploads.find(request.path_params["upload_id"])
        if found is None:
            raise NOT_FOUND
        if caller is None:
            bucket, name, _ = found.location
            self._signature(request, bucket, name)
        return found

    async def _receive(self, request: Request, upload: ResumableUpload, offset: int) -> int:
        """Appends the request's body at `offset`, one chunk at a time; a client that goes
        away leaves what arrived, to be resumed. The new offset."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and offset + int(declared) > upload.size:
            raise SIZE_EXCEEDED
        fd = os.open(
            self.uploads.data_path(upload.id), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
        )
        try:
            async for chunk in request.stream():
                if offset + len(chunk) > upload.size:
                    raise SIZE_EXCEEDED
                write_all(fd, chunk)
                offset += len(chunk)
        except ClientDisconnect:
            pass
        finally:
            os.close(fd)
        return offset

    async def _finish(
        self, request: Request, caller: Caller | None, upload: ResumableUpload
    ) -> dict[str, str]:
        """The last byte is in: the object is written as any upload (row and file together)."""
        bucket, name, version = upload.location
        data = self.uploads.data_path(upload.id)
        md5 = await asyncio.to_thread(_md5_of, data)
        metadata = file_metadata(
            upload.size,
            md5,
            upload.metadata.get("contentType") or "application/octet-stream",
            upload.metadata["cacheControl"],
            data.stat().st_mtime,
        )
        staged = StagedFile.written(data, self.store.path(bucket, name, version))
        target = self._target(request, caller, bucket, name)
        await self.uploader.complete(target, staged, metadata, _user_metadata(upload))
        upload.completed = True
        self.uploads.save(upload)
        return {"Tus-Complete": "1"}


def _signed(request: Request) -> bool:
    return request.url.path.startswith(f"{PATH}/sign")


def _base_url(request: Request) -> str:
    """Where the upload is resumed: under /sign for a signed one, as Storage answers."""
    scheme = request.headers.get("x-forwarded-proto") or request.url.scheme
    host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
    return f"{scheme}://{host}{PATH}{'/sign' if _signed(request) else ''}"


def _plain(status: int, body: str) -> Response:
    return Response(body, status_code=status, media_type="text/plain")


def _is_integer(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _user_metadata(upload: ResumableUpload) -> dict | None:
    try:
        parsed = json.loads(upload.metadata.get("metadata") or "null")
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _md5_of(path: os.PathLike) -> str:
    digest = hashlib.md5()  # noqa: S324 - an ETag, as S3 computes it, not a security check
    with open(path, "rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
