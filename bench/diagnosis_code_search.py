"""Diagnosis code search: latency of rpc/search_diagnosis_codes on ICD-10-CM (98,186 codes).

A fixed mix of what clinicians type (codes and code prefixes, words, phrases, synonyms,
type-ahead prefixes, misspellings), each query ROUNDS times, one after another:
- in the database: the statement as PostgREST runs it (role, claims, then the call), so the
  figure is the search alone;
- through the gateway: POST /rest/v1/rpc/search_diagnosis_codes with a front desk's JWT, what a
  client waits for on the loopback.

Usage: .venv/bin/python bench/diagnosis_code_search.py   (after `make up`; writes the
"Diagnosis code search" section of bench/REPORT.md)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import rewrite_section  # noqa: E402
from devstack.config import Settings  # noqa: E402
from devstack.gateway.tokens import issue  # noqa: E402

FRONT_DESK = "20000000-0000-4000-8000-000000000006"  # Nabha's front desk, demo seed
ROUNDS = 20
QUERIES = [
    "I10",
    "i21",
    "E119",
    "S72.001",
    "hypertension",
    "essential (primary) hypertension",
    "heart attack",
    "high blood pressure",
    "diabetes",
    "type 2 diabetes with hyperglycemia",
    "chest pain",
    "atrial fibrillation",
    "afib",
    "heart failure",
    "fracture of femur",
    "pneumonia",
    "hyperten",
    "myocard infarc",
    "hypertnsion",
    "diabetis melitus",
    "pain",
    "fever",
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def claims() -> dict:
    now = int(time.time())
    return {
        "sub": FRONT_DESK,
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + 3600,
        "aal": "aal1",
    }


def in_database(settings: Settings) -> list[float]:
    timings = []
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        for _ in range(ROUNDS):
            for query in QUERIES:
                started = time.perf_counter()
                with conn.transaction():
                    conn.execute(
                        "select set_config('role', 'authenticated', true),"
                        " set_config('request.jwt.claims', %s, true)",
                        (json.dumps(claims()),),
                    )
                    conn.execute(
                        "select * from public.search_diagnosis_codes(%s)", (query,)
                    ).fetchall()
                timings.append((time.perf_counter() - started) * 1000)
    return timings


def through_the_gateway(settings: Settings) -> list[float]:
    headers = {
        "apikey": settings.anon_key,
        "Authorization": f"Bearer {issue(claims(), settings.jwt_secret)}",
        "Content-Type": "application/json",
    }
    timings = []
    with httpx.Client(base_url=settings.api_url, headers=headers, timeout=10) as client:
        for _ in range(ROUNDS):
            for query in QUERIES:
                started = time.perf_counter()
                response = client.post("/rest/v1/rpc/search_diagnosis_codes", json={"query": query})
                timings.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
    return timings


def main() -> None:
    settings = Settings.from_env()
    with psycopg.connect(settings.dsn()) as conn:
        (codes,) = conn.execute(
            "select code_count from public.code_systems where system = 'ICD-10-CM' and is_current"
        ).fetchone()
    in_database(settings)  # warm the caches once, as a running system has them
    database = in_database(settings)
    gateway = through_the_gateway(settings)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = "\n".join(
        f"| {name} | {len(t)} | {statistics.median(t):.1f} | {percentile(t, 0.95):.1f} |"
        f" {percentile(t, 0.99):.1f} | {max(t):.1f} |"
        for name, t in (("in the database", database), ("through the gateway", gateway))
    )
    measured = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = (
        "## Diagnosis code search\n\n"
        f"`bench/diagnosis_code_search.py`, measured {measured}:"
        f" rpc/search_diagnosis_codes over ICD-10-CM ({codes:,} codes), {len(QUERIES)} queries"
        f" (codes and prefixes, words, phrases, synonyms, type-ahead prefixes, misspellings) x"
        f" {ROUNDS}, one at a time, as a front desk; the database, the gateway and the client on"
        f" the same 2 cores (load average {load} at the end).\n\n"
        "| path | searches | P50 ms | P95 ms | P99 ms | max ms |\n|---|---:|---:|---:|---:|---:|\n"
        f"{rows}\n\n"
        "A code or prefix reads the (system, version, code) index; words read the full-text GIN"
        " index and rank only what matched; a misspelling (no match) first corrects each word to"
        " the most similar of the version's 11,000 words (trigram GIN index), then searches"
        " again.\n"
    )
    rewrite_section(section)
    print(section)


if __name__ == "__main__":
    main()
