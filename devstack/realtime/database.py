"""What Realtime asks the database, as `supabase_realtime_admin` (devstack's Realtime role):
whether a user may read or send on a private channel (the RLS policies on realtime.messages,
probed the way Supabase Realtime probes them), client broadcasts written as messages, and the
messages whose ids the delivery trigger announces (sql/platform/75_realtime_delivery.sql)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from devstack.gateway.connections import ConnectionPool

log = logging.getLogger("carebase.realtime")

CHANNEL = "devstack_realtime"
INSUFFICIENT_PRIVILEGE = "42501"
# The API roles a token may name; anything else (a token claiming `postgres`, say) is refused
# before any `set role`: the Realtime role is a member of these three only.
API_ROLES = {"anon", "authenticated", "service_role"}


@dataclass(frozen=True)
class Message:
    id: str
    topic: str
    event: str | None
    payload: Any
    private: bool
    origin: str | None  # "<worker>:<socket>" for a client's broadcast, None from the database


class NotAllowed(Exception):
    """The caller's policies refuse it (or the token names no API role)."""


async def act_as(conn: psycopg.AsyncConnection, claims: dict[str, Any], topic: str) -> None:
    """The joining user's role and claims and the channel's topic, for this transaction only:
    what Realtime sets before evaluating the policies (`realtime.topic()` reads the topic)."""
    role = claims.get("role")
    if role not in API_ROLES:
        raise NotAllowed(f"role {role!r} is not an API role")
    await conn.execute(
        "select set_config('role', %s, true), set_config('realtime.topic', %s, true),"
        " set_config('request.jwt.claims', %s, true),"
        " set_config('request.jwt.claim.sub', %s, true),"
        " set_config('request.jwt.claim.role', %s, true)",
        (role, topic, json.dumps(claims), str(claims.get("sub") or ""), role),
    )


async def may_read(pool: ConnectionPool, claims: dict[str, Any], topic: str) -> bool:
    """Realtime's read check: a probe message on the topic is inserted by the Realtime role,
    then selected as the user; readable means the user may receive on the channel. Rolled back,
    so nothing is stored and nothing announced."""
    probe = str(uuid.uuid4())
    async with pool.connection() as conn:
        try:
            async with conn.transaction(force_rollback=True):
                await conn.execute(
                    "insert into realtime.messages (id, topic, extension)"
                    " values (%s, %s, 'broadcast')",
                    (probe, topic),
                )
                await act_as(conn, claims, topic)
                cursor = await conn.execute(
                    "select 1 from realtime.messages where id = %s", (probe,)
                )
                return await cursor.fetchone() is not None
        except NotAllowed:
            return False
        except psycopg.Error as error:  # a policy that fails is a refusal, as on Supabase
            log.warning("realtime read check on %r failed: %s", topic, error)
            return False


async def send(
    pool: ConnectionPool,
    sender: dict[str, Any] | None,
    topic: str,
    event: str,
    payload: Any,
    origin: str,
) -> bool:
    """A client's broadcast, stored as a message so that every gateway worker delivers it. On
    a private channel it is inserted as the sender (`sender`: their claims), so their insert
    policy decides (Realtime's write check); False when it refuses. On a public channel the
    Realtime role inserts it. `origin` is the sending socket, so that a channel without
    `self` does not get its own broadcast back."""
    async with pool.connection() as conn:
        try:
            async with conn.transaction():
                await conn.execute(
                    "select set_config('realtime.devstack_origin', %s, true)", (origin,)
                )
                if sender is not None:
                    await act_as(conn, sender, topic)
                await conn.execute(
                    "insert into realtime.messages (topic, extension, event, payload, private)"
                    " values (%s, 'broadcast', %s, %s, %s)",
                    (topic, event, json.dumps(payload), sender is not None),
                )
            return True
        except NotAllowed:
            return False
        except psycopg.Error as error:
            if error.sqlstate != INSUFFICIENT_PRIVILEGE:
                log.warning("realtime broadcast on %r failed: %s", topic, error)
            return False


class Listener:
    """LISTENs for announced messages on its own connection and hands each one, read back
    by id, to `deliver`. Reconnects after a lost connection (messages committed meanwhile are
    not replayed: clients catch up through their own feeds, as after any disconnect)."""

    def __init__(self, dsn: str, deliver: Callable[[Message], Awaitable[None]]) -> None:
        self.dsn = dsn
        self.deliver = deliver
        self._task: asyncio.Task | None = None
        self.listening = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                    await conn.execute(sql.SQL("listen {}").format(sql.Identifier(CHANNEL)))
                    self.listening.set()
                    delay = 0.5
                    reader = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
                    async with reader:
                        async for notice in conn.notifies():
                            message = await _read(reader, notice.payload)
                            if message is not None:
                                await self.deliver(message)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database restarted, say: listen again
                self.listening.clear()
                log.warning("realtime listener: %s; listening again in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)


async def _read(conn: psycopg.AsyncConnection, announcement: str) -> Message | None:
    announced = json.loads(announcement)
    cursor = await conn.execute(
        "select topic, event, payload, private from realtime.messages where id = %s",
        (announced["id"],),
    )
    row = await cursor.fetchone()
    if row is None:  # deleted since (retention), nothing to deliver
        return None
    topic, event, payload, private = row
    return Message(announced["id"], topic, event, payload, bool(private), announced.get("origin"))
