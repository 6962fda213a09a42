"""The scale bench's pure logic: reading hey's summary, deciding whether the bench data set must
be made again, the key lines of a plan, and the budgets judged from a run's figures. (The bench
itself runs on demand, `make bench`; nothing here is timed), and that the plans it captures
are of the gateway's own statements."""

from __future__ import annotations

import asyncio
import time

from bench import explain, hey, scale_report
from bench.scale_stack import Dataset, only_new_migrations, regeneration_reasons
from devstack.config import Settings
from devstack.gateway.tokens import issue

WANTED = Dataset("large", 1, ("20261121000100", "20261203000200"), "shim1", "gen1")


def test_a_data_set_made_as_wanted_is_kept() -> None:
    recorded = Dataset("large", 1, WANTED.migrations, "shim1", "gen1", today=None)
    assert regeneration_reasons(recorded, WANTED) == []


def test_every_difference_in_what_makes_the_data_set_regenerates_it() -> None:
    assert regeneration_reasons(None, WANTED) == ["the database holds no generated data set"]
    other = Dataset("demo", 2, ("20261121000100",), "shim0", "gen0")
    reasons = regeneration_reasons(other, WANTED)
    assert reasons == [
        "it holds size demo, not large",
        "it was made with seed 2, not 1",
        "the migrations changed (new 20261203000200)",
        "the platform shim (sql/platform) changed",
        "the generator (seed/) changed",
    ]
    renamed = Dataset("large", 1, ("20261121000100", "20261203000199"), "shim1", "gen1")
    assert regeneration_reasons(renamed, WANTED) == [
        "the migrations changed (new 20261203000200, no longer present 20261203000199)"
    ]


def test_a_data_set_behind_only_by_new_migrations_is_migrated_forward_not_remade() -> None:
    behind = Dataset("large", 1, ("20261121000100",), "shim1", "gen1", today=None)
    assert only_new_migrations(behind, WANTED)
    assert not only_new_migrations(None, WANTED)
    assert not only_new_migrations(Dataset("large", 1, WANTED.migrations, "shim1", "gen1"), WANTED)
    assert not only_new_migrations(
        Dataset("large", 1, ("20261121000099",), "shim1", "gen1"), WANTED
    )
    assert not only_new_migrations(
        Dataset("large", 1, ("20261121000100",), "shim1", "gen0"), WANTED
    )


HEY_OUTPUT = """
Summary:
  Total:\t5.0021 secs
  Slowest:\t0.2100 secs
  Fastest:\t0.0021 secs
  Average:\t0.0130 secs
  Requests/sec:\t987.3812

Latency distribution:
  10% in 0.0040 secs
  25% in 0.0061 secs
  50% in 0.0102 secs
  75% in 0.0150 secs
  90% in 0.0230 secs
  95% in 0.0310 secs
  99% in 0.0820 secs

Status code distribution:
  [200]\t4921 responses
  [500]\t12 responses

Error distribution:
  [4]\tPost "http://127.0.0.1:54421/rest/v1/rpc/find_slots": context deadline exceeded
"""


def test_hey_summary_gives_rate_percentiles_and_every_kind_of_error() -> None:
    figures = hey.parse(HEY_OUTPUT)
    assert figures.rps == 987.3812
    assert (figures.p50_ms, figures.p95_ms, figures.p99_ms) == (10.2, 31.0, 82.0)
    assert figures.statuses == {"200": 4921, "500": 12}
    assert figures.errors == 12 + 4  # the 500s and the requests that got no answer
    assert figures.requests == 4921 + 12 + 4
    assert "context deadline exceeded" in figures.error_samples[0]


def test_hey_percentiles_it_had_too_few_results_for_are_missing_not_zero() -> None:
    output = (
        "Requests/sec:\t9.9\n  50% in 0.0007 secs\n  0% in 0.0000 secs\n  [401]\t10 responses\n"
    )
    figures = hey.parse(output)
    assert figures.p50_ms == 0.7
    assert figures.p95_ms is None and figures.p99_ms is None
    assert figures.errors == 10


def test_the_offered_rate_is_spread_over_heys_workers() -> None:
    assert hey.rate_per_worker(1000, 16) == 62.5
    assert hey.rate_per_worker(1000, 3) * 3 >= 1000  # rounded up, never under the rate


