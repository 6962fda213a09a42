"""Verifies the audit chain against the exported, signed anchors.

The database's own check (`verify_audit_chain`) cannot catch its owner: `postgres` can edit a
row and recompute every later hash, the head and the anchors kept inside. This verifier trusts
only the anchors in the store and the public keys it is given:

1. the store: every anchor file parses, is signed by a trusted key, follows the one before it
   (number, seq and SHA-256 of that file) and none is missing; every exported anchor the
   database recorded is still in the store, unchanged;
2. the chain: it reads every row the database shows (service-role RPC `audit_log_canonical`),
   re-hashes each row's canonical text itself (not with the database's functions), checks that
   it links to the row before, and compares each hash with the fingerprint and, at the
   anchor's row, the full hash the anchors signed. The first row that differs is named, with
   the anchor that proves it: a re-hash by the owner cannot make a signed anchor agree.

Rows after the last anchor are checked for links and content but are not yet anchored: that
window (at most the export interval) is reported.

Archived stretches (issue 21 retention: `audit_archived_runs`, audit.archived_runs with their
audit.archives record) stand in for their rows, as in `verify_audit_chain`: a stretch must link
to the row before it, the row after it to the stretch's last hash, and an anchor ending in it
or fingerprinting its last row must agree with that hash. A stretch is accepted only with its
archive record, which must be past the retention period (7 years, seed 002) when it was
archived, not in the future, and every signed anchor that covered its rows must have been signed
by the end of the archived month (plus the slack of a late export): rows the anchors prove
recent cannot be passed off as archived. The archived rows' content is the archive file's to
prove (its sha256 is in audit.archives).

`carebase audit verify` or `python -m sidecar.jobs.anchor_verification`; exit status 0 when
the chain verifies, 1 when it does not, 2 when the verifier is not configured.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.jobs import anchor_document, anchor_signing
from sidecar.jobs.anchor_document import GENESIS_HASH, Anchor
from sidecar.jobs.anchor_store import AnchorStore, DirectoryAnchorStore, anchor_name, anchor_number
from sidecar.settings import SidecarSettings, get_settings

PAGE_ROWS = 2000
# Seed 002: audit entries are kept 7 years (private.audit_retention_period).
RETENTION = timedelta(days=7 * 365 + 1)
# How long after an archived month's end an anchor covering its rows may have been signed (a
# worker stopped for a while exports late).
ANCHOR_SLACK = timedelta(days=31)


@dataclass(frozen=True)
class Problem:
    """One thing that does not verify. `kind` is stable (for tools); `message` is for people."""

    kind: str
    message: str
    seq: int | None = None
    anchor: int | None = None
    signed_at: str | None = None


@dataclass
class Report:
    anchors: int = 0  # anchors whose signature verified
    rows: int = 0  # rows re-hashed
    archived_rows: int = 0  # rows passed over as archived after the retention period
    head_seq: int = 0
    anchored_seq: int = 0  # the last row a valid anchor covers
    last_signed_at: str | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [
            f"audit anchors: {self.anchors} signed anchor(s) verified; "
            f"{self.rows} row(s) re-hashed; chain head at row {self.head_seq}"
        ]
        if self.archived_rows:
            out.append(
                f"  {self.archived_rows} row(s) archived after the retention period "
                "(linked through their archive records)"
            )
        if self.head_seq > self.anchored_seq:
            since = f", last anchor signed {self.last_signed_at}" if self.last_signed_at else ""
            out.append(
                f"  rows {self.anchored_seq + 1}-{self.head_seq} are not anchored yet{since}"
            )
        out += [f"  PROBLEM [{p.kind}] {p.message}" for p in self.problems]
        out.append("the audit chain verifies" if self.ok else "the audit chain does NOT verify")
        return out


class _ChainBroken(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def load_anchors(
    store: AnchorStore, keys: dict[str, Ed25519PublicKey], report: Report
) -> list[Anchor]:
    """The anchors whose signature verifies, in number order; every store problem reported."""
    by_number: dict[int, Anchor | None] = {}
    for name in store.names():
        number = anchor_number(name)
        assert number is not None
        try:
            anchor = anchor_document.parse(name, store.read(name))
        except anchor_document.UnreadableAnchor as error:
            report.problems.append(
                Problem(
                    "anchor_unreadable",
                    f"anchor #{number} ({name}) is unreadable: {error}",
                    anchor=number,
                )
            )
            by_number[number] = None
            continue
        key = keys.get(anchor.key_id)
        if key is None:
            report.problems.append(
                Problem(
                    "anchor_unknown_key",
                    f"anchor #{number} ({name}) is signed by key {anchor.key_id}, "
                    "which is not a trusted key",
                    anchor=number,
                )
            )
            by_number[number] = None
        elif not anchor.signed_by(key):
            report.problems.append(
                Problem(
                    "anchor_bad_signature",
                    f"anchor #{number} ({name}): its signature does not verify; the file was "
                    "changed after it was signed",
                    anchor=number,
                )
            )
            by_number[number] = None
        elif anchor.number != number:
            report.problems.append(
                Problem(
                    "anchor_renamed",
                    f"{name} holds anchor #{anchor.number}, signed {anchor.signed_at}",
                    anchor=number,
                )
            )
            by_number[number] = None
        else:
            by_number[number] = anchor

    for number in range(1, max(by_number, default=0) + 1):
        if number not in by_number:
            report.problems.append(
                Problem(
                    "anchor_missing",
                    f"anchor #{number} ({anchor_name(number)}) is missing from the store",
                    anchor=number,
                )
            )

    valid = [a for _, a in sorted(by_number.items()) if a is not None]
    for anchor in valid:
        before = by_number.get(anchor.number - 1)
        link = anchor.previous
        if anchor.number == 1:
            consistent = link is None and anchor.from_seq == 1
        elif before is None:
            continue  # already reported: missing, unreadable or not validly signed
        else:
            consistent = (
                link is not None
                and link.get("number") == before.number
                and link.get("file_sha256") == before.file_sha256
                and anchor.from_seq == before.seq + 1
            )
        if not consistent:
            report.problems.append(
                Problem(
                    "anchor_chain_broken",
                    f"{anchor.describe()} does not follow the anchor stored before it "
                    f"(#{anchor.number - 1} was replaced, or rows were skipped)",
                    anchor=anchor.number,
                    signed_at=anchor.signed_at,
                )
            )
    report.anchors = len(valid)
    return valid


class ChainVerifier:
    def __init__(
        self,
        supabase: SupabaseApi,
        store: AnchorStore,
        keys: dict[str, Any],
        retention: timedelta = RETENTION,
    ) -> None:
        self.supabase = supabase
        self.store = store
        self.keys = keys
        self.retention = retention

    async def _rpc(self, function: str, params: dict[str, Any] | None = None) -> Any:
        return (await self.supabase.as_service().rpc(function, params or {}).execute()).data

    async def verify(self) -> Report:
        report = Report()
        anchors = load_anchors(self.store, self.keys, report)
        [head] = await self._rpc("audit_chain_head")
        report.head_seq = head["seq"]
        if anchors:
            report.anchored_seq = max(a.seq for a in anchors)
            report.last_signed_at = max(anchors, key=lambda a: a.seq).signed_at
        try:
            await self._walk(anchors, head, report)
        except _ChainBroken as broken:
            report.problems.append(broken.problem)
        await self._compare_recorded(anchors, report)
        return report

    async def _compare_recorded(self, anchors: list[Anchor], report: Report) -> None:
        """Every anchor the database recorded as exported must still be in the store."""
        stored = {a.number: a for a in anchors}
        names = set(self.store.names())
        for recorded in await self._rpc("audit_exported_anchors"):
            number = recorded["exported_number"]
            anchor = stored.get(number)
            if anchor is None and anchor_name(number) not in names:
                report.problems.append(
                    Problem(
                        "anchor_missing",
                        f"anchor #{number} (row {recorded['seq']}, recorded in the database "
                        f"{recorded['anchored_at']}) is not in the store",
                        seq=recorded["seq"],
                        anchor=number,
                    )
                )
            elif anchor is not None and (anchor.seq, anchor.hash) != (
                recorded["seq"],
                recorded["hash"],
            ):
                # The stored anchor's signature holds: the database's copy was changed.
                report.problems.append(
                    Problem(
                        "recorded_anchor_rewritten",
                        f"audit.anchors no longer holds {anchor.describe()} as it was exported: "
                        f"it says row {recorded['seq']} had hash {recorded['hash'][:16]}...",
                        seq=recorded["seq"],
                        anchor=number,
                        signed_at=anchor.signed_at,
                    )
                )

    async def _walk(self, anchors: list[Anchor], head: dict[str, Any], report: Report) -> None:
        covering: dict[int, Anchor] = {}
        for anchor in anchors:
            for seq in range(anchor.from_seq, anchor.seq + 1):
                covering.setdefault(seq, anchor)
        ends = {a.seq: a for a in anchors}
        runs = {r["first_seq"]: r for r in await self._rpc("audit_archived_runs")}
        last = max(head["seq"], report.anchored_seq)
        running, expected = GENESIS_HASH, 1
        while expected <= last:
            run = runs.get(expected)
            if run is not None:
                running = self._pass_run(run, running, anchors, covering, ends)
                report.archived_rows += run["last_seq"] - run["first_seq"] + 1
                expected = run["last_seq"] + 1
                continue
            next_run = min((first for first in runs if first > expected), default=last + 1)
            stop = min(expected + PAGE_ROWS - 1, last, next_run - 1)
            rows = await self._rpc("audit_log_canonical", {"from_seq": expected, "to_seq": stop})
            for row in rows:
                running = self._check_row(row, expected, running, covering, ends)
                expected += 1
                report.rows += 1
            if expected <= stop:
                break  # rows are missing from here
        if expected <= last:
            anchor = covering.get(expected) or (anchors[-1] if anchors else None)
            if head["seq"] < report.anchored_seq and expected > head["seq"]:
                raise _ChainBroken(
                    Problem(
                        "tail_truncated",
                        f"the tail was cut off: {anchor.describe() if anchor else 'an anchor'} "
                        f"covers row {report.anchored_seq}; the chain ends at row {expected - 1}",
                        seq=expected,
                        anchor=anchor.number if anchor else None,
                        signed_at=anchor.signed_at if anchor else None,
                    )
                )
            raise _ChainBroken(self._missing(expected, last, covering))
        if head["seq"] < report.anchored_seq:
            anchor = anchors[-1]
            raise _ChainBroken(
                Problem(
                    "tail_truncated",
                    f"the chain head (row {head['seq']}) was moved back behind {anchor.describe()}",
                    seq=head["seq"],
                    anchor=anchor.number,
                    signed_at=anchor.signed_at,
                )
            )
        if head["seq"] > 0 and head["hash"] != running:
            raise _ChainBroken(
                Problem(
                    "head_mismatch",
                    f"the chain head does not match row {head['seq']}",
                    seq=head["seq"],
                )
            )

    def _pass_run(
        self,
        run: dict[str, Any],
        running: str,
        anchors: list[Anchor],
        covering: dict[int, Anchor],
        ends: dict[int, Anchor],
    ) -> str:
        """The last hash of an archived stretch, once it checks out; else _ChainBroken."""
        first, last = run["first_seq"], run["last_seq"]
        what = f"the archived rows {first}-{last}"

        def broken(kind: str, message: str, anchor: Anchor | None = None) -> _ChainBroken:
            return _ChainBroken(
                Problem(
                    kind,
                    message,
                    seq=first,
                    anchor=anchor.number if anchor else None,
                    signed_at=anchor.signed_at if anchor else None,
                )
            )

        if run["partition_name"] is None or not (
            run["archive_first_seq"] <= first and last <= run["archive_last_seq"]
        ):
            raise broken(
                "archive_unrecorded",
                f"{what} have no archive record that holds them (audit.archives): rows removed "
                "without being archived",
            )
        what += f" ({run['partition_name']})"
        range_to = datetime.fromisoformat(run["range_to"])
        archived_at = datetime.fromisoformat(run["archived_at"])
        if range_to + self.retention > archived_at or archived_at > datetime.now(UTC):
            raise broken(
                "archived_too_early",
                f"{what} were archived {run['archived_at']}, before the retention period after "
                f"{run['range_to']} ended (or in the future)",
            )
        for anchor in anchors:
            if (
                anchor.from_seq <= last
                and anchor.seq >= first
                and datetime.fromisoformat(anchor.signed_at) > range_to + ANCHOR_SLACK
            ):
                raise broken(
                    "archived_too_early",
                    f"{what} are recent: {anchor.describe()} covered them, long after their "
                    f"month ended ({run['range_to']})",
                    anchor,
                )
        if run["first_prev_hash"] != running:
            raise broken("row_rewritten", f"{what} do not link to row {first - 1} as it stands")
        anchor = covering.get(last)
        if anchor is not None and (
            bytes.fromhex(run["last_hash"])[: anchor_document.FINGERPRINT_BYTES]
            != anchor.fingerprint(last)
            or (last in ends and ends[last].hash != run["last_hash"])
        ):
            raise broken(
                "row_rewritten",
                f"{what} end with a hash that is not the one {anchor.describe()} recorded",
                anchor,
            )
        return run["last_hash"]

    @staticmethod
    def _missing(seq: int, until: int, covering: dict[int, Anchor]) -> Problem:
        anchor = covering.get(seq)
        proof = f"; {anchor.describe()} recorded it" if anchor else ""
        return Problem(
            "rows_missing",
            f"row {seq} is missing (the chain should reach row {until}){proof}",
            seq=seq,
            anchor=anchor.number if anchor else None,
            signed_at=anchor.signed_at if anchor else None,
        )

    def _check_row(
        self,
        row: dict[str, Any],
        expected: int,
        running: str,
        covering: dict[int, Anchor],
        ends: dict[int, Anchor],
    ) -> str:
        seq = row["seq"]
        anchor = covering.get(seq)
        what = (
            f"row {seq} ({row['action']} {row['table_name']} {row['row_id'] or ''}, "
            f"{row['occurred_at']})"
        )

        def broken(kind: str, message: str) -> _ChainBroken:
            return _ChainBroken(
                Problem(
                    kind,
                    message,
                    seq=seq,
                    anchor=anchor.number if anchor else None,
                    signed_at=anchor.signed_at if anchor else None,
                )
            )

        if seq < expected:
            raise broken("row_duplicated", f"row {seq} appears more than once")
        if seq > expected:
            raise _ChainBroken(self._missing(expected, seq, covering))
        try:
            fields = json.loads(row["canonical"])
            linked_to, content_seq = fields[-1], fields[0]
        except (ValueError, IndexError, TypeError):
            raise broken("row_altered", f"{what} cannot be read back") from None
        actual = hashlib.sha256(row["canonical"].encode()).hexdigest()
        signed_by = f"{anchor.describe()}" if anchor else "no anchor yet"
        if content_seq != seq or actual != row["hash"]:
            raise broken(
                "row_altered",
                f"{what} was altered: its content does not match its hash ({signed_by})",
            )
        if linked_to != running:
            raise broken(
                "row_rewritten",
                f"{what} does not link to row {seq - 1} as it stands ({signed_by})",
            )
        if anchor is not None and (
            bytes.fromhex(actual)[: anchor_document.FINGERPRINT_BYTES] != anchor.fingerprint(seq)
            or (seq in ends and ends[seq].hash != actual)
        ):
            raise broken(
                "row_rewritten",
                f"{what} was rewritten after it was anchored: its hash is not the one "
                f"{anchor.describe()} recorded",
            )
        return actual


async def verify(settings: SidecarSettings, store: AnchorStore, keys: dict[str, Any]) -> Report:
    async with httpx.AsyncClient(timeout=settings.supabase_timeout) as http:
        return await ChainVerifier(SupabaseApi(settings, http), store, keys).verify()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="carebase audit verify",
        description="verify the audit chain against the exported, signed anchors",
    )
    parser.add_argument("--dir", help="the anchor directory (CAREBASE_AUDIT_ANCHOR_DIR)")
    parser.add_argument(
        "--public-key",
        action="append",
        default=[],
        help="a trusted public key, base64 (repeatable; CAREBASE_AUDIT_ANCHOR_PUBLIC_KEYS)",
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        keys = anchor_signing.trusted_keys(
            ",".join(args.public_key) or settings.audit_anchor_public_keys,
            settings.audit_anchor_signing_key,
        )
    except anchor_signing.AnchorKeyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not keys:
        print(
            "error: no trusted public key: set CAREBASE_AUDIT_ANCHOR_PUBLIC_KEYS "
            "or pass --public-key",
            file=sys.stderr,
        )
        return 2
    store = DirectoryAnchorStore(args.dir or settings.audit_anchor_dir)
    report = asyncio.run(verify(settings, store, keys))
    print(f"anchor store {getattr(store, 'root', store)}; trusted key(s) {', '.join(sorted(keys))}")
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
