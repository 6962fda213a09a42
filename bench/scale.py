"""The access layer at scale: every role-scoped list and the standard calls of the README's
tour, each as the user who makes it and (lists) as service role with an explicit filter, at a
fixed offered rate, on a generated data set; with the EXPLAIN of each call's SQL.

    .venv/bin/python bench/scale.py [--size demo|large|xl] [--seconds 60 | --quick]

Ensures its own stack holding the data set (bench/scale_stack.py: made once, ~8 minutes for
`large`, then kept), measures, writes bench/plans/<size>/<call>.txt, bench/results/
scale-<size>.json and the "Access layer at scale" section of bench/REPORT.md, and stops the
stack (`--keep-running` leaves it up). `--explain-only --database-url URL` only captures the
plans, on any migrated database holding generated data; that database is only read (writing
calls are planned, not run).

Bounded: per call about twice `--seconds` (the call, then its service-role twin) plus a
warm-up; `large` at the default 60 s takes about 25 minutes after the data is made.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import booking_load, explain, hey, scale_calls, scale_report, scale_stack  # noqa: E402
from devstack.config import Settings  # noqa: E402
from devstack.errors import DevstackError  # noqa: E402

PLANS = ROOT / "bench" / "plans"
RESULTS = ROOT / "bench" / "results"
REPORT = ROOT / "bench" / "REPORT.md"
BOOKING_CONCURRENCY = 8
BOOKINGS_PER_SECOND = 600  # bookings prepared per second of measurement (more than reached)
WARM_UP_BOOKINGS = 16


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/scale.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=scale_report.SIZES, default="large")
    parser.add_argument("--seconds", type=float, default=60, help="per measurement (default 60)")
    parser.add_argument("--quick", action="store_true", help="5 s per measurement, 2 s warm-up")
    parser.add_argument(
        "--rate",
        type=float,
        default=1000,
        help="offered req/s (default 1000; 0: as fast as it goes)",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="hey's workers (default 16)")
    parser.add_argument("--seed", type=int, default=1, help="the data set's seed (default 1)")
    parser.add_argument(
        "--today", type=date.fromisoformat, help="the day to make new data for (default today)"
    )
    parser.add_argument("--regenerate", action="store_true", help="make the data set again")
    parser.add_argument("--calls", help="comma-separated call names (default: all)")
    parser.add_argument("--keep-running", action="store_true", help="leave the bench stack up")
    parser.add_argument(
        "--explain-only", action="store_true", help="capture the plans, measure nothing"
    )
    parser.add_argument(
        "--database-url",
        help="with --explain-only: a database to read (not the bench stack's); nothing is written",
    )
    parser.add_argument("--explain-timeout", default="120s", help="statement_timeout of EXPLAIN")
    args = parser.parse_args(argv)
    if args.database_url and not args.explain_only:
        parser.error("--database-url goes with --explain-only (load runs on the bench stack)")
    if args.quick:
        args.seconds = 5
    return args


def headers(settings: Settings, token: str, service: bool = False) -> dict[str, str]:
    key = settings.service_role_key if service else settings.anon_key
    return {"apikey": key, "Authorization": f"Bearer {token}"}


def check(settings: Settings, call: scale_calls.Call) -> tuple[bool | None, str | None]:
    """One request of the call and of its twin before measuring: both must answer 2xx, with
    the same rows. Returns (same rows, what failed)."""
    url = f"{settings.api_url}/rest/v1"
    with httpx.Client(timeout=120) as client:

        def ask(path: str, body: str | None, token: str, service: bool) -> httpx.Response:
            return client.request(
                call.method,
                url + path,
                headers={**headers(settings, token, service), "Content-Type": "application/json"},
                content=body,
            )

        mine = ask(call.path, call.body, call.token, False)
        if mine.status_code >= 300:
            return None, f"{mine.status_code} {mine.text[:300]}"
        if not call.service_twin:
            return None, None
        twin = ask(call.service_path, call.service_body, settings.service_role_key, True)
        if twin.status_code >= 300:
            return None, f"service role: {twin.status_code} {twin.text[:300]}"
        return mine.json() == twin.json(), None


def measure(
    settings: Settings,
    call: scale_calls.Call,
    args: argparse.Namespace,
    service: bool,
    rate: float | None = None,
) -> hey.Figures:
    path, body, token = (
        (call.service_path, call.service_body, settings.service_role_key)
        if service
        else (call.path, call.body, call.token)
    )
    url = f"{settings.api_url}/rest/v1{path}"
    sent = headers(settings, token, service)
    warm_up = 2 if args.quick else 3
    rate = rate or args.rate
    hey.run(url, sent, warm_up, args.concurrency, rate, call.method, body)
    return hey.run(url, sent, args.seconds, args.concurrency, rate, call.method, body)


def warm_up_gateway(settings: Settings, args: argparse.Namespace) -> None:
    """A fresh gateway opens its pooled connections on the first requests: open them all
    before the first call is measured, with a cheap read at the measuring concurrency."""
    url = f"{settings.api_url}/rest/v1/hospitals?select=id"
    sent = headers(settings, settings.service_role_key, service=True)
    hey.run(url, sent, 3, args.concurrency, None)


def measure_booking(
    settings: Settings, conn: psycopg.Connection, picks: scale_calls.Picks,
    call: scale_calls.Call, args: argparse.Namespace,
) -> tuple[hey.Figures, dict]:  # fmt: skip
    front_desk = scale_calls.claims(conn, picks.users["front_desk"], "aal2")
    wanted = int(args.seconds * BOOKINGS_PER_SECOND) + WARM_UP_BOOKINGS
    bodies = scale_calls.booking_bodies(conn, picks, front_desk, wanted)
    url = f"{settings.api_url}/rest/v1{call.path}"
    sent = headers(settings, call.token)
    booking_load.run(url, sent, bodies[:WARM_UP_BOOKINGS], 30, BOOKING_CONCURRENCY)
    figures, elapsed = booking_load.run(
        url, sent, bodies[WARM_UP_BOOKINGS:], args.seconds, BOOKING_CONCURRENCY
    )
    return figures, {"prepared": len(bodies) - WARM_UP_BOOKINGS, "seconds": round(elapsed, 1)}


def row_counts(conn: psycopg.Connection) -> dict[str, int]:
    # The audit log grows with every run (logged reads, bookings): the audit trail's cost too.
    return {
        table.split(".")[1]: conn.execute(f"select count(*) from {table}").fetchone()[0]  # noqa: S608
        for table in ("public.patients", "public.appointments", "public.prescriptions", "audit.log")
    }


def capture_plans(
    conn_dsn: str,
    admin_dsn: str | None,
    settings: Settings,
    calls: list[scale_calls.Call],
    size: str,
    header: str,
    read_only_target: bool,
    timeout: str,
    complete: bool,
) -> dict[str, tuple[dict, dict | None]]:
    """EXPLAIN every call (and its twin) and write bench/plans/<size>/; the key lines."""
    cache = asyncio.run(explain.load_cache(conn_dsn))
    folder = PLANS / size
    folder.mkdir(parents=True, exist_ok=True)
    found: dict[str, tuple[dict, dict | None]] = {}
    nested = admin_dsn is not None
    with psycopg.connect(admin_dsn or conn_dsn, autocommit=True) as conn:
        (jit,) = conn.execute("show jit").fetchone()
        header = f"{header}; jit = {jit}"
        for call in calls:
            summaries: list[dict | None] = []
            for service in (False, True):
                if service and not call.service_twin:
                    summaries.append(None)
                    continue
                token = settings.service_role_key if service else call.token
                path = call.service_path if service else call.path
                body = call.service_body if service else call.body
                if call.kind == "booking":
                    body = call.bodies[0] if call.bodies else None
                    if body is None:
                        summaries.append(None)
                        continue
                statements = explain.statements(
                    cache, settings.jwt_secret, token, call.method, path, body
                )
                explained = explain.explain(
                    conn, cache, statements, analyze=True, nested=nested and not service,
                    timeout=timeout, read_only_target=read_only_target,
                )  # fmt: skip
                name = f"{call.name}.service_role" if service else call.name
                who = "service role, explicit filter" if service else call.actor
                title = f"{call.title} (as {who})"
                (folder / f"{name}.txt").write_text(
                    explain.plan_file_text(
                        title, call.method, path, body, statements, explained, header
                    )
                )
                lines = explain.key_lines(explained.plan)
                summary = asdict(lines) | {"error": explained.error}
                summaries.append(summary)
                print(
                    f"  plan {name}: {lines.top or explained.error}; execution "
                    f"{lines.execution_ms} ms{'; JIT ' + lines.jit if lines.jit else ''}"
                )
            found[call.name] = (summaries[0], summaries[1])
    if complete:  # plans of calls that are no longer measured would mislead a comparison
        written = {f"{c.name}{suffix}.txt" for c in calls for suffix in ("", ".service_role")}
        for stale in folder.glob("*.txt"):
            if stale.name not in written:
                stale.unlink()
    return found


def schema_version(conn: psycopg.Connection) -> str:
    (version,) = conn.execute(
        "select max(version) from supabase_migrations.schema_migrations"
    ).fetchone()
    return version


def commit_id() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    # What the bench itself writes does not count as a change of what is measured.
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
         ":!bench/plans", ":!bench/results", ":!bench/REPORT.md"],
        cwd=ROOT, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    return result.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def selected(calls: list[scale_calls.Call], names: str | None) -> list[scale_calls.Call]:
    if not names:
        return calls
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = sorted(set(wanted) - {c.name for c in calls})
    if unknown:
        raise SystemExit(
            f"unknown call(s): {', '.join(unknown)}; known: {', '.join(c.name for c in calls)}"
        )
    return [c for c in calls if c.name in wanted]


def with_booking_body(
    conn: psycopg.Connection, picks: scale_calls.Picks, calls: list[scale_calls.Call]
) -> list[scale_calls.Call]:
    """The calls, the booking given one body (of a free slot) for its EXPLAIN."""
    out = []
    for call in calls:
        if call.kind == "booking":
            front_desk = scale_calls.claims(conn, picks.users["front_desk"], "aal2")
            call = replace(call, bodies=scale_calls.booking_bodies(conn, picks, front_desk, 1))
        out.append(call)
    return out


def explain_elsewhere(args: argparse.Namespace, base: Settings) -> int:
    """Plans only, on a database that is not the bench stack's: read, never written."""
    with psycopg.connect(args.database_url) as conn:
        conn.read_only = True
        # The data's day: today's visits are the ones in consultation.
        (today,) = conn.execute(
            "select coalesce(max(starts_at)::date, current_date) from public.appointments"
            " where status = 'in_consultation'"
        ).fetchone()
        picks = scale_calls.pick(conn, today)
        calls = selected(scale_calls.build(conn, base, picks), args.calls)
        calls = with_booking_body(conn, picks, calls)
        header = (
            f"{args.size}, captured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on another database"
            f" (read only; schema at migration {schema_version(conn)}) from {commit_id()}"
        )
    capture_plans(
        args.database_url, None, base, calls, args.size, header, True, args.explain_timeout,
        complete=not args.calls,
    )  # fmt: skip
    return 0


