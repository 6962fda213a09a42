"""Audit entries join the hash chain when their transaction commits (migration 20261204002000),
with real commits and rollbacks (supabase/tests/audit_link_at_commit.test.sql checks the link
inside one transaction): a writer no longer waits for another's whole transaction; the chain
stays one gapless, valid order of commits; a rollback, even one after the link, leaves no entry
and no gap. Runs on a database built from the migrations, its chain its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from devstack.config import Settings
from tests.conftest import copy_of

CLIENTS = 8
TRANSACTIONS = 20


@pytest.fixture(scope="module")
def dsn(stack: Settings, migrated_template: str) -> Iterator[str]:
    with copy_of(stack, migrated_template) as scratch:
        yield scratch.dsn()


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def head(conn: psycopg.Connection) -> int:
    (seq,) = conn.execute("select seq from audit.chain_head").fetchone()
    return seq


def verify(conn: psycopg.Connection) -> tuple[bool, int, str | None]:
    valid, checked, _bad, problem = conn.execute(
        "select * from private.verify_audit_chain()"
    ).fetchone()
    return valid, checked, problem


def insert_patient(conn: psycopg.Connection, name: str, phone: str) -> str:
    (patient,) = conn.execute(
        "insert into public.patients (full_name, phone) values (%s, %s) returning id",
        (name, phone),
    ).fetchone()
    return str(patient)


def entries_after(conn: psycopg.Connection, seq: int) -> list[tuple]:
    return conn.execute(
        "select l.seq, l.row_id, l.action, l.occurred_at,"
        " l.prev_hash = coalesce((select p.hash from audit.log as p where p.seq = l.seq - 1),"
        "   extensions.digest('carebase audit chain genesis', 'sha256')),"
        " l.hash = private.audit_hash(l)"
        " from audit.log as l where l.seq > %s order by l.seq",
        (seq,),
    ).fetchall()


def test_a_writer_does_not_wait_for_another_writers_transaction(dsn: str, conn) -> None:
    """Before, the first audited write locked the chain head until commit: the second writer
    waited for the first's whole transaction (here: lock_timeout)."""
    before = head(conn)
    with psycopg.connect(dsn) as first, psycopg.connect(dsn) as second:
        first_id = insert_patient(first, "Wrote First", "+919822200001")
        second.execute("set local lock_timeout = '2s'")
        second_id = insert_patient(second, "Wrote Second", "+919822200002")
        second.commit()
        first.commit()

    rows = entries_after(conn, before)
    assert [(seq - before, row_id) for seq, row_id, *_ in rows] == [
        (1, second_id),
        (2, first_id),
    ], "one chain in commit order: the second writer committed first"
    assert all(linked and hashed for *_, linked, hashed in rows)
    assert rows[1][3] < rows[0][3], "occurred_at stays the time of the write"
    assert head(conn) == before + 2
    assert verify(conn) == (True, before + 2, None)


def test_a_rolled_back_transaction_leaves_no_entry_and_no_gap(dsn: str, conn) -> None:
    before = head(conn)
    with psycopg.connect(dsn) as writer:
        insert_patient(writer, "Rolled Back", "+919822200003")
        writer.rollback()
    assert head(conn) == before
    assert conn.execute("select count(*) from audit.pending").fetchone() == (0,)
    kept = insert_patient(conn, "Kept", "+919822200004")
    assert [(seq, row_id) for seq, row_id, *_ in entries_after(conn, before)] == [
        (before + 1, kept)
    ]
    assert verify(conn)[0] is True


