"""Patient merge over HTTP (issue 16, items 4 and 5; seed 001 POST /patients/merge): what a
client of /rest/v1 sees. The admin previews, merges and unmerges; each refusal is the HTTP
status and stable code the README lists.

What moves, the guards, conflicts and the exact restore are proved in
supabase/tests/patient_merge.test.sql."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession

NABHA = "10000000-0000-4000-8000-000000000001"
ADMIN = "admin@nabha.carebase.test"
FRONT_DESK = "frontdesk@nabha.carebase.test"


def headers(stack: Settings, email: str, aal: str | None = None) -> dict[str, str]:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(email, aal)
    return {"apikey": stack.anon_key, "Authorization": f"Bearer {issue(claims, stack.jwt_secret)}"}


@pytest.fixture
def pair(stack: Settings) -> Iterator[tuple[str, str]]:
    """Two records of one walk-in at Nabha, the first with a visit; removed afterwards."""
    source, target = str(uuid.uuid4()), str(uuid.uuid4())
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        for patient in (source, target):
            conn.execute(
                "insert into public.patients (id, full_name, sex)"
                " values (%s, 'Merge Walkin', 'male')",
                (patient,),
            )
            conn.execute(
                "insert into public.patient_registrations (patient_id, hospital_id)"
                " values (%s, %s)",
                (patient, NABHA),
            )
        conn.execute(
            "insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)"
            " select %s, %s, m.user_id, 'nurse' from public.staff_memberships as m"
            " where m.hospital_id = %s and m.role = 'nurse' limit 1",
            (source, NABHA, NABHA),
        )
    yield source, target
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        ids = [source, target]
        for cleanup in [
            "delete from public.patient_merges where source_id = any(%s::uuid[])",
            "delete from public.care_team_members where patient_id = any(%s::uuid[])",
            "delete from public.patient_registrations where patient_id = any(%s::uuid[])",
            "delete from public.patients where id = any(%s::uuid[])",
        ]:
            conn.execute(cleanup, (ids,))


def rpc(gateway: str, name: str, body: dict, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{gateway}/rest/v1/rpc/{name}", json=body, headers=headers)


def test_the_admin_previews_merges_and_unmerges(
    stack: Settings, gateway: str, pair: tuple[str, str]
) -> None:
    source, target = pair
    admin = headers(stack, ADMIN, "aal2")
    ids = {"source_id": source, "target_id": target}

    preview = rpc(gateway, "merge_preview", ids, admin)
    assert preview.status_code == 200, preview.text
    assert preview.json()["can_merge"] is True
    moved = {m["table"]: m["count"] for m in preview.json()["moves"]}
    assert moved == {"public.care_team_members": 1}

    merged = rpc(gateway, "merge_patients", {**ids, "reason": "registered twice"}, admin)
    assert merged.status_code == 200, merged.text
    merge = merged.json()
    assert (merge["source_id"], merge["target_id"]) == (source, target)
    assert merge["moved_rows"][0]["table"] == "public.care_team_members"

    again = rpc(gateway, "merge_patients", {**ids, "reason": "again"}, admin)
    assert again.status_code == 409, again.text
    assert again.json()["details"] == "already_merged"

    seen = httpx.get(f"{gateway}/rest/v1/patients?id=eq.{source}&select=merged_into", headers=admin)
    assert seen.json() == [{"merged_into": target}]

    undone = rpc(
        gateway, "unmerge_patients", {"merge_id": merge["id"], "reason": "two people"}, admin
    )
    assert undone.status_code == 200, undone.text
    assert undone.json()["unmerged_at"] is not None
    twice = rpc(gateway, "unmerge_patients", {"merge_id": merge["id"], "reason": "again"}, admin)
    assert twice.status_code == 409, twice.text
    assert twice.json()["details"] == "already_unmerged"


@pytest.mark.parametrize(
    ("who", "aal", "status", "code", "details"),
    [
        (FRONT_DESK, "aal2", 403, "42501", "merge_not_allowed"),
        (ADMIN, "aal1", 403, "PT403", "insufficient_aal"),
    ],
)
def test_refusals_carry_their_status_and_code(
    stack: Settings,
    gateway: str,
    pair: tuple[str, str],
    who: str,
    aal: str,
    status: int,
    code: str,
    details: str,
) -> None:
    source, target = pair
    response = rpc(
        gateway,
        "merge_patients",
        {"source_id": source, "target_id": target, "reason": "try"},
        headers(stack, who, aal),
    )
    assert response.status_code == status, response.text
    assert (response.json()["code"], response.json()["details"]) == (code, details)


def test_an_unknown_record_is_not_found(
    stack: Settings, gateway: str, pair: tuple[str, str]
) -> None:
    source, _ = pair
    response = rpc(
        gateway,
        "merge_preview",
        {"source_id": source, "target_id": str(uuid.uuid4())},
        headers(stack, ADMIN, "aal2"),
    )
    assert response.status_code == 404, response.text
    assert response.json()["message"] == "patient not found"
