"""The copilot's tools through the real stack, with the official Supabase client as each demo
user (their JWT: the claims Supabase Auth issues them, signed by the gateway's secret).

What a user would notice: a tool finds only what its user may see (a patient asking about
another patient gets nothing of theirs), a role is offered only what it could do by hand and
the database refuses the rest anyway, clinical reads go through the logged RPCs (the audit
trail names the user), writes are never read-only, and refusals are compact outcomes.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from jsonschema import Draft202012Validator
from supabase import AsyncClientOptions, acreate_client

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession
from sidecar.copilot.tools import REGISTRY, ROLES, TOOLS, Tool, tools_for

NABHA = "10000000-0000-4000-8000-000000000001"
SANDHU = "30000000-0000-4000-8000-000000000001"  # Dr. Sandhu's doctor id
# Balwinder Singh and Ramesh Kumar: Dr. Sandhu's patients; Balwinder also the nurse's.
BALWINDER = "60000000-0000-4000-8000-000000000001"
RAMESH = "60000000-0000-4000-8000-000000000003"
LOGINS = {
    "patient": "50000000-0000-4000-8000-000000000001",  # Balwinder's login
    "ramesh": "50000000-0000-4000-8000-000000000003",
    "doctor": "dr.sandhu@nabha.carebase.test",
    "other_doctor": "dr.mehta@nabha.carebase.test",  # on neither patient's care team
    "nurse": "nurse@nabha.carebase.test",
    "pharmacist": "pharmacist@nabha.carebase.test",
    "front_desk": "frontdesk@nabha.carebase.test",
    "cro": "cro@nabha.carebase.test",
    "hospital_admin": "admin@nabha.carebase.test",
}
WRITES = {
    "book_appointment",
    "reschedule_appointment",
    "cancel_appointment",
    "set_appointment_status",
    "issue_prescription",
    "cancel_prescription",
    "update_prescription_status",
    "mark_prescription_picked_up",
    "draft_soap_note",
}
CLINICAL = {"lab_results", "list_clinical_notes", "read_clinical_note", "draft_soap_note"}


@pytest.fixture(scope="module")
def tokens(stack: Settings, gateway: str) -> dict[str, str]:
    with psycopg.connect(stack.dsn()) as conn:
        session = PostgrestSession(conn)
        made = {
            who: issue(session.claims_for(login), stack.jwt_secret) for who, login in LOGINS.items()
        }
        made["doctor_aal1"] = issue(
            session.claims_for(LOGINS["doctor"], aal="aal1"), stack.jwt_secret
        )
    return made


def user_id(stack: Settings, login: str) -> str:
    with psycopg.connect(stack.dsn()) as conn:
        (found,) = conn.execute(
            "select id::text from auth.users where email = %(k)s or id::text = %(k)s", {"k": login}
        ).fetchone()
    return found


def run(stack: Settings, token: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Runs one tool as the holder of `token`, with the official async client (RLS applies)."""

    async def call() -> dict[str, Any]:
        client = await acreate_client(
            stack.api_url,
            stack.anon_key,
            AsyncClientOptions(
                headers={"Authorization": f"Bearer {token}"},
                auto_refresh_token=False,
                persist_session=False,
            ),
        )
        return await REGISTRY[name].run(client, args)

    return asyncio.run(call())


def summary(stack: Settings, token: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """A write tool's words for the user to confirm, looked up as the holder of `token`."""

    async def words() -> dict[str, Any]:
        client = await acreate_client(
            stack.api_url,
            stack.anon_key,
            AsyncClientOptions(
                headers={"Authorization": f"Bearer {token}"},
                auto_refresh_token=False,
                persist_session=False,
            ),
        )
        return await REGISTRY[name].summary(client, args)

    return asyncio.run(words())


def ids(outcome: dict[str, Any], key: str = "id") -> set[str]:
    assert outcome["ok"], outcome
    return {row[key] for row in outcome["rows"]}


def future_start() -> datetime:
    """An hour of 2040 nobody else books (as conftest's `book` does), at a quarter hour."""
    return datetime(2040, 1, 2, tzinfo=UTC) + timedelta(hours=random.randrange(24 * 300))  # noqa: S311


# The registry itself ------------------------------------------------------------------------


def object_schemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if schema.get("type") == "object":
        yield schema
    for child in (schema.get("properties") or {}).values():
        yield from object_schemas(child)
    if isinstance(schema.get("items"), dict):
        yield from object_schemas(schema["items"])


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.name)
def test_every_input_schema_is_a_valid_strict_json_schema(tool: Tool) -> None:
    Draft202012Validator.check_schema(tool.input_schema)
    assert tool.input_schema["type"] == "object"
    for schema in object_schemas(dict(tool.input_schema)):
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) <= set(schema["properties"])
    assert tool.description and tool.roles and tool.roles <= ROLES
    assert tool.definition() == {
        "name": tool.name,
        "description": tool.description,
        "input_schema": dict(tool.input_schema),
    }


