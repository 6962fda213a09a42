"""GET/PUT /auth/v1/user and POST /auth/v1/logout (scopes local, others, global)."""

from __future__ import annotations

import pytest
from supabase import AuthApiError, AuthWeakPasswordError

from tests.auth_target import (
    API_VERSION,
    TEST_PASSWORD,
    AuthTarget,
    claims,
    refresh,
    sign_in,
)

pytest_plugins = ["tests.auth_target"]


def test_get_user_returns_the_signed_in_user(auth: AuthTarget) -> None:
    user = auth.new_user(user_metadata={"full_name": "Test Nurse"})
    client = auth.client()
    client.auth.sign_in_with_password({"email": user["email"], "password": TEST_PASSWORD})
    current = client.auth.get_user()
    assert current is not None
    assert current.user.id == user["id"]
    assert current.user.email == user["email"]
    assert current.user.user_metadata == {"full_name": "Test Nurse"}
    assert current.user.app_metadata["providers"] == ["email"]
    assert current.user.identities and current.user.identities[0].provider == "email"
    assert current.user.last_sign_in_at is not None


def test_get_user_needs_a_user_token(auth: AuthTarget) -> None:
    with auth.http() as http:
        anon = http.get("/user", headers=API_VERSION)
        forged = http.get("/user", headers={**API_VERSION, "Authorization": "Bearer not.a.token"})
    assert anon.status_code == 403
    assert anon.json()["code"] == "bad_jwt"
    assert forged.status_code == 403
    assert forged.json()["code"] == "bad_jwt"


def test_a_weak_new_password_is_refused_with_its_reasons(auth: AuthTarget) -> None:
    user = auth.new_user()
    client = auth.client()
    client.auth.sign_in_with_password({"email": user["email"], "password": TEST_PASSWORD})
    with pytest.raises(AuthWeakPasswordError) as error:
        client.auth.update_user({"password": "short"})
    assert error.value.status == 422
    assert error.value.code == "weak_password"
    assert set(error.value.reasons) == {"length", "characters"}

    session = client.auth.get_session()
    assert session is not None
    with auth.http() as http:
        legacy = http.put(
            "/user",
            json={"password": "alllowercase1!"},
            headers={"Authorization": f"Bearer {session.access_token}"},
        )
    assert legacy.status_code == 422
    assert legacy.json()["error_code"] == "weak_password"
    assert legacy.json()["weak_password"] == {"reasons": ["characters"]}


def test_changing_the_password_signs_out_the_other_sessions(auth: AuthTarget) -> None:
    user = auth.new_user()
    other = sign_in(auth, user["email"], TEST_PASSWORD)
    client = auth.client()
    client.auth.sign_in_with_password({"email": user["email"], "password": TEST_PASSWORD})

    with pytest.raises(AuthApiError) as same:
        client.auth.update_user({"password": TEST_PASSWORD})
    assert same.value.code == "same_password"

    client.auth.update_user({"password": "New#Passw0rd2"})
    assert refresh(auth, other["refresh_token"]).json()["code"] == "refresh_token_not_found"
    assert client.auth.refresh_session().session is not None
    assert sign_in(auth, user["email"], "New#Passw0rd2")["user"]["id"] == user["id"]


def test_update_user_merges_user_metadata(auth: AuthTarget) -> None:
    user = auth.new_user(user_metadata={"full_name": "A", "lang": "pa"})
    client = auth.client()
    client.auth.sign_in_with_password({"email": user["email"], "password": TEST_PASSWORD})
    updated = client.auth.update_user({"data": {"lang": "hi", "full_name": None, "city": "Nabha"}})
    assert updated.user.user_metadata == {"lang": "hi", "city": "Nabha"}


