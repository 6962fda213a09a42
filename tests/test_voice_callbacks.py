"""Call me back (seed 000 epic F), as the front desk and a patient texting the line see it: the
sidecar (served over HTTP in-process, with its own settings) records the request in the
running stack's database and asks the local Vapi fake to place the call, once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.local_server import LocalServer
from devstack.postgrest_session import PostgrestSession
from sidecar.app import create_app
from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.integrations.vapi import VapiClient
from sidecar.jobs.voice_sweep import VoiceSweep
from sidecar.settings import SidecarSettings
from tests.fakes.vapi import ASSISTANT_ID, PHONE_NUMBER, PHONE_NUMBER_ID, FakeVapi

NABHA = "10000000-0000-4000-8000-000000000001"
FRONT_DESK = "frontdesk@nabha.carebase.test"
TWILIO_TOKEN = "test-twilio-auth-token"
SMS = "/api/v1/webhooks/twilio/sms"


@pytest.fixture(scope="module")
def vapi(stack: Settings) -> Iterator[tuple[FakeVapi, str]]:
    fake = FakeVapi()
    with (
        LocalServer(fake.app) as server,
        psycopg.connect(stack.dsn(), autocommit=True) as conn,
    ):
        conn.execute(
            "insert into public.voice_lines (hospital_id, vapi_phone_number_id, phone, label) "
            "values (%s, %s, %s, 'test line') on conflict (vapi_phone_number_id) do nothing",
            (NABHA, PHONE_NUMBER_ID, PHONE_NUMBER),
        )
        yield fake, server.url


@pytest.fixture(scope="module")
def sidecar_url(stack: Settings, gateway: str, vapi: tuple[FakeVapi, str]) -> Iterator[str]:
    fake, url = vapi
    settings = SidecarSettings(
        supabase_url=stack.api_url,
        vapi_base_url=url,
        vapi_api_key=fake.api_key,
        vapi_assistant_id=ASSISTANT_ID,
        twilio_auth_token=TWILIO_TOKEN,
    )
    with LocalServer(create_app(settings), lifespan="on") as server:
        yield server.url


@pytest.fixture
def fake(vapi: tuple[FakeVapi, str]) -> FakeVapi:
    vapi[0].reset()
    return vapi[0]


@pytest.fixture
def new_phone(stack: Settings) -> Iterator[Callable[[], str]]:
    """Fresh numbers; the requests and patients made with them are removed afterwards."""
    phones: list[str] = []

    def make() -> str:
        phones.append(f"+9195{secrets.randbelow(10**8):08d}")
        return phones[-1]

    yield make
    patients = "select id from public.patients where phone = any(%(phones)s)"
    with psycopg.connect(stack.dsn(), autocommit=True) as conn, conn.transaction():
        for statement in (
            "delete from public.voice_callbacks where phone = any(%(phones)s)",
            f"delete from public.patient_registrations where patient_id in ({patients})",  # noqa: S608
            "delete from public.patients where phone = any(%(phones)s)",
        ):
            conn.execute(statement, {"phones": phones})


def walk_in(stack: Settings, phone: str, hospital: str | None = NABHA) -> str:
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        row = conn.execute(
            "insert into public.patients (full_name, phone) "
            "values ('Surjit Kaur', %s) returning id",
            (phone,),
        ).fetchone()
        assert row is not None
        if hospital:
            conn.execute(
                "insert into public.patient_registrations (patient_id, hospital_id, mrn) "
                "values (%s, %s, %s)",
                (row[0], hospital, f"CALL-{str(row[0])[:8]}"),
            )
    return str(row[0])


def front_desk(stack: Settings) -> dict[str, str]:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(FRONT_DESK)
    return {"Authorization": f"Bearer {issue(claims, stack.jwt_secret)}"}


def calls_to(fake: FakeVapi, number: str) -> list[dict[str, Any]]:
    return [call for call in fake.calls.values() if call["customer"]["number"] == number]


def status_of(stack: Settings, callback_id: str) -> tuple[Any, ...] | None:
    with psycopg.connect(stack.dsn()) as conn:
        return conn.execute(
            "select status, vapi_call_id, requested_via from public.voice_callbacks where id = %s",
            (callback_id,),
        ).fetchone()


def test_the_front_desk_has_a_patient_called_back_once(
    stack: Settings, sidecar_url: str, fake: FakeVapi, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    patient = walk_in(stack, phone)
    body = {"patient_id": patient, "hospital_id": NABHA}
    with httpx.Client(base_url=sidecar_url, headers=front_desk(stack), timeout=30) as api:
        first = api.post("/api/v1/voice/callback", json=body)
        again = api.post("/api/v1/voice/callback", json=body)
    assert first.status_code == 202, first.text
    placed = first.json()
    assert placed["status"] == "placed"
    (call,) = calls_to(fake, phone)
    assert (call["id"], call["assistantId"], call["phoneNumberId"]) == (
        placed["vapi_call_id"],
        ASSISTANT_ID,
        PHONE_NUMBER_ID,
    )
    assert status_of(stack, placed["id"]) == ("placed", call["id"], "staff")
    # Asked again a moment later: the same request, and no second call.
    assert again.status_code == 202
    assert again.json() == {"id": placed["id"], "status": "placed"}
    assert len(calls_to(fake, phone)) == 1


def test_not_for_a_patient_of_another_hospital(
    stack: Settings, sidecar_url: str, fake: FakeVapi, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    stranger = walk_in(stack, phone, hospital=None)
    with httpx.Client(base_url=sidecar_url, headers=front_desk(stack), timeout=30) as api:
        refused = api.post(
            "/api/v1/voice/callback", json={"patient_id": stranger, "hospital_id": NABHA}
        )
    assert refused.status_code == 404
    assert refused.json()["code"] == "not_found"
    assert calls_to(fake, phone) == []


def test_when_vapi_fails_the_request_says_so_and_a_retry_places_it(
    stack: Settings, sidecar_url: str, fake: FakeVapi, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    body = {"patient_id": walk_in(stack, phone), "hospital_id": NABHA}
    fake.fail_next = [503]
    with httpx.Client(base_url=sidecar_url, headers=front_desk(stack), timeout=30) as api:
        failed = api.post("/api/v1/voice/callback", json=body)
        retried = api.post("/api/v1/voice/callback", json=body)
    assert failed.status_code == 502
    assert failed.json()["code"] == "callback_failed"
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "placed"
    assert len(calls_to(fake, phone)) == 1


def twilio_post(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> httpx.Response:
    """As Twilio posts an inbound SMS: form-encoded, signed over the URL and sorted params."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    signature = base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest())
    return httpx.post(
        url, data=params, headers={"X-Twilio-Signature": signature.decode()}, timeout=30
    )


