"""Patient phone login end to end: the sidecar, the real Firebase Auth emulator, Supabase Auth
and the database, as the patient's app sees them.

Codes come from the emulator's `verificationCodes` endpoint, as an SMS would bring them.
Every failure is checked for what it leaves behind: no login and no patient for the phone.
Each test uses fresh phone numbers; what they create is deleted afterwards (`new_phone`).
A token for another Firebase project is a real emulator token shown to an app configured for
another project (the emulator mints tokens for its own project only); an expired one is an
emulator token with its clock turned back (the emulator signs nothing, so that is its format).
Failures the running stack cannot produce on demand (the database failing mid-login, Firebase
answering SESSION_EXPIRED) are driven on an app built in-process.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devstack.config import Settings
from devstack.firebase import emulator
from devstack.local_server import LocalServer
from sidecar.accounts import patient_login
from sidecar.app import create_app
from sidecar.settings import SidecarSettings

PATIENT = "/api/v1/auth/patient"
NABHA = "10000000-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def firebase(stack: Settings) -> Iterator[str]:
    """The Auth emulator's base URL (started for the run unless `make up` runs it)."""
    service = emulator.service(stack)
    if service is None:
        pytest.fail("the Firebase CLI is not installed: run `make install` (devstack/firebase)")
    started = service.start()
    yield f"http://{emulator.emulator_host(stack)}"
    if started:
        service.stop()


@pytest.fixture
def api(sidecar: str, firebase: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sidecar, timeout=30) as client:
        yield client


@pytest.fixture
def committed(stack: Settings) -> Iterator[psycopg.Connection]:
    """Rows the sidecar must see (walk-in patients, a staff login) are committed."""
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def new_phone(stack: Settings) -> Iterator[Callable[[], str]]:
    """Fresh phone numbers; the logins, patients and registrations made with them are
    deleted afterwards, so that other suites see the demo data as seeded."""
    phones: list[str] = []

    def make() -> str:
        phones.append(f"+9197{secrets.randbelow(10**8):08d}")
        return phones[-1]

    yield make
    with psycopg.connect(stack.dsn(), autocommit=True) as conn, conn.transaction():
        patients = "select id from public.patients where phone = any(%(phones)s)"
        conn.execute(
            f"delete from public.patient_registrations where patient_id in ({patients})",  # noqa: S608
            {"phones": phones},
        )
        conn.execute(
            "delete from public.patients where phone = any(%(phones)s)", {"phones": phones}
        )
        conn.execute(
            "delete from auth.users where phone = any(%(digits)s)",
            {"digits": [phone.lstrip("+") for phone in phones]},
        )


def identity_toolkit(firebase: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{firebase}/identitytoolkit.googleapis.com/v1/accounts:{method}",
        params={"key": "demo-api-key"},
        json=body,
    )
    assert response.status_code == 200, response.text
    return response.json()


def code_for(firebase: str, session_info: str) -> str:
    project = emulator.project_id()
    codes = httpx.get(f"{firebase}/emulator/v1/projects/{project}/verificationCodes").json()
    return next(c["code"] for c in codes["verificationCodes"] if c["sessionInfo"] == session_info)


def send_code(api: httpx.Client, phone: str) -> str:
    response = api.post(f"{PATIENT}/otp", json={"phone": phone})
    assert response.status_code == 200, response.text
    return response.json()["session_info"]


def log_in(api: httpx.Client, firebase: str, phone: str, **extra: Any) -> dict[str, Any]:
    session_info = send_code(api, phone)
    response = api.post(
        f"{PATIENT}/verify",
        json={"session_info": session_info, "code": code_for(firebase, session_info), **extra},
    )
    assert response.status_code == 200, response.text
    return response.json()


