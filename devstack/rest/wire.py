"""A request's statements in one round trip: libpq pipeline mode, driven directly.

PostgREST runs BEGIN, one set_config statement, the pre-request call, the statement and
COMMIT per request. Sent one by one that is five round trips; through psycopg's pipeline
API it is one or two, but psycopg's per-statement bookkeeping then costs about 1 ms of CPU
per request, more than everything else the gateway does. Here the statements of a request
are queued on the libpq connection with one Sync, and their results (errors included, one
per statement) are read back when the Sync arrives.

Connections come from the gateway's pool (devstack.gateway.connections) and go back to it
idle; a connection left in an unknown state (an exception or cancellation half-way) is
closed, and the pool replaces it. A connection that breaks during an exchange raises
ConnectionLost, saying whether the server ran any of the statements.
Statements are prepared on a connection from their second use there (as psycopg does from
its fifth), so Postgres plans each shape once per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import pq, sql
from psycopg.adapt import Transformer

from devstack.gateway.connections import ConnectionLost, terminated
from devstack.rest.errors import ApiError

FATAL_ERROR = pq.ExecStatus.FATAL_ERROR
PIPELINE_SYNC = pq.ExecStatus.PIPELINE_SYNC
PIPELINE_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
IDLE = pq.TransactionStatus.IDLE
BAD = pq.ConnStatus.BAD
MAX_PREPARED = 256  # per connection; past this the connection's statements are deallocated


@dataclass(frozen=True)
class Query:
    """SQL text with $n placeholders and its parameters in text format (None is NULL)."""

    text: bytes
    params: tuple[bytes | None, ...] = ()
    prepare: bool = True  # False for BEGIN / COMMIT: nothing to plan


_PLACEHOLDER = re.compile(rb"%(%|\((\w+)\)s|s)")


@functools.lru_cache(maxsize=1024)
def _convert(text: bytes) -> tuple[bytes, tuple[str | int, ...]]:
    """psycopg's placeholders (`%(name)s`, `%s`, `%%`) as $n, and the parameter order."""
    order: list[str | int] = []
    positions: dict[str | int, int] = {}
    positional = itertools.count()

    def replace(match: re.Match[bytes]) -> bytes:
        if match.group(1) == b"%":
            return b"%"
        key: str | int = match.group(2).decode() if match.group(2) else next(positional)
        if key not in positions:
            order.append(key)
            positions[key] = len(order)
        return b"$%d" % positions[key]

    return _PLACEHOLDER.sub(replace, text), tuple(order)


def dump(value: Any) -> bytes | None:
    """A parameter in text format, as psycopg would send it (strings untyped)."""
    if value is None:
        return None
    if isinstance(value, str):
        if "\x00" in value:  # text cannot hold NUL: refused as Postgres refuses it (400)
            raise ApiError(400, "22021", 'invalid byte sequence for encoding "UTF8": 0x00')
        return value.encode()
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, int):
        return str(value).encode()
    raise TypeError(f"unsupported parameter type {type(value).__name__}")


def query(
    statement: sql.Composable | bytes,
    params: Mapping[str, Any] | Sequence[Any] | None = None,
) -> Query:
    """A Query from SQL composed with psycopg's `sql` module and its parameters."""
    text = statement if isinstance(statement, bytes) else statement.as_bytes(None)
    converted, order = _convert(text)
    values: Any = params or ()
    return Query(converted, tuple(dump(values[key]) for key in order))


