"""Who a request acts as: the role and claims of its JWT (anon without one), as PostgREST's
Auth module gives them."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

from devstack.gateway import tokens
from devstack.rest import errors

ANON_ROLE = "anon"


@dataclass(frozen=True)
class Identity:
    role: str
    claims: dict[str, Any]
    claims_json: str  # request.jwt.claims

    @property
    def anonymous(self) -> bool:
        return self.role == ANON_ROLE


ANONYMOUS = Identity(ANON_ROLE, {"role": ANON_ROLE}, json.dumps({"role": ANON_ROLE}))
# Tokens verified before, with the time until which they stay valid: a token's signature
# and claims never change, only the clock can expire it. Bounded; cleared when full.
_verified: dict[tuple[str, str], tuple[Identity, float]] = {}
_VERIFIED_MAX = 4096


def authenticate(authorization: str | None, secret: str) -> Identity:
    """The identity of a bearer token (anon without one); 401 for a bad one."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return ANONYMOUS
    token = token.strip()
    known = _verified.get((token, secret))
    if known is not None and time.time() < known[1]:
        return known[0]
    identity, valid_until = _verify(token, secret)
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[(token, secret)] = (identity, valid_until)
    return identity


def _verify(token: str, secret: str) -> tuple[Identity, float]:
    parts = len(token.split("."))
    if parts != 3:  # PostgREST counts the parts before it decodes anything
        raise errors.token_rejected(False, f"Expected 3 parts in JWT; got {parts}")
    try:
        claims = tokens.verify(token, secret)
    except tokens.TokenRejected as rejected:
        raise errors.token_rejected(rejected.expired, rejected.message) from None
    role = claims.get("role", ANON_ROLE)
    if not isinstance(role, str) or not role:
        raise errors.role_claim()
    # valid while now < exp + skew (nbf and iat, once passed, stay passed)
    try:
        valid_until = float(claims["exp"]) + tokens.CLOCK_SKEW_SECONDS
    except KeyError:
        valid_until = math.inf
    except (TypeError, ValueError):
        valid_until = 0.0  # not worth remembering
    return Identity(role, claims, json.dumps(claims)), valid_until