def _sessions(auth: AuthTarget, user_id: str) -> int:
    with auth.db() as conn:
        row = conn.execute(
            "select count(*) from auth.sessions where user_id = %s", (user_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_logout_local_ends_only_this_session(auth: AuthTarget) -> None:
    user = auth.new_user()
    other = sign_in(auth, user["email"], TEST_PASSWORD)
    client = auth.client()
    client.auth.sign_in_with_password({"email": user["email"], "password": TEST_PASSWORD})
    session = client.auth.get_session()
    assert session is not None
    client.auth.sign_out({"scope": "local"})
    assert refresh(auth, session.refresh_token).json()["code"] == "refresh_token_not_found"
    assert refresh(auth, other["refresh_token"]).status_code == 200
    assert _sessions(auth, user["id"]) == 1


def test_logout_others_keeps_only_this_session(auth: AuthTarget) -> None:
    user = auth.new_user()
    other = sign_in(auth, user["email"], TEST_PASSWORD)
    mine = sign_in(auth, user["email"], TEST_PASSWORD)
    with auth.http() as http:
        response = http.post(
            "/logout",
            params={"scope": "others"},
            headers={"Authorization": f"Bearer {mine['access_token']}"},
        )
    assert response.status_code == 204
    assert refresh(auth, other["refresh_token"]).json()["code"] == "refresh_token_not_found"
    assert refresh(auth, mine["refresh_token"]).status_code == 200


def test_logout_global_ends_every_session_and_is_audited(auth: AuthTarget) -> None:
    user = auth.new_user()
    sign_in(auth, user["email"], TEST_PASSWORD)
    client = auth.client()
    client.auth.sign_in_with_password({"email": user["email"], "password": TEST_PASSWORD})
    session = client.auth.get_session()
    assert session is not None
    client.auth.sign_out()
    assert _sessions(auth, user["id"]) == 0
    with auth.http() as http:
        after = http.get(
            "/user", headers={**API_VERSION, "Authorization": f"Bearer {session.access_token}"}
        )
    assert after.status_code == 403
    assert after.json()["code"] == "session_not_found"
    with auth.db() as conn:
        actions = [
            row[0]
            for row in conn.execute(
                "select payload ->> 'action' from auth.audit_log_entries "
                "where payload ->> 'actor_id' = %s order by created_at",
                (user["id"],),
            )
        ]
    assert actions.count("login") == 2
    assert actions[-1] == "logout"


def test_an_unknown_logout_scope_is_refused(auth: AuthTarget) -> None:
    user = auth.new_user()
    tokens = sign_in(auth, user["email"], TEST_PASSWORD)
    with auth.http() as http:
        response = http.post(
            "/logout",
            params={"scope": "everywhere"},
            headers={**API_VERSION, "Authorization": f"Bearer {tokens['access_token']}"},
        )
    assert response.status_code == 400
    assert response.json()["code"] == "validation_failed"
    assert claims(tokens["access_token"])["sub"] == user["id"]


@pytest.mark.parametrize(
    "raw_body",
    [
        '{"email": "changed\\u0000@example.test"}',
        '{"phone": "+9198\\u000012345"}',
        '{"password": "New#Passw0rd\\u0000"}',
        '{"password": "New#Passw0rd\\ud800"}',
        '{"data": {"city": "Nab\\u0000ha"}}',
        '{"data": {"ci\\ud800ty": "Nabha"}}',
    ],
)
def test_update_user_with_text_postgres_cannot_store_is_refused_and_changes_nothing(
    auth: AuthTarget, raw_body: str
) -> None:
    user = auth.new_user(user_metadata={"city": "Patiala"})
    tokens = sign_in(auth, user["email"], TEST_PASSWORD)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {tokens['access_token']}",
    }
    with auth.http() as http:
        legacy = http.put("/user", content=raw_body, headers=headers)
        current = http.put("/user", content=raw_body, headers={**headers, **API_VERSION})
        after = http.get("/user", headers=headers)
    assert legacy.status_code == 400, legacy.text
    assert legacy.json()["error_code"] == "validation_failed"
    assert current.status_code == 400, current.text
    assert current.json()["code"] == "validation_failed"
    assert after.json()["email"] == user["email"]
    assert after.json()["user_metadata"] == {"city": "Patiala"}
    assert sign_in(auth, user["email"], TEST_PASSWORD)["user"]["id"] == user["id"]
