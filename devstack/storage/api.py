"""StorageApi: `/storage/v1`, Supabase Storage's API over storage.buckets and storage.objects.

Routing only; one module per concern: bucket_routes, object_routes (upload, download, info,
list, remove), transfer_routes (move, copy), signed_routes (signed download and upload URLs),
tus (resumable uploads). Below them: callers (who a request acts for), uploader (an upload's
steps), database (statements, run as the caller so RLS decides), object_store (bytes on disk),
signed_urls (tokens), errors (Storage's answers). Routes are matched in order, as Storage's
router does: the fixed ones (`list`, `sign`, `info`...) before `/object/{bucket}/{path}`.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from devstack.config import Settings
from devstack.gateway.connections import ConnectionPool
from devstack.storage.bucket_routes import BucketRoutes
from devstack.storage.config import StorageConfig
from devstack.storage.database import ROLE, StorageDatabase
from devstack.storage.http import Handler, storage_route
from devstack.storage.object_routes import ObjectRoutes
from devstack.storage.object_store import ObjectStore
from devstack.storage.resumable_uploads import UploadDirectory
from devstack.storage.signed_routes import SignedRoutes
from devstack.storage.transfer_routes import TransferRoutes
from devstack.storage.tus import TusRoutes
from devstack.storage.uploader import Uploader

OBJECT = "/object/{bucket}/{path:path}"
# A resumable upload not finished within a day is abandoned; the gateway's start sweeps it.
UPLOAD_MAX_AGE_SECONDS = 24 * 60 * 60


class StorageApi:
    def __init__(self, settings: Settings) -> None:
        self.config = StorageConfig.from_settings(settings)
        self.pool = ConnectionPool(settings.dsn(ROLE), max_size=5, name="storage")
        db = StorageDatabase(self.pool)
        store = ObjectStore(self.config.root)
        uploader = Uploader(db, store, self.config)
        buckets = BucketRoutes(db, store, self.config)
        objects = ObjectRoutes(db, store, uploader, self.config)
        transfers = TransferRoutes(db, store, uploader, self.config)
        signed = SignedRoutes(db, objects, uploader, self.config)
        tus = TusRoutes(uploader, store, self.config)

        def route(path: str, endpoint: Handler, *methods: str) -> Route:
            return Route(path, storage_route(endpoint), methods=list(methods))

        self.routes: list[BaseRoute] = [
            route("/bucket", buckets.create, "POST"),
            route("/bucket", buckets.list, "GET"),
            route("/bucket/{bucket}/empty", buckets.empty, "POST"),
            route("/bucket/{bucket}", buckets.read, "GET"),
            route("/bucket/{bucket}", buckets.update, "PUT"),
            route("/bucket/{bucket}", buckets.delete, "DELETE"),
            route("/object/list/{bucket}", objects.list, "POST"),
            route("/object/move", transfers.move, "POST"),
            route("/object/copy", transfers.copy, "POST"),
            route("/object/sign/{bucket}/{path:path}", signed.sign, "POST"),
            route("/object/sign/{bucket}", signed.sign_many, "POST"),
            route("/object/sign/{bucket}/{path:path}", signed.signed_download, "GET"),
            route("/object/upload/sign/{bucket}/{path:path}", signed.sign_upload, "POST"),
            route("/object/upload/sign/{bucket}/{path:path}", signed.signed_upload, "PUT"),
            route("/object/info/public/{bucket}/{path:path}", objects.info, "GET"),
            route("/object/info/authenticated/{bucket}/{path:path}", objects.info, "GET"),
            route("/object/info/{bucket}/{path:path}", objects.info, "GET"),
            # HEAD before GET: a GET route answers HEAD too
            route("/object/public/{bucket}/{path:path}", objects.head, "HEAD"),
            route("/object/public/{bucket}/{path:path}", objects.download_public, "GET"),
            route("/object/authenticated/{bucket}/{path:path}", objects.head, "HEAD"),
            route("/object/authenticated/{bucket}/{path:path}", objects.download, "GET"),
            route(OBJECT, objects.head, "HEAD"),
            route(OBJECT, objects.download, "GET"),
            route(OBJECT, objects.upload, "POST", "PUT"),
            route(OBJECT, objects.remove_one, "DELETE"),
            route("/object/{bucket}", objects.remove_many, "DELETE"),
            route("/upload/resumable/sign", tus.options, "OPTIONS"),
            route("/upload/resumable/sign", tus.create, "POST"),
            route("/upload/resumable/sign/{upload_id}", tus.options, "OPTIONS"),
            route("/upload/resumable/sign/{upload_id}", tus.append, "PATCH"),
            route("/upload/resumable/sign/{upload_id}", tus.offset, "HEAD"),
            route("/upload/resumable/sign/{upload_id}", tus.terminate, "DELETE"),
            route("/upload/resumable", tus.options, "OPTIONS"),
            route("/upload/resumable", tus.create, "POST"),
            route("/upload/resumable/{upload_id}", tus.options, "OPTIONS"),
            route("/upload/resumable/{upload_id}", tus.append, "PATCH"),
            route("/upload/resumable/{upload_id}", tus.offset, "HEAD"),
            route("/upload/resumable/{upload_id}", tus.terminate, "DELETE"),
        ]

    async def startup(self) -> None:
        self.config.root.mkdir(parents=True, exist_ok=True)
        UploadDirectory(self.config.root).sweep(UPLOAD_MAX_AGE_SECONDS)
        await self.pool.open()

    async def shutdown(self) -> None:
        await self.pool.close()
