"""The audit anchor exporter: signs the audit chain and writes it outside the database.

Run by the sidecar's worker (`carebase worker`) once at start and then every
CAREBASE_AUDIT_ANCHOR_INTERVAL seconds (an hour at most). Each round asks the database, through
the service-role RPC `audit_anchor_segment`, for the rows after the last exported anchor, signs
the segment with the worker's Ed25519 key (sidecar/jobs/anchor_signing.py) and creates the
next anchor in the store (sidecar/jobs/anchor_store.py), never overwriting one; then records it
in audit.anchors through `record_audit_anchor`, so that the in-database verification checks
against it too. A long stretch is anchored in several anchors of at most
CAREBASE_AUDIT_ANCHOR_MAX_ROWS rows. Rounds with no new row write nothing.

The exporter does not judge the chain, it only anchors it; but when the row its last anchor
names no longer has the anchored hash, or the head is behind it, it logs an error at once
(run `carebase audit verify` to see which row).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.jobs import anchor_document, anchor_signing
from sidecar.jobs.anchor_document import Anchor
from sidecar.jobs.anchor_store import AnchorExists, AnchorStore, DirectoryAnchorStore, anchor_name
from sidecar.observability import request_id
from sidecar.settings import SidecarSettings

log = logging.getLogger("sidecar.audit_anchors")

# After a failed round, try again this soon (or at the interval, if that is sooner).
RETRY_SECONDS = 60.0


class StoreNeedsAttention(Exception):
    """The newest stored anchor cannot be chained after (damaged or not ours)."""


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class AnchorExporter:
    settings: SidecarSettings
    supabase: SupabaseApi
    store: AnchorStore
    key: Ed25519PrivateKey

    @classmethod
    def from_settings(cls, settings: SidecarSettings, supabase: SupabaseApi) -> AnchorExporter:
        key = anchor_signing.load_signing_key(settings.audit_anchor_signing_key)
        return cls(settings, supabase, DirectoryAnchorStore(settings.audit_anchor_dir), key)

    @property
    def trusted(self) -> dict[str, Ed25519PublicKey]:
        keys = anchor_signing.trusted_keys(self.settings.audit_anchor_public_keys)
        own = self.key.public_key()
        return {**keys, anchor_signing.key_id(own): own}

    async def _rpc(self, function: str, params: dict[str, Any]) -> Any:
        return (await self.supabase.as_service().rpc(function, params).execute()).data

    def latest(self) -> Anchor | None:
        names = self.store.names()
        if not names:
            return None
        try:
            anchor = anchor_document.parse(names[-1], self.store.read(names[-1]))
        except anchor_document.UnreadableAnchor as error:
            raise StoreNeedsAttention(f"{names[-1]} is unreadable: {error}") from None
        key = self.trusted.get(anchor.key_id)
        if key is None or not anchor.signed_by(key):
            raise StoreNeedsAttention(f"{names[-1]} is not signed by a trusted key")
        return anchor

    async def export_once(self) -> list[Anchor]:
        """Anchors every row not anchored yet; returns the anchors it wrote."""
        token = request_id.set(f"audit-anchors-{uuid.uuid4().hex[:12]}")
        try:
            return await self._export()
        finally:
            request_id.reset(token)

    async def _export(self) -> list[Anchor]:
        written: list[Anchor] = []
        while True:
            previous = self.latest()
            after = previous.seq if previous else 0
            [segment] = await self._rpc(
                "audit_anchor_segment",
                {"after_seq": after, "max_rows": self.settings.audit_anchor_max_rows},
            )
            if previous and segment["after_hash"] != previous.hash:
                log.error(
                    "the audit chain no longer matches the last exported anchor: row %s has "
                    "another hash than %s recorded; run `carebase audit verify`",
                    after,
                    previous.describe(),
                    extra={"seq": after, "anchor": previous.number},
                )
            if segment["seq"] is None:
                if segment["head_seq"] < after:
                    log.error(
                        "the audit chain head (row %s) is behind the last exported anchor (%s): "
                        "its tail was cut off; run `carebase audit verify`",
                        segment["head_seq"],
                        previous.describe() if previous else "none",
                    )
                return written
            number = previous.number + 1 if previous else 1
            anchor = anchor_document.build(
                self.key,
                number=number,
                from_seq=segment["from_seq"],
                seq=segment["seq"],
                hash_=segment["hash"],
                occurred_at=utc_text(datetime.fromisoformat(segment["occurred_at"])),
                fingerprints=bytes.fromhex(segment["fingerprints"]),
                previous=previous,
                signed_at=utc_text(datetime.now(UTC)),
                name=anchor_name(number),
            )
            try:
                location = self.store.create(anchor.name, anchor.content)
            except AnchorExists:
                continue  # another worker exported this number: chain after theirs
            written.append(anchor)
            log.info(
                "audit chain anchored",
                extra={"anchor": number, "seq": anchor.seq, "from_seq": anchor.from_seq},
            )
            await self._record(anchor, location)
            if anchor.seq >= segment["head_seq"]:
                return written

    async def _record(self, anchor: Anchor, location: str) -> None:
        """Best effort: the exported file is the anchor; the database's copy is a convenience."""
        try:
            await self._rpc(
                "record_audit_anchor",
                {
                    "seq": anchor.seq,
                    "hash": anchor.hash,
                    "exported_number": anchor.number,
                    "key_id": anchor.key_id,
                    "signature": anchor.signature,
                    "location": location,
                },
            )
        except Exception:
            log.exception(
                "recording the exported anchor in audit.anchors failed",
                extra={"anchor": anchor.number},
            )

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.settings.audit_anchor_interval
        log.info(
            "audit anchor exporter started",
            extra={
                "store": str(getattr(self.store, "root", self.store)),
                "key_id": anchor_signing.key_id(self.key.public_key()),
                "interval_seconds": interval,
            },
        )
        while not stop.is_set():
            pause = interval
            try:
                await self.export_once()
            except StoreNeedsAttention as error:
                log.error("no audit anchor exported: the anchor store needs attention: %s", error)
            except Exception:
                log.exception("exporting the audit anchor failed; retrying")
                pause = min(interval, RETRY_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)
