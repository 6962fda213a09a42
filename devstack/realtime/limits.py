"""The limits that keep one gateway worker's Realtime healthy, from the environment with
Supabase Realtime's defaults where it has them."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


@dataclass(frozen=True)
class Limits:
    channels_per_socket: int = 100  # Realtime's max_channels_per_client
    max_payload_bytes: int = 256 * 1024  # a broadcast as sent; larger ones are refused
    max_frame_bytes: int = 1024 * 1024  # any frame; a larger one closes the socket
    send_queue: int = 1000  # frames waiting for a slow client before it is dropped
    idle_timeout: float = 60.0  # Phoenix's: no frame (not even a heartbeat) for this long

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            channels_per_socket=_int("CAREBASE_REALTIME_MAX_CHANNELS", 100),
            max_payload_bytes=_int("CAREBASE_REALTIME_MAX_PAYLOAD_BYTES", 256 * 1024),
            send_queue=_int("CAREBASE_REALTIME_SEND_QUEUE", 1000),
        )
