"""Rate limits: per client IP (seed 003: 100 requests per 15 minutes on the auth routes), and
seed 001's per user and per tenant on the whole API (UsageLimits).

Counts live in this process (the sidecar runs one process per deployment unit); behind a
load balancer with several units, each enforces the limit on its own share.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sidecar.errors import ApiError, error_response
from sidecar.integrations.supabase_api import token_claims


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


class UsageLimits:
    """ASGI middleware: seed 001's limits on the sidecar's API, per user (100 requests a
    minute, counted per address the user comes from) and per tenant, the hospital of the user's
    token (1,000 a minute). A request over either is answered 429 with Retry-After before it
    runs. The tokens are not verified here (the database does it), so a forged token must not
    spend someone else's share: a user's count is kept per address, and a tenant's counts only
    answers that succeeded (a forged token gets 401). Requests without a user's token
    (webhooks, the auth routes, health) are left to their own limits. Counts live in this
    process, as the auth limit's do."""

    def __init__(
        self,
        app: ASGIApp,
        per_user: str,
        per_tenant: str,
        trusted_proxies: int = 0,
        prefix: str = "/api/v1/",
    ) -> None:
        self.app = app
        self.per_user = parse(per_user)
        self.per_tenant = parse(per_tenant)
        self.trusted_proxies = trusted_proxies
        self.prefix = prefix
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def _caller(self, scope: Scope) -> dict[str, str]:
        """The keys of the caller's limits, from the token's unverified claims: the user (with
        the address it comes from) and the tenant; none without a user's token."""
        headers = dict(scope.get("headers") or [])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            token = query.get("access_token", "")
        claims = token_claims(token) if token else {}
        if claims.get("role") != "authenticated":
            return {}
        user, tenant = claims.get("sub"), claims.get("hospital_id")
        keys = {}
        if isinstance(user, str) and user:
            keys["user"] = f"{user}@{client_ip(Request(scope), self.trusted_proxies)}"
        if isinstance(tenant, str) and tenant:
            keys["tenant"] = tenant
        return keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        caller = self._caller(scope)
        for name, item in (("user", self.per_user), ("tenant", self.per_tenant)):
            key = caller.get(name)
            if key and not self.limiter.test(item, name, key):
                reset_at, _ = self.limiter.get_window_stats(item, name, key)
                retry_after = max(1, math.ceil(reset_at - time.time()))
                who = "this user" if name == "user" else "this hospital"
                response = error_response(
                    429,
                    "rate_limited",
                    f"too many requests from {who}; try again in {retry_after} s",
                    headers={"Retry-After": str(retry_after)},
                )
                await response(scope, receive, send)
                return
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            # The user's share: every answer but 401 (the database refused the token); the
            # tenant's: answers that succeeded, which only a token the database accepted gets.
            if "user" in caller and status != 401:
                self.limiter.hit(self.per_user, "user", caller["user"])
            if "tenant" in caller and status < 400:
                self.limiter.hit(self.per_tenant, "tenant", caller["tenant"])
