"""Who a Storage request acts for, as Supabase Storage's JWT check decides it: the bearer
token (the gateway sends the API key as one when the client sent none) verified with the
project secret; a bad token is refused with Storage's AccessDenied (the JWT library's message),
except on the download routes that serve public buckets without a valid one (anon then)."""

from __future__ import annotations

import json

import jwt
from starlette.requests import Request

from devstack.storage import errors
from devstack.storage.database import Caller

_MESSAGES = {
    jwt.ExpiredSignatureError: '"exp" claim timestamp check failed',
    jwt.InvalidSignatureError: "signature verification failed",
}


def caller_of(request: Request, secret: str, allow_invalid: bool = False) -> Caller:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"verify_aud": False, "require": []}
        )
        if not isinstance(claims, dict):
            raise jwt.InvalidTokenError("JWT claims are not an object")
    except jwt.InvalidTokenError as error:
        if allow_invalid:
            return _caller(request, "", {"role": "anon"}, authenticated=False)
        message = next((m for kind, m in _MESSAGES.items() if isinstance(error, kind)), None)
        raise errors.access_denied(message or "Invalid Compact JWS") from None
    return _caller(request, token, claims, authenticated=True)


def _caller(request: Request, token: str, claims: dict, authenticated: bool) -> Caller:
    return Caller(
        role=str(claims.get("role") or "anon"),
        claims=claims,
        token=token,
        authenticated=authenticated,
        headers=json.dumps({k: v for k, v in request.headers.items()}),
        method=request.method,
        path=request.url.path,
    )
