"""Postgres Changes: row changes of the tables in the `supabase_realtime` publication, each sent
only to the subscribers whose RLS lets them read the row, in Supabase Realtime's event shape:

    {"ids": [<binding id>], "data": {"schema", "table", "commit_timestamp", "type",
     "columns": [{name, type}], "record", "old_record", "errors": null}}

Supabase Realtime reads the WAL with wal2json; so does this worker, through a temporary
logical slot it holds only while one of its sockets has a binding (the slot is dropped with
its connection, so an idle gateway retains no WAL). For an INSERT or UPDATE, the row is read
back as the subscriber (their role and claims, their column privileges, the binding's filter
in SQL, so Postgres compares with the column's own type): no row, no event, and the record is
the row as the subscriber can read it when the change is delivered. A DELETE carries the
primary key only (what the WAL holds), to subscribers whose role may select from the table,
as on Supabase.

Only published tables can be watched; clinical records, whose reads are logged, are never
published (tests/test_schema_conventions.py holds the migrations to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from devstack.gateway.connections import ConnectionPool
from devstack.realtime import database

log = logging.getLogger("carebase.realtime")

EVENTS = {"*", "INSERT", "UPDATE", "DELETE"}
ACTIONS = {"I": "INSERT", "U": "UPDATE", "D": "DELETE"}
OPERATORS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
FILTER = re.compile(
    r"^(?P<column>[A-Za-z_][A-Za-z0-9_]*)=(?P<op>eq|neq|lt|lte|gt|gte|in)\.(?P<value>.*)$"
)
POLL_SECONDS = 0.05


class BindingRefused(Exception):
    """A postgres_changes binding that cannot be served, with the reason given to the client."""


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    values: tuple[str, ...]

    def condition(self) -> sql.Composable:
        column = sql.Identifier(self.column)
        if self.op == "in":
            placeholders = sql.SQL(", ").join(sql.Placeholder() * len(self.values))
            return sql.SQL("{} in ({})").format(column, placeholders)
        return sql.SQL("{} {} %s").format(column, sql.SQL(OPERATORS[self.op]))


def parse_filter(text: str | None) -> Filter | None:
    """`column=op.value`, op one of eq, neq, lt, lte, gt, gte, in (`in.(a,b)`)."""
    if not text:
        return None
    match = FILTER.match(text)
    if match is None:
        raise BindingRefused(
            f"invalid filter {text!r}: use column=op.value with op eq, neq, lt, lte, gt, gte or in"
        )
    value = match["value"]
    if match["op"] == "in":
        if not (value.startswith("(") and value.endswith(")")):
            raise BindingRefused(f"invalid filter {text!r}: in takes a list such as in.(a,b)")
        values = tuple(v.strip().strip('"') for v in value[1:-1].split(","))
    else:
        values = (value,)
    return Filter(match["column"], match["op"], values)


@dataclass(eq=False)
class Binding:
    """One postgres_changes entry of a joined channel."""

    id: int
    event: str
    schema: str
    table: str
    filter: Filter | None
    echo: dict[str, Any]  # the binding as the client sent it, echoed in the join reply
    channel: Any  # devstack.realtime.socket.Channel: claims, and where events go

    def wants(self, action: str) -> bool:
        return self.event in ("*", action)


def binding_id(params: dict[str, Any]) -> int:
    """A stable non-zero id per binding, as Realtime's hash of the params."""
    return zlib.crc32(json.dumps(params, sort_keys=True).encode()) % 2_000_000_000 + 1


async def check_binding(pool: ConnectionPool, params: dict[str, Any]) -> tuple[str, str, str]:
    """(event, schema, table) of a valid binding on a published table."""
    event = str(params.get("event") or "*").upper()
    schema = str(params.get("schema") or "public")
    table = params.get("table")
    if event not in EVENTS:
        raise BindingRefused(f"invalid event {event!r}: use INSERT, UPDATE, DELETE or *")
    if not table or table == "*":
        raise BindingRefused("name a table: devstack serves postgres_changes per table")
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "select exists (select from pg_catalog.pg_publication_tables as p"
            " where p.pubname = 'supabase_realtime' and p.schemaname = %s and p.tablename = %s)",
            (schema, table),
        )
        (published,) = await cursor.fetchone()
    if not published:
        raise BindingRefused(f"{schema}.{table} is not in the supabase_realtime publication")
    return event, schema, table


