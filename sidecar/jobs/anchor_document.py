"""One exported audit anchor: what is signed, and the file it is stored as.

The signed document says: "row `seq` of the audit chain had hash `hash` (written at
`occurred_at`), and rows `from_seq`..`seq` had hashes beginning with `fingerprints` (8 bytes
each), as read at `signed_at`; the anchor before this one is number `number - 1`, whose file
has SHA-256 `previous.file_sha256`". The fingerprints let a verifier name the first row of a
rewritten stretch, not only the anchor that no longer matches; the link to the previous file
makes a removed or replaced anchor visible.

The file is JSON: {"anchor": <the signed document>, "signature": <base64 Ed25519>}.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sidecar.jobs import anchor_signing

FORMAT = "carebase-audit-anchor/1"
FINGERPRINT_BYTES = 8
GENESIS_HASH = hashlib.sha256(b"carebase audit chain genesis").hexdigest()


class UnreadableAnchor(ValueError):
    """A stored anchor that is not one (damaged, or not written by carebase)."""


@dataclass(frozen=True)
class Anchor:
    name: str
    content: bytes  # the file as stored
    document: dict[str, Any]
    signature: str

    @property
    def number(self) -> int:
        return self.document["number"]

    @property
    def seq(self) -> int:
        return self.document["seq"]

    @property
    def from_seq(self) -> int:
        return self.document["from_seq"]

    @property
    def hash(self) -> str:
        return self.document["hash"]

    @property
    def signed_at(self) -> str:
        return self.document["signed_at"]

    @property
    def key_id(self) -> str:
        return self.document["key_id"]

    @property
    def previous(self) -> dict[str, Any] | None:
        return self.document["previous"]

    @property
    def file_sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def fingerprint(self, seq: int) -> bytes:
        """The first bytes of row `seq`'s hash as anchored (from_seq <= seq <= self.seq)."""
        at = (seq - self.from_seq) * FINGERPRINT_BYTES
        return base64.b64decode(self.document["fingerprints"])[at : at + FINGERPRINT_BYTES]

    def signed_by(self, key: Ed25519PublicKey) -> bool:
        return anchor_signing.signature_holds(key, self.document, self.signature)

    def describe(self) -> str:
        return (
            f"anchor #{self.number} (rows {self.from_seq}-{self.seq}, signed {self.signed_at} "
            f"by key {self.key_id})"
        )


def build(
    key: Ed25519PrivateKey,
    *,
    number: int,
    from_seq: int,
    seq: int,
    hash_: str,
    occurred_at: str,
    fingerprints: bytes,
    previous: Anchor | None,
    signed_at: str,
    name: str,
) -> Anchor:
    if len(fingerprints) != (seq - from_seq + 1) * FINGERPRINT_BYTES:
        raise ValueError("one fingerprint per row from from_seq to seq")
    document = {
        "format": FORMAT,
        "number": number,
        "from_seq": from_seq,
        "seq": seq,
        "hash": hash_,
        "occurred_at": occurred_at,
        "fingerprints": base64.b64encode(fingerprints).decode(),
        "previous": None
        if previous is None
        else {
            "number": previous.number,
            "seq": previous.seq,
            "hash": previous.hash,
            "file_sha256": previous.file_sha256,
        },
        "signed_at": signed_at,
        "key_id": anchor_signing.key_id(key.public_key()),
    }
    signature = anchor_signing.sign(key, document)
    content = (json.dumps({"anchor": document, "signature": signature}, indent=2) + "\n").encode()
    return Anchor(name, content, document, signature)


def parse(name: str, content: bytes) -> Anchor:
    """The anchor a stored file holds; UnreadableAnchor when it holds none."""
    try:
        outer = json.loads(content)
        document, signature = outer["anchor"], outer["signature"]
        if document.get("format") != FORMAT:
            raise UnreadableAnchor(f"its format is {document.get('format')!r}, not {FORMAT}")
        for field, kind in (
            ("number", int),
            ("from_seq", int),
            ("seq", int),
            ("hash", str),
            ("fingerprints", str),
            ("signed_at", str),
            ("key_id", str),
        ):
            if not isinstance(document.get(field), kind):
                raise UnreadableAnchor(f"its {field} is missing or not a {kind.__name__}")
        if not isinstance(signature, str):
            raise UnreadableAnchor("its signature is not a string")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        if isinstance(error, UnreadableAnchor):
            raise
        raise UnreadableAnchor(f"it is not an anchor file ({error})") from None
    return Anchor(name, content, document, signature)
