"""/realtime/v1 with the official `realtime` client (Phoenix serializer 1.0.0): Broadcast
between clients and from the database (only after commit), private channels joined only as
the RLS policies on realtime.messages allow, and channels closed when their token expires or
a new token no longer reads the topic."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import psycopg
import pytest
import websockets
from realtime import AsyncRealtimeChannel, AsyncRealtimeClient, RealtimeSubscribeStates

from devstack.config import Settings
from devstack.gateway import tokens
from devstack.postgrest_session import PostgrestSession

PATIENT_USER = "50000000-0000-4000-8000-000000000001"
OTHER_PATIENT_USER = "50000000-0000-4000-8000-000000000002"
OTHER_PATIENT = "60000000-0000-4000-8000-000000000002"
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


# --- Postgres Changes: each row change only to subscribers whose RLS reads the row ----------

PATIENT = "60000000-0000-4000-8000-000000000001"
DOCTOR_USER = "20000000-0000-4000-8000-000000000002"


async def watch_changes(
    gateway: str, stack: Settings, user: str, table: str, filter: str | None = None
) -> tuple[AsyncRealtimeClient, list[dict], list]:
    client = AsyncRealtimeClient(f"{gateway}/realtime/v1", stack.anon_key, auto_reconnect=False)
    await client.connect()
    await client.set_auth(token(stack, user))
    changes: list[dict] = []
    states: list = []
    channel = client.channel(f"changes-{table}-{user}-{filter}")
    channel.on_postgres_changes("INSERT", changes.append, table=table, filter=filter)
    await channel.subscribe(lambda state, error: states.append((state, error)))
    return client, changes, states


async def first_of(changes: list[dict], within: float = WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not changes and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # time for a wrong or second delivery to arrive


def test_a_booking_reaches_its_patient_and_doctor_within_a_second_and_no_other_patient(
    gateway: str, stack: Settings, book: Callable[[str], Awaitable[str]]
) -> None:
    async def scenario() -> tuple[list, list, list, str, float]:
        patient, patient_changes, states = await watch_changes(
            gateway, stack, PATIENT_USER, "appointments"
        )
        doctor, doctor_changes, _ = await watch_changes(gateway, stack, DOCTOR_USER, "appointments")
        other, other_changes, _ = await watch_changes(
            gateway, stack, OTHER_PATIENT_USER, "appointments"
        )
        assert states[-1][0] == RealtimeSubscribeStates.SUBSCRIBED
        appointment = await book(PATIENT)
        booked_at = time.monotonic()
        await first_of(doctor_changes, within=1.0)
        took = time.monotonic() - booked_at
        await first_of(patient_changes)
        for client in (patient, doctor, other):
            await client.close()
        return patient_changes, doctor_changes, other_changes, appointment, took

    patients, doctors, others, appointment, took = run(scenario)
    assert others == []
    assert len(patients) == 1 and len(doctors) == 1
    assert took < 1.0
    data = patients[0]["data"]
    assert (data["schema"], data["table"], data["type"]) == ("public", "appointments", "INSERT")
    assert data["record"]["id"] == appointment
    assert data["record"]["patient_id"] == PATIENT
    assert data["record"]["status"] == "scheduled"
    assert "old_record" not in data  # an INSERT has none
    assert {"name": "status", "type": "appointment_status"} in data["columns"]
    assert data["commit_timestamp"].endswith("Z")


def test_a_filter_narrows_the_changes_in_sql(
    gateway: str, stack: Settings, book: Callable[[str], Awaitable[str]]
) -> None:
    async def scenario() -> tuple[list, list]:
        wanted, hits, _ = await watch_changes(
            gateway, stack, DOCTOR_USER, "appointments", f"patient_id=eq.{PATIENT}"
        )
        other, misses, _ = await watch_changes(
            gateway, stack, DOCTOR_USER, "appointments", f"patient_id=in.({OTHER_PATIENT})"
        )
        await book(PATIENT)
        await first_of(hits)
        await wanted.close()
        await other.close()
        return hits, misses

    hits, misses = run(scenario)
    assert len(hits) == 1
    assert misses == []


@pytest.mark.parametrize(
    ("table", "filter", "reason"),
    [
        ("lab_results", None, "is not in the supabase_realtime publication"),
        ("doctors", None, "is not in the supabase_realtime publication"),
        ("appointments", "status=like.sched%", "invalid filter"),
        ("appointments", "no_such_column=eq.1", "invalid column for filter no_such_column"),
    ],
)
def test_bindings_that_cannot_be_served_are_refused_with_a_reason(
    gateway: str, stack: Settings, table: str, filter: str | None, reason: str
) -> None:
    async def scenario() -> list:
        client, _, states = await watch_changes(gateway, stack, PATIENT_USER, table, filter)
        await client.close()
        return states

    state, error = run(scenario)[-1]
    assert state == RealtimeSubscribeStates.CHANNEL_ERROR
    assert reason in str(error)


# --- limits ----------------------------------------------------------------------------------


async def raw_join(gateway: str, stack: Settings, topic: str, **options: Any) -> Any:
    """A raw serializer-1.0.0 socket joined to a public channel."""
    url = f"{gateway.replace('http', 'ws', 1)}/realtime/v1/websocket?apikey={stack.anon_key}"
    connection = await websockets.connect(url, **options)
    config = {"broadcast": {"ack": True, "self": False}, "private": False}
    join_frame = {"topic": f"realtime:{topic}", "event": "phx_join", "ref": "1"}
    await connection.send(json.dumps({**join_frame, "payload": {"config": config}}))
    assert json.loads(await connection.recv())["payload"]["status"] == "ok"
    return connection


def test_a_broadcast_over_the_size_limit_is_refused_and_not_delivered(
    gateway: str, stack: Settings
) -> None:
    async def scenario() -> tuple[dict, list]:
        listener = await join(gateway, stack, "big-room")
        sender = await raw_join(gateway, stack, "big-room")
        huge = {"type": "broadcast", "event": "blob", "payload": {"data": "x" * 300_000}}
        frame = {"topic": "realtime:big-room", "event": "broadcast", "ref": "2"}
        await sender.send(json.dumps({**frame, "payload": huge}))
        reply = json.loads(await sender.recv())
        received = await listener.received(1, within=0.5)
        await sender.close()
        await listener.client.close()
        return reply, received

    reply, received = run(scenario)
    assert reply["payload"] == {"status": "error", "response": {"reason": "payload_size_exceeded"}}
    assert received == []


def test_a_client_too_slow_to_read_is_disconnected_and_the_others_get_everything(
    gateway: str, stack: Settings
) -> None:
    events = 8000  # 32 MB: more than the loopback socket buffers and the send queue hold

    async def scenario() -> tuple[int, Any]:
        reader = await join(gateway, stack, "busy-room")
        # Reads nothing after its join; the websockets library stops reading its socket after
        # one queued frame, and a small receive buffer (no autotuning to 32 MB on loopback)
        # without compression (the padding would shrink to nothing) lets the gateway's send
        # queue for it fill up.
        small = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        small.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        small.connect((stack.api_host, stack.api_port))
        stalled = await raw_join(
            gateway, stack, "busy-room", max_queue=1, sock=small, compression=None
        )
        with psycopg.connect(stack.dsn()) as conn:
            conn.execute(
                "select realtime.send(jsonb_build_object('n', n, 'pad', repeat('x', 4000)),"
                " 'tick', 'busy-room', false) from generate_series(1, %s) as n",
                (events,),
            )
        await reader.received(events, within=40)
        # Reading now drains what the kernel still holds for it; then the connection ends:
        # the close frame (1008) stays behind the unread bytes, so the server aborts it.
        outcome = "still open"
        try:
            while True:
                await asyncio.wait_for(stalled.recv(), 5)
        except websockets.ConnectionClosed:
            outcome = "closed by the server"
        except TimeoutError:
            pass
        await reader.client.close()
        return len(reader.broadcasts), outcome

    received, outcome = run(scenario)
    assert received == events
    assert outcome == "closed by the server"


# --- private channels: the RLS policies on realtime.messages decide ---------------------------


def test_a_patient_joins_their_own_topic_and_not_another_patients(
    gateway: str, stack: Settings
) -> None:
    own, other = f"user:{PATIENT_USER}", f"user:{OTHER_PATIENT_USER}"
    patient = token(stack, PATIENT_USER)

    async def scenario() -> tuple[Joined, Joined]:
        mine = await join(gateway, stack, own, access_token=patient, private=True)
        theirs = await join(gateway, stack, other, access_token=patient, private=True)
        await mine.client.close()
        await theirs.client.close()
        return mine, theirs

    mine, theirs = run(scenario)
    assert mine.subscribed
    assert not theirs.subscribed
    reason = json.loads(str(theirs.states[-1][1]))["reason"]
    assert (
        reason
        == f"Unauthorized: You do not have permissions to read from this Channel topic: {other}"
    )


def test_without_a_user_token_no_private_channel_is_joined(gateway: str, stack: Settings) -> None:
    async def scenario() -> Joined:
        anonymous = await join(gateway, stack, f"user:{PATIENT_USER}", private=True)
        await anonymous.client.close()
        return anonymous

    assert not run(scenario).subscribed


def test_a_new_token_of_someone_else_closes_the_channel(gateway: str, stack: Settings) -> None:
    topic = f"user:{PATIENT_USER}"

    async def scenario() -> Joined:
        joined = await join(
            gateway, stack, topic, access_token=token(stack, PATIENT_USER), private=True
        )
        await joined.client.set_auth(token(stack, OTHER_PATIENT_USER))
        deadline = asyncio.get_running_loop().time() + WAIT
        while not joined.channel.is_closed and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await joined.client.close()
        return joined

    joined = run(scenario)
    assert joined.channel.is_closed
    error = joined.states[1][1]
    assert json.loads(str(error))["message"] == (
        f"You no longer have permission to read from this Channel topic: {topic}"
    )


def test_a_private_message_reaches_only_the_users_own_channel(
    gateway: str, stack: Settings
) -> None:
    async def scenario() -> tuple[list, list]:
        mine = await join(
            gateway,
            stack,
            f"user:{PATIENT_USER}",
            access_token=token(stack, PATIENT_USER),
            private=True,
        )
        theirs = await join(
            gateway,
            stack,
            f"user:{OTHER_PATIENT_USER}",
            access_token=token(stack, OTHER_PATIENT_USER),
            private=True,
        )
        database_send(stack, f"user:{PATIENT_USER}", {"for": "patient 1"}, private=True)
        await mine.received(1)
        await theirs.received(1, within=0.5)
        await mine.client.close()
        await theirs.client.close()
        return mine.broadcasts, theirs.broadcasts

    mine, theirs = run(scenario)
    assert [b["payload"]["for"] for b in mine] == ["patient 1"]
    assert theirs == []


def test_a_client_may_not_broadcast_where_no_insert_policy_lets_it(
    gateway: str, stack: Settings
) -> None:
    topic = f"user:{PATIENT_USER}"

    async def scenario() -> list:
        joined = await join(
            gateway,
            stack,
            topic,
            access_token=token(stack, PATIENT_USER),
            private=True,
            self_broadcast=True,
        )
        await joined.channel.send_broadcast("forged", {"status": "cancelled"})
        received = await joined.received(1, within=0.7)
        await joined.client.close()
        return received

    assert run(scenario) == []


# --- live events: the database's broadcasts on private topics, and catching up ----------------


def test_a_doctor_hears_a_front_desk_booking_on_their_topic_within_a_second(
    gateway: str, stack: Settings, book: Callable[[str], Awaitable[str]]
) -> None:
    async def scenario() -> tuple[list, float, str]:
        doctor = await join(
            gateway,
            stack,
            f"user:{DOCTOR_USER}",
            access_token=token(stack, DOCTOR_USER),
            private=True,
        )
        assert doctor.subscribed
        appointment = await book(PATIENT)
        booked_at = time.monotonic()
        await doctor.received(1, within=1.0)
        took = time.monotonic() - booked_at
        await doctor.client.close()
        return doctor.broadcasts, took, appointment

    heard, took, appointment = run(scenario)
    assert took < 1.0
    (event,) = [b for b in heard if b["payload"].get("appointment_id") == appointment]
    assert event["event"] == "appointment_created"
    assert event["payload"]["topic"] == f"user:{DOCTOR_USER}"
    assert event["payload"]["seq"] >= 1
    assert "reason" not in event["payload"]  # ids, statuses and times only


def test_a_client_that_was_away_for_three_events_reads_them_back_by_seq(
    gateway: str, stack: Settings, book: Callable[[str], Awaitable[str]]
) -> None:
    topic = f"user:{DOCTOR_USER}"
    doctor_token = token(stack, DOCTOR_USER)

    async def scenario() -> tuple[int, list[str], list[dict]]:
        doctor = await join(gateway, stack, topic, access_token=doctor_token, private=True)
        await book(PATIENT)
        await doctor.received(1)
        await asyncio.sleep(0.3)  # a booking may raise more than one event on the topic
        last = max(b["payload"]["seq"] for b in doctor.broadcasts)
        await doctor.client.close()  # away: the next three bookings happen meanwhile
        missed = [await book(PATIENT) for _ in range(3)]
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{gateway}/rest/v1/live_events",
                params={"topic": f"eq.{topic}", "seq": f"gt.{last}", "order": "seq"},
                headers={"apikey": stack.anon_key, "Authorization": f"Bearer {doctor_token}"},
            )
        assert response.status_code == 200, response.text
        return last, missed, response.json()

    last, missed, feed = run(scenario)
    # Everything since, without a gap, the three bookings among it in order.
    assert [row["seq"] for row in feed] == list(range(last + 1, last + 1 + len(feed)))
    created = [
        row["payload"]["appointment_id"] for row in feed if row["event"] == "appointment_created"
    ]
    assert created == missed
