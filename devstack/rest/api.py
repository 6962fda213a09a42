"""`/rest/v1`: a PostgREST-compatible API (v12-v14 behaviour) over the local database.

Every request runs in one transaction as the role of its JWT, after one `set_config`
statement (see request_context), and answers with PostgREST's statuses, headers and
four-key error bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

import psycopg
from psycopg import sql
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from devstack.config import Settings
from devstack.gateway import json_bodies
from devstack.gateway.connections import (
    AcquireTimeout,
    ConnectionLost,
    ConnectionPool,
    DatabaseUnavailable,
    TrackedConnection,
)
from devstack.rest import preferences, query_grammar, responses, schema_cache, wire
from devstack.rest.errors import (
    ApiError,
    acquisition_timeout,
    client_error,
    connection_error,
    from_database,
    invalid_body,
    not_implemented,
)
from devstack.rest.errors import unknown_column as unknown_body_column
from devstack.rest.errors import unknown_table as unknown_table_error
from devstack.rest.openapi import document as openapi_document
from devstack.rest.query_plan import PlanNode, apply_parameters, build_node, check_field
from devstack.rest.request_context import Identity, authenticate, context_query
from devstack.rest.schema_cache import Column, Function, Relation, SchemaCache
from devstack.rest.sql_builder import SqlBuilder, ident, qualified

log = logging.getLogger("carebase.rest")

METHODS = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"]
DB_MAX_ROWS = 1000
COMPILED_MAX = 512  # read statements remembered per worker (see _read)
READ_PARAMS = {"select", "order", "limit", "offset"}
BEGIN_READ_ONLY = wire.Query(b"begin read only", prepare=False)
BEGIN = wire.Query(b"begin read write", prepare=False)
COMMIT = wire.Query(b"commit", prepare=False)
ROLLBACK = wire.Query(b"rollback", prepare=False)
# What the current role may use in the exposed schema, as PostgREST's OpenAPI queries it
# (accessibleTables, accessibleFuncs): relations it holds any privilege on, functions it may
# execute, trigger functions never.
_VISIBLE_TO_ROLE = wire.query(
    b"""
    select json_build_object(
        'relations', (
            select coalesce(json_agg(c.relname), '[]')
            from pg_catalog.pg_class as c
            where c.relnamespace = %(schema)s::regnamespace
                and c.relkind in ('v', 'r', 'm', 'f', 'p') and not c.relispartition
                and (pg_catalog.pg_has_role(c.relowner, 'USAGE')
                    or pg_catalog.has_table_privilege(
                        c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                    or pg_catalog.has_any_column_privilege(
                        c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))
        ),
        'functions', (
            select coalesce(json_agg(distinct p.proname), '[]')
            from pg_catalog.pg_proc as p
            where p.pronamespace = %(schema)s::regnamespace and p.prokind = 'f'
                and p.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype)
                and pg_catalog.has_function_privilege(p.oid, 'execute')
        )
    )::text
    """,
    {"schema": schema_cache.EXPOSED_SCHEMA},
)
WRITE_PARAMS = {"select", "order", "limit", "offset", "columns", "on_conflict"}
# The schema listener's reconnection backoff, in seconds: doubled per failure up to the cap.
LISTEN_RETRY_MIN = 0.5
LISTEN_RETRY_MAX = 8.0


def _path(scope: dict) -> str:
    """request.path: the URL path under /rest/v1, as Starlette's request.url.path gives it."""
    path = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    return path.removeprefix(scope.get("root_path", "")) or "/"


@dataclass
class Outcome:
    """What the statement of a request produced."""

    response: Response
    commit: bool = True


