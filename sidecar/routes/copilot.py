"""The AI copilot (issue 15): a command box bounded by the user's own rights.

POST /api/v1/sessions/copilot runs one message through the model loop (sidecar/copilot/loop.py)
with the caller's bearer JWT, and answers it whole (JSON) or, with `Accept: text/event-stream`,
as server-sent events. Writes the model asks for wait as pending actions until the user
confirms (or rejects) them at /sessions/copilot/{session}/actions/{action}/confirm|reject.
POST /sessions/copilot/{session}/close ends a session with a summary (sidecar/copilot/closing.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from sidecar.copilot.closing import close_session
from sidecar.copilot.loop import CopilotLoop, decide, history_of, open_or_continue, token_subject
from sidecar.errors import ApiError, error_responses
from sidecar.integrations.claude import not_configured
from sidecar.routes.dependencies import CallerToken, Supabase

router = APIRouter(tags=["Copilot"])
log = logging.getLogger("sidecar.copilot")
# Streams whose client went away finish (and record their turn) in the background.
_running: set[asyncio.Task[None]] = set()


def rate_key(request: Request) -> str | None:
    """The per-user rate limit's key: the token's subject, unverified (RateLimit counts it per
    address), or none."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    subject = token_subject(token) if scheme.lower() == "bearer" else None
    return f"user:{subject}" if subject else None


class CopilotRequest(BaseModel):
    message: str = Field(min_length=1, max_length=4000, description="What the user typed")
    session_id: UUID | None = Field(None, description="Continue this session of yours")
    hospital_id: UUID | None = Field(
        None, description="Staff, for a new session: the hospital you work at (patients: none)"
    )


class PendingAction(BaseModel):
    id: UUID
    tool: str
    summary: str = Field(
        description=(
            "What it will do, for the user to confirm, naming people and times (looked up "
            "with your rights; what you cannot reach is refused, never proposed)"
        )
    )
    expires_at: str


class ToolCallSummary(BaseModel):
    tool: str
    read_only: bool
    outcome: Literal["ok", "proposed", "refused", "error"]
    code: str | None = None
    action_id: UUID | None = None


class Usage(BaseModel):
    input_tokens: int
    output_tokens: int
    session_tokens: int = Field(description="Tokens the session has spent in all")


class CopilotAnswer(BaseModel):
    session_id: UUID
    answer: str
    pending_actions: list[PendingAction]
    tool_calls: list[ToolCallSummary]
    stopped: Literal["max_tool_rounds", "token_budget"] | None = Field(
        None, description="Why the loop ended before the model's final answer"
    )
    usage: Usage


class ActionDecision(BaseModel):
    action_id: UUID
    session_id: UUID
    tool: str
    status: str = Field(description="done, failed, rejected, or confirmed (still running)")
    first: bool = Field(description="false: decided before; nothing ran now")
    ran: bool = Field(description="the tool ran in this request")
    outcome: dict[str, Any] | None = Field(
        None, description="What running it did: {ok: true, result} or {ok: false, code, message}"
    )


class ClosedSession(BaseModel):
    session_id: UUID
    status: Literal["closed"]
    summary: str = Field(
        description="The session's summary: the model's, or (summary_source facts) the facts"
    )
    summary_source: Literal["model", "facts"]
    fallback: (
        Literal[
            "not_configured",
            "upstream_timeout",
            "upstream_failed",
            "insufficient_aal",
            "nothing_said",
            "empty_answer",
            "internal",
        ]
        | None
    ) = Field(
        None,
        description=(
            "Why the model did not write the summary (null: it did): no key, the upstream "
            "timed out or failed, staff below aal2 (the transcript is not read), nothing was "
            "said yet, an empty answer, an internal error"
        ),
    )
    facts: str = Field(
        description=(
            "What happened, as the database counted it: messages, tool calls by tool and "
            "outcome, actions by decision, tokens (never what was said)"
        )
    )
    ended_at: str
    usage: Usage = Field(description="Tokens the summary cost; session_tokens: in all")


_JSON_EXAMPLE = {
    "session_id": "0b6e2a3c-1f4d-4c2e-9a51-7d1f0c9e8b21",
    "answer": "Dr. Sandhu is free tomorrow at 10:00; the booking waits for your confirmation.",
    "pending_actions": [
        {
            "id": "5f0c3b7e-8d2a-4e61-b3c9-2a7e4d1f9c05",
            "tool": "book_appointment",
            "summary": "Book Ramesh Kumar with Dr. Gurpreet Sandhu on Fri 4 Dec 10:00 IST",
            "expires_at": "2026-12-03T17:40:00+00:00",
        }
    ],
    "tool_calls": [
        {"tool": "find_slots", "read_only": True, "outcome": "ok", "code": None},
        {
            "tool": "book_appointment",
            "read_only": False,
            "outcome": "proposed",
            "code": None,
            "action_id": "5f0c3b7e-8d2a-4e61-b3c9-2a7e4d1f9c05",
        },
    ],
    "stopped": None,
    "usage": {"input_tokens": 2412, "output_tokens": 118, "session_tokens": 2530},
}
_SSE_EXAMPLE = (
    'event: session\ndata: {"session_id": "…"}\n\n'
    ": heartbeat\n\n"
    'event: tool\ndata: {"tool": "list_appointments", "read_only": true, "outcome": "ok", '
    '"code": null}\n\n'
    'event: text\ndata: {"delta": "Your next appointment is"}\n\n'
    'event: pending_action\ndata: {"id": "…", "tool": "book_appointment", "summary": "…", '
    '"expires_at": "…"}\n\n'
    'event: final\ndata: {"session_id": "…", "answer": "…", "pending_actions": [...], ...}\n\n'
)
_STREAM_DESCRIPTION = (
    "With `Accept: text/event-stream`: server-sent events `session` (the session id), `text` "
    "(`delta`: the answer as it comes), `tool` (a tool call and its outcome), `pending_action` "
    "(a write waiting for confirmation), then `final` (the whole answer, as the JSON body) or "
    "`error` (`status`, `code`, `message`: the model failed or timed out; what ran is "
    "recorded). Comments (`: heartbeat`) keep the connection alive every few seconds."
)


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode()


