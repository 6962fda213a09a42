"""The analytics dashboard and the message search on 1M appointments and 1M messages (issue 19).

    .venv/bin/python bench/engagement_analytics.py [--scale 1.0] [--calls 20]
    make bench-engagement

In a scratch database of the running stack's cluster (migrations only, dropped afterwards), the
generator makes what `large` makes for these calls, and only that: two hospitals with their
staff, 100,000 patients, 1,000,000 appointments over 330 days (no clinical notes,
prescriptions, leads or invoices: the calls read none), 1,000,000 messages, 20,000 tickets and
30,000 journey instances (`--scale` shrinks the counts, for a quick run). Then, in one run,
each call `--calls` times:
- as the first hospital's admin and as its CRO (the role and claims PostgREST sets, one
  transaction a call): rpc/analytics_dashboard (TODAY and LAST_30_DAYS), analytics_appointments,
  analytics_communications and analytics_journeys (LAST_30_DAYS), analytics_realtime, each before
  and after the rollup's first refresh (pg_cron's job), and rpc/search_messages;
- as service_role (no RLS): rpc/search_messages (the analytics refuse service_role: they read
  the rollup for the hospital's admins and CROs only, PT404 for anyone else, by design).
It prints and writes P50/P95, the load average, the data size and EXPLAIN ANALYZE of the search
and the communications queries: bench/results/engagement-analytics.json and the
"Engagement analytics and message search" section of bench/REPORT.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import rewrite_section  # noqa: E402
from devstack.config import Settings  # noqa: E402
from devstack.migrate import migrated_scratch_database  # noqa: E402
from seed import billing, load  # noqa: E402
from seed.sizes import SIZES  # noqa: E402
from seed.world import World  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "engagement-analytics.json"
ANALYTICS = {
    "dashboard TODAY": ("select public.analytics_dashboard(%s, 'TODAY')", False),
    "dashboard LAST_30_DAYS": ("select public.analytics_dashboard(%s, 'LAST_30_DAYS')", False),
    "appointments LAST_30_DAYS": ("select public.analytics_appointments(%s)", False),
    "appointments LAST_90_DAYS": (
        "select public.analytics_appointments(%s, 'LAST_90_DAYS')",
        False,
    ),
    "communications LAST_30_DAYS": ("select public.analytics_communications(%s)", False),
    "journeys LAST_30_DAYS": ("select public.analytics_journeys(%s)", False),
    "realtime": ("select public.analytics_realtime(%s)", False),
}
SEARCHES = {
    "search 'report' (common)": "select * from public.search_messages('report')",
    "search 'parking' (one template's word)": "select * from public.search_messages('parking')",
    "search phrase, page 3": (
        "select * from public.search_messages('\"appointment confirm\"', page => 3)"
    ),
    # A word few messages hold (0.01 to 0.05% of them: in the generated data, a first name in
    # Gurmukhi), picked from a sample of the data (RARE_SQL).
    "search a rare word": "select * from public.search_messages(%s)",
}
# What EXPLAIN is shown for: the matching as rpc/search_messages runs it (20261214000000: the
# matches of the caller's reach, ranked and counted from their ids, the page's rows read back).
# As the admin, the statement private.search_messages_in_reach runs (as its owner, the reach
# applied beside the text query: `hospitals` are the admin's); as service role, the table's.
SEARCH_SQL = """
    with matched as materialized (
        select m.id, m.created_at, ts_rank_cd(m.search, q) as score
        from public.messages as m, websearch_to_tsquery('simple', %s) as q
        where m.search @@ q and m.archived_at is null
            and (%s::uuid[] is null or m.hospital_id = any(%s::uuid[]))
    ),
    shown as (
        select x.id, x.created_at, x.score from matched as x
        order by x.score desc, x.created_at desc, x.id limit 20
    )
    select to_jsonb(m) - 'search', s.score, (select count(*) from matched)
    from shown as s join public.messages as m on m.id = s.id
    order by s.score desc, s.created_at desc, s.id
"""
RARE_SQL = """
    select s.word from ts_stat(
        'select search from public.messages tablesample system (5) repeatable (1)'
    ) as s
    where s.word !~ '[[:digit:][:punct:]]'
    order by s.ndoc > 25, s.ndoc desc, s.word
    limit 1
"""
VOLUMES_SQL = """
    select m.channel, m.status, count(*)
    from public.messages as m
    where m.hospital_id = %s and m.direction = 'outbound'
        and m.created_at >= now() - interval '30 days' and m.created_at < now()
    group by m.channel, m.status
