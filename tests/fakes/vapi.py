"""A fake of Vapi: its calls API and the server messages it sends to a server URL.

API (`Authorization: Bearer <private key>`): `POST /call` with `{"assistantId", "phoneNumberId",
"customer": {"number"}}` answers 201 with a queued Call; `GET /call` (`id`, `assistantId`,
`phoneNumberId`, `createdAtGt`/`Lt`/`Ge`/`Le`, `limit` up to 1000, default 100) answers the
matching Calls newest first; `GET /call/{id}` one, or 404. Errors are NestJS's `{"message",
"error", "statusCode"}` (`message` a list for validation errors).

Server messages: `POST {"message": {"type", "timestamp", "call", ...}}` to `server_url`,
authenticated as the configured credential does: `bearer` (`Authorization: Bearer <secret>`),
`x-vapi-secret` (the secret alone in `X-Vapi-Secret`), `hmac` (`x-signature` = hex
HMAC-SHA256 of `{timestamp}.{body}`, `x-timestamp`: Vapi's docs do not give the unit; the fake
sends milliseconds since the epoch, the unit of the messages' own `timestamp`), or `none`.
The test drives calls: `inbound_call` (a patient rings the clinic), `end_call` (sends the
`end-of-call-report` once, twice or never), `status_update`, and `send` for any other message
(`assistant-request`), and `tool_calls` (the assistant calls tools), which return the server's
answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ASSISTANT_ID = "5b0a4a08-1fd3-4d5a-9e6b-0d1f0e9a1a01"
PHONE_NUMBER_ID = "8c2f7e51-3b9d-4c0e-a6f4-2e7d9b1c5a02"
PHONE_NUMBER = "+918045678900"
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_STATUS_NAMES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
}
SCHEMES = ("bearer", "x-vapi-secret", "hmac", "none")


def vapi_error(status: int, message: str | list[str]) -> JSONResponse:
    error = _STATUS_NAMES.get(status, "Internal Server Error")
    return JSONResponse({"message": message, "error": error, "statusCode": status}, status)


def hmac_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`x-signature` for Vapi's HMAC credential with its default payload `{timestamp}.{body}`."""
    signed = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _now() -> datetime:
    """Now at the millisecond, the resolution of Vapi's JSON times."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _parse_time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


@dataclass
class Delivery:
    type: str
    body: bytes
    headers: dict[str, str]
    status_code: int | None  # None: the server URL could not be reached
    answer: Any = None  # the server's JSON answer, when it gave one


class FakeVapi:
    def __init__(
        self,
        api_key: str = "fake-vapi-private-key",
        server_url: str | None = None,
        scheme: str = "hmac",
        server_secret: str = "fake-vapi-server-secret",  # noqa: S107 (a fake's credential)
    ) -> None:
        self.api_key = api_key
        self.server_url = server_url
        self.scheme = scheme
        self.server_secret = server_secret
        self.lock = threading.Lock()
        self.reset()
        self.app = Starlette(
            routes=[
                Route("/call", self.create_call_route, methods=["POST"]),
                Route("/call", self.list_calls_route, methods=["GET"]),
                Route("/call/{id}", self.get_call_route, methods=["GET"]),
            ]
        )

    def reset(self) -> None:
        with self.lock:
            self.calls: dict[str, dict[str, Any]] = {}
            self.org_id = str(uuid.uuid4())
            self.assistant_ids = {ASSISTANT_ID}
            self.phone_number_ids = {PHONE_NUMBER_ID}
            self.requests: list[str] = []
            self.fail_next: list[int] = []
            self.deliveries: list[Delivery] = []

    # What happens on the phone

    def inbound_call(
        self, number: str, created_at: datetime | None = None, assistant_id: str = ASSISTANT_ID
    ) -> str:
        """A patient calls the clinic's number; returns the call id."""
        with self.lock:
            call = self._new_call("inboundPhoneCall", assistant_id, PHONE_NUMBER_ID, number)
            if created_at is not None:
                call["createdAt"] = call["updatedAt"] = iso(created_at)
            call["status"] = "in-progress"
            call["startedAt"] = call["createdAt"]
        return call["id"]

    def status_update(self, call_id: str, status: str) -> list[Delivery]:
        with self.lock:
            call = self.calls[call_id]
            call["status"] = status
            call["updatedAt"] = iso(_now())
            message = {"type": "status-update", "status": status, "call": dict(call)}
        return [self.send(message)]

    def end_call(
        self,
        call_id: str,
        *,
        transcript: str = "AI: Namaste, how can I help?\nUser: I need to see the doctor.",
        summary: str = "The caller asked for an appointment.",
        structured_data: dict[str, Any] | None = None,
        ended_reason: str = "customer-ended-call",
        duration_seconds: int = 95,
        cost: float = 0.12,
        reports: int = 1,
    ) -> list[Delivery]:
        """Ends the call and sends its `end-of-call-report` `reports` times (0: it never comes,
        as when Vapi gives up; the call still shows ended in the API)."""
        with self.lock:
            call = self.calls[call_id]
            ended = _now()
            started = _parse_time(call.get("startedAt") or "") or ended - timedelta(
                seconds=duration_seconds
            )
            messages = [
                {
                    "role": "assistant" if line.startswith("AI:") else "user",
                    "message": line.split(":", 1)[1].strip(),
                }
                for line in transcript.splitlines()
                if line.startswith(("AI:", "User:"))
            ]
            recording = f"https://storage.vapi.ai/{call_id}-mono.wav"
            call.update(
                {
                    "status": "ended",
                    "startedAt": iso(started),
                    "endedAt": iso(ended),
                    "updatedAt": iso(ended),
                    "endedReason": ended_reason,
                    "cost": cost,
                    "artifact": {
                        "transcript": transcript,
                        "messages": messages,
                        "recordingUrl": recording,
                        "recording": {"mono": {"combinedUrl": recording}},
                    },
                    "analysis": {
                        "summary": summary,
                        "structuredData": structured_data or {},
                        "successEvaluation": "true",
                    },
                }
            )
            report = {
                "type": "end-of-call-report",
                "endedReason": ended_reason,
                "cost": cost,
                "startedAt": call["startedAt"],
                "endedAt": call["endedAt"],
                "artifact": call["artifact"],
                "analysis": call["analysis"],
                "customer": call["customer"],
                "phoneNumber": {"id": call["phoneNumberId"], "number": PHONE_NUMBER},
                "assistant": {"id": call["assistantId"]},
                "call": dict(call),
            }
        if not reports:
            return []
        first = self.send(report)
        # A redelivery is the same request again: same body, same signature.
        again = [self._post(first.type, first.body, first.headers) for _ in range(reports - 1)]
        return [first, *again]

    # Server messages

    def send(self, message: dict[str, Any], *, timestamp_ms: int | None = None) -> Delivery:
        """Posts one server message, authenticated per `scheme`; `timestamp_ms` signs as of
        another time (a stale one, to test the window)."""
        if not self.server_url:
            raise RuntimeError("no server URL: set FakeVapi.server_url")
        stamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        body = json.dumps({"message": {"timestamp": stamp, **message}}).encode()
        return self._post(message["type"], body, self.auth_headers(body, stamp))

    def tool_calls(self, call_id: str, *calls: tuple[str, dict[str, Any]]) -> Delivery:
        """The assistant calls tools during the call: a `tool-calls` message as Vapi sends it,
        `toolCallList` items `{id, type: function, function: {name, arguments}}` (the
        arguments as the model's JSON string) and the same calls in `toolWithToolCallList`."""
        with self.lock:
            call = dict(self.calls[call_id])
        listed = [
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            for name, arguments in calls
        ]
        message = {
            "type": "tool-calls",
            "call": call,
            "customer": call.get("customer"),
            "toolCallList": listed,
            "toolWithToolCallList": [
                {"type": "function", "name": item["function"]["name"], "toolCall": item}
                for item in listed
            ],
        }
        return self.send(message)

    def auth_headers(self, body: bytes, timestamp_ms: int) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.scheme == "bearer":
            headers["Authorization"] = f"Bearer {self.server_secret}"
        elif self.scheme == "x-vapi-secret":
            headers["X-Vapi-Secret"] = self.server_secret
        elif self.scheme == "hmac":
            stamp = str(timestamp_ms)
            headers["x-timestamp"] = stamp
            headers["x-signature"] = hmac_signature(self.server_secret, stamp, body)
        elif self.scheme != "none":
            raise ValueError(f"scheme must be one of {SCHEMES}")
        return headers

    def _post(self, kind: str, body: bytes, headers: dict[str, str]) -> Delivery:
        answer = None
        try:
            response = httpx.post(str(self.server_url), content=body, headers=headers, timeout=10)
            status: int | None = response.status_code
            try:
                answer = response.json()
            except ValueError:
                answer = None
        except httpx.HTTPError:
            status = None
        delivery = Delivery(kind, body, headers, status, answer)
        with self.lock:
            self.deliveries.append(delivery)
        return delivery

    # Calls (callers hold the lock)

    def _new_call(
        self, kind: str, assistant_id: str, phone_number_id: str, number: str
    ) -> dict[str, Any]:
        now = iso(_now())
        call = {
            "id": str(uuid.uuid4()),
            "orgId": self.org_id,
            "type": kind,
            "status": "queued",
            "assistantId": assistant_id,
            "phoneNumberId": phone_number_id,
            "customer": {"number": number},
            "phoneCallProvider": "twilio",
            "phoneCallTransport": "pstn",
            "phoneCallProviderId": "CA" + uuid.uuid4().hex,
            "createdAt": now,
            "updatedAt": now,
        }
        self.calls[call["id"]] = call
        return call

    # The API

    def _gate(self, request: Request) -> JSONResponse | None:
        with self.lock:
            self.requests.append(f"{request.method} {request.url.path}")
            failure = self.fail_next.pop(0) if self.fail_next else None
        if failure is not None:
            return vapi_error(failure, "Simulated failure")
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return vapi_error(401, "Invalid Key. Hot tip, you may be using the public key.")
        return None

    async def create_call_route(self, request: Request) -> JSONResponse:
        refusal = self._gate(request)
        if refusal:
            return refusal
        try:
            body = await request.json()
        except ValueError:
            return vapi_error(400, "Invalid JSON")
        if not isinstance(body, dict):
            return vapi_error(400, "Invalid JSON")
        number = (body.get("customer") or {}).get("number")
        assistant_id = body.get("assistantId")
        phone_number_id = body.get("phoneNumberId")
        if not isinstance(number, str) or not _E164.match(number):
            return vapi_error(
                400,
                [
                    "customer.number must be a valid phone number in the E.164 format."
                    " Hot tip, you may be missing the country code (Eg. US: +1)."
                ],
            )
        with self.lock:
            if assistant_id not in self.assistant_ids:
                message = f"Couldn't Get Assistant. `assistantId` {assistant_id} Does Not Exist."
                return vapi_error(400, message)
            if phone_number_id not in self.phone_number_ids:
                message = f"Couldn't Get Phone Number. `phoneNumberId` {phone_number_id} Not Found."
                return vapi_error(400, message)
            call = self._new_call("outboundPhoneCall", assistant_id, phone_number_id, number)
            if body.get("name"):
                call["name"] = str(body["name"])
            shown = dict(call)
        return JSONResponse(shown, status_code=201)

    async def list_calls_route(self, request: Request) -> JSONResponse:
        refusal = self._gate(request)
        if refusal:
            return refusal
        query = request.query_params
        try:
            limit = int(query.get("limit", "100"))
        except ValueError:
            return vapi_error(400, ["limit must be a number"])
        if not 0 <= limit <= 1000:
            return vapi_error(400, ["limit must not be greater than 1000"])
        bounds = {}
        for name in ("createdAtGt", "createdAtLt", "createdAtGe", "createdAtLe"):
            if name in query:
                moment = _parse_time(query[name])
                if moment is None:
                    return vapi_error(400, [f"{name} must be a valid ISO 8601 date string"])
                bounds[name] = moment

        def wanted(call: dict[str, Any]) -> bool:
            created = datetime.fromisoformat(call["createdAt"])
            return (
                all(query.get(k) in (None, call.get(k)) for k in ("assistantId", "phoneNumberId"))
                and query.get("id") in (None, call["id"])
                and ("createdAtGt" not in bounds or created > bounds["createdAtGt"])
                and ("createdAtLt" not in bounds or created < bounds["createdAtLt"])
                and ("createdAtGe" not in bounds or created >= bounds["createdAtGe"])
                and ("createdAtLe" not in bounds or created <= bounds["createdAtLe"])
            )

        with self.lock:
            found = [dict(c) for c in self.calls.values() if wanted(c)]
        found.sort(key=lambda c: c["createdAt"], reverse=True)
        return JSONResponse(found[:limit])

    async def get_call_route(self, request: Request) -> JSONResponse:
        refusal = self._gate(request)
        if refusal:
            return refusal
        with self.lock:
            call = self.calls.get(request.path_params["id"])
            shown = dict(call) if call else None
        if shown is None:
            return vapi_error(404, "Not Found")
        return JSONResponse(shown)
