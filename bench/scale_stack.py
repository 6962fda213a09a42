"""The scale bench's own stack: a cluster with its own data directory and ports, one database
per data set size (`bench_demo`, `bench_large`, `bench_xl`), and the gateway serving one of them.

`make up`'s database is never touched: the bench cluster lives beside it (`.local/db-bench`
when the stack's cluster is `.local/db`) on the stack's ports plus 100 (54422 and 54421 by
default), or where CAREBASE_BENCH_DB_DIR, CAREBASE_BENCH_DB_PORT and CAREBASE_BENCH_API_PORT say.

A data set takes minutes to make (`large`: ~8), so it is made once and kept: the database
records what it holds in `bench.dataset` (size, seed, the day it was made for, the migration
versions and platform files it was built with, a digest of the generator's source) and is
made again only when one of those differs from what this checkout would make.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from devstack import postgres
from devstack.config import Settings
from devstack.errors import DevstackError
from devstack.gateway import process as gateway
from devstack.migrate import MIGRATION_NAME, apply_migrations, apply_platform

PORT_OFFSET = 100  # the bench stack's ports: the stack's own plus this


@dataclass(frozen=True)
class Dataset:
    """What a bench database holds, as recorded in its `bench.dataset` row."""

    size: str
    seed: int
    migrations: tuple[str, ...]  # the migration versions it was built with
    platform: str  # digest of the platform shim files
    generator: str  # digest of seed/*.py
    today: date | None = None  # the day the data was made for (not compared)


def regeneration_reasons(recorded: Dataset | None, wanted: Dataset) -> list[str]:
    """Why the database's data set is not the one wanted (empty: keep it)."""
    if recorded is None:
        return ["the database holds no generated data set"]
    reasons = []
    if recorded.size != wanted.size:
        reasons.append(f"it holds size {recorded.size}, not {wanted.size}")
    if recorded.seed != wanted.seed:
        reasons.append(f"it was made with seed {recorded.seed}, not {wanted.seed}")
    if recorded.migrations != wanted.migrations:
        added = sorted(set(wanted.migrations) - set(recorded.migrations))
        gone = sorted(set(recorded.migrations) - set(wanted.migrations))
        change = ", ".join(
            [*(f"new {v}" for v in added), *(f"no longer present {v}" for v in gone)]
        )
        reasons.append(f"the migrations changed ({change or 'order'})")
    if recorded.platform != wanted.platform:
        reasons.append("the platform shim (sql/platform) changed")
    if recorded.generator != wanted.generator:
        reasons.append("the generator (seed/) changed")
    return reasons


def only_new_migrations(recorded: Dataset | None, wanted: Dataset) -> bool:
    """Whether the data set differs only by migrations added after it was made: they are
    applied to it, as to a production database, instead of regenerating it."""
    return (
        recorded is not None
        and replace(recorded, migrations=(), today=None) == replace(wanted, migrations=())
        and len(wanted.migrations) > len(recorded.migrations)
        and wanted.migrations[: len(recorded.migrations)] == recorded.migrations
    )


def _digest(paths: list[Path]) -> str:
    hashed = hashlib.sha256()
    for path in sorted(paths):
        hashed.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return hashed.hexdigest()[:16]


def wanted_dataset(settings: Settings, size: str, seed: int) -> Dataset:
    versions = tuple(
        match["version"]
        for path in sorted(settings.migrations_dir.glob("*.sql"))
        if (match := MIGRATION_NAME.match(path.name))
    )
    return Dataset(
        size=size,
        seed=seed,
        migrations=versions,
        platform=_digest(list(settings.platform_dir.glob("*.sql"))),
        generator=_digest(list((settings.repo_root / "seed").glob("*.py"))),
    )


def bench_settings(base: Settings, size: str) -> Settings:
    """The bench stack's settings: its own data directory, ports and database."""
    location = postgres.locate(base).location
    db_dir = os.environ.get("CAREBASE_BENCH_DB_DIR") or str(
        location.with_name(location.name + "-bench")
    )
    return replace(
        base,
        db_port=int(os.environ.get("CAREBASE_BENCH_DB_PORT") or base.db_port + PORT_OFFSET),
        api_port=int(os.environ.get("CAREBASE_BENCH_API_PORT") or base.api_port + PORT_OFFSET),
        db_dir_override=Path(db_dir),
        db_name=f"bench_{size}",
    )


