"""The gateway's database connections: a small pool that behaves as PostgREST's.

- A connection is taken idle from the pool, or opened on demand while the pool is below its
  size. Connecting fails fast when the database is down (`DatabaseUnavailable`, answered 503)
  instead of waiting for a background reconnection: a request never hangs on a dead database,
  and the first request after it comes back gets a working connection.
- A broken connection is discarded, never handed out again. It is checked without a round
  trip before it is handed out: a backend that was terminated (database restarted or reset,
  `pg_terminate_backend`) has sent its FATAL message and closed the socket, which shows as
  input waiting on a connection that is idle and expects none.
- A request that finds every connection in use waits at most `timeout` seconds for one
  (`AcquireTimeout`, answered 504).

`ConnectionLost` is the error of a connection that broke while in use; `unexecuted` says the
server ran none of what was sent (its first answer was the FATAL of a terminated backend),
so the work may be retried on another connection without running anything twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import select
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import pq

log = logging.getLogger("carebase.connections")

OK = pq.ConnStatus.OK
IDLE = pq.TransactionStatus.IDLE
INTRANS = pq.TransactionStatus.INTRANS
INERROR = pq.TransactionStatus.INERROR
# A backend terminated by an administrator, a crash or a shutdown, or not yet accepting
# connections: it says so before closing, and has run nothing of what it had not answered.
TERMINATED = {"57P01", "57P02", "57P03"}


class DatabaseUnavailable(Exception):
    """No connection could be opened (database down, starting up, refusing the role...)."""

    def __init__(self, error: psycopg.Error) -> None:
        super().__init__(str(error))
        self.details = str(error)


class AcquireTimeout(Exception):
    """Every connection stayed in use for the whole acquisition timeout."""


class ConnectionLost(psycopg.OperationalError):
    """The connection broke while in use."""

    def __init__(self, message: str, unexecuted: bool) -> None:
        super().__init__(message)
        self.unexecuted = unexecuted


def terminated(result: Any) -> bool:
    """Whether a PGresult is the FATAL error of a terminated backend."""
    sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
    return sqlstate is not None and sqlstate.decode() in TERMINATED


class TrackedConnection(psycopg.AsyncConnection):
    """A psycopg connection that counts the commands it completed since it was handed out:
    one lost on its first command ran nothing that could have been committed."""

    completed = 0

    async def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
        result = await super().wait(gen, *args, **kwargs)
        self.completed += 1
        return result


def _input_waiting(fd: int) -> bool:
    poller = select.poll()  # not select.select: descriptors above 1023 are fine
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def usable(conn: psycopg.AsyncConnection) -> bool:
    """Whether an idle connection can be handed out (no round trip: one poll of its socket).
    Input on an idle connection is a terminated backend's FATAL message and end of stream
    (or, rarely, a notice; the connection is then replaced needlessly, which is harmless)."""
    pgconn = conn.pgconn
    if pgconn.status != OK or pgconn.transaction_status != IDLE:
        return False
    return not _input_waiting(pgconn.socket)


class ConnectionPool:
    def __init__(
        self,
        conninfo: str,
        max_size: int,
        *,
        timeout: float = 10.0,  # PostgREST's db-pool-acquisition-timeout
        kwargs: dict[str, Any] | None = None,
        name: str = "pool",
    ) -> None:
        self.conninfo = conninfo
        self.max_size = max_size
        self.timeout = timeout
        self.kwargs = kwargs or {}
        self.name = name
        self._idle: collections.deque[TrackedConnection] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[TrackedConnection | None]] = (
            collections.deque()
        )
        self._size = 0  # open connections, in use or idle, and connections being opened
        self._closed = False

    async def open(self) -> None:
        """Open one connection now: a gateway started without its database says so."""
        self._release(await self._connect())

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            await self._discard(self._idle.pop())

    async def getconn(self) -> TrackedConnection:
        """A usable connection; raises DatabaseUnavailable or AcquireTimeout."""
        deadline: float | None = None
        while True:
            while self._idle:
                conn = self._idle.pop()  # the most recently used: its statements are prepared
                if usable(conn):
                    conn.completed = 0
                    return conn
                log.warning("%s: discarding a broken idle connection", self.name)
                await self._discard(conn)
            if self._size < self.max_size:
                return await self._connect()
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + self.timeout
            conn = await self._wait(deadline)
            if conn is not None:
                self._idle.append(conn)  # checked and handed out by the loop above

    async def putconn(self, conn: TrackedConnection) -> None:
        """Give a connection back; a broken one, or one left in a transaction, is closed."""
        pgconn = conn.pgconn
        if self._closed or pgconn.status != OK or pgconn.transaction_status != IDLE:
            await self._discard(conn)
        else:
            self._release(conn)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[TrackedConnection]:
        """A connection for psycopg's API: its transaction committed when the block ends
        normally, rolled back otherwise. A connection lost in the block raises
        ConnectionLost, `unexecuted` when its very first command failed."""
        conn = await self.getconn()
        try:
            try:
                yield conn
                if conn.pgconn.transaction_status == INTRANS:
                    await conn.commit()
            except BaseException:
                if conn.pgconn.status == OK and conn.pgconn.transaction_status in (
                    INTRANS,
                    INERROR,
                ):
                    with contextlib.suppress(psycopg.Error):
                        await conn.rollback()
                raise
        except psycopg.OperationalError as error:
            if isinstance(error, ConnectionLost):
                raise
            if conn.pgconn.status == OK and error.sqlstate not in TERMINATED:
                raise  # an error of the statement (a query canceled...), not of the connection
            await conn.close()  # the FATAL may have arrived before the end of stream
            raise ConnectionLost(str(error).strip(), unexecuted=conn.completed == 0) from error
        finally:
            await self.putconn(conn)

    # ------------------------------------------------------------------ internals

    async def _connect(self) -> TrackedConnection:
        self._size += 1
        try:
            conn = await TrackedConnection.connect(self.conninfo, **self.kwargs)
        except BaseException as error:
            self._size -= 1
            self._wake()
            if isinstance(error, psycopg.OperationalError):
                raise DatabaseUnavailable(error) from None
            raise
        conn.completed = 0
        return conn

    async def _discard(self, conn: psycopg.AsyncConnection) -> None:
        self._size -= 1
        self._wake()
        with contextlib.suppress(psycopg.Error):
            await conn.close()

    def _release(self, conn: TrackedConnection) -> None:
        """An idle connection: to the first request waiting for one, else to the pool."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def _wake(self) -> None:
        """A slot is free: the first request waiting opens a connection itself."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _wait(self, deadline: float) -> TrackedConnection | None:
        waiter: asyncio.Future[TrackedConnection | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                return await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                handed = waiter.result()  # handed over as this request gave up: pass it on
                if handed is None:
                    self._wake()
                else:
                    self._release(handed)
            else:
                waiter.cancel()
            if isinstance(error, TimeoutError):
                raise AcquireTimeout(
                    f"no connection of {self.name} became free within {self.timeout:g} s"
                ) from None
            raise
