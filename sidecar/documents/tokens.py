"""The verification token a PDF's QR code carries: the document's kind, id and content hash,
HMAC-SHA256-signed with CAREBASE_DOCUMENT_SIGNING_SECRET. Never personal data: whoever scans
the code learns only what GET /api/v1/verify/{token} answers.

Format: `2<kind letter><id as 32 hex><content hash as 64 hex>.<signature as base64url>`, short
enough for a small QR code and safe in a URL path. The leading digit is the version of the
content hash: 2 (from 20261213161000) hashes a prescription's clear content, so re-encrypting it
changes nothing; tokens printed before have no digit (version 1, the sealed bytes' hash) and
still verify against the hashes rpc/document_verification answers for them (content_hashes_v1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from uuid import UUID

KINDS = {"i": "invoice", "p": "prescription"}
LETTERS = {kind: letter for letter, kind in KINDS.items()}
_SHAPE = re.compile(r"^(2?)([ip])([0-9a-f]{32})([0-9a-f]{64})\.([A-Za-z0-9_-]{43})$")
VERSION = 2


class InvalidToken(ValueError):
    """Not a token this deployment signed (malformed, or the signature does not match)."""


@dataclass(frozen=True)
class DocumentRef:
    kind: str
    id: UUID
    content_hash: str
    version: int = VERSION


def _mac(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(secret: str, ref: DocumentRef) -> str:
    if not secret:
        raise InvalidToken("no signing secret configured")
    prefix = "" if ref.version == 1 else str(ref.version)
    payload = f"{prefix}{LETTERS[ref.kind]}{ref.id.hex}{ref.content_hash}"
    return f"{payload}.{_mac(secret, payload)}"


def verify(secret: str, token: str) -> DocumentRef:
    match = _SHAPE.match(token)
    if not secret or not match:
        raise InvalidToken("malformed token")
    payload = token.split(".", 1)[0]
    if not hmac.compare_digest(_mac(secret, payload), match.group(5)):
        raise InvalidToken("signature does not match")
    return DocumentRef(
        KINDS[match.group(2)],
        UUID(hex=match.group(3)),
        match.group(4),
        version=int(match.group(1) or 1),
    )
