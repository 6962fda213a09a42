"""Runs the notification worker in-process until nothing it can send is due.

An empty batch alone does not prove the queue drained: rows the database settles while claiming
them (no device token, contact withdrawn) are not handed out, and a claim goes on past them for
at most 50 rounds (20261214200000). So the drain asks the database whether anything of the
worker's channels is still due, whatever the demo data queued through the day.
"""

from __future__ import annotations

import asyncio

import httpx
import psycopg

from devstack.config import Settings
from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.jobs.notifications import Channels, Worker
from sidecar.settings import SidecarSettings


def anything_due(channels: list[str]) -> bool:
    with psycopg.connect(Settings.from_env().dsn()) as conn:
        row = conn.execute(
            "select exists (select from private.outbox as o where o.channel = any(%s)"
            " and ((o.state = 'pending' and o.deliver_after <= now())"
            " or (o.state = 'processing' and o.lease_until <= now())))",
            (channels,),
        ).fetchone()
    return bool(row and row[0])


def deliver(settings: SidecarSettings, workers: int = 1) -> int:
    """Runs `workers` workers side by side until nothing is due; returns the rows claimed."""

    async def drain(worker: Worker) -> int:
        total = 0
        while True:
            claimed = await worker.run_once()
            total += claimed
            if not claimed and not anything_due(worker.channels.names):
                return total

    async def run() -> int:
        async with httpx.AsyncClient(timeout=settings.delivery_timeout) as http:
            api = SupabaseApi(settings, http)
            team = [
                Worker(settings, api, Channels.from_settings(settings, http))
                for _ in range(workers)
            ]
            return sum(await asyncio.gather(*(drain(w) for w in team)))

    return asyncio.run(run())
