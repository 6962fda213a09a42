"""Signed URL tokens as Supabase Storage issues them: a JWT signed with the project's JWT
secret naming the object (`url`: "<bucket>/<name>"), the action it allows (`scope`: download
or upload) and its expiry; an upload token also carries the owner and whether it may overwrite.
A token is checked for its signature and expiry, then its scope and object."""

from __future__ import annotations

import time
from typing import Any

import jwt

from devstack.storage import errors

DOWNLOAD = "download"
UPLOAD = "upload"


def sign_download(secret: str, bucket: str, name: str, expires_in: int) -> str:
    return _sign(secret, {"url": f"{bucket}/{name}", "scope": DOWNLOAD}, expires_in)


def sign_upload(secret: str, bucket: str, name: str, owner: str | None, upsert: bool) -> str:
    """Upload tokens live two hours, as Supabase's signed upload URLs."""
    claims = {"owner": owner, "url": f"{bucket}/{name}", "upsert": upsert, "scope": UPLOAD}
    return _sign(secret, claims, 2 * 60 * 60)


def verify(secret: str, token: str, bucket: str, name: str, scope: str) -> dict[str, Any]:
    """The token's claims when it allows `scope` on this object now; Storage's errors else."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"verify_aud": False, "require": ["exp"]},
        )
    except jwt.ExpiredSignatureError:  # Storage's JWT library says it so
        raise errors.invalid_jwt('"exp" claim timestamp check failed') from None
    except jwt.InvalidSignatureError:
        raise errors.invalid_jwt("signature verification failed") from None
    except jwt.InvalidTokenError:
        raise errors.invalid_jwt("Invalid Compact JWS") from None
    if not _allows(claims, scope):
        raise errors.invalid_signature(f"Token is not scoped for {scope}")
    if claims.get("url") != f"{bucket}/{name}":
        raise errors.invalid_signature()
    return claims


def _allows(claims: dict[str, Any], scope: str) -> bool:
    """Tokens issued before scopes existed: an upload token is the one with `upsert`."""
    if "scope" in claims:
        return claims["scope"] == scope
    return ("upsert" in claims) == (scope == UPLOAD)


def _sign(secret: str, claims: dict[str, Any], expires_in: int) -> str:
    now = int(time.time())
    return jwt.encode({**claims, "iat": now, "exp": now + expires_in}, secret, algorithm="HS256")
