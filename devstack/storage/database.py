"""What Storage asks the database, on connections of `supabase_storage_admin` (the owner of the
storage tables). A request's statements run in one transaction; those made for the caller run
after the caller's API role and JWT claims are set for that transaction (`as_caller`), exactly
as Supabase Storage scopes them, so the RLS policies on storage.objects and storage.buckets
decide. Lookups Storage makes for itself (a bucket's limits, a signed URL's object) run before
that, as the owner, who sees every row.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from devstack.gateway.connections import AcquireTimeout, ConnectionPool, DatabaseUnavailable
from devstack.storage import errors

ROLE = "supabase_storage_admin"
# The only roles a token may name: the Storage role is a member of these three alone.
API_ROLES = {"anon", "authenticated", "service_role"}
OBJECT_COLUMNS = (
    "id, name, bucket_id, owner, owner_id, version, metadata, user_metadata,"
    " created_at, updated_at, last_accessed_at"
)
BUCKET_COLUMNS = (
    "id, name, owner, owner_id, public, file_size_limit, allowed_mime_types, created_at, updated_at"
)
UUID_TEXT_LENGTH = 36
SORTABLE = {"name", "updated_at", "created_at", "last_accessed_at"}
BUCKET_SORTABLE = {"id", "name", "created_at", "updated_at"}


@dataclass(frozen=True)
class Caller:
    """Who a request acts for: its JWT's role and claims (anon without a valid one) and the
    request facts Storage hands to policies (`request.headers`, method, path)."""

    role: str
    claims: dict[str, Any]
    token: str
    authenticated: bool
    headers: str  # JSON object of the request headers
    method: str
    path: str

    @property
    def owner(self) -> str | None:
        sub = self.claims.get("sub")
        return sub if isinstance(sub, str) and sub else None


def owner_columns(owner: str | None) -> dict[str, str | None]:
    """Storage's `owner` (the caller's id when it is a uuid; deprecated) and `owner_id`
    (the JWT's `sub`, whatever it is)."""
    try:
        as_uuid = str(uuid.UUID(owner)) if owner and len(owner) == UUID_TEXT_LENGTH else None
    except ValueError:
        as_uuid = None
    return {"owner": as_uuid, "owner_id": owner}


class Queries:
    """The statements of one transaction."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.conn = conn

    async def _rows(self, query: sql.Composable | str, params: Any = None) -> list[dict]:
        cursor = conn_cursor(self.conn)
        await cursor.execute(query, params)
        return await cursor.fetchall() if cursor.description else []

    async def _row(self, query: sql.Composable | str, params: Any = None) -> dict | None:
        rows = await self._rows(query, params)
        return rows[0] if rows else None

    async def become(self, caller: Caller) -> None:
        """The caller's role and claims, for the rest of this transaction."""
        if caller.role not in API_ROLES:
            raise errors.access_denied(f'permission denied to set role "{caller.role}"')
        await self.conn.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claim.role', %s, true),"
            " set_config('request.jwt', %s, true), set_config('request.jwt.claim.sub', %s, true),"
            " set_config('request.jwt.claims', %s, true), set_config('request.headers', %s, true),"
            " set_config('request.method', %s, true), set_config('request.path', %s, true)",
            (
                caller.role,
                caller.role,
                caller.token,
                caller.owner or "",
                json.dumps(caller.claims),
                caller.headers,
                caller.method,
                caller.path,
            ),
        )

    # ---------------------------------------------------------------- buckets

    async def find_bucket(self, bucket_id: str) -> dict | None:
        query = sql.SQL("select {} from storage.buckets where id = %s").format(
            sql.SQL(BUCKET_COLUMNS)
        )
        return await self._row(query, (bucket_id,))

    async def list_buckets(self, options: dict[str, Any]) -> list[dict]:
        column = options.get("sortColumn")
        order = sql.SQL("")
        if column in BUCKET_SORTABLE:
            direction = "desc" if str(options.get("sortOrder")).lower() == "desc" else "asc"
            order = sql.SQL("order by {} {}").format(sql.Identifier(column), sql.SQL(direction))
        query = sql.SQL(
            "select {} from storage.buckets where name ilike %s {} limit %s offset %s"
        ).format(sql.SQL(BUCKET_COLUMNS), order)
        pattern = f"%{escape_like(options.get('search') or '')}%"
        return await self._rows(query, (pattern, options.get("limit"), options.get("offset") or 0))

    async def insert_bucket(self, bucket: dict[str, Any]) -> None:
        await self._insert("buckets", bucket)

    async def update_bucket(self, bucket_id: str, changes: dict[str, Any]) -> bool:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(column)) for column in changes
        )
        query = sql.SQL("update storage.buckets set {} where id = %s returning id").format(
            assignments
        )
        return await self._row(query, (*changes.values(), bucket_id)) is not None

    async def delete_bucket(self, bucket_id: str) -> bool:
        return (
            await self._row("delete from storage.buckets where id = %s returning id", (bucket_id,))
            is not None
        )

    async def has_objects(self, bucket_id: str) -> bool:
        row = await self._row(
            "select exists (select from storage.objects where bucket_id = %s) as found",
            (bucket_id,),
        )
        return bool(row and row["found"])

    # ---------------------------------------------------------------- objects

    async def lock_object(self, bucket_id: str, name: str) -> None:
        """One writer at a time per object name, until this transaction ends."""
        await self.conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{bucket_id}/{name}",)
        )

    async def find_object(self, bucket_id: str, name: str, lock: bool = False) -> dict | None:
        query = sql.SQL(
            "select {} from storage.objects where bucket_id = %s and name = %s {}"
        ).format(sql.SQL(OBJECT_COLUMNS), sql.SQL("for update" if lock else ""))
        return await self._row(query, (bucket_id, name))

    async def find_objects(self, bucket_id: str, names: list[str]) -> list[dict]:
        return await self._rows(
            "select name from storage.objects where bucket_id = %s and name = any(%s)",
            (bucket_id, names),
        )

    async def insert_object(self, row: dict[str, Any]) -> None:
        """No `returning`: an insert needs only the insert policy, as on Supabase."""
        await self._insert("objects", row)

    async def upsert_object(self, row: dict[str, Any]) -> None:
        """Insert, or overwrite the object of that name (insert and update policies)."""
        changed = [c for c in row if c not in ("id", "bucket_id", "name")]
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in changed
        )
        query = sql.SQL(
            "insert into storage.objects ({}) values ({}) on conflict (name, bucket_id)"
            " do update set {}"
        ).format(
            sql.SQL(", ").join(map(sql.Identifier, row)),
            sql.SQL(", ").join(sql.Placeholder() * len(row)),
            updates,
        )
        await self.conn.execute(query, [_adapt(v) for v in row.values()])

    async def update_object(self, bucket_id: str, name: str, changes: dict[str, Any]) -> bool:
        """False when no row the caller may update has that name."""
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(column)) for column in changes
        )
        query = sql.SQL("update storage.objects set {} where bucket_id = %s and name = %s").format(
            assignments
        )
        params = [*map(_adapt, changes.values()), bucket_id, name]
        cursor = await self.conn.execute(query, params)
        return cursor.rowcount > 0

    async def delete_objects(self, bucket_id: str, names: list[str]) -> list[dict]:
        query = sql.SQL(
            "delete from storage.objects where bucket_id = %s and name = any(%s) returning {}"
        ).format(sql.SQL(OBJECT_COLUMNS))
        return await self._rows(query, (bucket_id, names))

    async def object_versions(self, bucket_id: str) -> list[dict]:
        return await self._rows(
            "select name, version from storage.objects where bucket_id = %s", (bucket_id,)
        )

    async def search(self, bucket_id: str, prefix: str, options: dict[str, Any]) -> list[dict]:
        """Storage's list: what lies directly under `prefix` (a folder path ending in "/")
        whose name starts with `search` (case-insensitive): files with their columns, and
        folders (id null) for deeper names. Names are relative to the prefix. Only objects the
        caller may select count, so a folder of invisible objects does not show."""
        sort = options.get("column") if options.get("column") in SORTABLE else "name"
        direction = sql.SQL("desc" if options.get("order") == "desc" else "asc")
        if sort == "name":
            order = sql.SQL('lower(name) collate "C" {}').format(direction)
        else:  # folders first, by name; then files by the column
            order = sql.SQL('id is not null, {} {}, lower(name) collate "C"').format(
                sql.Identifier(sort), direction
            )
        query = sql.SQL(
            "with under as ("
            " select substr(o.name, %(start)s) as rest, o.id, o.updated_at, o.created_at,"
            "  o.last_accessed_at, o.metadata"
            " from storage.objects as o"
            " where o.bucket_id = %(bucket)s and lower(o.name) like lower(%(pattern)s)"
            "), entries as ("
            " select distinct split_part(rest, '/', 1) as name, null::uuid as id,"
            "  null::timestamptz as updated_at, null::timestamptz as created_at,"
            "  null::timestamptz as last_accessed_at, null::jsonb as metadata"
            " from under where strpos(rest, '/') > 0"
            " union all"
            " select rest, id, updated_at, created_at, last_accessed_at, metadata"
            " from under where strpos(rest, '/') = 0"
            ") select * from entries order by {} limit %(limit)s offset %(offset)s"
        ).format(order)
        params = {
            "start": len(prefix) + 1,
            "bucket": bucket_id,
            "pattern": escape_like(prefix + (options.get("search") or "")) + "%",
            "limit": min(int(options.get("limit") or 100), 1500),
            "offset": int(options.get("offset") or 0),
        }
        return await self._rows(query, params)

    async def _insert(self, table: str, row: dict[str, Any]) -> None:
        query = sql.SQL("insert into storage.{} ({}) values ({})").format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, row)),
            sql.SQL(", ").join(sql.Placeholder() * len(row)),
        )
        await self.conn.execute(query, [_adapt(v) for v in row.values()])


class StorageDatabase:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    @contextlib.asynccontextmanager
    async def transaction(self, rollback: bool = False) -> AsyncIterator[Queries]:
        """One transaction as the Storage role (call `become` to act as the caller);
        `rollback` for a permission test that must leave nothing. Database errors become
        Storage's answers."""
        try:
            async with (
                self.pool.connection() as conn,
                conn.transaction(force_rollback=rollback),
            ):
                yield Queries(conn)
        except (DatabaseUnavailable, AcquireTimeout):
            raise errors.database_unavailable() from None
        except psycopg.Error as error:
            raise errors.from_database(error) from None

    @contextlib.asynccontextmanager
    async def as_caller(self, caller: Caller, rollback: bool = False) -> AsyncIterator[Queries]:
        async with self.transaction(rollback) as queries:
            await queries.become(caller)
            yield queries


def conn_cursor(conn: psycopg.AsyncConnection) -> psycopg.AsyncCursor:
    return conn.cursor(row_factory=dict_row)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _adapt(value: Any) -> Any:
    """JSON columns (metadata, user_metadata) from Python dicts."""
    if isinstance(value, dict):
        return psycopg.types.json.Jsonb(value)
    return value