def firebase_sign_in(firebase: str, phone: str) -> dict[str, Any]:
    """What the Firebase SDK's phone sign-in answers an app (idToken, localId...)."""
    session_info = identity_toolkit(firebase, "sendVerificationCode", {"phoneNumber": phone})[
        "sessionInfo"
    ]
    return identity_toolkit(
        firebase,
        "signInWithPhoneNumber",
        {"sessionInfo": session_info, "code": code_for(firebase, session_info)},
    )


def firebase_id_token(firebase: str, phone: str) -> str:
    return firebase_sign_in(firebase, phone)["idToken"]


def firebase_admin_update(firebase: str, body: dict[str, Any]) -> None:
    """The Admin SDK's accounts:update (disable, revoke) against the emulator."""
    response = httpx.post(
        f"{firebase}/identitytoolkit.googleapis.com/v1/projects/{emulator.project_id()}"
        "/accounts:update",
        headers={"Authorization": "Bearer owner"},
        json=body,
    )
    assert response.status_code == 200, response.text


def in_process_app(
    monkeypatch: pytest.MonkeyPatch, stack: Settings, gateway: str, **overrides: Any
) -> TestClient:
    host = emulator.emulator_host(stack)
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", host)  # read by firebase-admin
    settings = SidecarSettings(
        supabase_url=gateway,
        firebase_project_id=emulator.project_id(),
        firebase_auth_emulator_host=host,
        firebase_web_api_key="demo-api-key",
        patient_login_secret="carebase-local-patient-login-secret",
        **overrides,
    )
    return TestClient(create_app(settings))


