"""A stand-in subscriber: records every request's raw body and headers, answers 200 (or what
it is told), so that tests can check what a fake sends exactly as it was sent."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lowercase names
    body: bytes


class Receiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.answer_next: list[int] = []  # statuses to answer, one per request
        self.reply: dict | None = None  # JSON to answer with (e.g. a tool-calls result)
        self.app = Starlette(routes=[Route("/{path:path}", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.received.append(
                Received(request.url.path, {k.lower(): v for k, v in request.headers.items()}, body)
            )
            status = self.answer_next.pop(0) if self.answer_next else 200
            reply = self.reply
        return JSONResponse(reply if reply is not None else {"ok": True}, status_code=status)
