"""Whether a webhook really comes from Twilio (`X-Twilio-Signature`), checked before use.

Twilio signs the full URL it called followed by each POST parameter's name and value, sorted
by name, with HMAC-SHA1 keyed by the account's auth token, base64-encoded. The URL must be
the one configured in Twilio: behind a proxy the sidecar sees another, so the public base URL
is a setting (CAREBASE_SIDECAR_PUBLIC_URL).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def is_valid(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], given: str | None
) -> bool:
    if not auth_token or not given:
        return False
    return hmac.compare_digest(signature(auth_token, url, params).encode(), given.encode())
