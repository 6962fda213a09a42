"""Gateway overhead: the devstack gateway against the same SQL run directly, in one run.

For each representative request (PK read, role-scoped list with a filter, an embed, an
insert) it drives the gateway with `hey` and, right after, the transaction PostgREST runs
for it (BEGIN, set_config of search_path, statement_timeout, role, claims and request
settings, the pre-request function, one statement, COMMIT) directly with psycopg, at the
same fixed concurrency and duration: two processes (as the gateway has two workers), each
an asyncio loop with one connection per concurrent client, psycopg's ordinary API with its
automatic prepared statements. The ratio of the two is the gateway's overhead (issue 3's
bar: within 2x). The same transaction through `pgbench` (C, simple protocol) is reported
too, as the database's own ceiling. It rewrites the gateway section of bench/REPORT.md.

Run with `make bench` (the stack must be up: `make up`). Bounded: about two minutes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import rewrite_section  # noqa: E402
from devstack.config import Settings  # noqa: E402
from devstack.gateway.tokens import issue  # noqa: E402

CONCURRENCY = 16
SECONDS = 8
DIRECT_PROCESSES = 2  # as the gateway's workers
FRONT_DESK = "20000000-0000-4000-8000-000000000006"
PATIENT = "60000000-0000-4000-8000-000000000001"  # Balwinder Singh, demo seed
SECTION = "## Gateway overhead"


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str  # under /rest/v1
    body: str | None
    sql: str  # the statement PostgREST runs for it, as pgbench runs it


@dataclass(frozen=True)
class Figures:
    rps: float
    p50_ms: float
    p95_ms: float


def front_desk_claims(settings: Settings) -> dict:
    with psycopg.connect(settings.dsn()) as conn:
        (claims,) = conn.execute(
            "select private.custom_access_token_hook(jsonb_build_object("
            "'user_id', %s::text, 'authentication_method', 'password', 'claims',"
            " jsonb_build_object('sub', %s::text, 'role', 'authenticated', 'aud', 'authenticated',"
            " 'exp', extract(epoch from now())::bigint + 3600, 'aal', 'aal1')))",
            (FRONT_DESK, FRONT_DESK),
        ).fetchone()
    return claims["claims"]


# pgbench takes a script file, not parameters: these statements are fixed text.
CASES = [
    Case(
        "PK read",
        "GET",
        f"/patients?id=eq.{PATIENT}",
        None,
        "select coalesce(json_agg(t), '[]') from (select * from public.patients"
        " where id = '60000000-0000-4000-8000-000000000001') t;",
    ),
    Case(
        "role-scoped list with a filter",
        "GET",
        "/patients?select=id,full_name,phone&city=eq.Nabha&order=full_name",
        None,
        "select coalesce(json_agg(t), '[]') from (select id, full_name, phone"
        " from public.patients where city = 'Nabha' order by full_name limit 1000) t;",
    ),
    Case(
        "embed (many-to-one)",
        "GET",
        "/patient_registrations?select=mrn,patients(full_name,phone)",
        None,
        "select coalesce(json_agg(t), '[]') from (select r.mrn, (select row_to_json(p)"
        " from (select full_name, phone from public.patients where id = r.patient_id) p)"
        " as patients from public.patient_registrations r limit 1000) t;",
    ),
    Case(
        "insert",
        "POST",
        "/bench_notes",
        '{"body": "bench"}',
        "insert into public.bench_notes (body) values ('bench');",
    ),
]


def context_sql(method: str, path: str, claims: dict) -> str:
    """PostgREST's per-request settings as script text (our own values, quotes doubled)."""
    literal = json.dumps(claims).replace("'", "''")
    return (
        "select set_config('search_path', 'public, extensions', true),"
        " set_config('statement_timeout', '8s', true),"
        " set_config('role', 'authenticated', true),"
        f" set_config('request.jwt.claims', '{literal}', true),"
        f" set_config('request.method', '{method}', true),"
        f" set_config('request.path', '{path}', true),"
        " set_config('request.headers', '{}', true),"
        " set_config('request.cookies', '{}', true);\n"
        "select public.db_pre_request();\n"
    )


