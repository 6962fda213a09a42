"""Per-client-IP rate limits (seed 003: 100 requests per 15 minutes on the auth routes).

Counts live in this process (the sidecar runs one process per deployment unit); behind a
load balancer with several units, each enforces the limit on its own share.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from fastapi import Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from sidecar.errors import ApiError


def client_ip(request: Request, trusted_proxies: int) -> str:
    """The peer address, or the address the nearest trusted proxy saw."""
    if trusted_proxies > 0:
        hops = [
            h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()
        ]
        if len(hops) >= trusted_proxies:
            return hops[-trusted_proxies]
    return request.client.host if request.client else "unknown"


class RateLimit:
    """A FastAPI dependency: `Depends(RateLimit("auth", "100/15 minutes", 0))`."""

    def __init__(
        self,
        scope: str,
        limit: str,
        trusted_proxies: int,
        key: Callable[[Request], str | None] | None = None,
        who: str = "this address",
    ) -> None:
        self.scope = scope
        self.item = parse(limit)
        self.trusted_proxies = trusted_proxies
        # A key of the caller's own (the copilot's user), counted per address: the token is
        # verified later, by the database, so a subject alone would let a forged token spend
        # another user's limit. None from it: the address alone.
        self.key = key
        self.who = who
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, request: Request) -> None:
        address = client_ip(request, self.trusted_proxies)
        own = self.key(request) if self.key else None
        key = f"{own}@{address}" if own else address
        if self.limiter.hit(self.item, self.scope, key):
            return
        reset_at, _ = self.limiter.get_window_stats(self.item, self.scope, key)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests from {self.who}; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
