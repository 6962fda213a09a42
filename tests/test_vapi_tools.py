"""The voice agent's tools, as Vapi calls them: the local Vapi fake sends signed `tool-calls`
messages to the sidecar, which answers in Vapi's results format (`{"results": [{"toolCallId",
"name", "result" | "error"}]}`, single-line strings, always 200).

What a caller would notice: anyone may hear free slots; only a caller who says the patient's
voice PIN (set in the app) in this call hears or changes that patient's record, and then books,
moves and cancels their own appointment and hears whether their medicine is ready; a caller on
another patient's number hears nothing clinical without that patient's PIN; five wrong PINs
lock.
"""

# ruff: noqa: F811 (the fixtures imported from test_vapi_webhook are arguments here)
from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from devstack.config import Settings
from tests.auth_target import TEST_PASSWORD, AuthTarget, sign_in
from tests.fakes.vapi import FakeVapi
from tests.test_vapi_webhook import (  # noqa: F401 (fixtures)
    NABHA,
    committed,
    sidecar_url,
    vapi,
    voice_line,
)

pytest_plugins = ["tests.auth_target"]

SANDHU = "30000000-0000-4000-8000-000000000001"  # a demo doctor of the line's hospital


@pytest.fixture
def patient(auth: AuthTarget, stack: Settings) -> Iterator[Callable[..., dict[str, Any]]]:
    """Patients of the line's hospital with an app login and a phone; with `pin`, they set their
    voice PIN in the app. Their rows are deleted afterwards."""
    made: list[dict[str, Any]] = []

    def make(name: str, phone: str | None = None, pin: str | None = None) -> dict[str, Any]:
        user = auth.new_user()
        phone = phone or f"+9197{secrets.randbelow(10**8):08d}"
        with auth.db() as conn:
            row = conn.execute(
                "insert into public.patients (user_id, full_name, phone) values (%s, %s, %s) "
                "returning id",
                (user["id"], name, phone),
            ).fetchone()
            assert row is not None
            conn.execute(
                "insert into public.patient_registrations (patient_id, hospital_id, mrn) "
                "values (%s, %s, %s)",
                (row[0], NABHA, f"VT-{str(row[0])[:8]}"),
            )
        person = {"id": str(row[0]), "phone": phone, "user": user}
        made.append(person)
        if pin is not None:
            token = sign_in(auth, user["email"], TEST_PASSWORD)["access_token"]
            response = httpx.post(
                f"{auth.url}/rest/v1/rpc/set_voice_pin",
                headers={"apikey": stack.anon_key, "Authorization": f"Bearer {token}"},
                json={"pin": pin},
            )
            assert response.status_code == 200, response.text
        return person

    yield make
    ids = [person["id"] for person in made]
    with auth.db() as conn, conn.transaction():
        for statement in (
            "delete from public.ai_sessions where patient_id = any(%(ids)s::uuid[]) "
            "or caller_phone = any(%(phones)s)",
            "delete from public.prescription_items where prescription_id in "
            "(select id from public.prescriptions where patient_id = any(%(ids)s::uuid[]))",
            "delete from public.prescriptions where patient_id = any(%(ids)s::uuid[])",
            "delete from public.appointments where patient_id = any(%(ids)s::uuid[])",
            "delete from public.care_team_members where patient_id = any(%(ids)s::uuid[])",
            "delete from public.patient_registrations where patient_id = any(%(ids)s::uuid[])",
            "delete from public.patients where id = any(%(ids)s::uuid[])",
        ):
            conn.execute(statement, {"ids": ids, "phones": [p["phone"] for p in made]})


def results(delivery: Any) -> list[dict[str, Any]]:
    """The answer, checked against Vapi's format: 200, one result per tool call, each with the
    call's id and name and exactly one of result or error, a single-line string."""
    assert delivery.status_code == 200, delivery.answer
    answer = delivery.answer
    assert set(answer) == {"results"}
    sent = json.loads(delivery.body)["message"]["toolCallList"]
    assert [r["toolCallId"] for r in answer["results"]] == [c["id"] for c in sent]
    assert [r["name"] for r in answer["results"]] == [c["function"]["name"] for c in sent]
    for result in answer["results"]:
        assert len({"result", "error"} & set(result)) == 1
        text = result.get("result", result.get("error"))
        assert isinstance(text, str) and "\n" not in text
    return answer["results"]


def said(delivery: Any) -> list[Any]:
    """What each tool answered: its result parsed, or {"error": ...}."""
    return [
        json.loads(r["result"]) if "result" in r else {"error": r["error"]}
        for r in results(delivery)
    ]


def a_day_with_slots(vapi: FakeVapi, call: str) -> tuple[str, list[dict[str, Any]]]:
    day = date.today() + timedelta(days=40)
    for _ in range(10):
        (found,) = said(
            vapi.tool_calls(call, ("find_slots", {"date": day.isoformat(), "doctor_id": SANDHU}))
        )
        if len(found["slots"]) >= 2:
            return day.isoformat(), found["slots"]
        day += timedelta(days=1)
    pytest.fail("Dr Sandhu has no free day in the next 50 days")


