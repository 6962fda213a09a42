"""The channels joined in this gateway worker, by topic, and the delivery of each announced
message to them. Private and public channels of one name are different audiences, as in
Supabase Realtime: a message reaches only the channels of its own kind."""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol

from devstack.realtime.database import Message
from devstack.realtime.frames import Broadcast


class Subscriber(Protocol):
    """A joined channel of one socket."""

    origin: str  # its socket, "<worker>:<socket id>"
    self_broadcast: bool

    def deliver(self, broadcast: Broadcast) -> None: ...


class Hub:
    def __init__(self) -> None:
        self._subscribers: defaultdict[tuple[str, bool], set[Subscriber]] = defaultdict(set)

    def add(self, topic: str, private: bool, subscriber: Subscriber) -> None:
        self._subscribers[(topic, private)].add(subscriber)

    def remove(self, topic: str, private: bool, subscriber: Subscriber) -> None:
        audience = self._subscribers.get((topic, private))
        if audience is not None:
            audience.discard(subscriber)
            if not audience:
                del self._subscribers[(topic, private)]

    async def deliver(self, message: Message) -> None:
        audience = self._subscribers.get((message.topic, message.private))
        if not audience:
            return
        # A message from the database carries its id as Realtime's `meta`; a client's does not.
        meta = {"id": message.id} if message.origin is None else None
        broadcast = Broadcast(
            f"realtime:{message.topic}", message.event or "", message.payload, meta
        )
        for subscriber in list(audience):
            if message.origin == subscriber.origin and not subscriber.self_broadcast:
                continue
            subscriber.deliver(broadcast)
