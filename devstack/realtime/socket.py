"""One client's websocket: its channels, what each Phoenix event does, and the limits that
keep one gateway worker healthy (channels per socket, message size, a bounded send queue that
drops a client too slow to read rather than buffering for it without end).

Join (with its postgres_changes bindings), leave, heartbeat, broadcast and access_token behave
as in Supabase Realtime (lib/realtime_web/channels/realtime_channel.ex): a private channel is
joined only when the user's RLS lets them read a probe message on its topic, a client broadcast
on it only when they may insert one; a channel whose token expires, or whose new token no
longer reads the topic, gets a `system` error message and is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
import psycopg
from starlette.websockets import WebSocket, WebSocketDisconnect

from devstack.gateway import tokens
from devstack.realtime import changes, database, frames
from devstack.realtime.hub import Hub
from devstack.realtime.limits import Limits

log = logging.getLogger("carebase.realtime")


@dataclass
class Rejected(Exception):
    """A join or token refused, with Realtime's reason (`Code: message`)."""

    reason: str


@dataclass(eq=False)
class Channel:
    socket: ClientSocket
    topic: str  # the full Phoenix topic, "realtime:<name>"
    join_ref: str | None
    private: bool
    self_broadcast: bool
    ack: bool
    claims: dict[str, Any]
    expiry: asyncio.Task | None = field(default=None, repr=False)
    bindings: list[changes.Binding] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        return self.topic.removeprefix("realtime:")

    @property
    def origin(self) -> str:
        return self.socket.origin

    def deliver_change(self, payload: dict[str, Any]) -> None:
        self.socket.send(
            self.socket.serializer.push(self.topic, "postgres_changes", payload, self.join_ref)
        )

    def deliver(self, broadcast: frames.Broadcast) -> None:
        try:
            self.socket.send(self.socket.serializer.broadcast(broadcast))
        except frames.BadFrame:  # a topic or event too long for the binary frame
            log.warning("realtime: a broadcast on %s could not be framed", self.topic)