PLAN = """\
Aggregate  (cost=308.08..308.10 rows=1 width=36) (actual time=2301.9..2301.9 rows=1 loops=1)
  Buffers: shared hit=1046 read=20
  ->  Subquery Scan on pgrst_row  (cost=3.2..3.8 rows=50 width=4) (actual time=4..4 rows=11 loops=1)
        ->  Limit  (cost=3.2..3.3 rows=50 width=8) (actual time=4.6..4.6 rows=11 loops=1)
              ->  Sort  (cost=3.4..3.2 rows=900000 width=8) (actual time=4.6..4.6 rows=11 loops=1)
                    ->  Seq Scan on appointments  (cost=0.0..2.4 rows=900000 width=8) (actual \
time=4.1..4.6 rows=11 loops=1)
                          Filter: ((hospital_id = ANY ($0)) OR (patient_id = $1))
                    ->  Index Scan using x on y  (cost=0.1..1.2 rows=1 width=8) (never executed)
Planning Time: 1.143 ms
JIT:
  Functions: 12
  Options: Inlining true, Optimization true, Expressions true, Deforming true
  Timing: Generation 1.2 ms, Inlining 100.0 ms, Optimization 300.1 ms, Emission 200.0 ms, \
Total 601.3 ms
Execution Time: 2302.5 ms
"""


def test_a_plans_key_lines_name_the_worst_estimate_jit_and_times() -> None:
    lines = explain.key_lines(PLAN)
    assert lines.top == "Sort (est 900,000, actual 11)"  # under the gateway's wrapper
    assert lines.worst == "Seq Scan on appointments (est 900,000, actual 11)"  # the deepest
    assert lines.execution_ms == 2302.5
    assert lines.planning_ms == 1.143
    assert lines.jit == "12 functions, 601 ms"
    assert lines.buffers == "shared hit=1046 read=20"


def test_nodes_a_limit_stopped_early_are_not_judged_on_their_estimate() -> None:
    plan = (
        "Limit  (cost=0.4..9.1 rows=50 width=8) (actual time=0.1..0.2 rows=50 loops=1)\n"
        "  ->  Bitmap Heap Scan on appointments  (cost=0.4..9 rows=90000 width=8)"
        " (actual time=0.1..0.2 rows=50 loops=1)\n"
        "        ->  Bitmap Index Scan on j  (cost=0.0..1.0 rows=300 width=0)"
        " (actual time=0.1..0.1 rows=4000 loops=1)\n"
        "Execution Time: 0.3 ms\n"
    )
    # The heap scan found 50 of its 90,000 because the Limit stopped it; the bitmap under it
    # was built whole, and 300 against 4,000 is a real misestimate.
    assert explain.key_lines(plan).worst == "Bitmap Index Scan on j (est 300, actual 4,000)"


def test_a_calls_key_line_is_its_functions_scan() -> None:
    plan = (
        "Nested Loop  (cost=0.25..20.26 rows=1000 width=80) (actual time=1..2 rows=122 loops=1)\n"
        "  ->  Function Scan on json_to_record pgrst_args  (cost=0.00..0.01 rows=1 width=32)"
        " (actual time=0.01..0.01 rows=1 loops=1)\n"
        "  ->  Function Scan on find_slots pgrst_1  (cost=0.25..10.25 rows=1000 width=80)"
        " (actual time=89.5..89.5 rows=122 loops=1)\n"
        "Execution Time: 94.8 ms\n"
    )
    lines = explain.key_lines(plan)
    assert lines.top == "Function Scan on find_slots pgrst_1 (est 1,000, actual 122)"
    assert lines.jit == ""


def test_inner_statements_are_grouped_by_text_and_ranked_by_total_time() -> None:
    def notice(ms: float, query: str) -> str:
        return (
            f"duration: {ms} ms  plan:\nQuery Text: {query}\n"
            "Result  (cost=0.00..0.03 rows=1 width=1) (actual time=0.003..0.003 rows=1 loops=1)"
        )

    notices = [notice(0.5, "select busy_times()")] * 3 + [
        notice(1.0, "select windows()"),
        notice(9.0, "explain (analyze) select 1"),  # the statement itself: left out
    ]
    text = explain.summarize_nested(notices)
    assert text.startswith("4 statements ran inside (2 distinct)")
    assert text.index("select busy_times()") < text.index("select windows()")
    assert "-- 3 run(s), 1.500 ms in all, slowest 0.500 ms" in text
    assert "explain" not in text.split("\n", 1)[1]


