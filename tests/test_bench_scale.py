"""The scale bench's pure logic: reading hey's summary, deciding whether the bench data set must
be made again. (The bench itself runs on demand, `make bench`; nothing here is timed.)"""

from __future__ import annotations

from bench import hey
from bench.scale_stack import Dataset, regeneration_reasons

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
