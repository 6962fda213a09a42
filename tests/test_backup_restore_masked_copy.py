"""Backups, retention and masked copies as an operator sees them (README, "Backups, retention,
masked copies"; issue 21, seed 002).

One source: a scratch database loaded as `make up` loads one (seed.sql and the `demo` size),
plus national identifiers and an in-database anchor. It is backed up with `carebase db backup`
and restored with `carebase db restore` into a fresh cluster (its own data directory and port),
which then serves the other checks: the retention job's file, and the masked copy restored into
a second database of it.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import gzip
import hashlib
import io
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from devstack import cli, postgres
from devstack.config import Settings
from devstack.masked_copy import MASKING_SQL
from devstack.migrate import run_file, scratch_database
from tests.conftest import ScratchDatabase

COUNTED_TABLES = """
select table_schema, table_name from information_schema.tables
where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')
order by 1, 2
"""

# Every foreign key, with its columns on both sides, by schema and table name.
FOREIGN_KEYS = """
select cn.nspname, c.relname, pn.nspname, p.relname, k.conname,
    array(select a.attname::text from unnest(k.conkey) with ordinality as u (n, i)
        join pg_attribute as a on a.attrelid = k.conrelid and a.attnum = u.n order by u.i),
    array(select a.attname::text from unnest(k.confkey) with ordinality as u (n, i)
        join pg_attribute as a on a.attrelid = k.confrelid and a.attnum = u.n order by u.i)
from pg_constraint as k
join pg_class as c on c.oid = k.conrelid join pg_namespace as cn on cn.oid = c.relnamespace
join pg_class as p on p.oid = k.confrelid join pg_namespace as pn on pn.oid = p.relnamespace
where k.contype = 'f' and k.conparentid = 0
"""


@dataclasses.dataclass(frozen=True)
class Place:
    """A cluster and database to run `carebase` against, as its environment says it."""

    settings: Settings
    anchors: Path

    @property
    def env(self) -> dict[str, str]:
        env = {
            "CAREBASE_DB_PORT": str(self.settings.db_port),
            "CAREBASE_DB_NAME": self.settings.db_name,
            "CAREBASE_AUDIT_ANCHOR_DIR": str(self.anchors),
        }
        if self.settings.db_dir_override:
            env["CAREBASE_DB_DIR"] = str(self.settings.db_dir_override)
        return env

    def connect(self, user: str | None = None) -> psycopg.Connection:
        return psycopg.connect(self.settings.dsn(user or self.settings.admin_user), autocommit=True)


def carebase(place: Place, *args: str) -> tuple[int, str, str]:
    """`carebase ARGS` in this process, with place's environment; (exit status, out, err)."""
    out, err = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        for name, value in place.env.items():
            patch.setenv(name, value)
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


def row_counts(conn: psycopg.Connection) -> dict[str, int]:
    return {
        f"{schema}.{table}": conn.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))
        ).fetchone()[0]
        for schema, table in conn.execute(COUNTED_TABLES).fetchall()
    }


def broken_foreign_keys(conn: psycopg.Connection) -> list[str]:
    """`constraint: n rows` for every foreign key some row breaks (MATCH SIMPLE)."""
    broken = []
    for child_ns, child, parent_ns, parent, name, columns, referenced in conn.execute(
        FOREIGN_KEYS
    ).fetchall():
        present = sql.SQL(" and ").join(
            sql.SQL("c.{} is not null").format(sql.Identifier(col)) for col in columns
        )
        match = sql.SQL(" and ").join(
            sql.SQL("p.{} = c.{}").format(sql.Identifier(ref), sql.Identifier(col))
            for col, ref in zip(columns, referenced, strict=True)
        )
        (count,) = conn.execute(
            sql.SQL(
                "select count(*) from {} as c"
                " where {} and not exists (select from {} as p where {})"
            ).format(
                sql.Identifier(child_ns, child), present, sql.Identifier(parent_ns, parent), match
            )
        ).fetchone()
        if count:
            broken.append(f"{child_ns}.{child}.{name}: {count} rows")
    return broken


def verify_chain(conn: psycopg.Connection) -> tuple[bool, int, int | None, str | None]:
    return tuple(conn.execute("select * from private.verify_audit_chain()").fetchone())


