"""The voice agent's SMS codes, as Vapi calls them: the Vapi fake sends signed `tool-calls` to a
sidecar that texts through the Twilio fake.

What a caller would notice: a patient on a keypad phone, whose record a call from their unknown
number made (no app, so no voice PIN), asks for a code, gets it by SMS on their phone, says it,
and hears their next appointment; the agent never hears the code or the number. A caller showing
another patient's number makes the code go to that patient's real phone and hears nothing
clinical. Without Twilio the agent is told clearly that no code could be sent.
"""

# ruff: noqa: F811 (the fixtures imported from test_vapi_webhook are arguments here)
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from devstack.config import Settings
from devstack.local_server import LocalServer
from sidecar.app import create_app
from tests.fakes.twilio import FakeTwilio
from tests.fakes.vapi import FakeVapi
from tests.test_vapi_tools import a_day_with_slots, patient, said  # noqa: F401 (fixture)
from tests.test_vapi_webhook import (  # noqa: F401 (fixtures)
    SECRET,
    WEBHOOK,
    committed,
    new_phone,
    sidecar_settings,
    sidecar_url,
    vapi,
    voice_line,
)

pytest_plugins = ["tests.auth_target"]

SANDHU = "30000000-0000-4000-8000-000000000001"  # a demo doctor of the line's hospital
SENT = "A code was sent to the phone number on your record."


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    with LocalServer(fake.app) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture(scope="module")
def texting_sidecar_url(
    stack: Settings, gateway: str, voice_line: None, twilio: FakeTwilio
) -> Iterator[str]:
    """A sidecar whose Twilio settings point at the fake."""
    settings = sidecar_settings(stack).model_copy(
        update={
            "twilio_base_url": twilio.url,  # type: ignore[attr-defined]
            "twilio_account_sid": twilio.account_sid,
            "twilio_auth_token": twilio.auth_token,
            "twilio_from_number": twilio.from_number,
        }
    )
    with LocalServer(create_app(settings), lifespan="on") as server:
        yield server.url


@pytest.fixture
def texting_vapi(texting_sidecar_url: str, twilio: FakeTwilio) -> FakeVapi:
    twilio.reset()
    return FakeVapi(
        server_url=f"{texting_sidecar_url}{WEBHOOK}", scheme="hmac", server_secret=SECRET
    )


def code_texted_to(twilio: FakeTwilio, phone: str) -> str:
    """The code in the last text to `phone`, as the patient reads it."""
    body = twilio.messages_to(phone)[-1]["body"]
    found = re.match(r"^(\d{6}) ", body)
    assert found, body
    return found.group(1)


def test_a_voice_only_patient_verifies_with_a_code_texted_to_their_phone(
    texting_vapi: FakeVapi,
    twilio: FakeTwilio,
    committed: psycopg.Connection,
    new_phone: Callable[[], str],
) -> None:
    phone = new_phone()
    # Their first call, from a number carebase did not know, made their record.
    first = texting_vapi.inbound_call(phone)
    _, slots = a_day_with_slots(texting_vapi, first)
    texting_vapi.end_call(first, structured_data={"name": "Kulwant Kaur"})
    (patient_id,) = committed.execute(
        "select id from public.patients where phone = %s and user_id is null", (phone,)
    ).fetchone()
    # The front desk booked them, as they asked on that call.
    (visit,) = committed.execute(
        "insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)"
        " select d.hospital_id, d.id, %s, t, t + interval '30 minutes' from public.doctors as d,"
        " (select %s::timestamp at time zone 'Asia/Kolkata' as t) as s where d.id = %s"
        " returning id",
        (patient_id, slots[0]["starts_at"], SANDHU),
    ).fetchone()
    try:
        call = texting_vapi.inbound_call(phone)
        (unverified,) = said(texting_vapi.tool_calls(call, ("next_appointments", {})))
        assert unverified["reason"] == "verification_required"

        delivery = texting_vapi.tool_calls(call, ("send_verification_code", {}))
        (sent,) = said(delivery)
        assert sent["sent"] is True and sent["say"].startswith(SENT)
        assert [m["to"] for m in twilio.sent] == [phone]
        code = code_texted_to(twilio, phone)
        assert code not in delivery.answer["results"][0]["result"]
        assert phone.lstrip("+") not in delivery.answer["results"][0]["result"]

        verified, listed = said(
            texting_vapi.tool_calls(
                call, ("verify_caller", {"code": code}), ("next_appointments", {})
            )
        )
        assert verified == {"verified": True}
        assert [a["appointment_id"] for a in listed["appointments"]] == [str(visit)]
        assert listed["appointments"][0]["starts_at"] == slots[0]["starts_at"]

        (again,) = said(texting_vapi.tool_calls(call, ("verify_caller", {"code": code})))
        assert again == {"verified": True}, "the call stays verified"
        later = texting_vapi.inbound_call(phone)
        (elsewhere,) = said(texting_vapi.tool_calls(later, ("verify_caller", {"code": code})))
        assert elsewhere["reason"] == "no_code_sent", "a code verifies only its own call"
    finally:
        committed.execute("delete from public.appointments where id = %s", (visit,))
        committed.execute(  # the booking put the doctor on the care team
            "delete from public.care_team_members where patient_id = %s", (patient_id,)
        )


