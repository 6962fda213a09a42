"""A fake of Anthropic's Messages API, `POST /v1/messages`, answering from a script.

As the official SDK calls it: the API key (as `Authorization: Bearer <key>`, which the SDK
sends since 2.x and the current docs give, or as the older `x-api-key`; wrong or missing: 401
`authentication_error`) and the `anthropic-version` header (missing: 400), a JSON body with
`model`, `max_tokens`, `system` (a string or text blocks), `messages` and `tools`. Errors are
Anthropic's shape, `{"type": "error", "error": {"type", "message"}, "request_id"}`, with a
`request-id` header.
Like the real API, it refuses a conversation whose assistant `tool_use` blocks are not answered
by `tool_result` blocks in the very next user message, and a `tool_result` for an unknown id.

The answer comes from the script, a list of `Reply`s: a final text (`say`) or `tool_use`
blocks (`call`). A reply with a `when` matcher (on the recorded request: `user_says`,
`got_tool_result`, `offers`, or any function of a `Seen`) answers every request it matches,
the first match winning; otherwise the unconditional replies answer in order within each
conversation, the n-th one the request that already holds n assistant turns (so concurrent
conversations do not disturb each other). A text or a tool input may be a function of the
request: "when the tool result arrives, answer with text built from it". A reply that calls
a tool the request did not offer, or a request past the script's end, is a script error:
answered 500 and kept in `script_errors`.

`stream: true` answers the same message as server-sent events, in the real order:
`message_start` (input tokens), `ping`, per block `content_block_start`, `content_block_delta`
(`text_delta` / `input_json_delta`) and `content_block_stop`, then `message_delta` (stop reason,
output tokens) and `message_stop`. Usage is counted from the request's and the answer's sizes;
ids are derived from the request, so the streamed and the whole answer to one request are equal.

Every request is kept (`requests`: headers, body, and views of its system prompt, messages and
tools) for assertions. `fail_next(...)` makes the next requests fail (an HTTP status such as
529 `overloaded_error` or 500 `api_error`; `HANG`: no answer at all; `BREAK_STREAM`: a streamed
answer that an `error` event breaks off after its first text; `STALL_STREAM`: one that stops
after its first text); `mode` makes every request do so
until `reset`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

API_KEY = "sk-ant-fake-key"
HANG = "hang"
# Streamed: the answer begins, then an `error` event (overloaded) ends it, as the real API can.
BREAK_STREAM = "break_stream"
# Streamed: the answer begins, its first text comes, then nothing more (a stalled connection).
STALL_STREAM = "stall_stream"
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class RequestRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _text_of(content: Any) -> str:
    """The text of a message's or a tool result's content (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block.get("text", "")
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


@dataclass(frozen=True)
class ToolResultSeen:
    tool_use_id: str
    name: str  # the tool of the tool_use it answers
    text: str
    is_error: bool

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass(frozen=True)
class Seen:
    """One request as the fake received it."""

    headers: Mapping[str, str]
    body: Mapping[str, Any]
    request_id: str = ""  # the `request-id` the fake answered it with

    @property
    def system(self) -> str:
        return _text_of(self.body.get("system", ""))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def tools(self) -> list[dict[str, Any]]:
        return list(self.body.get("tools") or [])

    @property
    def tool_names(self) -> list[str]:
        return [tool.get("name", "") for tool in self.tools]

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def assistant_turns(self) -> int:
        return sum(1 for message in self.messages if message.get("role") == "assistant")

    def last_user_text(self) -> str:
        """The text the user typed last (tool results are not the user's text)."""
        for message in reversed(self.messages):
            if message.get("role") == "user" and _text_of(message.get("content")):
                return _text_of(message.get("content"))
        return ""

    def tool_results(self) -> list[ToolResultSeen]:
        """The `tool_result` blocks of the last message, each with the name of its tool."""
        messages = self.messages
        if not messages or not isinstance(messages[-1].get("content"), list):
            return []
        names = {
            block.get("id"): block.get("name", "")
            for message in messages
            if message.get("role") == "assistant" and isinstance(message.get("content"), list)
            for block in message["content"]
            if isinstance(block, dict) and block.get("type") == "tool_use"
        }
        return [
            ToolResultSeen(
                tool_use_id=block.get("tool_use_id", ""),
                name=names.get(block.get("tool_use_id"), ""),
                text=_text_of(block.get("content", "")),
                is_error=bool(block.get("is_error", False)),
            )
            for block in messages[-1]["content"]
            if isinstance(block, dict) and block.get("type") == "tool_result"
        ]


Matcher = Callable[[Seen], bool]


@dataclass(frozen=True)
class ToolCall:
    name: str
    input: Mapping[str, Any] | Callable[[Seen], Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """One scripted assistant turn: text, then tool calls; `when`: the requests it answers."""

    text: str | Callable[[Seen], str] = ""
    tool_calls: Sequence[ToolCall] = ()
    when: Matcher | None = None
    stop_reason: str | None = None  # default: tool_use with tool calls, else end_turn


def say(text: str | Callable[[Seen], str], *, when: Matcher | None = None) -> Reply:
    return Reply(text=text, when=when)


def call(
    name: str,
    input: Mapping[str, Any] | Callable[[Seen], Mapping[str, Any]] | None = None,
    *more: ToolCall,
    text: str | Callable[[Seen], str] = "",
    when: Matcher | None = None,
) -> Reply:
    """A turn that calls tool `name` with `input` (and the `more` calls after it)."""
    return Reply(text=text, tool_calls=(ToolCall(name, input or {}), *more), when=when)


def user_says(fragment: str) -> Matcher:
    """The user's last text contains `fragment` (case-insensitive), and no tool result is
    pending: the request that carries the user's words, not the ones after a tool ran."""
    return lambda seen: (
        fragment.lower() in seen.last_user_text().lower() and not (seen.tool_results())
    )


def got_tool_result(name: str) -> Matcher:
    """The request answers a `tool_use` of tool `name` with its `tool_result`."""
    return lambda seen: any(result.name == name for result in seen.tool_results())


def offers(name: str) -> Matcher:
    return lambda seen: name in seen.tool_names


def api_key_of(headers: Mapping[str, str]) -> str | None:
    """The API key a request carries: `Authorization: Bearer <key>`, else `x-api-key`."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return token
    return headers.get("x-api-key")


def anthropic_error(status: int, message: str, request_id: str) -> JSONResponse:
    kind = _ERROR_TYPES.get(status, "api_error")
    return JSONResponse(
        {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id},
        status_code=status,
        headers={"request-id": request_id},
    )


def _event(kind: str, data: dict[str, Any]) -> bytes:
    """One server-sent event as the API writes it: its type named twice."""
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


def _tokens(value: Any) -> int:
    """A stand-in for the tokenizer: about four characters of JSON per token."""
    return max(1, len(json.dumps(value, ensure_ascii=False, sort_keys=True)) // 4)


def _check(body: Any) -> None:
    """The request checks of the real API that a client of it can get wrong."""

    def refuse(message: str) -> RequestRefused:
        return RequestRefused(400, message)

    if not isinstance(body, dict):
        raise refuse("the body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise refuse("model: Field required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise refuse("max_tokens: Field required (an integer of at least 1)")
    system = body.get("system", "")
    if not isinstance(system, str) and not (
        isinstance(system, list) and all(b.get("type") == "text" for b in system)
    ):
        raise refuse("system: a string or a list of text blocks")
    tools = body.get("tools", [])
    if not isinstance(tools, list):
        raise refuse("tools: Input should be a valid list")
    names = [tool.get("name") if isinstance(tool, dict) else None for tool in tools]
    for index, (tool, name) in enumerate(zip(tools, names, strict=True)):
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise refuse(f"tools.{index}.name: should match '^[a-zA-Z0-9_-]{{1,64}}$'")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise refuse(f"tools.{index}.input_schema.type: Input should be 'object'")
    if len(set(names)) != len(names):
        raise refuse("tools: Tool names must be unique.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise refuse("messages: at least one message is required")
    pending: set[str] = set()  # tool_use ids the next message must answer
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise refuse(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            raise refuse(f"messages.{index}: content must be a string or a non-empty list")
        if index == 0 and role != "user":
            raise refuse("messages: the first message must use the `user` role")
        answered = {
            block.get("tool_use_id")
            for block in blocks
            if isinstance(block, dict) and block.get("type") == "tool_result"
        }
        if role == "user" and answered - pending:
            raise refuse(
                f"messages.{index}.content: unexpected `tool_use_id` found in "
                "`tool_result` blocks; each `tool_result` block must have a corresponding "
                "`tool_use` block in the previous message"
            )
        if pending - answered:
            raise refuse(
                f"messages.{index - 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(sorted(pending - answered))}. Each `tool_use` "
                "block must have a corresponding `tool_result` block in the next message."
            )
        pending = set()
        for block in blocks:
            if not isinstance(block, dict) or "type" not in block:
                raise refuse(f"messages.{index}.content: every block needs a type")
            if block["type"] == "text" and not block.get("text"):
                raise refuse(f"messages.{index}: text content blocks must be non-empty")
            if block["type"] == "tool_use":
                if role != "assistant":
                    raise refuse(f"messages.{index}: `tool_use` blocks are the assistant's")
                pending.add(block.get("id"))
            if block["type"] == "tool_result" and role != "user":
                raise refuse(f"messages.{index}: `tool_result` blocks are the user's")
    if pending:
        raise refuse("the last message holds `tool_use` blocks without their `tool_result` blocks")


class FakeAnthropic:
    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.reset()
        self.app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        self.app.add_api_route("/v1/messages", self.messages_route, methods=["POST"])

    def reset(self) -> None:
        # A hanging request of the previous test gives up now.
        self.released.set()
        with self.lock:
            self.released = threading.Event()
            self.script: list[Reply] = []
            self.requests: list[Seen] = []
            self.answers: list[dict[str, Any]] = []  # the messages answered, in order
            self.script_errors: list[str] = []
            self.failures: list[int | str] = []
            self.mode: int | str | None = None

    def set_script(self, *replies: Reply) -> None:
        with self.lock:
            self.script = list(replies)

    def fail_next(self, *outcomes: int | str) -> None:
        """The next requests fail, one outcome each: an HTTP status, or `HANG`."""
        with self.lock:
            self.failures.extend(outcomes)

    # The API

    async def messages_route(self, request: Request) -> Response:
        request_id = f"req_fake_{uuid.uuid4().hex[:24]}"
        headers = {key.lower(): value for key, value in request.headers.items()}
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        seen = Seen(headers, body if isinstance(body, dict) else {}, request_id)
        with self.lock:
            self.requests.append(seen)
            failure = self.failures.pop(0) if self.failures else self.mode
            released = self.released
        if api_key_of(headers) != self.api_key:
            return anthropic_error(401, "invalid x-api-key", request_id)
        if not headers.get("anthropic-version"):
            return anthropic_error(400, "anthropic-version: header is required", request_id)
        if failure == HANG:
            deadline = time.monotonic() + 60
            while not released.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return anthropic_error(500, "the fake hung up", request_id)
        if isinstance(failure, int):
            messages = {529: "Overloaded", 500: "Internal server error"}
            return anthropic_error(failure, messages.get(failure, "failed"), request_id)
        try:
            _check(body)
            if failure in (BREAK_STREAM, STALL_STREAM) and seen.stream:
                return StreamingResponse(
                    self._broken_events(body["model"], stall=failure == STALL_STREAM),
                    media_type="text/event-stream",
                    headers={"request-id": request_id},
                )
            message = self._answer(seen)
        except RequestRefused as refused:
            return anthropic_error(refused.status, refused.message, request_id)
        with self.lock:
            self.answers.append(message)
        if seen.stream:
            return StreamingResponse(
                self._events(message),
                media_type="text/event-stream",
                headers={"request-id": request_id, "cache-control": "no-cache"},
            )
        return JSONResponse(message, headers={"request-id": request_id})

    def _choose(self, seen: Seen) -> Reply:
        with self.lock:
            script = list(self.script)
        for reply in script:
            if reply.when is not None and reply.when(seen):
                return reply
        in_order = [reply for reply in script if reply.when is None]
        if seen.assistant_turns < len(in_order):
            return in_order[seen.assistant_turns]
        raise self._script_error(
            f"no scripted reply for turn {seen.assistant_turns} "
            f"(user said {seen.last_user_text()!r})"
        )

    def _script_error(self, problem: str) -> RequestRefused:
        with self.lock:
            self.script_errors.append(problem)
        return RequestRefused(500, f"fake script: {problem}")

    def _answer(self, seen: Seen) -> dict[str, Any]:
        reply = self._choose(seen)
        body = seen.body
        # Ids from the request (not its `stream` flag): one request, one answer.
        basis = json.dumps(
            [body.get(k) for k in ("model", "system", "messages", "tools")],
            sort_keys=True,
            ensure_ascii=False,
        )
        digest = hashlib.sha256(basis.encode()).hexdigest()
        content: list[dict[str, Any]] = []
        text = reply.text(seen) if callable(reply.text) else reply.text
        if text:
            content.append({"type": "text", "text": text})
        for index, tool_call in enumerate(reply.tool_calls):
            if tool_call.name not in seen.tool_names:
                raise self._script_error(f"tool {tool_call.name!r} was not offered")
            tool_input = tool_call.input(seen) if callable(tool_call.input) else tool_call.input
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{hashlib.sha256(f'{digest}{index}'.encode()).hexdigest()[:24]}",
                    "name": tool_call.name,
                    "input": dict(tool_input),
                }
            )
        if not content:
            raise self._script_error("a reply with neither text nor tool calls")
        stop_reason = reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn")
        return {
            "id": f"msg_fake_{digest[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": _tokens([body.get("system"), body["messages"], body.get("tools")]),
                "output_tokens": _tokens(content),
            },
        }

    async def _broken_events(self, model: str, *, stall: bool) -> AsyncIterator[bytes]:
        started = {
            "id": f"msg_fake_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
        yield _event("message_start", {"message": started})
        text_block = {"type": "text", "text": ""}
        yield _event("content_block_start", {"index": 0, "content_block": text_block})
        delta = {"type": "text_delta", "text": "Let me look"}
        yield _event("content_block_delta", {"index": 0, "delta": delta})
        if stall:
            released, deadline = self.released, time.monotonic() + 60
            while not released.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return
        error = {"type": "overloaded_error", "message": "Overloaded"}
        yield _event("error", {"error": error})

    async def _events(self, message: dict[str, Any]) -> AsyncIterator[bytes]:
        event = _event

        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1},
        }
        yield event("message_start", {"message": start})
        yield event("ping", {})
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                yield event(
                    "content_block_start",
                    {"index": index, "content_block": {"type": "text", "text": ""}},
                )
                text = block["text"]
                for at in range(0, len(text), 12):
                    delta = {"type": "text_delta", "text": text[at : at + 12]}
                    yield event("content_block_delta", {"index": index, "delta": delta})
                    await asyncio.sleep(0)
            else:
                yield event(
                    "content_block_start",
                    {"index": index, "content_block": {**block, "input": {}}},
                )
                arguments = json.dumps(block["input"], ensure_ascii=False)
                for at in range(0, len(arguments), 10):
                    delta = {"type": "input_json_delta", "partial_json": arguments[at : at + 10]}
                    yield event("content_block_delta", {"index": index, "delta": delta})
            yield event("content_block_stop", {"index": index})
        yield event(
            "message_delta",
            {
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
        yield event("message_stop", {})