def test_a_commit_that_fails_after_the_link_leaves_no_gap(dsn: str, conn) -> None:
    """Deferred triggers fire at commit in the order their rows were written: here the link
    (queued by the first audited write, an update) and then the check that an API-created
    patient is registered, which fails. The link rolls back with everything else."""
    existing = insert_patient(conn, "Existing", "+919822200005")
    before = head(conn)
    with psycopg.connect(dsn) as writer:
        writer.execute("update public.patients set city = 'Patiala' where id = %s", (existing,))
        writer.execute(
            "select set_config('request.jwt.claims', '{\"role\": \"authenticated\"}', true)"
        )
        insert_patient(writer, "Unregistered", "+919822200006")
        with pytest.raises(psycopg.errors.CheckViolation):
            writer.commit()
    assert head(conn) == before
    assert entries_after(conn, before) == []
    assert verify(conn)[0] is True


def test_a_link_undone_with_its_savepoint_is_made_again_at_commit(dsn: str, conn) -> None:
    before = head(conn)
    with psycopg.connect(dsn) as writer:
        patient = insert_patient(writer, "Linked Twice", "+919822200008")
        writer.execute("savepoint early_link")
        writer.execute("set constraints audit.pending_link immediate")  # links in the savepoint
        writer.execute("rollback to savepoint early_link")
        writer.commit()
    rows = entries_after(conn, before)
    assert [(seq - before, row_id) for seq, row_id, *_ in rows] == [(1, patient)]
    assert all(linked and hashed for *_, linked, hashed in rows)
    assert verify(conn)[0] is True


def test_one_statement_of_many_audited_rows_links_them_all_in_order(conn) -> None:
    ids = [insert_patient(conn, f"Bulk {n}", f"+91984000{n:04d}") for n in range(300)]
    before = head(conn)
    conn.execute("update public.patients set city = 'Sangrur' where full_name like 'Bulk %'")
    rows = entries_after(conn, before)
    assert [seq for seq, *_ in rows] == list(range(before + 1, before + 301))
    assert sorted(row_id for _, row_id, *_ in rows) == sorted(ids)
    assert all(linked and hashed for *_, linked, hashed in rows)
    assert verify(conn)[0] is True


def test_a_committed_entry_carries_its_link(conn) -> None:
    before = head(conn)
    patient = insert_patient(conn, "Linked", "+919822200007")
    conn.execute("update public.patients set city = 'Nabha' where id = %s", (patient,))
    rows = entries_after(conn, before)
    assert [(seq - before, row_id, action) for seq, row_id, action, *_ in rows] == [
        (1, patient, "INSERT"),
        (2, patient, "UPDATE"),
    ]
    assert all(linked and hashed for *_, linked, hashed in rows)
    (hash_matches,) = conn.execute(
        "select h.hash = l.hash from audit.chain_head as h join audit.log as l on l.seq = h.seq"
    ).fetchone()
    assert hash_matches
    assert conn.execute("select count(*) from audit.pending").fetchone() == (0,)


def test_concurrent_writers_keep_one_gapless_valid_chain(dsn: str, conn) -> None:
    """CLIENTS connections at once, each transaction three audited writes: every entry is in
    the chain once, each transaction's entries next to each other in the order written."""
    before = head(conn)
    failures: list[BaseException] = []

    def client(i: int) -> None:
        try:
            with psycopg.connect(dsn) as own:
                for n in range(TRANSACTIONS):
                    patient = insert_patient(own, f"Concurrent {i}", f"+91983{i:02d}{n:05d}")
                    own.execute(
                        "update public.patients set email = %s where id = %s",
                        (f"c{i}.{n}@test.carebase", patient),
                    )
                    own.execute(
                        "update public.patients set city = 'Nabha' where id = %s", (patient,)
                    )
                    own.commit()
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

    rows = entries_after(conn, before)
    total = CLIENTS * TRANSACTIONS * 3
    assert [seq for seq, *_ in rows] == list(range(before + 1, before + total + 1))
    assert head(conn) == before + total
    assert all(linked and hashed for *_, linked, hashed in rows)
    for start in range(0, total, 3):
        trio = rows[start : start + 3]
        assert [action for _, _, action, *_ in trio] == ["INSERT", "UPDATE", "UPDATE"]
        assert len({row_id for _, row_id, *_ in trio}) == 1
    assert verify(conn) == (True, before + total, None)
