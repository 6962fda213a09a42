"""Cal.com webhooks: what carebase needs to trust one (the API v2 client is calcom.py).

A webhook carries `X-Cal-Signature-256`: the lowercase hex HMAC-SHA256 of the raw request
body with the webhook's secret. Cal.com sends the literal `no-secret-provided` when the
webhook has no secret; carebase always has one, so that literal never verifies.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Cal-Signature-256"
UNSIGNED = "no-secret-provided"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether `signature` is the body's HMAC under `secret`, compared in constant time."""
    if not secret or not signature or signature == UNSIGNED:
        return False
    expected = sign(secret, body).encode()
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))