@dataclass
class _Columns:
    """A published table's columns: names, Realtime's type names (pg_type.typname) and key."""

    names: list[str]
    types: dict[str, str]
    key: list[str]


@dataclass
class ChangeFeed:
    """This worker's bindings and the slot that feeds them."""

    dsn: str
    pool: ConnectionPool
    bindings: dict[tuple[str, str], set[Binding]] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task | None = None
    _slot_ready: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def add(self, binding: Binding) -> None:
        """Register a binding; returns once the slot is reading (changes from now on count)."""
        self.bindings.setdefault((binding.schema, binding.table), set()).add(binding)
        self._wake.set()
        await asyncio.wait_for(self._slot_ready.wait(), 10)

    def remove(self, binding: Binding) -> None:
        audience = self.bindings.get((binding.schema, binding.table))
        if audience is not None:
            audience.discard(binding)
            if not audience:
                del self.bindings[(binding.schema, binding.table)]

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self.bindings:
                continue
            try:
                await self._stream()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database restarted, say: open a new slot
                log.warning("realtime changes: %s; opening a new slot", error)
                await asyncio.sleep(1)
                self._wake.set()
            finally:
                self._slot_ready.clear()

    async def _stream(self) -> None:
        """Hold a temporary slot and poll it while bindings exist."""
        slot = f"devstack_realtime_{os.getpid()}"
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            await conn.execute(
                "select pg_catalog.pg_create_logical_replication_slot(%s, 'wal2json', true)",
                (slot,),
            )
            self._slot_ready.set()
            while self.bindings:
                cursor = await conn.execute(
                    "select data from pg_catalog.pg_logical_slot_get_changes(%s, null, 1000,"
                    " 'format-version', '2', 'include-type-oids', 'true',"
                    " 'include-timestamp', 'true', 'include-transaction', 'false',"
                    " 'include-pk', 'true')",
                    (slot,),
                )
                rows = await cursor.fetchall()
                for (data,) in rows:
                    await self._dispatch(json.loads(data))
                if not rows:
                    await asyncio.sleep(POLL_SECONDS)

    async def _dispatch(self, change: dict[str, Any]) -> None:
        action = ACTIONS.get(change.get("action", ""))
        audience = self.bindings.get((change.get("schema"), change.get("table")))
        if action is None or not audience:
            return
        columns = await self.table_columns(change["schema"], change["table"])
        by_channel: dict[Any, list[Binding]] = {}
        for binding in list(audience):
            if binding.wants(action):
                by_channel.setdefault(binding.channel, []).append(binding)
        for channel, bindings in by_channel.items():
            matched, record = await self._reach(change, action, columns, bindings)
            if matched:
                data = _event(change, action, columns, record)
                channel.deliver_change({"ids": [b.id for b in matched], "data": data})

    async def _reach(
        self, change: dict, action: str, columns: _Columns, bindings: list[Binding]
    ) -> tuple[list[Binding], dict[str, Any] | None]:
        """The bindings of one channel (one subscriber) the change reaches, and the record as
        that subscriber reads it. A DELETE holds only the key: it reaches bindings without a
        filter, when the subscriber's role may select from the table."""
        claims = bindings[0].channel.claims
        if action == "DELETE":
            unfiltered = [b for b in bindings if b.filter is None]
            if unfiltered and await self._may_select(claims, change["schema"], change["table"]):
                return unfiltered, None
            return [], None
        values = {c["name"]: c["value"] for c in change.get("columns", [])}
        key = {name: values.get(name) for name in columns.key}
        matched, record = [], None
        for binding in bindings:
            seen = await self._read_as(claims, change, key, binding.filter)
            if seen is not None:
                matched.append(binding)
                record = seen
        return matched, record

    async def _read_as(
        self, claims: dict, change: dict, key: dict[str, Any], filter: Filter | None
    ) -> dict[str, Any] | None:
        """The changed row as the subscriber can read it now (their policies, their columns,
        the binding's filter), or None."""
        table = sql.Identifier(change["schema"], change["table"])
        conditions = [sql.SQL("{} = %s").format(sql.Identifier(name)) for name in key]
        params: list[Any] = [str(v) if v is not None else None for v in key.values()]
        if filter is not None:
            conditions.append(filter.condition())
            params.extend(filter.values)
        query = sql.SQL(
            "select pg_catalog.to_jsonb(r) from (select {columns} from {table} where {where}) as r"
        )
        async with self.pool.connection() as conn:
            try:
                async with conn.transaction(force_rollback=True):
                    await database.act_as(conn, claims, "")
                    columns = await self._selectable(conn, change)
                    if not columns:
                        return None
                    cursor = await conn.execute(
                        query.format(
                            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
                            table=table,
                            where=sql.SQL(" and ").join(conditions),
                        ),
                        params,
                    )
                    row = await cursor.fetchone()
                    return row[0] if row else None
            except database.NotAllowed:
                return None
            except psycopg.Error as error:  # a filter value of the wrong type, say
                log.info("realtime changes: a subscriber's read failed: %s", error)
                return None

    async def _selectable(self, conn: psycopg.AsyncConnection, change: dict) -> list[str]:
        cursor = await conn.execute(
            "select a.attname from pg_catalog.pg_attribute as a"
            " where a.attrelid = pg_catalog.format('%%I.%%I', %s::text, %s::text)::regclass"
            "   and a.attnum > 0 and not a.attisdropped"
            "   and pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'select')"
            " order by a.attnum",
            (change["schema"], change["table"]),
        )
        return [name for (name,) in await cursor.fetchall()]

    async def _may_select(self, claims: dict, schema: str, table: str) -> bool:
        async with self.pool.connection() as conn:
            try:
                async with conn.transaction(force_rollback=True):
                    await database.act_as(conn, claims, "")
                    cursor = await conn.execute(
                        "select pg_catalog.has_table_privilege("
                        " pg_catalog.format('%%I.%%I', %s::text, %s::text)::regclass, 'select')",
                        (schema, table),
                    )
                    return bool((await cursor.fetchone())[0])
            except database.NotAllowed:
                return False

    async def table_columns(self, schema: str, table: str) -> _Columns:
        """Read per change, not cached: a migration may change a published table any time."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                "select a.attname, t.typname,"
                "  coalesce(a.attnum = any(i.indkey), false)"
                " from pg_catalog.pg_attribute as a"
                " join pg_catalog.pg_type as t on t.oid = a.atttypid"
                " left join pg_catalog.pg_index as i on i.indrelid = a.attrelid and i.indisprimary"
                " where a.attrelid = pg_catalog.format('%%I.%%I', %s::text, %s::text)::regclass"
                "   and a.attnum > 0 and not a.attisdropped"
                " order by a.attnum",
                (schema, table),
            )
            rows = await cursor.fetchall()
        return _Columns(
            [name for name, _, _ in rows],
            {name: type_name for name, type_name, _ in rows},
            [name for name, _, is_key in rows if is_key],
        )


def _event(
    change: dict, action: str, columns: _Columns, record: dict[str, Any] | None
) -> dict[str, Any]:
    """Realtime's `data` of a postgres_changes push."""
    stamp = change.get("timestamp", "")
    data: dict[str, Any] = {
        "schema": change["schema"],
        "table": change["table"],
        "commit_timestamp": _iso(stamp),
        "type": action,
        "columns": [{"name": n, "type": columns.types[n]} for n in columns.names],
        "errors": None,
    }
    if action != "DELETE":
        data["record"] = record
        data["columns"] = [c for c in data["columns"] if c["name"] in (record or {})]
    if action != "INSERT":
        identity = change.get("identity") or []
        data["old_record"] = {c["name"]: c["value"] for c in identity}
    return data


def _iso(stamp: str) -> str:
    """wal2json's '2026-12-03 07:51:55.072608+00' as Realtime writes it: ISO 8601, Z."""
    if not stamp:
        return ""
    date_time = stamp.replace(" ", "T", 1)
    return re.sub(r"\+00(:00)?$", "Z", date_time)
