"""The request's transaction, as PostgREST's MainTx runs it: BEGIN (read only for reads),
one `set_config` statement (role, claims, request GUCs, the role's settings), the
pre-request function, the request's statements, and COMMIT or ROLLBACK by db-tx-end and
`Prefer: tx=`. Errors raised by Postgres become PostgREST's error responses here."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from starlette.responses import Response

from devstack.gateway.connections import (
    AcquireTimeout,
    ConnectionLost,
    ConnectionPool,
    DatabaseUnavailable,
    TrackedConnection,
)
from devstack.rest import errors, wire
from devstack.rest.errors import ApiError
from devstack.rest.listener import Schema
from devstack.rest.request import ApiRequest

log = logging.getLogger("carebase.rest")

SEARCH_PATH = "public, extensions"
BEGIN_READ_ONLY = wire.Query(b"begin read only", prepare=False)
BEGIN = wire.Query(b"begin read write", prepare=False)
COMMIT = wire.Query(b"commit", prepare=False)
ROLLBACK = wire.Query(b"rollback", prepare=False)


@dataclass
class Outcome:
    """What the statements of a request produced: the response, and whether to commit."""

    response: Response
    commit: bool = True


Respond = Callable[[list[Any]], Outcome]


class Transactions:
    """Runs each request's statements in one transaction on a pooled connection."""

    def __init__(self, pool: ConnectionPool, schema: Schema) -> None:
        self.pool = pool
        self.schema = schema
        # PostgREST's db-pre-request: a function called before every request's statement.
        # The environment wins over the in-database `pgrst.db_pre_request` role setting.
        self.pre_request_override = os.environ.get("CAREBASE_DB_PRE_REQUEST") or None
        # PostgREST's db-tx-end: commit (default), commit-allow-override, rollback, ...
        # The environment wins over the in-database `pgrst.db_tx_end` role setting.
        self.tx_end_override = os.environ.get("CAREBASE_DB_TX_END") or None

    @property
    def pre_request(self) -> str | None:
        db_config = self.schema.cache.db_config
        return self.pre_request_override or db_config.get("pgrst.db_pre_request")

    @property
    def tx_end(self) -> str:
        db_config = self.schema.cache.db_config
        return self.tx_end_override or db_config.get("pgrst.db_tx_end") or "commit"

    def commits(self, req: ApiRequest, applied: list[str]) -> bool:
        """Whether a read-write transaction commits: db-tx-end, overridden by `Prefer: tx=`
        only when db-tx-end allows it (then reported as applied)."""
        tx = req.prefs.tx
        if tx and self.tx_end.endswith("allow-override"):
            applied.append(f"tx={tx}")
            return tx == "commit"
        return not self.tx_end.startswith("rollback")

    async def run(
        self,
        req: ApiRequest,
        read_only: bool,
        queries: list[wire.Query],
        respond: Respond,
        end: bool | None = None,
    ) -> Response:
        """Run `queries` in the request's transaction and answer with `respond(results)`.

        BEGIN, the settings, the pre-request call, the queries and, when the outcome cannot
        change it, the end of the transaction go in one round trip. `end` says how a
        read-write transaction ends whatever its results (True: commit, False: roll back);
        None: as the outcome of `respond` says, in a second round trip. Read-only
        transactions always commit with the first: there is nothing to undo.
        """
        role_settings = self.schema.cache.role_settings.get(req.identity.role, [])
        head = [BEGIN_READ_ONLY if read_only else BEGIN, _context_query(req, role_settings)]
        pre_request = self.pre_request
        if pre_request:
            head.append(_pre_request_query(pre_request))
        if read_only:
            end = True
        tail = [] if end is None else [COMMIT if end else ROLLBACK]
        conn, results = await self._first_exchange([*head, *queries, *tail], req)
        try:
            failure = _first_error(results)
            if failure is not None:
                await wire.rollback(conn)
                raise failure
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
            raise errors.from_database(error, req.identity.anonymous) from None
        finally:
            await self.pool.putconn(conn)

    async def _first_exchange(
        self, queries: list[wire.Query], req: ApiRequest
    ) -> tuple[TrackedConnection, list[Any]]:
        """A connection and the results of the request's first round trip on it, as PostgREST's
        pool gives them: getconn/putconn, not pool.connection() (the transaction is the
        exchange's business, and the connection is idle or closed when it goes back). A
        connection found terminated before it ran anything is replaced, once."""
        for retry in (True, False):
            try:
                conn = await self.pool.getconn()
            except DatabaseUnavailable as error:
                raise errors.connection_error(error.details) from None
            except AcquireTimeout:
                raise errors.acquisition_timeout() from None
            try:
                return conn, await wire.exchange(conn, queries)
            except ConnectionLost as lost:
                await self.pool.putconn(conn)
                if not (retry and lost.unexecuted):
                    raise errors.client_error(str(lost)) from None
                log.warning("a terminated connection was replaced: %s", lost)
            except psycopg.Error as error:
                await self.pool.putconn(conn)
                raise errors.from_database(error, req.identity.anonymous) from None
            except BaseException:
                await self.pool.putconn(conn)
                raise
        raise AssertionError("unreachable: the second attempt returns or raises")


def _first_error(results: list[Any]) -> Exception | None:
    """The error of the first failed statement, if any (the rest were not run)."""
    for index, result in enumerate(results):
        if wire.failed(result):
            error = wire.error(result)
            if index == 1 and isinstance(error, psycopg.errors.InvalidParameterValue):
                # the settings statement failed: a token for a role that does not exist
                # (22023), 401 as PostgREST; a 22023 raised by the statement itself (a
                # trigger, a function) maps as any other error
                return ApiError(
                    401,
                    "22023",
                    error.diag.message_primary or str(error),
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return error
    return None


@functools.lru_cache(maxsize=8)
def _pre_request_query(name: str) -> wire.Query:
    return wire.query(sql.SQL("select {}()").format(sql.Identifier(*name.split("."))))


@functools.lru_cache(maxsize=16)
def _set_configs(count: int) -> bytes:
    calls = ", ".join(f"set_config(${2 * i + 1}, ${2 * i + 2}, true)" for i in range(count))
    return f"select {calls}".encode()


def _context_query(req: ApiRequest, role_settings: list[tuple[str, str]]) -> wire.Query:
    """One statement setting everything transaction-locally, as PostgREST does."""
    settings: list[tuple[str, str]] = [("search_path", SEARCH_PATH)]
    settings += role_settings
    settings += [
        ("role", req.identity.role),
        ("request.jwt.claims", req.identity.claims_json),
        ("request.method", req.method),
        ("request.path", req.path),
        ("request.headers", req.headers_json),
        ("request.cookies", req.cookies_json),
    ]
    if req.prefs.timezone:
        settings.append(("timezone", req.prefs.timezone))
    params = tuple(wire.dump(part) for setting in settings for part in setting)
    return wire.Query(_set_configs(len(settings)), params)
