"""Who the client is: X-Forwarded-For built as a real reverse proxy builds it.

The gateway trusts the last `trusted_proxies` entries of the X-Forwarded-For it receives
(each written by a proxy in front of it, CAREBASE_GATEWAY_TRUSTED_PROXIES, 0 by default),
drops the rest (anyone can send the header: a client-chosen entry must never reach the audit
trail), and appends the address of its own peer. The client is the first entry that remains.
Postgres, behind the gateway as PostgREST is behind Supabase's gateway, then reads the entry
its own trusted proxies wrote (private.request_client_ip).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Scope

CLIENT_IP = "carebase.client_ip"  # key of the request's state set by the gateway


def forwarded_for(received: list[str], peer: str, trusted_proxies: int) -> list[str]:
    """The X-Forwarded-For entries to pass on: the trusted ones received, then the peer."""
    entries = [e.strip() for value in received for e in value.split(",") if e.strip()]
    kept = entries[-trusted_proxies:] if trusted_proxies > 0 else []
    return [*kept, peer]


def peer_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "127.0.0.1"


def client_ip(request: Request) -> str:
    """The caller's address as the gateway established it (the socket peer without it)."""
    state = request.scope.get("state") or {}
    return state.get(CLIENT_IP) or peer_address(request.scope)
