"""rpc/search_patients (issue 16, item 1): a front desk finds a patient however the name was
written, over HTTP with the official client's RPC call, and bad input gets a stable code.

The reach of every caller and the other ways in (phone, MRN, email) are proved in
supabase/tests/patient_search.test.sql; the cost at 100,000 patients is in bench/REPORT.md."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession
from seed import people
from tests.conftest import ScratchDatabase

FRONT_DESK = "frontdesk@nabha.carebase.test"
BALWINDER = "60000000-0000-4000-8000-000000000001"  # Balwinder Singh, +919876500001, Nabha


@pytest.fixture(scope="module")
def catalog(migrated_db: ScratchDatabase) -> Iterator[psycopg.Connection]:
    with psycopg.connect(migrated_db.dsn()) as conn:
        yield conn


def test_names_written_in_gurmukhi_or_devanagari_find_their_latin_spelling(
    catalog: psycopg.Connection,
) -> None:
    # The generator's names, each in three scripts as the people of Punjab write them.
    names = [
        *people.MALE_NAMES,
        *people.FEMALE_NAMES,
        *people.SURNAMES,
        people.SINGH,
        people.KAUR,
        people.DEVI,
    ]
    missed = []
    for latin, *scripts in names:
        for written in scripts:
            (found,) = catalog.execute(
                "select private.name_key(%s) operator(extensions.<%%) private.name_key(%s)",
                (latin, written),
            ).fetchone()
            if not found:
                missed.append(f"{written} -> {latin}")
    # A few spellings drift from the letters (ਮਹਿਤਾ is said "Mehta"); they are listed, and
    # the share is what a front desk would notice.
    assert len(missed) <= len(names) * 2 // 20, missed


def headers(stack: Settings) -> dict[str, str]:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(FRONT_DESK)
    return {"apikey": stack.anon_key, "Authorization": f"Bearer {issue(claims, stack.jwt_secret)}"}


@pytest.mark.parametrize(
    "query",
    ["ਬਲਵਿੰਦਰ ਸਿੰਘ", "बलविंदर सिंह", "balvinder sing", "500001", "+91 98765 00001"],
)
def test_the_front_desk_finds_a_patient_by_any_spelling_or_the_last_digits(
    stack: Settings, gateway: str, query: str
) -> None:
    response = httpx.post(
        f"{gateway}/rest/v1/rpc/search_patients",
        json={"query": query, "max_results": 5},
        headers=headers(stack),
    )
    assert response.status_code == 200, response.text
    found = {row["id"]: row for row in response.json()}
    assert BALWINDER in found, response.json()
    assert found[BALWINDER]["phone_masked"] == "+91******0001"
    assert found[BALWINDER]["full_name"] == "Balwinder Singh"


def test_a_one_letter_search_is_refused_with_a_stable_code(stack: Settings, gateway: str) -> None:
    response = httpx.post(
        f"{gateway}/rest/v1/rpc/search_patients", json={"query": "b"}, headers=headers(stack)
    )
    assert response.status_code == 400
    assert response.json()["code"] == "22023"
    assert response.json()["details"] == "query_too_short"
