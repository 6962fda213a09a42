"""What devstack's Storage is configured with: where the bytes live (CAREBASE_STORAGE_DIR,
default `.local/storage`) and the project-wide upload limit, `[storage] file_size_limit` of
supabase/config.toml as the Supabase CLI reads it (50MiB when unset)."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from devstack.config import Settings

DEFAULT_FILE_SIZE_LIMIT = "50MiB"
# The CLI reads sizes as go-units' RAMInBytes: every unit is a power of 1024, "MB" as "MiB".
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@dataclass(frozen=True)
class StorageConfig:
    root: Path
    file_size_limit: int  # bytes: no upload, standard or resumable, may be larger
    jwt_secret: str

    @classmethod
    def from_settings(cls, settings: Settings) -> StorageConfig:
        root = os.environ.get("CAREBASE_STORAGE_DIR") or str(settings.local_dir / "storage")
        config_file = settings.repo_root / "supabase" / "config.toml"
        storage = {}
        if config_file.exists():
            storage = tomllib.loads(config_file.read_text()).get("storage", {})
        limit = str(storage.get("file_size_limit") or DEFAULT_FILE_SIZE_LIMIT)
        return cls(Path(root), parse_size(limit), settings.jwt_secret)


def parse_size(text: str) -> int:
    """Bytes of a size written as the Supabase CLI accepts it: "50MiB", "1GB", "1024"."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
