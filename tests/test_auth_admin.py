"""The admin API (/auth/v1/admin/users) with the service role key."""

from __future__ import annotations

import time
import uuid

import pytest
from supabase import AuthApiError

from tests.auth_target import (
    API_VERSION,
    DEMO_ADMIN,
    DEMO_PASSWORD,
    TEST_PASSWORD,
    AuthTarget,
    sign_in,
)

pytest_plugins = ["tests.auth_target"]


def _email() -> str:
    return f"auth-admin-{uuid.uuid4().hex[:12]}@example.test"


def test_the_service_role_creates_reads_updates_and_deletes_a_user(auth: AuthTarget) -> None:
    admin = auth.admin().auth.admin
    email = _email()
    created = admin.create_user(
        {
            "email": email,
            "password": TEST_PASSWORD,
            "email_confirm": True,
            "user_metadata": {"full_name": "Asha"},
            "app_metadata": {"hospital_code": "NAB"},
        }
    ).user
    auth.forget(created.id)
    assert created.email == email
    assert created.email_confirmed_at is not None
    assert created.user_metadata == {"full_name": "Asha"}
    assert created.app_metadata == {
        "provider": "email",
        "providers": ["email"],
        "hospital_code": "NAB",
    }
    assert created.role == "authenticated"

    fetched = admin.get_user_by_id(created.id).user
    assert fetched.id == created.id

    updated = admin.update_user_by_id(
        created.id, {"user_metadata": {"lang": "pa"}, "app_metadata": {"hospital_code": None}}
    ).user
    assert updated.user_metadata == {"full_name": "Asha", "lang": "pa"}
    assert "hospital_code" not in updated.app_metadata

    assert sign_in(auth, email, TEST_PASSWORD)["user"]["id"] == created.id

    admin.delete_user(created.id)
    with pytest.raises(AuthApiError) as gone:
        admin.get_user_by_id(created.id)
    assert gone.value.status == 404
    assert gone.value.code == "user_not_found"


def test_list_users_pages(auth: AuthTarget) -> None:
    for _ in range(3):
        auth.new_user()
    admin = auth.admin().auth.admin
    first = admin.list_users(page=1, per_page=2)
    second = admin.list_users(page=2, per_page=2)
    assert len(first) == 2
    assert len(second) == 2
    assert {u.id for u in first}.isdisjoint({u.id for u in second})
    with auth.service_http() as http:
        response = http.get("/admin/users", params={"page": 1, "per_page": 1})
    assert response.status_code == 200
    assert int(response.headers["x-total-count"]) >= 3 + 13  # the demo users are there too
    assert 'rel="next"' in response.headers["link"]
    assert response.json()["aud"] == "authenticated"


def test_a_duplicate_email_is_email_exists(auth: AuthTarget) -> None:
    existing = auth.new_user()
    with auth.service_http() as http:
        response = http.post(
            "/admin/users",
            json={"email": existing["email"], "password": TEST_PASSWORD},
            headers=API_VERSION,
        )
    assert response.status_code == 422
    assert response.json()["code"] == "email_exists"


def test_a_user_token_is_not_admin(auth: AuthTarget) -> None:
    tokens = sign_in(auth, DEMO_ADMIN, DEMO_PASSWORD)
    with auth.http() as http:
        as_user = http.get(
            "/admin/users", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        as_anon = http.post("/admin/users", json={"email": _email()}, headers=API_VERSION)
    assert as_user.status_code == 403
    assert as_user.json() == {"code": 403, "error_code": "not_admin", "msg": "User not allowed"}
    assert as_anon.status_code == 403
    assert as_anon.json()["code"] == "not_admin"
    with auth.http() as http:
        http.post(
            "/logout",
            params={"scope": "local"},
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )


def test_a_ban_stops_sign_in_and_refresh_until_lifted(auth: AuthTarget) -> None:
    user = auth.new_user()
    tokens = sign_in(auth, user["email"], TEST_PASSWORD)
    admin = auth.admin().auth.admin
    banned = admin.update_user_by_id(user["id"], {"ban_duration": "1h"}).user
    assert banned.banned_until is not None
    with auth.http() as http:
        login = http.post(
            "/token",
            params={"grant_type": "password"},
            json={"email": user["email"], "password": TEST_PASSWORD},
            headers=API_VERSION,
        )
        renewal = http.post(
            "/token",
            params={"grant_type": "refresh_token"},
            json={"refresh_token": tokens["refresh_token"]},
            headers=API_VERSION,
        )
    assert login.json()["code"] == "user_banned"
    assert renewal.json()["code"] == "user_banned"

    admin.update_user_by_id(user["id"], {"ban_duration": "none"})
    assert sign_in(auth, user["email"], TEST_PASSWORD)["user"]["id"] == user["id"]


def test_admin_create_validates_input(auth: AuthTarget) -> None:
    with auth.service_http() as http:
        weak = http.post(
            "/admin/users", json={"email": _email(), "password": "weak"}, headers=API_VERSION
        )
        nothing = http.post("/admin/users", json={"password": TEST_PASSWORD}, headers=API_VERSION)
        bad_ban = http.post(
            "/admin/users", json={"email": _email(), "ban_duration": "forever"}, headers=API_VERSION
        )
        missing = http.get(f"/admin/users/{uuid.uuid4()}", headers=API_VERSION)
    assert (weak.status_code, weak.json()["code"]) == (422, "weak_password")
    assert (nothing.status_code, nothing.json()["code"]) == (400, "validation_failed")
    assert (bad_ban.status_code, bad_ban.json()["code"]) == (400, "validation_failed")
    assert (missing.status_code, missing.json()["code"]) == (404, "user_not_found")


def test_an_unconfirmed_email_cannot_sign_in(auth: AuthTarget) -> None:
    user = auth.new_user(email_confirm=False, email=f"auth-unconfirmed-{time.time_ns()}@x.test")
    with auth.http() as http:
        response = http.post(
            "/token",
            params={"grant_type": "password"},
            json={"email": user["email"], "password": TEST_PASSWORD},
            headers=API_VERSION,
        )
    assert response.status_code == 400
    assert response.json()["code"] == "email_not_confirmed"


def test_input_postgres_cannot_hold_is_a_400_not_a_500(auth: AuthTarget) -> None:
    with auth.service_http() as http:
        nul = http.post(
            "/admin/users",
            json={"email": "nul\u0000@example.test", "password": TEST_PASSWORD},
            headers=API_VERSION,
        )
        endless_ban = http.post(
            "/admin/users",
            json={"email": _email(), "password": TEST_PASSWORD, "ban_duration": "9" * 15 + "h"},
            headers=API_VERSION,
        )
        huge_page = http.get("/admin/users", params={"per_page": "9" * 20}, headers=API_VERSION)
    for response in (nul, endless_ban, huge_page):
        assert response.status_code in (400, 422), response.text
        assert response.json()["code"] == "validation_failed", response.text
