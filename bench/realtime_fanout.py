"""Realtime fan-out: 200 subscribers of one private channel, the doctors' topic of the demo
hospital with the most doctors (`hospital:<id>:doctor`), each joined as one of its doctors (the
RLS probe of realtime.messages decides each join), and the database broadcasting to it with
`realtime.send` in committed transactions, as the live-event triggers do. Measures, from the
commit's return to each subscriber's receipt: P50/P95/P99 delivery latency at a steady rate,
and the deliveries per second when the sender goes as fast as it can.
Subscribers speak serializer 1.0.0 on raw websockets (one asyncio process beside the gateway's
two workers and Postgres, on the same 2 cores). Rewrites the Realtime section of
bench/REPORT.md.

Run with `make bench-realtime` (the stack must be up: `make up`). Bounded: under a minute.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import rewrite_section  # noqa: E402
from devstack.config import Settings  # noqa: E402
from devstack.gateway.tokens import issue  # noqa: E402

SUBSCRIBERS = 200
STEADY_EVENTS, STEADY_RATE = 200, 20  # events, events/s
BURST_EVENTS = 200
SECTION = "## Realtime fan-out"


def doctors_topic(settings: Settings) -> tuple[str, list[str]]:
    """The hospital with the most doctors: its doctors' topic and a token for each of them."""
    with psycopg.connect(settings.dsn()) as conn:
        hospital, users = conn.execute(
            "select hospital_id, array_agg(user_id) from public.staff_memberships"
            " where role = 'doctor' and is_active group by hospital_id order by count(*) desc"
            " limit 1"
        ).fetchone()
    now = int(time.time())
    tokens = [
        issue(
            {
                "sub": str(u),
                "role": "authenticated",
                "aud": "authenticated",
                "iat": now,
                "exp": now + 3600,
            },
            settings.jwt_secret,
        )
        for u in users
    ]
    return f"hospital:{hospital}:doctor", tokens


async def subscribe(
    url: str, topic: str, token: str, received: dict[int, list[float]]
) -> websockets.ClientConnection:
    socket = await websockets.connect(url, max_queue=None)
    join = {
        "topic": f"realtime:{topic}",
        "event": "phx_join",
        "payload": {
            "config": {"private": True, "broadcast": {"self": False}},
            "access_token": token,
        },
        "ref": "1",
    }
    await socket.send(json.dumps(join))
    reply = json.loads(await socket.recv())
    if reply["payload"]["status"] != "ok":
        raise SystemExit(f"join refused: {reply['payload']}")

    async def read() -> None:
        async for text in socket:
            now = time.perf_counter()
            message = json.loads(text)
            if message["event"] == "broadcast":
                received.setdefault(message["payload"]["payload"]["n"], []).append(now)

    asyncio.get_running_loop().create_task(read())
    return socket


async def send(
    settings: Settings, topic: str, count: int, rate: float | None, offset: int
) -> dict[int, float]:
    committed: dict[int, float] = {}
    async with await psycopg.AsyncConnection.connect(settings.dsn()) as conn:
        started = time.perf_counter()
        for i in range(count):
            n = offset + i
            await conn.execute(
                "select realtime.send(jsonb_build_object('n', %s::int), 'tick', %s, true)",
                (n, topic),
            )
            await conn.commit()
            committed[n] = time.perf_counter()
            if rate:
                await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.perf_counter()))
    return committed


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def measure(settings: Settings) -> str:
    url = f"ws://{settings.api_host}:{settings.api_port}/realtime/v1/websocket?apikey={settings.anon_key}"
    topic, tokens = doctors_topic(settings)
    received: dict[int, list[float]] = {}
    sockets = [
        await subscribe(url, topic, tokens[i % len(tokens)], received) for i in range(SUBSCRIBERS)
    ]
    committed = await send(settings, topic, STEADY_EVENTS, STEADY_RATE, 0)
    await asyncio.sleep(2)
    latencies = [
        (t - committed[n]) * 1000 for n, times in received.items() if n in committed for t in times
    ]
    steady_delivered = sum(len(received.get(n, [])) for n in committed)
    burst_start = time.perf_counter()
    burst = await send(settings, topic, BURST_EVENTS, None, 100_000)
    expected = BURST_EVENTS * SUBSCRIBERS
    while sum(len(received.get(n, [])) for n in burst) < expected:
        if time.perf_counter() - burst_start > 60:
            break
        await asyncio.sleep(0.05)
    last = max((max(received[n]) for n in burst if n in received), default=burst_start)
    burst_delivered = sum(len(received.get(n, [])) for n in burst)
    for socket in sockets:
        await socket.close()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return "\n".join(
        [
            SECTION,
            "",
            f"`make bench-realtime`: {SUBSCRIBERS} subscribers of one private channel, the"
            " doctors' topic (`hospital:<id>:doctor`) of the demo hospital with the most doctors,"
            f" joined as its {len(tokens)} doctors in turn through the RLS probe; the database"
            " broadcasting with"
            " `realtime.send` in committed transactions; subscribers on raw websockets"
            " (serializer 1.0.0) in one asyncio process, on the same 2 cores as the gateway's two"
            f" workers and Postgres; load average {load} at the end. Latency is from the"
            " commit's return to each subscriber's receipt.",
            "",
            "| measure | figure |",
            "|---|---|",
            f"| steady {STEADY_RATE} events/s x {SUBSCRIBERS}: delivered | {steady_delivered:,} of"
            f" {STEADY_EVENTS * SUBSCRIBERS:,} |",
            f"| steady: P50 / P95 / P99 delivery ms | {statistics.median(latencies):.1f} /"
            f" {percentile(latencies, 0.95):.1f} / {percentile(latencies, 0.99):.1f} |",
            f"| burst of {BURST_EVENTS} events as fast as the sender commits: delivered |"
            f" {burst_delivered:,} of {expected:,} |",
            f"| burst: deliveries per second | {burst_delivered / (last - burst_start):,.0f} |",
            "",
        ]
    )


def main() -> int:
    settings = Settings.from_env()
    section = asyncio.run(measure(settings))
    rewrite_section(section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