"""
REPLIES_SQL = """
    select count(*), percentile_cont(0.5) within group (order by a.minutes)
    from (
        select extract(epoch from (
            select min(r.created_at) from public.messages as r
            where r.hospital_id = m.hospital_id and r.patient_id = m.patient_id
                and r.direction = 'outbound' and r.created_at > m.created_at
        ) - m.created_at) / 60 as minutes
        from public.messages as m
        where m.hospital_id = %s and m.direction = 'inbound'
            and m.created_at >= now() - interval '30 days'
    ) as a
"""


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


def _as(conn: psycopg.Connection, claims: str | None) -> None:
    if claims is None:
        conn.execute(
            "select set_config('role', 'service_role', true),"
            " set_config('request.jwt.claims', '{\"role\": \"service_role\"}', true)"
        )
    else:
        conn.execute(
            "select set_config('role', 'authenticated', true),"
            " set_config('request.jwt.claims', %s, true),"
            " set_config('request.method', 'POST', true)",
            (claims,),
        )


def _time(
    conn: psycopg.Connection, claims: str | None, query: str, params: tuple, calls: int
) -> dict:
    took = []
    rows = 0
    for _ in range(calls):
        started = time.perf_counter()
        with conn.transaction():
            _as(conn, claims)
            rows = len(conn.execute(query, params).fetchall())
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return {
        "p50_ms": round(statistics.median(took), 1),
        "p95_ms": round(took[max(0, int(len(took) * 0.95) - 1)], 1),
        "rows": rows,
    }


def _matches(conn: psycopg.Connection, claims: str | None, query: str, params: tuple) -> int:
    """The search's total: how many messages match for this caller."""
    with conn.transaction():
        _as(conn, claims)
        rows = conn.execute(query, params).fetchall()
    return int(rows[0][2]) if rows else 0


def _explain(conn: psycopg.Connection, claims: str | None, query: str, params: tuple) -> str:
    with conn.transaction():
        _as(conn, claims)
        plan = conn.execute("explain (analyze, buffers, costs off) " + query, params).fetchall()
    return "\n".join(row[0] for row in plan)


def _size(conn: psycopg.Connection, table: str) -> str:
    (text,) = conn.execute(
        "select pg_size_pretty(pg_total_relation_size(%s::regclass))", (table,)
    ).fetchone()
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/engagement_analytics.py", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--no-report", action="store_true", help="leave bench/REPORT.md alone")
    parser.add_argument(
        "--before",
        type=Path,
        help="an earlier run's results (JSON) to show beside this one's, e.g. before a fix",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    large = SIZES["large"]
    size = replace(
        large,
        name="engagement",
        patients=int(large.patients * args.scale),
        appointments=int(large.appointments * args.scale),
        note_share=0.0,
        prescription_share=0.0,
        leads=0,
        messages=int(large.messages * args.scale),
        tickets=int(large.tickets * args.scale),
        journey_instances=int(large.journey_instances * args.scale),
    )
    today = datetime.now(UTC).date()
    # Invoices are not read by these calls, and making one for each finished visit of a million
    # takes minutes: the billing module is left out of this load.
    load.BUILDERS[:] = [b for b in load.BUILDERS if b is not billing.build]
    load_before = os.getloadavg()
    with migrated_scratch_database(settings) as name:
        url = settings.dsn(dbname=name)
        started = time.monotonic()
        summary = load.generate(url, World(1, size, today))
        generated = time.monotonic() - started
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("vacuum analyze public.messages, public.appointments")
            hospital, admin, cro = conn.execute(
                "select h.id::text, a.user_id::text, c.user_id::text from public.hospitals as h"
                " join public.staff_memberships as a on a.hospital_id = h.id"
                " and a.role = 'hospital_admin'"
                " join public.staff_memberships as c on c.hospital_id = h.id and c.role = 'cro'"
                " order by h.code, a.user_id, c.user_id limit 1"
            ).fetchone()
            who = {"admin": _claims(conn, admin), "cro": _claims(conn, cro)}
            measured: dict[str, dict] = {}
            for phase in ("rollup empty", "rollup refreshed"):
                if phase == "rollup refreshed":
                    began = time.monotonic()
                    conn.execute("select private.refresh_analytics()")
                    measured["rollup refresh (pg_cron job)"] = {
                        "service_role": {"p50_ms": round((time.monotonic() - began) * 1000, 1)}
                    }
                for label, (query, _) in ANALYTICS.items():
                    measured[f"{label}, {phase}"] = {
                        role: _time(conn, claims, query, (hospital,), args.calls)
                        for role, claims in who.items()
                    }
            (rare,) = conn.execute(RARE_SQL).fetchone()
            for label, query in SEARCHES.items():
                params = (rare,) if "%s" in query else ()
                measured[label] = {
                    "admin": _time(conn, who["admin"], query, params, args.calls),
                    "service_role": _time(conn, None, query, params, args.calls),
                }
                for role, claims in (("admin", who["admin"]), ("service_role", None)):
                    measured[label][role]["matches"] = _matches(conn, claims, query, params)
            (admin_hospitals,) = conn.execute(
                "select array_agg(hospital_id) from public.staff_memberships"
                " where user_id = %s and is_active",
                (admin,),
            ).fetchone()
            explains = {
                "search 'report' as the admin: the statement private.search_messages_in_reach"
                " runs (as its owner, the admin's hospitals as the reach)": _explain(
                    conn, None, SEARCH_SQL, ("report", admin_hospitals, admin_hospitals)
                ),
                "search 'report' as service_role": _explain(
                    conn, None, SEARCH_SQL, ("report", None, None)
                ),
                f"search '{rare}' (rare) as the admin, as above": _explain(
                    conn, None, SEARCH_SQL, (rare, admin_hospitals, admin_hospitals)
                ),
                "communications: outbound volumes (LAST_30_DAYS)": _explain(
                    conn, None, VOLUMES_SQL, (hospital,)
                ),
                "communications: response times (LAST_30_DAYS)": _explain(
                    conn, None, REPLIES_SQL, (hospital,)
                ),
            }
            sizes = {t: _size(conn, t) for t in ("public.messages", "public.appointments")}
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="minutes"),
        "rows": {k: v for k, v in summary.rows.items() if not k.startswith("(")},
        "sizes": sizes,
        "generated_seconds": round(generated, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "calls_each": args.calls,
        "calls": measured,
        "explain": explains,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "explain"}, indent=2))
    if not args.no_report:
        before = json.loads(args.before.read_text()) if args.before else None
        rewrite_section(_section(result, before))
    return 0


