"""The Supabase Auth hooks, called the way Supabase Auth calls them: logged in as
supabase_auth_admin, with Supabase's event contract."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from devstack.config import Settings

ADMIN_ID = "20000000-0000-4000-8000-000000000001"
PATIENT_ID = "50000000-0000-4000-8000-000000000001"


@pytest.fixture
def auth_admin(stack: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(stack.dsn("supabase_auth_admin")) as conn:
        yield conn
        conn.rollback()


def hook(conn: psycopg.Connection, name: str, event: dict) -> dict:
    query = sql.SQL("select private.{}(%s::jsonb)").format(sql.Identifier(name))
    return conn.execute(query, (json.dumps(event),)).fetchone()[0]


def test_the_access_token_hook_adds_role_and_hospital_and_keeps_every_claim(
    auth_admin: psycopg.Connection,
) -> None:
    claims = {"sub": ADMIN_ID, "role": "authenticated", "aal": "aal1", "session_id": "s1"}
    result = hook(
        auth_admin,
        "custom_access_token_hook",
        {"user_id": ADMIN_ID, "claims": claims, "authentication_method": "password"},
    )["claims"]
    assert {k: result[k] for k in claims} == claims
    assert result["user_role"] == "hospital_admin"
    assert result["hospital_id"] == "10000000-0000-4000-8000-000000000001"
    assert result["memberships"] == [
        {"hospital_id": "10000000-0000-4000-8000-000000000001", "role": "hospital_admin"}
    ]


def test_the_access_token_hook_names_the_patient(auth_admin: psycopg.Connection) -> None:
    result = hook(
        auth_admin,
        "custom_access_token_hook",
        {"user_id": PATIENT_ID, "claims": {"sub": PATIENT_ID}, "authentication_method": "otp"},
    )["claims"]
    assert result["user_role"] == "patient"
    assert result["patient_id"] == "60000000-0000-4000-8000-000000000001"
    assert result["memberships"] == []


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(
    auth_admin: psycopg.Connection,
) -> None:
    wrong = {"user_id": ADMIN_ID, "valid": False}
    decisions = [hook(auth_admin, "password_verification_hook", wrong) for _ in range(5)]
    assert [d["decision"] for d in decisions] == ["continue"] * 4 + ["reject"]
    # Supabase Auth's answer to a wrong password, and the sessions stay (issue 10, finding 9).
    assert decisions[-1]["message"] == "Invalid login credentials"
    assert decisions[-1]["should_logout_user"] is False

    right = hook(auth_admin, "password_verification_hook", {"user_id": ADMIN_ID, "valid": True})
    assert right == {
        "decision": "reject",
        "message": "Invalid login credentials",
        "should_logout_user": False,
    }


def test_a_right_password_resets_the_failure_count(auth_admin: psycopg.Connection) -> None:
    wrong = {"user_id": ADMIN_ID, "valid": False}
    for _ in range(4):
        hook(auth_admin, "password_verification_hook", wrong)
    hook(auth_admin, "password_verification_hook", {"user_id": ADMIN_ID, "valid": True})
    after = [hook(auth_admin, "password_verification_hook", wrong) for _ in range(4)]
    assert [d["decision"] for d in after] == ["continue"] * 4
