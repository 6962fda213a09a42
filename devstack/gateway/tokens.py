"""JWTs as Supabase issues and checks them: HS256 with the project's secret."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

# PostgREST and Supabase Auth allow this much clock skew on exp / nbf / iat.
CLOCK_SKEW_SECONDS = 30


@dataclass(frozen=True)
class TokenRejected(Exception):
    """Why a bearer token was refused: outside its validity period (expired, or not yet
    valid) or flawed otherwise; PostgREST gives the two different codes."""

    expired: bool
    message: str


def issue(claims: dict[str, Any], secret: str) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def verify(token: str, secret: str, leeway: int = CLOCK_SKEW_SECONDS) -> dict[str, Any]:
    """The claims of a valid token; TokenRejected for a bad signature, format or time
    (`leeway` seconds of clock skew allowed; Supabase Realtime allows none)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],  # never 'none', never an algorithm the token picks
            leeway=leeway,
            options={"verify_aud": False, "require": []},
        )
    except jwt.ExpiredSignatureError:
        raise TokenRejected(True, "JWT expired") from None
    except jwt.ImmatureSignatureError:
        raise TokenRejected(True, "JWT not yet valid") from None
    except jwt.InvalidIssuedAtError:
        raise TokenRejected(True, "JWT issued at future") from None
    except jwt.DecodeError as error:
        message = str(error)
        if "Signature verification failed" in message:
            raise TokenRejected(False, "JWT cryptographic operation failed") from None
        raise TokenRejected(False, f"JWT could not be decoded: {message}") from None
    except jwt.InvalidTokenError as error:
        raise TokenRejected(False, str(error)) from None
    if not isinstance(claims, dict):
        raise TokenRejected(False, "JWT claims are not an object")
    return claims


def now() -> int:
    return int(time.time())
