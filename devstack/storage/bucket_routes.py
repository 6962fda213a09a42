"""`/bucket`: create, list, read, update, empty and delete buckets. Every statement runs as
the caller, so RLS on storage.buckets decides: with no policies there (as on a new Supabase
project) only the service role manages buckets."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from devstack.storage import errors
from devstack.storage.callers import caller_of
from devstack.storage.config import StorageConfig
from devstack.storage.database import StorageDatabase, owner_columns
from devstack.storage.http import bucket_json, json_body, message, required_text
from devstack.storage.object_store import ObjectStore
from devstack.storage.uploader import check_bucket_name

_MIME_TYPE = re.compile(r"^([a-zA-Z0-9\-+.]+)/([a-zA-Z0-9\-+.]+)(;\s*charset=[a-zA-Z0-9\-]+)?$|\*$")
# Storage reads bucket limits written with a unit in decimal units.
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(gb|mb|kb|b)$", re.IGNORECASE)
_UNITS = {"gb": 10**9, "mb": 10**6, "kb": 1000, "b": 1}


class BucketRoutes:
    def __init__(self, db: StorageDatabase, store: ObjectStore, config: StorageConfig) -> None:
        self.db = db
        self.store = store
        self.config = config

    async def create(self, request: Request) -> Response:
        caller = caller_of(request, self.config.jwt_secret)
        body = await json_body(request)
        name = required_text(body, "name")
        if name.strip() != name:
            raise errors.invalid_bucket_name()
        check_bucket_name(name)
        bucket_id = str(body.get("id") or name)
        check_bucket_name(bucket_id)
        row = {
            "id": bucket_id,
            "name": name,
            **owner_columns(caller.owner),
            "public": bool(body.get("public", False)),
            **self._limits(body),
        }
        async with self.db.as_caller(caller) as queries:
            try:
                await queries.insert_bucket(row)
            except psycopg.errors.UniqueViolation:
                raise errors.already_exists("BucketAlreadyExists") from None
        return JSONResponse({"name": name})

    async def list(self, request: Request) -> Response:
        caller = caller_of(request, self.config.jwt_secret)
        options: dict[str, Any] = dict(request.query_params)
        for key in ("limit", "offset"):
            if options.get(key) is not None:
                options[key] = _whole_number(options[key], key)
        async with self.db.as_caller(caller) as queries:
            rows = await queries.list_buckets(options)
        return JSONResponse([bucket_json(row) for row in rows])

    async def read(self, request: Request) -> Response:
        caller = caller_of(request, self.config.jwt_secret)
        async with self.db.as_caller(caller) as queries:
            row = await queries.find_bucket(request.path_params["bucket"])
        if row is None:
            raise errors.no_such_bucket()
        return JSONResponse(bucket_json(row))

    async def update(self, request: Request) -> Response:
        caller = caller_of(request, self.config.jwt_secret)
        bucket_id = request.path_params["bucket"]
        check_bucket_name(bucket_id)
        body = await json_body(request)
        changes = self._limits(body, only_given=True)
        if "public" in body:
            changes["public"] = bool(body["public"])
        if not changes:
            raise errors.no_content()
        async with self.db.as_caller(caller) as queries:
            if not await queries.update_bucket(bucket_id, changes):
                raise errors.no_such_bucket()
        return message("Successfully updated")

    async def empty(self, request: Request) -> Response:
        """Every object of a bucket the caller can see goes, as Storage's admin removes them."""
        caller = caller_of(request, self.config.jwt_secret)
        bucket_id = request.path_params["bucket"]
        async with self.db.as_caller(caller) as queries:
            if await queries.find_bucket(bucket_id) is None:
                raise errors.no_such_bucket()
        async with self.db.transaction() as queries:
            removed = await queries.object_versions(bucket_id)
            await queries.delete_objects(bucket_id, [row["name"] for row in removed])
        for row in removed:
            self.store.remove(bucket_id, row["name"], row["version"])
        return message("Empty bucket has been queued. Completion may take up to an hour.")

    async def delete(self, request: Request) -> Response:
        caller = caller_of(request, self.config.jwt_secret)
        bucket_id = request.path_params["bucket"]
        async with self.db.transaction() as queries:
            if await queries.find_bucket(bucket_id) is None:
                raise errors.no_such_bucket()
            if await queries.has_objects(bucket_id):
                raise errors.bucket_not_empty()
            await queries.become(caller)
            if not await queries.delete_bucket(bucket_id):
                raise errors.no_such_bucket()
        return message("Successfully deleted")

    def _limits(self, body: dict[str, Any], only_given: bool = False) -> dict[str, Any]:
        """file_size_limit (bytes, or "20MB" in decimal units; never above the project's)
        and allowed_mime_types, checked as Storage checks them."""
        limits: dict[str, Any] = {}
        if not only_given or "file_size_limit" in body:
            limits["file_size_limit"] = self._size_limit(body.get("file_size_limit"))
        if not only_given or "allowed_mime_types" in body:
            types = body.get("allowed_mime_types")
            if types is not None:
                if not isinstance(types, list):
                    raise errors.invalid_request("allowed_mime_types must be array")
                types = [str(t) for t in types if t]
                for mime_type in types:
                    if len(mime_type) > 1000 or not _MIME_TYPE.search(mime_type):
                        raise errors.invalid_mime_type(mime_type)
            limits["allowed_mime_types"] = types
        return limits

    def _size_limit(self, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, str):
            match = _SIZE.match(value)
            if match is None:
                raise errors.invalid_file_size_limit()
            value = float(match.group(1)) * _UNITS[match.group(2).lower()]
        if not isinstance(value, int | float) or value < 0:
            raise errors.invalid_file_size_limit()
        if value > self.config.file_size_limit:
            raise errors.entity_too_large()
        return int(value)


def _whole_number(value: str, name: str) -> int:
    if not value.isdigit():
        raise errors.invalid_request(f"querystring/{name} must be integer")
    return int(value)
