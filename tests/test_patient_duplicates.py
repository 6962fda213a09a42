"""Possible duplicates (issue 16, item 3), as a front desk meets them over HTTP: a walk-in
registered a second time with the name misspelled lands in the hospital's review queue with
the score's parts, shows on the patient's screen, and once decided "not a duplicate" is no
longer proposed. Reach, families sharing a phone and re-registration are proved in
supabase/tests/patient_duplicates.test.sql."""

from __future__ import annotations

import random
from datetime import date, timedelta

import httpx
import psycopg

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession

# A generated hospital's front desk: the demo hospital's patients stay as the demo tests know them.
FRONT_DESK = "front-desk2@pta.carebase.test"


def front_desk(stack: Settings) -> tuple[dict[str, str], str]:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(FRONT_DESK)
    token = issue(claims, stack.jwt_secret)
    return {"apikey": stack.anon_key, "Authorization": f"Bearer {token}"}, claims["hospital_id"]


def test_a_second_registration_of_one_person_is_queued_explained_and_can_be_dismissed(
    stack: Settings, gateway: str
) -> None:
    headers, hospital = front_desk(stack)
    rng = random.Random()  # noqa: S311 - a fresh person each run, nothing secret
    phone = f"+9198{rng.randrange(10**8):08d}"
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(18_000))
    surname = rng.choice(["Grewal", "Sidhu", "Brar", "Dhillon", "Gill", "Sandhu"])

    def register(full_name: str) -> str:
        response = httpx.post(
            f"{gateway}/rest/v1/rpc/register_patient",
            headers=headers,
            json={
                "hospital_id": hospital,
                "full_name": full_name,
                "phone": phone,
                "date_of_birth": born.isoformat(),
                "sex": "female",
            },
        )
        assert response.status_code == 200, response.text
        return response.json()["patient_id"]

    first = register(f"Jaspreet {surname}")
    second = register(f"Jasprit {surname}")  # the same woman, the name typed differently
    low, high = sorted([first, second])

    queued = httpx.get(
        f"{gateway}/rest/v1/patient_duplicate_pairs",
        headers=headers,
        params={"patient_id": f"eq.{low}", "other_patient_id": f"eq.{high}"},
    )
    assert queued.status_code == 200, queued.text
    [pair] = queued.json()
    assert pair["hospital_id"] == hospital
    assert pair["status"] == "open"
    parts = {part["part"]: part for part in pair["parts"]}
    assert parts["date_of_birth"]["detail"] == "the same date"
    assert {"name", "phone", "sex"} <= parts.keys()
    assert pair["score"] >= 0.55

    def proposed() -> set[str]:
        response = httpx.post(
            f"{gateway}/rest/v1/rpc/patient_duplicates", headers=headers, json={"patient_id": first}
        )
        assert response.status_code == 200, response.text
        return {row["id"] for row in response.json()}

    assert second in proposed()

    refused = httpx.post(
        f"{gateway}/rest/v1/rpc/review_duplicate",
        headers=headers,
        json={"patient_id": first, "other_patient_id": second, "decision": "maybe"},
    )
    assert refused.status_code == 400
    assert (refused.json()["code"], refused.json()["details"]) == ("22023", "unknown_decision")

    decided = httpx.post(
        f"{gateway}/rest/v1/rpc/review_duplicate",
        headers=headers,
        json={
            "patient_id": first,
            "other_patient_id": second,
            "decision": "not_duplicate",
            "note": "sisters-in-law, both seen",
        },
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "not_duplicate"
    assert second not in proposed()
