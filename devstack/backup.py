"""`carebase db backup` and `carebase db restore`: a logical backup of the local database and its
restore into a fresh cluster, checked on arrival (README, "Backups, retention, masked copies").

A backup is a folder:
- `database.dump`: `pg_dump --format=custom` of the database, taken from an exported snapshot;
- `globals.sql`: `pg_dumpall --globals-only` (the roles, their memberships and settings, which a
  database dump does not hold and every grant and policy needs);
- `audit-anchors/`: a copy of the exported audit anchors (they live outside the database);
- `manifest.json`: when and from where, the sha256 of each file, the row count of every table
  and the audit chain head, all read in the dump's own snapshot, and the database's owner,
  privileges and settings (a dump restored into an existing database does not carry them).

Why pg_dump and not pg_basebackup with WAL archiving: production's recovery is Supabase's (PITR,
physical backups and WAL); what the local commands must do is copy one database, with its
Vault root key, into another cluster on another port, check it, and feed the masked copy. A
logical dump does that portably (any data directory, port or minor version), and its restore
is what `carebase db masked-copy` rewrites. Continuous archiving adds nothing here: the local
cluster runs with fsync off and holds disposable data.

A restore refuses a database that holds anything (`--replace` empties it first), applies the
roles (skipping those the cluster has), the database's owner, privileges and settings, then
`pg_restore`, then points pg_cron's jobs at the new cluster and gives the login roles the local
password, and finally compares every table's row count and the audit chain head with the
manifest and runs `private.verify_audit_chain()`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from devstack import postgres, services
from devstack.config import Settings
from devstack.errors import DevstackError
from devstack.migrate import LOGIN_ROLES

MANIFEST = "manifest.json"
DUMP = "database.dump"
GLOBALS = "globals.sql"
ANCHORS = "audit-anchors"
FORMAT = "carebase-backup/1"

# Schemas whose tables a backup counts: everything but the system catalogs.
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")

TABLES = """
select n.nspname, c.relname
from pg_catalog.pg_class as c
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
where c.relkind = 'r'
    and n.nspname <> all(%s)
    and n.nspname not like 'pg\\_temp\\_%%' and n.nspname not like 'pg\\_toast\\_temp\\_%%'