class RestApi:
    def __init__(self, settings: Settings, pool: ConnectionPool) -> None:
        self.settings = settings
        self.pool = pool
        self.cache = SchemaCache()
        # PostgREST's db-pre-request: a function called before every request's statement.
        # The environment wins over the in-database `pgrst.db_pre_request` role setting.
        self.pre_request_override = os.environ.get("CAREBASE_DB_PRE_REQUEST") or None
        # PostgREST's db-tx-end: commit (default), commit-allow-override, rollback, ...
        # The environment wins over the in-database `pgrst.db_tx_end` role setting.
        self.tx_end_override = os.environ.get("CAREBASE_DB_TX_END") or None
        self.max_rows = DB_MAX_ROWS
        self._compiled: dict[tuple, Any] = {}  # statements per request shape: _read, _insert
        self._generation = 0  # of the schema cache; keys of _compiled
        self._listener: asyncio.Task | None = None
        self.reloaded = asyncio.Event()
        self.routes: list[BaseRoute] = [
            Route("/", self._endpoint(self.root), methods=METHODS),
            Route("/rpc/{name}", self._endpoint(self.rpc), methods=METHODS),
            Route("/{name}", self._endpoint(self.relation), methods=METHODS),
        ]

    @property
    def pre_request(self) -> str | None:
        return self.pre_request_override or self.cache.db_config.get("pgrst.db_pre_request")

    @property
    def tx_end(self) -> str:
        return self.tx_end_override or self.cache.db_config.get("pgrst.db_tx_end") or "commit"

    def _commits(self, prefs: preferences.Preferences, applied: list[str]) -> bool:
        """Whether a read-write transaction commits: db-tx-end, overridden by `Prefer: tx=`
        only when db-tx-end allows it (then reported as applied)."""
        if prefs.tx and self.tx_end.endswith("allow-override"):
            applied.append(f"tx={prefs.tx}")
            return prefs.tx == "commit"
        return not self.tx_end.startswith("rollback")

    # ------------------------------------------------------------ lifecycle

    async def startup(self) -> None:
        await self.reload()
        self._listener = asyncio.create_task(self._listen())

    async def shutdown(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    async def reload(self) -> None:
        async with self.pool.connection() as conn:
            await conn.set_read_only(True)
            self.cache = await schema_cache.load(conn)
        wire.invalidate()  # statements prepared before DDL may name types that are gone
        self._generation += 1
        self._compiled.clear()
        self.reloaded.set()
        log.info("schema cache loaded: %d relations", len(self.cache.relations))

    async def _listen(self) -> None:
        """LISTEN pgrst on a dedicated connection; reload on 'reload schema' / 'reload config'.
        A lost connection (the database restarted or was reset) is reopened with backoff, and
        the cache reloaded once listening again: the schema may have changed meanwhile."""
        delay = LISTEN_RETRY_MIN
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.settings.dsn("authenticator"), autocommit=True
                ) as conn:
                    await conn.execute("listen pgrst")
                    await self.reload()  # anything missed while not listening
                    delay = LISTEN_RETRY_MIN
                    async for notice in conn.notifies():
                        if notice.payload in ("", "reload schema", "reload config"):
                            await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
                log.warning("schema cache listener: %s; reconnecting in %.1f s", reason, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, LISTEN_RETRY_MAX)

    # ------------------------------------------------------------ plumbing

    def _endpoint(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as error:
                return responses.error_response(error)
            except Exception:
                log.exception("unexpected error in %s %s", request.method, request.url.path)
                return JSONResponse(
                    {
                        "code": "PGRSTX00",
                        "details": None,
                        "hint": None,
                        "message": "Internal error in the devstack REST API",
                    },
                    500,
                )

        return endpoint

    def _check_profile(self, request: Request, write: bool) -> None:
        header = "content-profile" if write else "accept-profile"
        profile = request.headers.get(header)
        if profile is not None and profile != schema_cache.EXPOSED_SCHEMA:
            raise ApiError(
                406,
                "PGRST106",
                f"The schema must be one of the following: {schema_cache.EXPOSED_SCHEMA}",
            )

    async def _run(
        self,
        request: Request,
        identity: Identity,
        read_only: bool,
        queries: list[wire.Query],
        respond: Callable[[list[Any]], Outcome],
        end: bool | None = None,
    ) -> Response:
        """Run `queries` in the request's transaction and answer with `respond(results)`.

        BEGIN, the settings, the pre-request call, the queries and, when the outcome cannot
        change it, the end of the transaction go in one round trip. `end` says how a
        read-write transaction ends whatever its results (True: commit, False: roll back);
        None: as the outcome of `respond` says, in a second round trip. Read-only
        transactions always commit with the first: there is nothing to undo.
        """
        context = context_query(
            identity,
            request,
            _path(request.scope),
            self.cache.role_settings.get(identity.role, []),
        )
        head = [BEGIN_READ_ONLY if read_only else BEGIN, context]
        pre_request = self.pre_request
        if pre_request:
            head.append(self._pre_request_query(pre_request))
        if read_only:
            end = True
        tail = [] if end is None else [COMMIT if end else ROLLBACK]
        conn, results = await self._first_exchange([*head, *queries, *tail], identity)
        try:
            for index, result in enumerate(results):
                if wire.failed(result):
                    error = wire.error(result)
                    await wire.rollback(conn)
                    if index == 1 and isinstance(error, psycopg.errors.InvalidParameterValue):
                        # the settings statement failed: a token for a role that does not
                        # exist (22023), 401 as PostgREST; a 22023 raised by the statement
                        # itself (a trigger, a function) maps as any other error
                        raise ApiError(
                            401,
                            "22023",
                            error.diag.message_primary or str(error),
                            headers={"WWW-Authenticate": "Bearer"},
                        )
                    raise error
            answers = results[len(head) : len(head) + len(queries)]
            if tail:
                return respond(answers).response
            try:
                outcome = respond(answers)
            except BaseException:
                await wire.rollback(conn)
                raise
            (result,) = await wire.exchange(conn, [COMMIT if outcome.commit else ROLLBACK])
            if wire.failed(result):  # a deferred constraint, say
                await wire.rollback(conn)
                raise wire.error(result)
            return outcome.response
        except psycopg.Error as error:
            raise from_database(error, identity.anonymous) from None
        finally:
            await self.pool.putconn(conn)

    async def _first_exchange(
        self, queries: list[wire.Query], identity: Identity
    ) -> tuple[TrackedConnection, list[Any]]:
        """A connection and the results of the request's first round trip on it, as PostgREST's
        pool gives them: getconn/putconn, not pool.connection() (the transaction is the
        exchange's business, and the connection is idle or closed when it goes back). A
        connection found terminated before it ran anything is replaced, once."""
        for retry in (True, False):
            try:
                conn = await self.pool.getconn()
            except DatabaseUnavailable as error:
                raise connection_error(error.details) from None
            except AcquireTimeout:
                raise acquisition_timeout() from None
            try:
                return conn, await wire.exchange(conn, queries)
            except ConnectionLost as lost:
                await self.pool.putconn(conn)
                if not (retry and lost.unexecuted):
                    raise client_error(str(lost)) from None
                log.warning("a terminated connection was replaced: %s", lost)
            except psycopg.Error as error:
                await self.pool.putconn(conn)
                raise from_database(error, identity.anonymous) from None
            except BaseException:
                await self.pool.putconn(conn)
                raise
        raise AssertionError("unreachable: the second attempt returns or raises")

    @functools.lru_cache(maxsize=8)  # noqa: B019 - a handful of names, the api lives forever
    def _pre_request_query(self, name: str) -> wire.Query:
        return wire.query(sql.SQL("select {}()").format(sql.Identifier(*name.split("."))))

    def _query(self, request: Request) -> list[tuple[str, str]]:
        # `apikey` is the gateway's (Supabase's gateway hides it from PostgREST too)
        pairs = parse_qsl(request.scope.get("query_string", b"").decode(), keep_blank_values=True)
        return [(k, v) for k, v in pairs if k != "apikey"]

    async def _body(self, request: Request, allow_empty: bool) -> Any:
        content_type = request.headers.get("content-type", "application/json")
        media = content_type.split(";")[0].strip().lower()
        if media in ("text/csv", "application/x-www-form-urlencoded", "text/plain"):
            raise not_implemented(f"Request bodies of type {media}")
        if media not in ("application/json", "", "*/*") and not media.endswith("+json"):
            raise ApiError(415, "PGRST107", f"The media type {media} is not supported")
        raw = await request.body()
        if not raw.strip():
            if allow_empty:
                return {}
            raise invalid_body("Empty or invalid json")
        try:
            return json_bodies.loads(raw)
        except json_bodies.TooDeep as error:
            raise ApiError(400, "PGRST102", "Empty or invalid json", str(error)) from None
        except ValueError:
            raise invalid_body("Empty or invalid json") from None

    def _prefer(self, request: Request) -> preferences.Preferences:
        return preferences.parse(request.headers.getlist("prefer"))

    def _relation(self, name: str) -> Relation:
        relation = self.cache.relations.get(name)
        if relation is None:
            raise unknown_table_error(name)
        return relation

    # ------------------------------------------------------------ root: OpenAPI

    async def root(self, request: Request) -> Response:
        """The OpenAPI document of what the caller's role may use (PostgREST's default
        openapi-mode, follow-privileges): the privileges are read in the request's own
        transaction, as that role."""
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            raise ApiError(405, "PGRST117", f"Unsupported HTTP method: {request.method}")
        self._check_profile(request, write=False)
        identity = authenticate(request.headers.get("authorization"), self.settings.jwt_secret)
        if request.method == "OPTIONS":
            return Response(status_code=200, headers={"Allow": "OPTIONS,GET,HEAD"})

        def respond(results: list[Any]) -> Outcome:
            visible = json.loads(wire.value(results[0]) or b"{}")
            functions = set(visible.get("functions") or [])
            # The pre-request hook runs on every request; it is not an RPC to offer (PostgREST
            # lists it, since the role must be able to execute it).
            pre_request = (self.pre_request or "").split(".")
            if len(pre_request) == 2 and pre_request[0] == schema_cache.EXPOSED_SCHEMA:
                functions.discard(pre_request[1])
            document = openapi_document(
                self.cache,
                self.settings.api_url,
                relations=set(visible.get("relations") or []),
                functions=functions,
            )
            body = b"" if request.method == "HEAD" else json.dumps(document).encode()
            headers = {"Content-Type": f"{responses.OPENAPI}; charset=utf-8"}
            return Outcome(Response(body, 200, headers=headers))

        return await self._run(request, identity, True, [_VISIBLE_TO_ROLE], respond)

    # ------------------------------------------------------------ tables and views

    async def relation(self, request: Request) -> Response:
        method = request.method
        if method == "OPTIONS":
            writable = self._relation(request.path_params["name"]).writable
            allow = "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE" if writable else "OPTIONS,GET,HEAD"
            return Response(status_code=200, headers={"Allow": allow})
        self._check_profile(request, write=method not in ("GET", "HEAD"))
        identity = authenticate(request.headers.get("authorization"), self.settings.jwt_secret)
        prefs = self._prefer(request)
        relation = self._relation(request.path_params["name"])
        if method in ("GET", "HEAD"):
            return await self._read(request, identity, relation, prefs)
        if method == "POST":
            return await self._insert(request, identity, relation, prefs)
        if method == "PATCH":
            return await self._update(request, identity, relation, prefs)
        if method == "DELETE":
            return await self._delete(request, identity, relation, prefs)
        if method == "PUT":
            return await self._put(request, identity, relation, prefs)
        raise ApiError(405, "PGRST117", f"Unsupported HTTP method: {method}")

    def _plan(
        self, relation: Relation, params: list[tuple[str, str]], reserved: set[str]
    ) -> PlanNode:
        select = next((v for k, v in reversed(params) if k == "select"), "*")
        node = build_node(self.cache, relation, query_grammar.parse_select(select))
        apply_parameters(node, [(k, v) for k, v in params if k not in reserved])
        order = next((v for k, v in reversed(params) if k == "order"), None)
        if order:
            node.order = query_grammar.parse_order(order)
            for term in node.order:
                check_field(relation, term.field)
        return node

    def _page(self, request: Request, params: list[tuple[str, str]]) -> tuple[int, int]:
        """offset and limit from limit=/offset= and the Range header, capped at db-max-rows."""
        values = dict(params)
        offset = query_grammar.parse_count("offset", values["offset"]) if "offset" in values else 0
        limit = query_grammar.parse_count("limit", values["limit"]) if "limit" in values else None
        lower, upper = offset, (offset + limit - 1 if limit is not None else None)
        requested = (
            responses.parse_range(request.headers.get("range"))
            if request.method in ("GET", "HEAD")
            else None
        )
        if requested is not None:
            start, end = requested
            lower = max(lower, start)
            if end is not None:
                upper = end if upper is None else min(upper, end)
        if lower > 2**62:
            raise ApiError(416, "PGRST103", "Requested range not satisfiable")
        count = self.max_rows if upper is None else max(0, upper - lower + 1)
        return lower, min(count, self.max_rows)

    def _count_queries(
        self, builder: SqlBuilder, unpaginated: sql.Composable, count: str | None
    ) -> list[wire.Query]:
        """The statements that give the total `Prefer: count=` asks for (see _total)."""
        if count is None:
            return []
        if count == "exact":
            query = sql.SQL("select count(*) from ({}) as pgrst_count").format(unpaginated)
            return [wire.query(query, builder.params)]
        plan = wire.query(sql.SQL("explain (format json) {}").format(unpaginated), builder.params)
        if count == "estimated":
            capped = sql.SQL("select count(*) from ({} limit {}) as pgrst_count").format(
                unpaginated, sql.Literal(self.max_rows + 1)
            )
            return [wire.query(capped, builder.params), plan]
        return [plan]

    def _total(self, results: list[Any], count: str | None) -> int | None:
        """exact: the count; estimated: the count up to db-max-rows, else the planner's
        estimate; planned: the planner's estimate."""
        if count is None:
            return None
        if count in ("exact", "estimated"):
            counted = int(wire.value(results[0]) or 0)
            if count == "exact" or counted <= self.max_rows:
                return counted
        document = json.loads(wire.value(results[-1]) or b"[{}]")
        return int(document[0].get("Plan", {}).get("Plan Rows", 0))

    async def _read(
        self,
        request: Request,
        identity: Identity,
        relation: Relation,
        prefs: preferences.Preferences,
    ) -> Response:
        media = responses.negotiate(request.headers.get("accept"))
        # The statements are a function of the URL, the Range header and the count asked
        # for (the role does not enter them: RLS applies in the database): remembered per
        # schema cache, so a repeated request skips parsing, planning and composing.
        key = (
            self._generation,
            relation.name,
            request.scope.get("query_string", b""),
            request.headers.get("range"),
            prefs.count,
        )
        compiled = self._compiled.get(key)
        if compiled is None:
            params = self._query(request)
            node = self._plan(relation, params, READ_PARAMS)
            lower, limit = self._page(request, params)
            node.limit, node.offset = limit, lower
            builder = SqlBuilder()
            alias = builder.alias()
            source = sql.SQL("{} as {}").format(qualified(relation.name), ident(alias))
            queries, names = self._rows_queries(builder, node, source, alias, prefs.count)
            compiled = (queries, names, lower)
            if len(self._compiled) >= COMPILED_MAX:
                self._compiled.clear()
            self._compiled[key] = compiled
        queries, names, lower = compiled
        return await self._answer_rows(request, identity, True, queries, names, media, prefs, lower)

    def _rows_queries(
        self,
        builder: SqlBuilder,
        node: PlanNode,
        source: sql.Composable,
        alias: str,
        count: str | None,
    ) -> tuple[list[wire.Query], list[str]]:
        page, names = builder.select(node, source, alias)
        queries = [
            wire.query(
                sql.SQL(
                    "select count(pgrst_row)::int, coalesce(json_agg(pgrst_row), '[]')::text "
                    "from ({}) as pgrst_row"
                ).format(page),
                builder.params,
            )
        ]
        if count:
            unpaginated, _ = builder.select(node, source, alias, paginate=False)
            queries += self._count_queries(builder, unpaginated, count)
        return queries, names

    async def _answer_rows(
        self,
        request: Request,
        identity: Identity,
        read_only: bool,
        queries: list[wire.Query],
        names: list[str],
        media: responses.MediaType,
        prefs: preferences.Preferences,
        lower: int,
        commit: bool = True,
        applied: tuple[str, ...] | list[str] = (),
    ) -> Response:
        def respond(results: list[Any]) -> Outcome:
            count = int(wire.value(results[0], 0) or 0)
            body = wire.value(results[0], 1) or b"[]"
            total = self._total(results[1:], prefs.count)
            status = responses.range_status(lower, count, total)
            rendered = responses.render_rows(body, media, names, count)
            headers = {"Content-Range": responses.content_range(lower, count, total)}
            headers.update(
                responses.applied([*applied, *([f"count={prefs.count}"] if prefs.count else [])])
            )
            if request.method == "HEAD":
                headers["Content-Type"] = media.content_type
                return Outcome(Response(status_code=status, headers=headers), commit)
            return Outcome(responses.body_response(rendered, status, media, headers), commit)

        return await self._run(request, identity, read_only, queries, respond)

    # ------------------------------------------------------------ writes

    def _columns(self, relation: Relation, names: list[str]) -> list[str]:
        for name in names:
            if name not in relation.columns:
                raise unknown_body_column(name, relation.name)
        return names

    def _rows(
        self, relation: Relation, body: Any, params: list[tuple[str, str]]
    ) -> tuple[list[dict[str, Any]], list[str]]:
        rows = body if isinstance(body, list) else [body]
        if not all(isinstance(row, dict) for row in rows):
            raise invalid_body("All object keys must match")
        columns_param = next((v for k, v in params if k == "columns"), None)
        if columns_param is not None:
            names = [query_grammar.parse_field(c).name for c in columns_param.split(",")]
            return rows, self._columns(relation, names)
        if not rows:
            return rows, []
        keys = list(rows[0])
        for row in rows[1:]:
            if set(row) != set(keys):
                raise invalid_body("All object keys must match")
        return rows, self._columns(relation, keys)

    def _mutation_media(self, request: Request, prefs: preferences.Preferences):
        if prefs.return_ == "representation":
            return responses.negotiate(request.headers.get("accept"))
        return None

    def _returning(self, relation: Relation, prefs: preferences.Preferences, upsert: bool):
        if prefs.return_ == "representation":
            extra = (
                sql.SQL(", (pgrst_target.xmax = 0) as pgrst_inserted")
                if upsert and relation.is_table
                else sql.SQL(", true as pgrst_inserted")
            )
            return sql.SQL("pgrst_target.*{}").format(extra)
        if prefs.return_ == "headers-only" and relation.primary_key:
            return sql.SQL(", ").join(
                ident("pgrst_target", column) for column in relation.primary_key
            )
        return None

    async def _mutate(
        self,
        request: Request,
        identity: Identity,
        relation: Relation,
        prefs: preferences.Preferences,
        builder: SqlBuilder,
        statement: sql.Composable | wire.Query,  # a Query: composed and converted already
        returning: sql.Composable | None,
        node: PlanNode | None,
        media: responses.MediaType | None,
        kind: str,
        applied: list[str],
        has_rows: bool = True,
    ) -> Response:
        representation = prefs.return_ == "representation"
        names: list[str] = []
        if returning is not None and representation:
            assert node is not None
            alias = builder.alias()
            page, names = builder.select(
                node,
                sql.SQL("pgrst_source as {}").format(ident(alias)),
                alias,
                paginate=False,
            )
            statement = sql.SQL(
                "with pgrst_source as ({}) select "
                "(select count(*) from pgrst_source)::int, "
                "(select count(*) from pgrst_source where pgrst_inserted)::int, "
                "coalesce((select json_agg(pgrst_row) from ({}) as pgrst_row), '[]')::text"
            ).format(statement, page)
        commit = self._commits(prefs, applied)
        # Refusals that depend on the rows affected need the results before the transaction
        # ends; without them the end goes with the statement.
        strict = prefs.strict and prefs.max_affected is not None
        singular = media is not None and media.singular

        def respond(results: list[Any]) -> Outcome:
            (result,) = results
            inserted = None
            body = None
            location = None
            if returning is None:
                affected = max(result.command_tuples or 0, 0)
            elif representation:
                affected = int(wire.value(result, 0) or 0)
                inserted = int(wire.value(result, 1) or 0)
                body = wire.value(result, 2) or b"[]"
                assert media is not None
                body = responses.render_rows(body, media, names, affected)
            else:
                keys = wire.typed_rows(result)
                affected = len(keys)
                if kind == "insert" and len(keys) == 1:
                    location = f"/{relation.name}?" + "&".join(
                        f"{quote(column)}=eq.{quote(str(value))}"
                        for column, value in zip(relation.primary_key, keys[0], strict=True)
                    )
            if strict and affected > prefs.max_affected:
                raise ApiError(
                    400,
                    "PGRST124",
                    "Query result exceeds max-affected preference constraint",
                    f"The query affects {affected} rows",
                )
            if singular and affected != 1:
                raise responses.not_singular(affected)
            headers: dict[str, str] = {}
            total = affected if prefs.count else None
            if kind == "insert":
                headers["Content-Range"] = f"*/{'*' if total is None else total}"
                status = 201
                if prefs.resolution and inserted == 0 and has_rows:
                    status = 200
            else:
                headers["Content-Range"] = responses.content_range(0, affected, total)
                status = 200 if representation else 204
            if location:
                headers["Location"] = location
            headers.update(responses.applied(applied))
            if not representation:
                return Outcome(Response(status_code=status, headers=headers), commit)
            return Outcome(responses.body_response(body, status, media, headers), commit)

        return await self._run(
            request,
            identity,
            False,
            [
                statement
                if isinstance(statement, wire.Query)
                else wire.query(statement, builder.params)
            ],
            respond,
            None if strict or singular else commit,
        )

    def _applied(self, prefs: preferences.Preferences) -> list[str]:
        applied = []
        if prefs.return_:
            applied.append(f"return={prefs.return_}")
        if prefs.count:
            applied.append(f"count={prefs.count}")
        if prefs.handling:
            applied.append(f"handling={prefs.handling}")
        if prefs.max_affected is not None and prefs.strict:
            applied.append(f"max-affected={prefs.max_affected}")
        return applied

    def _representation_node(
        self, relation: Relation, params: list[tuple[str, str]], prefs: preferences.Preferences
    ) -> PlanNode | None:
        if prefs.return_ != "representation":
            return None
        select = next((v for k, v in reversed(params) if k == "select"), "*")
        return build_node(self.cache, relation, query_grammar.parse_select(select))

    def _filters(
        self, relation: Relation, params: list[tuple[str, str]], builder: SqlBuilder
    ) -> list[sql.Composable]:
        """The top-level filters of a PATCH / DELETE as conditions on `pgrst_target`."""
        values = dict(params)
        if "limit" in values or "offset" in values:
            raise not_implemented("limit/offset on PATCH and DELETE")
        filters = [(k, v) for k, v in params if k not in WRITE_PARAMS and "." not in k]
        filters += [(k, v) for k, v in params if k in ("not.or", "not.and")]
        node = PlanNode(relation, [])
        apply_parameters(node, filters)
        return [builder.condition(condition, "pgrst_target") for condition in node.conditions]

    async def _insert(
        self,
        request: Request,
        identity: Identity,
        relation: Relation,
        prefs: preferences.Preferences,
    ) -> Response:
        params = self._query(request)
        body = await self._body(request, allow_empty=False)
        rows, columns = self._rows(relation, body, params)
        conflict = None
        on_conflict = next((v for k, v in params if k == "on_conflict"), None)
        if on_conflict:
            conflict = tuple(
                query_grammar.parse_field(c).name for c in on_conflict.split(",") if c.strip()
            )
            for name in conflict:
                check_field(relation, query_grammar.Field(name))
        media = self._mutation_media(request, prefs)
        node = self._representation_node(relation, params, prefs)
        applied = self._applied(prefs)
        if prefs.resolution:
            applied.append(f"resolution={prefs.resolution}")
        if prefs.missing == "default":
            applied.append("missing=default")
        builder = SqlBuilder()
        returning = self._returning(relation, prefs, upsert=prefs.resolution is not None)
        if not rows:
            statement = sql.SQL(
                "select pgrst_target.*, true as pgrst_inserted from {} as pgrst_target where false"
            ).format(qualified(relation.name))
            if returning is None:
                statement = sql.SQL("select 1 where false")
            elif prefs.return_ == "headers-only":
                statement = sql.SQL("select {} from {} as pgrst_target where false").format(
                    returning, qualified(relation.name)
                )
        elif columns and prefs.missing != "default" and prefs.return_ != "representation":
            # The rows travel as the statement's one parameter; the statement itself is a
            # function of this key, composed once per shape (see _read).
            key = ("insert", self._generation, relation.name, tuple(columns), conflict)
            key += (prefs.resolution, prefs.return_)
            text = self._compiled.get(key)
            if text is None:
                composed = builder.insert(
                    relation, rows, columns, False, conflict, prefs.resolution, returning
                )
                text = wire.query(composed, builder.params).text
                if len(self._compiled) >= COMPILED_MAX:
                    self._compiled.clear()
                self._compiled[key] = text
            statement = wire.Query(text, (wire.dump(json.dumps(rows)),))
        else:
            statement = builder.insert(
                relation,
                rows,
                columns,
                prefs.missing == "default",
                conflict,
                prefs.resolution,
                returning,
            )
        return await self._mutate(
            request, identity, relation, prefs, builder, statement, returning, node, media,
            "insert", applied, bool(rows),
        )  # fmt: skip

    async def _update(
        self,
        request: Request,
        identity: Identity,
        relation: Relation,
        prefs: preferences.Preferences,
    ) -> Response:
        params = self._query(request)
        body = await self._body(request, allow_empty=False)
        if not isinstance(body, dict):
            raise invalid_body("Empty or invalid json")
        self._columns(relation, list(body))
        builder = SqlBuilder()
        conditions = self._filters(relation, params, builder)
        returning = self._returning(relation, prefs, upsert=False)
        if not body:
            statement: sql.Composable = sql.SQL(
                "select pgrst_target.*, true as pgrst_inserted from {} as pgrst_target where false"
            ).format(qualified(relation.name))
            if returning is None:
                statement = sql.SQL("select 1 where false")
        else:
            statement = builder.update(relation, body, conditions, returning)
        return await self._mutate(
            request, identity, relation, prefs, builder, statement, returning,
            self._representation_node(relation, params, prefs),
            self._mutation_media(request, prefs), "update", self._applied(prefs),
        )  # fmt: skip

    async def _delete(
        self,
        request: Request,
        identity: Identity,
        relation: Relation,
        prefs: preferences.Preferences,
    ) -> Response:
        params = self._query(request)
        builder = SqlBuilder()
        conditions = self._filters(relation, params, builder)
        returning = self._returning(relation, prefs, upsert=False)
        statement = builder.delete(relation, conditions, returning)
        return await self._mutate(
            request, identity, relation, prefs, builder, statement, returning,
            self._representation_node(relation, params, prefs),
            self._mutation_media(request, prefs), "delete", self._applied(prefs),
        )  # fmt: skip

    async def _put(
        self,
        request: Request,
        identity: Identity,
        relation: Relation,
        prefs: preferences.Preferences,
    ) -> Response:
        params = self._query(request)
        values = dict(params)
        if "limit" in values or "offset" in values:
            raise ApiError(
                400, "PGRST114", "limit/offset querystring parameters are not allowed for PUT"
            )
        filters = {k: v for k, v in params if k not in WRITE_PARAMS}
        key = relation.primary_key
        if (
            not key
            or set(filters) != set(key)
            or not all(v.startswith("eq.") for v in filters.values())
        ):
            raise ApiError(
                405,
                "PGRST105",
                "Filters must include all and only primary key columns with 'eq' operators",
            )
        body = await self._body(request, allow_empty=False)
        if isinstance(body, list) and len(body) == 1:
            body = body[0]
        if not isinstance(body, dict):
            raise invalid_body("Empty or invalid json")
        self._columns(relation, list(body))
        for column in key:
            given = body.get(column)
            text = json.dumps(given) if isinstance(given, bool) else str(given)
            if column not in body or text != filters[column][3:]:
                raise ApiError(
                    400, "PGRST115", "Payload values do not match URL in primary key column(s)"
                )
        builder = SqlBuilder()
        returning = self._returning(relation, prefs, upsert=False)
        statement = builder.insert(
            relation, [body], list(body), False, key, "merge-duplicates", returning
        )
        response = await self._mutate(
            request, identity, relation, prefs, builder, statement, returning,
            self._representation_node(relation, params, prefs),
            self._mutation_media(request, prefs), "update", self._applied(prefs),
        )  # fmt: skip
        if "content-range" in response.headers:
            del response.headers["content-range"]
        return response

    # ------------------------------------------------------------ functions

    def _function(self, name: str, keys: set[str], body_is_object: bool) -> Function:
        overloads = self.cache.functions.get(name, [])
        matches = []
        for function in overloads:
            if function.single_json_argument and (body_is_object or not keys):
                matches.append(function)
                continue
            names = {a.name for a in function.arguments}
            required = {a.name for a in function.arguments if not a.has_default}
            if required <= keys <= names:
                matches.append(function)
        if len(matches) > 1:
            exact = [f for f in matches if not f.single_json_argument]
            if len(exact) == 1:
                return exact[0]
            raise ApiError(
                300,
                "PGRST203",
                "Could not choose the best candidate function between: "
                + ", ".join(
                    f"public.{f.name}({', '.join(f'{a.name} => {a.type}' for a in f.arguments)})"
                    for f in matches
                ),
                None,
                "Try renaming the parameters or the function itself in the database so "
                "function overloading can be resolved",
            )
        if not matches:
            listed = ", ".join(sorted(keys))
            raise ApiError(
                404,
                "PGRST202",
                f"Could not find the function public.{name}({listed}) in the schema cache",
                f"Searched for the function public.{name} with parameters {listed} or with a "
                "single unnamed json/jsonb parameter, but no matches were found in the schema "
                "cache."
                if keys
                else f"Searched for the function public.{name} without parameters or with a "
                "single unnamed json/jsonb parameter, but no matches were found in the schema "
                "cache.",
            )
        return matches[0]

    def _result_relation(self, function: Function) -> Relation:
        if function.return_relation and function.return_relation in self.cache.relations:
            return self.cache.relations[function.return_relation]
        columns = {column.name: column for column in function.columns}
        if not function.returns_composite:
            columns = {
                function.name: Column(function.name, function.return_type, True, None, False)
            }
        return Relation(function.name, "f", columns)

    async def rpc(self, request: Request) -> Response:
        method = request.method
        name = request.path_params["name"]
        if method not in ("GET", "HEAD", "POST"):
            raise ApiError(405, "PGRST101", "Only GET, HEAD or POST are allowed for functions")
        self._check_profile(request, write=method == "POST")
        identity = authenticate(request.headers.get("authorization"), self.settings.jwt_secret)
        prefs = self._prefer(request)
        params = self._query(request)
        overloads = self.cache.functions.get(name, [])
        argument_names = {a.name for f in overloads for a in f.arguments}
        body: Any = None
        query_args: dict[str, list[str]] | None = None
        if method == "POST":
            body = await self._body(request, allow_empty=True)
            keys = set(body) if isinstance(body, dict) else set()
            function = self._function(name, keys, isinstance(body, (dict, list)))
            if not function.single_json_argument and not isinstance(body, dict):
                raise invalid_body("Empty or invalid json")
            rest = [(k, v) for k, v in params if k not in READ_PARAMS]
        else:
            query_args = {}
            for key, value in params:
                if key in argument_names:
                    query_args.setdefault(key, []).append(value)
            function = self._function(name, set(query_args), False)
            rest = [(k, v) for k, v in params if k not in READ_PARAMS and k not in query_args]
        read_only = method != "POST" or function.read_only
        applied: list[str] = []
        commit = read_only or self._commits(prefs, applied)
        builder = SqlBuilder()
        alias = builder.alias()
        source = builder.call_from(function, query_args, body, alias)
        media = responses.negotiate(request.headers.get("accept"))
        if function.returns_void:
            call = wire.query(sql.SQL("select from {}").format(source), builder.params)
            return await self._run(
                request,
                identity,
                read_only,
                [call],
                lambda _: Outcome(Response(status_code=204, headers=responses.applied(applied))),
                end=commit,
            )
        if not function.returns_composite:
            if rest or any(k in ("select", "order") for k, _ in params):
                raise not_implemented("select, filters and order on scalar function results")
            if function.returns_set:
                return await self._scalar_set(
                    request, identity, read_only, builder, source, alias, media, prefs, params,
                    commit, applied,
                )  # fmt: skip
            query = sql.SQL("select (to_json({}.pgrst_scalar))::text from {}").format(
                ident(alias), source
            )

            def respond_scalar(results: list[Any]) -> Outcome:
                text = wire.value(results[0], 0) or b"null"
                headers = {"Content-Range": "0-0/*", **responses.applied(applied)}
                body_media = (
                    media if media.name != responses.CSV else responses.MediaType(responses.JSON)
                )
                if method == "HEAD":
                    return Outcome(Response(status_code=200, headers=headers))
                return Outcome(responses.body_response(text, 200, body_media, headers))

            return await self._run(
                request,
                identity,
                read_only,
                [wire.query(query, builder.params)],
                respond_scalar,
                end=commit,
            )
        relation = self._result_relation(function)
        node = self._plan(
            relation, [(k, v) for k, v in params if (k, v) in rest or k in READ_PARAMS], READ_PARAMS
        )
        if not function.returns_set:
            single_media = (
                media if media.name != responses.JSON else responses.MediaType(responses.OBJECT)
            )
            node.limit = None
            page, _ = builder.select(node, source, alias)
            query = sql.SQL(
                "select (select row_to_json(pgrst_row) from ({}) as pgrst_row limit 1)::text"
            ).format(page)

            def respond_row(results: list[Any]) -> Outcome:
                text = wire.value(results[0], 0) or b"null"
                if single_media.strip_nulls:
                    text = json.dumps(json.loads(text))
                content = responses.MediaType(responses.JSON)
                if method == "HEAD":
                    return Outcome(Response(status_code=200))
                return Outcome(responses.body_response(text, 200, content, {}))

            return await self._run(
                request,
                identity,
                read_only,
                [wire.query(query, builder.params)],
                respond_row,
                end=commit,
            )
        lower, limit = self._page(request, params)
        node.limit, node.offset = limit, lower
        queries, names = self._rows_queries(builder, node, source, alias, prefs.count)
        return await self._answer_rows(
            request, identity, read_only, queries, names, media, prefs, lower, commit, applied
        )

    async def _scalar_set(
        self,
        request: Request,
        identity: Identity,
        read_only: bool,
        builder: SqlBuilder,
        source: sql.Composable,
        alias: str,
        media: responses.MediaType,
        prefs: preferences.Preferences,
        params: list[tuple[str, str]],
        commit: bool,
        applied: list[str],
    ) -> Response:
        """A function returning `setof <scalar>`: a JSON array, paginated (limit, offset,
        Range) and capped at db-max-rows as any other read, counted when asked."""
        lower, limit = self._page(request, params)
        values = sql.SQL("select {}.pgrst_scalar from {}").format(ident(alias), source)
        page = builder.paginate(values, limit, lower)
        query = sql.SQL(
            "select count(*)::int, coalesce(json_agg(pgrst_row.pgrst_scalar), '[]')::text "
            "from ({}) as pgrst_row"
        ).format(page)
        queries = [wire.query(query, builder.params)]
        queries += self._count_queries(builder, values, prefs.count)
        if prefs.count:
            applied = [*applied, f"count={prefs.count}"]

        def respond(results: list[Any]) -> Outcome:
            count = int(wire.value(results[0], 0) or 0)
            text = wire.value(results[0], 1) or b"[]"
            total = self._total(results[1:], prefs.count)
            status = responses.range_status(lower, count, total)
            if media.singular:
                text = responses.render_rows(text, media, [], count)
            headers = {
                "Content-Range": responses.content_range(lower, count, total),
                **responses.applied(applied),
            }
            body_media = (
                media if media.name != responses.CSV else responses.MediaType(responses.JSON)
            )
            if request.method == "HEAD":
                return Outcome(Response(status_code=status, headers=headers), commit)
            return Outcome(responses.body_response(text, status, body_media, headers), commit)

        # a singular media type refuses a set of other than one row: that rolls back
        return await self._run(
            request, identity, read_only, queries, respond, None if media.singular else commit
        )