def _recorded(settings: Settings) -> Dataset | None:
    try:
        # as the superuser: a new cluster has no `postgres` role until the shim makes it
        conn = psycopg.connect(settings.dsn(settings.admin_user))
    except psycopg.OperationalError as error:
        if "does not exist" in str(error):
            return None
        raise
    with conn:
        if conn.execute("select to_regclass('bench.dataset')").fetchone()[0] is None:
            return None
        row = conn.execute(
            "select size, seed, migrations, platform, generator, today from bench.dataset"
        ).fetchone()
    if row is None:
        return None
    size, seed, migrations, platform, generator, today = row
    return Dataset(size, seed, tuple(migrations), platform, generator, today)


def _create_database(settings: Settings) -> None:
    """Drop and create the size's database, then apply the shim and the migrations."""
    name = sql.Identifier(settings.db_name)
    with psycopg.connect(
        settings.dsn(settings.admin_user, dbname="postgres"), autocommit=True
    ) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(name))
        conn.execute(sql.SQL("create database {}").format(name))
    apply_platform(settings.dsn(settings.admin_user), settings.platform_dir, settings.db_password)
    apply_migrations(settings.dsn(), settings.migrations_dir)


def _generate(settings: Settings, wanted: Dataset, today: date) -> float:
    """Run `carebase seed generate` (with its consistency check) into the database."""
    argv = [
        sys.executable, "-m", "devstack.cli", "seed", "generate", "--size", wanted.size,
        "--seed", str(wanted.seed), "--today", today.isoformat(), "--database-url", settings.dsn(),
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(argv, cwd=settings.repo_root, check=False)
    if result.returncode != 0:
        raise DevstackError(
            f"carebase seed generate --size {wanted.size} failed (exit {result.returncode})",
            "read its output above",
        )
    return time.monotonic() - started


def _record(settings: Settings, wanted: Dataset, today: date, seconds: float) -> Dataset:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        conn.execute(
            "create schema if not exists bench;"
            "create table if not exists bench.dataset (size text not null, seed integer not null,"
            " migrations text[] not null, platform text not null, generator text not null,"
            " today date not null, generated_at timestamptz not null default now(),"
            " seconds numeric not null);"
            "comment on schema bench is 'The scale bench''s record of the data set it made.';"
            "truncate bench.dataset"
        )
        conn.execute(
            "insert into bench.dataset (size, seed, migrations, platform, generator, today,"
            " seconds) values (%s, %s, %s, %s, %s, %s, %s)",
            (
                wanted.size,
                wanted.seed,
                list(wanted.migrations),
                wanted.platform,
                wanted.generator,
                today,
                round(seconds, 1),
            ),
        )
    return replace(wanted, today=today)


def ensure(settings: Settings, wanted: Dataset, today: date | None, regenerate: bool) -> Dataset:
    """Start the bench cluster and make sure its database holds `wanted`; returns what it
    holds (with the day it was made for)."""
    try:
        postgres.start(settings)
    except DevstackError as error:
        raise DevstackError(
            f"the bench cluster did not start: {error}",
            "set CAREBASE_BENCH_DB_DIR to a folder the postgres OS user can reach, or "
            "CAREBASE_BENCH_DB_PORT / CAREBASE_BENCH_API_PORT to free ports",
        ) from error
    recorded = _recorded(settings)
    if not regenerate and only_new_migrations(recorded, wanted):
        applied = apply_migrations(settings.dsn(), settings.migrations_dir)
        with psycopg.connect(settings.dsn(), autocommit=True) as conn:
            conn.execute("analyze")
            conn.execute("update bench.dataset set migrations = %s", (list(wanted.migrations),))
        print(f"bench data: {settings.db_name} kept, migrated forward: {', '.join(applied)}")
        return replace(wanted, today=recorded.today)
    reasons = ["--regenerate"] if regenerate else regeneration_reasons(recorded, wanted)
    if not reasons:
        print(f"bench data: {settings.db_name} holds {wanted.size} (seed {wanted.seed}), kept")
        return replace(wanted, today=recorded.today)
    print(f"bench data: making {wanted.size} in {settings.db_name}: {'; '.join(reasons)}")
    _create_database(settings)
    today = today or datetime.now(UTC).date()
    seconds = _generate(settings, wanted, today)
    return _record(settings, wanted, today, seconds)


def start_gateway(settings: Settings) -> None:
    """(Re)start the bench gateway on the size's database (it reads the environment)."""
    gateway.stop(settings)
    os.environ.update(
        CAREBASE_DB_PORT=str(settings.db_port),
        CAREBASE_DB_NAME=settings.db_name,
        CAREBASE_API_PORT=str(settings.api_port),
    )
    gateway.start(settings)


def stop(settings: Settings) -> None:
    gateway.stop(settings)
    postgres.stop(settings)