order by 1, 2
"""


@dataclass
class Manifest:
    created_at: str
    source: str  # host:port/database
    server_version: str
    counts: dict[str, int]
    chain_head: dict[str, object] | None
    database: dict[str, object]
    files: dict[str, str] = field(default_factory=dict)  # name -> sha256
    role_passwords: bool = True
    masked: bool = False
    format: str = FORMAT

    def write(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        if not path.is_file():
            raise DevstackError(
                f"{folder} is not a carebase backup (no {MANIFEST})",
                "pass the folder `carebase db backup` wrote",
            )
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise DevstackError(f"{path}: unknown backup format {data.get('format')!r}")
        return cls(**data)


@dataclass
class RestoreReport:
    database: str
    tables: int
    rows: int
    seconds: float
    chain: tuple[bool, int, int | None, str | None] | None
    count_mismatches: list[str]
    head_mismatch: str | None
    anchors: str

    @property
    def ok(self) -> bool:
        chain_ok = self.chain is None or self.chain[0]
        return chain_ok and not self.count_mismatches and not self.head_mismatch


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _binary(settings: Settings, name: str) -> str:
    path = settings.pg_bindir / name
    if not path.exists():
        raise DevstackError(
            f"{name} not found in {settings.pg_bindir}",
            postgres.INSTALL_FIX.format(pkg="postgresql-15"),
        )
    return str(path)


def _client_env(settings: Settings) -> dict[str, str]:
    """The environment of pg_dump, pg_restore and psql: the password outside the command line."""
    return {**os.environ, "PGPASSWORD": settings.admin_password, "PGCONNECT_TIMEOUT": "5"}


def _conninfo(settings: Settings, dbname: str | None = None) -> str:
    return make_conninfo(
        host=settings.db_host,
        port=settings.db_port,
        dbname=dbname or settings.db_name,
        user=settings.admin_user,
    )


def _run(argv: list[str], settings: Settings, what: str, **kwargs: object) -> None:
    result = subprocess.run(
        argv, capture_output=True, text=True, env=_client_env(settings), check=False, **kwargs
    )
    if result.returncode != 0:
        raise DevstackError(f"{what} failed:\n{(result.stderr or result.stdout).strip()}")


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    """The row count of every table (partitions one by one), as `schema.table`."""
    counts: dict[str, int] = {}
    for schema, table in conn.execute(TABLES, (list(SYSTEM_SCHEMAS),)).fetchall():
        query = sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))
        counts[f"{schema}.{table}"] = conn.execute(query).fetchone()[0]
    return counts


def chain_head(conn: psycopg.Connection) -> dict[str, object] | None:
    if conn.execute("select to_regclass('audit.chain_head')").fetchone()[0] is None:
        return None
    row = conn.execute("select seq, encode(hash, 'hex') from audit.chain_head").fetchone()
    return {"seq": row[0], "hash": row[1]} if row else None


def database_properties(conn: psycopg.Connection) -> dict[str, object]:
    """What a dump restored into an existing database leaves out: its owner, privileges and
    settings (`alter database ... set`, also per role)."""
    owner, acl = conn.execute(
        "select pg_catalog.pg_get_userbyid(d.datdba),"
        " coalesce((select json_agg(json_build_array("
        "   case when a.grantee = 0 then null else pg_catalog.pg_get_userbyid(a.grantee) end,"
        "   a.privilege_type))"
        "   from aclexplode(d.datacl) as a), '[]'::json)"
        " from pg_catalog.pg_database as d where d.datname = current_database()"
    ).fetchone()
    settings = conn.execute(
        "select case when s.setrole = 0 then null else pg_catalog.pg_get_userbyid(s.setrole) end,"
        " s.setconfig"
        " from pg_catalog.pg_db_role_setting as s"
        " join pg_catalog.pg_database as d on d.oid = s.setdatabase"
        " where d.datname = current_database()"
    ).fetchall()
    return {
        "owner": owner,
        "privileges": acl if acl is not None else None,
        "settings": [[role, list(config)] for role, config in settings],
        # null privileges: the defaults, which a new database has anyway
        "default_privileges": acl is None,
    }


def default_folder(settings: Settings) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return settings.local_dir / "backups" / f"{settings.db_name}-{stamp}"


def empty_folder(folder: Path) -> None:
    if folder.exists() and any(folder.iterdir()):
        raise DevstackError(
            f"{folder} is not empty", "choose a new folder (backups are never overwritten)"
        )
    folder.mkdir(parents=True, exist_ok=True)


def backup(settings: Settings, folder: Path, anchors: Path | None = None) -> Manifest:
    """Back up settings' database into `folder`: dump, roles, anchors, manifest."""
    empty_folder(folder)
    dump = folder / DUMP
    with psycopg.connect(settings.dsn(settings.admin_user)) as conn:
        # One snapshot for the counts, the chain head and the dump: they agree by construction.
        conn.execute("set transaction isolation level repeatable read, read only")
        snapshot = conn.execute("select pg_catalog.pg_export_snapshot()").fetchone()[0]
        counts = table_counts(conn)
        head = chain_head(conn)
        properties = database_properties(conn)
        version = conn.execute("show server_version").fetchone()[0]
        _run(
            [
                _binary(settings, "pg_dump"),
                "--format=custom",
                f"--snapshot={snapshot}",
                f"--file={dump}",
                f"--dbname={_conninfo(settings)}",
            ],
            settings,
            "pg_dump",
        )
        conn.rollback()
    globals_file = folder / GLOBALS
    with globals_file.open("w") as out:
        result = subprocess.run(
            [
                _binary(settings, "pg_dumpall"),
                "--globals-only",
                "--no-tablespaces",
                f"--dbname={_conninfo(settings)}",
            ],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            env=_client_env(settings),
            check=False,
        )
    if result.returncode != 0:
        raise DevstackError(f"pg_dumpall --globals-only failed:\n{result.stderr.strip()}")
    anchors = anchors if anchors is not None else services.anchor_dir(settings)
    copied = folder / ANCHORS
    copied.mkdir()
    if anchors.is_dir():
        for path in sorted(anchors.glob("anchor-*.json")):
            shutil.copy2(path, copied / path.name)
    manifest = Manifest(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source=f"{settings.db_host}:{settings.db_port}/{settings.db_name}",
        server_version=version,
        counts=counts,
        chain_head=head,
        database=properties,
    )
    manifest.files = {name: sha256_of(folder / name) for name in (DUMP, GLOBALS)}
    manifest.write(folder)
    return manifest


def check_files(folder: Path, manifest: Manifest) -> None:
    for name, digest in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise DevstackError(f"{path} is missing", "restore from a complete backup folder")
        if sha256_of(path) != digest:
            raise DevstackError(
                f"{path} does not match the sha256 its manifest recorded (damaged or changed)",
                "restore from an intact copy of the backup",
            )


