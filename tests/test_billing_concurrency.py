"""Money under concurrency (issue 18, "done when"), each statement made as the front desk the
way PostgREST makes it, from many connections at once:
- 50 invoices of one hospital issued at the same moment, 10 of whose requests then fail and
  roll back: the 40 that stay carry consecutive numbers, without a gap or a repeat;
- refunds of one payment sent at the same moment never add up to more than it captured.

Runs on the demo hospital (seed.sql); what it made is removed afterwards.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from devstack.config import Settings
from devstack.postgrest_session import PostgrestSession

HOSPITAL = "10000000-0000-4000-8000-000000000001"
PATIENT = "60000000-0000-4000-8000-000000000001"
FRONT_DESK = "frontdesk@nabha.carebase.test"
ISSUES = 50
ROLLED_BACK = 10


@pytest.fixture
def invoices(stack: Settings) -> Iterator[list[uuid.UUID]]:
    made: list[uuid.UUID] = []
    yield made
    with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")
        payments = [
            r[0]
            for r in conn.execute(
                "select id from public.payments where invoice_id = any(%s)", (made,)
            )
        ]
        refunds = [
            r[0]
            for r in conn.execute(
                "select id from public.refunds where payment_id = any(%s)", (payments,)
            )
        ]
        conn.execute(
            "delete from public.status_history where subject_id = any(%s)",
            (made + payments + refunds,),
        )
        conn.execute("delete from public.refunds where id = any(%s)", (refunds,))
        conn.execute("delete from public.payments where id = any(%s)", (payments,))
        conn.execute("delete from public.invoice_lines where invoice_id = any(%s)", (made,))
        conn.execute("delete from public.invoices where id = any(%s)", (made,))


def as_front_desk(conn: psycopg.Connection, claims: dict[str, Any]) -> None:
    PostgrestSession(conn).become(claims, "POST", "/rest/v1/rpc/issue_invoice")


def test_fifty_issues_at_once_take_consecutive_numbers_and_rollbacks_leave_no_hole(
    stack: Settings, invoices: list[uuid.UUID]
) -> None:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(FRONT_DESK)
        as_front_desk(conn, claims)
        for _ in range(ISSUES):
            (made,) = conn.execute(
                "insert into public.invoices (hospital_id, patient_id) values (%s, %s)"
                " returning id",
                (HOSPITAL, PATIENT),
            ).fetchone()
            conn.execute(
                "insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price)"
                " values (%s, 'Consultation', '999312', 300)",
                (made,),
            )
            invoices.append(made)
    together = threading.Barrier(ISSUES, timeout=60)

    def issue(n: int) -> tuple[str, int] | None:
        with psycopg.connect(stack.dsn()) as conn:
            as_front_desk(conn, claims)
            together.wait()
            number, sequence = conn.execute(
                "select number, sequence_no from public.issue_invoice(%s)", (invoices[n],)
            ).fetchone()
            if n % (ISSUES // ROLLED_BACK) == 0:
                conn.rollback()  # the request failed after the issue
                return None
        return number, sequence

    with ThreadPoolExecutor(ISSUES) as pool:
        issued = [result for result in pool.map(issue, range(ISSUES)) if result]

    assert len(issued) == ISSUES - ROLLED_BACK
    sequences = sorted(sequence for _, sequence in issued)
    assert sequences == list(range(sequences[0], sequences[0] + len(issued))), "no gap"
    assert len({number for number, _ in issued}) == len(issued), "no repeat"
    with psycopg.connect(stack.dsn()) as conn:
        (last,) = conn.execute(
            "select max(sequence_no) from public.invoices where hospital_id = %s"
            " and fiscal_year = (select fiscal_year from public.invoices where id = %s)",
            (HOSPITAL, invoices[1]),
        ).fetchone()
        drafts = conn.execute(
            "select count(*) from public.invoices where id = any(%s) and status = 'draft'",
            (invoices,),
        ).fetchone()
    assert last == sequences[-1], "the rolled-back issues gave their numbers back"
    assert drafts == (ROLLED_BACK,)


def test_refunds_sent_at_once_never_exceed_what_was_captured(
    stack: Settings, invoices: list[uuid.UUID]
) -> None:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(FRONT_DESK)
        as_front_desk(conn, claims)
        (invoice,) = conn.execute(
            "insert into public.invoices (hospital_id, patient_id) values (%s, %s) returning id",
            (HOSPITAL, PATIENT),
        ).fetchone()
        invoices.append(invoice)
        conn.execute(
            "insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price)"
            " values (%s, 'Echocardiogram', '999316', 100)",
            (invoice,),
        )
        conn.execute("select public.issue_invoice(%s)", (invoice,))
        (payment,) = conn.execute(
            "select id from public.record_payment(%s, 100, 'cash')", (invoice,)
        ).fetchone()
    senders = 10
    together = threading.Barrier(senders, timeout=60)

    def refund(n: int) -> str:
        with psycopg.connect(stack.dsn()) as conn:
            as_front_desk(conn, claims)
            together.wait()
            try:
                conn.execute(
                    "select public.request_refund(%s, 30, 'returned', %s)",
                    (payment, f"concurrent-refund-{n:04d}"),
                )
            except psycopg.Error as error:
                return error.diag.message_detail or error.sqlstate or "error"
        return "refunded"

    with ThreadPoolExecutor(senders) as pool:
        outcomes = sorted(pool.map(refund, range(senders)))

    assert outcomes == ["refund_exceeds_captured"] * 7 + ["refunded"] * 3
    with psycopg.connect(stack.dsn()) as conn:
        assert conn.execute(
            "select p.amount_refunded, (select sum(r.amount) from public.refunds as r"
            " where r.payment_id = p.id), i.amount_paid from public.payments as p"
            " join public.invoices as i on i.id = p.invoice_id where p.id = %s",
            (payment,),
        ).fetchone() == (90, 90, 10)
