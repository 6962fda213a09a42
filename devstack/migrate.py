"""Applies the platform shim, then `supabase/migrations`, then the seed, as the Supabase CLI would.

Each file runs in one transaction, statement by statement, so that a failure names the file
and line and leaves the database exactly as it was before that file.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import sqlparse
from psycopg import sql
from psycopg.conninfo import make_conninfo

from devstack.config import Settings
from devstack.errors import DevstackError

# A 14-digit UTC timestamp, as `supabase migration new` writes it.
MIGRATION_NAME = re.compile(r"^(?P<version>\d{14})_(?P<name>.+)\.sql$")

# The table the Supabase CLI records applied migrations in (`supabase migration list`).
SCHEMA_MIGRATIONS = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
    version text primary key,
    statements text[],
    name text,
    created_by text,
    idempotency_key text unique,
    rollback text[]
);
"""

FILE_FIX = "fix that file; the database is as it was before it"

LOGIN_ROLES = (
    "postgres",
    "authenticator",
    "supabase_auth_admin",
    "supabase_realtime_admin",
    "supabase_storage_admin",
)

# Two `carebase up` at once (a test run beside `make up`) must not apply the same file twice.
MIGRATION_LOCK = 5_432_201
# The shim alters roles, which every database of the cluster shares: two databases shimmed at
# once (scratch test databases) would collide on the same role ("tuple concurrently updated").
PLATFORM_LOCK = 5_432_202
# Advisory locks are per database, so the cluster-wide one is taken in this one, which
# initdb always creates.
LOCK_DATABASE = "postgres"


def _serialize(conn: psycopg.Connection) -> None:
    """Wait for any other devstack migrating this database; released when conn closes."""
    conn.execute("select pg_advisory_lock(%s)", (MIGRATION_LOCK,))


def _cluster_lock(admin_dsn: str) -> psycopg.Connection:
    """Wait for any other devstack applying the shim in this cluster; released on close."""
    conn = psycopg.connect(make_conninfo(admin_dsn, dbname=LOCK_DATABASE), autocommit=True)
    conn.execute("select pg_advisory_lock(%s)", (PLATFORM_LOCK,))
    return conn


@dataclass(frozen=True)
class Statement:
    text: str
    line: int  # 1-based line of the file where the statement starts


def split_statements(source: str) -> Iterator[Statement]:
    """Split a SQL file into statements, remembering the line each one starts on."""
    position = 0
    for text in sqlparse.split(source):
        if not text.strip() or not sqlparse.format(text, strip_comments=True).strip():
            continue
        start = source.find(text, position)
        position = start + len(text)
        yield Statement(text, source.count("\n", 0, start) + 1)


def _error_line(statement: Statement, error: psycopg.Error) -> int:
    offset = error.diag.statement_position
    if offset:
        return statement.line + statement.text.count("\n", 0, int(offset) - 1)
    # No position: point at the statement's first line of code, past its leading comments.
    for number, line in enumerate(statement.text.splitlines()):
        if line.strip() and not line.lstrip().startswith("--"):
            return statement.line + number
    return statement.line


def _describe(path: Path, statement: Statement, error: psycopg.Error) -> str:
    diag = error.diag
    parts = [
        f"{path}:{_error_line(statement, error)}: {diag.severity or 'ERROR'}: "
        f"{diag.message_primary or error}"
    ]
    for label, value in (
        ("detail", diag.message_detail),
        ("hint", diag.message_hint),
        ("context", diag.context),
    ):
        if value:
            parts.append(f"  {label}: {value}")
    return "\n".join(parts)


def run_file(conn: psycopg.Connection, path: Path, fix: str = FILE_FIX) -> list[Statement]:
    """Run every statement of a file inside the caller's open transaction."""
    statements = list(split_statements(path.read_text()))
    for statement in statements:
        try:
            conn.execute(statement.text.encode())
        except psycopg.Error as error:
            raise DevstackError(_describe(path, statement, error), fix) from error
    return statements


@contextlib.contextmanager
def file_transaction(conn: psycopg.Connection, path: Path, fix: str) -> Iterator[None]:
    """One transaction for one file. A failure at commit (a deferred constraint) has no
    statement to point at, but names the file all the same."""
    try:
        with conn.transaction():
            yield
    except DevstackError:
        raise
    except psycopg.Error as error:
        message = error.diag.message_primary or str(error)
        raise DevstackError(
            f"{path}: at commit: {error.diag.severity or 'ERROR'}: {message}", fix
        ) from error


