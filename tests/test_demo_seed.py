"""The demo data the README promises: its logins, their roles and what each one sees."""

from __future__ import annotations

import datetime
import pathlib

import psycopg
import pytest

from devstack.postgrest_session import PostgrestSession
from tests.auth_target import DEMO_TOTP_SECRET, AuthTarget, claims, sign_in_at_aal2

pytest_plugins = ["tests.auth_target"]

NABHA = "10000000-0000-4000-8000-000000000001"
PASSWORD = "Carebase#2026"
STAFF = {
    "admin@nabha.carebase.test": "hospital_admin",
    "dr.sandhu@nabha.carebase.test": "doctor",
    "dr.mehta@nabha.carebase.test": "doctor",
    "dr.bhatia@nabha.carebase.test": "doctor",
    "pharmacist@nabha.carebase.test": "pharmacist",
    "frontdesk@nabha.carebase.test": "front_desk",
    "cro@nabha.carebase.test": "cro",
    "nurse@nabha.carebase.test": "nurse",
}
PATIENT_PHONES = [f"+91987650000{n}" for n in range(1, 6)]


@pytest.mark.parametrize(("email", "role"), STAFF.items())
def test_each_staff_login_signs_in_with_the_documented_password(
    db: psycopg.Connection, as_user: PostgrestSession, email: str, role: str
) -> None:
    (matches,) = db.execute(
        "select encrypted_password = extensions.crypt(%s, encrypted_password)"
        " from auth.users where email = %s",
        (PASSWORD, email),
    ).fetchone()
    assert matches
    claims = as_user.claims_for(email)
    assert claims["user_role"] == role
    assert claims["hospital_id"] == NABHA
    assert claims["role"] == "authenticated", "the Postgres role claim is never replaced"


def test_each_staff_login_has_a_verified_totp_factor_with_the_documented_secret(
    db: psycopg.Connection,
) -> None:
    factors = dict(
        db.execute(
            "select u.email, f.secret from auth.mfa_factors as f join auth.users as u"
            " on u.id = f.user_id where f.factor_type = 'totp' and f.status = 'verified'"
            " and u.email like '%%@nabha.carebase.test'"
        ).fetchall()
    )
    assert factors == dict.fromkeys(STAFF, DEMO_TOTP_SECRET)
    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    assert DEMO_TOTP_SECRET in readme


@pytest.mark.parametrize("email", STAFF)
def test_each_staff_login_reaches_aal2_with_its_password_and_a_totp_code(
    auth: AuthTarget, email: str
) -> None:
    token = claims(sign_in_at_aal2(auth, email, PASSWORD, DEMO_TOTP_SECRET)["access_token"])
    assert token["aal"] == "aal2"
    assert {entry["method"] for entry in token["amr"]} == {"password", "totp"}
    assert token["user_role"] == STAFF[email]


@pytest.mark.parametrize("phone", PATIENT_PHONES)
def test_each_patient_sees_only_their_own_record(
    db: psycopg.Connection, as_user: PostgrestSession, phone: str
) -> None:
    (user_id,) = db.execute(
        "select id::text from auth.users where phone = %s", (phone.lstrip("+"),)
    ).fetchone()
    claims = as_user.claims_for(user_id)
    assert claims["user_role"] == "patient"
    as_user.become(claims)
    assert as_user.rows("select phone from patients") == [(phone,)]


def test_registrations_carry_sequential_mrns_of_the_hospital(db: psycopg.Connection) -> None:
    year = datetime.datetime.now(datetime.UTC).year
    mrns = [
        row[0]
        for row in db.execute(
            "select mrn from patient_registrations where hospital_id = %s order by mrn", (NABHA,)
        )
    ]
    assert mrns == [f"NAB-{year}-{n:06d}" for n in range(1, 6)]


def test_doctors_see_their_care_team_and_front_desk_sees_the_hospital(
    as_user: PostgrestSession,
) -> None:
    as_user.user("dr.sandhu@nabha.carebase.test")
    sandhu = {row[0] for row in as_user.rows("select full_name from patients")}
    assert sandhu == {"Balwinder Singh", "Paramjit Kaur", "Ramesh Kumar"}

    as_user.user("dr.mehta@nabha.carebase.test")
    assert as_user.rows("select full_name from patients") == [("Navneet Kaur",)]

    as_user.user("pharmacist@nabha.carebase.test")
    assert as_user.rows("select full_name from patients") == []

    as_user.user("frontdesk@nabha.carebase.test")
    assert len(as_user.rows("select id from patients")) == 5


def test_a_deactivated_doctor_loses_access_on_the_next_query(as_user: PostgrestSession) -> None:
    token = as_user.claims_for("dr.sandhu@nabha.carebase.test")
    as_user.become(token)
    assert len(as_user.rows("select id from patients")) == 3

    as_user.user("admin@nabha.carebase.test", method="PATCH")
    updated = as_user.rows(
        "update staff_memberships set is_active = false"
        " where user_id = '20000000-0000-4000-8000-000000000002' returning deactivated_at"
    )
    assert len(updated) == 1
    assert updated[0][0] is not None, "the deactivation time is recorded"

    # The same, still valid access token: its claims say doctor, the membership table no more.
    as_user.become(token)
    assert as_user.rows("select id from patients") == []


def test_anonymous_requests_see_nothing(as_user: PostgrestSession) -> None:
    as_user.anon()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_user.rows("select * from patients")
