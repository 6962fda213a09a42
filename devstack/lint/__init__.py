"""The database linter: our own queries for the checks of Supabase's advisors (splinter).

Each file in `checks/` is one lint, named `<splinter's number>_<splinter's name>.sql` with
splinter's level, and returns rows of (level, object, detail, remedy). They read only the
catalog, in a read-only transaction, so they can run against any database (`carebase db lint`)
and against one built from the migrations alone (tests/test_database_lint.py). Left out: the
lints that judge a live database's statistics rather than its schema (unused_index,
table_bloat).

Splinter itself runs beside them (`run_splinter`): its queries ship in the Postgres Language
Server's CLI, which devstack/lint/install.sh installs from npm (`make install`).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg

from devstack.config import Settings
from devstack.errors import DevstackError

CHECKS = Path(__file__).parent / "checks"
LEVELS = ("ERROR", "WARN", "INFO")
FAILING = ("ERROR", "WARN")

# Schemas the platform owns (Supabase's services and extensions), as splinter skips them.
MANAGED_SCHEMAS = (
    "_timescaledb_cache",
    "_timescaledb_catalog",
    "_timescaledb_config",
    "_timescaledb_internal",
    "auth",
    "cron",
    "extensions",
    "graphql",
    "graphql_public",
    "information_schema",
    "net",
    "pgmq",
    "pgroonga",
    "pgsodium",
    "pgsodium_masks",
    "pgtle",
    "pgbouncer",
    "pg_catalog",
    "realtime",
    "repack",
    "storage",
    "supabase_functions",
    "supabase_migrations",
    "tiger",
    "topology",
    "vault",
    # devstack's own bookkeeping (the migration runner, the gateway's listener)
    "_devstack",
)
# What PostgREST serves when the server does not say (hosted Supabase sets pgrst.db_schemas).
DEFAULT_API_SCHEMAS = "public,graphql_public"


@dataclass(frozen=True)
class Finding:
    name: str
    level: str
    object: str
    detail: str
    remedy: str

    def __str__(self) -> str:
        return f"{self.level:5} {self.name}: {self.object} {self.detail}\n      fix: {self.remedy}"


def lint_names() -> list[str]:
    return [path.stem.split("_", 1)[1] for path in sorted(CHECKS.glob("*.sql"))]


def run(conn: psycopg.Connection) -> list[Finding]:
    """Every finding of every check, ERROR first; the connection's transaction is rolled back."""
    findings: list[Finding] = []
    with conn.transaction(force_rollback=True):
        conn.execute("set transaction read only")
        conn.execute("set local search_path = ''")
        conn.execute(
            "select set_config('carebase.lint.managed_schemas', %s, true),"
            " set_config('carebase.lint.api_schemas', regexp_replace("
            "coalesce(nullif(current_setting('pgrst.db_schemas', true), ''), %s), '\\s', '', 'g'),"
            " true)",
            (",".join(MANAGED_SCHEMAS), DEFAULT_API_SCHEMAS),
        )
        for path in sorted(CHECKS.glob("*.sql")):
            name = path.stem.split("_", 1)[1]
            for level, obj, detail, remedy in conn.execute(path.read_text()):
                if level not in LEVELS:
                    raise ValueError(f"{path.name} returned the level {level!r}")
                findings.append(Finding(name, level, obj, detail, remedy))
    return sorted(findings, key=lambda f: (LEVELS.index(f.level), f.name, f.object))


def report(findings: list[Finding]) -> str:
    counts = ", ".join(f"{sum(f.level == level for f in findings)} {level}" for level in LEVELS)
    return "\n".join([*(str(f) for f in findings), f"database lint: {counts}"])


def splinter_binary(settings: Settings) -> Path:
    prefix = settings.local_dir / "postgres-language-server"
    return prefix / "node_modules/.bin/postgres-language-server"


def run_splinter(settings: Settings, dbname: str | None = None) -> subprocess.CompletedProcess:
    """Splinter's own lints (`postgres-language-server dblint`) on a database of the local
    cluster, as postgres; exit status 1 when any is ERROR or WARN (INFO is not printed)."""
    binary = splinter_binary(settings)
    if not binary.exists():
        raise DevstackError("splinter (postgres-language-server) is not installed", "make install")
    environment = {
        **os.environ,
        "PGHOST": settings.db_host,
        "PGPORT": str(settings.db_port),
        "PGUSER": "postgres",
        "PGPASSWORD": settings.db_password,
        "PGDATABASE": dbname or settings.db_name,
    }
    return subprocess.run(
        [
            str(binary),
            "dblint",
            "--colors=off",
            "--diagnostic-level=warn",
            "--error-on-warnings",
            "--max-diagnostics=none",
        ],
        cwd=settings.repo_root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
