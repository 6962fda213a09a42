"""Exported audit anchors against the database's owner (issue 10, finding 7).

`postgres` owns the audit tables: it can grant itself UPDATE, switch off the append-only
triggers, edit a row and recompute every later hash, the chain head and the anchors kept in
the database, after which the database's own `verify_audit_chain` says the chain is valid.
The sidecar's worker signs the chain with a key the database never sees and exports the
anchors to a store the database cannot write; the verifier re-hashes the rows against them
and names the row.

Everything runs on a scratch database with its own gateway, anchored by a real worker process
(`carebase worker`): the owner's attack never touches the shared stack's chain.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from devstack import services
from devstack.config import Settings
from devstack.gateway import process as gateway_process
from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.jobs import anchor_document, anchor_signing
from sidecar.jobs.anchor_store import AnchorExists, DirectoryAnchorStore, anchor_name
from sidecar.jobs.anchor_verification import ChainVerifier, Report
from sidecar.jobs.audit_anchors import AnchorExporter
from sidecar.settings import SidecarSettings
from tests.conftest import ScratchDatabase, copy_of
from tests.test_db_lifecycle import free_port

MAX_ROWS = 10  # rows per anchor, so that the chain takes several


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class AnchoredChain:
    db: ScratchDatabase
    settings: SidecarSettings  # the worker's: gateway of the scratch database, key, store
    public_key: str
    worker_log: str

    @property
    def store(self) -> DirectoryAnchorStore:
        return DirectoryAnchorStore(self.settings.audit_anchor_dir)

    def owner(self) -> psycopg.Connection:
        return psycopg.connect(self.db.dsn("postgres"), autocommit=True)

    def head(self) -> int:
        with self.owner() as conn:
            return conn.execute("select seq from audit.chain_head").fetchone()[0]

    def anchors(self, store: DirectoryAnchorStore | None = None) -> list[anchor_document.Anchor]:
        store = store or self.store
        return [anchor_document.parse(n, store.read(n)) for n in store.names()]

    def verify(
        self,
        store: DirectoryAnchorStore | None = None,
        public_key: str = "",
        retention: timedelta | None = None,
    ) -> Report:
        keys = anchor_signing.trusted_keys(public_key or self.public_key)
        extra = {} if retention is None else {"retention": retention}

        async def run() -> Report:
            async with httpx.AsyncClient(timeout=30) as http:
                api = SupabaseApi(self.settings, http)
                return await ChainVerifier(api, store or self.store, keys, **extra).verify()

        return asyncio.run(run())

    def export_round(self) -> list[anchor_document.Anchor]:
        """One round of the exporter, in-process."""

        async def run() -> list[anchor_document.Anchor]:
            async with httpx.AsyncClient(timeout=30) as http:
                api = SupabaseApi(self.settings, http)
                return await AnchorExporter.from_settings(self.settings, api).export_once()

        return asyncio.run(run())

    def verify_command(self, store: Path | None = None) -> subprocess.CompletedProcess[str]:
        """`carebase audit verify`, as an auditor runs it: the public key only."""
        env = {
            **os.environ,
            "SUPABASE_URL": self.settings.supabase_url,
            "CAREBASE_AUDIT_ANCHOR_PUBLIC_KEYS": self.public_key,
        }
        directory = str(store or self.settings.audit_anchor_dir)
        return subprocess.run(
            [sys.executable, "-m", "devstack.cli", "audit", "verify", "--dir", directory],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )


def add_patients(db: ScratchDatabase, count: int, tag: str) -> None:
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        for n in range(count):
            conn.execute(
                "insert into public.patients (full_name, phone) values (%s, %s)",
                (f"Patient {tag}{n}", f"+9197{secrets.randbelow(10**8):08d}"),
            )


def wait_for(predicate, what: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            out = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"the worker exited before {what}:\n{out}")
        assert time.monotonic() < deadline, f"the worker did not {what} within {timeout} s"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def chain(
    stack: Settings, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AnchoredChain]:
    with copy_of(stack, migrated_template) as db, pytest.MonkeyPatch.context() as patch:
        add_patients(db, 12, "a")
        gateway = replace(stack, db_name=db.name, api_port=free_port())
        patch.setenv("CAREBASE_DB_NAME", gateway.db_name)
        patch.setenv("CAREBASE_API_PORT", str(gateway.api_port))
        gateway_process.start(gateway)
        try:
            key = new_key()
            public = anchor_signing.public_key_text(
                anchor_signing.load_signing_key(key).public_key()
            )
            store = tmp_path_factory.mktemp("anchors") / "store"
            settings = SidecarSettings(
                supabase_url=gateway.api_url,
                supabase_anon_key=stack.anon_key,
                supabase_service_role_key=stack.service_role_key,
                supabase_timeout=30,
                audit_anchor_signing_key=key,
                audit_anchor_dir=str(store),
                audit_anchor_interval=1,
                audit_anchor_max_rows=MAX_ROWS,
            )
            partial = AnchoredChain(db, settings, public, "")
            worker = subprocess.Popen(
                [sys.executable, "-m", "devstack.cli", "worker"],
                cwd=stack.repo_root,
                env={
                    **os.environ,
                    "SUPABASE_URL": gateway.api_url,
                    "CAREBASE_AUDIT_ANCHOR_SIGNING_KEY": key,
                    "CAREBASE_AUDIT_ANCHOR_DIR": str(store),
                    "CAREBASE_AUDIT_ANCHOR_INTERVAL": "1",
                    "CAREBASE_AUDIT_ANCHOR_MAX_ROWS": str(MAX_ROWS),
                    "CAREBASE_SIDECAR_SUPABASE_TIMEOUT": "30",
                },
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            try:

                def anchored_to_head() -> bool:
                    anchors = partial.anchors()
                    return bool(anchors) and anchors[-1].seq == partial.head()

                # At start: the whole chain, in anchors of at most MAX_ROWS rows.
                wait_for(anchored_to_head, "anchor the chain at start", worker)
                add_patients(db, 3, "b")
                # An interval later: the new rows.
                wait_for(anchored_to_head, "anchor the new rows", worker)
            finally:
                worker.send_signal(signal.SIGTERM)
                log = worker.communicate(timeout=30)[0].decode()
            assert worker.returncode == 0, log
            yield replace(partial, worker_log=log)
        finally:
            gateway_process.stop(gateway)


def test_the_worker_anchors_the_chain_at_start_and_every_interval(chain: AnchoredChain) -> None:
    anchors = chain.anchors()
    head = chain.head()
    assert [a.number for a in anchors] == list(range(1, len(anchors) + 1))
    assert len(anchors) > head // MAX_ROWS  # several, none longer than MAX_ROWS rows
    assert all(a.seq - a.from_seq < MAX_ROWS for a in anchors)
    assert [(a.from_seq, a.seq) for a in anchors] == [
        (1 if i == 0 else anchors[i - 1].seq + 1, a.seq) for i, a in enumerate(anchors)
    ]
    assert anchors[-1].seq == head
    assert '"message": "audit anchor exporter started"' in chain.worker_log
    assert chain.worker_log.count('"message": "audit chain anchored"') == len(anchors)
    # Each is a read-only file; the database recorded each, and its own check still passes.
    for anchor in anchors:
        mode = (Path(chain.settings.audit_anchor_dir) / anchor.name).stat().st_mode
        assert mode & 0o222 == 0
    with chain.owner() as conn:
        recorded = conn.execute(
            "select exported_number, seq, encode(hash, 'hex') from audit.anchors"
            " where exported_number is not null order by exported_number"
        ).fetchall()
        assert recorded == [(a.number, a.seq, a.hash) for a in anchors]
        assert conn.execute("select valid from private.verify_audit_chain()").fetchone() == (True,)


def test_an_untouched_chain_verifies_against_the_exported_anchors(chain: AnchoredChain) -> None:
    report = chain.verify()
    assert report.ok, report.lines()
    assert (report.anchors, report.rows, report.anchored_seq) == (
        len(chain.anchors()),
        chain.head(),
        chain.head(),
    )
    command = chain.verify_command()
    assert command.returncode == 0, command.stdout + command.stderr
    assert "the audit chain verifies" in command.stdout


def test_an_anchor_is_never_overwritten_and_a_round_without_new_rows_writes_none(
    chain: AnchoredChain,
) -> None:
    store = chain.store
    first = store.read(anchor_name(1))
    with pytest.raises(AnchorExists):
        store.create(anchor_name(1), b"{}")
    assert store.read(anchor_name(1)) == first

    async def one_round() -> list[anchor_document.Anchor]:
        async with httpx.AsyncClient(timeout=30) as http:
            exporter = AnchorExporter.from_settings(
                chain.settings, SupabaseApi(chain.settings, http)
            )
            return await exporter.export_once()

    assert chain.export_round() == []
    assert store.read(anchor_name(1)) == first


def partitions(conn: psycopg.Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select inhrelid::regclass::text from pg_inherits"
            " where inhparent = 'audit.log'::regclass"
        )
    ]


@pytest.fixture
def owner_rights(chain: AnchoredChain) -> Iterator[psycopg.Connection]:
    """What the owner can give itself: UPDATE on the audit tables and the append-only triggers
    off. Everything it changes is put back afterwards."""
    with chain.owner() as conn:
        log_partitions = partitions(conn)
        saved_rows = conn.execute(
            "select seq, new_values, prev_hash, hash from audit.log order by seq"
        ).fetchall()
        saved_head = conn.execute("select seq, hash from audit.chain_head").fetchone()
        saved_anchors = conn.execute("select id, hash from audit.anchors").fetchall()
        conn.execute("grant update on audit.log, audit.anchors to postgres")  # it owns them
        for partition in log_partitions:
            conn.execute(f"grant update on {partition} to postgres")
            conn.execute(f"alter table {partition} disable trigger log_append_only")
        conn.execute("alter table audit.anchors disable trigger anchors_append_only")
        try:
            yield conn
        finally:
            with conn.cursor() as cur:
                cur.executemany(
                    "update audit.log set new_values = %s, prev_hash = %s, hash = %s"
                    " where seq = %s",
                    [(psycopg.types.json.Jsonb(v), p, h, s) for s, v, p, h in saved_rows],
                )
                cur.executemany(
                    "update audit.anchors set hash = %s where id = %s",
                    [(h, i) for i, h in saved_anchors],
                )
            conn.execute(
                "update audit.chain_head set seq = %s, hash = %s", (saved_head[0], saved_head[1])
            )
            for partition in log_partitions:
                conn.execute(f"alter table {partition} enable always trigger log_append_only")
                conn.execute(f"revoke update on {partition} from postgres")
            conn.execute("alter table audit.anchors enable always trigger anchors_append_only")
            conn.execute("revoke update on audit.log, audit.anchors from postgres")
            assert conn.execute("select valid from private.verify_audit_chain()").fetchone() == (
                True,
            )
            # ... and the trail still takes new entries.
            add_patients(chain.db, 1, "after")


def rewrite_and_rehash(conn: psycopg.Connection, seq: int) -> None:
    """The finding: edit row `seq`, then recompute every later link and hash, the head and the
    anchors kept in the database, so that the chain is consistent again."""
    conn.execute(
        'update audit.log set new_values = new_values || \'{"full_name": "Someone Else"}\''
        " where seq = %s",
        (seq,),
    )
    (prev,) = conn.execute("select hash from audit.log where seq = %s", (seq - 1,)).fetchone()
    later = conn.execute("select seq from audit.log where seq >= %s order by seq", (seq,))
    for (row,) in later.fetchall():
        conn.execute("update audit.log set prev_hash = %s where seq = %s", (prev, row))
        (prev,) = conn.execute(
            "update audit.log as l set hash = private.audit_hash(l) where l.seq = %s"
            " returning l.hash",
            (row,),
        ).fetchone()
    conn.execute("update audit.chain_head set hash = %s", (prev,))
    conn.execute(
        "update audit.anchors as a set hash = l.hash from audit.log as l where l.seq = a.seq"
    )


def test_the_owner_rehashing_the_chain_is_caught_and_the_row_named(
    chain: AnchoredChain, owner_rights: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    # A patient's registration, in the second anchor or later.
    (target,) = owner_rights.execute(
        "select min(seq) from audit.log where seq > %s"
        " and action = 'INSERT' and table_name = 'public.patients'",
        (MAX_ROWS,),
    ).fetchone()
    [covering] = [a for a in chain.anchors() if a.from_seq <= target <= a.seq]

    rewrite_and_rehash(owner_rights, target)

    # The database's own check is satisfied: this is the hole.
    assert owner_rights.execute(
        "select valid, first_bad_seq from private.verify_audit_chain()"
    ).fetchone() == (True, None)

    report = chain.verify()
    assert not report.ok
    problem, *recorded = report.problems
    assert (problem.kind, problem.seq, problem.anchor, problem.signed_at) == (
        "row_rewritten",
        target,
        covering.number,
        covering.signed_at,
    )
    assert problem.message.startswith(f"row {target} (INSERT public.patients ")
    assert "was rewritten after it was anchored: its hash is not the one anchor #" in (
        problem.message
    )
    assert f"signed {covering.signed_at}" in problem.message
    # ... and the anchors kept in the database, which the owner re-hashed too.
    assert recorded
    assert {p.kind for p in recorded} == {"recorded_anchor_rewritten"}
    assert {p.anchor for p in recorded} == {a.number for a in chain.anchors() if a.seq >= target}

    command = chain.verify_command()
    assert command.returncode == 1
    assert f"PROBLEM [row_rewritten] row {target} " in command.stdout
    assert "the audit chain does NOT verify" in command.stdout

    # The exporter raises the alarm on its next round too (its last anchor no longer matches),
    # and writes nothing over the evidence.
    before = chain.store.names()

    async def one_round() -> list[anchor_document.Anchor]:
        async with httpx.AsyncClient(timeout=30) as http:
            exporter = AnchorExporter.from_settings(
                chain.settings, SupabaseApi(chain.settings, http)
            )
            return await exporter.export_once()

    with caplog.at_level("ERROR", logger="sidecar.audit_anchors"):
        assert chain.export_round() == []
    assert "the audit chain no longer matches the last exported anchor" in caplog.text
    assert chain.store.names() == before


def test_an_edit_without_rehash_is_named(
    chain: AnchoredChain, owner_rights: psycopg.Connection
) -> None:
    owner_rights.execute(
        'update audit.log set new_values = new_values || \'{"phone": "+10000000000"}\''
        " where seq = 3"
    )
    [problem] = chain.verify().problems
    assert (problem.kind, problem.seq, problem.anchor) == ("row_altered", 3, 1)


def test_cutting_off_the_tail_is_caught(
    chain: AnchoredChain, owner_rights: psycopg.Connection
) -> None:
    cut = chain.anchors()[-1].seq - 4  # into the anchored rows
    saved = owner_rights.execute(
        "select * from audit.log where seq > %s order by seq", (cut,)
    ).fetchall()
    columns = [c.name for c in owner_rights.execute("select * from audit.log limit 0").description]
    tables = ["audit.log", *partitions(owner_rights)]
    for table in tables:
        owner_rights.execute(f"grant delete on {table} to postgres")
    try:
        owner_rights.execute("delete from audit.log where seq > %s", (cut,))
        owner_rights.execute(
            "update audit.chain_head set seq = l.seq, hash = l.hash from audit.log as l"
            " where l.seq = %s",
            (cut,),
        )
        problems = chain.verify().problems
        assert [(p.kind, p.seq) for p in problems] == [("tail_truncated", cut + 1)]
        assert f"the chain ends at row {cut}" in problems[0].message
    finally:
        put_back(owner_rights, columns, saved)
        for table in tables:
            owner_rights.execute(f"revoke delete on {table} from postgres")


def put_back(conn: psycopg.Connection, columns: list[str], saved: list[tuple]) -> None:
    """Inserts audit rows removed by a test back, as they were."""
    jsonb = {"old_values", "new_values", "details"}
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL("insert into audit.log ({}) values ({})").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            ),
            [
                tuple(
                    psycopg.types.json.Jsonb(v) if c in jsonb and v is not None else v
                    for c, v in zip(columns, row, strict=True)
                )
                for row in saved
            ],
        )


def test_rows_archived_after_the_retention_period_verify_and_a_forged_archive_does_not(
    chain: AnchoredChain, owner_rights: psycopg.Connection
) -> None:
    """Issue 21: rows 1 to the end of the first anchor archived as `carebase db retention`
    leaves them (rows gone, an audit.archives record and the run's link hashes). The retention
    period is set to zero for the verifier here, as these rows were written minutes ago."""
    first = chain.anchors()[0]
    archived = first.seq
    saved = owner_rights.execute(
        "select * from audit.log where seq <= %s order by seq", (archived,)
    ).fetchall()
    columns = [c.name for c in owner_rights.execute("select * from audit.log limit 0").description]
    (last_hash,) = owner_rights.execute(
        "select hash from audit.log where seq = %s", (archived,)
    ).fetchone()
    tables = ["audit.log", *partitions(owner_rights)]
    for table in tables:
        owner_rights.execute(f"grant delete on {table} to postgres")
    owner_rights.execute("grant delete on audit.archives, audit.archived_runs to postgres")
    guards = {
        "audit.archives": "archives_append_only",
        "audit.archived_runs": "archived_runs_append_only",
    }
    for table, trigger in guards.items():
        owner_rights.execute(f"alter table {table} disable trigger {trigger}")

    def record_run(last: bytes) -> None:
        owner_rights.execute("delete from audit.archived_runs where first_seq = 1")
        owner_rights.execute(
            "insert into audit.archived_runs"
            " (first_seq, last_seq, archive_id, first_prev_hash, last_hash)"
            " select 1, %s, a.id, extensions.digest('carebase audit chain genesis', 'sha256'), %s"
            " from audit.archives as a where a.partition_name = 'log_test_archived'",
            (archived, last),
        )

    try:
        owner_rights.execute(
            "insert into audit.archives (partition_name, range_from, range_to, row_count,"
            " first_seq, last_seq, archive_sha256, location, retention)"
            " values ('log_test_archived', now() - interval '1 day', now() - interval '1 second',"
            " %s, 1, %s, repeat('0', 64), 'test', interval '7 years')",
            (archived, archived),
        )
        record_run(last_hash)
        owner_rights.execute("delete from audit.log where seq <= %s", (archived,))
        assert owner_rights.execute(
            "select valid from private.verify_audit_chain()"
        ).fetchone() == (True,)

        report = chain.verify(retention=timedelta(0))
        assert report.problems == [] and report.ok
        assert report.archived_rows == archived and report.rows == chain.head() - archived
        assert f"{archived} row(s) archived after the retention period" in "\n".join(report.lines())

        # Within the retention period (7 years): the signed anchors prove the rows recent.
        [early] = chain.verify().problems
        assert (early.kind, early.seq) == ("archived_too_early", 1)

        # A run whose last hash is not the anchored one (a forged archive of other rows).
        record_run(bytes(32))
        [forged] = chain.verify(retention=timedelta(0)).problems
        assert (forged.kind, forged.anchor) == ("row_rewritten", first.number)

        # Rows removed with no archive record are missing, as before.
        owner_rights.execute("delete from audit.archived_runs where first_seq = 1")
        [missing] = chain.verify(retention=timedelta(0)).problems
        assert (missing.kind, missing.seq) == ("rows_missing", 1)
    finally:
        owner_rights.execute("delete from audit.archived_runs where first_seq = 1")
        owner_rights.execute(
            "delete from audit.archives where partition_name = 'log_test_archived'"
        )
        for table, trigger in guards.items():
            owner_rights.execute(f"alter table {table} enable always trigger {trigger}")
        owner_rights.execute("revoke delete on audit.archives, audit.archived_runs from postgres")
        if not owner_rights.execute("select from audit.log where seq = 1").fetchone():
            put_back(owner_rights, columns, saved)
        for table in tables:
            owner_rights.execute(f"revoke delete on {table} from postgres")


@pytest.fixture
def store_copy(chain: AnchoredChain, tmp_path: Path) -> DirectoryAnchorStore:
    """A copy of the exported anchors to damage (files made writable, as a copy may be)."""
    copy = tmp_path / "copy"
    shutil.copytree(chain.settings.audit_anchor_dir, copy)
    for file in copy.iterdir():
        file.chmod(0o644)
    return DirectoryAnchorStore(copy)


def test_a_changed_anchor_file_is_reported(
    chain: AnchoredChain, store_copy: DirectoryAnchorStore
) -> None:
    path = store_copy.root / anchor_name(2)
    stored = json.loads(path.read_text())
    stored["anchor"]["hash"] = "00" * 32  # what a forger would need the anchor to say
    path.write_text(json.dumps(stored))

    problems = chain.verify(store_copy).problems
    assert [(p.kind, p.anchor) for p in problems] == [("anchor_bad_signature", 2)]
    command = chain.verify_command(store_copy.root)
    assert command.returncode == 1
    assert "anchor #2 (anchor-000000000002.json): its signature does not verify" in (command.stdout)


def test_an_anchor_signed_by_another_key_is_reported(
    chain: AnchoredChain, store_copy: DirectoryAnchorStore
) -> None:
    last = chain.anchors()[-1]
    before = chain.anchors()[-2]
    forged = anchor_document.build(
        anchor_signing.load_signing_key(new_key()),
        number=last.number,
        from_seq=last.from_seq,
        seq=last.seq,
        hash_=last.hash,
        occurred_at=last.document["occurred_at"],
        fingerprints=base64.b64decode(last.document["fingerprints"]),
        previous=before,
        signed_at=last.signed_at,
        name=last.name,
    )
    (store_copy.root / last.name).write_bytes(forged.content)

    problems = chain.verify(store_copy).problems
    assert [(p.kind, p.anchor) for p in problems] == [("anchor_unknown_key", last.number)]


def test_a_deleted_anchor_file_is_reported(
    chain: AnchoredChain, store_copy: DirectoryAnchorStore
) -> None:
    (store_copy.root / anchor_name(2)).unlink()
    problems = chain.verify(store_copy).problems
    assert problems and {(p.kind, p.anchor) for p in problems} == {("anchor_missing", 2)}


def test_deleting_the_newest_anchor_file_is_caught_by_the_database_record(
    chain: AnchoredChain, store_copy: DirectoryAnchorStore
) -> None:
    last = chain.anchors()[-1]
    (store_copy.root / last.name).unlink()
    problems = chain.verify(store_copy).problems
    assert [(p.kind, p.anchor, p.seq) for p in problems] == [
        ("anchor_missing", last.number, last.seq)
    ]


def test_verifying_needs_the_public_key_it_was_signed_with(chain: AnchoredChain) -> None:
    other = anchor_signing.public_key_text(anchor_signing.load_signing_key(new_key()).public_key())
    problems = chain.verify(public_key=other).problems
    assert problems
    assert {p.kind for p in problems} == {"anchor_unknown_key"}


def test_make_up_generates_one_local_key_and_reset_keeps_the_old_anchors(
    stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CAREBASE_AUDIT_ANCHOR_SIGNING_KEY", raising=False)
    monkeypatch.delenv("CAREBASE_AUDIT_ANCHOR_DIR", raising=False)
    local = replace(stack, repo_root=tmp_path, db_port=55555)
    first = services.anchor_environment(local)
    key_file = tmp_path / ".local" / "audit-anchor-signing.key"
    assert key_file.stat().st_mode & 0o077 == 0  # the owner's alone
    anchor_signing.load_signing_key(first["CAREBASE_AUDIT_ANCHOR_SIGNING_KEY"])
    assert services.anchor_environment(local) == first  # generated once
    assert first["CAREBASE_AUDIT_ANCHOR_DIR"] == str(tmp_path / ".local" / "audit-anchors-55555")

    store = DirectoryAnchorStore(first["CAREBASE_AUDIT_ANCHOR_DIR"])
    store.create(anchor_name(1), b"{}")
    kept = services.set_aside_anchors(local)
    assert kept is not None and (kept / anchor_name(1)).read_bytes() == b"{}"
    assert store.names() == []