class ClientSocket:
    def __init__(
        self,
        websocket: WebSocket,
        hub: Hub,
        context: RealtimeContext,
        serializer: frames.Serializer,
    ) -> None:
        self.websocket = websocket
        self.serializer = serializer
        self.hub = hub
        self.context = context
        self.origin = f"{context.worker}:{uuid.uuid4()}"
        self.channels: dict[str, Channel] = {}
        self.outbox: asyncio.Queue[str | bytes] = asyncio.Queue(context.limits.send_queue)
        self.overflowed = asyncio.Event()  # the client read too slowly: it is dropped
        self.token = context.token

    # ------------------------------------------------------------------ sending

    def send(self, data: str | bytes) -> None:
        """Queue a frame; a client that lets the queue fill is disconnected."""
        if self.overflowed.is_set():
            return
        try:
            self.outbox.put_nowait(data)
        except asyncio.QueueFull:
            log.warning("realtime: a client too slow to read was disconnected")
            self.overflowed.set()

    async def _writer(self) -> None:
        while True:
            data = await self.outbox.get()
            if isinstance(data, bytes):
                await self.websocket.send_bytes(data)
            else:
                await self.websocket.send_text(data)

    # ------------------------------------------------------------------ receiving

    async def serve(self) -> None:
        """Read frames until the client leaves, goes silent, breaks the protocol or is too
        slow to read what it is sent (then closed with 1008, its queue dropped)."""
        writer = asyncio.create_task(self._writer())
        overflow = asyncio.create_task(self.overflowed.wait())
        try:
            while True:
                receive = asyncio.create_task(self.websocket.receive())
                done, _ = await asyncio.wait(
                    {receive, overflow, writer},
                    timeout=self.context.limits.idle_timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if receive not in done:
                    receive.cancel()
                    break
                received = receive.result()
                if received["type"] == "websocket.disconnect":
                    break
                data = received.get("text") or received.get("bytes") or ""
                if len(data) > self.context.limits.max_frame_bytes:
                    log.warning("realtime: a frame over the size limit closed its socket")
                    break
                try:
                    frame = self.serializer.parse(data)
                except frames.BadFrame as bad:
                    log.info("realtime: closing a socket that sent a bad frame: %s", bad)
                    break
                await self._handle(frame)
        except WebSocketDisconnect:
            pass
        finally:
            for channel in list(self.channels.values()):
                self._drop(channel)
            for task in (writer, overflow):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.websocket.close(1008 if self.overflowed.is_set() else 1000), 2
                )

    async def _handle(self, frame: frames.Frame) -> None:
        if frame.topic == frames.PHOENIX and frame.event == "heartbeat":
            self.send(self.serializer.reply(frame, "ok", {}))
        elif frame.event == "phx_join":
            await self._join(frame)
        elif (channel := self.channels.get(frame.topic)) is None:
            # Phoenix's answer to a push on a channel the socket has not joined.
            self.send(self.serializer.reply(frame, "error", {"reason": "unmatched topic"}))
        elif frame.event == "phx_leave":
            self._drop(channel)
            self.send(self.serializer.reply(frame, "ok", {}))
        elif frame.event == "broadcast":
            await self._broadcast(channel, frame)
        elif frame.event == "access_token":
            await self._refresh(channel, frame.payload.get("access_token"))
        elif frame.event == "presence":
            self.send(
                self.serializer.reply(frame, "error", {"reason": "presence is not supported"})
            )
        # Anything else is ignored, as Realtime ignores (and only logs) unknown events.

    # ------------------------------------------------------------------ events

    async def _join(self, frame: frames.Frame) -> None:
        config = frame.payload.get("config") or {}
        try:
            if frame.topic in self.channels:
                self._drop(self.channels[frame.topic])  # a rejoin replaces the channel
            if not frame.topic.startswith("realtime:") or frame.topic == "realtime:":
                raise Rejected("TopicNameRequired: You must provide a topic name")
            if len(self.channels) >= self.context.limits.channels_per_socket:
                raise Rejected("ChannelRateLimitReached: Too many channels")
            token = frame.payload.get("access_token") or self.token
            claims = self._verify(token)
            broadcast = config.get("broadcast") or {}
            channel = Channel(
                self,
                frame.topic,
                frame.join_ref or frame.ref,
                private=bool(config.get("private")),
                self_broadcast=bool(broadcast.get("self")),
                ack=bool(broadcast.get("ack")),
                claims=claims,
            )
            await self._authorize(channel)
            channel.bindings = await self._bindings(channel, config.get("postgres_changes"))
        except Rejected as rejected:
            self.send(self.serializer.reply(frame, "error", {"reason": rejected.reason}))
            return
        self.channels[frame.topic] = channel
        self.hub.add(channel.name, channel.private, channel)
        self._watch_expiry(channel)
        for binding in channel.bindings:
            await self.context.changes.add(binding)
        echoed = [binding.echo for binding in channel.bindings]
        self.send(self.serializer.reply(frame, "ok", {"postgres_changes": echoed}))
        if channel.bindings:
            status = {"extension": "postgres_changes", "status": "ok"}
            status |= {"message": "Subscribed to PostgreSQL", "channel": channel.name}
            self.send(self.serializer.push(channel.topic, "system", status, channel.join_ref))

    async def _bindings(self, channel: Channel, requested: Any) -> list[changes.Binding]:
        """The channel's postgres_changes bindings, each checked: a published table whose
        reads are not audited, a valid event and a filter on one of its columns."""
        if not requested:
            return []
        if not isinstance(requested, list):
            raise Rejected("InvalidJoinPayload: postgres_changes must be a list")
        bindings = []
        for params in requested:
            try:
                event, schema, table = await changes.check_binding(self.context.pool, params)
                filter = changes.parse_filter(params.get("filter"))
                columns = await self.context.changes.table_columns(schema, table)
                if filter is not None and filter.column not in columns.names:
                    raise changes.BindingRefused(f"invalid column for filter {filter.column}")
            except changes.BindingRefused as refused:
                raise Rejected(f"PostgresChangesError: {refused}") from None
            except psycopg.Error as error:
                log.warning("realtime: checking a postgres_changes binding failed: %s", error)
                raise Rejected("UnknownErrorOnChannel: Unknown Error on Channel") from None
            echo = {**params, "id": changes.binding_id(params)}
            bindings.append(
                changes.Binding(echo["id"], event, schema, table, filter, echo, channel)
            )
        return bindings

    async def _authorize(self, channel: Channel) -> None:
        if channel.private and not await database.may_read(
            self.context.pool, channel.claims, channel.name
        ):
            raise Rejected(
                "Unauthorized: You do not have permissions to read from this Channel topic: "
                + channel.name
            )

    async def _broadcast(self, channel: Channel, frame: frames.Frame) -> None:
        """A client's broadcast, `{type: broadcast, event, payload}`, to the channel's topic."""
        event, payload = frame.payload.get("event"), frame.payload.get("payload", {})
        too_large = len(json.dumps(payload)) > self.context.limits.max_payload_bytes
        if not isinstance(event, str) or too_large:
            if channel.ack:
                reason = "payload_size_exceeded" if too_large else "a broadcast needs an event"
                self.send(self.serializer.reply(frame, "error", {"reason": reason}))
            return
        sender = channel.claims if channel.private else None
        sent = await database.send(
            self.context.pool, sender, channel.name, event, payload, self.origin
        )
        # Realtime answers nothing when the sender may not write: an `ack` then times out.
        if sent and channel.ack:
            self.send(self.serializer.reply(frame, "ok", {}))

    async def _refresh(self, channel: Channel, token: Any) -> None:
        """A new access token for the channel: checked as at join; the channel closes when it
        is invalid, expired, or no longer reads the topic."""
        if not isinstance(token, str) or token.startswith("sb_"):
            return
        try:
            claims = self._verify(token)
            channel.claims = claims
            await self._authorize(channel)
        except Rejected as rejected:
            message = rejected.reason.split(": ", 1)[-1]
            if rejected.reason.startswith("Unauthorized"):
                message = (
                    f"You no longer have permission to read from this Channel topic: {channel.name}"
                )
            self._shut_down(channel, message)
            return
        self.token = token
        self._watch_expiry(channel)

    # ------------------------------------------------------------------ channel lifetime

    def _verify(self, token: Any) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise Rejected("MalformedJWT: The token provided is not a valid JWT")
        try:
            claims = tokens.verify(token, self.context.jwt_secret, leeway=0)
        except tokens.TokenRejected as rejected:
            if rejected.expired:
                # The signature was checked before the time: this exp is the issuer's.
                exp = jwt.decode(token, options={"verify_signature": False}).get("exp", 0)
                raise Rejected(
                    f"InvalidJWTToken: Token has expired {max(tokens.now() - exp, 0)} seconds ago"
                ) from None
            if "cryptographic" in rejected.message:
                raise Rejected("JwtSignatureError: Failed to validate JWT signature") from None
            raise Rejected("MalformedJWT: The token provided is not a valid JWT") from None
        if "role" not in claims or not isinstance(claims.get("exp"), int):
            raise Rejected("InvalidJWTToken: Fields `role` and `exp` are required in JWT")
        return claims

    def _watch_expiry(self, channel: Channel) -> None:
        """Close the channel when its token expires, unless a new token comes first."""
        if channel.expiry is not None:
            channel.expiry.cancel()

        async def expire(exp: int) -> None:
            await asyncio.sleep(max(exp - tokens.now(), 0))
            self._shut_down(channel, f"Token has expired {max(tokens.now() - exp, 0)} seconds ago")

        channel.expiry = asyncio.create_task(expire(channel.claims["exp"]))

    def _shut_down(self, channel: Channel, message: str) -> None:
        """Realtime's shutdown_response: a `system` error message, then the channel closes."""
        system = {"extension": "system", "status": "error", "message": message}
        system["channel"] = channel.name
        self.send(self.serializer.push(channel.topic, "system", system, channel.join_ref))
        self._drop(channel)
        self.send(
            self.serializer.push(
                channel.topic, frames.CLOSE, {}, channel.join_ref, ref=channel.join_ref
            )
        )

    def _drop(self, channel: Channel) -> None:
        if self.channels.get(channel.topic) is channel:
            del self.channels[channel.topic]
        self.hub.remove(channel.name, channel.private, channel)
        for binding in channel.bindings:
            self.context.changes.remove(binding)
        if channel.expiry is not None and channel.expiry is not asyncio.current_task():
            channel.expiry.cancel()


@dataclass(frozen=True)
class RealtimeContext:
    """What every socket of a worker shares."""

    pool: Any  # devstack.gateway.connections.ConnectionPool
    changes: changes.ChangeFeed
    jwt_secret: str
    limits: Limits
    worker: str
    token: str = ""  # the socket's own token (its apikey), set per socket

    def for_socket(self, token: str) -> RealtimeContext:
        return dataclasses.replace(self, token=token)