def left_behind(db: psycopg.Connection, phone: str) -> tuple[int, int]:
    """(logins, patients) with this phone."""
    row = db.execute(
        "select (select count(*) from auth.users where phone = ltrim(%(p)s, '+')), "
        "(select count(*) from public.patients where phone = %(p)s)",
        {"p": phone},
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def rest_get(stack: Settings, token: str, path: str) -> httpx.Response:
    return httpx.get(
        f"{stack.api_url}/rest/v1/{path}",
        headers={"apikey": stack.anon_key, "Authorization": f"Bearer {token}"},
    )


def walk_in(conn: psycopg.Connection, phone: str, name: str) -> str:
    """A patient registered at the front desk: known by phone, no login."""
    row = conn.execute(
        "insert into public.patients (full_name, phone) values (%s, %s) returning id",
        (name, phone),
    ).fetchone()
    assert row is not None
    # An explicit MRN leaves the hospital's MRN counter as the demo seed left it.
    conn.execute(
        "insert into public.patient_registrations (patient_id, hospital_id, mrn) "
        "values (%s, %s, %s)",
        (row[0], NABHA, f"WALKIN-{str(row[0])[:8]}"),
    )
    return str(row[0])


def test_a_new_phone_gets_a_patient_and_a_session_that_reads_only_that_patient(
    api: httpx.Client,
    firebase: str,
    stack: Settings,
    db: psycopg.Connection,
    new_phone: Callable[[], str],
) -> None:
    phone = new_phone()
    session = log_in(api, firebase, phone, full_name="Harjit Kaur")
    user = session["user"]
    assert user["role"] == "patient"
    assert user["phone"] == phone
    assert user["patient_id"]

    patients = rest_get(stack, session["access_token"], "patients?select=id,full_name,phone")
    assert patients.status_code == 200
    assert patients.json() == [
        {"id": user["patient_id"], "full_name": "Harjit Kaur", "phone": phone}
    ]
    # The demo hospital's patients exist, but this login sees none of them.
    assert db.execute("select count(*) from public.patients").fetchone()[0] > 5
    registrations = rest_get(stack, session["access_token"], "patient_registrations?select=id")
    assert registrations.json() == []
    assert left_behind(db, phone) == (1, 1)


def test_the_same_phone_twice_is_the_same_login_and_patient(
    api: httpx.Client, firebase: str, db: psycopg.Connection, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    first = log_in(api, firebase, phone)["user"]
    second = log_in(api, firebase, phone)["user"]
    assert (second["id"], second["patient_id"]) == (first["id"], first["patient_id"])
    assert left_behind(db, phone) == (1, 1)


def test_a_walk_in_patient_known_by_phone_is_linked_not_duplicated(
    api: httpx.Client,
    firebase: str,
    committed: psycopg.Connection,
    stack: Settings,
    new_phone: Callable[[], str],
) -> None:
    phone = new_phone()
    patient_id = walk_in(committed, phone, "Gurdev Singh")
    session = log_in(api, firebase, phone, full_name="ignored for a known patient")
    assert session["user"]["patient_id"] == patient_id
    assert session["user"]["hospital_id"] == NABHA
    rows = rest_get(stack, session["access_token"], "patients?select=id,full_name").json()
    assert rows == [{"id": patient_id, "full_name": "Gurdev Singh"}]
    assert left_behind(committed, phone) == (1, 1)


def test_a_phone_shared_by_two_walk_ins_links_neither(
    api: httpx.Client,
    firebase: str,
    committed: psycopg.Connection,
    stack: Settings,
    new_phone: Callable[[], str],
) -> None:
    phone = new_phone()
    family = {walk_in(committed, phone, "Father"), walk_in(committed, phone, "Daughter")}
    session = log_in(api, firebase, phone)
    assert session["user"]["patient_id"] not in family
    rows = rest_get(stack, session["access_token"], "patients?select=id").json()
    assert rows == [{"id": session["user"]["patient_id"]}]
    linked = committed.execute(
        "select count(*) from public.patients where id = any(%s::uuid[]) and user_id is not null",
        (list(family),),
    ).fetchone()
    assert linked == (0,)


def test_a_demo_patient_signs_in_to_their_seeded_record(api: httpx.Client, firebase: str) -> None:
    user = log_in(api, firebase, "+919876500001")["user"]
    assert user["id"] == "50000000-0000-4000-8000-000000000001"
    assert user["patient_id"] == "60000000-0000-4000-8000-000000000001"


def test_a_wrong_code_is_refused_and_creates_nothing(
    api: httpx.Client, firebase: str, db: psycopg.Connection, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    session_info = send_code(api, phone)
    wrong = "000000" if code_for(firebase, session_info) != "000000" else "111111"
    response = api.post(f"{PATIENT}/verify", json={"session_info": session_info, "code": wrong})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_code"
    assert left_behind(db, phone) == (0, 0)


def test_a_used_or_unknown_session_is_refused_and_creates_nothing(
    api: httpx.Client, firebase: str, db: psycopg.Connection, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    session_info = send_code(api, phone)
    code = code_for(firebase, session_info)
    assert api.post(
        f"{PATIENT}/verify", json={"session_info": session_info, "code": code}
    ).is_success
    for stale in (session_info, "not-a-session-firebase-issued"):
        response = api.post(f"{PATIENT}/verify", json={"session_info": stale, "code": code})
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_session"

    other = new_phone()
    response = api.post(f"{PATIENT}/verify", json={"session_info": "unknown", "code": "123456"})
    assert response.json()["code"] == "invalid_session"
    assert left_behind(db, other) == (0, 0)


@pytest.mark.parametrize("phone", ["9876543210", "+91 98765 43210", "+0123456789", "+91abc"])
def test_a_malformed_phone_is_refused_before_firebase(api: httpx.Client, phone: str) -> None:
    response = api.post(f"{PATIENT}/otp", json={"phone": phone})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    assert "E.164" in response.json()["message"]


def test_a_staff_accounts_phone_is_refused_and_creates_nothing(
    api: httpx.Client, firebase: str, committed: psycopg.Connection, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    staff_id = committed.execute(
        "insert into auth.users (instance_id, id, aud, role, email, phone, email_confirmed_at, "
        "raw_app_meta_data, raw_user_meta_data, created_at, updated_at) values "
        "('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', "
        "'authenticated', %s, ltrim(%s, '+'), now(), '{}', '{}', now(), now()) returning id",
        (f"nurse-{phone[1:]}@nabha.carebase.test", phone),
    ).fetchone()[0]
    committed.execute(
        "insert into public.staff_memberships (user_id, hospital_id, role) "
        "values (%s, %s, 'nurse')",
        (staff_id, NABHA),
    )
    session_info = send_code(api, phone)
    response = api.post(
        f"{PATIENT}/verify",
        json={"session_info": session_info, "code": code_for(firebase, session_info)},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "phone_belongs_to_staff"
    assert left_behind(committed, phone) == (1, 0)
    sessions = committed.execute(
        "select count(*) from auth.sessions where user_id = %s", (staff_id,)
    ).fetchone()
    assert sessions == (0,)


def test_an_app_with_the_firebase_sdk_exchanges_its_id_token(
    api: httpx.Client, firebase: str, stack: Settings, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    response = api.post(
        f"{PATIENT}/exchange", json={"id_token": firebase_id_token(firebase, phone)}
    )
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["user"]["role"] == "patient"
    rows = rest_get(stack, session["access_token"], "patients?select=id").json()
    assert rows == [{"id": session["user"]["patient_id"]}]
    assert log_in(api, firebase, phone)["user"]["patient_id"] == session["user"]["patient_id"]


def test_a_token_not_from_a_phone_sign_in_is_refused(api: httpx.Client, firebase: str) -> None:
    anonymous = identity_toolkit(firebase, "signUp", {"returnSecureToken": True})["idToken"]
    response = api.post(f"{PATIENT}/exchange", json={"id_token": anonymous})
    assert response.status_code == 422
    assert response.json()["code"] == "phone_sign_in_required"
    response = api.post(f"{PATIENT}/exchange", json={"id_token": "not.a.token"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_id_token"


def test_a_token_for_another_firebase_project_is_refused_and_creates_nothing(
    firebase: str,
    gateway: str,
    stack: Settings,
    db: psycopg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    new_phone: Callable[[], str],
) -> None:
    host = emulator.emulator_host(stack)
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", host)  # read by firebase-admin
    settings = SidecarSettings(
        supabase_url=gateway,
        firebase_project_id="demo-another-app",
        firebase_auth_emulator_host=host,
        patient_login_secret="another-secret",
    )
    phone = new_phone()
    token = firebase_id_token(firebase, phone)  # issued for the emulator's own project
    with TestClient(create_app(settings)) as client:
        response = client.post(f"{PATIENT}/exchange", json={"id_token": token})
    assert response.status_code == 401
    assert response.json()["code"] == "id_token_wrong_project"
    assert emulator.project_id() in response.json()["message"]
    assert left_behind(db, phone) == (0, 0)


def test_refresh_renews_the_session_and_rotates_the_refresh_token(
    api: httpx.Client, firebase: str, stack: Settings, new_phone: Callable[[], str]
) -> None:
    session = log_in(api, firebase, new_phone())
    response = api.post(f"{PATIENT}/refresh", json={"refresh_token": session["refresh_token"]})
    assert response.status_code == 200, response.text
    renewed = response.json()
    assert renewed["refresh_token"] != session["refresh_token"]
    assert renewed["user"]["patient_id"] == session["user"]["patient_id"]
    rows = rest_get(stack, renewed["access_token"], "patients?select=id").json()
    assert rows == [{"id": session["user"]["patient_id"]}]

    response = api.post(f"{PATIENT}/refresh", json={"refresh_token": "never-issued"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_refresh_token"
    response = api.post(f"{PATIENT}/refresh", json={"refresh_token": "never\u0000issued"})
    assert response.status_code == 422


def test_an_expired_id_token_is_refused_and_creates_nothing(
    api: httpx.Client, firebase: str, db: psycopg.Connection, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    claims = jwt.decode(firebase_id_token(firebase, phone), options={"verify_signature": False})
    two_hours_ago = int(time.time()) - 7200
    claims |= {"iat": two_hours_ago, "auth_time": two_hours_ago, "exp": two_hours_ago + 3600}
    expired = jwt.encode(claims, key=None, algorithm="none")
    response = api.post(f"{PATIENT}/exchange", json={"id_token": expired})
    assert response.status_code == 401
    assert response.json()["code"] == "id_token_expired"
    assert left_behind(db, phone) == (0, 0)


def test_a_revoked_id_token_is_refused_and_creates_nothing(
    api: httpx.Client, firebase: str, db: psycopg.Connection, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    signed_in = firebase_sign_in(firebase, phone)
    time.sleep(1.1)  # revocation counts in whole seconds: "tokens issued before now"
    firebase_admin_update(
        firebase, {"localId": signed_in["localId"], "validSince": str(int(time.time()))}
    )
    response = api.post(f"{PATIENT}/exchange", json={"id_token": signed_in["idToken"]})
    assert response.status_code == 401
    assert response.json()["code"] == "id_token_revoked"
    assert left_behind(db, phone) == (0, 0)


def test_a_disabled_firebase_account_is_refused_and_creates_nothing(
    api: httpx.Client, firebase: str, db: psycopg.Connection, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    signed_in = firebase_sign_in(firebase, phone)
    firebase_admin_update(firebase, {"localId": signed_in["localId"], "disableUser": True})
    response = api.post(f"{PATIENT}/exchange", json={"id_token": signed_in["idToken"]})
    assert response.status_code == 403
    assert response.json()["code"] == "account_disabled"
    assert left_behind(db, phone) == (0, 0)


def test_a_name_the_database_cannot_store_is_refused_and_creates_nothing(
    api: httpx.Client, firebase: str, db: psycopg.Connection, new_phone: Callable[[], str]
) -> None:
    phone = new_phone()
    response = api.post(
        f"{PATIENT}/exchange",
        json={"id_token": firebase_id_token(firebase, phone), "full_name": "Har\u0000jit"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    assert left_behind(db, phone) == (0, 0)


def test_a_database_failure_after_the_login_was_made_deletes_it(
    firebase: str,
    gateway: str,
    stack: Settings,
    db: psycopg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    new_phone: Callable[[], str],
) -> None:
    real_rpc = patient_login.PatientLogin._rpc

    async def link_fails(self: Any, service: Any, name: str, params: dict[str, Any]) -> Any:
        if name == "link_patient_login":
            raise httpx.ConnectError("the Supabase API went away")
        return await real_rpc(self, service, name, params)

    monkeypatch.setattr(patient_login.PatientLogin, "_rpc", link_fails)
    phone = new_phone()
    token = firebase_id_token(firebase, phone)
    with in_process_app(monkeypatch, stack, gateway) as client:
        response = client.post(f"{PATIENT}/exchange", json={"id_token": token})
    assert response.status_code == 503
    assert response.json()["code"] == "upstream_unavailable"
    # The Supabase Auth user was created before the failure; it is gone again.
    assert left_behind(db, phone) == (0, 0)


def test_an_expired_sign_in_session_is_refused(
    gateway: str, stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def expired(_: Request) -> JSONResponse:
        # Identity Toolkit's error body for a code entered too late.
        reason = {"message": "SESSION_EXPIRED", "domain": "global", "reason": "invalid"}
        error = {"code": 400, "message": "SESSION_EXPIRED", "errors": [reason]}
        return JSONResponse({"error": error}, status_code=400)

    toolkit = Starlette(
        routes=[Route("/v1/accounts:signInWithPhoneNumber", expired, methods=["POST"])]
    )
    with (
        LocalServer(toolkit) as fake,
        in_process_app(monkeypatch, stack, gateway, identity_toolkit_url=fake.url) as client,
    ):
        response = client.post(
            f"{PATIENT}/verify", json={"session_info": "issued-long-ago", "code": "123456"}
        )
    assert response.status_code == 401
    assert response.json() == {
        "code": "session_expired",
        "message": "the code has expired; ask for a new one",
    }
