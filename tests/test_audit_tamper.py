"""The audit chain against a superuser: the append-only guards hold for every role, superuser
included, and when a superuser disables them and rewrites history anyway, the verification
names the exact row (altered, rewritten with a recomputed hash, deleted, or the tail cut off
below a daily anchor). Runs on a scratch database (platform shim + migrations).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pytest

from devstack.config import Settings
from tests.conftest import ScratchDatabase, copy_of

PATIENTS = 8


@contextlib.contextmanager
def audited_database(stack: Settings, template: str) -> Iterator[ScratchDatabase]:
    """A migrated database with a few audited writes."""
    with copy_of(stack, template) as scratch:
        with psycopg.connect(scratch.dsn(), autocommit=True) as conn:
            for n in range(PATIENTS):
                conn.execute(
                    "insert into public.patients (full_name, phone) values (%s, %s)",
                    (f"Patient {n}", f"+9198000{n:05d}"),
                )
            conn.execute("update public.patients set city = 'Nabha'")
        yield scratch


@pytest.fixture(scope="module")
def guarded(stack: Settings, migrated_template: str) -> Iterator[ScratchDatabase]:
    """One database for the refused writes: each is refused and rolled back, and the chain
    is verified after each, so a write that got through fails its own test."""
    with audited_database(stack, migrated_template) as scratch:
        yield scratch


@pytest.fixture
def audited(stack: Settings, migrated_template: str) -> Iterator[ScratchDatabase]:
    """A database of its own, for a test that tampers as a superuser."""
    with audited_database(stack, migrated_template) as scratch:
        yield scratch


def verify(conn: psycopg.Connection) -> tuple[bool, int | None, str | None]:
    valid, _checked, first_bad, problem = conn.execute(
        "select * from private.verify_audit_chain()"
    ).fetchone()
    return valid, first_bad, problem


def partition_of(conn: psycopg.Connection, seq: int) -> str:
    (name,) = conn.execute(
        "select tableoid::regclass::text from audit.log where seq = %s", (seq,)
    ).fetchone()
    return name


def head(conn: psycopg.Connection) -> int:
    (seq,) = conn.execute("select seq from audit.chain_head").fetchone()
    return seq


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role", "postgres", "admin"])
@pytest.mark.parametrize(
    "statement",
    [
        "update audit.log set action = 'READ' where seq = 1",
        "delete from audit.log where seq = 1",
        "truncate audit.log",
    ],
)
def test_no_role_can_change_audit_rows(
    guarded: ScratchDatabase, stack: Settings, role: str, statement: str
) -> None:
    user = stack.admin_user if role == "admin" else "postgres"
    with psycopg.connect(guarded.dsn(user)) as conn:
        if role not in ("postgres", "admin"):
            conn.execute(f"set local role {role}")
        # Replica mode skips ordinary triggers, not the ALWAYS ones guarding the log.
        if role == "admin":
            conn.execute("set local session_replication_role = replica")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
        conn.rollback()
    with psycopg.connect(guarded.dsn()) as conn:
        assert verify(conn) == (True, None, None)


def test_verification_names_the_row_a_superuser_tampered_with(
    audited: ScratchDatabase, stack: Settings
) -> None:
    with psycopg.connect(audited.dsn(stack.admin_user), autocommit=True) as admin:
        assert verify(admin) == (True, None, None)
        last = head(admin)
        assert last >= 2 * PATIENTS

        # 1. A value changed in place.
        target = 5
        partition = partition_of(admin, target)
        original = admin.execute(
            "select new_values from audit.log where seq = %s", (target,)
        ).fetchone()[0]
        admin.execute(f"alter table {partition} disable trigger log_append_only")
        admin.execute(
            'update audit.log set new_values = new_values || \'{"full_name": "Someone Else"}\''
            " where seq = %s",
            (target,),
        )
        assert verify(admin) == (
            False,
            target,
            f"row {target} was altered: its content does not match its hash",
        )
        admin.execute(
            "update audit.log set new_values = %s where seq = %s",
            (psycopg.types.json.Jsonb(original), target),
        )
        assert verify(admin) == (True, None, None)

        # 2. A value changed and the row's hash recomputed: the next row no longer links.
        target = 7
        saved = admin.execute(
            "select new_values, hash from audit.log where seq = %s", (target,)
        ).fetchone()
        admin.execute(
            'update audit.log set new_values = \'{"full_name": "Nobody"}\' where seq = %s',
            (target,),
        )
        admin.execute(
            "update audit.log as l set hash = private.audit_hash(l) where seq = %s", (target,)
        )
        assert verify(admin) == (
            False,
            target,
            f"row {target} was rewritten: row {target + 1} no longer links to it",
        )
        admin.execute(
            "update audit.log set new_values = %s, hash = %s where seq = %s",
            (psycopg.types.json.Jsonb(saved[0]), saved[1], target),
        )
        assert verify(admin) == (True, None, None)

        # 3. A row deleted.
        target = 3
        admin.execute("delete from audit.log where seq = %s", (target,))
        assert verify(admin) == (False, target, f"rows {target} to {target} are missing")

        # 4. The tail cut off below a daily anchor, chain head reset to match: the range up to
        #    the new head would verify, the anchor does not.
    with psycopg.connect(audited.dsn(), autocommit=True) as conn:
        anchored = conn.execute("select seq from private.anchor_audit_chain()").fetchone()[0]
        assert anchored == last
    with psycopg.connect(audited.dsn(stack.admin_user), autocommit=True) as admin:
        cut = last - 2
        admin.execute("delete from audit.log where seq > %s", (cut,))
        admin.execute(
            "update audit.chain_head set seq = l.seq, hash = l.hash from audit.log as l"
            " where l.seq = %s",
            (cut,),
        )
        valid, first_bad, problem = admin.execute(
            "select valid, first_bad_seq, problem from private.verify_audit_chain(%s)", (5,)
        ).fetchone()
        assert (valid, first_bad) == (False, cut + 1)
        assert problem.startswith("the tail was truncated")
        for table in admin.execute(
            "select inhrelid::regclass::text from pg_inherits"
            " where inhparent = 'audit.log'::regclass"
        ).fetchall():
            admin.execute(f"alter table {table[0]} enable always trigger log_append_only")
