"""A closed-loop load of POSTs whose bodies differ, which `hey` cannot send (it repeats one
body): each booking takes the next of a list of distinct free slots, so none clashes.

`concurrency` clients, each with its own keep-alive connection, post back to back until the
time is up or the bodies run out. One process, asyncio with httpx: it shares the cores with the
stack as hey does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx

from bench.hey import Figures


def percentile(sorted_values: list[float], percent: float) -> float | None:
    """The nearest-rank percentile (as hey reports them); None without values."""
    if not sorted_values:
        return None
    rank = max(1, round(percent / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def _client(
    url: str,
    headers: dict[str, str],
    bodies: Iterator[str],
    deadline: float,
    latencies: list[float],
    statuses: dict[str, int],
    samples: list[str],
) -> None:
    async with httpx.AsyncClient(headers=headers, timeout=20) as client:
        while time.perf_counter() < deadline:
            body = next(bodies, None)
            if body is None:
                return
            started = time.perf_counter()
            try:
                response = await client.post(url, content=body)
            except httpx.HTTPError as error:
                statuses["no answer"] = statuses.get("no answer", 0) + 1
                samples.append(repr(error)[:200])
                continue
            latencies.append(time.perf_counter() - started)
            code = str(response.status_code)
            statuses[code] = statuses.get(code, 0) + 1
            if not code.startswith("2") and len(samples) < 3:
                samples.append(response.text[:200])


async def _run(
    url: str, headers: dict[str, str], bodies: list[str], seconds: float, concurrency: int
) -> tuple[Figures, float]:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    samples: list[str] = []
    pending = iter(bodies)
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _client(url, headers, pending, deadline, latencies, statuses, samples)
            for _ in range(concurrency)
        )
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(x * 1000 for x in latencies)
    answered = sum(statuses.values())
    figures = Figures(
        requests=answered,
        rps=answered / elapsed,
        p50_ms=percentile(ordered, 50),
        p95_ms=percentile(ordered, 95),
        p99_ms=percentile(ordered, 99),
        errors=sum(n for code, n in statuses.items() if not code.startswith("2")),
        statuses=statuses,
        error_samples=tuple(samples[:3]),
    )
    return figures, elapsed


def run(
    url: str, headers: dict[str, str], bodies: list[str], seconds: float, concurrency: int
) -> tuple[Figures, float]:
    """POST the bodies (each once, in order) for at most `seconds`; the figures and how long
    it ran (shorter than `seconds` when the bodies ran out)."""
    headers = {**headers, "Content-Type": "application/json"}
    return asyncio.run(_run(url, headers, bodies, seconds, concurrency))
