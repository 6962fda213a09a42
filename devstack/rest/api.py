"""`/rest/v1`: a PostgREST-compatible API over the local database, answering as PostgREST v13
does (the version hosted Supabase runs; the README's "REST API and PostgREST versions").

Routing only. Each request goes the way PostgREST's App sends it: read once into an
ApiRequest (request), planned and composed by its handler (reads, writes, rpc, openapi),
run in one transaction as the role of its JWT (transaction), answered with PostgREST's
statuses, headers and four-key error bodies (responses, errors). The schema cache is kept
current by the listener."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from devstack.config import Settings
from devstack.gateway.connections import ConnectionPool
from devstack.rest import (
    errors,
    fuzzy_names,
    openapi,
    reads,
    request,
    responses,
    rpc,
    schema_cache,
    writes,
)
from devstack.rest.errors import ApiError
from devstack.rest.listener import Schema
from devstack.rest.request import ApiRequest
from devstack.rest.schema_cache import Relation
from devstack.rest.transaction import Transactions

log = logging.getLogger("carebase.rest")

METHODS = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"]
Handler = Callable[[Transactions, ApiRequest, Relation], Awaitable[Response]]
RELATION_HANDLERS: dict[str, Handler] = {
    "GET": reads.read,
    "HEAD": reads.read,
    "POST": writes.insert,
    "PATCH": writes.update,
    "DELETE": writes.delete,
    "PUT": writes.put,
}


class RestApi:
    def __init__(self, settings: Settings, pool: ConnectionPool) -> None:
        self.settings = settings
        self.schema = Schema(settings, pool)
        self.db = Transactions(pool, self.schema)
        self.routes: list[BaseRoute] = [
            Route("/", _endpoint(self.root), methods=METHODS),
            Route("/rpc/{name}", _endpoint(self.rpc), methods=METHODS),
            Route("/{name}", _endpoint(self.relation), methods=METHODS),
        ]

    async def startup(self) -> None:
        await self.schema.start()

    async def shutdown(self) -> None:
        await self.schema.stop()

    async def root(self, http: Request) -> Response:
        if http.method not in ("GET", "HEAD", "OPTIONS"):
            raise errors.unsupported_method(http.method)
        req = await request.read(http, self.settings.jwt_secret, self._timezones, False)
        if req.method == "OPTIONS":
            return Response(status_code=200, headers={"Allow": "OPTIONS,GET,HEAD"})
        return _profiled(req, await openapi.serve(self.db, req, self.settings.api_url))

    async def relation(self, http: Request) -> Response:
        if http.method == "OPTIONS":
            writable = self._relation(http.path_params["name"]).writable
            allow = "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE" if writable else "OPTIONS,GET,HEAD"
            return Response(status_code=200, headers={"Allow": allow})
        req = await request.read(http, self.settings.jwt_secret, self._timezones)
        relation = self._relation(req.target)
        handler = RELATION_HANDLERS.get(req.method)
        if handler is None:
            raise errors.unsupported_method(req.method)
        return _profiled(req, await handler(self.db, req, relation))

    async def rpc(self, http: Request) -> Response:
        if http.method == "OPTIONS":
            name = http.path_params["name"]
            overloads = self.schema.cache.functions.get(name)
            if not overloads:
                suggestion = fuzzy_names.closest(self.schema.cache.functions, name)
                raise errors.unknown_function(name, set(), False, suggestion)
            # a volatile function is only called with POST
            allow = "OPTIONS,GET,HEAD,POST" if overloads[0].read_only else "OPTIONS,POST"
            return Response(status_code=200, headers={"Allow": allow})
        if http.method not in ("GET", "HEAD", "POST"):
            raise errors.function_method(http.method)
        req = await request.read(http, self.settings.jwt_secret, self._timezones)
        return _profiled(req, await rpc.call(self.db, req))

    @property
    def _timezones(self) -> frozenset[str]:
        return self.schema.cache.timezones

    def _relation(self, name: str) -> Relation:
        relation = self.schema.cache.relations.get(name)
        if relation is None:
            raise errors.unknown_table(name, fuzzy_names.closest(self.schema.cache.relations, name))
        return relation


def _profiled(req: ApiRequest, response: Response) -> Response:
    """A response with a body names its schema when the request named it by profile, as
    PostgREST's (Content-Profile)."""
    if req.by_profile and "content-type" in response.headers:
        response.headers["Content-Profile"] = schema_cache.EXPOSED_SCHEMA
    return response


def _endpoint(handler: Callable[[Request], Awaitable[Response]]) -> Callable:
    """The handler, its errors answered as PostgREST's four-key bodies."""

    async def endpoint(http: Request) -> Response:
        try:
            return await handler(http)
        except ApiError as error:
            return responses.error_response(error)
        except Exception:
            log.exception("unexpected error in %s %s", http.method, http.url.path)
            return JSONResponse(errors.internal().body(), 500)

    return endpoint