def _holds_anything(conn: psycopg.Connection) -> bool:
    return (
        conn.execute(
            "select exists (select from pg_catalog.pg_class as c"
            " join pg_catalog.pg_namespace as n on n.oid = c.relnamespace"
            " where n.nspname <> all(%s) and n.nspname not like 'pg\\_%%')"
            " or exists (select from pg_catalog.pg_extension where extname <> 'plpgsql')",
            (list(SYSTEM_SCHEMAS),),
        ).fetchone()[0]
        is True
    )


def _prepare_database(settings: Settings, replace: bool) -> None:
    """An empty database named settings.db_name (created when missing; emptied with replace)."""
    name = settings.db_name
    with psycopg.connect(
        settings.dsn(settings.admin_user, dbname="template1"), autocommit=True
    ) as c:
        exists = c.execute("select true from pg_database where datname = %s", (name,)).fetchone()
    if exists:
        with psycopg.connect(settings.dsn(settings.admin_user)) as conn:
            occupied = _holds_anything(conn)
        if occupied and not replace:
            raise DevstackError(
                f"database {name} on {settings.db_host}:{settings.db_port} is not empty; "
                "a restore goes into a fresh database",
                "point CAREBASE_DB_DIR and CAREBASE_DB_PORT (or CAREBASE_DB_NAME) at a new "
                "cluster or database, or pass --replace to drop this one first",
            )
        if not occupied:
            return
    with psycopg.connect(
        settings.dsn(settings.admin_user, dbname="template1"), autocommit=True
    ) as c:
        if exists:
            c.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))
        c.execute(sql.SQL("create database {} template template0").format(sql.Identifier(name)))


def apply_globals(settings: Settings, source: Path) -> None:
    """Run globals.sql, skipping the roles the cluster already has and the bootstrap
    superuser's own attributes (its password is the target cluster's)."""
    with psycopg.connect(settings.dsn(settings.admin_user, dbname="template1")) as conn:
        existing = {row[0] for row in conn.execute("select rolname from pg_roles")}
    kept = []
    for line in source.read_text().splitlines():
        create = re.fullmatch(r"CREATE ROLE (\S+);", line)
        if create and create[1].strip('"') in existing:
            continue
        if line.startswith(f"ALTER ROLE {settings.admin_user} WITH "):
            continue
        kept.append(line)
    _run(
        [
            _binary(settings, "psql"),
            "--quiet",
            "--no-psqlrc",
            "--set=ON_ERROR_STOP=1",
            "--file=-",
            f"--dbname={_conninfo(settings, 'template1')}",
        ],
        settings,
        "applying the roles (globals.sql)",
        input="\n".join(kept) + "\n",
    )


def apply_database_properties(settings: Settings, properties: dict[str, object]) -> None:
    name = sql.Identifier(settings.db_name)
    with psycopg.connect(settings.dsn(settings.admin_user), autocommit=True) as conn:
        conn.execute(
            sql.SQL("alter database {} owner to {}").format(
                name, sql.Identifier(str(properties["owner"]))
            )
        )
        if not properties.get("default_privileges"):
            conn.execute(sql.SQL("revoke all on database {} from public").format(name))
            for grantee, privilege in properties.get("privileges") or []:
                if privilege not in {"CREATE", "CONNECT", "TEMPORARY"}:
                    continue
                conn.execute(
                    sql.SQL("grant {} on database {} to {}").format(
                        sql.SQL(privilege),
                        name,
                        sql.SQL("public") if grantee is None else sql.Identifier(grantee),
                    )
                )
        for role, config in properties.get("settings") or []:
            for item in config:
                key, _, value = item.partition("=")
                target = (
                    sql.SQL("alter database {}").format(name)
                    if role is None
                    else sql.SQL("alter role {} in database {}").format(sql.Identifier(role), name)
                )
                conn.execute(
                    sql.SQL("{} set {} = {}").format(
                        target, sql.Identifier(key), sql.Literal(value)
                    )
                )


def _after_restore(settings: Settings) -> None:
    """Make the restored database this cluster's: the local password on the login roles (as
    `carebase up` sets them) and pg_cron's jobs run here, not on the cluster they came from."""
    with psycopg.connect(settings.dsn(settings.admin_user), autocommit=True) as conn:
        for role in LOGIN_ROLES:
            if conn.execute("select true from pg_roles where rolname = %s", (role,)).fetchone():
                conn.execute(
                    sql.SQL("alter role {} with password {}").format(
                        sql.Identifier(role), sql.Literal(settings.db_password)
                    )
                )
        if conn.execute("select to_regclass('cron.job')").fetchone()[0] is not None:
            conn.execute(
                "update cron.job set nodename = 'localhost', nodeport = %s, database = %s",
                (settings.db_port, settings.db_name),
            )


