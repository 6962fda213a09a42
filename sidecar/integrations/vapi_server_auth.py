"""Whether a server message really comes from Vapi: checked on the raw body, before parsing.

Vapi authenticates the messages it posts to a server URL with the credential configured for
it: `hmac` (`x-signature` = hex HMAC-SHA256 of `{x-timestamp}.{body}`; the timestamp must be
within `max_age` seconds of now, either way, so that a captured message cannot be replayed
later), `bearer` (`Authorization: Bearer <secret>`) or `header` (the secret alone in a named
header, `X-Vapi-Secret` by default). Every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from sidecar.errors import ApiError
from sidecar.settings import SidecarSettings

SCHEMES = ("hmac", "bearer", "header")
# Vapi's docs do not give x-timestamp's unit; its messages' own `timestamp` is in
# milliseconds. A value this large cannot be seconds (it would be after the year 5000).
_MILLISECONDS_FROM = 100_000_000_000


def _refused(message: str) -> ApiError:
    return ApiError(401, "invalid_signature", message)


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _timestamp_seconds(value: str | None) -> float | None:
    try:
        stamp = int(value or "")
    except ValueError:
        return None
    return stamp / 1000 if stamp >= _MILLISECONDS_FROM else float(stamp)


def verify(
    settings: SidecarSettings, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> None:
    """Raises 401 unless the message carries the configured credential (503 when none is)."""
    secret = settings.vapi_server_secret
    scheme = settings.vapi_server_auth
    if not secret or scheme not in SCHEMES:
        raise ApiError(
            503, "not_configured", "Vapi server messages are not accepted: no credential is set up"
        )
    if scheme == "bearer":
        if not _same(headers.get("authorization"), f"Bearer {secret}"):
            raise _refused("the Authorization header does not carry the server credential")
    elif scheme == "header":
        if not _same(headers.get(settings.vapi_server_secret_header), secret):
            raise _refused(f"the {settings.vapi_server_secret_header} header is missing or wrong")
    else:
        stamp = headers.get("x-timestamp")
        seconds = _timestamp_seconds(stamp)
        if seconds is None:
            raise _refused("x-timestamp is missing or not a number")
        if abs((time.time() if now is None else now) - seconds) > settings.vapi_server_max_age:
            raise _refused("x-timestamp is too far from now: a stale or replayed message")
        signed = f"{stamp}.".encode() + body
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if not _same((headers.get("x-signature") or "").lower(), expected):
            raise _refused("x-signature does not match the body")
