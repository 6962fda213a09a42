"""Live events are numbered per topic when their transaction commits (migration
20261205001100), with real commits and rollbacks (supabase/tests/live_events.test.sql checks
topics, payloads and the feed inside one transaction): seqs follow commit order, not write
order; a writer does not wait for another writer's open transaction; a rollback leaves no gap;
concurrent writers, audited writes first or events first, never deadlock and leave every topic
numbered 1..n. Runs on a database built from the migrations.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from devstack.config import Settings
from tests.conftest import copy_of

CLIENTS = 6
TRANSACTIONS = 15


@pytest.fixture(scope="module")
def dsn(stack: Settings, migrated_template: str) -> Iterator[str]:
    with copy_of(stack, migrated_template) as scratch:
        yield scratch.dsn()


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def notify(conn: psycopg.Connection, user: str) -> str:
    """Queue a push to a user: the outbox trigger raises a `notification` on user:<user>."""
    (notification,) = conn.execute(
        "insert into private.outbox (kind, subject_type, subject_id, recipient_kind, recipient_id,"
        " channel) values ('test_ping', 'appointment', gen_random_uuid(), 'user', %s, 'push')"
        " returning id",
        (user,),
    ).fetchone()
    return str(notification)


def feed(conn: psycopg.Connection, topic: str) -> list[tuple[int, str]]:
    return conn.execute(
        "select seq, payload ->> 'notification_id' from public.live_events"
        " where topic = %s order by seq",
        (topic,),
    ).fetchall()


def broadcasts(conn: psycopg.Connection, topic: str) -> list[tuple[int, str]]:
    return conn.execute(
        "select (payload ->> 'seq')::bigint, payload ->> 'notification_id' from realtime.messages"
        " where topic = %s and extension = 'broadcast' and private order by 1",
        (topic,),
    ).fetchall()


@pytest.mark.parametrize("later_writer_commits_first", [True, False])
def test_seqs_follow_commit_order_and_no_writer_waits_for_another(
    dsn: str, conn, later_writer_commits_first: bool
) -> None:
    user = str(uuid.uuid4())
    topic = f"user:{user}"
    with psycopg.connect(dsn) as first, psycopg.connect(dsn) as second:
        first_id = notify(first, user)
        # A counter row locked for the whole transaction would make this wait (lock_timeout).
        second.execute("set local lock_timeout = '2s'")
        second_id = notify(second, user)
        assert feed(conn, topic) == [], "nothing is numbered, stored or sent before the commit"
        commits = [(second, second_id), (first, first_id)]
        if not later_writer_commits_first:
            commits.reverse()
        for writer, _ in commits:
            writer.commit()
    in_commit_order = [(n + 1, notification) for n, (_, notification) in enumerate(commits)]
    assert feed(conn, topic) == in_commit_order
    assert broadcasts(conn, topic) == in_commit_order, "the broadcast carries the feed's seq"
    assert conn.execute("select count(*) from private.live_events_pending").fetchone() == (0,)


def test_a_rolled_back_transaction_leaves_no_event_and_no_gap(dsn: str, conn) -> None:
    user = str(uuid.uuid4())
    topic = f"user:{user}"
    kept_first = notify(conn, user)
    with psycopg.connect(dsn) as writer:
        notify(writer, user)
        writer.rollback()
    kept_second = notify(conn, user)
    assert feed(conn, topic) == [(1, kept_first), (2, kept_second)]
    assert broadcasts(conn, topic) == [(1, kept_first), (2, kept_second)]


def test_concurrent_writers_number_every_topic_without_gaps_or_deadlocks(dsn: str, conn) -> None:
    """Half the transactions write an audited row before their event, half after it: the
    audit link and the event numbering then fire at commit in either order, and both take the
    audit chain head before any topic, so none of them deadlocks (40P01 would fail here)."""
    users = [str(uuid.uuid4()) for _ in range(3)]
    errors: list[BaseException] = []
    committed: dict[str, list[str]] = {user: [] for user in users}
    guard = threading.Lock()

    def client(number: int) -> None:
        try:
            with psycopg.connect(dsn) as writer:
                for t in range(TRANSACTIONS):
                    user = users[(number + t) % len(users)]
                    phone = f"+9198{number:02d}{t:06d}"
                    audited = "insert into public.patients (full_name, phone) values ('Load', %s)"
                    if (number + t) % 2:
                        writer.execute(audited, (phone,))
                        notification = notify(writer, user)
                    else:
                        notification = notify(writer, user)
                        writer.execute(audited, (phone,))
                    writer.commit()
                    with guard:
                        committed[user].append(notification)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for user in users:
        rows = feed(conn, f"user:{user}")
        assert [seq for seq, _ in rows] == list(range(1, len(committed[user]) + 1))
        assert sorted(n for _, n in rows) == sorted(committed[user])
        assert broadcasts(conn, f"user:{user}") == rows