@router.post(
    "/sessions/copilot",
    operation_id="copilot_message",
    summary="Ask the copilot (answered whole, or streamed as server-sent events)",
    response_model=CopilotAnswer,
    responses={
        **error_responses(401, 403, 404, 409, 422, 429, 502, 503, 504),
        200: {
            "description": "The answer. " + _STREAM_DESCRIPTION,
            "content": {
                "application/json": {"example": _JSON_EXAMPLE},
                "text/event-stream": {
                    "schema": {"type": "string"},
                    "example": _SSE_EXAMPLE,
                },
            },
        },
    },
)
async def copilot_message(
    request: Request, body: CopilotRequest, token: CallerToken, supabase: Supabase
) -> Response:
    settings = request.app.state.settings
    claude = request.app.state.claude
    if not claude.configured:
        raise not_configured()
    api = supabase.as_user(token)
    session = await open_or_continue(
        api,
        token,
        str(body.session_id) if body.session_id else None,
        str(body.hospital_id) if body.hospital_id else None,
    )
    if session.spent >= settings.copilot_session_token_budget:
        raise ApiError(
            429,
            "token_budget_exhausted",
            "this copilot session has spent its token budget; open a new session",
        )
    history = await history_of(api, session.id) if body.session_id else []
    loop = CopilotLoop(settings, claude, api)
    if "text/event-stream" not in request.headers.get("accept", ""):
        result = await loop.run_turn(session, body.message, history=history)
        return JSONResponse(result.body())

    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()

    async def emit(kind: str, data: dict[str, Any]) -> None:
        await queue.put((kind, data))

    async def work() -> None:
        try:
            result = await loop.run_turn(
                session, body.message, history=history, emit=emit, stream=True
            )
            await queue.put(("final", result.body()))
        except ApiError as error:
            await queue.put(
                ("error", {"status": error.status, "code": error.code, "message": error.message})
            )
        except Exception:
            log.exception("the copilot's streamed turn failed")
            await queue.put(
                ("error", {"status": 500, "code": "internal", "message": "internal error"})
            )
        finally:
            await queue.put(None)

    task = asyncio.create_task(work())
    _running.add(task)
    task.add_done_callback(_running.discard)

    async def events() -> AsyncIterator[bytes]:
        yield _sse("session", {"session_id": session.id})
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), settings.copilot_heartbeat_seconds)
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            if item is None:
                return
            yield _sse(*item)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _decision_route(decision: Literal["confirm", "reject"]) -> Any:
    async def decide_action(
        session_id: UUID, action_id: UUID, token: CallerToken, supabase: Supabase
    ) -> JSONResponse:
        answer = await decide(supabase.as_user(token), str(session_id), str(action_id), decision)
        return JSONResponse(answer)

    return decide_action


router.add_api_route(
    "/sessions/copilot/{session_id}/actions/{action_id}/confirm",
    _decision_route("confirm"),
    methods=["POST"],
    operation_id="copilot_confirm_action",
    summary="Confirm a pending action: it runs now, once, with your current rights",
    response_model=ActionDecision,
    responses=error_responses(401, 403, 404, 409, 422, 429, 502),
)
router.add_api_route(
    "/sessions/copilot/{session_id}/actions/{action_id}/reject",
    _decision_route("reject"),
    methods=["POST"],
    operation_id="copilot_reject_action",
    summary="Reject a pending action: it never runs",
    response_model=ActionDecision,
    responses=error_responses(401, 403, 404, 409, 422, 429, 502),
)


@router.post(
    "/sessions/copilot/{session_id}/close",
    operation_id="copilot_close_session",
    summary="Close your session: it is stored with a summary and its facts",
    description=(
        "Closes an open session of yours: nothing more is added to it and actions not yet "
        "decided can no longer be confirmed. Claude writes a short summary (one call, no "
        "tools; the transcript is given to it as data); without a key, or when the model "
        "fails or times out, the session is closed all the same, the facts the database "
        "counted (messages, tool calls, actions and their decisions, tokens) being its "
        "summary (`summary_source: facts`, `fallback` says why). The hospital's admins read a "
        "staff member's summary with `rpc/copilot_session_summary` (logged). Sessions idle "
        "for a day (`carebase.copilot_idle_after`) are closed by the database with their "
        "facts. Errors: 404 `session_not_found` (not yours), 409 `session_closed`."
    ),
    response_model=ClosedSession,
    responses=error_responses(401, 403, 404, 409, 422, 429, 502),
)
async def copilot_close(
    request: Request, session_id: UUID, token: CallerToken, supabase: Supabase
) -> JSONResponse:
    closed = await close_session(
        request.app.state.settings,
        request.app.state.claude,
        supabase.as_user(token),
        token_subject(token),
        str(session_id),
    )
    return JSONResponse(closed)
