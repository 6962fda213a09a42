"""The planner sees each caller's reach (issue 12): on the `demo` data set, a role-scoped list is
estimated at about the rows the caller may see, not at the rows of the whole table, so it is
answered from the index for that role. Before the access helpers were inlined, every caller's
estimate was the same (most of the table) and a patient's 8 appointments came from a scan of all.
Plans, not timings: the figures at scale are in bench/REPORT.md."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest

from devstack.config import Settings
from seed import load
from seed.sizes import SIZES
from seed.world import World
from tests.conftest import copy_of


@pytest.fixture(scope="module")
def demo(stack: Settings, migrated_template: str) -> Iterator[psycopg.Connection]:
    with copy_of(stack, migrated_template) as scratch:
        dsn = scratch.dsn()
        load.generate(dsn, World(1, SIZES["demo"], date(2026, 12, 3)))
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("analyze")
            yield conn


def as_user(conn: psycopg.Connection, user_id: str, query: str) -> tuple[dict, int]:
    """(the plan, the rows returned) of a query run as this user."""
    with conn.transaction(force_rollback=True):
        conn.execute("set local role authenticated")
        claims = {"sub": user_id, "role": "authenticated", "aal": "aal2"}
        conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
        (plan,) = conn.execute(f"explain (format json) {query}").fetchone()
        (rows,) = conn.execute(f"select count(*) from ({query}) as q").fetchone()  # noqa: S608
    return plan[0]["Plan"], rows


def user_of(conn: psycopg.Connection, query: str) -> str:
    (user_id,) = conn.execute(query).fetchone()
    return str(user_id)


CALLERS = {
    "patient": (
        "select p.user_id from public.patients as p where p.user_id is not null"
        " and exists (select from public.prescriptions as x where x.patient_id = p.id)"
        " order by p.id limit 1"
    ),
    "doctor": "select user_id from public.doctors order by id limit 1",
    "pharmacist": "select user_id from public.pharmacists order by id limit 1",
    "front desk": (
        "select user_id from public.staff_memberships where role = 'front_desk' order by id limit 1"
    ),
}


@pytest.mark.parametrize(
    ("caller", "query"),
    [
        ("patient", "select * from public.appointments order by starts_at desc limit 50"),
        ("doctor", "select * from public.appointments"),
        ("patient", "select * from public.prescriptions"),
        ("pharmacist", "select * from public.prescriptions"),
        ("front desk", "select * from public.appointments"),
    ],
)
def test_a_role_scoped_list_is_estimated_at_the_callers_rows(
    demo: psycopg.Connection, caller: str, query: str
) -> None:
    plan, rows = as_user(demo, user_of(demo, CALLERS[caller]), query)
    estimate = plan["Plan Rows"]
    assert rows > 0, f"the {caller} has rows to list"
    # The planner's statistics, not the table's size: never more than 4 times the rows (an
    # overestimate is what turned an index lookup into a scan), and not far below them either
    # (a condition of a helper's result is estimated at a third, as any function's).
    assert rows / 8 <= estimate <= max(rows * 4, 10), (caller, estimate, rows)


def test_a_front_desk_scan_of_patients_checks_registrations_once_not_per_patient(
    demo: psycopg.Connection,
) -> None:
    # A name search (ilike may not run before the policy) reads every patient: each is checked
    # against one hashed set of the hospital's registrations, not by running the registrations'
    # own policies (their care-team branch) once per patient, as before.
    query = "select id from public.patients where full_name ilike '%a%'"
    plan, rows = as_user(demo, user_of(demo, CALLERS["front desk"]), query)
    text = json.dumps(plan)
    assert rows > 0
    assert "hashed SubPlan" in text, text
    assert "on_care_team" not in text, text


def test_a_page_of_registrations_checks_each_embedded_patient_by_index(
    demo: psycopg.Connection,
) -> None:
    # For a page of 50 the same check is an index probe per patient (no set of the hospital's
    # registrations is built for 50 rows).
    query = (
        "select r.mrn, (select p.full_name from public.patients as p where p.id = r.patient_id)"
        " from public.patient_registrations as r order by r.registered_at desc limit 50"
    )
    plan, rows = as_user(demo, user_of(demo, CALLERS["front desk"]), query)
    text = json.dumps(plan)
    assert rows == 50
    assert "hashed SubPlan" not in text, text