class _Prepared:
    """The statements prepared on one connection, valid for one schema generation."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.names: dict[bytes, bytes] = {}
        self.seen: set[bytes] = set()
        self.counter = itertools.count()


_prepared: weakref.WeakKeyDictionary[Any, _Prepared] = weakref.WeakKeyDictionary()
_generation = 0


def invalidate() -> None:
    """Forget prepared statements (after DDL: a type they were planned with may be gone)."""
    global _generation
    _generation += 1


async def _wait(pgconn: pq.abc.PGconn, write: bool) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    fd = pgconn.socket
    loop.add_reader(fd, wake)
    if write:
        loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
        if write:
            loop.remove_writer(fd)


async def _communicate(pgconn: pq.abc.PGconn, count: int) -> list[pq.abc.PGresult]:
    """Flush what is queued and read `count` results and the Sync's. A connection that
    breaks meanwhile raises ConnectionLost."""
    results: list[pq.abc.PGresult] = []
    try:
        while pgconn.flush():  # a large body: wait until the socket takes more
            await _wait(pgconn, write=True)
            pgconn.consume_input()
        ended = False  # the last result was the end of a statement's results
        while True:
            while not pgconn.is_busy():
                result = pgconn.get_result()
                if result is None:
                    if pgconn.status == BAD:
                        raise psycopg.OperationalError("the connection to the database was lost")
                    if ended:
                        break  # nothing more has arrived yet
                    ended = True
                    continue
                ended = False
                if result.status == PIPELINE_SYNC:
                    if len(results) != count:
                        raise psycopg.InterfaceError(
                            f"expected {count} results in the pipeline, got {len(results)}"
                        )
                    return results
                results.append(result)
            await _wait(pgconn, write=False)
            pgconn.consume_input()
    except psycopg.OperationalError as error:
        raise _lost(pgconn, results, error) from None


def _lost(pgconn: pq.abc.PGconn, results: list[Any], error: Exception) -> ConnectionLost:
    """The error of a connection that broke during an exchange. When the server's first
    answer was the FATAL of a terminated backend, it ran none of the statements: the first
    one was never completed, and anything completed before the FATAL is sent before it."""
    if not results:
        with contextlib.suppress(psycopg.Error):  # what libpq read before the end of stream
            first = pgconn.get_result()
            if first is not None:
                results.append(first)
    unexecuted = bool(results) and terminated(results[0])
    return ConnectionLost(str(error).strip(), unexecuted)


async def exchange(conn: psycopg.AsyncConnection, queries: Sequence[Query]) -> list[Any]:
    """Run `queries` in one round trip; one PGresult per query, errors included (after the
    first error the rest are PIPELINE_ABORTED). The connection's transaction state is what
    the queries left it in."""
    pgconn = conn.pgconn
    prepared = _prepared.get(conn)
    stale = prepared is not None and prepared.generation != _generation
    if (
        prepared is None
        or stale
        or len(prepared.names) >= MAX_PREPARED
        or len(prepared.seen) > 4 * MAX_PREPARED
    ):
        if prepared is not None and prepared.names:
            await _simple(conn, b"deallocate all")
        prepared = _prepared[conn] = _Prepared(_generation)
    slots: list[int | None] = []  # per result: the query it answers, None for a Parse
    naming: list[tuple[bytes, bytes]] = []
    finished = False
    try:
        pgconn.enter_pipeline_mode()
        for index, item in enumerate(queries):
            name = prepared.names.get(item.text)
            if name is None and item.prepare and item.text in prepared.seen:
                name = b"carebase_%d" % next(prepared.counter)
                pgconn.send_prepare(name, item.text)
                slots.append(None)
                naming.append((item.text, name))
            if name is None:
                if item.prepare:
                    prepared.seen.add(item.text)
                pgconn.send_query_params(item.text, item.params or None)
            else:
                prepared.names[item.text] = name
                pgconn.send_query_prepared(name, item.params or None)
            slots.append(index)
        pgconn.pipeline_sync()
        raw = await _communicate(pgconn, len(slots))
        pgconn.exit_pipeline_mode()
        finished = True
    finally:
        if not finished:  # the connection is mid-pipeline: unusable, the pool replaces it
            pgconn.finish()
    results: list[Any] = []
    parse_error = None
    names = iter(naming)
    for slot, result in zip(slots, raw, strict=True):
        if slot is None:  # the Parse of a statement prepared now
            text, _ = next(names)
            if failed(result):
                prepared.names.pop(text, None)
                if result.status == FATAL_ERROR:
                    parse_error = result  # reported as the statement's own error
            continue
        if parse_error is not None:
            result, parse_error = parse_error, None
        results.append(result)
    return results


async def _simple(conn: psycopg.AsyncConnection, command: bytes) -> None:
    (result,) = await exchange_unprepared(conn, [Query(command)])
    if result.status == FATAL_ERROR:
        raise psycopg.errors.error_from_result(result)


async def exchange_unprepared(conn: psycopg.AsyncConnection, queries: Sequence[Query]) -> list[Any]:
    """Like exchange, never preparing (ROLLBACK, DEALLOCATE)."""
    pgconn = conn.pgconn
    finished = False
    try:
        pgconn.enter_pipeline_mode()
        for item in queries:
            pgconn.send_query_params(item.text, item.params or None)
        pgconn.pipeline_sync()
        raw = await _communicate(pgconn, len(queries))
        pgconn.exit_pipeline_mode()
        finished = True
    finally:
        if not finished:
            pgconn.finish()
    return raw


async def rollback(conn: psycopg.AsyncConnection) -> None:
    """End a transaction left open or failed; a no-op when the connection is idle."""
    if conn.pgconn.transaction_status != IDLE:
        await _simple(conn, b"rollback")


def error(result: Any) -> psycopg.Error:
    return psycopg.errors.error_from_result(result)


def failed(result: Any) -> bool:
    return result.status == FATAL_ERROR or result.status == PIPELINE_ABORTED


def value(result: Any, column: int = 0, row: int = 0) -> bytes | None:
    """A value in text format as Postgres sent it (None for NULL or no such row)."""
    if row >= result.ntuples:
        return None
    return result.get_value(row, column)


def typed_rows(result: Any) -> list[tuple[Any, ...]]:
    """The rows loaded into Python values, as psycopg's cursors load them."""
    transformer = Transformer(None)
    transformer.set_pgresult(result)
    return transformer.load_rows(0, result.ntuples, tuple)
