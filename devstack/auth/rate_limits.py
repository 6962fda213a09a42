"""Per-IP rate limits of /auth/v1, as Supabase Auth's (`[auth.rate_limit]` of
supabase/config.toml): sign-ins and sign-ups per 5 minutes (`sign_in_sign_ups`, 30 by
default) and token refreshes per 5 minutes (`token_refresh`, 150), each overridable from the
environment. Over the limit: 429 `over_request_rate_limit`, "Request rate limit reached".

The key is the client address the gateway established (devstack.gateway.forwarding), so a
client-chosen X-Forwarded-For does not get around it. Counts live in the worker process, as
they live in each Supabase Auth instance.
"""

from __future__ import annotations

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from devstack.auth.errors import AuthError

WINDOW_SECONDS = 5 * 60


class RateLimits:
    def __init__(self, sign_in_sign_ups: int, token_refresh: int) -> None:
        self._items = {
            "sign_in_sign_ups": RateLimitItemPerSecond(sign_in_sign_ups, WINDOW_SECONDS),
            "token_refresh": RateLimitItemPerSecond(token_refresh, WINDOW_SECONDS),
        }
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, kind: str, client_ip: str) -> None:
        """Count one request of `kind` from `client_ip`; 429 when it is one too many."""
        if not self._limiter.hit(self._items[kind], kind, client_ip):
            raise AuthError(429, "over_request_rate_limit", "Request rate limit reached")
