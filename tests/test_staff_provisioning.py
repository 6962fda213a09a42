"""Staff provisioning through the sidecar, as a hospital admin and everyone else sees it:
the new login works and is a doctor or pharmacist of the hospital, nobody else can create one,
a failure leaves no login behind, and deactivation shuts the login out and ends its sessions
(unless the login still serves another role).

Logins the tests create are deleted at the end (the `auth` fixture); so are the second
hospital and the patient record made for the refusal cases.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.auth_target import (
    API_VERSION,
    DEMO_ADMIN,
    DEMO_DOCTOR,
    DEMO_PASSWORD,
    NABHA_HOSPITAL,
    TEST_PASSWORD,
    AuthTarget,
    claims,
    refresh,
    sign_in,
)

pytest_plugins = ["tests.auth_target"]

NEW_PASSWORD = "Strong#Pass1"
DEMO_PHARMACIST = "pharmacist@nabha.carebase.test"
NABHA_PHARMACY = "40000000-0000-4000-8000-000000000001"


@pytest.fixture
def api(sidecar: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sidecar}/api/v1", timeout=30) as client:
        yield client


def staff_login(api: httpx.Client, email: str, password: str) -> httpx.Response:
    return api.post("/auth/staff/login", json={"email": email, "password": password})


def token_of(api: httpx.Client, email: str, password: str = DEMO_PASSWORD) -> str:
    response = staff_login(api, email, password)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique() -> str:
    return uuid.uuid4().hex[:10]


def new_doctor(**overrides: Any) -> dict[str, Any]:
    tag = unique()
    return {
        "email": f"dr.{tag}@nabha.carebase.test",
        "password": NEW_PASSWORD,
        "full_name": f"Dr. Test {tag}",
        "specialty": "Dermatology",
        "hospital_id": NABHA_HOSPITAL,
        "licence_number": f"PMC-{tag}",
        **overrides,
    }


def logins_with_email(auth: AuthTarget, email: str) -> int:
    with auth.db() as conn:
        row = conn.execute("select count(*) from auth.users where email = %s", (email,)).fetchone()
    return row[0]


def sessions_of(auth: AuthTarget, user_id: str) -> int:
    with auth.db() as conn:
        row = conn.execute(
            "select count(*) from auth.sessions where user_id = %s", (user_id,)
        ).fetchone()
    return row[0]


def rest_get(auth: AuthTarget, token: str, path: str) -> httpx.Response:
    headers = {"apikey": auth.settings.anon_key, **bearer(token)}
    return httpx.get(f"{auth.url}/rest/v1/{path}", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def admin_token(sidecar: str) -> str:
    with httpx.Client(base_url=f"{sidecar}/api/v1", timeout=30) as client:
        return token_of(client, DEMO_ADMIN)


@pytest.fixture
def provision(api: httpx.Client, auth: AuthTarget, admin_token: str):
    """POSTs as the demo admin (or another token); whatever login it makes is deleted later."""

    def create(path: str, body: dict[str, Any], token: str = admin_token) -> httpx.Response:
        response = api.post(path, json=body, headers=bearer(token))
        if response.status_code == 201:
            auth.forget(response.json()["user_id"])
        return response

    return create


@pytest.fixture(scope="module")
def other_hospital_admin(sidecar: str, auth: AuthTarget) -> Iterator[str]:
    """The access token of an active admin of another hospital."""
    code = f"T{unique()[:6].upper()}"
    user = auth.new_user()
    with auth.db() as conn:
        hospital = conn.execute(
            "insert into public.hospitals (code, name, city, state) "
            "values (%s, 'Test Hospital', 'Patiala', 'Punjab') returning id",
            (code,),
        ).fetchone()[0]
        conn.execute(
            "insert into public.staff_memberships (user_id, hospital_id, role) "
            "values (%s, %s, 'hospital_admin')",
            (user["id"], hospital),
        )
    with httpx.Client(base_url=f"{sidecar}/api/v1", timeout=30) as client:
        yield token_of(client, user["email"], TEST_PASSWORD)
    with auth.db() as conn:
        conn.execute("delete from public.staff_memberships where hospital_id = %s", (hospital,))
        conn.execute("delete from public.hospitals where id = %s", (hospital,))


@pytest.fixture(scope="module")
def patient_token(sidecar: str, auth: AuthTarget) -> Iterator[str]:
    user = auth.new_user()
    with auth.db() as conn:
        patient = conn.execute(
            "insert into public.patients (full_name, user_id) values ('Test Patient', %s) "
            "returning id",
            (user["id"],),
        ).fetchone()[0]
    with httpx.Client(base_url=f"{sidecar}/api/v1", timeout=30) as client:
        token = token_of(client, user["email"], TEST_PASSWORD)
    assert claims(token)["user_role"] == "patient"
    yield token
    with auth.db() as conn:
        conn.execute("delete from public.patients where id = %s", (patient,))


def test_admin_creates_a_doctor_who_can_sign_in_as_doctor_of_the_hospital(
    api: httpx.Client, auth: AuthTarget, provision, admin_token: str
) -> None:
    body = new_doctor(consultation_modes=["video"], languages=["pa", "hi"])
    response = provision("/doctors", body)
    assert response.status_code == 201, response.text
    doctor = response.json()
    assert doctor["full_name"] == body["full_name"]
    assert doctor["email"] == body["email"]
    assert doctor["hospital_id"] == NABHA_HOSPITAL
    assert doctor["specialty"] == "Dermatology"
    assert doctor["consultation_modes"] == ["video"]
    assert doctor["is_active"] is True
    assert response.headers["location"].endswith(f"/rest/v1/doctors?id=eq.{doctor['id']}")

    session = staff_login(api, body["email"], NEW_PASSWORD)
    assert session.status_code == 200, session.text
    user = session.json()["user"]
    assert user["id"] == doctor["user_id"]
    assert user["role"] == "doctor"
    assert user["hospital_id"] == NABHA_HOSPITAL
    assert user["full_name"] == body["full_name"]

    # The new doctor is in the directory the REST API serves, to colleagues and to themself.
    for token in (admin_token, session.json()["access_token"]):
        listed = rest_get(auth, token, f"doctors?id=eq.{doctor['id']}&select=id,licence_number")
        assert listed.json() == [{"id": doctor["id"], "licence_number": body["licence_number"]}]


def test_the_audit_trail_names_the_admin_who_created_the_records(
    auth: AuthTarget, provision, admin_token: str
) -> None:
    response = provision("/doctors", new_doctor())
    assert response.status_code == 201, response.text
    doctor = response.json()
    with auth.db() as conn:
        rows = conn.execute(
            "select table_name, actor_id::text, actor_roles::text[] from audit.log "
            "where action = 'INSERT' and table_name in ('public.doctors', "
            "'public.staff_memberships') and new_values ->> 'user_id' = %s order by seq",
            (doctor["user_id"],),
        ).fetchall()
    admin_id = claims(admin_token)["sub"]
    assert rows == [
        ("public.staff_memberships", admin_id, ["hospital_admin"]),
        ("public.doctors", admin_id, ["hospital_admin"]),
    ]


def test_admin_creates_a_pharmacist_at_the_default_pharmacy(api: httpx.Client, provision) -> None:
    tag = unique()
    body = {
        "email": f"ph.{tag}@nabha.carebase.test",
        "password": NEW_PASSWORD,
        "full_name": f"Pharmacist {tag}",
        "hospital_id": NABHA_HOSPITAL,
        "licence_number": f"PSPC-{tag}",
    }
    response = provision("/pharmacists", body)
    assert response.status_code == 201, response.text
    pharmacist = response.json()
    assert pharmacist["pharmacy_id"] == NABHA_PHARMACY
    assert response.headers["location"].endswith(f"/rest/v1/pharmacists?id=eq.{pharmacist['id']}")
    user = staff_login(api, body["email"], NEW_PASSWORD).json()["user"]
    assert (user["role"], user["hospital_id"]) == ("pharmacist", NABHA_HOSPITAL)


def test_a_pharmacy_of_another_hospital_is_refused_without_a_login(
    auth: AuthTarget, provision
) -> None:
    email = f"ph.{unique()}@nabha.carebase.test"
    body = {
        "email": email,
        "password": NEW_PASSWORD,
        "full_name": "Pharmacist Elsewhere",
        "hospital_id": NABHA_HOSPITAL,
        "licence_number": "PSPC-1",
        "pharmacy_id": str(uuid.uuid4()),
    }
    response = provision("/pharmacists", body)
    assert response.status_code == 422
    assert response.json()["code"] == "pharmacy_not_found"
    assert logins_with_email(auth, email) == 0


@pytest.mark.parametrize("caller", ["doctor", "pharmacist", "patient", "other_admin"])
def test_only_an_admin_of_the_hospital_can_provision(
    request: pytest.FixtureRequest, api: httpx.Client, auth: AuthTarget, provision, caller: str
) -> None:
    token = {
        "doctor": lambda: token_of(api, DEMO_DOCTOR),
        "pharmacist": lambda: token_of(api, DEMO_PHARMACIST),
        "patient": lambda: request.getfixturevalue("patient_token"),
        "other_admin": lambda: request.getfixturevalue("other_hospital_admin"),
    }[caller]()
    doctor = new_doctor()
    refused = provision("/doctors", doctor, token)
    assert refused.status_code == 403, refused.text
    assert refused.json() == {
        "code": "not_hospital_admin",
        "message": "only an active admin of this hospital can manage its staff",
    }
    pharmacist = {k: doctor[k] for k in ("password", "full_name", "hospital_id")}
    pharmacist |= {"email": f"ph.{unique()}@nabha.carebase.test", "licence_number": "PSPC-9"}
    assert provision("/pharmacists", pharmacist, token).status_code == 403
    assert logins_with_email(auth, doctor["email"]) == 0
    assert logins_with_email(auth, pharmacist["email"]) == 0


def test_without_a_valid_token_nothing_is_created(api: httpx.Client, auth: AuthTarget) -> None:
    doctor = new_doctor()
    missing = api.post("/doctors", json=doctor)
    assert missing.status_code == 401
    assert missing.json()["code"] == "missing_token"
    # The anon key is a valid JWT, of a role that may not call the function.
    anon = api.post("/doctors", json=doctor, headers=bearer(auth.settings.anon_key))
    assert anon.status_code == 403
    forged = api.post("/doctors", json=doctor, headers=bearer("not.a.jwt"))
    assert forged.status_code == 401
    assert forged.json()["code"] == "invalid_token"
    assert logins_with_email(auth, doctor["email"]) == 0


def test_a_taken_email_is_a_conflict_and_creates_nothing(auth: AuthTarget, provision) -> None:
    refused = provision("/doctors", new_doctor(email=DEMO_DOCTOR))
    assert refused.status_code == 409
    assert refused.json() == {
        "code": "email_exists",
        "message": "a login with this email already exists",
    }
    assert logins_with_email(auth, DEMO_DOCTOR) == 1


def test_a_failure_creating_the_records_deletes_the_new_login(
    api: httpx.Client, auth: AuthTarget, provision
) -> None:
    first = provision("/doctors", new_doctor())
    assert first.status_code == 201, first.text
    # The licence clash is found by the table's constraint when the records are created,
    # after the login exists: the login must be undone.
    clash = new_doctor(licence_number=first.json()["licence_number"])
    refused = provision("/doctors", clash)
    assert refused.status_code == 409
    assert refused.json()["code"] == "licence_number_exists"
    assert logins_with_email(auth, clash["email"]) == 0
    assert staff_login(api, clash["email"], NEW_PASSWORD).status_code == 401


def test_a_password_against_the_policy_is_refused_and_creates_nothing(
    auth: AuthTarget, provision
) -> None:
    body = new_doctor(password="alllowercase")
    refused = provision("/doctors", body)
    assert refused.status_code == 422
    assert refused.json()["code"] == "weak_password"
    assert logins_with_email(auth, body["email"]) == 0


def test_invalid_input_is_refused_before_anything_is_done(
    api: httpx.Client, admin_token: str
) -> None:
    for bad in ({"calendar_color": "blue"}, {"consultation_modes": []}, {"specialty": ""}):
        refused = api.post("/doctors", json=new_doctor(**bad), headers=bearer(admin_token))
        assert refused.status_code == 422, bad
        assert refused.json()["code"] == "validation_failed"


def test_update_by_the_admin_and_by_the_doctor_and_refused_to_others(
    api: httpx.Client, provision, admin_token: str
) -> None:
    body = new_doctor()
    doctor = provision("/doctors", body).json()
    path = f"/doctors/{doctor['id']}"

    by_admin = api.put(
        path,
        json={"full_name": "Dr. Renamed", "licence_number": "PMC-NEW"},
        headers=bearer(admin_token),
    )
    assert by_admin.status_code == 200, by_admin.text
    assert (by_admin.json()["full_name"], by_admin.json()["licence_number"]) == (
        "Dr. Renamed",
        "PMC-NEW",
    )
    assert by_admin.json()["specialty"] == "Dermatology"  # left out, kept

    own = token_of(api, body["email"], NEW_PASSWORD)
    by_self = api.put(path, json={"bio": "Skin and hair", "languages": ["en"]}, headers=bearer(own))
    assert by_self.status_code == 200, by_self.text
    assert by_self.json()["bio"] == "Skin and hair"
    own_licence = api.put(path, json={"licence_number": "FORGED"}, headers=bearer(own))
    assert own_licence.status_code == 403

    colleague = api.put(path, json={"bio": "Vandal"}, headers=bearer(token_of(api, DEMO_DOCTOR)))
    assert colleague.status_code == 403
    assert colleague.json()["code"] == "not_allowed"
    unknown = api.put(f"/doctors/{uuid.uuid4()}", json={"bio": "x"}, headers=bearer(admin_token))
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "doctor_not_found"


def test_pharmacist_update_is_the_admins(api: httpx.Client, provision, admin_token: str) -> None:
    tag = unique()
    body = {
        "email": f"ph.{tag}@nabha.carebase.test",
        "password": NEW_PASSWORD,
        "full_name": "Pharmacist Before",
        "hospital_id": NABHA_HOSPITAL,
        "licence_number": f"PSPC-{tag}",
    }
    pharmacist = provision("/pharmacists", body).json()
    path = f"/pharmacists/{pharmacist['id']}"
    own = token_of(api, body["email"], NEW_PASSWORD)
    assert api.put(path, json={"full_name": "Self Renamed"}, headers=bearer(own)).status_code == 403
    renamed = api.put(path, json={"full_name": "Pharmacist After"}, headers=bearer(admin_token))
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["full_name"] == "Pharmacist After"


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("PUT", "/pharmacists/{}", "pharmacist_not_found"),
        ("POST", "/doctors/{}/deactivate", "doctor_not_found"),
        ("POST", "/doctors/{}/reactivate", "doctor_not_found"),
        ("POST", "/pharmacists/{}/deactivate", "pharmacist_not_found"),
        ("POST", "/pharmacists/{}/reactivate", "pharmacist_not_found"),
    ],
)
def test_an_unknown_staff_id_is_not_found(
    api: httpx.Client, admin_token: str, method: str, path: str, code: str
) -> None:
    body = {"full_name": "Nobody"} if method == "PUT" else None
    response = api.request(
        method, path.format(uuid.uuid4()), json=body, headers=bearer(admin_token)
    )
    assert (response.status_code, response.json()["code"]) == (404, code), response.text


def test_deactivation_shuts_the_login_out_and_reactivation_lets_it_back(
    api: httpx.Client, auth: AuthTarget, provision, admin_token: str
) -> None:
    body = new_doctor()
    doctor = provision("/doctors", body).json()
    session = staff_login(api, body["email"], NEW_PASSWORD).json()
    assert rest_get(auth, session["access_token"], "doctors?select=id").json() != []

    assert (
        api.post(
            f"/doctors/{doctor['id']}/deactivate", headers=bearer(session["access_token"])
        ).status_code
        == 403
    )
    deactivated = api.post(f"/doctors/{doctor['id']}/deactivate", headers=bearer(admin_token))
    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["is_active"] is False
    assert deactivated.json()["full_name"] == body["full_name"]

    # Banned: refused as any wrong password is (the route names no account state).
    refused = staff_login(api, body["email"], NEW_PASSWORD)
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_credentials"
    # The session ended with the deactivation, and its refresh token with it.
    assert refresh(auth, session["refresh_token"]).json()["code"] == "refresh_token_not_found"
    # The access token issued before still authenticates until it expires, but the
    # membership it relied on is gone: nothing of the hospital is visible any more.
    assert rest_get(auth, session["access_token"], "doctors?select=id").json() == []
    assert rest_get(auth, session["access_token"], "hospitals?select=id").json() == []

    reactivated = api.post(f"/doctors/{doctor['id']}/reactivate", headers=bearer(admin_token))
    assert reactivated.status_code == 200, reactivated.text
    assert reactivated.json()["is_active"] is True
    assert reactivated.json()["full_name"] == body["full_name"]
    again = staff_login(api, body["email"], NEW_PASSWORD)
    assert again.status_code == 200
    assert again.json()["user"]["role"] == "doctor"


def test_deactivation_ends_every_session_of_the_login(
    api: httpx.Client, auth: AuthTarget, provision, admin_token: str
) -> None:
    body = new_doctor()
    doctor = provision("/doctors", body).json()
    phone = staff_login(api, body["email"], NEW_PASSWORD).json()
    laptop = sign_in(auth, body["email"], NEW_PASSWORD)
    assert sessions_of(auth, doctor["user_id"]) == 2

    deactivated = api.post(f"/doctors/{doctor['id']}/deactivate", headers=bearer(admin_token))
    assert deactivated.status_code == 200, deactivated.text
    assert sessions_of(auth, doctor["user_id"]) == 0
    # Supabase Auth no longer knows the session the old access token names.
    with auth.http() as http:
        user = http.get("/user", headers={**API_VERSION, **bearer(laptop["access_token"])})
    assert user.status_code == 403
    assert user.json()["code"] == "session_not_found"

    # The refresh tokens died with their sessions: lifting the ban does not revive them.
    reactivated = api.post(f"/doctors/{doctor['id']}/reactivate", headers=bearer(admin_token))
    assert reactivated.status_code == 200, reactivated.text
    for session in (phone, laptop):
        refused = refresh(auth, session["refresh_token"])
        assert refused.status_code == 400
        assert refused.json()["code"] == "refresh_token_not_found"
    assert staff_login(api, body["email"], NEW_PASSWORD).status_code == 200


def test_a_login_that_keeps_another_role_keeps_its_sessions(
    api: httpx.Client, auth: AuthTarget, provision, admin_token: str
) -> None:
    body = new_doctor()
    doctor = provision("/doctors", body).json()
    # The same person also works as a nurse of the hospital.
    with auth.db() as conn:
        conn.execute(
            "insert into public.staff_memberships (user_id, hospital_id, role) "
            "values (%s, %s, 'nurse')",
            (doctor["user_id"], NABHA_HOSPITAL),
        )
    session = sign_in(auth, body["email"], NEW_PASSWORD)

    deactivated = api.post(f"/doctors/{doctor['id']}/deactivate", headers=bearer(admin_token))
    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["is_active"] is False
    assert sessions_of(auth, doctor["user_id"]) == 1
    refreshed = refresh(auth, session["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert staff_login(api, body["email"], NEW_PASSWORD).status_code == 200


def test_deactivating_a_pharmacist_bans_the_login_and_ends_its_sessions(
    api: httpx.Client, auth: AuthTarget, provision, admin_token: str, other_hospital_admin: str
) -> None:
    tag = unique()
    body = {
        "email": f"ph.{tag}@nabha.carebase.test",
        "password": NEW_PASSWORD,
        "full_name": "Pharmacist Leaving",
        "hospital_id": NABHA_HOSPITAL,
        "licence_number": f"PSPC-{tag}",
    }
    pharmacist = provision("/pharmacists", body).json()
    path = f"/pharmacists/{pharmacist['id']}/deactivate"
    # Another hospital's admin does not even see the pharmacist.
    assert api.post(path, headers=bearer(other_hospital_admin)).status_code == 404
    assert staff_login(api, body["email"], NEW_PASSWORD).status_code == 200
    deactivated = api.post(path, headers=bearer(admin_token))
    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["is_active"] is False
    assert sessions_of(auth, pharmacist["user_id"]) == 0
    assert staff_login(api, body["email"], NEW_PASSWORD).json()["code"] == "invalid_credentials"