@pytest.fixture(scope="module")
def source(stack: Settings, migrated_db: ScratchDatabase) -> Iterator[Place]:
    """The demo data of `make up` in a scratch database of the stack's cluster, plus what it
    lacks: national identifiers (encrypted, blind-indexed) and an in-database anchor."""
    with scratch_database(stack, migrated_db.name) as name, tempfile.TemporaryDirectory() as tmp:
        settings = dataclasses.replace(stack, db_name=name)
        with contextlib.redirect_stdout(io.StringIO()):
            cli.seed(settings)
            cli.demo(settings)
        with psycopg.connect(settings.dsn(), autocommit=True) as conn:
            conn.execute(
                "insert into public.patient_identifiers"
                " (patient_id, kind, value_encrypted, blind_index, last4, recorded_at_hospital_id)"
                " select p.id, 'aadhaar', private.encrypt_field(n.number),"
                " private.blind_index('aadhaar', n.number), right(n.number, 4), r.hospital_id"
                " from (select p.id, row_number() over (order by p.id) as k from public.patients"
                "  as p order by p.id limit 20) as p"
                " cross join lateral (select (234567890000 + p.k * 7919)::text as number) as n"
                " join lateral (select r.hospital_id from public.patient_registrations as r"
                "  where r.patient_id = p.id limit 1) as r on true"
            )
            conn.execute("select private.anchor_audit_chain()")
        # An exported anchor in the source's store (outside the database): a backup carries it.
        anchors = Path(tmp) / "anchors"
        anchors.mkdir()
        (anchors / "anchor-000000000001.json").write_text('{"number": 1}\n')
        yield Place(settings, anchors)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    # /var/tmp: reachable by the postgres OS user, which runs the server when tests run as root.
    path = Path(tempfile.mkdtemp(prefix="carebase-backup-test-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def backup_folder(source: Place, workdir: Path) -> Path:
    folder = workdir / "backup"
    code, out, err = carebase(source, "db", "backup", "--to", str(folder))
    assert code == 0, err
    assert "restore: carebase db restore" in out
    return folder


@pytest.fixture(scope="module")
def fresh(stack: Settings, workdir: Path) -> Iterator[Place]:
    """A cluster that does not exist yet: its own data directory and port."""
    settings = dataclasses.replace(
        stack,
        db_dir_override=workdir / "cluster",
        db_port=postgres.free_port(),
        db_name="postgres",
    )
    yield Place(settings, workdir / "fresh-anchors")
    postgres.stop(settings)


@pytest.fixture(scope="module")
def restored(fresh: Place, backup_folder: Path) -> Place:
    code, out, err = carebase(fresh, "db", "restore", str(backup_folder))
    assert code == 0, out + err
    assert "verify_audit_chain: valid" in out
    assert "every table's row count and the audit chain head match the backup" in out
    return fresh


def test_a_backup_restored_into_a_fresh_cluster_matches_its_source(
    source: Place, restored: Place
) -> None:
    assert restored.settings.db_port != source.settings.db_port
    assert (restored.anchors / "anchor-000000000001.json").read_text() == (
        source.anchors / "anchor-000000000001.json"
    ).read_text(), "the exported anchors came along into the new stack's empty store"
    with source.connect() as before, restored.connect() as after:
        source_counts, restored_counts = row_counts(before), row_counts(after)
        assert restored_counts == source_counts
        assert source_counts["public.patients"] > 400
        assert source_counts["public.clinical_notes"] > 1000
        assert source_counts["public.patient_identifiers"] == 20
        valid, checked, first_bad, problem = verify_chain(after)
        assert (valid, first_bad, problem) == (True, None, None)
        assert checked == verify_chain(before)[1] > 0
        assert (
            after.execute("select seq, hash from audit.chain_head").fetchone()
            == before.execute("select seq, hash from audit.chain_head").fetchone()
        )
        # The Vault root key came along: the encrypted columns still decrypt.
        note = (
            "select private.decrypt_field(soap_encrypted) from public.clinical_notes"
            " order by id limit 1"
        )
        number = (
            "select private.decrypt_field(value_encrypted) from public.patient_identifiers"
            " order by id limit 1"
        )
        for query in (note, number):
            assert after.execute(query).fetchone() == before.execute(query).fetchone()
        assert after.execute(
            "select count(*) from public.patient_identifiers"
            " where blind_index"
            " = private.blind_index('aadhaar', private.decrypt_field(value_encrypted))"
        ).fetchone() == (20,)


def test_a_restore_never_goes_over_a_database_that_holds_data(
    restored: Place, backup_folder: Path, workdir: Path
) -> None:
    code, _out, err = carebase(restored, "db", "restore", str(backup_folder))
    assert code == 1
    assert "is not empty" in err and "--replace" in err

    damaged = workdir / "damaged"
    shutil.copytree(backup_folder, damaged)
    with (damaged / "globals.sql").open("a") as file:
        file.write("-- changed\n")
    code, _out, err = carebase(restored, "db", "restore", "--replace", str(damaged))
    assert code == 1
    assert "does not match the sha256 its manifest recorded" in err


def test_the_retention_job_archives_only_what_is_older_than_seven_years(
    restored: Place, workdir: Path
) -> None:
    """Its dry run changes nothing; --apply writes the partition's rows to a file whose sha256
    the database records, drops the partition and leaves a chain that verifies. (Both sides of
    the cutoff are in supabase/tests/audit_retention.test.sql.)"""
    with restored.connect("postgres") as conn:
        conn.execute(
            "create table audit.log_y2000m01 partition of audit.log"
            " for values from ('2000-01-01 00:00+00') to ('2000-02-01 00:00+00')"
        )
        # An entry of January 2000, chained after the head as private.audit_link_pending
        # chains every entry (a hand-made past: the chain's order is its seq).
        conn.execute(
            """
            do $$
            declare
                head audit.chain_head;
                entry audit.log;
            begin
                select h.* into head from audit.chain_head as h for update;
                entry.seq := head.seq + 1;
                entry.occurred_at := '2000-01-15 10:00+00';
                entry.actor_db_role := 'postgres';
                entry.actor_roles := '{}';
                entry.action := 'INSERT';
                entry.table_name := 'public.patients';
                entry.row_id := 'old-1';
                entry.changed_fields := '{}';
                entry.details := '{}';
                entry.prev_hash := head.hash;
                entry.hash := private.audit_hash(entry);
                insert into audit.log select entry.*;
                update audit.chain_head set seq = entry.seq, hash = entry.hash;
            end;
            $$
            """
        )
        old_seq, linked_to = conn.execute(
            "select seq, prev_hash from audit.log_y2000m01"
        ).fetchone()
    with restored.connect() as conn:
        before = row_counts(conn)

    code, out, _err = carebase(restored, "db", "retention")
    assert code == 0
    assert "would archive audit.log_y2000m01" in out and "1 entries" in out
    assert "dry run: nothing changed" in out
    with restored.connect() as conn:
        assert row_counts(conn) == before

    archive = workdir / "audit-archive"
    code, out, err = carebase(restored, "db", "retention", "--apply", "--archive-dir", str(archive))
    assert code == 0, err
    assert "verify_audit_chain: valid" in out
    path = archive / "audit-log_y2000m01.csv.gz"
    with restored.connect() as conn:
        assert conn.execute("select to_regclass('audit.log_y2000m01')").fetchone() == (None,)
        recorded = conn.execute(
            "select archive_sha256, location, row_count from audit.archives"
        ).fetchall()
        assert recorded == [
            (hashlib.sha256(path.read_bytes()).hexdigest(), path.resolve().as_uri(), 1)
        ]
        assert conn.execute(
            "select row_id, details ->> 'rows' from audit.log where action = 'ARCHIVE'"
        ).fetchall() == [("log_y2000m01", "1")]
        after = row_counts(conn)
    assert {t: n for t, n in after.items() if not t.startswith("audit.")} == {
        t: n for t, n in before.items() if not t.startswith("audit.")
    }, "nothing but the audit partition changed"
    with gzip.open(path, "rt", newline="") as file:
        header, *rows = list(csv.reader(file))
    assert len(rows) == 1 and header[-1] == "canonical"
    entry = dict(zip(header, rows[0], strict=True))
    canonical = json.loads(entry["canonical"])
    assert canonical[0] == old_seq and canonical[-1] == linked_to.hex()
    assert hashlib.sha256(entry["canonical"].encode()).hexdigest() == entry["hash"][2:]


@pytest.fixture(scope="module")
def masked(fresh: Place, restored: Place, backup_folder: Path, workdir: Path) -> Place:
    """The masked copy of the backup, restored into a second database of the fresh cluster."""
    folder = workdir / "masked"
    code, out, err = carebase(
        fresh, "db", "masked-copy", "--from", str(backup_folder), "--to", str(folder)
    )
    assert code == 0, err
    assert "re-encrypted under new keys" in out
    place = Place(dataclasses.replace(fresh.settings, db_name="masked"), workdir / "masked-anchors")
    code, out, err = carebase(place, "db", "restore", str(folder))
    assert code == 0, out + err
    return place


def originals(conn: psycopg.Connection) -> dict[str, set[str]]:
    """The source's personal values a masked copy must not hold, by what they are."""

    def values(query: str) -> set[str]:
        return {row[0] for row in conn.execute(query) if row[0]}

    notes = values(
        "select v.value from public.clinical_notes as n,"
        " jsonb_each_text(private.decrypt_field(n.soap_encrypted)::jsonb) as v"
    ) | values(
        "select private.decrypt_field(notes_encrypted) from public.lab_results"
        " union select private.decrypt_field(notes) from public.prescriptions"
        " union select reason from public.appointments"
    )
    return {
        "name": values(
            "select full_name from public.patients union select emergency_contact_name"
            " from public.patients union select full_name from public.profiles"
            " union select patient_name_snapshot from public.appointments"
        ),
        "phone": values(
            "select regexp_replace(phone, '[^0-9]', '', 'g') from public.patients"
            " union select regexp_replace(emergency_contact_phone, '[^0-9]', '', 'g')"
            " from public.patients union select regexp_replace(phone, '[^0-9]', '', 'g')"
            " from public.profiles union select phone from auth.users"
        ),
        "email": values(
            "select lower(email) from public.profiles union select lower(email) from auth.users"
            " union select lower(email::text) from public.patients"
        ),
        "identifier": values(
            "select private.decrypt_field(value_encrypted) from public.patient_identifiers"
            " union select mrn from public.patient_registrations"
            " union select licence_number from public.doctors"
        ),
        "note text": {text for text in notes if len(text) >= 12},
    }


def surviving(personal: dict[str, set[str]], text: str) -> dict[str, list[str]]:
    """Which of the personal values the text still holds: numbers as digit runs, emails and
    identifiers as tokens, names among runs of capitalised words, note texts anywhere."""
    digits = set(re.findall(r"\d{8,15}", text))
    lowered = text.lower()
    tokens = {token.strip(".") for token in re.findall(r"[\w@.+/-]+", lowered)}
    names = set()
    for run in re.findall(r"[A-Z][\w.'-]*(?: [A-Z][\w.'-]*)*", text):
        words = run.split(" ")
        names.update(
            " ".join(words[i:j])
            for i in range(len(words))
            for j in range(i + 1, min(len(words), i + 6) + 1)
        )
    return {
        "name": sorted(v for v in personal["name"] if " ".join(v.split()) in names),
        "phone": sorted(personal["phone"] & digits),
        "email": sorted(personal["email"] & tokens),
        "identifier": sorted(v for v in personal["identifier"] if v.lower() in tokens),
        "note text": sorted(v for v in personal["note text"] if v.lower() in lowered),
    }


def test_no_original_name_phone_email_identifier_or_note_text_survives_a_masked_copy(
    source: Place, masked: Place, workdir: Path
) -> None:
    with source.connect() as conn:
        personal = originals(conn)
    assert {kind: len(found) > 10 for kind, found in personal.items()} == dict.fromkeys(
        personal, True
    )
    # What a developer receives: every row of the dump (the migration texts recorded in
    # supabase_migrations quote examples from the schema's comments, not data), and what the
    # encrypted columns of the copy hold in clear.
    dump = subprocess.run(
        [
            str(masked.settings.pg_bindir / "pg_restore"),
            "--data-only",
            "--file=-",
            str(workdir / "masked" / "database.dump"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = re.sub(r"(?ms)^COPY supabase_migrations\.schema_migrations .*?^\\\.$", "", dump)
    assert "public.patients" in rows and len(rows) < len(dump)
    with masked.connect() as conn:
        decrypted = "\n".join(
            row[0] or ""
            for row in conn.execute(
                "select private.decrypt_field(soap_encrypted) from public.clinical_notes"
                " union all select private.decrypt_field(details_encrypted)"
                " from public.medical_profiles"
                " union all select private.decrypt_field(notes_encrypted) from public.lab_results"
                " union all select private.decrypt_field(details) from public.prescription_items"
                " union all select private.decrypt_field(notes) from public.prescriptions"
                " union all select private.decrypt_field(value_encrypted)"
                " from public.patient_identifiers"
            )
        )
    assert len(decrypted) > 100_000
    survivors = surviving(personal, rows + "\n" + decrypted)
    assert survivors == {kind: [] for kind in personal}
    assert "scram-sha-256" not in (workdir / "masked" / "globals.sql").read_text().lower()


def test_a_masked_copy_is_consistent_and_keeps_every_foreign_key(
    source: Place, masked: Place
) -> None:
    with source.connect() as before, masked.connect() as after:
        assert broken_foreign_keys(after) == []
        assert row_counts(after)["public.appointments"] == row_counts(before)["public.appointments"]
        # One number, one fake: a patient's phone, their login's (kept without the plus sign),
        # and the same number as another patient's emergency contact; one name, one fake: the
        # patient's name and the audit trail's record of it.
        query = (
            "select a.phone, u.phone, b.emergency_contact_phone from public.patients as a"
            " join auth.users as u on u.id = a.user_id"
            " join public.patients as b on b.emergency_contact_phone = a.phone and b.id <> a.id"
            " where a.id = %s"
        )
        (patient,) = before.execute(
            "select a.id from public.patients as a join auth.users as u on u.id = a.user_id"
            " join public.patients as b on b.emergency_contact_phone = a.phone and b.id <> a.id"
            " order by a.id limit 1"
        ).fetchone()
        phone, login_phone, contact_phone = after.execute(query, (patient,)).fetchone()
        original = before.execute(query, (patient,)).fetchone()[0]
        assert phone != original and phone.startswith("+910")
        assert phone == contact_phone and login_phone == phone.lstrip("+")
        audited = (
            "select l.new_values ->> 'full_name', p.full_name from audit.log as l"
            " join public.patients as p on p.id::text = l.row_id"
            " where l.table_name = 'public.patients' and l.action = 'INSERT' order by l.seq limit 1"
        )
        name_in_trail, name = after.execute(audited).fetchone()
        assert name_in_trail == name != before.execute(audited).fetchone()[1]
        # Shapes stay: a note is still a SOAP document, a number still 12 digits, an MRN valid.
        soap_keys = (
            "select array(select jsonb_object_keys(private.decrypt_field(soap_encrypted)::jsonb)"
            " order by 1) from public.clinical_notes order by id limit 1"
        )
        assert after.execute(soap_keys).fetchone() == before.execute(soap_keys).fetchone()
        numbers = after.execute(
            "select private.decrypt_field(value_encrypted), last4, masked,"
            " blind_index = private.blind_index('aadhaar', private.decrypt_field(value_encrypted))"
            " from public.patient_identifiers"
        ).fetchall()
        assert all(
            len(n) == 12 and n[-4:] == last4 and m.endswith(last4) and indexed
            for n, last4, m, indexed in numbers
        )
        valid, checked, *_ = verify_chain(after)
        assert valid and checked == verify_chain(before)[1]


def test_a_masked_copy_holds_none_of_the_source_keys(source: Place, masked: Place) -> None:
    with source.connect() as before, masked.connect() as after:
        source_note = before.execute(
            "select soap_encrypted from public.clinical_notes order by id limit 1"
        ).fetchone()[0]
        assert after.execute(
            "select problem from private.try_decrypt_field(%s)", (source_note,)
        ).fetchone() == ("corrupt",), "the source's ciphertext does not decrypt in the copy"
        for query in (
            "select root_key from _devstack.vault_root_key",
            "select decrypted_secret from vault.decrypted_secrets"
            " where name = 'carebase_blind_index_key'",
        ):
            assert after.execute(query).fetchone() != before.execute(query).fetchone()
        assert after.execute("select count(*) from audit.anchors").fetchone() == (0,)


def test_fakes_are_keyed_and_deterministic(masked: Place) -> None:
    """The same value under the same key gives the same fake (copies made with one --key-file
    agree), another key another fake; and a fake is never the value."""
    with masked.connect() as conn, conn.transaction(force_rollback=True):
        run_file(conn, MASKING_SQL)
        fakes = []
        for key in (b"k" * 32, b"k" * 32, b"j" * 32):
            conn.execute("delete from masking.secret")
            conn.execute("insert into masking.secret (key) values (%s)", (key,))
            fakes.append(
                conn.execute(
                    "select masking.fake('person_name', 'Asha Verma', 0),"
                    " masking.fake('phone', '919876500001', 0),"
                    " masking.fake('national_id', '234567890123', 0)"
                ).fetchone()
            )
    assert fakes[0] == fakes[1] != fakes[2]
    assert "Asha Verma" not in fakes[0] and "919876500001" not in fakes[0]
