"""Signed URLs, as Supabase Storage serves them:

- `POST /object/sign/{bucket}/{path}` `{expiresIn}` → `{signedURL}` for an object the caller
  may select; `POST /object/sign/{bucket}` `{expiresIn, paths}` signs several;
- `GET /object/sign/{bucket}/{path}?token=` serves the object to anyone holding a valid token;
- `POST /object/upload/sign/{bucket}/{path}` → `{url, token}` when the caller's policies allow
  the upload (checked now, as Storage does); `PUT /object/upload/sign/...?token=` uploads with
  it, as the Storage role, owned by the signer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from devstack.storage import errors, signed_urls
from devstack.storage.callers import caller_of
from devstack.storage.config import StorageConfig
from devstack.storage.database import StorageDatabase
from devstack.storage.http import http_date, json_body
from devstack.storage.object_routes import ObjectRoutes
from devstack.storage.request_files import incoming_file
from devstack.storage.uploader import Target, Uploader, check_bucket_name, check_key

# Storage refuses expiries past what a JavaScript Date holds.
MAX_EXPIRES_IN = 8_640_000_000_000


class SignedRoutes:
    def __init__(
        self,
        db: StorageDatabase,
        objects: ObjectRoutes,
        uploader: Uploader,
        config: StorageConfig,
    ) -> None:
        self.db = db
        self.objects = objects
        self.uploader = uploader
        self.secret = config.jwt_secret

    async def sign(self, request: Request) -> Response:
        bucket, name = _location(request)
        caller = caller_of(request, self.secret)
        expires_in = _expires_in(await json_body(request))
        async with self.db.as_caller(caller) as queries:
            if await queries.find_object(bucket, name) is None:
                raise errors.no_such_key()
        token = signed_urls.sign_download(self.secret, bucket, name, expires_in)
        return JSONResponse({"signedURL": f"/object/sign/{bucket}/{name}?token={token}"})

    async def sign_many(self, request: Request) -> Response:
        bucket = request.path_params["bucket"]
        check_bucket_name(bucket)
        caller = caller_of(request, self.secret)
        body = await json_body(request)
        expires_in = _expires_in(body)
        paths = body.get("paths")
        if not isinstance(paths, list):
            raise errors.invalid_request("body must have required property 'paths'")
        names = [str(path) for path in paths]
        async with self.db.as_caller(caller) as queries:
            found = {row["name"] for row in await queries.find_objects(bucket, names)}
        return JSONResponse([self._signed_entry(bucket, n, found, expires_in) for n in names])

    def _signed_entry(
        self, bucket: str, name: str, found: set[str], expires_in: int
    ) -> dict[str, Any]:
        if name not in found:
            return {
                "error": "Either the object does not exist or you do not have access to it",
                "path": name,
                "signedURL": None,
            }
        token = signed_urls.sign_download(self.secret, bucket, name, expires_in)
        return {
            "error": None,
            "path": name,
            "signedURL": f"/object/sign/{bucket}/{name}?token={token}",
        }

    async def signed_download(self, request: Request) -> Response:
        bucket, name = _location(request)
        token = _token(request)
        claims = signed_urls.verify(self.secret, token, bucket, name, signed_urls.DOWNLOAD)
        async with self.db.transaction() as queries:
            row = await queries.find_object(bucket, name)
        if row is None:
            raise errors.no_such_key()
        expires = http_date(datetime.fromtimestamp(claims["exp"], UTC))
        return self.objects.asset(request, row, expires=expires)

    async def sign_upload(self, request: Request) -> Response:
        bucket, name = _location(request)
        caller = caller_of(request, self.secret)
        upsert = request.headers.get("x-upsert") == "true"
        target = Target(bucket, name, caller, caller.owner, upsert)
        await self.uploader.limits(target)  # the bucket must exist
        await self.uploader.check_permission(target, {})
        token = signed_urls.sign_upload(self.secret, bucket, name, caller.owner, upsert)
        return JSONResponse(
            {"url": f"/object/upload/sign/{bucket}/{name}?token={token}", "token": token}
        )

    async def signed_upload(self, request: Request) -> Response:
        bucket, name = _location(request)
        claims = signed_urls.verify(self.secret, _token(request), bucket, name, signed_urls.UPLOAD)
        owner = claims.get("owner")
        target = Target(bucket, name, None, owner, bool(claims.get("upsert")))
        await self.uploader.upload(target, await incoming_file(request))
        return JSONResponse({"Key": f"{bucket}/{name}"})


def _location(request: Request) -> tuple[str, str]:
    bucket, name = request.path_params["bucket"], request.path_params["path"]
    check_bucket_name(bucket)
    check_key(name)
    return bucket, name


def _token(request: Request) -> str:
    token = request.query_params.get("token")
    if not token:
        raise errors.invalid_request("querystring must have required property 'token'")
    return token


def _expires_in(body: dict[str, Any]) -> int:
    value = body.get("expiresIn")
    try:
        seconds = int(value)  # the official clients send it as a string or a number
    except (TypeError, ValueError):
        raise errors.invalid_request("body must have required property 'expiresIn'") from None
    if seconds < 1 or seconds > MAX_EXPIRES_IN:
        raise errors.StorageError(400, "InvalidParameter", "Invalid Parameter expiresIn")
    return seconds
