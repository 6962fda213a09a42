"""Phoenix channel frames in the two serializers Supabase Realtime speaks, chosen by the
socket's `vsn` query parameter:

- 1.0.0 (the `realtime` Python client sends no vsn): one JSON object per text frame,
  `{topic, event, payload, ref}`; join_ref is accepted from clients and never sent, as
  Phoenix's V1 serializer does.
- 2.0.0 (supabase-js >= 2.91): JSON arrays `[join_ref, ref, topic, event, payload]`, and
  Realtime's binary frames for broadcasts: a client pushes type 3 (user broadcast push) and
  receives type 4 (user broadcast), each a header of one-byte sizes, then the strings, then
  the payload (lib/realtime_web/socket/v2_serializer.ex).

Replies echo the request's `ref`; server pushes carry `ref: null`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PHOENIX = "phoenix"  # the topic of heartbeats
REPLY = "phx_reply"
CLOSE = "phx_close"
V1, V2 = "1.0.0", "2.0.0"

USER_BROADCAST_PUSH = 3  # client to server
USER_BROADCAST = 4  # server to client
JSON_ENCODING = 1


class BadFrame(ValueError):
    """A frame that is not a Phoenix message: the socket is closed, as Phoenix does."""


@dataclass(frozen=True)
class Frame:
    topic: str
    event: str
    payload: dict[str, Any]
    ref: str | None
    join_ref: str | None = None


@dataclass(frozen=True)
class Broadcast:
    """A broadcast to deliver: `meta` (its message id) only when it came from the database."""

    topic: str  # "realtime:<name>"
    event: str
    payload: Any
    meta: dict[str, Any] | None = None


def _ref(value: Any) -> str | None:
    return None if value is None else str(value)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class Serializer:
    """Frames of one serializer version."""

    def __init__(self, vsn: str) -> None:
        if vsn not in (V1, V2):
            raise BadFrame(f"unsupported serializer vsn {vsn!r}")
        self.vsn = vsn

    # ------------------------------------------------------------------ decoding

    def parse(self, data: str | bytes) -> Frame:
        if isinstance(data, bytes):
            return self._parse_binary(data)
        try:
            decoded = json.loads(data)
        except ValueError:
            raise BadFrame("not JSON") from None
        if self.vsn == V1:
            if not isinstance(decoded, dict):
                raise BadFrame("expected a JSON object (serializer 1.0.0)")
            parts = [decoded.get(k) for k in ("join_ref", "ref", "topic", "event", "payload")]
        else:
            if not isinstance(decoded, list) or len(decoded) < 5:
                raise BadFrame("expected a V2 array")
            parts = decoded[:5]
        join_ref, ref, topic, event, payload = parts
        payload = {} if payload is None else payload
        if (
            not isinstance(topic, str)
            or not isinstance(event, str)
            or not isinstance(payload, dict)
        ):
            raise BadFrame("topic and event must be strings and payload an object")
        return Frame(topic, event, payload, _ref(ref), _ref(join_ref))

    def _parse_binary(self, data: bytes) -> Frame:
        """A user broadcast push (type 3), made into the JSON broadcast it stands for."""
        if self.vsn != V2 or len(data) < 7 or data[0] != USER_BROADCAST_PUSH:
            raise BadFrame("unexpected binary frame")
        sizes = data[1:7]
        join_ref_size, ref_size, topic_size, event_size, meta_size, encoding = sizes
        at = 7
        fields = []
        for size in (join_ref_size, ref_size, topic_size, event_size, meta_size):
            fields.append(data[at : at + size].decode())
            at += size
        join_ref, ref, topic, event, _meta = fields
        if encoding != JSON_ENCODING:
            raise BadFrame("binary broadcast payloads are not supported by devstack")
        try:
            payload = json.loads(data[at:])
        except ValueError:
            raise BadFrame("the broadcast's payload is not JSON") from None
        return Frame(
            topic,
            "broadcast",
            {"type": "broadcast", "event": event, "payload": payload},
            ref or None,
            join_ref or None,
        )

    # ------------------------------------------------------------------ encoding

    def reply(self, frame: Frame, status: str, response: dict[str, Any]) -> str:
        body = {"status": status, "response": response}
        return self._message(frame.join_ref, frame.ref, frame.topic, REPLY, body)

    def push(
        self,
        topic: str,
        event: str,
        payload: dict[str, Any],
        join_ref: str | None = None,
        ref: str | None = None,
    ) -> str:
        """A server push; a channel's own (system, phx_close) carries its join_ref."""
        return self._message(join_ref, ref, topic, event, payload)

    def broadcast(self, broadcast: Broadcast) -> str | bytes:
        if self.vsn == V1:
            payload = {"event": broadcast.event, "payload": broadcast.payload, "type": "broadcast"}
            if broadcast.meta is not None:
                payload["meta"] = broadcast.meta
            return self.push(broadcast.topic, "broadcast", payload)
        topic, event = broadcast.topic.encode(), broadcast.event.encode()
        meta = _compact(broadcast.meta).encode() if broadcast.meta is not None else b""
        if max(len(topic), len(event), len(meta)) > 255:
            raise BadFrame("topic, event or metadata longer than 255 bytes")
        header = bytes([USER_BROADCAST, len(topic), len(event), len(meta), JSON_ENCODING])
        return header + topic + event + meta + _compact(broadcast.payload).encode()

    def _message(
        self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: dict
    ) -> str:
        if self.vsn == V1:
            return _compact({"topic": topic, "event": event, "payload": payload, "ref": ref})
        return _compact([join_ref, ref, topic, event, payload])