def run(args: argparse.Namespace, base: Settings) -> int:
    settings = scale_stack.bench_settings(base, args.size)
    dataset = scale_stack.ensure(
        settings, scale_stack.wanted_dataset(settings, args.size, args.seed), args.today,
        args.regenerate,
    )  # fmt: skip
    try:
        with psycopg.connect(settings.dsn(), autocommit=True) as conn:
            picks = scale_calls.pick(conn, dataset.today)
            calls = selected(scale_calls.build(conn, settings, picks), args.calls)
            header = (
                f"{args.size}, captured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on the bench"
                f" stack (schema at migration {schema_version(conn)}) at {commit_id()}"
            )
            plans = capture_plans(
                settings.dsn(), settings.dsn(settings.admin_user), settings,
                with_booking_body(conn, picks, calls), args.size, header, False,
                args.explain_timeout, complete=not args.calls,
            )  # fmt: skip
            if args.explain_only:
                return 0
            scale_stack.start_gateway(settings)
            warm_up_gateway(settings, args)
            return measure_all(args, settings, conn, dataset, picks, calls, plans)
    finally:
        if not args.keep_running:
            scale_stack.stop(settings)
            print("bench stack stopped (--keep-running leaves it up)")


def measure_all(
    args: argparse.Namespace,
    settings: Settings,
    conn: psycopg.Connection,
    dataset: scale_stack.Dataset,
    picks: scale_calls.Picks,
    calls: list[scale_calls.Call],
    plans: dict[str, tuple[dict, dict | None]],
) -> int:
    load_start = list(os.getloadavg())
    rows = row_counts(conn)
    (jit,) = conn.execute("show jit").fetchone()
    print(
        f"scale bench: {args.size} ({rows['patients']:,} patients, {rows['appointments']:,} "
        f"appointments), {len(calls)} calls, {args.seconds:g} s each, offered {args.rate:g} req/s"
    )
    results = []
    for call in calls:
        entry: dict = {
            "name": call.name, "title": call.title, "actor": call.actor, "kind": call.kind,
        }  # fmt: skip
        entry["explain"], entry["explain_service"] = plans.get(call.name, (None, None))
        results.append(entry)
        if call.kind == "booking":
            figures, extra = measure_booking(settings, conn, picks, call, args)
            entry["rls"], entry["booking"] = asdict(figures), extra
            print(
                f"  {call.name}: {figures.rps:,.0f} req/s, P95 {figures.p95_ms or 0:.1f} ms, "
                f"{figures.errors} errors ({extra['prepared']} slots prepared)"
            )
            continue
        same, failure = check(settings, call)
        entry["same_rows"] = same
        if failure:
            print(f"  {call.name}: FAILED before measuring: {failure}")
            entry["skipped"] = f"failed: {failure[:120]}"
            continue
        if same is False:
            print(f"  {call.name}: the service-role twin returns other rows")
        figures = measure(settings, call, args, service=False)
        entry["rls"] = asdict(figures)
        line = (
            f"  {call.name}: {figures.rps:,.0f} req/s, P50 {figures.p50_ms or 0:.1f} ms, "
            f"P95 {figures.p95_ms or 0:.1f} ms, {figures.errors} errors"
        )
        if call.service_twin:
            twin = measure(settings, call, args, service=True)
            entry["service"] = asdict(twin)
            line += f"; service role {twin.rps:,.0f} req/s, P50 {twin.p50_ms or 0:.1f} ms"
            if not scale_report.sustained(entry["rls"], args.rate):
                # A saturated run's median is mostly queueing: compare medians at a load both
                # sustain, a share of the rate the call reached under RLS.
                equal = round(scale_report.EQUAL_LOAD * figures.rps)
                mine = measure(settings, call, args, False, equal)
                theirs = measure(settings, call, args, True, equal)
                entry["equal_load"] = {
                    "rate": equal,
                    "rls": asdict(mine),
                    "service": asdict(theirs),
                }
                line += f"; at {equal:,} req/s P50 {mine.p50_ms or 0:.1f}"
                line += f" / {theirs.p50_ms or 0:.1f} ms"
        print(line)
    run_figures = {
        "size": args.size,
        "seed": dataset.seed,
        "data_today": dataset.today.isoformat(),
        "measured_at": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "commit": commit_id(),
        "schema": schema_version(conn),
        "quick": args.quick,
        "seconds": args.seconds,
        "rate": args.rate,
        "concurrency": args.concurrency,
        "booking_concurrency": BOOKING_CONCURRENCY,
        "cores": os.cpu_count(),
        "load_start": load_start,
        "load_end": list(os.getloadavg()),
        "jit": jit,
        "rows": rows,
        "calls": results,
    }
    if args.calls:  # a partial run would replace the size's complete figures
        print(scale_report.section({args.size: run_figures}))
        print("(--calls: bench/REPORT.md and bench/results are left as they were)")
        return 0
    print(scale_report.write(REPORT, RESULTS, PLANS, run_figures))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.explain_only and not shutil.which("hey"):
        print("error: hey is not installed (make install installs it)", file=sys.stderr)
        return 1
    base = Settings.from_env()
    try:
        if args.database_url:
            return explain_elsewhere(args, base)
        return run(args, base)
    except DevstackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    started = time.monotonic()
    status = main()
    print(f"scale bench: {time.monotonic() - started:.0f} s")
    sys.exit(status)