def _call(name: str, kind: str, rls: dict | None, service: dict | None = None) -> dict:
    return {"name": name, "kind": kind, "rls": rls, "service": service}


def _figures(rps: float, p50: float, p95: float, errors: int = 0) -> dict:
    return {"rps": rps, "p50_ms": p50, "p95_ms": p95, "p99_ms": p95, "errors": errors}


def test_budgets_are_judged_from_the_runs_figures() -> None:
    run = {
        "rate": 1000,
        "calls": [
            _call("fine", "list", _figures(999, 3.0, 9.0), _figures(1000, 2.5, 8.0)),
            _call("slow", "list", _figures(300, 50.0, 90.0), _figures(1000, 2.0, 5.0)),
            _call("find_slots_week", "slots", _figures(400, 20.0, 99.0)),
            _call("book_appointment", "booking", _figures(250, 30.0, 60.0, errors=1)),
        ],
    }
    verdicts = {
        what.split(" ")[0]: (met, detail) for what, met, detail in scale_report.budgets(run)
    }
    ratio, rate, slots, booking = (
        verdicts["every"],
        verdicts["lists:"],
        verdicts["`find_slots`"],
        (verdicts["booking"]),
    )
    assert ratio == (False, "slow 25.0x")  # P50 50 ms against 2 ms
    assert rate[0] is False and rate[1].startswith("slow 300 req/s")  # under 500 req/s
    assert slots[0] is True
    assert booking == (False, "250 req/s, 1 errors")  # fast enough, but one error


def test_a_saturated_calls_medians_are_compared_at_a_load_both_sustain() -> None:
    # Under RLS the call reached 700 req/s of the 1,000 offered: its median (21 ms) is mostly
    # queueing, so the ratio is of the medians measured again at 80% of 700 req/s.
    call = _call("keyset", "list", _figures(700, 21.0, 36.0), _figures(1000, 8.0, 10.0))
    call["equal_load"] = {
        "rate": 560,
        "rls": _figures(560, 9.0, 15.0),
        "service": _figures(560, 7.5, 9.0),
    }
    latency, rate = scale_report.rls_ratios(call)
    assert round(latency, 2) == 1.2
    assert round(rate, 2) == 1.43
    lines = scale_report.size_section(
        {
            "size": "large",
            "measured_at": "now",
            "commit": "c",
            "schema": "s",
            "quick": False,
            "seconds": 20,
            "rate": 1000,
            "concurrency": 16,
            "booking_concurrency": 8,
            "cores": 2,
            "load_start": [0, 0, 0],
            "load_end": [0, 0, 0],
            "jit": "off",
            "rows": {"patients": 1, "appointments": 1, "prescriptions": 1, "log": 1},
            "seed": 1,
            "data_today": "2026-12-03",
            "calls": [{**call, "title": "t", "actor": "a"}],
        }
    )
    assert any("1.20x at 560 req/s" in line for line in lines), lines


def test_the_plans_are_of_the_statements_the_gateway_runs(stack: Settings) -> None:
    """bench/explain.py drives the gateway's own request pipeline to get the SQL it EXPLAINs:
    a change to that pipeline's signatures must fail here, not at the next bench run."""
    cache = asyncio.run(explain.load_cache(stack.dsn()))
    token = issue({"role": "service_role", "exp": int(time.time()) + 600}, stack.jwt_secret)
    read = explain.statements(
        cache, stack.jwt_secret, token, "GET", "/hospitals?select=id&code=eq.NAB", None
    )
    assert read.read_only
    assert any(b'"public"."hospitals"' in query.text for query in read.queries)
    call = explain.statements(
        cache, stack.jwt_secret, token, "POST", "/rpc/search_patients", '{"query": "kaur"}'
    )
    assert any(b'"public"."search_patients"' in query.text for query in call.queries)