def test_a_verified_caller_manages_their_own_appointments_and_hears_their_medicine(
    vapi: FakeVapi, committed: psycopg.Connection, patient: Callable[..., dict[str, Any]]
) -> None:
    caller = patient("Harjit Kaur", pin="4821")
    call = vapi.inbound_call(caller["phone"])
    day, slots = a_day_with_slots(vapi, call)
    assert {slot["doctor"] for slot in slots} == {"Dr. Gurpreet Sandhu"}

    verified, booked = said(
        vapi.tool_calls(
            call,
            ("verify_caller", {"pin": "4821"}),
            ("book_appointment", {"doctor_id": SANDHU, "starts_at": slots[0]["starts_at"]}),
        )
    )
    assert verified == {"verified": True}
    assert booked["done"] is True
    appointment = booked["appointment"]["appointment_id"]
    assert committed.execute(
        "select patient_id::text, source::text, status::text from public.appointments "
        "where id = %s",
        (appointment,),
    ).fetchone() == (caller["id"], "voice_agent", "scheduled")

    (listed,) = said(vapi.tool_calls(call, ("next_appointments", {})))
    assert [a["appointment_id"] for a in listed["appointments"]] == [appointment]

    (moved,) = said(
        vapi.tool_calls(
            call,
            (
                "reschedule_appointment",
                {"appointment_id": appointment, "starts_at": slots[1]["starts_at"]},
            ),
        )
    )
    assert moved["appointment"]["starts_at"] == slots[1]["starts_at"]

    (cancelled,) = said(
        vapi.tool_calls(call, ("cancel_appointment", {"appointment_id": appointment}))
    )
    assert cancelled["appointment"]["status"] == "cancelled"

    (prescription,) = committed.execute(
        "insert into public.prescriptions (hospital_id, patient_id, doctor_id, pharmacy_id) "
        "select %s, %s, %s, ph.id from public.pharmacies as ph "
        "where ph.hospital_id = %s order by ph.is_default desc limit 1 returning id",
        (NABHA, caller["id"], SANDHU, NABHA),
    ).fetchone()
    for status in ("approved", "ready_for_pickup"):  # the pharmacy's steps
        committed.execute(
            "update public.prescriptions set status = %s where id = %s", (status, prescription)
        )
    (medicine,) = said(vapi.tool_calls(call, ("prescription_status", {})))
    assert [(p["status"], p["ready_for_pickup"]) for p in medicine["prescriptions"]] == [
        ("ready_for_pickup", True)
    ]
    assert day >= date.today().isoformat()


def test_an_unverified_caller_gets_nothing_clinical(
    vapi: FakeVapi, committed: psycopg.Connection, patient: Callable[..., dict[str, Any]]
) -> None:
    caller = patient("Baljit Singh", pin="5930")
    call = vapi.inbound_call(caller["phone"])
    _, slots = a_day_with_slots(vapi, call)
    answers = said(
        vapi.tool_calls(
            call,
            ("next_appointments", {}),
            ("prescription_status", {}),
            ("book_appointment", {"doctor_id": SANDHU, "starts_at": slots[0]["starts_at"]}),
        )
    )
    assert [a["reason"] for a in answers] == ["verification_required"] * 3
    assert all(set(a) == {"done", "reason", "say"} for a in answers)
    assert committed.execute(
        "select count(*) from public.appointments where patient_id = %s", (caller["id"],)
    ).fetchone() == (0,)


def test_a_caller_on_another_patients_number_gets_no_clinical_answer_without_their_pin(
    vapi: FakeVapi, committed: psycopg.Connection, patient: Callable[..., dict[str, Any]]
) -> None:
    victim = patient("Manjit Kaur", pin="6042")
    patient("The Spoofer", pin="7153")
    # The attacker's call shows the victim's number (caller ID spoofed) and says their own PIN.
    call = vapi.inbound_call(victim["phone"])
    wrong, listed = said(
        vapi.tool_calls(call, ("verify_caller", {"pin": "7153"}), ("next_appointments", {}))
    )
    assert wrong == {"verified": False, "reason": "wrong_pin", "tries_left": 4}
    assert listed["reason"] == "verification_required"
    assert "appointments" not in listed
    (moved,) = said(
        vapi.tool_calls(
            call,
            ("cancel_appointment", {"appointment_id": "30000000-0000-4000-8000-000000000001"}),
        )
    )
    assert moved["reason"] == "verification_required"


def test_five_wrong_pins_lock_the_pin(
    vapi: FakeVapi, patient: Callable[..., dict[str, Any]]
) -> None:
    caller = patient("Sukhdev Singh", pin="8264")
    call = vapi.inbound_call(caller["phone"])
    tries = said(
        vapi.tool_calls(
            call, *[("verify_caller", {"pin": pin}) for pin in ("1111", "2222", "3333", "4444")]
        )
    )
    assert [t["tries_left"] for t in tries] == [4, 3, 2, 1]
    (fifth,) = said(vapi.tool_calls(call, ("verify_caller", {"pin": "5555"})))
    assert fifth == {"verified": False, "reason": "locked", "tries_left": 0}
    (right,) = said(vapi.tool_calls(call, ("verify_caller", {"pin": "8264"})))
    assert right["reason"] == "locked"
    later = vapi.inbound_call(caller["phone"])
    (next_call,) = said(vapi.tool_calls(later, ("verify_caller", {"pin": "8264"})))
    assert next_call["reason"] == "locked", "the lock holds for the day, whichever call"


def test_an_unknown_tool_or_unreadable_arguments_are_errors_in_vapis_format(
    vapi: FakeVapi, patient: Callable[..., dict[str, Any]]
) -> None:
    caller = patient("Gurnam Kaur")
    call = vapi.inbound_call(caller["phone"])
    answers = results(vapi.tool_calls(call, ("transfer_money", {}), ("find_slots", {"date": "x"})))
    assert answers[0]["error"] == "unknown tool transfer_money"
    assert "date" in answers[1]["error"]