def _applied_platform_files(conn: psycopg.Connection) -> dict[str, str]:
    if conn.execute("select to_regclass('_devstack.platform_files')").fetchone()[0] is None:
        return {}
    return dict(conn.execute("select file, sha256 from _devstack.platform_files").fetchall())


def apply_platform(admin_dsn: str, platform_dir: Path, db_password: str) -> list[str]:
    """Apply the shim files not yet applied to this database; returns their names."""
    applied: list[str] = []
    with _cluster_lock(admin_dsn), psycopg.connect(admin_dsn, autocommit=True) as conn:
        recorded = _applied_platform_files(conn)
        for path in sorted(platform_dir.glob("*.sql")):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if path.name in recorded:
                if recorded[path.name] != digest:
                    raise DevstackError(
                        f"{path} changed after it was applied to this database",
                        "run `carebase db reset` to rebuild the database from scratch",
                    )
                continue
            fix = "see the hint above; nothing of this file was applied"
            with file_transaction(conn, path, fix):
                run_file(conn, path, fix)
                conn.execute(
                    "insert into _devstack.platform_files (file, sha256) values (%s, %s)",
                    (path.name, digest),
                )
            applied.append(path.name)
        for role in LOGIN_ROLES:
            conn.execute(
                sql.SQL("alter role {} with password {}").format(
                    sql.Identifier(role), sql.Literal(db_password)
                )
            )
    return applied


def pending_migrations(conn: psycopg.Connection, migrations_dir: Path) -> list[Path]:
    done = {
        row[0] for row in conn.execute("select version from supabase_migrations.schema_migrations")
    }
    pending = []
    versions = set()
    for path in sorted(migrations_dir.glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if not match:
            raise DevstackError(
                f"{path} is not named <14-digit UTC timestamp>_<name>.sql",
                "rename it, e.g. 20260101000000_create_things.sql",
            )
        versions.add(match["version"])
        if match["version"] not in done:
            pending.append(path)
    # A version applied here but no longer among the files (a renamed or squashed migration)
    # would otherwise apply its successor on top of a schema it never expected.
    unknown = sorted(done - versions)
    if unknown:
        raise DevstackError(
            f"this database was migrated with versions that are not in {migrations_dir}:"
            f" {', '.join(unknown)}",
            "run `carebase db reset` to rebuild the database from the current migrations",
        )
    return pending


def apply_migrations(dsn: str, migrations_dir: Path) -> list[str]:
    """Apply pending migrations as `postgres`, each in its own transaction; returns their names."""
    applied: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        _serialize(conn)
        conn.execute(SCHEMA_MIGRATIONS)
        for path in pending_migrations(conn, migrations_dir):
            match = MIGRATION_NAME.match(path.name)
            with file_transaction(conn, path, FILE_FIX):
                statements = run_file(conn, path)
                conn.execute(
                    "insert into supabase_migrations.schema_migrations (version, name, statements)"
                    " values (%s, %s, %s)",
                    (match["version"], match["name"], [s.text for s in statements]),
                )
            applied.append(path.name)
    return applied


def apply_seed(dsn: str, seed_file: Path) -> bool:
    """Run supabase/seed.sql in one transaction, as `supabase db reset` does."""
    if not seed_file.exists():
        return False
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        file_transaction(conn, seed_file, FILE_FIX),
    ):
        run_file(conn, seed_file)
    return True


@contextlib.contextmanager
def scratch_database(settings: Settings, template: str | None = None) -> Iterator[str]:
    """An empty database of the local cluster, or a copy of `template`, dropped afterwards."""
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(settings.dsn(settings.admin_user), autocommit=True) as conn:
        if template is None:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        else:
            conn.execute(
                sql.SQL("create database {} template {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
    try:
        if template is not None:
            # A copy takes neither the owner nor the database's grants: the shim's database
            # file gives them again, as it gave the template.
            admin = settings.dsn(settings.admin_user, dbname=name)
            with psycopg.connect(admin, autocommit=True) as db:
                run_file(db, settings.platform_dir / "20_database.sql")
        yield name
    finally:
        with psycopg.connect(settings.dsn(settings.admin_user), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))


@contextlib.contextmanager
def migrated_scratch_database(settings: Settings) -> Iterator[str]:
    """A database of the local cluster built from the shim and the migrations alone (no seed),
    dropped afterwards: what the catalog tests, the schema snapshot and the benches read."""
    with scratch_database(settings) as name:
        apply_platform(
            settings.dsn(settings.admin_user, dbname=name),
            settings.platform_dir,
            settings.db_password,
        )
        apply_migrations(settings.dsn(dbname=name), settings.migrations_dir)
        yield name
