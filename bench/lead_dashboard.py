"""The fertility front office's dashboard and funnel on 100,000 leads (issue 17).

    .venv/bin/python bench/lead_dashboard.py [--leads 100000] [--calls 30]

In a scratch database of the running stack's cluster (migrations only, dropped afterwards), the
generator makes two hospitals with their staff, 20,000 patients and `--leads` leads over the
last 330 days (`seed/leads.py`, as `large` makes them: every path of the pipeline, the history
of every move, calls, assignments, follow-ups). Then, as the first hospital's front desk (the
role and claims PostgREST sets, in one transaction per call, as PostgREST runs a request), it
calls `rpc/lead_dashboard` and `rpc/lead_funnel` over the last 30 days and the last year, and
`rpc/cro_queue`, `--calls` times each, and prints the median and 95th percentile. What the
gateway adds on top is measured by bench/gateway_overhead.py. Results: bench/results/
lead-dashboard.json, and the "Front office dashboard" section of bench/REPORT.md (by hand).
The leads are vacuumed before measuring, as autovacuum would have done after such a load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.config import Settings  # noqa: E402
from devstack.migrate import migrated_scratch_database  # noqa: E402
from seed import load  # noqa: E402
from seed.sizes import SIZES  # noqa: E402
from seed.world import World  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "lead-dashboard.json"


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


def _time(conn: psycopg.Connection, claims: str, query: str, params: tuple, calls: int) -> dict:
    took = []
    for _ in range(calls):
        started = time.perf_counter()
        with conn.transaction():
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
        "p95_ms": round(took[max(0, int(len(took) * 0.95) - 1)], 1),
        "max_ms": round(took[-1], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/lead_dashboard.py", description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    size = replace(
        SIZES["large"],
        name="leads",
        doctors_per_hospital=6,
        admins=1,
        front_desk=2,
        cros=4,
        nurses=1,
        pharmacists=1,
        patients=20_000,
        appointments=0,
        days_ahead=1,
        note_share=0.0,
        prescription_share=0.0,
        leads=args.leads,
    )
    today = datetime.now(UTC).date()
    with migrated_scratch_database(settings) as name:
        url = settings.dsn(dbname=name)
        started = time.monotonic()
        summary = load.generate(url, World(1, size, today))
        generated = time.monotonic() - started
        with psycopg.connect(url, autocommit=True) as conn:
            # As autovacuum leaves a table that has been written (the load only analyzes): the
            # visibility map lets the cohorts be read from the index alone.
            conn.execute("vacuum analyze public.leads, public.status_history")
            hospital, front_desk = conn.execute(
                "select h.id::text, m.user_id::text from public.hospitals as h"
                " join public.staff_memberships as m on m.hospital_id = h.id"
                " and m.role = 'front_desk' order by h.code, m.user_id limit 1"
            ).fetchone()
            cohort_30, cohort_year = conn.execute(
                "select count(*) filter (where created_at > now() - interval '30 days'),"
                " count(*) from public.leads where hospital_id = %s",
                (hospital,),
            ).fetchone()
            history = conn.execute(
                "select count(*) from public.status_history where machine = 'lead'"
            ).fetchone()[0]
            claims = _claims(conn, front_desk)
            year_ago = date.fromordinal(today.toordinal() - 364)
            measured = {
                "dashboard_30_days": _time(
                    conn, claims, "select public.lead_dashboard(%s)", (hospital,), args.calls
                ),
                "dashboard_year": _time(
                    conn,
                    claims,
                    "select public.lead_dashboard(%s, %s)",
                    (hospital, year_ago),
                    args.calls,
                ),
                "funnel_30_days": _time(
                    conn, claims, "select public.lead_funnel(%s)", (hospital,), args.calls
                ),
                "funnel_year": _time(
                    conn,
                    claims,
                    "select public.lead_funnel(%s, %s)",
                    (hospital, year_ago),
                    args.calls,
                ),
                "cro_queue_everyone": _time(
                    conn,
                    claims,
                    "select * from public.cro_queue(%s, everyone => true)",
                    (hospital,),
                    args.calls,
                ),
            }
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="minutes"),
        "leads": summary.rows.get("public.leads", 0),
        "lead_history_rows": history,
        "hospital_leads_last_30_days": cohort_30,
        "hospital_leads_last_year": cohort_year,
        "generated_seconds": round(generated, 1),
        "calls": measured,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
