"""Deterministic randomness: every row follows from the seed number (and the day it is made for)."""

from __future__ import annotations

import random
from datetime import date

_VARIANT = "89ab"


class Randomness(random.Random):
    """`random.Random` seeded by (seed, domain), so adding rows to one domain leaves the others."""

    def __init__(self, seed: int, domain: str) -> None:
        super().__init__(f"carebase-seed:{seed}:{domain}")

    def uuid(self) -> str:
        """A version-4 UUID drawn from this stream (random order, like gen_random_uuid())."""
        h = f"{self.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

    def chance(self, probability: float) -> bool:
        return self.random() < probability


_DAYS: dict[int, str] = {}
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def timestamp(epoch_seconds: float) -> str:
    """COPY text for a timestamptz (UTC, whole seconds) given in seconds since the epoch.
    Formatted by hand: millions of them are written, and datetime.isoformat is slow."""
    day, second = divmod(int(epoch_seconds), 86400)
    if (text := _DAYS.get(day)) is None:
        text = _DAYS[day] = date.fromordinal(day + _EPOCH_ORDINAL).isoformat()
    hour, rest = divmod(second, 3600)
    minute, second = divmod(rest, 60)
    return f"{text} {hour:02d}:{minute:02d}:{second:02d}+00"
