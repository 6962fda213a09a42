"""CORS for the public website form alone: the hospitals' websites may POST leads from a browser;
no other route answers a cross-origin request (they need a user's token anyway)."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


class WebsiteFormCors:
    def __init__(self, app: ASGIApp, path: str, origins: list[str]) -> None:
        self.app = app
        self.path = path
        self.cors = CORSMiddleware(
            app, allow_origins=origins, allow_methods=["POST"], allow_headers=["content-type"]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
