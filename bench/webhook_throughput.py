"""Cal.com webhooks at a sustained rate (issue 14): none lost, none doubled, and how long
Cal.com waits for its 200.

Against `make up`'s stack (the sidecar with its local webhook secret): links doctors of the
demo hospitals to Cal.com user ids of this run, then posts signed BOOKING_CREATED webhooks at
a fixed rate (default 200/s for 60 s) from one asyncio loop, each a booking of a distinct
time for a patient registered at the doctor's hospital, and re-sends a tenth of them (Cal.com
retries). Then it counts in the database: one inbox entry and one appointment per booking,
deliveries equal to the requests sent. Acknowledgement times are P50/P95/P99 of the whole
request. What the run made (links, appointments, their notifications and care-team rows, the
inbox entries) is removed afterwards; the audit trail keeps its entries. It rewrites the
webhook section of bench/REPORT.md.

Run with `make bench-webhooks` (`BENCH_ARGS="--rate 200 --seconds 60"`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import rewrite_section  # noqa: E402
from devstack import services  # noqa: E402
from devstack.config import Settings  # noqa: E402
from sidecar.integrations.calcom_webhook import sign  # noqa: E402

DOCTORS = 20
RESEND_SHARE = 0.1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="webhooks per second (200)")
    parser.add_argument("--seconds", type=float, default=60, help="how long (60)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (64)")
    return parser.parse_args()


def pairs(conn: psycopg.Connection, tag: str, base_user: int) -> list[tuple[int, str, str]]:
    """Links DOCTORS doctors of the generated demo hospitals to this run's Cal.com users;
    returns (cal user, doctor's hospital, a patient phone) choices: patients whose phone no
    other patient of that hospital carries."""
    doctors = conn.execute(
        "select d.id, d.hospital_id from public.doctors as d join public.hospitals as h"
        " on h.id = d.hospital_id where h.code <> 'NAB' and d.is_active order by d.id limit %s",
        (DOCTORS,),
    ).fetchall()
    if not doctors:
        raise SystemExit("no doctor of a generated hospital: run `make up` (demo data)")
    choices: list[tuple[int, str, str]] = []
    for n, (doctor, hospital) in enumerate(doctors):
        conn.execute(
            "insert into public.doctor_calendar_links"
            " (hospital_id, doctor_id, cal_user_id, cal_email) values (%s, %s, %s, %s)",
            (hospital, doctor, base_user + n, f"{tag}-{n}@cal.test"),
        )
        phones = conn.execute(
            "select p.phone::text from public.patients as p join public.patient_registrations as r"
            " on r.patient_id = p.id and r.hospital_id = %s and r.deleted_at is null"
            " where p.phone is not null and p.deleted_at is null and p.merged_into is null"
            " and not exists (select from public.patients as o join public.patient_registrations"
            " as s on s.patient_id = o.id and s.hospital_id = %s where o.phone = p.phone"
            " and o.id <> p.id) limit 50",
            (hospital, hospital),
        ).fetchall()
        choices += [(base_user + n, str(hospital), phone) for (phone,) in phones]
    return choices


def body(tag: str, n: int, cal_user: int, phone: str, starts: datetime) -> bytes:
    def z(moment: datetime) -> str:
        return moment.isoformat().replace("+00:00", "Z")

    payload = {
        "uid": f"{tag}-{n}",
        "title": "Consultation",
        "status": "ACCEPTED",
        "startTime": z(starts),
        "endTime": z(starts + timedelta(minutes=15)),
        "organizer": {"id": cal_user, "email": f"{tag}@cal.test", "timeZone": "Asia/Kolkata"},
        "attendees": [{"name": "Bench Attendee", "email": None, "phoneNumber": phone}],
    }
    event = {
        "triggerEvent": "BOOKING_CREATED",
        "createdAt": z(datetime.now(UTC)),
        "payload": payload,
    }
    return json.dumps(event).encode()


async def drive(
    url: str, secret: str, bodies: list[bytes], rate: float, concurrency: int
) -> tuple[list[float], list[str], float]:
    """Sends each body at its time (i / rate after the start); returns the latencies (ms),
    the errors and the seconds it took."""
    latencies: list[float] = []
    errors: list[str] = []
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:

        async def one(due: float, content: bytes) -> None:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            async with slots:
                headers = {
                    "Content-Type": "application/json",
                    "X-Cal-Signature-256": sign(secret, content),
                }
                started = time.monotonic()
                try:
                    response = await http.post(url, content=content, headers=headers)
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {response.text[:120]}")
                except httpx.HTTPError as error:
                    errors.append(type(error).__name__)
                latencies.append((time.monotonic() - started) * 1000)

        begun = time.monotonic()
        await asyncio.gather(*(one(begun + i / rate, content) for i, content in enumerate(bodies)))
        return latencies, errors, time.monotonic() - begun


# What a run made, by its tag: in an order the foreign keys allow.
_CLEAN = (
    "delete from private.outbox where subject_id in"
    " (select id from public.appointments where external_ref like %(like)s)",
    "delete from public.care_team_members where assigned_at >= %(started)s and member_id in"
    " (select d.user_id from public.doctors as d join public.doctor_calendar_links as l"
    " on l.doctor_id = d.id where l.cal_email like %(like)s)",
    "delete from private.webhook_inbox where external_ref like %(like)s",
    "delete from private.appointment_external_refs where appointment_id in"
    " (select id from public.appointments where external_ref like %(like)s)",
    "delete from public.appointments where external_ref like %(like)s",
    "delete from public.doctor_calendar_links where cal_email like %(like)s",
)


def clean(conn: psycopg.Connection, tag: str, started: datetime) -> None:
    with conn.transaction():
        for statement in _CLEAN:
            conn.execute(statement, {"like": f"{tag}-%", "started": started})


def main() -> int:
    args = parse_args()
    settings = Settings.from_env()
    secret = (
        os.environ.get("CAREBASE_CALCOM_WEBHOOK_SECRET")
        or services.sidecar_environment(settings)["CAREBASE_CALCOM_WEBHOOK_SECRET"]
    )
    url = f"{settings.sidecar_url}/api/v1/webhooks/cal"
    tag = f"bench-{uuid.uuid4().hex[:8]}"
    started = datetime.now(UTC)
    requests = int(args.rate * args.seconds)
    bookings = round(requests / (1 + RESEND_SHARE))
    rng = random.Random(1)  # noqa: S311 (which patient books when: no secret)
    day0 = datetime(started.year + 2, 1, 1, 3, 30, tzinfo=UTC)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        try:
            choices = pairs(conn, tag, rng.randrange(10**9, 2 * 10**9))
            sends: list[bytes] = []
            resent = set(rng.sample(range(bookings), requests - bookings))
            for n in range(bookings):
                cal_user, _, phone = rng.choice(choices)
                # Distinct times: no booking clashes with another, whoever its doctor or patient.
                sends.append(body(tag, n, cal_user, phone, day0 + timedelta(minutes=15 * n)))
                if n in resent:  # Cal.com's retry of a delivery it did not see answered
                    sends.append(sends[-1])
            load_start = os.getloadavg()
            latencies, errors, took = asyncio.run(
                drive(url, secret, sends, args.rate, args.concurrency)
            )
            load_end = os.getloadavg()
            entries, deliveries, applied = conn.execute(
                "select count(*), coalesce(sum(deliveries), 0),"
                " count(*) filter (where outcome = 'applied')"
                " from private.webhook_inbox where external_ref like %s",
                (f"{tag}-%",),
            ).fetchone()
            appointments, doubled = conn.execute(
                "select count(*), count(*) - count(distinct external_ref) from public.appointments"
                " where external_ref like %s",
                (f"{tag}-%",),
            ).fetchone()
        finally:
            clean(conn, tag, started)
    quantiles = statistics.quantiles(latencies, n=100)
    reached = len(sends) / took
    lost = bookings - appointments
    print(
        f"webhooks: {len(sends)} sent ({bookings} bookings, {len(resent)} re-sent) in {took:.1f} s "
        f"({reached:.0f}/s, offered {args.rate:g}/s); errors {len(errors)}; "
        f"inbox {entries} entries, {deliveries} deliveries, {applied} applied; appointments "
        f"{appointments}, lost {lost}, doubled {doubled}; ack P50 {quantiles[49]:.0f} ms, "
        f"P95 {quantiles[94]:.0f} ms, P99 {quantiles[98]:.0f} ms"
    )
    if errors:
        print("first errors:", *errors[:5], sep="\n  ")
    rewrite_section(
        "## Webhooks\n\n"
        f"`bench/webhook_throughput.py`, measured {started:%Y-%m-%d %H:%M} UTC: signed Cal.com "
        f"BOOKING_CREATED webhooks to `make up`'s sidecar at {args.rate:g} requests/s for "
        f"{args.seconds:g} s, {bookings:,} bookings of which {len(resent):,} sent twice (Cal.com's "
        "retries), from one asyncio loop on "
        "the same 2 cores as the sidecar, the gateway and Postgres (load average "
        f"{load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end). Each is recorded in "
        "the inbox and applied (an appointment for a patient of the doctor's hospital) in one "
        "transaction.\n\n"
        "| sent | reached | errors | inbox entries | deliveries | applied | appointments | lost "
        "| doubled | ack P50 | P95 | P99 |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        f"| {len(sends):,} | {reached:.0f}/s | {len(errors)} | {entries:,} | {deliveries:,} | "
        f"{applied:,} | {appointments:,} | {lost} | {doubled} | {quantiles[49]:.0f} ms | "
        f"{quantiles[94]:.0f} ms | {quantiles[98]:.0f} ms |\n"
    )
    return 0 if not errors and lost == 0 and doubled == 0 and deliveries == len(sends) else 1


if __name__ == "__main__":
    sys.exit(main())
