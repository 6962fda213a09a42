"""The schema cache and what keeps it current: PostgREST's `LISTEN pgrst` reload listener.

`NOTIFY pgrst` (empty, 'reload schema' or 'reload config') reloads the cache. A lost
listening connection (the database restarted or was reset) is reopened with backoff, and
the cache reloaded once listening again: the schema may have changed meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import psycopg

from devstack.config import Settings
from devstack.gateway.connections import ConnectionPool
from devstack.rest import schema_cache, wire
from devstack.rest.schema_cache import SchemaCache

log = logging.getLogger("carebase.rest")

# The listener's reconnection backoff, in seconds: doubled per failure up to the cap.
LISTEN_RETRY_MIN = 0.5
LISTEN_RETRY_MAX = 8.0
REMEMBERED_MAX = 512  # statements remembered per worker (see Schema.remembered)

T = TypeVar("T")


class Schema:
    """The current schema cache, and statements composed for it (forgotten on reload)."""

    def __init__(self, settings: Settings, pool: ConnectionPool) -> None:
        self.settings = settings
        self.pool = pool
        self.cache = SchemaCache()
        self.reloaded = asyncio.Event()
        self._remembered: dict[Hashable, Any] = {}
        self._listener: asyncio.Task | None = None

    def remembered(self, key: Hashable, compose: Callable[[], T]) -> T:
        """`compose()`, once per key and schema cache: statements that are a function of the
        request's shape skip parsing, planning and composing when the shape repeats."""
        value = self._remembered.get(key)
        if value is None:
            value = compose()
            if len(self._remembered) >= REMEMBERED_MAX:
                self._remembered.clear()
            self._remembered[key] = value
        return value

    async def start(self) -> None:
        await self.reload()
        self._listener = asyncio.create_task(self._listen())

    async def stop(self) -> None:
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
        self._remembered.clear()
        self.reloaded.set()
        log.info("schema cache loaded: %d relations", len(self.cache.relations))

    async def _listen(self) -> None:
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