def test_every_write_tool_needs_confirmation_and_says_what_it_will_do() -> None:
    assert {tool.name for tool in TOOLS if not tool.read_only} == WRITES
    assert len(REGISTRY) == len(TOOLS)
    # Deny by default: a tool not declared read-only is a write.
    assert not Tool("x", "x", {"type": "object"}, frozenset({"patient"}), call=None).read_only  # type: ignore[arg-type]
    for name in WRITES:
        assert REGISTRY[name].describe is not None, name


def test_a_proposal_names_people_and_times_and_what_is_out_of_reach_is_refused(
    stack: Settings, tokens: dict[str, str]
) -> None:
    booking = {"doctor_id": SANDHU, "patient_id": RAMESH, "starts_at": "2040-12-07T04:30:00Z"}
    assert summary(stack, tokens["front_desk"], "book_appointment", booking) == {
        "ok": True,
        "summary": "Book Ramesh Kumar with Dr. Gurpreet Sandhu on Fri 7 Dec 2040 10:00 IST",
    }
    own = {"doctor_id": SANDHU, "starts_at": "2040-12-07T04:30:00Z", "mode": "video"}
    assert summary(stack, tokens["patient"], "book_appointment", own)["summary"] == (
        "Book Balwinder Singh with Dr. Gurpreet Sandhu on Fri 7 Dec 2040 10:00 IST (video)"
    )
    refusals = [
        (tokens["patient"], "book_appointment", booking, "patient_not_found"),
        (
            tokens["front_desk"],
            "book_appointment",
            {**booking, "doctor_id": str(uuid.uuid4())},
            "doctor_not_found",
        ),
        (
            tokens["front_desk"],
            "cancel_appointment",
            {"appointment_id": str(uuid.uuid4()), "reason": "x"},
            "appointment_not_found",
        ),
        (
            tokens["pharmacist"],
            "update_prescription_status",
            {"prescription_id": str(uuid.uuid4()), "status": "approved"},
            "prescription_not_found",
        ),
        (
            tokens["other_doctor"],
            "draft_soap_note",
            {"patient_id": BALWINDER, "plan": "rest"},
            "patient_not_found",
        ),
    ]
    for token, name, args, code in refusals:
        outcome = summary(stack, token, name, args)
        assert (outcome["ok"], outcome["code"]) == (False, code), (name, outcome)
        assert not any(str(v) in outcome["message"] for v in args.values() if len(str(v)) == 36)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_role_gets_tools_and_an_unknown_role_none(role: str) -> None:
    assert tools_for(role)
    assert tools_for("service_role") == () and tools_for("") == ()


def test_a_pharmacist_gets_no_clinical_tool_and_a_patient_no_patient_search() -> None:
    pharmacist = {tool.name for tool in tools_for("pharmacist")}
    assert pharmacist.isdisjoint(CLINICAL)
    assert {"list_prescriptions", "read_prescriptions", "update_prescription_status"} <= pharmacist
    patient = {tool.name for tool in tools_for("patient")}
    assert patient.isdisjoint({"find_patients", "patient_overview", "issue_prescription"})
    assert {"my_record", "list_appointments", "book_appointment"} <= patient
    for role in ROLES - {"doctor", "nurse", "patient"}:
        assert {tool.name for tool in tools_for(role)}.isdisjoint(CLINICAL), role