def _section(result: dict, before: dict | None = None) -> str:
    rows = result["rows"]
    lines = [
        "## Engagement analytics and message search",
        "",
        f"`make bench-engagement` (bench/engagement_analytics.py), {result['measured_at']} UTC: "
        f"{rows.get('public.appointments', 0):,} appointments, "
        f"{rows.get('public.messages', 0):,} messages ({result['sizes']['public.messages']}; "
        f"appointments {result['sizes']['public.appointments']}), "
        f"{rows.get('public.tickets', 0):,} tickets, "
        f"{rows.get('public.journey_instances', 0):,} journey instances, two hospitals; only the "
        f"tables these calls read were generated (no notes, prescriptions, leads or invoices), in "
        f"{result['generated_seconds']} s. {result['calls_each']} calls each, in the database "
        f"(one transaction a call, with PostgREST's role and claims; the gateway adds its own, "
        f"see Gateway overhead). Machine shared with other work: {result['cpus']} cores, load "
        f"average {result['load_average_before'][0]} before and "
        f"{result['load_average_after'][0]} after: figures are upper bounds.",
        "",
        "| call | admin P50 / P95 ms | CRO P50 / P95 ms | service_role P50 / P95 ms |",
        "|---|---|---|---|",
    ]

    def cell(entry: dict | None) -> str:
        if not entry:
            return "-"
        if "p95_ms" not in entry:
            return f"{entry['p50_ms']} (once)"
        matches = f" ({entry['matches']:,} matches)" if "matches" in entry else ""
        return f"{entry['p50_ms']} / {entry['p95_ms']}{matches}"

    def row(label: str, by_role: dict) -> str:
        return (
            f"| {label} | {cell(by_role.get('admin'))} | {cell(by_role.get('cro'))} "
            f"| {cell(by_role.get('service_role'))} |"
        )

    lines += [row(label, by_role) for label, by_role in result["calls"].items()]
    lines.append("")
    if before:
        lines += [
            f"Before the fix ({before['measured_at']} UTC, the same data, load average "
            f"{before['load_average_before'][0]} before and {before['load_average_after'][0]} "
            "after):",
            "",
            "| call | admin P50 / P95 ms | CRO P50 / P95 ms | service_role P50 / P95 ms |",
            "|---|---|---|---|",
            *(row(label, by_role) for label, by_role in before["calls"].items()),
            "",
        ]
        for label, plan in before["explain"].items():
            lines += [f"EXPLAIN ANALYZE before the fix, {label}:", "", "```", plan, "```", ""]
    for label, plan in result["explain"].items():
        after = " after the fix" if before else ""
        lines += [f"EXPLAIN ANALYZE{after}, {label}:", "", "```", plan, "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
