"""A fake of Twilio's Messages API (SMS and WhatsApp).

`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`, `From`, `Body`,
HTTP basic auth `AccountSid:AuthToken`; answers 201 with the Message resource, or Twilio's
error body `{"code", "message", "more_info", "status"}`. WhatsApp: `whatsapp:` numbers, from
the account's WhatsApp sender; an approved template as `ContentSid` (HX...) and
`ContentVariables` (a JSON object) instead of a Body. `StatusCallback` is kept on the message.
Programmable: numbers that are invalid (21211), statuses to answer next.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status)


_FAILURE_CODES = {429: 20429, 500: 20500, 503: 20503}


class FakeTwilio:
    def __init__(
        self,
        account_sid: str = "AC" + "0" * 31 + "1",
        auth_token: str = "fake-twilio-auth-token",  # noqa: S107 (a fake's credential)
        from_number: str = "+15005550006",
        whatsapp_from: str = "whatsapp:+14155238886",
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.whatsapp_from = whatsapp_from
        self.lock = threading.Lock()
        self.reset()
        self.app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self.create, methods=["POST"])
            ]
        )

    def reset(self) -> None:
        with self.lock:
            self.sent: list[dict[str, Any]] = []
            self.requests: list[dict[str, str]] = []
            self.invalid_numbers: set[str] = set()
            self.fail_next: list[int] = []

    def messages_to(self, number: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.sent if m["to"] == number]

    def attempts_to(self, number: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.get("To") == number)

    def _authorized(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    async def create(self, request: Request) -> JSONResponse:
        if not self._authorized(request) or request.path_params["sid"] != self.account_sid:
            return twilio_error(401, 20003, "Authenticate")
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return twilio_error(
                400, 20001, "Content-Type must be application/x-www-form-urlencoded"
            )
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        with self.lock:
            self.requests.append(form)
            failure = self.fail_next.pop(0) if self.fail_next else None
            invalid = form.get("To") in self.invalid_numbers
        if failure is not None:
            return twilio_error(failure, _FAILURE_CODES.get(failure, 20500), "Service unavailable")
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        content_sid = form.get("ContentSid", "")
        whatsapp = to.startswith("whatsapp:")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to.removeprefix("whatsapp:")) or invalid:
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if sender != (self.whatsapp_from if whatsapp else self.from_number):
            return twilio_error(
                400,
                21606,
                f"The From phone number {sender} is not a valid, SMS-capable inbound phone"
                " number or short code for your account.",
            )
        if content_sid:
            if not re.fullmatch(r"HX[0-9a-f]{32}", content_sid):
                return twilio_error(400, 21655, "The ContentSid is invalid.")
            try:
                json.loads(form.get("ContentVariables") or "{}")
            except ValueError:
                return twilio_error(400, 21656, "The ContentVariables parameter is invalid.")
        elif not body:
            return twilio_error(400, 21602, "Message body is required.")
        sid = "SM" + uuid.uuid4().hex
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": sender,
            "body": body,
            "content_sid": content_sid or None,
            "content_variables": form.get("ContentVariables"),
            "status_callback": form.get("StatusCallback"),
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": formatdate(usegmt=True),
            "error_code": None,
            "error_message": None,
            "price": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        with self.lock:
            self.sent.append(message)
        return JSONResponse(message, status_code=201)
