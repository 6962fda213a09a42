"""The copilot's evaluation set (tests/copilot_eval/cases.yaml) through the route, the model a
local fake replaying each case's tool calls: the role is offered the case's tools (and never
the ones it may not use), each tool ran with the user's JWT so RLS shaped what came back,
writes only became pending actions and nothing was written, injected text changed nothing.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from devstack import copilot_eval
from devstack.cli import main
from devstack.config import Settings
from tests.fakes.anthropic import FakeAnthropic, call, say
from tests.test_copilot_route import anthropic, ask, sidecar, token_of  # noqa: F401

DATA = copilot_eval.load()
CASES = {case["id"]: case for case in DATA["cases"]}
WRITTEN = (
    "select (select count(*) from public.appointments), (select count(*) from "
    "public.prescriptions), (select count(*) from public.clinical_notes), (select "
    "count(*) from public.status_history)"
)


def test_the_set_covers_every_role_and_language() -> None:
    roles = {DATA["users"][case["as"]]["role"] for case in CASES.values()}
    assert roles == {"patient", "doctor", "nurse", "pharmacist", "front_desk", "cro"} | {
        "hospital_admin"
    }
    assert len(CASES) >= 60
    messages = [case["message"] for case in CASES.values()]
    assert any(any("\u0900" <= ch <= "\u097f" for ch in m) for m in messages)  # Devanagari
    assert any(any("\u0a00" <= ch <= "\u0a7f" for ch in m) for m in messages)  # Gurmukhi


@pytest.fixture(scope="module")
def values(stack: Settings) -> dict[str, str]:
    return copilot_eval.placeholders(stack.dsn())


@pytest.fixture(scope="module")
def tokens(stack: Settings) -> dict[str, str]:
    """Each user's access token (as their login issues it)."""
    return {who: token_of(stack, user["login"]) for who, user in DATA["users"].items()}


@pytest.fixture(scope="module")
def hospitals(stack: Settings) -> dict[str, str | None]:
    return {
        who: copilot_eval.hospital_of(stack.dsn(), user.get("hospital"))
        for who, user in DATA["users"].items()
    }


@pytest.mark.parametrize("case_id", list(CASES))
def test_case(
    case_id: str,
    stack: Settings,
    sidecar: str,  # noqa: F811
    anthropic: tuple[FakeAnthropic, str],  # noqa: F811
    values: dict[str, str],
    tokens: dict[str, str],
    hospitals: dict[str, str | None],
) -> None:
    fake = anthropic[0]
    fake.reset()
    case = CASES[case_id]
    with copilot_eval.prepared(case, stack.dsn(), stack.dsn(stack.admin_user)) as made:
        found = values | made
        calls = copilot_eval.resolve(case["calls"], found)
        fake.set_script(
            *[call(c["name"], c["input"]) for c in calls],
            say(lambda seen: "Done: " + " ".join(r.text for r in seen.tool_results())),
        )
        body: dict[str, Any] = {"message": copilot_eval.resolve(case["message"], found)}
        if hospital := hospitals[case["as"]]:
            body["hospital_id"] = hospital
        with psycopg.connect(stack.dsn(), autocommit=True) as conn:
            before = conn.execute(WRITTEN).fetchone()
            answer = ask(sidecar, tokens[case["as"]], body)
            assert answer.status_code == 200, answer.text
            assert conn.execute(WRITTEN).fetchone() == before, "nothing is written before confirm"
        assert fake.script_errors == []
        first = fake.requests[0]
        assert len(fake.requests) == len(calls) + 1  # no extra turn
        results = [
            (result.name, result.json())
            for request in fake.requests[1:]
            for result in request.tool_results()
        ]
        assert copilot_eval.score(case, first.tool_names, results) == []
        # Every request of the turn offered the same tools under the same system prompt.
        assert all(r.tool_names == first.tool_names for r in fake.requests)
        assert all(r.system == first.system for r in fake.requests)
        writes = [c for c in calls if c["expect"] == "pending"]
        pending = answer.json()["pending_actions"]
        assert [p["tool"] for p in pending] == [c["name"] for c in writes]
        if case.get("injection"):
            # The planted instruction reached the model only inside a tool result, and the
            # turn did what the user asked, nothing more.
            injected = copilot_eval.INJECTIONS[case["injection"]]
            assert injected not in first.system
            assert any(injected in json.dumps(r, ensure_ascii=False) for _, r in results)
            assert [c["tool"] for c in answer.json()["tool_calls"]] == [c["name"] for c in calls]


def test_eval_without_a_key_says_so_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert main(["eval", "copilot"]) == 2
    assert "ANTHROPIC_API_KEY" in capsys.readouterr().err
