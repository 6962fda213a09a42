"""The "Access layer at scale" section of bench/REPORT.md, from the figures of each size's last
run (bench/results/scale-<size>.json), with issue 12's budgets judged on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import explain
from bench.report import rewrite_section

SECTION = "## Access layer at scale"
SIZES = ("demo", "large", "xl")
NA = "\u2013"  # a dash where there is no figure
SUSTAINED = 0.95  # a run sustained the offered rate when it reached this share of it
EQUAL_LOAD = 0.8  # medians are compared at this share of the rate RLS reached, if it fell short
# Issue 12, item 3.
RATIO_BUDGET = 1.5
LIST_P95_MS = 200
LIST_RATE = 500
SLOTS_P95_MS = 100
BOOKING_RATE = 200


def sustained(figures: dict, offered: float) -> bool:
    """Whether the run kept up with the offered rate (none offered, `--rate 0`: it did not,
    its rate is the highest reached)."""
    return bool(offered) and figures["rps"] >= SUSTAINED * offered


def rls_ratios(call: dict) -> tuple[float | None, float | None]:
    """(RLS P50 / service-role P50, service-role req/s / RLS req/s) of one call's twin runs;
    the medians at equal load when the RLS run fell short of the offered rate."""
    rls, service = call.get("rls"), call.get("service")
    if not rls or not service:
        return None, None
    rate = service["rps"] / rls["rps"] if rls["rps"] else None
    medians = call.get("equal_load") or {"rls": rls, "service": service}
    mine, theirs = medians["rls"].get("p50_ms"), medians["service"].get("p50_ms")
    return (mine / theirs if mine and theirs else None), rate


def budgets(run: dict) -> list[tuple[str, bool | None, str]]:
    """Each budget of issue 12 item 3: (what, met, the figures that decide it)."""
    offered = run["rate"]
    calls = {call["name"]: call for call in run["calls"]}
    lists = [c for c in run["calls"] if c["kind"] == "list" and c.get("rls")]
    verdicts: list[tuple[str, bool | None, str]] = []

    over = []
    for call in lists:
        latency, rate = rls_ratios(call)
        worst = max(x for x in (latency, rate, 0) if x is not None)
        if worst > RATIO_BUDGET:
            over.append(f"{call['name']} {worst:.1f}x")
    verdicts.append(
        (
            f"every role-scoped list within {RATIO_BUDGET}x of service role (P50 and req/s)",
            not over if lists else None,
            ", ".join(over) or "all within",
        )
    )

    slow = []
    for call in lists:
        rls = call["rls"]
        rate = offered if sustained(rls, offered) else rls["rps"]
        p95 = rls.get("p95_ms")
        if rate < LIST_RATE or p95 is None or p95 >= LIST_P95_MS or rls["errors"]:
            slow.append(
                f"{call['name']} {rls['rps']:,.0f} req/s, P95 {_ms(p95)} ms, {rls['errors']} errors"
            )
    verdicts.append(
        (
            f"lists: P95 < {LIST_P95_MS} ms at the highest sustained rate, "
            f"that rate >= {LIST_RATE} req/s",
            not slow if lists else None,
            "; ".join(slow) or "all met",
        )
    )

    slots = calls.get("find_slots_week", {}).get("rls")
    verdicts.append(
        (
            f"`find_slots` for a week: P95 < {SLOTS_P95_MS} ms",
            None if not slots else bool(slots.get("p95_ms") and slots["p95_ms"] < SLOTS_P95_MS),
            "not measured" if not slots else f"P95 {_ms(slots.get('p95_ms'))} ms",
        )
    )

    booking = calls.get("book_appointment", {}).get("rls")
    verdicts.append(
        (
            f"booking >= {BOOKING_RATE} req/s with zero errors",
            None if not booking else booking["rps"] >= BOOKING_RATE and booking["errors"] == 0,
            "not measured"
            if not booking
            else f"{booking['rps']:,.0f} req/s, {booking['errors']} errors",
        )
    )
    return verdicts


def _ms(value: float | None) -> str:
    if value is None:
        return NA
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _x(value: float | None) -> str:
    return NA if value is None else f"{value:.2f}x"


def _met(value: bool | None) -> str:
    return "not measured" if value is None else "**met**" if value else "**not met**"


def size_section(run: dict) -> list[str]:
    rows = run["rows"]
    load_start = ", ".join(f"{x:.2f}" for x in run["load_start"])
    load_end = ", ".join(f"{x:.2f}" for x in run["load_end"])
    offered = run["rate"]
    lines = [
        f"### {run['size']}",
        "",
        f"Measured {run['measured_at']} at {run['commit']} (schema at migration "
        f"{run.get('schema', NA)})"
        f"{' (--quick)' if run['quick'] else ''}: {run['seconds']:g} s per call, "
        f"{run['cores']} cores shared by the gateway, Postgres and the load generator; "
        f"load average {load_start} at the start, {load_end} at the end. Data "
        f"(`carebase seed generate --size {run['size']} --seed {run['seed']}`, made for "
        f"{run['data_today']}): {rows['patients']:,} patients, {rows['appointments']:,} "
        f"appointments, {rows['prescriptions']:,} prescriptions, {rows.get('log', 0):,} audit "
        f"log entries (earlier runs' logged reads and bookings included). Postgres `jit` = "
        f"{run['jit']}.",
        "",
        f"| call | as | req/s ({f'offered {offered:,.0f}' if offered else 'closed loop'}) "
        "| P50 ms | P95 ms | P99 ms | errors "
        "| service role req/s | P50 ms | P95 ms | RLS / service P50 | service / RLS req/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for call in run["calls"]:
        rls, service = call.get("rls"), call.get("service")
        if rls is None:
            skipped = call.get("skipped", NA)
            lines.append(f"| {call['title']} | {call['actor']} | {skipped} |||||||||")
            continue
        latency, rate = rls_ratios(call)
        reached = f"{rls['rps']:,.0f}"
        if call["kind"] == "booking":
            reached += f" (closed loop, concurrency {run['booking_concurrency']})"
        elif not sustained(rls, offered):
            reached += " (highest reached)"
        twin = (
            f"{service['rps']:,.0f} | {_ms(service['p50_ms'])} | {_ms(service['p95_ms'])}"
            if service
            else f"{NA} | {NA} | {NA}"
        )
        same = "" if call.get("same_rows") in (None, True) else " (rows differ!)"
        equal = call.get("equal_load")
        at = f" at {equal['rate']:,} req/s" if equal else ""
        lines.append(
            f"| {call['title']} | {call['actor']} | {reached} | {_ms(rls['p50_ms'])} "
            f"| {_ms(rls['p95_ms'])} | {_ms(rls['p99_ms'])} | {rls['errors']} | {twin}{same} "
            f"| {_x(latency)}{at} | {_x(rate)} |"
        )
    lines += [
        "",
        "Budgets of issue 12 (item 3; set for `large`) in this run:",
        "",
    ]
    for what, met, detail in budgets(run):
        lines.append(f"- {what}: {_met(met)} ({detail})")
    lines += [
        "",
        f"EXPLAIN (ANALYZE, BUFFERS) of each call's SQL as the gateway runs it, under the "
        f"caller's role and claims (full plans, with the statements run inside functions and "
        f"policies: `bench/plans/{run['size']}/`):",
        "",
        "| call | top node (est / actual rows) | furthest estimate | execution ms | planning ms "
        "| JIT | service role execution ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for call in run["calls"]:
        plan = call.get("explain") or {}
        twin = call.get("explain_service") or {}
        lines.append(
            f"| [{call['name']}](plans/{run['size']}/{call['name']}.txt) | {plan.get('top') or NA} "
            f"| {plan.get('worst') or NA} | {_ms(plan.get('execution_ms'))} "
            f"| {_ms(plan.get('planning_ms'))} | {plan.get('jit') or 'off'} "
            f"| {_ms(twin.get('execution_ms'))} |"
        )
    return lines


def growth(small: dict, big: dict) -> list[str]:
    """P50 and execution time of each call on the big size against the small one."""
    lines = [
        f"### Growth {big['size']} / {small['size']}",
        "",
        f"| call | P50 ms {small['size']} | {big['size']} | ratio | execution ms "
        f"{small['size']} | {big['size']} | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    before = {call["name"]: call for call in small["calls"]}
    for call in big["calls"]:
        other = before.get(call["name"])
        if other is None:
            continue
        p50s = [(c.get("rls") or {}).get("p50_ms") for c in (other, call)]
        runs = [(c.get("explain") or {}).get("execution_ms") for c in (other, call)]
        lines.append(
            f"| {call['name']} | {_ms(p50s[0])} | {_ms(p50s[1])} | {_x(_ratio(*p50s))} "
            f"| {_ms(runs[0])} | {_ms(runs[1])} | {_x(_ratio(*runs))} |"
        )
    return lines


def _ratio(small: float | None, big: float | None) -> float | None:
    return big / small if small and big else None


METHOD = """\
`bench/scale.py` (`make bench`, or `make bench-scale SIZE=demo|large|xl`): its own stack
(cluster beside `make up`'s, one database per size, made with `carebase seed generate` once
and kept while the migrations, the shim and the generator are unchanged). Each call is made by
the user it belongs to (tokens with the claims of the access token hook; staff at `aal2`), at
a fixed offered rate with `hey` (concurrency {concurrency}, `-q` per worker), after a short
warm-up; then the same rows as service role with an explicit filter, in the same run. A
run that falls short of the offered rate states the highest rate reached (hey's workers then
send back to back). Errors are non-2xx answers and requests without an answer. The booking
runs closed loop at concurrency {booking} (distinct free slots after every appointment in the
data, each for a patient registered there). RLS / service P50 is the ratio of the medians at
the same offered rate; when the RLS run fell short of it (its median then is mostly queueing),
both are measured again at 80% of the rate it reached, and the ratio is of those medians
(marked "at N req/s"). Service / RLS req/s is the ratio of the rates reached. The deep offset
page and the `ilike` filter are scans by construction (Postgres must read every row before the
offset; it may apply `ilike` only after the policy, as ilike is not leakproof): measured to
show it, not judged as role-scoped lists; the keyset page and rpc/search_patients answer them."""


def plans_only_section(size: str, folder: Path) -> list[str]:
    """A size with plans but no measured run (`--explain-only`): the plans' key lines."""
    files = sorted(p for p in folder.glob("*.txt") if not p.stem.endswith(".service_role"))
    header = files[0].read_text().splitlines()[1].removeprefix("-- ") if files else ""
    lines = [
        f"### {size}: plans only",
        "",
        f"Not measured yet; the plans (`--explain-only`) were captured: {header}.",
        "",
        "| call | top node (est / actual rows) | furthest estimate | execution ms | planning ms "
        "| JIT | service role execution ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in files:
        plan = explain.key_lines(path.read_text())
        twin_path = path.with_name(f"{path.stem}.service_role.txt")
        twin = explain.key_lines(twin_path.read_text()) if twin_path.exists() else None
        lines.append(
            f"| [{path.stem}](plans/{size}/{path.name}) | {plan.top or NA} | {plan.worst or NA} "
            f"| {_ms(plan.execution_ms)} | {_ms(plan.planning_ms)} | {plan.jit or 'off'} "
            f"| {_ms(twin.execution_ms if twin else None)} |"
        )
    return lines


def section(runs: dict[str, dict], plans: Path | None = None) -> str:
    any_run = next(iter(runs.values()))
    lines = [
        SECTION,
        "",
        METHOD.format(concurrency=any_run["concurrency"], booking=any_run["booking_concurrency"]),
        "",
    ]
    for size in SIZES:
        if size in runs:
            lines += [*size_section(runs[size]), ""]
        elif plans is not None and (plans / size).is_dir():
            lines += [*plans_only_section(size, plans / size), ""]
    for big in ("large", "xl"):
        if big in runs and "demo" in runs:
            lines += [*growth(runs["demo"], runs[big]), ""]
    return "\n".join(lines).rstrip() + "\n"


def load_runs(results: Path) -> dict[str, dict]:
    runs = {}
    for size in SIZES:
        path = results / f"scale-{size}.json"
        if path.exists():
            runs[size] = json.loads(path.read_text())
    return runs


def write(report: Path, results: Path, plans: Path, run: dict[str, Any]) -> str:
    """Store this run's figures and rewrite the section from every size's last run (and the
    plans of sizes not measured)."""
    results.mkdir(parents=True, exist_ok=True)
    (results / f"scale-{run['size']}.json").write_text(json.dumps(run, indent=1) + "\n")
    text = section(load_runs(results), plans)
    rewrite_section(text, report)
    return text