def context_settings(method: str, path: str, claims: dict) -> list[str]:
    """The same settings as parameters of one set_config statement (psycopg)."""
    pairs = [
        ("search_path", "public, extensions"),
        ("statement_timeout", "8s"),
        ("role", "authenticated"),
        ("request.jwt.claims", json.dumps(claims)),
        ("request.method", method),
        ("request.path", path),
        ("request.headers", "{}"),
        ("request.cookies", "{}"),
    ]
    return [part for pair in pairs for part in pair]


SET_CONFIG = "select " + ", ".join(["set_config(%s, %s, true)"] * 8)


async def _direct_client(
    dsn: str, statements: list[tuple[str, list[str]]], read_only: bool, deadline: float
) -> list[float]:
    """One connection running the transaction back to back until the deadline."""
    latencies = []
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await conn.set_read_only(read_only)
        while (started := time.perf_counter()) < deadline:
            async with conn.transaction():
                for text, params in statements:
                    cursor = await conn.execute(text, params)
                    if cursor.pgresult is not None and cursor.pgresult.ntuples:
                        await cursor.fetchall()
            latencies.append(time.perf_counter() - started)
    return latencies


def _direct_process(
    dsn: str, statements: list[tuple[str, list[str]]], read_only: bool, clients: int
) -> list[float]:
    async def run() -> list[float]:
        deadline = time.perf_counter() + SECONDS
        runs = await asyncio.gather(
            *(_direct_client(dsn, statements, read_only, deadline) for _ in range(clients))
        )
        return [latency for latencies in runs for latency in latencies]

    return asyncio.run(run())


def run_psycopg(settings: Settings, case: Case, claims: dict) -> Figures:
    statements = [
        (SET_CONFIG, context_settings(case.method, case.path.split("?")[0], claims)),
        ("select public.db_pre_request()", []),
        (case.sql.rstrip(";"), []),
    ]
    dsn = settings.dsn("authenticator")
    clients = CONCURRENCY // DIRECT_PROCESSES
    with ProcessPoolExecutor(DIRECT_PROCESSES) as pool:
        futures = [
            pool.submit(_direct_process, dsn, statements, case.method == "GET", clients)
            for _ in range(DIRECT_PROCESSES)
        ]
        latencies = sorted(x * 1000 for future in futures for x in future.result())
    quantiles = statistics.quantiles(latencies, n=100)
    return Figures(len(latencies) / SECONDS, quantiles[49], quantiles[94])


def run_hey(settings: Settings, case: Case, token: str) -> Figures:
    argv = [
        "hey", "-z", f"{SECONDS}s", "-c", str(CONCURRENCY), "-m", case.method,
        "-H", f"apikey: {settings.anon_key}", "-H", f"Authorization: Bearer {token}",
        "-H", "Prefer: return=minimal",
    ]  # fmt: skip
    if case.body:
        argv += ["-T", "application/json", "-d", case.body]
    url = f"{settings.api_url}/rest/v1{case.path}"
    output = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    statuses = re.findall(r"\[(\d{3})\]\s+(\d+) responses", output)
    failed = [s for s in statuses if not s[0].startswith("2")]
    if failed:
        raise SystemExit(f"{case.name}: the gateway answered {failed}\n{output}")

    def percentile(p: int) -> float:
        return float(re.search(rf"{p}% in ([\d.]+) secs", output).group(1)) * 1000

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return Figures(rps, percentile(50), percentile(95))


