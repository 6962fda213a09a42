"""One private Supabase Realtime channel watched as a user: has anything been broadcast?

The sidecar's live streams (sidecar/routes/analytics.py) wait on it instead of polling: the
database broadcasts a key when a hospital's numbers move (live events, carried only as ids),
and each stream then re-reads what changed through the Supabase API with the viewer's own
token. The channel is joined with that token, so Realtime's RLS on realtime.messages decides
whether the viewer may hear the topic at all, and closes it when the token expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Any

from realtime import AsyncRealtimeClient, RealtimeSubscribeStates

log = logging.getLogger("sidecar.realtime")


class TopicWatcher:
    """`async with TopicWatcher(url, apikey, token, topic) as watcher: await watcher.wait(15)`."""

    def __init__(self, supabase_url: str, apikey: str, access_token: str, topic: str) -> None:
        self.client = AsyncRealtimeClient(
            f"{supabase_url.rstrip('/')}/realtime/v1", apikey, auto_reconnect=False
        )
        self.access_token = access_token
        self.topic = topic
        self.changed = asyncio.Event()
        # False once the channel is closed or failed (an expired token, a refused join).
        self.open = False

    def _state(self, state: RealtimeSubscribeStates, error: Exception | None) -> None:
        self.open = state == RealtimeSubscribeStates.SUBSCRIBED
        if not self.open:
            log.info("live channel %s is %s", self.topic, state, extra={"error": str(error or "")})
            self.changed.set()

    def _broadcast(self, _: dict[str, Any]) -> None:
        self.changed.set()

    async def __aenter__(self) -> TopicWatcher:
        await self.client.connect()
        await self.client.set_auth(self.access_token)
        channel = self.client.channel(
            self.topic, {"config": {"broadcast": {"self": False}, "private": True}}
        )
        channel.on_broadcast("*", self._broadcast)
        await channel.subscribe(self._state)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            await self.client.close()

    async def wait(self, timeout: float) -> bool:
        """True when something was broadcast (or the channel closed) within `timeout` seconds."""
        try:
            await asyncio.wait_for(self.changed.wait(), timeout)
        except TimeoutError:
            return False
        self.changed.clear()
        return True
