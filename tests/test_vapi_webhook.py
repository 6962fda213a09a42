"""The voice agent's calls reach carebase as Vapi sends them: the local Vapi fake posts signed
server messages to the sidecar (served over HTTP, in-process, with its own settings), which
records them in the database of the running stack.

What a user would notice: a call shows up as one session however often its report comes; a
caller from an unknown number finds the call in their app after logging in with that phone;
a number a family shares attaches the call to nobody; a message that is not Vapi's, or is
replayed later, is refused and leaves nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from devstack.config import Settings
from devstack.local_server import LocalServer
from sidecar.app import create_app
from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.integrations.vapi import VapiClient
from sidecar.jobs.voice_sweep import SweepCount, VoiceSweep
from sidecar.settings import SidecarSettings
from tests.fakes.vapi import ASSISTANT_ID, PHONE_NUMBER_ID, FakeVapi
from tests.test_patient_phone_login import firebase, log_in, rest_get  # noqa: F401 (fixture)

NABHA = "10000000-0000-4000-8000-000000000001"
SECRET = "test-vapi-server-secret"
WEBHOOK = "/api/v1/webhooks/vapi"


def sidecar_settings(stack: Settings, scheme: str = "hmac") -> SidecarSettings:
    return SidecarSettings(
        supabase_url=stack.api_url,
        vapi_server_auth=scheme,
        vapi_server_secret=SECRET,
        vapi_assistant_id=ASSISTANT_ID,
    )


@pytest.fixture(scope="module")
def voice_line(stack: Settings) -> Iterator[None]:
    """The fake's phone number is a line of the demo hospital."""
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        conn.execute(
            "insert into public.voice_lines (hospital_id, vapi_phone_number_id, phone, label) "
            "values (%s, %s, '+918045678900', 'test line') "
            "on conflict (vapi_phone_number_id) do nothing",
            (NABHA, PHONE_NUMBER_ID),
        )
    yield


@pytest.fixture(scope="module")
def sidecar_url(stack: Settings, gateway: str, voice_line: None) -> Iterator[str]:
    with LocalServer(create_app(sidecar_settings(stack)), lifespan="on") as server:
        yield server.url


@pytest.fixture
def vapi(sidecar_url: str) -> FakeVapi:
    return FakeVapi(server_url=f"{sidecar_url}{WEBHOOK}", scheme="hmac", server_secret=SECRET)


