"""Vapi's API: calling a patient back, and listing calls whose report never arrived.

`POST {base}/call` with `Authorization: Bearer <private key>` and `{"assistantId",
"phoneNumberId", "customer": {"number"}}` answers 201 with the Call; `GET {base}/call` (filters
`createdAtGt`/`createdAtLt`/`createdAtGe`/`createdAtLe`, `limit` up to 1000, default 100)
answers an array of Calls; `GET {base}/call/{id}` one Call. Errors are NestJS's
`{"message", "error", "statusCode"}`. A Call's report (transcript, recording, summary,
structured data) is in `artifact` and `analysis` once it has ended.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from sidecar.integrations.outcomes import DeliveryFailed, permanent, transient

MAX_LIMIT = 1000  # GET /call: `limit` is at most 1000

# DeliveryFailed.code values a caller can act on.
NOT_FOUND = "not_found"
REFUSED = "refused"  # Vapi refused the request itself (bad number, unknown assistant...)


@dataclass(frozen=True)
class Call:
    id: str
    type: str  # inboundPhoneCall, outboundPhoneCall, webCall
    status: str  # scheduled, queued, ringing, in-progress, forwarding, ended
    customer_number: str | None
    assistant_id: str | None
    phone_number_id: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    ended_reason: str | None
    cost: float | None
    transcript: str | None
    recording_url: str | None
    summary: str | None
    structured_data: Mapping[str, Any] | None
    messages: tuple[Mapping[str, Any], ...]

    @property
    def ended(self) -> bool:
        return self.status == "ended"


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("Vapi times must be timezone-aware")
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _call(data: Mapping[str, Any]) -> Call:
    artifact = data.get("artifact") or {}
    analysis = data.get("analysis") or {}
    recording = (artifact.get("recording") or {}).get("mono") or {}
    cost = data.get("cost")
    return Call(
        id=str(data["id"]),
        type=str(data.get("type") or ""),
        status=str(data.get("status") or ""),
        customer_number=(data.get("customer") or {}).get("number"),
        assistant_id=data.get("assistantId"),
        phone_number_id=data.get("phoneNumberId"),
        created_at=datetime.fromisoformat(data["createdAt"]),
        started_at=_time(data.get("startedAt")),
        ended_at=_time(data.get("endedAt")),
        ended_reason=data.get("endedReason"),
        cost=float(cost) if isinstance(cost, int | float) else None,
        transcript=artifact.get("transcript"),
        recording_url=artifact.get("recordingUrl") or recording.get("combinedUrl"),
        summary=analysis.get("summary"),
        structured_data=analysis.get("structuredData"),
        messages=tuple(artifact.get("messages") or data.get("messages") or ()),
    )


def _failure(response: httpx.Response, what: str) -> DeliveryFailed:
    try:
        message = response.json().get("message", "")
    except (ValueError, AttributeError):
        message = response.text[:200]
    if isinstance(message, list):  # NestJS validation: one line per field
        message = "; ".join(str(m) for m in message)
    described = f"vapi {what}: {response.status_code} {message}".strip()
    status = response.status_code
    if status == 429 or status >= 500:
        return transient(described)
    if status in (401, 403):
        # Our key: an operator fixes it, then the retry goes through.
        return transient(described)
    if status == 404:
        return permanent(described, NOT_FOUND)
    return permanent(described, REFUSED)


class VapiClient:
    def __init__(self, base_url: str, api_key: str, http: httpx.AsyncClient) -> None:
        self.base = base_url.rstrip("/")
        self.api_key = api_key
        self.http = http

    async def _request(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        try:
            response = await self.http.request(
                method, f"{self.base}{path}", headers=headers, **kwargs
            )
        except httpx.HTTPError as error:
            raise transient(f"vapi {what}: unreachable ({type(error).__name__})") from error
        if response.status_code >= 300:
            raise _failure(response, what)
        return response

    async def create_call(
        self,
        *,
        assistant_id: str,
        phone_number_id: str,
        customer_number: str,
        name: str | None = None,
    ) -> Call:
        """Asks Vapi to call `customer_number` (E.164) now; returns the queued call.

        Vapi has no idempotency key either: a timed-out request may have placed the call, so
        callers record the attempt first and, before trying again, look for a call to the
        same number created since (`calls_since`)."""
        body: dict[str, Any] = {
            "assistantId": assistant_id,
            "phoneNumberId": phone_number_id,
            "customer": {"number": customer_number},
        }
        if name:
            body["name"] = name[:40]
        response = await self._request("POST", "/call", "create call", json=body)
        return _call(response.json())

    async def get_call(self, call_id: str) -> Call | None:
        try:
            response = await self._request("GET", f"/call/{call_id}", "get call")
        except DeliveryFailed as failure:
            if failure.code == NOT_FOUND:
                return None
            raise
        return _call(response.json())

    async def calls_since(
        self, created_after: datetime, *, page_size: int = 100
    ) -> AsyncIterator[Call]:
        """Every call created after `created_after`, each once. GET /call has no offset and
        lists newest first: a full page is followed by the calls created up to its oldest."""
        limit = min(max(page_size, 1), MAX_LIMIT)
        seen: set[str] = set()
        older_than: datetime | None = None
        while True:
            params: dict[str, Any] = {"createdAtGt": _iso(created_after), "limit": limit}
            if older_than is not None:
                params["createdAtLe"] = _iso(older_than)  # Le: calls sharing that instant
            response = await self._request("GET", "/call", "list calls", params=params)
            page = [_call(item) for item in response.json()]
            fresh = [call for call in page if call.id not in seen]
            for call in fresh:
                seen.add(call.id)
                yield call
            if len(page) < limit or not fresh:
                return
            older_than = min(call.created_at for call in page)
