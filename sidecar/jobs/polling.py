"""The claim loop every queue worker of the sidecar runs (notifications, Cal.com pushes, DICOM
ingestion, CDSS analyses, payment link cancels)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


async def poll(
    run_once: Callable[[], Awaitable[int]],
    stop: asyncio.Event,
    poll_seconds: float,
    log: logging.Logger,
    failure: str,
) -> None:
    """Runs `run_once` (claims a batch, settles it, answers how many rows it claimed) until
    `stop`: again at once while it finds work, after `poll_seconds` when it finds none, and
    while it fails (the Supabase API down or refusing) after a pause that doubles up to a
    minute, logging `failure` with the error."""
    pause = poll_seconds
    while not stop.is_set():
        try:
            claimed = await run_once()
            pause = poll_seconds
        except Exception:
            log.exception(failure)
            claimed, pause = 0, min(pause * 2, 60.0)
        if claimed == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)
