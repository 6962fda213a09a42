"""/realtime/v1 with the official `realtime` client (Phoenix serializer 1.0.0): Broadcast
between clients and from the database (only after commit), private channels joined only as
the RLS policies on realtime.messages allow, and channels closed when their token expires or
a new token no longer reads the topic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import psycopg
import pytest
from realtime import AsyncRealtimeChannel, AsyncRealtimeClient, RealtimeSubscribeStates

from devstack.config import Settings
from devstack.gateway import tokens
from tests.postgrest_session import PostgrestSession

PATIENT_USER = "50000000-0000-4000-8000-000000000001"
OTHER_PATIENT_USER = "50000000-0000-4000-8000-000000000002"
WAIT = 2.0  # seconds a delivery may take before the test says it never came


def claims(stack: Settings, user: str, **changes: Any) -> dict[str, Any]:
    with psycopg.connect(stack.dsn()) as conn:
        found = PostgrestSession(conn).claims_for(user, "aal1")
    return {**found, **changes}


def token(stack: Settings, user: str, **changes: Any) -> str:
    return tokens.issue(claims(stack, user, **changes), stack.jwt_secret)


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(scenario(), 30))


class Joined:
    """A channel subscribed by a client of its own, with what it received."""

    def __init__(self, client: AsyncRealtimeClient, channel: AsyncRealtimeChannel) -> None:
        self.client = client
        self.channel = channel
        self.states: list[tuple[RealtimeSubscribeStates, Exception | None]] = []
        self.broadcasts: list[dict[str, Any]] = []

    @property
    def subscribed(self) -> bool:
        return bool(self.states) and self.states[-1][0] == RealtimeSubscribeStates.SUBSCRIBED

    async def received(self, count: int = 1, within: float = WAIT) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + within
        while len(self.broadcasts) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return self.broadcasts


async def join(
    gateway: str,
    stack: Settings,
    topic: str,
    *,
    access_token: str | None = None,
    private: bool = False,
    self_broadcast: bool = False,
    ack: bool = False,
) -> Joined:
    client = AsyncRealtimeClient(f"{gateway}/realtime/v1", stack.anon_key, auto_reconnect=False)
    await client.connect()
    if access_token:
        await client.set_auth(access_token)
    channel = client.channel(
        topic,
        {
            "config": {
                "broadcast": {"self": self_broadcast, "ack": ack},
                "presence": {"key": "", "enabled": False},
                "private": private,
            }
        },
    )
    joined = Joined(client, channel)
    channel.on_broadcast("*", joined.broadcasts.append)
    await channel.subscribe(lambda state, error: joined.states.append((state, error)))
    return joined


def database_send(stack: Settings, topic: str, payload: dict, private: bool) -> None:
    with psycopg.connect(stack.dsn()) as conn:
        conn.execute(
            "select realtime.send(%s::jsonb, 'changed', %s, %s)",
            (json.dumps(payload), topic, private),
        )


# --- connecting --------------------------------------------------------------------------


def test_a_socket_without_a_known_api_key_is_refused_before_the_upgrade(gateway: str) -> None:
    url = f"{gateway}/realtime/v1/websocket"
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    headers["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
    missing = httpx.get(url, headers=headers)
    wrong = httpx.get(url, params={"apikey": "not-a-key"}, headers=headers)
    assert (missing.status_code, missing.json()) == (
        401,
        {"message": "No API key found in request"},
    )
    assert (wrong.status_code, wrong.json()) == (401, {"message": "Invalid API key"})


# --- Broadcast between clients -------------------------------------------------------------


def test_a_broadcast_reaches_the_other_clients_of_the_channel_and_the_sender_only_with_self(
    gateway: str, stack: Settings
) -> None:
    async def scenario() -> tuple[list, list, list, Any]:
        listener = await join(gateway, stack, "room-self-test")
        quiet_sender = await join(gateway, stack, "room-self-test", ack=True)
        echoing_sender = await join(gateway, stack, "room-self-test", self_broadcast=True)
        acked = await quiet_sender.channel.send_broadcast("note", {"n": 1})
        await echoing_sender.channel.send_broadcast("note", {"n": 2})
        await listener.received(2)
        await echoing_sender.received(2)
        await asyncio.sleep(0.3)  # time for a wrong delivery to the quiet sender to arrive
        for joined in (listener, quiet_sender, echoing_sender):
            await joined.client.close()
        return listener.broadcasts, quiet_sender.broadcasts, echoing_sender.broadcasts, acked

    heard, quiet, echoed, acked = run(scenario)
    assert sorted(b["payload"]["n"] for b in heard) == [1, 2]
    assert all(b["event"] == "note" for b in heard)
    assert [b["payload"]["n"] for b in quiet] == [2]  # the other's, never its own
    assert sorted(b["payload"]["n"] for b in echoed) == [1, 2]  # its own too
    assert acked is None or getattr(acked, "status", "ok") == "ok"


def test_a_channel_of_another_name_hears_nothing(gateway: str, stack: Settings) -> None:
    async def scenario() -> list:
        elsewhere = await join(gateway, stack, "room-b")
        sender = await join(gateway, stack, "room-a")
        await sender.channel.send_broadcast("note", {"n": 1})
        await elsewhere.received(1, within=0.5)
        await sender.client.close()
        await elsewhere.client.close()
        return elsewhere.broadcasts

    assert run(scenario) == []


# --- Broadcast from the database -----------------------------------------------------------


def test_realtime_send_is_delivered_after_commit_never_before(
    gateway: str, stack: Settings
) -> None:
    async def scenario() -> tuple[list, list]:
        listener = await join(gateway, stack, "ward-board")
        with psycopg.connect(stack.dsn()) as conn:
            conn.execute(
                "select realtime.send('{\"bed\": 4}'::jsonb, 'changed', 'ward-board', false)"
            )
            before_commit = list(await listener.received(1, within=0.5))
            conn.commit()
        after_commit = await listener.received(1)
        await listener.client.close()
        return before_commit, after_commit

    before, after = run(scenario)
    assert before == []
    assert len(after) == 1
    assert after[0]["event"] == "changed"
    assert after[0]["payload"]["bed"] == 4
    assert after[0]["meta"]["id"]  # Realtime's wrapping of a database message


def test_a_rolled_back_send_is_never_delivered(gateway: str, stack: Settings) -> None:
    async def scenario() -> list:
        listener = await join(gateway, stack, "ward-board-2")
        with psycopg.connect(stack.dsn()) as conn:
            conn.execute(
                "select realtime.send('{\"bed\": 5}'::jsonb, 'changed', 'ward-board-2', false)"
            )
            conn.rollback()
        received = await listener.received(1, within=0.7)
        await listener.client.close()
        return received

    assert run(scenario) == []


def test_a_private_message_does_not_reach_a_public_channel_of_the_same_name(
    gateway: str, stack: Settings
) -> None:
    async def scenario() -> list:
        public = await join(gateway, stack, "same-name")
        database_send(stack, "same-name", {"secret": True}, private=True)
        database_send(stack, "same-name", {"secret": False}, private=False)
        received = await public.received(2, within=0.7)
        await public.client.close()
        return received

    assert [b["payload"]["secret"] for b in run(scenario)] == [False]


# --- joins refused -------------------------------------------------------------------------


def test_postgres_changes_are_refused_clearly(gateway: str, stack: Settings) -> None:
    async def scenario() -> list:
        client = AsyncRealtimeClient(f"{gateway}/realtime/v1", stack.anon_key)
        await client.connect()
        channel = client.channel("db-changes")
        channel.on_postgres_changes("*", lambda change: None, table="appointments")
        states: list = []
        await channel.subscribe(lambda state, error: states.append((state, str(error))))
        await client.close()
        return states

    states = run(scenario)
    assert states[-1][0] == RealtimeSubscribeStates.CHANNEL_ERROR
    assert "PostgresChangesNotSupported" in states[-1][1]


def test_an_expired_access_token_cannot_join(gateway: str, stack: Settings) -> None:
    expired = token(stack, PATIENT_USER, exp=tokens.now() - 5)

    async def scenario() -> Joined:
        joined = await join(gateway, stack, "room-expired", access_token=expired)
        await joined.client.close()
        return joined

    joined = run(scenario)
    assert not joined.subscribed
    assert "InvalidJWTToken: Token has expired" in str(joined.states[-1][1])


def test_a_token_that_expires_closes_its_channel_with_a_system_message(
    gateway: str, stack: Settings
) -> None:
    short = token(stack, PATIENT_USER, exp=tokens.now() + 2)

    async def scenario() -> Joined:
        joined = await join(gateway, stack, "room-expiring", access_token=short)
        deadline = asyncio.get_running_loop().time() + 6
        while joined.channel.is_joined and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        await joined.client.close()
        return joined

    joined = run(scenario)
    # The system error message reaches the client as a channel error, then phx_close.
    (first, _), (errored, error), (last, _) = joined.states
    assert (first, errored, last) == (
        RealtimeSubscribeStates.SUBSCRIBED,
        RealtimeSubscribeStates.CHANNEL_ERROR,
        RealtimeSubscribeStates.CLOSED,
    )
    assert json.loads(str(error))["message"].startswith("Token has expired")
    assert joined.channel.is_closed


@pytest.mark.parametrize("count", [101])
def test_a_socket_holds_at_most_100_channels(gateway: str, stack: Settings, count: int) -> None:
    async def scenario() -> list[RealtimeSubscribeStates]:
        client = AsyncRealtimeClient(f"{gateway}/realtime/v1", stack.anon_key)
        await client.connect()
        states: list[RealtimeSubscribeStates] = []
        for n in range(count):
            channel = client.channel(f"many-{n}")
            await channel.subscribe(lambda state, error: states.append(state))
        await client.close()
        return states

    states = run(scenario)
    assert states[:100] == [RealtimeSubscribeStates.SUBSCRIBED] * 100
    assert states[100] == RealtimeSubscribeStates.CHANNEL_ERROR
