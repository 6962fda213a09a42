"""The scale bench's pure logic: deciding whether the bench data set must be made again.
(The bench itself runs on demand, `make bench`; nothing here is timed.)"""

from __future__ import annotations

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
