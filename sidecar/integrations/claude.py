"""Claude's Messages API through the official `anthropic` SDK: one model turn, whole or streamed.

`POST {ANTHROPIC_BASE_URL}/v1/messages` with `x-api-key` and `anthropic-version`; the body names
the model, `max_tokens`, the `system` prompt, the `messages` (alternating user and assistant,
each a list of content blocks) and the `tools` offered (name, description, JSON schema). The
answer is one assistant message: `text` and `tool_use` blocks (`id`, `name`, `input`), a
`stop_reason` (`tool_use` when it wants tools run, `end_turn` when it has answered) and `usage`
(input and output tokens). Streamed (`stream: true`), the same message arrives as server-sent
events, which the SDK's stream helper accumulates; `stream` passes its text deltas on as they
come and ends with the same `Turn` that `create` returns.

Tool results are data, never instructions: a tool's outcome goes back to the model only as a
`tool_result` block of the next user message (`tool_results_message`), tied to its `tool_use`
id, and is never spliced into the system prompt or into the user's own text. Text read from
records (a note that says "ignore previous instructions") thus stays the content of a result.

Failures are mapped here, once, to the sidecar's errors (`ClaudeUnavailable`, an `ApiError`):
no key, 503 `not_configured`; no answer within `CAREBASE_COPILOT_TIMEOUT` (retries included),
504 `upstream_timeout`; a refusal, an overload, a 5xx or a lost connection that the SDK's
retries did not get past, 502 `upstream_failed`. The log names the upstream request id, the
status and the error type, never the prompt: the SDK's own debug lines carry whole requests,
so its logger stays at info.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic

from sidecar.errors import ApiError
from sidecar.settings import SidecarSettings

log = logging.getLogger("sidecar.claude")
# Its debug lines dump each request's options: the system prompt, the messages, the records.
logging.getLogger("anthropic").setLevel(logging.INFO)


class ClaudeUnavailable(ApiError):
    """The model could not answer; a caller keeps what ran so far and answers this error."""


def not_configured() -> ClaudeUnavailable:
    return ClaudeUnavailable(503, "not_configured", "the copilot has no Claude API key configured")


@dataclass(frozen=True)
class ToolUse:
    id: str
    name: str
    input: Mapping[str, Any]


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Turn:
    """The assistant's answer to one request: its blocks in order, why it stopped, its usage."""

    blocks: tuple[Text | ToolUse, ...]
    stop_reason: str
    input_tokens: int
    output_tokens: int
    model: str = ""
    request_id: str | None = field(default=None, compare=False)

    @property
    def text(self) -> str:
        return "".join(block.text for block in self.blocks if isinstance(block, Text))

    @property
    def tool_uses(self) -> tuple[ToolUse, ...]:
        return tuple(block for block in self.blocks if isinstance(block, ToolUse))

    def as_message(self) -> dict[str, Any]:
        """The turn as the assistant message of the next request's `messages`."""
        content: list[dict[str, Any]] = []
        for block in self.blocks:
            if isinstance(block, Text):
                if block.text:  # the API refuses an empty text block
                    content.append({"type": "text", "text": block.text})
            else:
                content.append(
                    {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
                )
        return {"role": "assistant", "content": content}


@dataclass(frozen=True)
class ToolOutcome:
    """What running (or refusing) one `tool_use` gave. `content`: a string, or anything JSON
    can hold (sent as its JSON text). `is_error`: the tool failed or was refused."""

    tool_use_id: str
    content: Any
    is_error: bool = False


def tool_results_message(outcomes: Iterable[ToolOutcome]) -> dict[str, Any]:
    """The user message that answers an assistant turn's `tool_use` blocks: one `tool_result`
    block per outcome, as data tied to its `tool_use` id (never text of the prompt)."""
    blocks: list[dict[str, Any]] = []
    for outcome in outcomes:
        content = (
            outcome.content
            if isinstance(outcome.content, str)
            else json.dumps(outcome.content, ensure_ascii=False, default=str)
        )
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": outcome.tool_use_id,
            "content": content,
        }
        if outcome.is_error:
            block["is_error"] = True
        blocks.append(block)
    if not blocks:
        raise ValueError("a tool result message needs at least one outcome")
    return {"role": "user", "content": blocks}


