"""Ed25519 keys and signatures of audit anchors.

The signing key is held by the sidecar's worker only (CAREBASE_AUDIT_ANCHOR_SIGNING_KEY,
base64 of the 32-byte private key); the database never sees it, so whoever controls the
database cannot sign an anchor. Verifiers are given public keys only. A key is named by its
key id, the first 8 bytes of the SHA-256 of its raw public key, in hex.

What is signed is the anchor's JSON in one canonical form (sorted keys, no spaces, ASCII), so
the signature does not depend on how a file happens to be laid out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


class AnchorKeyError(ValueError):
    """A key that cannot be used, with what to do about it."""


def _raw(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise AnchorKeyError(f"{what} is not base64: {error}") from None
    if len(raw) != 32:
        raise AnchorKeyError(f"{what} must be 32 bytes (base64), not {len(raw)}")
    return raw


def load_signing_key(text: str) -> Ed25519PrivateKey:
    """CAREBASE_AUDIT_ANCHOR_SIGNING_KEY: base64 of the 32-byte Ed25519 private key."""
    return Ed25519PrivateKey.from_private_bytes(_raw(text, "the anchor signing key"))


def load_public_key(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_raw(text, "an anchor public key"))


def public_key_text(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def trusted_keys(public_keys: str, signing_key: str = "") -> dict[str, Ed25519PublicKey]:
    """The public keys a verifier trusts, by key id: those listed (comma-separated), else the
    signing key's own (a local stack, where one process holds both)."""
    keys = [load_public_key(k) for k in public_keys.split(",") if k.strip()]
    if not keys and signing_key:
        keys = [load_signing_key(signing_key).public_key()]
    return {key_id(k): k for k in keys}


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(key: Ed25519PrivateKey, document: dict[str, Any]) -> str:
    return base64.b64encode(key.sign(canonical(document))).decode()


def signature_holds(key: Ed25519PublicKey, document: dict[str, Any], signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), canonical(document))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
