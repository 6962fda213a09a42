"""Adversarial: a hospital admin making other people's logins their staff (issue 10, finding
11), over HTTP as the attacker would; and the former staff member whom any old membership used
to shut out of the patient phone login.

Before: `POST /rest/v1/staff_memberships` with a patient's user id (or another hospital's
staff member's) was answered 201, and the admin then read that person's email in `profiles`.
Now staff join only through provisioning or an invitation the person accepts.

Logins the tests create are deleted at the end (the `auth` fixture); so are the rows they add.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.auth_target import (
    DEMO_ADMIN,
    DEMO_PASSWORD,
    NABHA_HOSPITAL,
    TEST_PASSWORD,
    AuthTarget,
    claims,
    refresh,
    sign_in,
)
from tests.test_patient_phone_login import (  # noqa: F401 (fixtures)
    PATIENT,
    code_for,
    firebase,
    new_phone,
    send_code,
)

pytest_plugins = ["tests.auth_target"]

NABHA_PHARMACY = "40000000-0000-4000-8000-000000000001"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rest(auth: AuthTarget, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"apikey": auth.settings.anon_key, **bearer(token), **kwargs.pop("headers", {})}
    return httpx.request(
        method, f"{auth.url}/rest/v1/{path}", headers=headers, timeout=30, **kwargs
    )


def rpc(auth: AuthTarget, token: str, function: str, body: dict[str, Any]) -> httpx.Response:
    return rest(auth, token, "POST", f"rpc/{function}", json=body)


@pytest.fixture
def api(sidecar: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sidecar}/api/v1", timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def admin_token(auth: AuthTarget) -> str:
    return sign_in(auth, DEMO_ADMIN, DEMO_PASSWORD)["access_token"]


@pytest.fixture
def patient_login(auth: AuthTarget) -> Iterator[dict[str, Any]]:
    """A patient's login with an email, registered at no hospital of the admin's."""
    user = auth.new_user()
    with auth.db() as conn:
        patient = conn.execute(
            "insert into public.patients (full_name, user_id) values ('Adversary Target', %s) "
            "returning id",
            (user["id"],),
        ).fetchone()[0]
    yield user
    with auth.db() as conn:
        conn.execute("delete from public.staff_invitations where email = %s", (user["email"],))
        conn.execute("delete from public.staff_memberships where user_id = %s", (user["id"],))
        conn.execute("delete from public.patients where id = %s", (patient,))


@pytest.fixture
def other_hospital_nurse(auth: AuthTarget) -> Iterator[dict[str, Any]]:
    """A nurse of another hospital."""
    user = auth.new_user()
    with auth.db() as conn:
        hospital = conn.execute(
            "insert into public.hospitals (code, name, city, state) "
            "values (%s, 'Elsewhere Hospital', 'Patiala', 'Punjab') returning id",
            (f"T{uuid.uuid4().hex[:6].upper()}",),
        ).fetchone()[0]
        conn.execute(
            "insert into public.staff_memberships (user_id, hospital_id, role) "
            "values (%s, %s, 'nurse')",
            (user["id"], hospital),
        )
    yield user
    with auth.db() as conn:
        conn.execute("delete from public.staff_memberships where user_id = %s", (user["id"],))
        conn.execute("delete from public.hospitals where id = %s", (hospital,))


def staff_rows_of(auth: AuthTarget, user_id: str) -> tuple[int, int, int]:
    """(memberships at the admin's hospital, doctor rows, pharmacist rows) of a login."""
    with auth.db() as conn:
        row = conn.execute(
            "select (select count(*) from public.staff_memberships "
            "where user_id = %(u)s and hospital_id = %(h)s), "
            "(select count(*) from public.doctors where user_id = %(u)s), "
            "(select count(*) from public.pharmacists where user_id = %(u)s)",
            {"u": user_id, "h": NABHA_HOSPITAL},
        ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def attach(auth: AuthTarget, token: str, user_id: str) -> list[httpx.Response]:
    """Every direct way of making a login staff of the admin's hospital."""
    tag = uuid.uuid4().hex[:8]
    writes = [
        ("staff_memberships", {"user_id": user_id, "hospital_id": NABHA_HOSPITAL, "role": "nurse"}),
        (
            "doctors",
            {
                "user_id": user_id,
                "hospital_id": NABHA_HOSPITAL,
                "specialty": "Surgery",
                "licence_number": f"PMC-ADV-{tag}",
            },
        ),
        (
            "pharmacists",
            {
                "user_id": user_id,
                "hospital_id": NABHA_HOSPITAL,
                "pharmacy_id": NABHA_PHARMACY,
                "licence_number": f"PSPC-ADV-{tag}",
            },
        ),
    ]
    return [rest(auth, token, "POST", table, json=body) for table, body in writes]


def email_reads(auth: AuthTarget, token: str, user_id: str) -> list[Any]:
    """What the admin gets back when looking for the login's email."""
    return [
        rest(auth, token, "GET", f"profiles?id=eq.{user_id}&select=email").json(),
        rest(auth, token, "GET", f"staff_memberships?user_id=eq.{user_id}&select=id").json(),
        rest(auth, token, "GET", f"patients?user_id=eq.{user_id}&select=email").json(),
        rest(auth, token, "GET", f"audit_trail?row_id=eq.{user_id}&select=seq").json(),
    ]


def test_an_admin_cannot_make_a_patients_login_their_staff_nor_read_its_email(
    auth: AuthTarget, admin_token: str, patient_login: dict[str, Any]
) -> None:
    for response in attach(auth, admin_token, patient_login["id"]):
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "42501"
    assert staff_rows_of(auth, patient_login["id"]) == (0, 0, 0)
    assert email_reads(auth, admin_token, patient_login["id"]) == [[], [], [], []]


def test_an_admin_cannot_take_another_hospitals_staff_member(
    auth: AuthTarget, admin_token: str, other_hospital_nurse: dict[str, Any]
) -> None:
    for response in attach(auth, admin_token, other_hospital_nurse["id"]):
        assert response.status_code == 403, response.text
    assert staff_rows_of(auth, other_hospital_nurse["id"]) == (0, 0, 0)
    assert email_reads(auth, admin_token, other_hospital_nurse["id"]) == [[], [], [], []]
    # Nor hand one of the hospital's own memberships over to that login.
    own = rest(auth, admin_token, "GET", "staff_memberships?select=id&limit=1").json()[0]["id"]
    handed = rest(
        auth,
        admin_token,
        "PATCH",
        f"staff_memberships?id=eq.{own}",
        json={"user_id": other_hospital_nurse["id"]},
    )
    assert handed.status_code == 403, handed.text
    assert staff_rows_of(auth, other_hospital_nurse["id"]) == (0, 0, 0)


def test_an_invitation_reveals_nothing_until_the_person_accepts(
    auth: AuthTarget, admin_token: str, patient_login: dict[str, Any]
) -> None:
    invite = {"hospital_id": NABHA_HOSPITAL, "role": "cro"}
    invited = rpc(auth, admin_token, "invite_staff", {**invite, "email": patient_login["email"]})
    assert invited.status_code == 200, invited.text
    unknown_email = f"nobody-{uuid.uuid4().hex[:8]}@example.test"
    unknown = rpc(auth, admin_token, "invite_staff", {**invite, "email": unknown_email})
    assert unknown.status_code == 200, unknown.text
    differs = {"id", "email", "created_at", "updated_at", "expires_at"}

    def shape(body: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in body.items() if key not in differs}

    assert shape(invited.json()) == shape(unknown.json())
    assert email_reads(auth, admin_token, patient_login["id"]) == [[], [], [], []]

    bystander = auth.new_user()
    stranger = sign_in(auth, bystander["email"], TEST_PASSWORD)["access_token"]
    assert rest(auth, stranger, "GET", "staff_invitations?select=id").json() == []
    invitation = {"invitation_id": invited.json()["id"]}
    stolen = rpc(auth, stranger, "accept_staff_invitation", invitation)
    assert stolen.status_code == 404, stolen.text

    session = sign_in(auth, patient_login["email"], TEST_PASSWORD)
    listed = rest(auth, session["access_token"], "GET", "staff_invitations?select=id,hospital_name")
    assert listed.json() == [
        {"id": invited.json()["id"], "hospital_name": invited.json()["hospital_name"]}
    ]
    accepted = rpc(auth, session["access_token"], "accept_staff_invitation", invitation)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["role"] == "cro"

    profiles = rest(auth, admin_token, "GET", f"profiles?id=eq.{patient_login['id']}&select=email")
    assert profiles.json() == [{"email": patient_login["email"]}]
    # The session the person had was not a staff member's: it ended; they sign in again.
    assert refresh(auth, session["refresh_token"]).status_code == 400
    again = sign_in(auth, patient_login["email"], TEST_PASSWORD)
    assert claims(again["access_token"])["user_role"] == "cro"
    with auth.db() as conn:
        conn.execute("delete from public.staff_invitations where email = %s", (unknown_email,))


def test_a_former_staff_member_gets_a_patient_session_by_phone(
    api: httpx.Client,
    auth: AuthTarget,
    admin_token: str,
    firebase: str,  # noqa: F811
    new_phone: Callable[[], str],  # noqa: F811
    sidecar: str,
) -> None:
    tag = uuid.uuid4().hex[:10]
    password = "Strong#Pass1"
    email = f"dr.{tag}@nabha.carebase.test"
    created = api.post(
        "/doctors",
        json={
            "email": email,
            "password": password,
            "full_name": f"Dr. Leaving {tag}",
            "specialty": "Dermatology",
            "hospital_id": NABHA_HOSPITAL,
            "licence_number": f"PMC-{tag}",
        },
        headers=bearer(admin_token),
    )
    assert created.status_code == 201, created.text
    doctor = created.json()
    auth.forget(doctor["user_id"])
    phone = new_phone()
    with auth.service_http() as http:
        given = http.put(
            f"/admin/users/{doctor['user_id']}", json={"phone": phone, "phone_confirm": True}
        )
    assert given.status_code == 200, given.text

    def phone_login() -> httpx.Response:
        with httpx.Client(base_url=sidecar, timeout=30) as root:
            session_info = send_code(root, phone)
            return root.post(
                f"{PATIENT}/verify",
                json={"session_info": session_info, "code": code_for(firebase, session_info)},
            )

    refused = phone_login()
    assert refused.status_code == 409
    assert refused.json()["code"] == "phone_belongs_to_staff"

    gone = api.post(f"/doctors/{doctor['id']}/deactivate", headers=bearer(admin_token))
    assert gone.status_code == 200, gone.text

    signed_in = phone_login()
    assert signed_in.status_code == 200, signed_in.text
    session = signed_in.json()
    assert session["user"]["id"] == doctor["user_id"]
    assert session["user"]["role"] == "patient"
    assert session["user"]["patient_id"]
    # A patient now: nothing of the hospital, and the old staff password opens nothing.
    assert rest(auth, session["access_token"], "GET", "doctors?select=id").json() == []
    staff = api.post("/auth/staff/login", json={"email": email, "password": password})
    assert staff.status_code != 200

    # Reinstated, the login is staff again: the OTP-made session ends, the phone is refused.
    back = api.post(f"/doctors/{doctor['id']}/reactivate", headers=bearer(admin_token))
    assert back.status_code == 200, back.text
    assert refresh(auth, session["refresh_token"]).status_code == 400
    assert phone_login().status_code == 409