def _turn(message: Any, request_id: str | None) -> Turn:
    blocks: list[Text | ToolUse] = []
    for block in message.content:
        if block.type == "text":
            blocks.append(Text(block.text))
        elif block.type == "tool_use":
            blocks.append(ToolUse(block.id, block.name, dict(block.input or {})))
        # Other kinds (thinking, server tools) are not asked for; they are left out.
    usage = message.usage
    return Turn(
        blocks=tuple(blocks),
        stop_reason=str(message.stop_reason or ""),
        input_tokens=int(usage.input_tokens or 0),
        output_tokens=int(usage.output_tokens or 0),
        model=str(message.model or ""),
        request_id=request_id,
    )


def _failure(error: BaseException) -> ClaudeUnavailable:
    if isinstance(error, TimeoutError | anthropic.APITimeoutError):
        log.warning("claude did not answer in time", extra={"upstream_error": "timeout"})
        return ClaudeUnavailable(504, "upstream_timeout", "the Claude API did not answer in time")
    if isinstance(error, anthropic.APIStatusError):
        log.error(
            "claude refused or failed",
            extra={
                "upstream_status": error.status_code,
                "upstream_request_id": error.request_id,
                "upstream_error": error.type,
            },
        )
        # An `error` event inside a stream comes with the stream's own 200.
        what = f"{error.status_code} " if error.status_code >= 400 else "mid-stream "
        return ClaudeUnavailable(
            502, "upstream_failed", f"the Claude API failed ({what}{error.type})"
        )
    log.error(
        "claude unreachable", extra={"upstream_error": type(error).__name__}
    )  # connection errors carry no response, hence no request id
    return ClaudeUnavailable(502, "upstream_failed", "the Claude API could not be reached")


# What the SDK raises for a call that went wrong (as opposed to a bug of ours).
_UPSTREAM = (anthropic.APIError, TimeoutError)


class ClaudeClient:
    """One per app (it holds the SDK's connection pool); `close` it on shutdown."""

    def __init__(self, settings: SidecarSettings) -> None:
        self.model = settings.copilot_model
        self.max_tokens = settings.copilot_max_tokens
        self.timeout = settings.copilot_timeout
        self.sdk: anthropic.AsyncAnthropic | None = None
        if settings.anthropic_api_key:
            self.sdk = anthropic.AsyncAnthropic(
                api_key=settings.anthropic_api_key,
                base_url=settings.anthropic_base_url,
                timeout=settings.copilot_timeout,
                max_retries=settings.copilot_max_retries,
            )

    @property
    def configured(self) -> bool:
        return self.sdk is not None

    def _sdk(self) -> anthropic.AsyncAnthropic:
        if self.sdk is None:
            raise not_configured()
        return self.sdk

    def _params(
        self,
        system: str,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]],
        max_tokens: int | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens or self.max_tokens,
            "system": system,
            "messages": list(messages),
        }
        if tools:
            params["tools"] = list(tools)
        return params

    async def create(
        self,
        system: str,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] = (),
        *,
        max_tokens: int | None = None,
        timeout: float | None = None,
    ) -> Turn:
        """One model turn, whole. The timeout (default: the setting's) bounds the SDK's retries
        too; `max_tokens` (default: the setting's) bounds the answer."""
        sdk = self._sdk()
        try:
            async with asyncio.timeout(timeout or self.timeout):
                message = await sdk.messages.create(
                    **self._params(system, messages, tools, max_tokens)
                )
        except _UPSTREAM as error:
            raise _failure(error) from error
        # The SDK sets `_request_id` (the `request-id` header) on the answer it parsed.
        return _turn(message, getattr(message, "_request_id", None))

    async def stream(
        self,
        system: str,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] = (),
    ) -> AsyncIterator[str | Turn]:
        """One model turn, streamed: its text deltas (str) as they come, then the `Turn`.

        The timeout bounds the wait for the answer to begin and each wait for the next event,
        not the whole answer (which `max_tokens` bounds); time the caller spends between two
        deltas does not count."""
        sdk = self._sdk()
        manager = sdk.messages.stream(**self._params(system, messages, tools))
        try:
            async with asyncio.timeout(self.timeout):
                stream = await manager.__aenter__()
        except _UPSTREAM as error:
            raise _failure(error) from error
        try:
            events = stream.__aiter__()
            while True:
                try:
                    async with asyncio.timeout(self.timeout):
                        event = await anext(events, None)
                except _UPSTREAM as error:
                    raise _failure(error) from error
                if event is None:
                    break
                if event.type == "text" and event.text:
                    yield event.text
            message = await stream.get_final_message()
            yield _turn(message, stream.request_id)
        finally:
            await manager.__aexit__(None, None, None)

    async def close(self) -> None:
        if self.sdk is not None:
            await self.sdk.close()
