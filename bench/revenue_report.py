"""The revenue reports over 1,000,000 payments (issue 18, Done when).

    .venv/bin/python bench/revenue_report.py [--payments 1000000] [--calls 3]

In a scratch database of the running stack's cluster (migrations only, dropped afterwards), the
generator makes two hospitals with their staff, 4,000 patients and 30,000 appointments over the
last 330 days, and bills them as `seed/billing.py` does (invoices with GST lines, insurer
shares, counter and online payments, refunds). That billing is then copied, server-side, until
there are `--payments` payments: each copy gets new ids, invoice, receipt and gateway numbers of
its own and the same days and visits (so the days are denser, as in a busier hospital; the
unique index of one invoice per appointment is dropped for it), written with the triggers off as
a bulk load is (the generator writes what the triggers would have). Vacuumed and
analyzed as autovacuum would leave it.

Then, in one transaction per call as PostgREST runs a request, the first hospital's admin (RLS
and the report's reach check in force) calls rpc/report_revenue grouped by month, service,
doctor and insurer over the last year and the last 30 days, rpc/financial_snapshot (30 days)
and rpc/report_dashboard (30 days), `--calls` times each (a year's: once); the same revenue
aggregation is timed as the database owner straight on private.revenue_facts (no RLS, no
reach check: the service role itself is refused by the reports, which are for admins and
doctors). Median and 95th
percentile, the load average, and the data's size go to bench/results/revenue-report.json and
the "Revenue reports" section of bench/REPORT.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import rewrite_section  # noqa: E402
from devstack.config import Settings  # noqa: E402
from devstack.migrate import migrated_scratch_database  # noqa: E402
from seed import load  # noqa: E402
from seed.sizes import SIZES  # noqa: E402
from seed.world import World  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "revenue-report.json"

# Per table: the columns a copy changes (k is the copy's number, 1..n), the rest kept.
COPIES = {
    "public.invoices": {
        "id": "extensions.uuid_generate_v5(t.id, k::text)",
        "number": "t.number || '-' || k",
        "sequence_no": "t.sequence_no + k * 10000000",
    },
    "public.invoice_lines": {
        "id": "extensions.uuid_generate_v5(t.id, k::text)",
        "invoice_id": "extensions.uuid_generate_v5(t.invoice_id, k::text)",
    },
    "public.payments": {
        "id": "extensions.uuid_generate_v5(t.id, k::text)",
        "invoice_id": "extensions.uuid_generate_v5(t.invoice_id, k::text)",
        "receipt_number": "t.receipt_number || '-' || k",
        "receipt_seq": "t.receipt_seq + k * 10000000",
        "gateway_order_id": "t.gateway_order_id || '_' || k",
        "gateway_payment_id": "t.gateway_payment_id || '_' || k",
        "idempotency_key": "t.idempotency_key || '-' || k",
    },
    "public.refunds": {
        "id": "extensions.uuid_generate_v5(t.id, k::text)",
        "payment_id": "extensions.uuid_generate_v5(t.payment_id, k::text)",
        "gateway_refund_id": "t.gateway_refund_id || '_' || k",
        "idempotency_key": "t.idempotency_key || '-' || k",
    },
}


def _copy(conn: psycopg.Connection, table: str, copies: int) -> None:
    schema, name = table.split(".")
    columns = [
        row[0]
        for row in conn.execute(
            "select column_name from information_schema.columns where table_schema = %s"
            " and table_name = %s and is_generated = 'NEVER' order by ordinal_position",
            (schema, name),
        )
    ]
    changed = COPIES[table]
    unknown = set(changed) - set(columns)
    if unknown:
        raise SystemExit(f"{table} has no column {sorted(unknown)}: update bench/revenue_report.py")
    values = ", ".join(changed.get(c, f"t.{c}") for c in columns)
    # Names from the catalog and the constant table above, never from input.
    conn.execute(
        f"insert into {table} ({', '.join(columns)}) select {values}"  # noqa: S608
        f" from {table} as t, generate_series(1, %s) as k",
        (copies,),
    )


def _claims(conn: psycopg.Connection, user_id: str) -> str:
    event = {
        "user_id": user_id,
        "authentication_method": "password",
        "claims": {"sub": user_id, "role": "authenticated", "aal": "aal2", "aud": "authenticated"},
    }
    (result,) = conn.execute(
        "select private.custom_access_token_hook(%s::jsonb)", (json.dumps(event),)
    ).fetchone()
    return json.dumps(result["claims"])


def _time(
    conn: psycopg.Connection, claims: str | None, query: str, params: tuple, calls: int
) -> dict:
    took = []
    for _ in range(calls):
        started = time.perf_counter()
        with conn.transaction():
            if claims is not None:
                conn.execute(
                    "select set_config('role', 'authenticated', true),"
                    " set_config('request.jwt.claims', %s, true),"
                    " set_config('request.method', 'POST', true)",
                    (claims,),
                )
            conn.execute(query, params).fetchall()
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return {
        "calls": calls,
        "p50_ms": round(statistics.median(took), 1),
        "p95_ms": round(took[max(0, math.ceil(len(took) * 0.95) - 1)], 1),
        "max_ms": round(took[-1], 1),
    }


def _explain(
    settings: Settings, name: str, claims: str, query: str, params: tuple, keep: str
) -> list[str]:
    """The plans of a call's nested statements that mention `keep`, as the admin runs it:
    auto_explain (ANALYZE, BUFFERS) sends them to the client as LOG messages. The query texts
    (the functions' bodies) are left out."""
    messages: list[str] = []
    with psycopg.connect(settings.dsn(settings.admin_user, name)) as admin:
        admin.add_notice_handler(lambda d: messages.append(d.message_primary or ""))
        admin.execute("load 'auto_explain'")
        for setting, value in (
            ("auto_explain.log_min_duration", "0"),
            ("auto_explain.log_nested_statements", "on"),
            ("auto_explain.log_analyze", "on"),
            ("auto_explain.log_buffers", "on"),
            ("client_min_messages", "log"),
        ):
            admin.execute("select set_config(%s, %s, false)", (setting, value))
        with admin.transaction():
            admin.execute(
                "select set_config('role', 'authenticated', true),"
                " set_config('request.jwt.claims', %s, true)",
                (claims,),
            )
            admin.execute(query, params).fetchall()
    plan: list[str] = []
    for message in messages:
        lines = message.splitlines()
        start = next((i for i, line in enumerate(lines) if "(cost=" in line), len(lines))
        # The statements that matter: those reading tables, a millisecond or more (the rest are
        # thousands of per-row helper calls such as private.hospital_day).
        took = float(lines[0].split()[1]) if lines[0].startswith("duration:") else 0.0
        if took < 1 or not any(keep in line for line in lines[start:]):
            continue
        plan += [lines[0], *lines[start:]]
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/revenue_report.py", description=__doc__)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=3, help="per 30-day call; a year: 1")
    parser.add_argument("--no-report", action="store_true", help="leave bench/REPORT.md alone")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    size = replace(
        SIZES["large"],
        name="revenue",
        doctors_per_hospital=8,
        admins=1,
        front_desk=2,
        cros=0,
        nurses=1,
        pharmacists=1,
        patients=4_000,
        appointments=30_000,
        days_ahead=1,
        note_share=0.0,
        prescription_share=0.0,
        leads=0,
    )
    today = datetime.now(UTC).date()
    load_before = os.getloadavg()
    with migrated_scratch_database(settings) as name:
        url = settings.dsn(dbname=name)
        started = time.monotonic()
        load.generate(url, World(1, size, today))
        generated = time.monotonic() - started
        with psycopg.connect(url, autocommit=True) as conn:
            (base,) = conn.execute("select count(*) from public.payments").fetchone()
            copies = max(0, math.ceil(args.payments / base) - 1)
            started = time.monotonic()
            # As the platform's superuser: a bulk load with the triggers off.
            with psycopg.connect(settings.dsn(settings.admin_user, name)) as admin:
                admin.execute("set local session_replication_role = replica")
                # The copies bill the same visits: one invoice per appointment holds per copy only.
                admin.execute("drop index public.invoices_one_per_appointment_idx")
                for table in COPIES:
                    _copy(admin, table, copies)
            copied = time.monotonic() - started
            conn.execute(
                "vacuum analyze public.invoices, public.invoice_lines, public.payments,"
                " public.refunds, public.credit_notes, public.appointments"
            )
            # The bulk copy bypassed the triggers that keep the revenue summary: recomputed, as
            # the migration's backfill does for existing rows.
            started = time.monotonic()
            conn.execute("select private.revenue_summary_rebuild(h.id) from public.hospitals as h")
            summarized = time.monotonic() - started
            conn.execute(
                "vacuum analyze private.revenue_days, private.revenue_day_invoices,"
                " private.revenue_invoice_days, private.revenue_money_days"
            )
            counts = dict(
                conn.execute(
                    "select 'invoices', count(*) from public.invoices union all"
                    " select 'invoice_lines', count(*) from public.invoice_lines union all"
                    " select 'payments', count(*) from public.payments union all"
                    " select 'refunds', count(*) from public.refunds union all"
                    " select 'revenue_days', count(*) from private.revenue_days union all"
                    " select 'revenue_day_invoices', count(*) from private.revenue_day_invoices"
                    " union all select 'revenue_invoice_days', count(*)"
                    " from private.revenue_invoice_days"
                ).fetchall()
            )
            (billing_bytes,) = conn.execute(
                "select sum(pg_total_relation_size(c)) from unnest(array['public.invoices',"
                " 'public.invoice_lines', 'public.payments', 'public.refunds']::regclass[]) as c"
            ).fetchone()
            hospital, admin = conn.execute(
                "select h.id::text, m.user_id::text from public.hospitals as h"
                " join public.staff_memberships as m on m.hospital_id = h.id"
                " and m.role = 'hospital_admin' order by h.code, m.user_id limit 1"
            ).fetchone()
            (hospital_payments,) = conn.execute(
                "select count(*) from public.payments where hospital_id = %s", (hospital,)
            ).fetchone()
            claims = _claims(conn, admin)
            year_ago = date.fromordinal(today.toordinal() - 364)
            month_ago = date.fromordinal(today.toordinal() - 29)
            revenue = "select * from public.report_revenue(%s, %s, %s, %s)"
            owner = (
                "select f.service, count(distinct f.invoice_id), sum(f.billed), sum(f.collected)"
                " from private.revenue_facts(%s, null, %s, %s) as f group by f.service"
            )
            measured = {}
            # A year's report takes ~25 s on a loaded machine: one call each keeps the run bounded.
            for label, start, calls in (("30_days", month_ago, args.calls), ("year", year_ago, 1)):
                for group in ("month", "service", "doctor", "insurer"):
                    measured[f"revenue_by_{group}_{label}"] = _time(
                        conn, claims, revenue, (hospital, start, today, group), calls
                    )
                measured[f"owner_revenue_facts_by_service_{label}"] = _time(
                    conn, None, owner, (hospital, start, today), calls
                )
            measured["financial_snapshot_30_days"] = _time(
                conn,
                claims,
                "select public.financial_snapshot(%s, %s, %s)",
                (hospital, month_ago, today),
                args.calls,
            )
            measured["dashboard_30_days"] = _time(
                conn,
                claims,
                "select public.report_dashboard(%s, %s, %s)",
                (hospital, month_ago, today),
                args.calls,
            )
            plans = {
                "revenue by service, a year": _explain(
                    settings,
                    name,
                    claims,
                    revenue,
                    (hospital, year_ago, today, "service"),
                    "revenue_day",
                ),
                "financial snapshot, 30 days": _explain(
                    settings,
                    name,
                    claims,
                    "select public.financial_snapshot(%s, %s, %s)",
                    (hospital, month_ago, today),
                    "invoices",
                ),
                "dashboard, 30 days": _explain(
                    settings,
                    name,
                    claims,
                    "select public.report_dashboard(%s, %s, %s)",
                    (hospital, month_ago, today),
                    " on ",
                ),
            }
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="minutes"),
        "commit": commit,
        "load_average_start": [round(v, 2) for v in load_before],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "rows": counts,
        "hospital_payments": hospital_payments,
        "billing_tables_mb": round(billing_bytes / 2**20),
        "generated_seconds": round(generated, 1),
        "copied_seconds": round(copied, 1),
        "copies": copies,
        "summary_rebuild_seconds": round(summarized, 1),
        "calls": measured,
        "explain": plans,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not args.no_report:
        rewrite_section(_section(result))
    return 0


