"""Where exported audit anchors are kept: an append-only store outside the database's reach.

The store interface is three calls: list the anchors' names, read one, and create one under a
new name, failing if the name is taken (so an anchor is never overwritten, and two workers
racing for the same number cannot both win). Anchors are never deleted by carebase: the
audit trail is kept 7 years, and so are they.

`DirectoryAnchorStore` (CAREBASE_AUDIT_ANCHOR_DIR) is the local one: one read-only file per
anchor, published by a hard link, which fails if the name exists. In production the same
interface belongs in front of write-once object storage in an account the database's
administrators do not control, e.g. an S3 bucket with Object Lock in compliance mode and a
7-year default retention, written with `If-None-Match: *` by credentials only the sidecar
holds (see docs/field-encryption.md, "Exported anchors").
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path
from typing import Protocol

_NAME = re.compile(r"^anchor-(\d{12})\.json$")


class AnchorExists(Exception):
    """The name is taken: another worker exported this anchor first."""


class AnchorStore(Protocol):
    def names(self) -> list[str]:
        """Every anchor's name, in number order."""
        ...

    def read(self, name: str) -> bytes: ...

    def create(self, name: str, content: bytes) -> str:
        """Stores a new anchor; returns where it went. Raises AnchorExists if the name is taken."""
        ...


def anchor_name(number: int) -> str:
    return f"anchor-{number:012d}.json"


def anchor_number(name: str) -> int | None:
    match = _NAME.match(name)
    return int(match.group(1)) if match else None


class DirectoryAnchorStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if anchor_number(p.name) is not None)

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def create(self, name: str, content: bytes) -> str:
        if anchor_number(name) is None:
            raise ValueError(f"not an anchor name: {name}")
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / name
        # Written whole under a temporary name, then linked to its own: the link fails if the
        # name exists, and a reader never sees half a file.
        draft = self.root / f".draft-{uuid.uuid4().hex}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(draft, target)
            except FileExistsError:
                raise AnchorExists(name) from None
        finally:
            draft.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            directory = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        return str(target)