def test_arguments_outside_the_schema_are_refused_before_any_call(
    stack: Settings, tokens: dict[str, str]
) -> None:
    outcome = run(stack, tokens["doctor"], "find_patients", {"query": "kaur", "sql": "select 1"})
    assert outcome["ok"] is False and outcome["code"] == "invalid_arguments"
    outcome = run(stack, tokens["doctor"], "patient_overview", {"patient_id": "not-a-uuid"})
    assert outcome["ok"] is False and outcome["code"] == "invalid_arguments"


# What each role is offered, it can do; what it is not offered, the database refuses --------

NOW = datetime.now(UTC)
READ_ARGS: dict[str, dict[str, Any]] = {
    "find_patients": {"query": "singh"},
    "patient_overview": {"patient_id": BALWINDER},
    "my_record": {},
    "list_doctors": {},
    "list_appointments": {},
    "find_slots": {
        "from_time": (NOW + timedelta(days=1)).isoformat(),
        "to_time": (NOW + timedelta(days=8)).isoformat(),
        "doctor_id": SANDHU,
    },
    "appointment_stats": {},
    "list_prescriptions": {},
    "read_prescriptions": {"prescription_ids": [str(uuid.uuid4())]},
    "lab_results": {"patient_id": BALWINDER},
    "list_clinical_notes": {"patient_id": BALWINDER},
    "read_clinical_note": None,  # needs a note: test_clinical_notes_are_read_by_the_care_team_only
}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_read_tool_offered_to_a_role_answers_for_it(
    stack: Settings, tokens: dict[str, str], role: str
) -> None:
    for tool in tools_for(role):
        if not tool.read_only or READ_ARGS[tool.name] is None:
            continue
        args = dict(READ_ARGS[tool.name])
        if role == "patient" and "patient_id" in args:
            args.pop("patient_id")  # their own record
        outcome = run(stack, tokens[role], tool.name, args)
        assert outcome["ok"], (role, tool.name, outcome)


# (role, tool not offered to it, arguments): refused, or nothing, when called anyway.
NOT_OFFERED = [
    ("patient", "find_patients", {"query": "kumar"}),
    ("patient", "patient_overview", {"patient_id": RAMESH}),
    ("patient", "issue_prescription", {"patient_id": BALWINDER, "medications": [
        {"medicine": "Paracetamol", "dosage": "1 tablet", "frequency": "twice", "quantity": 4}]}),
    ("pharmacist", "find_patients", {"query": "kumar"}),
    ("pharmacist", "lab_results", {"patient_id": BALWINDER}),
    ("pharmacist", "list_clinical_notes", {"patient_id": BALWINDER}),
    ("pharmacist", "list_appointments", {"patient_id": BALWINDER}),
    ("pharmacist", "draft_soap_note", {"patient_id": BALWINDER, "plan": "rest"}),
    ("front_desk", "lab_results", {"patient_id": BALWINDER}),
    ("front_desk", "issue_prescription", {"patient_id": BALWINDER, "medications": [
        {"medicine": "Paracetamol", "dosage": "1 tablet", "frequency": "twice", "quantity": 4}]}),
    ("cro", "list_clinical_notes", {"patient_id": BALWINDER}),
    ("hospital_admin", "draft_soap_note", {"patient_id": BALWINDER, "plan": "rest"}),
    ("nurse", "book_appointment", {"doctor_id": SANDHU, "patient_id": BALWINDER,
                                   "starts_at": "2040-03-04T05:00:00+00:00"}),
    ("nurse", "issue_prescription", {"patient_id": BALWINDER, "medications": [
        {"medicine": "Paracetamol", "dosage": "1 tablet", "frequency": "twice", "quantity": 4}]}),
]  # fmt: skip


@pytest.mark.parametrize(("role", "name", "args"), NOT_OFFERED, ids=lambda v: str(v)[:20])
def test_a_tool_not_offered_to_a_role_is_refused_or_finds_nothing_anyway(
    stack: Settings, tokens: dict[str, str], role: str, name: str, args: dict[str, Any]
) -> None:
    assert REGISTRY[name] not in tools_for(role)
    outcome = run(stack, tokens[role], name, args)
    if outcome["ok"]:
        found = outcome.get("rows")
        assert found is not None and all(row.get("id") != RAMESH for row in found), outcome
        if role == "patient":  # a patient's search reaches only themselves
            assert {row.get("id") for row in found} <= {BALWINDER}
        else:
            assert found == [], outcome
    else:
        assert outcome["code"] in {"forbidden", "not_found", "invalid_value", "conflict"}, outcome
        assert set(outcome) <= {"ok", "code", "message", "hint"}