def run_pgbench(settings: Settings, case: Case, claims: dict) -> Figures:
    read_only = case.method == "GET"
    script = (
        ("begin read only;\n" if read_only else "begin;\n")
        + context_sql(case.method, case.path.split("?")[0], claims)
        + case.sql
        + "\ncommit;\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        script_file = Path(folder) / "case.sql"
        script_file.write_text(script)
        subprocess.run(
            [
                "pgbench", "-n", "-h", settings.db_host, "-p", str(settings.db_port),
                "-U", "authenticator", "-c", str(CONCURRENCY), "-j", "2", "-T", str(SECONDS),
                "-f", str(script_file), "-l", "--log-prefix", str(Path(folder) / "tx"),
                settings.db_name,
            ],
            capture_output=True, text=True, check=True, cwd=folder,
            env={**os.environ, "PGPASSWORD": settings.db_password},
        )  # fmt: skip
        latencies = sorted(
            int(line.split()[2]) / 1000
            for log in Path(folder).glob("tx*")
            for line in log.read_text().splitlines()
        )
    quantiles = statistics.quantiles(latencies, n=100)
    return Figures(len(latencies) / SECONDS, quantiles[49], quantiles[94])


def prepare(settings: Settings) -> None:
    """A table for the insert case, dropped afterwards."""
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        conn.execute(
            "create table if not exists public.bench_notes (id bigserial primary key, body text);"
            "alter table public.bench_notes enable row level security;"
            "grant insert on public.bench_notes to authenticated;"
            "grant usage on sequence public.bench_notes_id_seq to authenticated;"
            "drop policy if exists bench_notes_insert on public.bench_notes;"
            "create policy bench_notes_insert on public.bench_notes"
            " for insert to authenticated with check (true);"
        )
    time.sleep(2)  # the gateway's schema cache reloads on the DDL notification


def cleanup(settings: Settings) -> None:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        conn.execute("drop table if exists public.bench_notes")


def write_report(rows: list[tuple[Case, Figures, Figures, Figures]], load: str) -> str:
    listed = next(row for row in rows if row[0].name.startswith("role-scoped"))
    ratios_ok = all(direct.rps / gateway.rps <= 2 for _, gateway, direct, _ in rows)
    list_ok = listed[1].rps >= 1000 and listed[1].p95_ms < 50
    lines = [
        SECTION,
        "",
        f"`make bench` on this machine: {os.cpu_count()} cores shared by the gateway (uvicorn, "
        f"2 workers), Postgres and the load generator; load average {load} when the run "
        f"started. Concurrency {CONCURRENCY}, {SECONDS} s per measurement, acting as the demo "
        "front desk (RLS in force), demo seed data. Gateway: `hey`. Direct: the same "
        "transaction PostgREST runs (BEGIN, role, claims and request settings in one "
        "set_config statement, the pre-request function, the statement, COMMIT) with psycopg "
        f"as `authenticator`: {DIRECT_PROCESSES} processes, one asyncio connection per "
        "concurrent client. pgbench runs the same transaction for reference (C client, "
        "simple protocol): the database's own ceiling on this machine.",
        "",
        "| request | gateway req/s | P50 ms | P95 ms | direct psycopg req/s | P50 ms | P95 ms "
        "| overhead (direct / gateway) | pgbench req/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for case, gateway, direct, pgbench in rows:
        lines.append(
            f"| {case.name} | {gateway.rps:.0f} | {gateway.p50_ms:.1f} | {gateway.p95_ms:.1f} "
            f"| {direct.rps:.0f} | {direct.p50_ms:.1f} | {direct.p95_ms:.1f} "
            f"| {direct.rps / gateway.rps:.2f}x | {pgbench.rps:.0f} |"
        )
    lines += [
        "",
        f"Issue 3's bar in this run: overhead within 2x on every request: "
        f"{'met' if ratios_ok else 'not met'}; role-scoped list at least 1,000 req/s with P95 "
        f"under 50 ms: {'met' if list_ok else 'not met'} ({listed[1].rps:.0f} req/s, P95 "
        f"{listed[1].p95_ms:.1f} ms).",
    ]
    section = "\n".join(lines) + "\n"
    rewrite_section(section)
    return section


def main() -> int:
    for tool in ("hey", "pgbench"):
        if not shutil.which(tool):
            print(f"error: {tool} is not installed (make bench installs it)", file=sys.stderr)
            return 1
    settings = Settings.from_env()
    claims = front_desk_claims(settings)
    token = issue(claims, settings.jwt_secret)
    prepare(settings)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = []
    try:
        for case in CASES:
            gateway = run_hey(settings, case, token)
            direct = run_psycopg(settings, case, claims)
            pgbench = run_pgbench(settings, case, claims)
            rows.append((case, gateway, direct, pgbench))
            print(
                f"{case.name}: gateway {gateway.rps:.0f} req/s, direct psycopg "
                f"{direct.rps:.0f} req/s, pgbench {pgbench.rps:.0f} req/s"
            )
    finally:
        cleanup(settings)
    print(write_report(rows, load))
    return 0


if __name__ == "__main__":
    sys.exit(main())
