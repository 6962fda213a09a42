"""A fake of FCM's HTTP v1 send endpoint (FCM has no emulator).

`POST /v1/projects/{project}/messages:send` with `Authorization: Bearer <token>` and
`{"message": {"token", "notification": {"title", "body"}, "data": {str: str}, ...}}`; answers
`{"name": "projects/{project}/messages/{id}"}`, or Google's error body `{"error": {"code",
"message", "status", "details": [{"@type": "...FcmError", "errorCode"}]}}`.
Programmable: tokens that are UNREGISTERED, statuses to answer next, a delay per request.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_FCM_CODES = {429: "QUOTA_EXCEEDED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def google_error(status: int, message: str, error_code: str | None = None) -> JSONResponse:
    details = [{"@type": _FCM_ERROR, "errorCode": error_code}] if error_code else []
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
            "details": details,
        }
    }
    return JSONResponse(body, status_code=status)


def _invalid(field: str, description: str) -> JSONResponse:
    body = {
        "error": {
            "code": 400,
            "message": description,
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": _BAD_REQUEST,
                    "fieldViolations": [{"field": field, "description": description}],
                }
            ],
        }
    }
    return JSONResponse(body, status_code=400)


class FakeFcm:
    def __init__(
        self,
        project_id: str = "demo-carebase",
        access_token: str = "fake-oauth",  # noqa: S107 (a fake's credential)
    ) -> None:
        self.project_id = project_id
        self.access_token = access_token
        self.lock = threading.Lock()
        self.reset()
        self.app = Starlette(
            routes=[Route("/v1/projects/{project}/messages:send", self.send, methods=["POST"])]
        )

    def reset(self) -> None:
        with self.lock:
            self.sent: list[dict[str, Any]] = []  # accepted `message` objects
            self.requests = 0
            self.unregistered: set[str] = set()
            self.fail_next: list[int] = []  # statuses to answer, one per request, in order
            self.delay = 0.0

    def messages_for(self, notification_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                m for m in self.sent if m.get("data", {}).get("notification_id") == notification_id
            ]

    async def send(self, request: Request) -> JSONResponse:
        with self.lock:
            self.requests += 1
            failure = self.fail_next.pop(0) if self.fail_next else None
            delay = self.delay
        if delay:
            await asyncio.sleep(delay)
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return google_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            )
        if request.path_params["project"] != self.project_id:
            return google_error(403, "SenderId mismatch", "SENDER_ID_MISMATCH")
        if failure is not None:
            return google_error(
                failure, "The service is currently unavailable.", _FCM_CODES.get(failure)
            )
        try:
            body = await request.json()
        except ValueError:
            return _invalid("", "Invalid JSON payload received.")
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, dict):
            return _invalid(
                "message", "Invalid JSON payload received. Unknown name or missing message."
            )
        targets = [key for key in ("token", "topic", "condition") if key in message]
        if len(targets) != 1:
            return _invalid("message", "exactly one of token, topic, condition must be set")
        notification = message.get("notification", {})
        if not isinstance(notification, dict) or not all(
            isinstance(notification.get(key, ""), str) for key in ("title", "body")
        ):
            return _invalid("message.notification", "title and body must be strings")
        for key, value in (message.get("data") or {}).items():
            if not isinstance(value, str):
                return _invalid(
                    f"message.data[{key}].value",
                    f"Invalid value at 'message.data[{key}].value' (TYPE_STRING)",
                )
        token = message.get("token")
        if token is not None:
            if not isinstance(token, str) or not token or token.startswith("invalid"):
                return google_error(
                    400,
                    "The registration token is not a valid FCM registration token",
                    "INVALID_ARGUMENT",
                )
            if token in self.unregistered:
                return google_error(404, "Requested entity was not found.", "UNREGISTERED")
        with self.lock:
            self.sent.append(message)
        return JSONResponse(
            {"name": f"projects/{self.project_id}/messages/{uuid.uuid4().int % 10**16}"}
        )
