"""The Vapi client against the local Vapi fake, over real HTTP on 127.0.0.1.

What "call me back" and the report sweep will rely on: a call is placed and can be read back,
refusals are permanent and outages transient, listing finds every call since a time (also past
one page), an ended call's report can be read from the API when the webhook never came; and
the server messages the fake sends are authenticated as Vapi's credentials do (HMAC over
`{timestamp}.{body}`, bearer, `X-Vapi-Secret`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest

from devstack.local_server import LocalServer
from sidecar.integrations.outcomes import DeliveryFailed
from sidecar.integrations.vapi import REFUSED, Call, VapiClient
from tests.fakes.receiver import Receiver
from tests.fakes.vapi import ASSISTANT_ID, PHONE_NUMBER_ID, FakeVapi

T = TypeVar("T")
KEY = "fake-vapi-private-key"
SECRET = "fake-vapi-server-secret"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeVapi, Receiver, str]]:
    fake, receiver = FakeVapi(), Receiver()
    with LocalServer(fake.app) as api, LocalServer(receiver.app) as server:
        fake.server_url = f"{server.url}/api/v1/webhooks/vapi"
        yield fake, receiver, api.url  # the base URL, as CAREBASE_VAPI_BASE_URL


@pytest.fixture
def vapi(served: tuple[FakeVapi, Receiver, str]) -> FakeVapi:
    fake, receiver, _ = served
    fake.reset()
    fake.scheme, fake.server_secret = "hmac", SECRET
    with receiver.lock:
        receiver.received.clear()
    return fake


@pytest.fixture
def receiver(served: tuple[FakeVapi, Receiver, str], vapi: FakeVapi) -> Receiver:
    return served[1]


@pytest.fixture
def api(served: tuple[FakeVapi, Receiver, str], vapi: FakeVapi) -> str:
    return served[2]


def with_client(api: str, use: Callable[[VapiClient], Awaitable[T]], key: str = KEY) -> T:
    async def run() -> T:
        async with httpx.AsyncClient(timeout=5) as http:
            return await use(VapiClient(api, key, http))

    return asyncio.run(run())


def failure_of(
    api: str, use: Callable[[VapiClient], Awaitable[Any]], key: str = KEY
) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        with_client(api, use, key)
    return caught.value


def call_back(number: str) -> Callable[[VapiClient], Awaitable[Call]]:
    return lambda c: c.create_call(
        assistant_id=ASSISTANT_ID, phone_number_id=PHONE_NUMBER_ID, customer_number=number
    )


async def since(client: VapiClient, moment: datetime, page_size: int = 100) -> list[Call]:
    return [call async for call in client.calls_since(moment, page_size=page_size)]


def test_a_call_back_is_placed_and_read_back(vapi: FakeVapi, api: str) -> None:
    async def use(client: VapiClient) -> tuple[Call, Call | None, Call | None]:
        placed = await call_back("+919812345678")(client)
        return placed, await client.get_call(placed.id), await client.get_call("no-such-call")

    placed, fetched, missing = with_client(api, use)
    assert placed.status == "queued" and placed.type == "outboundPhoneCall"
    assert placed.customer_number == "+919812345678"
    assert placed.assistant_id == ASSISTANT_ID and placed.phone_number_id == PHONE_NUMBER_ID
    assert fetched == placed and missing is None
    assert list(vapi.calls) == [placed.id]


def test_refusals_are_permanent(vapi: FakeVapi, api: str) -> None:
    not_e164 = failure_of(api, call_back("98123 45678"))
    assert not_e164.permanent and not_e164.code == REFUSED and "E.164" in str(not_e164)

    unknown_assistant = failure_of(
        api,
        lambda c: c.create_call(
            assistant_id="no-such-assistant",
            phone_number_id=PHONE_NUMBER_ID,
            customer_number="+919812345678",
        ),
    )
    assert unknown_assistant.permanent
    assert vapi.calls == {}


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_transient(vapi: FakeVapi, api: str, status: int) -> None:
    vapi.fail_next = [status]
    assert not failure_of(api, call_back("+919812345678")).permanent
    assert vapi.calls == {}


def test_a_wrong_key_and_an_unreachable_vapi_are_transient(vapi: FakeVapi, api: str) -> None:
    assert not failure_of(api, call_back("+919812345678"), key="the-public-key").permanent
    assert not failure_of("http://127.0.0.1:9", call_back("+919812345678")).permanent


def test_listing_finds_every_call_since_a_time_across_pages(vapi: FakeVapi, api: str) -> None:
    cutoff = datetime.now(UTC) - timedelta(hours=1)
    for n in range(5):
        vapi.inbound_call(f"+9198000000{n:02d}", created_at=cutoff - timedelta(minutes=n + 1))
    recent = {vapi.inbound_call(f"+9197{n:08d}") for n in range(250)}

    found = with_client(api, lambda c: since(c, cutoff, page_size=100))
    assert {call.id for call in found} == recent
    assert len(found) == 250
    assert vapi.requests.count("GET /call") >= 3


def test_an_ended_call_shows_its_report_in_the_api(vapi: FakeVapi, api: str) -> None:
    call_id = vapi.inbound_call("+919812345678")
    assert vapi.end_call(call_id, summary="Wants a follow-up", reports=0) == []

    ended = with_client(api, lambda c: c.get_call(call_id))
    assert ended is not None and ended.ended
    assert ended.summary == "Wants a follow-up" and ended.ended_reason == "customer-ended-call"
    assert ended.transcript and ended.transcript.startswith("AI:")
    assert ended.messages[0]["role"] == "assistant"
    assert ended.recording_url and ended.cost == 0.12
    assert ended.started_at and ended.ended_at and ended.ended_at >= ended.started_at


# Server messages


def hmac_verifies(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Vapi's HMAC credential, default payload format `{timestamp}.{body}`, hex SHA-256."""
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), signature)