@pytest.fixture
def committed(stack: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def new_phone(stack: Settings) -> Iterator[Callable[[], str]]:
    """Fresh numbers; the sessions, patients and logins made with them are deleted afterwards."""
    phones: list[str] = []

    def make() -> str:
        phones.append(f"+9196{secrets.randbelow(10**8):08d}")
        return phones[-1]

    yield make
    patients = "select id from public.patients where phone = any(%(phones)s)"
    with psycopg.connect(stack.dsn(), autocommit=True) as conn, conn.transaction():
        for statement in (
            "delete from public.ai_sessions where caller_phone = any(%(phones)s)",
            f"delete from public.patient_duplicate_pairs where patient_id in ({patients}) "  # noqa: S608
            f"or other_patient_id in ({patients})",
            f"delete from public.patient_registrations where patient_id in ({patients})",  # noqa: S608
            "delete from public.patients where phone = any(%(phones)s)",
        ):
            conn.execute(statement, {"phones": phones})
        conn.execute(
            "delete from auth.users where phone = any(%(digits)s)",
            {"digits": [phone.lstrip("+") for phone in phones]},
        )


def sessions_of_call(conn: psycopg.Connection, call_id: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select patient_id, attention, call_status, ended_reason from public.ai_sessions "
        "where channel = 'voice' and external_id = %s",
        (call_id,),
    ).fetchall()


def walk_in(conn: psycopg.Connection, phone: str, name: str) -> str:
    row = conn.execute(
        "insert into public.patients (full_name, phone) values (%s, %s) returning id", (name, phone)
    ).fetchone()
    assert row is not None
    conn.execute(
        "insert into public.patient_registrations (patient_id, hospital_id, mrn) "
        "values (%s, %s, %s)",
        (row[0], NABHA, f"VOICE-{str(row[0])[:8]}"),
    )
    return str(row[0])


def test_a_call_from_an_unknown_number_appears_in_the_app_of_who_logs_in_with_it(
    vapi: FakeVapi,
    committed: psycopg.Connection,
    new_phone: Callable[[], str],
    sidecar: str,
    firebase: str,  # noqa: F811 (the fixture imported above)
    stack: Settings,
) -> None:
    phone = new_phone()
    call = vapi.inbound_call(phone)
    (report,) = vapi.end_call(call, structured_data={"name": "Gurdev Singh"})
    assert report.status_code == 200, report.answer
    assert report.answer["outcome"] == "applied"
    ((patient_id, attention, status, ended_reason),) = sessions_of_call(committed, call)
    assert (attention, status, ended_reason) == (None, "ended", "customer-ended-call")

    with httpx.Client(base_url=sidecar, timeout=30) as api:
        session = log_in(api, firebase, phone)
    # The login links to the record the call made.
    assert session["user"]["patient_id"] == str(patient_id)
    token = session["access_token"]
    listed = rest_get(stack, token, "ai_sessions?select=external_id,call_status")
    assert listed.status_code == 200
    assert listed.json() == [{"external_id": call, "call_status": "ended"}]
    read = httpx.post(
        f"{stack.api_url}/rest/v1/rpc/voice_session",
        headers={"apikey": stack.anon_key, "Authorization": f"Bearer {token}"},
        json={"session_id": rest_get(stack, token, "ai_sessions?select=id").json()[0]["id"]},
    )
    assert read.status_code == 200, read.text
    assert read.json()["content"]["summary"] == "The caller asked for an appointment."


def test_a_report_sent_twice_is_one_session(
    vapi: FakeVapi, committed: psycopg.Connection, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    patient = walk_in(committed, phone, "Baldev Singh")
    call = vapi.inbound_call(phone)
    first, again = vapi.end_call(call, reports=2)
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.answer["outcome"], again.answer["outcome"]) == ("applied", "duplicate")
    assert [str(row[0]) for row in sessions_of_call(committed, call)] == [patient]


def test_statuses_only_move_forward(
    vapi: FakeVapi, committed: psycopg.Connection, new_phone: Callable[[], str]
) -> None:
    call = vapi.inbound_call(new_phone())
    vapi.end_call(call)
    (late,) = vapi.status_update(call, "ringing")
    assert late.status_code == 200
    assert (late.answer["outcome"], late.answer["reason"]) == ("ignored", "status_not_forward")
    assert sessions_of_call(committed, call)[0][2] == "ended"


def test_a_shared_number_attaches_the_call_to_nobody(
    vapi: FakeVapi, committed: psycopg.Connection, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    walk_in(committed, phone, "Jaswant Kaur")
    walk_in(committed, phone, "Harnek Singh")
    call = vapi.inbound_call(phone)
    vapi.end_call(call)
    assert sessions_of_call(committed, call) == [
        (None, "shared_number", "ended", "customer-ended-call")
    ]


def test_the_greeting_knows_a_single_caller_but_nobody_on_a_shared_number(
    vapi: FakeVapi, committed: psycopg.Connection, new_phone: Callable[[], str]
) -> None:
    single, shared = new_phone(), new_phone()
    walk_in(committed, single, "Amarjit Kaur")
    walk_in(committed, shared, "Jaswant Kaur")
    walk_in(committed, shared, "Harnek Singh")

    def greet(number: str) -> dict[str, Any]:
        call = vapi.inbound_call(number)
        answer = vapi.send(
            {"type": "assistant-request", "call": vapi.calls[call], "customer": {"number": number}}
        )
        assert answer.status_code == 200, answer.answer
        return answer.answer

    assert greet(single) == {
        "assistantId": ASSISTANT_ID,
        "assistantOverrides": {"variableValues": {"first_name": "Amarjit", "language": "en"}},
    }
    assert greet(shared) == {"assistantId": ASSISTANT_ID}


@pytest.mark.parametrize(
    ("scheme", "tamper"),
    [
        ("hmac", "forged"),
        ("hmac", "missing"),
        ("hmac", "stale"),
        ("bearer", "forged"),
        ("bearer", "missing"),
        ("header", "forged"),
        ("header", "missing"),
    ],
)
def test_messages_not_from_vapi_are_refused_and_leave_nothing(
    stack: Settings,
    gateway: str,
    voice_line: None,
    committed: psycopg.Connection,
    new_phone: Callable[[], str],
    scheme: str,
    tamper: str,
) -> None:
    with LocalServer(create_app(sidecar_settings(stack, scheme)), lifespan="on") as server:
        fake_scheme = {"header": "x-vapi-secret"}.get(scheme, scheme)
        url = f"{server.url}{WEBHOOK}"
        vapi = FakeVapi(server_url=url, scheme=fake_scheme, server_secret=SECRET)
        call = vapi.inbound_call(new_phone())
        vapi.end_call(call, reports=0)
        message = {"type": "end-of-call-report", "call": vapi.calls[call], "endedReason": "x"}
        if tamper == "stale":
            delivery = vapi.send(message, timestamp_ms=int((time.time() - 3600) * 1000))
        else:
            if tamper == "forged":
                vapi.server_secret = "not-the-secret"
            else:
                vapi.scheme = "none"
            delivery = vapi.send(message)
        # The right credential still works on this server (the refusal is about the message).
        accepted = FakeVapi(server_url=vapi.server_url, scheme=fake_scheme, server_secret=SECRET)
        accepted_call = accepted.inbound_call(new_phone())
        (good,) = accepted.end_call(accepted_call)
    assert delivery.status_code == 401
    assert delivery.answer["code"] == "invalid_signature"
    assert sessions_of_call(committed, call) == []
    assert good.status_code == 200, good.answer


def test_without_a_credential_configured_every_message_is_refused(
    stack: Settings, gateway: str, committed: psycopg.Connection, new_phone: Callable[[], str]
) -> None:
    settings = SidecarSettings(supabase_url=stack.api_url, vapi_server_secret="")
    with LocalServer(create_app(settings), lifespan="on") as server:
        vapi = FakeVapi(server_url=f"{server.url}{WEBHOOK}", scheme="none")
        call = vapi.inbound_call(new_phone())
        (delivery,) = vapi.end_call(call)
    assert delivery.status_code == 503
    assert sessions_of_call(committed, call) == []


def test_the_sweep_records_the_calls_whose_report_never_arrived(
    stack: Settings,
    gateway: str,
    voice_line: None,
    committed: psycopg.Connection,
    new_phone: Callable[[], str],
) -> None:
    vapi = FakeVapi()
    with LocalServer(vapi.app) as api:
        lost = vapi.inbound_call(new_phone())
        assert vapi.end_call(lost, reports=0) == []  # Vapi gave up on the report
        still_talking = vapi.inbound_call(new_phone())
        settings = SidecarSettings(
            supabase_url=stack.api_url, vapi_base_url=api.url, vapi_api_key=vapi.api_key
        )

        async def sweep_twice() -> tuple[SweepCount, SweepCount]:
            async with httpx.AsyncClient(timeout=30) as http:
                client = VapiClient(settings.vapi_base_url, settings.vapi_api_key, http)
                sweep = VoiceSweep(settings, SupabaseApi(settings, http), client)
                return await sweep.sweep_once(), await sweep.sweep_once()

        first, second = asyncio.run(sweep_twice())
    assert first == SweepCount(ended=1, recorded=1)
    assert second == SweepCount(ended=1, recorded=0), "a recorded call is not recorded again"
    assert sessions_of_call(committed, lost) == [
        (sessions_of_call(committed, lost)[0][0], None, "ended", "customer-ended-call")
    ]
    assert committed.execute(
        "select content_encrypted is not null from public.ai_sessions where external_id = %s",
        (lost,),
    ).fetchone() == (True,)
    assert sessions_of_call(committed, still_talking) == [], "a call still going is left alone"


def test_the_inbox_keeps_each_message_once_and_never_what_was_said(
    vapi: FakeVapi, committed: psycopg.Connection, new_phone: Callable[[], str]
) -> None:
    call = vapi.inbound_call(new_phone())
    vapi.end_call(call, transcript="User: my chest hurts since morning", reports=2)
    ((deliveries, outcome, payload),) = committed.execute(
        "select deliveries, outcome, payload::text from private.webhook_inbox "
        "where provider = 'vapi' and external_ref = %s",
        (call,),
    ).fetchall()
    assert (deliveries, outcome) == (2, "applied")
    assert "chest" not in payload and "recordingUrl" not in payload


def test_a_signed_body_that_is_not_a_message_is_kept_as_unprocessable(
    vapi: FakeVapi, committed: psycopg.Connection
) -> None:
    body = b'{"message": "not an object' + secrets.token_hex(4).encode()
    stamp = int(time.time() * 1000)
    delivery = vapi._post("garbage", body, vapi.auth_headers(body, stamp))
    assert delivery.status_code == 200, delivery.answer
    assert (delivery.answer["outcome"], delivery.answer["reason"]) == (
        "unprocessable",
        "malformed_json",
    )
    digest = hashlib.sha256(body).hexdigest()
    assert committed.execute(
        "select outcome from private.webhook_inbox where provider = 'vapi' and body_sha256 = %s",
        (digest,),
    ).fetchall() == [("unprocessable",)]
