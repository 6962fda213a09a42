"""The file an upload request carries, read as a stream: either the raw body (its type from
Content-Type, Cache-Control as sent) or the first file of a multipart form, as the official
clients send it (fields `cacheControl` in seconds, `contentType`, `metadata` before the file).
Nothing is buffered beyond one chunk: the form is parsed as it arrives (python-multipart), and
the file's bytes are handed on as they are parsed."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from devstack.storage import errors

MAX_FIELD_BYTES = 1024 * 1024  # Storage's cap on user metadata
MAX_FORM_OVERHEAD = 4 * MAX_FIELD_BYTES  # part headers and fields together, before the file


@dataclass
class IncomingFile:
    mime_type: str
    cache_control: str
    user_metadata: dict[str, Any] | None
    declared_length: int | None  # the body's Content-Length: the file's for a raw body
    chunks: AsyncIterator[bytes]


async def incoming_file(request: Request) -> IncomingFile:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return await _form_file(request, content_type)
    length = request.headers.get("content-length")
    return IncomingFile(
        mime_type=content_type or "application/octet-stream",
        cache_control=request.headers.get("cache-control", "no-cache"),
        user_metadata=_header_metadata(request.headers.get("x-metadata")),
        declared_length=int(length) if length and length.isdigit() else None,
        chunks=_body(request),
    )


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise errors.no_content() from None


def _header_metadata(value: str | None) -> dict[str, Any] | None:
    """x-metadata: base64 of a JSON object; anything else is ignored, as Storage does."""
    if not value:
        return None
    try:
        parsed = json.loads(base64.b64decode(value))
    except (binascii.Error, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


class _FormReader:
    """Feeds the body to python-multipart and collects what its callbacks report: the
    fields before the first file, then that file's data, part by part."""

    def __init__(self, request: Request, boundary: bytes) -> None:
        self.body = _body(request)
        self.fields: dict[str, str] = {}
        self.file_type: str | None = None  # set once the first file's headers are read
        self.pending: list[bytes] = []  # file data parsed from the last chunk fed
        self.file_done = False
        self._headers: dict[bytes, bytes] = {}
        self._header = [b"", b""]
        self._value = bytearray()
        self._in_file = False
        self._name = ""
        self._overhead = 0  # bytes of part headers and fields so far
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def _part_begin(self) -> None:
        self._headers, self._value = {}, bytearray()

    def _count(self, size: int) -> None:
        """Only the file may be large: a form padded with endless headers is refused."""
        self._overhead += size
        if self._overhead > MAX_FORM_OVERHEAD:
            raise errors.invalid_request("The form's fields and headers are too large")

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        self._header[0] += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        self._header[1] += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header[0].lower()] = self._header[1]
        self._header = [b"", b""]

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options and self.file_type is None:
            self._in_file = True
            self.file_type = self._headers.get(b"content-type", b"").decode("latin-1")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.pending.append(bytes(data[start:end]))
        elif not self.file_done:
            self._count(end - start)
            if len(self._value) + end - start <= MAX_FIELD_BYTES:
                self._value += data[start:end]

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file, self.file_done = False, True
        elif self.file_type is None:
            self.fields[self._name] = self._value.decode("utf-8", "replace")

    async def feed(self) -> bool:
        """Parses the next chunk of the body; False at its end."""
        chunk = await anext(self.body, None)
        if chunk is None:
            return False
        self.parser.write(chunk)
        return True

    async def file_chunks(self) -> AsyncIterator[bytes]:
        while True:
            while self.pending:
                yield self.pending.pop(0)
            if self.file_done or not await self.feed():
                break
        async for _ in self.body:  # the rest of the form (fields after the file) is ignored
            pass


async def _form_file(request: Request, content_type: str) -> IncomingFile:
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise errors.no_content()
    reader = _FormReader(request, boundary)
    while reader.file_type is None:
        if not await reader.feed():
            raise errors.no_content()
    seconds = reader.fields.get("cacheControl")
    metadata = reader.fields.get("metadata") or reader.fields.get("userMetadata")
    user_metadata = None
    if metadata:
        try:
            user_metadata = json.loads(metadata)
        except ValueError:
            user_metadata = None
    return IncomingFile(
        mime_type=reader.fields.get("contentType") or reader.file_type or "text/plain",
        cache_control=f"max-age={seconds}" if seconds else "no-cache",
        user_metadata=user_metadata if isinstance(user_metadata, dict) else None,
        declared_length=None,  # the form's length is not the file's
        chunks=reader.file_chunks(),
    )
