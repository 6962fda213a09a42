"""Deterministic randomness: every row follows from the seed number (and the day it is made for)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

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


def timestamp(epoch_seconds: float) -> str:
    """COPY text for a timestamptz given in seconds since the epoch."""
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat()
