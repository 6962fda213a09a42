"""Phoenix channel frames as Supabase Realtime speaks them with serializer 1.0.0: one JSON
object per text frame, `{topic, event, payload, ref}` (join_ref accepted from clients, never
sent: Phoenix's V1 serializer leaves it out). Replies echo the request's `ref`; server pushes
carry `ref: null`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PHOENIX = "phoenix"  # the topic of heartbeats
REPLY = "phx_reply"
CLOSE = "phx_close"


class BadFrame(ValueError):
    """A frame that is not a Phoenix message: the socket is closed, as Phoenix does."""


@dataclass(frozen=True)
class Frame:
    topic: str
    event: str
    payload: dict[str, Any]
    ref: str | None
    join_ref: str | None = None


def parse(text: str) -> Frame:
    try:
        data = json.loads(text)
    except ValueError:
        raise BadFrame("not JSON") from None
    if not isinstance(data, dict):
        raise BadFrame("not a JSON object (serializer 1.0.0)")
    topic, event, payload = data.get("topic"), data.get("event"), data.get("payload", {})
    if not isinstance(topic, str) or not isinstance(event, str) or not isinstance(payload, dict):
        raise BadFrame("topic and event must be strings and payload an object")
    ref, join_ref = data.get("ref"), data.get("join_ref")
    return Frame(topic, event, payload, _ref(ref), _ref(join_ref))


def _ref(value: Any) -> str | None:
    return None if value is None else str(value)


def reply(frame: Frame, status: str, response: dict[str, Any]) -> str:
    return _encode(frame.topic, REPLY, {"status": status, "response": response}, frame.ref)


def push(topic: str, event: str, payload: dict[str, Any], ref: str | None = None) -> str:
    return _encode(topic, event, payload, ref)


def _encode(topic: str, event: str, payload: dict[str, Any], ref: str | None) -> str:
    return json.dumps(
        {"topic": topic, "event": event, "payload": payload, "ref": ref}, separators=(",", ":")
    )
