"""Cal.com webhooks at a sustained rate (issue 14): none lost, none doubled, and how long
Cal.com waits for its 200.

Against `make up`'s stack (the sidecar with its local webhook secret): links doctors of the
demo hospitals to Cal.com user ids of this run, then posts signed BOOKING_CREATED webhooks at
a fixed rate (default 200/s for 60 s) from one asyncio loop, each a booking of a distinct
time for a patient registered at the doctor's hospital, and re-sends a tenth of them (Cal.com
retries). Then it counts in the database: one inbox entry and one appointment per booking,
deliveries equal to the requests sent. Acknowledgement times are P50/P95/P99 of the whole
request. Before the run, a CPU budget: webhooks sent one at a time straight to the database
function, through the gateway and through the sidecar, with the CPU each process used per
webhook, which bounds the rate these cores can reach. What the run made (links, appointments,
their notifications and care-team rows, the inbox entries) is removed afterwards; the audit
trail keeps its entries. It rewrites the webhook section of bench/REPORT.md.

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
from devstack import postgres, services  # noqa: E402
from devstack.config import Settings  # noqa: E402
from devstack.gateway import process as gateway  # noqa: E402
from sidecar.integrations.calcom_webhook import SIGNATURE_HEADER as CALCOM_SIGNATURE  # noqa: E402
from sidecar.integrations.calcom_webhook import sign  # noqa: E402

DOCTORS = 20
RESEND_SHARE = 0.1
CALIBRATION = 200  # webhooks sent one at a time through each layer for the CPU budget


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


def _stat(pid: str) -> tuple[int, int] | None:
    """(parent pid, CPU ticks of the process and its reaped children), None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), sum(int(f) for f in fields[11:15])


def tree_cpu(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process tree (the root and its live descendants;
    ended ones count through their parent's reaped-children times)."""
    stats = {int(pid): s for pid in os.listdir("/proc") if pid.isdigit() and (s := _stat(pid))}
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, root in roots.items():
        total, todo = 0, [root]
        while todo:
            pid = todo.pop()
            total += stats.get(pid, (0, 0))[1]
            todo += children.get(pid, [])
        used[name] = total / ticks
    return used


def stack_roots(settings: Settings) -> dict[str, int]:
    """The processes a webhook goes through: Postgres's postmaster, the gateway (its RPC, and
    its Realtime relaying the booking's live events), the sidecar."""
    postmaster = int(postgres.locate(settings).pid_file.read_text().split()[0])
    return {
        "Postgres": postmaster,
        "gateway (REST, Realtime)": gateway.running_pid(settings) or 0,
        "sidecar": services.sidecar(settings).running_pid() or 0,
    }


def cpu_budget(
    conn: psycopg.Connection, settings: Settings, secret: str, bodies: list[bytes]
) -> list[tuple[str, float, dict[str, float]]]:
    """Sends the bodies one at a time, a third each straight to the database function, to the
    gateway's RPC and to the sidecar; answers (path, wall ms a webhook, CPU ms a webhook by
    process, this script included)."""
    roots = stack_roots(settings)
    # What the stack uses doing nothing (the worker's polls, Realtime), taken off each figure.
    idle_before, idle_begun = tree_cpu(roots), time.monotonic()
    time.sleep(3)
    idle_after, idle_seconds = tree_cpu(roots), time.monotonic() - idle_begun
    idle = {name: (idle_after[name] - idle_before[name]) / idle_seconds for name in roots}
    third = len(bodies) // 3
    key = settings.service_role_key
    rpc = f"{settings.api_url}/rest/v1/rpc/receive_calcom_webhook"
    hook = f"{settings.sidecar_url}/api/v1/webhooks/cal"
    rows = []
    with httpx.Client(timeout=30) as http:
        paths = {
            "the database function": lambda b: conn.execute(
                "select public.receive_calcom_webhook(%s)", (b.decode(),)
            ),
            "gateway (rpc)": lambda b: http.post(
                rpc,
                json={"body": b.decode()},
                headers={"apikey": key, "Authorization": f"Bearer {key}"},
            ).raise_for_status(),
            "sidecar (webhook)": lambda b: http.post(
                hook,
                content=b,
                headers={"Content-Type": "application/json", CALCOM_SIGNATURE: sign(secret, b)},
            ).raise_for_status(),
        }
        for n, (path, send) in enumerate(paths.items()):
            chunk = bodies[n * third : (n + 1) * third]
            before, own, begun = tree_cpu(roots), time.process_time(), time.monotonic()
            for content in chunk:
                send(content)
            seconds = time.monotonic() - begun
            after = tree_cpu(roots)
            used = {
                name: max(0.0, after[name] - before[name] - idle[name] * seconds)
                * 1000
                / len(chunk)
                for name in roots
            }
            used["bench client"] = (time.process_time() - own) * 1000 / len(chunk)
            rows.append((path, seconds * 1000 / len(chunk), used))
    return rows


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
            calibration = [
                body(f"{tag}c", n, cal_user, phone, day0 + timedelta(days=200, minutes=15 * n))
                for n, (cal_user, _, phone) in enumerate(
                    rng.choice(choices) for _ in range(3 * CALIBRATION)
                )
            ]
            budget = cpu_budget(conn, settings, secret, calibration)
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
            clean(conn, f"{tag}c", started)
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
    names = list(budget[0][2])
    budget_table = (
        f"| one at a time through | wall | {' | '.join(names)} | CPU in all "
        "| ceiling on 2 cores |\n"
        f"|---|---|{'---|' * len(names)}---|---|\n"
    )
    for path, wall, used in budget:
        total = sum(used.values())
        budget_table += (
            f"| {path} | {wall:.1f} ms | "
            + " | ".join(f"{used[name]:.1f} ms" for name in names)
            + f" | {total:.1f} ms | {2000 / total:.0f}/s |\n"
        )
    print(budget_table)
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
        f"{quantiles[94]:.0f} ms | {quantiles[98]:.0f} ms |\n\n"
        f"Where the time goes: before the run, {CALIBRATION} webhooks sent one at a time "
        "through each layer, with the CPU each process tree used per webhook (Postgres "
        "backends, the gateway's workers, the sidecar, this script; what each uses idle is "
        "taken off) and the rate those 2 cores "
        "could sustain at that cost if nothing else ran:\n\n" + budget_table
    )
    return 0 if not errors and lost == 0 and doubled == 0 and deliveries == len(sends) else 1


if __name__ == "__main__":
    sys.exit(main())