def test_a_spoofed_caller_id_texts_the_real_patient_and_hears_nothing_clinical(
    texting_vapi: FakeVapi,
    twilio: FakeTwilio,
    patient: Callable[..., dict[str, Any]],
) -> None:
    victim = patient("Manjit Kaur", pin="6042")
    # The attacker's call shows the victim's number and asks for the code at their own phone.
    call = texting_vapi.inbound_call(victim["phone"])
    (sent,) = said(
        texting_vapi.tool_calls(call, ("send_verification_code", {"phone": "+919811111111"}))
    )
    assert sent["sent"] is True
    assert [m["to"] for m in twilio.sent] == [victim["phone"]]
    assert twilio.messages_to("+919811111111") == []
    # The code is on the victim's phone; the attacker can only guess.
    guess = f"{(int(code_texted_to(twilio, victim['phone'])) + 1) % 10**6:06d}"
    wrong, listed, medicine = said(
        texting_vapi.tool_calls(
            call,
            ("verify_caller", {"code": guess}),
            ("next_appointments", {}),
            ("prescription_status", {}),
        )
    )
    assert wrong == {"verified": False, "reason": "wrong_code", "tries_left": 4}
    assert [listed["reason"], medicine["reason"]] == ["verification_required"] * 2
    assert "appointments" not in listed and "prescriptions" not in medicine


def test_four_codes_in_a_call_send_three_texts(
    texting_vapi: FakeVapi, twilio: FakeTwilio, patient: Callable[..., dict[str, Any]]
) -> None:
    caller = patient("Gurdial Singh")
    call = texting_vapi.inbound_call(caller["phone"])
    answers = said(texting_vapi.tool_calls(call, *[("send_verification_code", {})] * 4))
    assert [a["sent"] for a in answers] == [True, True, True, False]
    assert answers[3]["reason"] == "too_many_codes"
    assert len(twilio.messages_to(caller["phone"])) == 3


def test_a_failed_text_is_told_to_the_agent_and_verifies_nothing(
    texting_vapi: FakeVapi, twilio: FakeTwilio, patient: Callable[..., dict[str, Any]]
) -> None:
    caller = patient("Jagtar Singh")
    call = texting_vapi.inbound_call(caller["phone"])
    twilio.fail_next = [503]
    failed, listed = said(
        texting_vapi.tool_calls(call, ("send_verification_code", {}), ("next_appointments", {}))
    )
    assert failed["sent"] is False and failed["reason"] == "sms_failed"
    assert "could not be sent" in failed["say"]
    assert twilio.messages_to(caller["phone"]) == []
    assert listed["reason"] == "verification_required"


def test_without_twilio_the_agent_hears_that_no_code_could_be_sent(
    vapi: FakeVapi,
    committed: psycopg.Connection,
    patient: Callable[..., dict[str, Any]],
) -> None:
    caller = patient("Sarabjit Kaur")
    call = vapi.inbound_call(caller["phone"])  # the sidecar of test_vapi_webhook: no Twilio
    (answer,) = said(vapi.tool_calls(call, ("send_verification_code", {})))
    assert answer["sent"] is False and answer["reason"] == "sms_not_configured"
    assert answer["say"].startswith("The code could not be sent")
    assert committed.execute(
        "select count(*) from private.voice_codes where patient_id = %s", (caller["id"],)
    ).fetchone() == (0,), "no code is made that nobody could receive"
