"""Driving `hey` (the HTTP load generator `make install` installs) and reading its summary."""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Figures:
    """One measured run: requests answered, their rate, latency percentiles and errors."""

    requests: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    errors: int  # non-2xx answers and requests that got no answer (timeouts, resets)
    statuses: dict[str, int] = field(default_factory=dict)
    error_samples: tuple[str, ...] = ()


_STATUS = re.compile(r"^\s*\[(\d{3})\]\s+(\d+) responses", re.MULTILINE)
_PERCENTILE = re.compile(r"^\s*(\d+)% in ([\d.]+) secs", re.MULTILINE)
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_ERROR = re.compile(r"^\s*\[(\d+)\]\t(.+)$", re.MULTILINE)


def parse(output: str) -> Figures:
    """hey's summary as Figures. hey prints `0% in 0.0000 secs` for percentiles it has too few
    results for; those are None. Requests that got no answer are under "Error distribution"."""
    statuses = {code: int(count) for code, count in _STATUS.findall(output)}
    percentiles: dict[int, float] = {}
    for percent, seconds in _PERCENTILE.findall(output):
        if int(percent) > 0:
            percentiles[int(percent)] = round(float(seconds) * 1000, 3)
    rate = _RATE.search(output)
    errors_part = output.split("Error distribution:", 1)
    failures = _ERROR.findall(errors_part[1]) if len(errors_part) == 2 else []
    unanswered = sum(int(count) for count, _ in failures)
    non_2xx = sum(count for code, count in statuses.items() if not code.startswith("2"))
    return Figures(
        requests=sum(statuses.values()) + unanswered,
        rps=float(rate.group(1)) if rate else 0.0,
        p50_ms=percentiles.get(50),
        p95_ms=percentiles.get(95),
        p99_ms=percentiles.get(99),
        errors=non_2xx + unanswered,
        statuses=statuses,
        error_samples=tuple(text.strip()[:200] for _, text in failures[:3]),
    )


def rate_per_worker(rate: float, concurrency: int) -> float:
    """hey's -q is per worker: the offered rate spread over the workers (rounded up)."""
    return math.ceil(rate / concurrency * 100) / 100


def run(
    url: str,
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
    rate: float | None,
    method: str = "GET",
    body: str | None = None,
) -> Figures:
    """`hey -z <seconds>s -c <concurrency> [-q <rate/concurrency>]` against one URL."""
    argv = ["hey", "-z", f"{seconds:g}s", "-c", str(concurrency), "-m", method]
    if rate:
        argv += ["-q", f"{rate_per_worker(rate, concurrency):g}"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    if body is not None:
        argv += ["-T", "application/json", "-d", body]
    result = subprocess.run([*argv, url], capture_output=True, text=True, check=True)
    return parse(result.stdout)