# Before the summary (9c209bd, 2026-12-04T01:19 UTC, load average 6.68 at the start; the same
# data's size): P50 in ms, the reports joining the period's events to invoices and lines.
BEFORE_P50_MS = {
    "revenue_by_month_30_days": 7150.8,
    "revenue_by_service_30_days": 6403.0,
    "revenue_by_doctor_30_days": 4494.0,
    "revenue_by_insurer_30_days": 4713.8,
    "owner_revenue_facts_by_service_30_days": 4143.0,
    "financial_snapshot_30_days": 2879.9,
    "dashboard_30_days": 3949.3,
    "revenue_by_month_year": 26684.2,
    "revenue_by_service_year": 24989.8,
    "revenue_by_doctor_year": 23646.9,
    "revenue_by_insurer_year": 23455.9,
    "owner_revenue_facts_by_service_year": 16479.0,
}


def _section(result: dict) -> str:
    rows = result["rows"]
    lines = [
        "## Revenue reports over 1M payments",
        "",
        f"`make bench-revenue` (bench/revenue_report.py) at {result['commit']}, measured"
        f" {result['measured_at']} UTC on this machine's 2 cores shared with other"
        " helpers' stacks and tests (load average"
        f" {', '.join(map(str, result['load_average_start']))} at the start,"
        f" {', '.join(map(str, result['load_average_end']))} at the end), in a scratch"
        " database of the stack's cluster. Data: the generator's billing of 30,000"
        f" appointments (in {result['generated_seconds']} s) copied {result['copies']} times"
        f" server-side (in {result['copied_seconds']} s; the copies bill the same visits, so the"
        " unique index of one invoice per appointment is dropped):"
        f" {rows['payments']:,} payments,"
        f" {rows['invoices']:,} invoices, {rows['invoice_lines']:,} invoice lines,"
        f" {rows['refunds']:,} refunds, {result['billing_tables_mb']:,} MB with indexes, over"
        f" the last 330 days in two hospitals ({result['hospital_payments']:,} payments at the"
        " one measured). The copy runs with the triggers off, so the revenue summary"
        " (20261214060000) is then recomputed by private.revenue_summary_rebuild, as the"
        f" migration's backfill does: {result['summary_rebuild_seconds']} s for both hospitals,"
        f" {rows['revenue_days']:,} rows of private.revenue_days,"
        f" {rows['revenue_day_invoices']:,} of private.revenue_day_invoices and"
        f" {rows['revenue_invoice_days']:,} of private.revenue_invoice_days. Each call is one"
        " transaction as PostgREST runs it, as the hospital's admin (RLS and the report's reach"
        " check in force), in the database (the gateway's own cost: the gateway section);"
        " `owner revenue facts` is the old computation (private.revenue_facts, the period's"
        " events joined to their invoices and lines) as the database owner, for comparison in"
        " the same run. `before` is the P50 of the same call before the summary (9c209bd, the"
        " same data size, load average 6.7).",
        "",
        "| call | calls | before P50 | P50 | P95 | max |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, figures in result["calls"].items():
        before = BEFORE_P50_MS.get(name)
        lines.append(
            f"| {name.replace('_', ' ')} | {figures['calls']}"
            f" | {f'{before} ms' if before is not None else ''} | {figures['p50_ms']} ms"
            f" | {figures['p95_ms']} ms | {figures['max_ms']} ms |"
        )
    lines += [
        "",
        "The reports read the per-day summary: per hospital, local day, service, doctor and"
        " insurer the billed (issues less credit notes), collected (captures less refunds),"
        " credited and refunded amounts, and the distinct invoices as counts keyed by each"
        " invoice-day's previous event day (an invoice counts in a period at its first event"
        " day there, whose previous day lies before it), so a year's report reads at most a"
        " row per day and group. The triggers on invoices, credit notes, payments, refunds (and"
        " an appointment's doctor, a hospital's time zone) keep it in the billing write's own"
        " transaction: exact and current. The snapshot reads private.revenue_money_days (one"
        " row per hospital-day) instead of dating each payment with a function call; the"
        " dashboard's revenue reads the summary. pgTAP (billing_revenue_summary) proves the"
        " figures equal to the facts' for every grouping, reader and period through payments,"
        " refunds, credit notes, cancellation, back-dated events, a new doctor and a new time"
        " zone; private.revenue_summary_differences(hospital) audits a hospital's summary"
        " against the recomputation. The snapshot's pending and overdue invoices are summed past"
        " RLS (after its own reach check) from a covering partial index of the open invoices;"
        " the dashboard's pending invoices likewise. What remains of the dashboard's time is not"
        " billing: its appointment and patient figures (private.report_appointments computed"
        " three times and private.report_patients, each dating every appointment of the period"
        " with private.hospital_day), visible in its plan below.",
        "",
        "The plans as the admin runs the calls (auto_explain of the nested statements that"
        " read tables, ANALYZE and BUFFERS; durations include auto_explain's own timing):",
    ]
    for title, plan in result.get("explain", {}).items():
        lines += ["", f"{title}:", "", "```", *plan, "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