def verify(settings: Settings) -> tuple[dict[str, int], tuple | None, dict[str, object] | None]:
    """Every table's row count, verify_audit_chain() and the chain head, as restored."""
    with psycopg.connect(settings.dsn(settings.admin_user)) as conn:
        counts = table_counts(conn)
        chain = None
        if conn.execute("select to_regproc('private.verify_audit_chain')").fetchone()[0]:
            chain = tuple(conn.execute("select * from private.verify_audit_chain()").fetchone())
        head = chain_head(conn)
    return counts, chain, head


def _restore_anchors(settings: Settings, folder: Path, replace: bool) -> str:
    source = folder / ANCHORS
    files = sorted(source.glob("anchor-*.json")) if source.is_dir() else []
    target = services.anchor_dir(settings)
    if replace and (kept := services.set_aside_anchors(settings)):
        note = f"the previous anchors were moved to {kept}; "
    else:
        note = ""
    if not files:
        return f"{note}the backup holds no exported anchor"
    if target.is_dir() and any(target.iterdir()):
        return f"{note}{target} already holds anchors: left as it is"
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copy2(path, target / path.name)
    return f"{note}{len(files)} exported anchor(s) copied to {target}"


def _cron_database(settings: Settings) -> str:
    with psycopg.connect(settings.dsn(settings.admin_user)) as conn:
        row = conn.execute("select current_setting('cron.database_name', true)").fetchone()
    return row[0] or "postgres"


def _restore_list(settings: Settings, dump: Path, folder: Path) -> Path | None:
    """pg_cron lives in one database of a cluster (cron.database_name): restoring a dump that
    holds it into another database leaves it and its jobs out. Returns the TOC list to restore
    then (None: everything)."""
    if settings.db_name == _cron_database(settings):
        return None
    listing = subprocess.run(
        [_binary(settings, "pg_restore"), "--list", str(dump)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = listing.splitlines()
    kept = [
        line
        for line in lines
        if not re.search(r" (EXTENSION|COMMENT) - (EXTENSION )?pg_cron\b", line)
        and not re.search(r" (TABLE DATA|SEQUENCE SET) cron ", line)
    ]
    if len(kept) == len(lines):
        return None
    path = folder / ".restore.list"
    path.write_text("\n".join(kept) + "\n")
    return path


def load(settings: Settings, folder: Path, manifest: Manifest, replace: bool, jobs: int) -> bool:
    """Restore the backup into settings.db_name of a running cluster: roles, the database's
    properties, the dump, then make it this cluster's. Returns whether pg_cron came along."""
    _prepare_database(settings, replace)
    apply_globals(settings, folder / GLOBALS)
    apply_database_properties(settings, manifest.database)
    with tempfile.TemporaryDirectory(prefix="carebase-restore-") as scratch:
        selection = _restore_list(settings, folder / DUMP, Path(scratch))
        _run(
            [
                _binary(settings, "pg_restore"),
                "--exit-on-error",
                f"--jobs={max(jobs, 1)}",
                *([f"--use-list={selection}"] if selection else []),
                f"--dbname={_conninfo(settings)}",
                str(folder / DUMP),
            ],
            settings,
            "pg_restore",
        )
    _after_restore(settings)
    return selection is None


def restore(
    settings: Settings, folder: Path, replace: bool = False, jobs: int = 2
) -> RestoreReport:
    """Restore the backup in `folder` into settings' cluster (started, or created, first) and
    check it against the manifest."""
    started = time.monotonic()
    manifest = Manifest.read(folder)
    check_files(folder, manifest)
    postgres.start(settings)
    with_cron = load(settings, folder, manifest, replace, jobs)
    anchors = _restore_anchors(settings, folder, replace)
    counts, chain, head = verify(settings)
    expected = manifest.counts
    if not with_cron:
        anchors += "; pg_cron and its jobs left out (this is not the cron.database_name database)"
        expected = {t: n for t, n in expected.items() if not t.startswith("cron.")}
    mismatches = [
        f"{table}: {expected.get(table, 'absent')} in the backup, "
        f"{counts.get(table, 'absent')} restored"
        for table in sorted(set(counts) | set(expected))
        if counts.get(table) != expected.get(table)
    ]
    head_mismatch = None
    if manifest.chain_head != head:
        head_mismatch = f"audit chain head {head} restored, {manifest.chain_head} backed up"
    return RestoreReport(
        database=f"{settings.db_host}:{settings.db_port}/{settings.db_name}",
        tables=len(counts),
        rows=sum(counts.values()),
        seconds=time.monotonic() - started,
        chain=chain,
        count_mismatches=mismatches,
        head_mismatch=head_mismatch,
        anchors=anchors,
    )