def test_the_end_of_call_report_is_signed_and_a_tampered_one_does_not_verify(
    vapi: FakeVapi, receiver: Receiver
) -> None:
    call_id = vapi.inbound_call("+919812345678")
    sent = vapi.end_call(call_id, structured_data={"wants_callback": True}, reports=2)
    assert [d.status_code for d in sent] == [200, 200]

    first, second = receiver.received
    assert (
        first.body == second.body and first.headers["x-signature"] == second.headers["x-signature"]
    )
    assert first.path == "/api/v1/webhooks/vapi"
    stamp, signature = first.headers["x-timestamp"], first.headers["x-signature"]
    assert abs(int(stamp) - datetime.now(UTC).timestamp() * 1000) < 60_000
    assert hmac_verifies(SECRET, stamp, first.body, signature)
    assert not hmac_verifies(SECRET, stamp, first.body.replace(b"+9198", b"+9199"), signature)
    assert not hmac_verifies(SECRET, str(int(stamp) + 1), first.body, signature)
    assert not hmac_verifies("another-secret", stamp, first.body, signature)

    message = json.loads(first.body)["message"]
    assert message["type"] == "end-of-call-report"
    assert message["call"]["id"] == call_id
    assert message["call"]["customer"]["number"] == "+919812345678"
    assert message["endedReason"] == "customer-ended-call"
    assert message["analysis"]["structuredData"] == {"wants_callback": True}
    assert set(message["artifact"]) >= {"transcript", "messages", "recordingUrl"}
    assert isinstance(message["timestamp"], int)


def test_a_stale_timestamp_is_signed_as_given(vapi: FakeVapi, receiver: Receiver) -> None:
    an_hour_ago = int((datetime.now(UTC) - timedelta(hours=1)).timestamp() * 1000)
    vapi.send({"type": "status-update", "status": "ringing", "call": {}}, timestamp_ms=an_hour_ago)
    got = receiver.received[0]
    assert got.headers["x-timestamp"] == str(an_hour_ago)
    assert hmac_verifies(SECRET, str(an_hour_ago), got.body, got.headers["x-signature"])


@pytest.mark.parametrize(
    ("scheme", "header", "value"),
    [
        ("bearer", "authorization", f"Bearer {SECRET}"),
        ("x-vapi-secret", "x-vapi-secret", SECRET),
    ],
)
def test_token_credentials_send_the_secret_in_their_header(
    vapi: FakeVapi, receiver: Receiver, scheme: str, header: str, value: str
) -> None:
    vapi.scheme = scheme
    call_id = vapi.inbound_call("+919812345678")
    vapi.status_update(call_id, "ended")
    got = receiver.received[0]
    assert got.headers[header] == value
    assert "x-signature" not in got.headers
    assert json.loads(got.body)["message"]["type"] == "status-update"


def test_send_returns_the_servers_answer(vapi: FakeVapi, receiver: Receiver) -> None:
    receiver.reply = {"results": [{"toolCallId": "t1", "name": "find_slots", "result": "none"}]}
    try:
        delivery = vapi.send({"type": "tool-calls", "toolCallList": [], "call": {}})
    finally:
        receiver.reply = None
    assert delivery.answer["results"][0]["toolCallId"] == "t1"