# A patient sees only their own rows --------------------------------------------------------


@pytest.fixture
def booked_for_ramesh(stack: Settings, tokens: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Ramesh booked with Dr. Sandhu by the front desk through the copilot's write tool."""
    outcome = run(
        stack,
        tokens["front_desk"],
        "book_appointment",
        {
            "doctor_id": SANDHU,
            "patient_id": RAMESH,
            "starts_at": future_start().isoformat(),
            "reason": "copilot tool test",
        },
    )
    assert outcome["ok"], outcome
    yield outcome["result"]
    with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn:
        booked = uuid.UUID(outcome["result"]["id"])
        conn.execute("delete from private.outbox where subject_id = %s", (booked,))
        conn.execute("delete from public.status_history where subject_id = %s", (booked,))
        conn.execute("delete from public.appointments where id = %s", (booked,))


def test_a_front_desk_booking_through_the_tool_is_booked_by_that_user(
    stack: Settings, tokens: dict[str, str], booked_for_ramesh: dict[str, Any]
) -> None:
    assert booked_for_ramesh["booked_by"] == user_id(stack, LOGINS["front_desk"])
    assert booked_for_ramesh["status"] == "scheduled"
    assert set(booked_for_ramesh) <= {
        "id", "starts_at", "ends_at", "status", "mode", "appointment_type", "doctor_id",
        "patient_id", "booked_by", "status_reason",
    }  # fmt: skip
    window = {
        "from_time": booked_for_ramesh["starts_at"],
        "to_time": booked_for_ramesh["ends_at"],
    }
    [seen] = run(stack, tokens["front_desk"], "list_appointments", window)["rows"]
    assert seen["id"] == booked_for_ramesh["id"]
    assert seen["patient_name"] == "Ramesh Kumar" and seen["doctor_name"] == "Dr. Gurpreet Sandhu"
    assert booked_for_ramesh["id"] in ids(run(stack, tokens["ramesh"], "list_appointments", window))
    assert booked_for_ramesh["id"] in ids(run(stack, tokens["doctor"], "list_appointments", window))


def test_a_patient_gets_nothing_of_another_patient(
    stack: Settings, tokens: dict[str, str], booked_for_ramesh: dict[str, Any]
) -> None:
    patient = tokens["patient"]  # Balwinder
    window = {"from_time": booked_for_ramesh["starts_at"], "patient_id": RAMESH}
    assert run(stack, patient, "list_appointments", window) == {"ok": True, "rows": []}
    assert run(stack, patient, "list_appointments", {"from_time": "2040-01-01T00:00:00Z"}) == {
        "ok": True,
        "rows": [],
    }
    assert run(stack, patient, "list_prescriptions", {"patient_id": RAMESH}) == {
        "ok": True,
        "rows": [],
    }
    assert run(stack, patient, "lab_results", {"patient_id": RAMESH}) == {"ok": True, "rows": []}
    assert run(stack, patient, "list_clinical_notes", {"patient_id": RAMESH}) == {
        "ok": True,
        "rows": [],
    }
    moved = run(
        stack,
        patient,
        "cancel_appointment",
        {"appointment_id": booked_for_ramesh["id"], "reason": "not mine"},
    )
    assert moved["ok"] is False and moved["code"] == "not_found"
    overview = run(stack, patient, "patient_overview", {"patient_id": RAMESH})
    assert overview["ok"] is False and overview["code"] == "not_found"
    mine = run(stack, patient, "my_record", {})
    assert mine["ok"] and mine["result"]["patient"]["id"] == BALWINDER
    assert RAMESH not in str(mine)


# Clinical content only through the logged RPCs, for the care team --------------------------


@pytest.fixture
def lab_result(stack: Settings) -> Iterator[str]:
    """A final lab result of Balwinder's, removed afterwards (clinical rows are never deleted
    through any role: the superuser skips the guard in replica mode)."""
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        (made,) = conn.execute(
            "insert into public.lab_results (patient_id, hospital_id, recorded_by, test_name,"
            " result_value, unit, status, finalised_at) values (%s, %s, %s, 'HbA1c', '6.1',"
            " '%%', 'normal', now()) returning id::text",
            (BALWINDER, NABHA, user_id(stack, LOGINS["doctor"])),
        ).fetchone()
    yield made
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        conn.execute("delete from public.lab_results where id = %s", (made,))


def test_lab_results_reach_the_care_team_and_the_patient_only(
    stack: Settings, tokens: dict[str, str], lab_result: str
) -> None:
    for reader, args in [
        ("doctor", {"patient_id": BALWINDER}),
        ("nurse", {"patient_id": BALWINDER}),
        ("patient", {}),
    ]:
        rows = run(stack, tokens[reader], "lab_results", args)["rows"]
        assert lab_result in {row["item_id"] for row in rows}, reader
        [mine] = [row for row in rows if row["item_id"] == lab_result]
        assert set(mine) == {"item_id", "occurred_at", "summary"}
        assert "HbA1c: 6.1" in mine["summary"]
    for outsider in ("other_doctor", "ramesh"):
        assert run(stack, tokens[outsider], "lab_results", {"patient_id": BALWINDER}) == {
            "ok": True,
            "rows": [],
        }
    refused = run(stack, tokens["doctor_aal1"], "lab_results", {"patient_id": BALWINDER})
    assert refused["ok"] is False and refused["code"] == "insufficient_aal" and refused["hint"]


@pytest.fixture
def draft_note(stack: Settings, tokens: dict[str, str]) -> Iterator[str]:
    """A draft SOAP note for Ramesh, written by Dr. Sandhu through the copilot's tool."""
    outcome = run(
        stack,
        tokens["doctor"],
        "draft_soap_note",
        {"patient_id": RAMESH, "subjective": "cough for a week", "plan": "steam inhalation"},
    )
    assert outcome["ok"], outcome
    assert outcome["result"]["status"] == "draft"
    yield outcome["result"]["note_id"]
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        conn.execute(
            "delete from public.clinical_notes where id = %s", (outcome["result"]["note_id"],)
        )


def test_clinical_notes_are_read_by_the_care_team_only_and_logged_with_the_reader(
    stack: Settings, tokens: dict[str, str], draft_note: str
) -> None:
    listed = run(stack, tokens["doctor"], "list_clinical_notes", {"patient_id": RAMESH})
    assert draft_note in {row["item_id"] for row in listed["rows"]}
    read = run(stack, tokens["doctor"], "read_clinical_note", {"note_id": draft_note})
    assert read["ok"], read
    assert read["result"]["soap"] == {"subjective": "cough for a week", "plan": "steam inhalation"}
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        readers = {
            actor
            for (actor,) in conn.execute(
                "select actor_id::text from audit.log where action = 'READ'"
                " and table_name = 'public.clinical_notes' and row_id = %s",
                (draft_note,),
            )
        }
    assert readers == {user_id(stack, LOGINS["doctor"])}

    # Dr. Mehta is not on Ramesh's care team; the pharmacist is not offered the tool at all;
    # the patient reads only signed notes (this one is a draft); another patient nothing.
    assert REGISTRY["read_clinical_note"] not in tools_for("pharmacist")
    for outsider in ("other_doctor", "pharmacist", "ramesh", "patient", "front_desk"):
        refused = run(stack, tokens[outsider], "read_clinical_note", {"note_id": draft_note})
        assert refused["ok"] is False and refused["code"] == "not_found", outsider
        assert "soap" not in str(refused) or "cough" not in str(refused)
    assert run(stack, tokens["other_doctor"], "list_clinical_notes", {"patient_id": RAMESH}) == {
        "ok": True,
        "rows": [],
    }
    outsider_draft = run(
        stack, tokens["other_doctor"], "draft_soap_note", {"patient_id": RAMESH, "plan": "x"}
    )
    assert outsider_draft["ok"] is False and outsider_draft["code"] == "not_found"


# Refusals are outcomes the model can explain -----------------------------------------------


def test_api_refusals_are_compact_outcomes(stack: Settings, tokens: dict[str, str]) -> None:
    too_long = run(
        stack,
        tokens["front_desk"],
        "find_slots",
        {
            "from_time": "2040-01-01T00:00:00Z",
            "to_time": "2040-03-01T00:00:00Z",
            "doctor_id": SANDHU,
        },
    )
    assert too_long == {
        "ok": False,
        "code": "invalid_value",
        "message": "find_slots searches at most 31 days at a time",
        "hint": "narrow from_time .. to_time",
    }
    missing = run(
        stack,
        tokens["front_desk"],
        "reschedule_appointment",
        {"appointment_id": str(uuid.uuid4()), "starts_at": "2040-01-01T10:00:00+05:30"},
    )
    assert missing["ok"] is False and missing["code"] == "not_found"
    assert missing["message"] == "appointment not found"
    not_prescriber = run(
        stack,
        tokens["other_doctor"],
        "issue_prescription",
        {
            "patient_id": RAMESH,
            "medications": [
                {
                    "medicine": "Paracetamol",
                    "dosage": "1 tablet",
                    "frequency": "twice",
                    "quantity": 4,
                }
            ],
        },
    )
    assert not_prescriber["ok"] is False and not_prescriber["code"] == "forbidden"
    expired = run(stack, "not-a-jwt", "list_doctors", {})
    assert expired["ok"] is False and expired["code"] == "invalid_token"


# Prescriptions: issued by the doctor, moved by the pharmacy, picked up by the patient -------


@pytest.fixture
def prescription_for_ramesh(stack: Settings, tokens: dict[str, str]) -> Iterator[dict[str, Any]]:
    outcome = run(
        stack,
        tokens["doctor"],
        "issue_prescription",
        {
            "patient_id": RAMESH,
            "medications": [
                {
                    "medicine": "Azithromycin",
                    "strength": "500 mg",
                    "dosage": "1 tablet",
                    "frequency": "once a day",
                    "duration": "5 days",
                    "quantity": 5,
                }
            ],
        },
    )
    assert outcome["ok"], outcome
    yield outcome["result"]
    made = uuid.UUID(outcome["result"]["id"])
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        conn.execute("delete from private.outbox where subject_id = %s", (made,))
        conn.execute("delete from public.status_history where subject_id = %s", (made,))
        conn.execute("delete from public.prescription_items where prescription_id = %s", (made,))
        conn.execute("delete from public.prescriptions where id = %s", (made,))


def test_a_prescription_goes_from_doctor_to_pharmacy_to_patient_through_the_tools(
    stack: Settings, tokens: dict[str, str], prescription_for_ramesh: dict[str, Any]
) -> None:
    prescription = prescription_for_ramesh["id"]
    assert prescription_for_ramesh["status"] == "pending"
    assert prescription_for_ramesh["medicines"] == ["Azithromycin"]
    waiting = run(stack, tokens["pharmacist"], "list_prescriptions", {"status": "pending"})
    assert prescription in ids(waiting)
    [read] = run(
        stack, tokens["pharmacist"], "read_prescriptions", {"prescription_ids": [prescription]}
    )["rows"]
    assert read["medications"][0]["medicine"] == "Azithromycin"
    # Neither another patient nor a doctor who did not issue it sees it.
    for outsider in ("patient", "other_doctor"):
        assert run(stack, tokens[outsider], "list_prescriptions", {}) == {"ok": True, "rows": []}
        assert run(
            stack, tokens[outsider], "read_prescriptions", {"prescription_ids": [prescription]}
        ) == {"ok": True, "rows": []}
    early = run(
        stack, tokens["ramesh"], "mark_prescription_picked_up", {"prescription_id": prescription}
    )
    assert early["ok"] is False, early
    not_theirs = run(
        stack,
        tokens["patient"],
        "mark_prescription_picked_up",
        {"prescription_id": prescription},
    )
    assert not_theirs == {
        "ok": False,
        "code": "not_found",
        "message": "no such prescription, or you may not change it",
    }
    for status in ("approved", "ready_for_pickup"):
        moved = run(
            stack,
            tokens["pharmacist"],
            "update_prescription_status",
            {"prescription_id": prescription, "status": status},
        )
        assert moved["ok"] and moved["result"]["status"] == status, moved
    picked = run(
        stack, tokens["ramesh"], "mark_prescription_picked_up", {"prescription_id": prescription}
    )
    assert picked["ok"] and picked["result"]["status"] == "completed", picked
