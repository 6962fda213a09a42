"""Booking under concurrency: `rpc/book_appointment` through the gateway, 8 clients at once.

Each hospital's front desk books patients registered there into 15-minute slots of the
hospital's doctors, beyond every seeded appointment: each request a different doctor and time
and, at one time, a different patient, so no booking clashes and any non-2xx answer is an
error. `hey` sends one body over and over (every booking after the first would clash), so the
clients here are threads with keep-alive connections (http.client), each taking the next
booking from one list. Rounds alternate with the audit trigger on and off
(`alter table ... disable trigger audit_row_change` on every audited table), so the ratio
of the two comes from one run; the chain is verified at the end.

Needs the stack with the demo data: `carebase up` then `carebase seed generate --size demo`.
Usage: .venv/bin/python bench/booking_concurrency.py [--clients 8] [--seconds 8] [--rounds 2]
It books a few thousand appointments into the stack's database and prints its figures (it
does not write bench/REPORT.md).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from devstack.config import Settings
from devstack.gateway.tokens import issue

SLOT = timedelta(minutes=15)


@dataclass(frozen=True)
class Figures:
    rps: float
    p50_ms: float
    p95_ms: float
    ok: int
    errors: list[str]


def staff_token(conn: psycopg.Connection, settings: Settings, user_id: str) -> str:
    """A front desk's access token as Supabase Auth issues it (hook included), at aal2."""
    (claims,) = conn.execute(
        "select private.custom_access_token_hook(jsonb_build_object("
        "'user_id', %s::text, 'authentication_method', 'password', 'claims',"
        " jsonb_build_object('sub', %s::text, 'role', 'authenticated', 'aud', 'authenticated',"
        " 'exp', extract(epoch from now())::bigint + 3600, 'aal', 'aal2')))",
        (user_id, user_id),
    ).fetchone()
    return issue(claims["claims"], settings.jwt_secret)


def bookings(conn: psycopg.Connection, settings: Settings) -> tuple[list[tuple[str, str]], int]:
    """(token, body) of every booking the run may make, round-robin over the doctors; and how
    many doctors there are."""
    (start,) = conn.execute(
        "select date_trunc('day', greatest(max(starts_at), now())) + interval '7 days'"
        " from public.appointments"
    ).fetchone()
    desks = dict(
        conn.execute(
            "select distinct on (hospital_id) hospital_id, user_id from public.staff_memberships"
            " where role = 'front_desk' and is_active order by hospital_id, user_id"
        ).fetchall()
    )
    per_hospital = []
    for hospital, desk in desks.items():
        doctors = [
            str(d)
            for (d,) in conn.execute(
                "select id from public.doctors where hospital_id = %s and is_active order by id",
                (hospital,),
            )
        ]
        patients = [
            str(p)
            for (p,) in conn.execute(
                "select r.patient_id from public.patient_registrations as r"
                " join public.patients as p on p.id = r.patient_id"
                " where r.hospital_id = %s and r.deleted_at is null and p.deleted_at is null"
                # one hospital's patients only: a patient booked at two at once would clash
                " and not exists (select from public.patient_registrations as o"
                " where o.patient_id = r.patient_id and o.hospital_id <> r.hospital_id)"
                " order by r.patient_id",
                (hospital,),
            )
        ]
        if doctors and len(patients) >= len(doctors):
            per_hospital.append((staff_token(conn, settings, desk), doctors, patients))

    def slot(t: int) -> datetime:
        return start + t * SLOT

    def generate():
        for t in itertools.count():
            for token, doctors, patients in per_hospital:
                for i, doctor in enumerate(doctors):
                    # At one time each doctor gets a different patient of the hospital.
                    patient = patients[(t * len(doctors) + i) % len(patients)]
                    body = {
                        "doctor_id": doctor,
                        "patient_id": patient,
                        "starts_at": slot(t).isoformat(),
                        "ends_at": slot(t + 1).isoformat(),
                        "reason": "booking bench",
                    }
                    yield token, json.dumps(body)

    return generate(), sum(len(d) for _, d, _ in per_hospital)


def run(settings: Settings, work, clients: int, seconds: float) -> Figures:
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection(settings.api_host, settings.api_port)
        mine, failed = [], []
        while True:
            with lock:
                token, body = next(work)
            started = time.perf_counter()
            if started >= deadline:
                break
            conn.request(
                "POST",
                "/rest/v1/rpc/book_appointment",
                body,
                {
                    "apikey": settings.anon_key,
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                },
            )
            response = conn.getresponse()
            answer = response.read()
            mine.append(time.perf_counter() - started)
            if response.status >= 300:
                failed.append(f"{response.status} {answer[:200]!r}")
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.extend(failed)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ms = sorted(x * 1000 for x in latencies)
    quantiles = statistics.quantiles(ms, n=100)
    return Figures(len(ms) / elapsed, quantiles[49], quantiles[94], len(ms) - len(errors), errors)


def set_audit(conn: psycopg.Connection, on: bool) -> None:
    tables = [
        t
        for (t,) in conn.execute(
            "select tgrelid::regclass::text from pg_catalog.pg_trigger"
            " where tgname = 'audit_row_change' and not tgisinternal"
        )
    ]
    for table in tables:
        conn.execute(
            f"alter table {table} {'enable' if on else 'disable'} trigger audit_row_change"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    settings = Settings.from_env()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        work, doctors = bookings(conn, settings)
        if not doctors:
            print("no doctor to book: load the demo data (carebase seed generate --size demo)")
            return 1
        (head_before,) = conn.execute("select seq from audit.chain_head").fetchone()
        run(settings, work, args.clients, 1)  # warm the gateway's and the database's caches
        on, off = [], []
        try:
            for _ in range(args.rounds):
                set_audit(conn, False)
                off.append(run(settings, work, args.clients, args.seconds))
                set_audit(conn, True)
                on.append(run(settings, work, args.clients, args.seconds))
        finally:
            set_audit(conn, True)
        (head_after,) = conn.execute("select seq from audit.chain_head").fetchone()
        valid, checked, bad, problem = conn.execute(
            "select * from public.verify_audit_chain()"
        ).fetchone()

    def line(name: str, figures: list[Figures]) -> str:
        errors = [e for f in figures for e in f.errors]
        return (
            f"{name}: {statistics.median(f.rps for f in figures):.0f} req/s, "
            f"P50 {statistics.median(f.p50_ms for f in figures):.1f} ms, "
            f"P95 {statistics.median(f.p95_ms for f in figures):.1f} ms, "
            f"{sum(f.ok for f in figures)} booked, {len(errors)} errors"
            + (f" (first: {errors[0]})" if errors else "")
        )

    print(
        f"rpc/book_appointment, {args.clients} clients, {args.rounds} rounds of "
        f"{args.seconds:g} s each way (medians), {doctors} doctors; load average {load} at start"
    )
    print(line("audit on ", on))
    print(line("audit off", off))
    ratio = statistics.median(f.rps for f in on) / statistics.median(f.rps for f in off)
    print(f"ratio on/off: {ratio:.2f}")
    print(
        f"audit entries appended: {head_after - head_before}; chain valid: {valid} "
        f"({checked} checked{'' if valid else f', row {bad}: {problem}'})"
    )
    return 0 if valid and not any(f.errors for f in on + off) else 1


if __name__ == "__main__":
    sys.exit(main())
