"""Staff of every role through the sidecar (issue 20, item 5), as an admin and the staff see it:
a nurse and a CRO provisioned with real logins that sign in and work at the hospital, nobody
but the admin provisions, a deactivated member is shut out, a password change ends the user's
other sessions, and a forced reset replaces the password until the person sets their own.
The database's rules are in supabase/tests/staff_every_role.test.sql."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.auth_target import (
    DEMO_ADMIN,
    DEMO_DOCTOR,
    NABHA_HOSPITAL,
    AuthTarget,
    claims,
    refresh,
)
from tests.test_staff_provisioning import (
    NEW_PASSWORD,
    bearer,
    logins_with_email,
    staff_login,
    token_of,
    unique,
)

pytest_plugins = ["tests.auth_target"]


@pytest.fixture(scope="module")
def api(sidecar: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sidecar}/api/v1", timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def admin_token(api: httpx.Client) -> str:
    return token_of(api, DEMO_ADMIN)


@pytest.fixture
def provision(api: httpx.Client, auth: AuthTarget, admin_token: str):
    """POSTs /staff as the demo admin (or another token); the logins it makes are deleted later."""

    def create(body: dict[str, Any], token: str = admin_token) -> httpx.Response:
        response = api.post("/staff", json=body, headers=bearer(token))
        if response.status_code == 201:
            auth.forget(response.json()["user_id"])
        return response

    return create


def new_member(role: str, **overrides: Any) -> dict[str, Any]:
    tag = unique()
    return {
        "email": f"{role}.{tag}@nabha.carebase.test",
        "password": NEW_PASSWORD,
        "full_name": f"Test {role} {tag}",
        "hospital_id": NABHA_HOSPITAL,
        "role": role,
        **overrides,
    }


def test_an_admin_provisions_a_nurse_and_a_cro_who_work_there_until_deactivated(
    api: httpx.Client, provision, admin_token: str
) -> None:
    made = {}
    for role in ("nurse", "cro"):
        body = new_member(role)
        response = provision(body)
        assert response.status_code == 201, response.text
        member = response.json()
        assert (member["role"], member["email"], member["is_active"]) == (role, body["email"], True)
        token = token_of(api, body["email"], NEW_PASSWORD)
        assert {"hospital_id": NABHA_HOSPITAL, "role": role} in [
            {k: m[k] for k in ("hospital_id", "role")} for m in claims(token)["memberships"]
        ]
        made[role] = (member, body)
    member, body = made["cro"]
    response = api.post(f"/staff/{member['membership_id']}/deactivate", headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert staff_login(api, body["email"], NEW_PASSWORD).status_code == 401


def test_nobody_but_the_admin_provisions_staff(
    api: httpx.Client, provision, auth: AuthTarget
) -> None:
    doctor = token_of(api, DEMO_DOCTOR)
    body = new_member("nurse")
    response = provision(body, token=doctor)
    assert (response.status_code, response.json()["code"]) == (403, "not_hospital_admin")
    assert logins_with_email(auth, body["email"]) == 0


def test_a_password_change_ends_the_users_other_sessions_and_a_forced_reset_replaces_it(
    api: httpx.Client, provision, admin_token: str, auth: AuthTarget
) -> None:
    body = new_member("front_desk")
    user_id = provision(body).json()["user_id"]
    here = staff_login(api, body["email"], NEW_PASSWORD).json()
    elsewhere = staff_login(api, body["email"], NEW_PASSWORD).json()
    path = f"/users/{user_id}/password"
    headers = bearer(here["access_token"])

    wrong = api.patch(
        path,
        json={"current_password": "Wrong#Pass9", "new_password": "Newer#Pass2"},
        headers=headers,
    )
    assert (wrong.status_code, wrong.json()["code"]) == (403, "invalid_current_password")
    weak = api.patch(
        path, json={"current_password": NEW_PASSWORD, "new_password": "short"}, headers=headers
    )
    assert (weak.status_code, weak.json()["code"]) == (422, "weak_password")
    changed = api.patch(
        path,
        json={"current_password": NEW_PASSWORD, "new_password": "Newer#Pass2"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert refresh(auth, elsewhere["refresh_token"]).status_code >= 400, "the other session ended"
    assert refresh(auth, here["refresh_token"]).status_code == 200, "this one goes on"
    assert staff_login(api, body["email"], NEW_PASSWORD).status_code == 401
    assert staff_login(api, body["email"], "Newer#Pass2").status_code == 200

    reset = api.post(f"/users/{user_id}/password-reset", headers=bearer(admin_token))
    assert reset.status_code == 200, reset.text
    temporary = reset.json()["temporary_password"]
    assert staff_login(api, body["email"], "Newer#Pass2").status_code == 401
    session = staff_login(api, body["email"], temporary).json()
    assert session["user"]["password_change_required"] is True
    own = api.patch(
        path,
        json={"current_password": temporary, "new_password": "Newest#Pass3"},
        headers=bearer(session["access_token"]),
    )
    assert own.status_code == 200, own.text
    with auth.db() as conn:
        (marked,) = conn.execute(
            "select raw_app_meta_data ? 'password_change_required' from auth.users where id = %s",
            (user_id,),
        ).fetchone()
    assert not marked
