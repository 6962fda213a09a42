"""`carebase db retention`: the audit retention job (README, "Backups, retention, masked copies").

Without --apply it is the dry run: it lists what private.audit_retention_plan() would archive
(partitions of audit.log whose whole month ended more than seven years ago) and changes nothing.
With --apply, for each such partition, oldest first, in one transaction each: its rows go to a
gzip'd CSV in the archive folder (every column, plus the canonical text each hash covers, so the
file can be checked on its own: sha256(canonical) = hash, and each canonical text ends with the
previous row's hash), the file is flushed to disk, and private.audit_archive_partition checks
the count and the chain, records the file's sha256 and location, drops the partition and logs
an ARCHIVE entry. A failure leaves the partition in place (a file written for it is harmless
and is replaced by the next run).

It connects as `postgres`, the owner of audit.log (locally and on a Supabase project alike:
point CAREBASE_DB_HOST, CAREBASE_DB_PORT and CAREBASE_DB_PASSWORD at the project's direct
connection).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql

from devstack.backup import sha256_of
from devstack.config import Settings

PLAN = (
    "select partition_name, range_from, range_to, row_count, first_seq, last_seq"
    " from private.audit_retention_plan()"
)


@dataclass(frozen=True)
class Partition:
    name: str
    range_from: datetime
    range_to: datetime
    rows: int
    first_seq: int | None
    last_seq: int | None

    def describe(self) -> str:
        seqs = f"rows {self.first_seq}..{self.last_seq}" if self.rows else "no rows"
        return (
            f"audit.{self.name}  {self.range_from:%Y-%m-%d} .. {self.range_to:%Y-%m-%d}"
            f"  {self.rows:,} entries ({seqs})"
        )


def default_folder(settings: Settings) -> Path:
    return settings.local_dir / "audit-archive"


def plan(conn: psycopg.Connection) -> tuple[list[Partition], datetime]:
    partitions = [Partition(*row) for row in conn.execute(PLAN).fetchall()]
    cutoff = conn.execute("select now() - private.audit_retention_period()").fetchone()[0]
    conn.rollback()
    return partitions, cutoff


def export(conn: psycopg.Connection, partition: Partition, folder: Path) -> tuple[Path, int]:
    """The partition's rows as a gzip'd CSV (flushed to disk); returns it and its row count."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"audit-{partition.name}.csv.gz"
    partial = final.with_name(f".{final.name}.partial")
    query = sql.SQL(
        "copy (select l.*, private.audit_canonical(l) as canonical from audit.{} as l"
        " order by l.seq) to stdout with (format csv, header)"
    ).format(sql.Identifier(partition.name))
    with (
        partial.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out,
        conn.cursor().copy(query) as copy,
    ):
        for block in copy:
            out.write(block)
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    with gzip.open(partial, "rt", newline="") as check:
        rows = sum(1 for _ in check) - 1  # the header
    partial.replace(final)
    return final, rows


def archive(conn: psycopg.Connection, partition: Partition, folder: Path) -> tuple[Path, str]:
    """Export one partition and archive it, in one transaction; returns the file and sha256."""
    with conn.transaction():
        path, rows = export(conn, partition, folder)
        digest = sha256_of(path)
        conn.execute(
            "select private.audit_archive_partition(%s, %s, %s, %s)",
            (partition.name, digest, path.resolve().as_uri(), rows),
        )
    return path, digest


def run(settings: Settings, folder: Path, apply: bool) -> int:
    with psycopg.connect(settings.dsn()) as conn:
        partitions, cutoff = plan(conn)
        print(
            f"audit retention: {len(partitions)} partition(s) wholly before"
            f" {cutoff:%Y-%m-%d %H:%M} UTC (7 years ago); nothing newer is touched,"
            " and nothing but audit partitions"
        )
        for partition in partitions:
            if not apply:
                print(f"  would archive {partition.describe()} to {folder}")
                continue
            path, digest = archive(conn, partition, folder)
            print(f"  archived {partition.describe()} -> {path} (sha256 {digest[:16]}...)")
        if partitions and not apply:
            print("dry run: nothing changed (--apply archives them)")
        if apply:
            valid, checked, first_bad, problem = conn.execute(
                "select * from private.verify_audit_chain()"
            ).fetchone()
            print(
                f"verify_audit_chain: {'valid' if valid else 'BROKEN'}, {checked:,} rows checked"
                + ("" if valid else f"; first bad row {first_bad}: {problem}")
            )
            return 0 if valid else 1
    return 0