def sms(phone: str, text: str) -> dict[str, str]:
    return {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": "AC" + "0" * 32,
        "From": phone,
        "To": PHONE_NUMBER,
        "Body": text,
    }


def test_texting_call_to_the_line_gets_a_call_back(
    stack: Settings, sidecar_url: str, fake: FakeVapi, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    answer = twilio_post(f"{sidecar_url}{SMS}", sms(phone, "ਕਾਲ ਕਰੋ ਜੀ"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    assert "<Message>We will call you back in a few minutes.</Message>" in answer.text
    assert len(calls_to(fake, phone)) == 1

    other = twilio_post(f"{sidecar_url}{SMS}", sms(phone, "thank you"))
    assert "Reply CALL" in other.text
    assert len(calls_to(fake, phone)) == 1


def test_a_text_not_signed_by_twilio_is_refused_and_calls_nobody(
    stack: Settings, sidecar_url: str, fake: FakeVapi, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    forged = twilio_post(f"{sidecar_url}{SMS}", sms(phone, "CALL"), token="not-the-token")
    unsigned = httpx.post(f"{sidecar_url}{SMS}", data=sms(phone, "CALL"), timeout=30)
    assert (forged.status_code, unsigned.status_code) == (401, 401)
    assert calls_to(fake, phone) == []
    with psycopg.connect(stack.dsn()) as conn:
        assert conn.execute(
            "select count(*) from public.voice_callbacks where phone = %s", (phone,)
        ).fetchone() == (0,)


def left_placing(stack: Settings, phone: str, minutes_ago: int) -> str:
    """A request whose sidecar stopped after taking it, `minutes_ago` minutes ago."""
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        row = conn.execute(
            "insert into public.voice_callbacks"
            " (hospital_id, voice_line_id, phone, requested_via, status, updated_at)"
            " select hospital_id, id, %s, 'staff', 'placing', now() - make_interval(mins => %s)"
            " from public.voice_lines where vapi_phone_number_id = %s returning id",
            (phone, minutes_ago, PHONE_NUMBER_ID),
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_the_sweep_settles_callbacks_whose_sidecar_stopped_without_calling_twice(
    stack: Settings, vapi: tuple[FakeVapi, str], fake: FakeVapi, new_phone: Callable[[], str]
) -> None:
    called, never_called, just_taken = new_phone(), new_phone(), new_phone()
    ids = {
        "called": left_placing(stack, called, 5),
        "never called": left_placing(stack, never_called, 20),
        "just taken": left_placing(stack, just_taken, 0),
    }
    settings = SidecarSettings(
        supabase_url=stack.api_url, vapi_base_url=vapi[1], vapi_api_key=fake.api_key
    )

    async def sweep() -> int:
        async with httpx.AsyncClient(timeout=30) as http:
            client = VapiClient(settings.vapi_base_url, settings.vapi_api_key, http)
            # Vapi made the first call before its sidecar could record it.
            made = await client.create_call(
                assistant_id=ASSISTANT_ID, phone_number_id=PHONE_NUMBER_ID, customer_number=called
            )
            count = await VoiceSweep(settings, SupabaseApi(settings, http), client).sweep_once(
                datetime.now(UTC)
            )
            assert status_of(stack, ids["called"]) == ("placed", made.id, "staff")
            return count.settled

    assert asyncio.run(sweep()) == 2
    assert status_of(stack, ids["never called"]) == ("failed", None, "staff")
    assert status_of(stack, ids["just taken"]) == ("placing", None, "staff"), (
        "a request still being placed is left to its sidecar"
    )
    assert len(calls_to(fake, called)) == 1, "nobody is called a second time"
    assert calls_to(fake, never_called) == []
