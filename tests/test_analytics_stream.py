"""The live metrics stream (issue 19, item 5) as a dashboard sees it: the sidecar (in-process,
over HTTP) streams a hospital admin's numbers as server-sent events; a booking committed in the
running stack reaches the stream within two seconds through Supabase Realtime; a client that
reconnects with Last-Event-ID gets nothing it has seen and the next change; another hospital's
admin gets nothing; streams per user are capped."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.local_server import LocalServer
from devstack.postgrest_session import PostgrestSession
from sidecar.app import create_app
from sidecar.settings import SidecarSettings

NABHA = "10000000-0000-4000-8000-000000000001"
ADMIN = "admin@nabha.carebase.test"
DOCTOR_USER = "20000000-0000-4000-8000-000000000002"
PATIENT = "60000000-0000-4000-8000-000000000001"
WITHIN = 2.0  # seconds from a commit to the updated numbers on the stream


@pytest.fixture(scope="module")
def sidecar_url(stack: Settings, gateway: str) -> Iterator[str]:
    settings = SidecarSettings(
        supabase_url=gateway, analytics_heartbeat_seconds=0.5, analytics_streams_per_user=2
    )
    with LocalServer(create_app(settings), lifespan="on") as server:
        yield server.url


def bearer(stack: Settings, email: str) -> dict[str, str]:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(email)
    return {"Authorization": f"Bearer {issue(claims, stack.jwt_secret)}"}


@pytest.fixture
def book(stack: Settings) -> Iterator[Any]:
    """Books a visit at Nabha far ahead (committed); removed afterwards."""
    made: list[str] = []

    def booking() -> None:
        starts = datetime(2041, 1, 1, tzinfo=UTC) + timedelta(
            minutes=15 * secrets.randbelow(400_000)
        )
        with psycopg.connect(stack.dsn(), autocommit=True) as conn:
            (appointment,) = conn.execute(
                "insert into public.appointments"
                " (hospital_id, doctor_id, patient_id, starts_at, ends_at)"
                " select %s, d.id, %s, %s, %s from public.doctors as d"
                " where d.user_id = %s and d.hospital_id = %s returning id",
                (NABHA, PATIENT, starts, starts + timedelta(minutes=15), DOCTOR_USER, NABHA),
            ).fetchone()
        made.append(str(appointment))

    yield booking
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        conn.execute("delete from private.outbox where subject_id = any(%s::uuid[])", (made,))
        conn.execute("delete from public.appointments where id = any(%s::uuid[])", (made,))


async def events(response: httpx.Response, seen: list[str]) -> AsyncIterator[dict[str, Any]]:
    """The stream's events as {id, event, data}; every raw line goes to `seen`."""
    event: dict[str, Any] = {}
    async for line in response.aiter_lines():
        seen.append(line)
        if line.startswith(":"):
            continue
        if not line:
            if event:
                yield event
            event = {}
            continue
        field, _, value = line.partition(": ")
        event[field] = json.loads(value) if field == "data" else value


def test_a_booking_reaches_the_stream_within_two_seconds_and_a_reconnect_resumes(
    stack: Settings, sidecar_url: str, book: Any
) -> None:
    url = f"{sidecar_url}/api/v1/analytics/realtime"
    admin = bearer(stack, ADMIN)

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            lines: list[str] = []
            async with http.stream("GET", url, headers=admin) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                assert response.headers["x-accel-buffering"] == "no"
                stream = events(response, lines)
                first = await anext(stream)
                assert first["event"] == "metrics" and first["data"]["hospital_id"] == NABHA
                await asyncio.to_thread(book)
                booked = time.monotonic()
                second = await asyncio.wait_for(anext(stream), WITHIN)
                assert time.monotonic() - booked < WITHIN
                assert int(second["id"]) > int(first["id"])
                assert second["data"]["appointments"]["booked_today"] == (
                    first["data"]["appointments"]["booked_today"] + 1
                )

            # Reconnect having seen everything: heartbeats only, until the next change.
            lines = []
            resumed = admin | {"Last-Event-ID": second["id"]}
            async with http.stream("GET", url, headers=resumed) as response:
                stream = events(response, lines)
                waiting = asyncio.ensure_future(anext(stream))
                await asyncio.sleep(1.2)
                assert not waiting.done(), "nothing new: no numbers are sent again"
                assert ": heartbeat" in lines
                await asyncio.to_thread(book)
                third = await asyncio.wait_for(waiting, WITHIN)
                assert int(third["id"]) > int(second["id"])
                assert third["data"]["appointments"]["booked_today"] == (
                    second["data"]["appointments"]["booked_today"] + 1
                )

            # Reconnect having missed a change: the numbers come at once.
            await asyncio.to_thread(book)
            async with http.stream("GET", url, headers=resumed) as response:
                caught_up = await asyncio.wait_for(anext(events(response, [])), WITHIN)
                assert int(caught_up["id"]) > int(third["id"])

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_nobody_streams_another_hospital_and_streams_per_user_are_capped(
    stack: Settings, sidecar_url: str
) -> None:
    url = f"{sidecar_url}/api/v1/analytics/realtime"
    with psycopg.connect(stack.dsn()) as conn:
        (other_admin,) = conn.execute(
            "select u.email from auth.users as u"
            " join public.staff_memberships as m on m.user_id = u.id"
            " where m.role = 'hospital_admin' and m.hospital_id <> %s and m.is_active limit 1",
            (NABHA,),
        ).fetchone()
    refused = httpx.get(url, params={"hospital_id": NABHA}, headers=bearer(stack, other_admin))
    assert (refused.status_code, refused.json()["code"]) == (404, "not_found")
    assert httpx.get(url).status_code == 401

    admin = bearer(stack, ADMIN)

    async def scenario() -> httpx.Response:
        async with (
            httpx.AsyncClient(timeout=10) as http,
            http.stream("GET", url, headers=admin) as one,
            http.stream("GET", url, headers=admin) as two,
        ):
            assert (one.status_code, two.status_code) == (200, 200)
            return await http.get(url, headers=admin)

    third = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert (third.status_code, third.json()["code"]) == (429, "too_many_streams")
    assert int(third.headers["retry-after"]) >= 1
