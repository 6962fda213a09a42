"""POST /auth/v1/token (password and refresh_token grants), /signup, /settings, /health and
Supabase Auth's error bodies, through the official client and raw HTTP."""

from __future__ import annotations

import time
import uuid

import pytest
from supabase import AuthApiError

from tests.auth_target import (
    API_VERSION,
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


def test_a_demo_doctor_signs_in_and_the_token_carries_supabase_and_hook_claims(
    auth: AuthTarget,
) -> None:
    client = auth.client()
    response = client.auth.sign_in_with_password({"email": DEMO_DOCTOR, "password": DEMO_PASSWORD})
    session = response.session
    assert session is not None
    assert session.token_type == "bearer"
    assert session.expires_in == 900
    assert response.user is not None and response.user.email == DEMO_DOCTOR

    token = claims(session.access_token)
    assert token["aud"] == "authenticated"
    assert token["iss"] == f"{auth.settings.api_url}/auth/v1"
    assert token["sub"] == response.user.id
    assert token["exp"] - token["iat"] == 900
    assert token["email"] == DEMO_DOCTOR
    assert token["phone"] == ""
    assert token["role"] == "authenticated"
    assert token["aal"] == "aal1"
    assert [entry["method"] for entry in token["amr"]] == ["password"]
    assert token["is_anonymous"] is False
    assert token["app_metadata"]["provider"] == "email"
    assert token["user_metadata"]["full_name"] == "Dr. Gurpreet Sandhu"
    # Added by private.custom_access_token_hook:
    assert token["user_role"] == "doctor"
    assert token["hospital_id"] == NABHA_HOSPITAL
    client.auth.sign_out({"scope": "local"})


def test_a_user_signs_in_with_phone_and_password(auth: AuthTarget) -> None:
    phone = f"9198{uuid.uuid4().int % 10**8:08d}"
    user = auth.new_user(phone=phone, phone_confirm=True)
    response = auth.client().auth.sign_in_with_password(
        {"phone": f"+{phone}", "password": TEST_PASSWORD}
    )
    assert response.user is not None and response.user.id == user["id"]
    assert response.session is not None
    token = claims(response.session.access_token)
    assert token["phone"] == phone
    assert token["sub"] == user["id"]
    with auth.http() as http:
        wrong = http.post(
            "/token",
            params={"grant_type": "password"},
            json={"phone": phone, "password": "Wrong#Passw0rd"},
            headers=API_VERSION,
        )
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "invalid_credentials"


def test_a_wrong_password_is_invalid_credentials_in_both_error_formats(auth: AuthTarget) -> None:
    user = auth.new_user()
    body = {"email": user["email"], "password": "Wrong#Passw0rd"}
    with auth.http() as http:
        legacy = http.post("/token", params={"grant_type": "password"}, json=body)
        current = http.post(
            "/token", params={"grant_type": "password"}, json=body, headers=API_VERSION
        )
    assert legacy.status_code == 400
    assert legacy.json() == {
        "code": 400,
        "error_code": "invalid_credentials",
        "msg": "Invalid login credentials",
    }
    assert current.status_code == 400
    assert current.json() == {"code": "invalid_credentials", "message": "Invalid login credentials"}
    assert current.headers["x-supabase-api-version"] == "2024-01-01"


def test_the_client_sees_invalid_credentials_for_an_unknown_email(auth: AuthTarget) -> None:
    with pytest.raises(AuthApiError) as error:
        auth.client().auth.sign_in_with_password(
            {"email": "nobody-here@example.test", "password": TEST_PASSWORD}
        )
    assert error.value.status == 400
    assert error.value.code == "invalid_credentials"


def test_a_banned_user_cannot_sign_in(auth: AuthTarget) -> None:
    user = auth.new_user(ban_duration="24h")
    with auth.http() as http:
        response = http.post(
            "/token",
            params={"grant_type": "password"},
            json={"email": user["email"], "password": TEST_PASSWORD},
            headers=API_VERSION,
        )
    assert response.status_code == 400
    assert response.json()["code"] == "user_banned"


def test_five_wrong_passwords_lock_the_account_but_keep_its_sessions(auth: AuthTarget) -> None:
    user = auth.new_user()
    session = sign_in(auth, user["email"], TEST_PASSWORD)
    with auth.http() as http:
        answers = [
            http.post(
                "/token",
                params={"grant_type": "password"},
                json={"email": user["email"], "password": f"Wrong#{attempt}aA"},
                headers=API_VERSION,
            )
            for attempt in range(5)
        ]
        right = http.post(
            "/token",
            params={"grant_type": "password"},
            json={"email": user["email"], "password": TEST_PASSWORD},
            headers=API_VERSION,
        )
    invalid = {"code": "invalid_credentials", "message": "Invalid login credentials"}
    # The lockout reads like any wrong password: nobody learns the account exists.
    assert [(a.status_code, a.json()) for a in answers] == [(400, invalid)] * 5
    # The hook rejects even the right password while locked.
    assert (right.status_code, right.json()) == (400, invalid)
    # should_logout_user is false: the earlier session goes on.
    assert refresh(auth, session["refresh_token"]).status_code == 200


def test_refresh_rotates_the_refresh_token_and_keeps_the_session(auth: AuthTarget) -> None:
    user = auth.new_user()
    client = auth.client()
    first = client.auth.sign_in_with_password({"email": user["email"], "password": TEST_PASSWORD})
    assert first.session is not None
    refreshed = client.auth.refresh_session()
    assert refreshed.session is not None
    assert refreshed.session.refresh_token != first.session.refresh_token
    before, after = claims(first.session.access_token), claims(refreshed.session.access_token)
    assert after["session_id"] == before["session_id"]
    assert after["sub"] == user["id"]
    with auth.db() as conn:
        refreshed_at = conn.execute(
            "select refreshed_at from auth.sessions where id = %s", (after["session_id"],)
        ).fetchone()
    assert refreshed_at is not None and refreshed_at[0] is not None


def test_reusing_the_parent_token_returns_the_current_child(auth: AuthTarget) -> None:
    user = auth.new_user()
    parent = sign_in(auth, user["email"], TEST_PASSWORD)["refresh_token"]
    child = refresh(auth, parent).json()["refresh_token"]
    again = refresh(auth, parent)
    assert again.status_code == 200
    assert again.json()["refresh_token"] == child


def test_reusing_an_old_token_after_the_reuse_interval_revokes_the_session(
    auth: AuthTarget,
) -> None:
    user = auth.new_user()
    first = sign_in(auth, user["email"], TEST_PASSWORD)["refresh_token"]
    second = refresh(auth, first).json()["refresh_token"]
    third = refresh(auth, second).json()["refresh_token"]
    # `first` is no longer the current token's parent; within 10 s it would still be
    # accepted, so age its rotation past the reuse interval.
    with auth.db() as conn:
        conn.execute(
            "update auth.refresh_tokens set updated_at = now() - interval '11 seconds' "
            "where token = %s",
            (first,),
        )
    reused = refresh(auth, first)
    assert reused.status_code == 400
    assert reused.json() == {
        "code": "refresh_token_already_used",
        "message": "Invalid Refresh Token: Already Used",
    }
    with auth.db() as conn:
        conn.execute(
            "update auth.refresh_tokens set updated_at = now() - interval '11 seconds' "
            "where token = %s",
            (third,),
        )
    # The whole family was revoked: the newest token no longer works either.
    assert refresh(auth, third).json()["code"] == "refresh_token_already_used"


def test_a_session_idle_past_the_inactivity_timeout_cannot_be_refreshed(
    auth: AuthTarget,
) -> None:
    user = auth.new_user()
    tokens = sign_in(auth, user["email"], TEST_PASSWORD)
    session_id = claims(tokens["access_token"])["session_id"]
    active = refresh(auth, tokens["refresh_token"])
    assert active.status_code == 200
    with auth.db() as conn:
        conn.execute(
            "update auth.sessions set created_at = created_at - interval '16 minutes', "
            "refreshed_at = refreshed_at - interval '16 minutes' where id = %s",
            (session_id,),
        )
        conn.execute(
            "update auth.refresh_tokens set updated_at = updated_at - interval '16 minutes', "
            "created_at = created_at - interval '16 minutes' where session_id = %s",
            (session_id,),
        )
    expired = refresh(auth, active.json()["refresh_token"])
    assert expired.status_code == 400
    assert expired.json()["code"] == "session_expired"


def test_an_unknown_refresh_token_is_refused(auth: AuthTarget) -> None:
    response = refresh(auth, "no-such-token")
    assert response.status_code == 400
    assert response.json()["code"] == "refresh_token_not_found"


def test_signup_with_email_and_password_returns_a_session(auth: AuthTarget) -> None:
    email = f"auth-signup-{time.time_ns()}@example.test"
    response = auth.client().auth.sign_up(
        {"email": email, "password": TEST_PASSWORD, "options": {"data": {"full_name": "New"}}}
    )
    assert response.user is not None
    auth.forget(response.user.id)
    assert response.session is not None
    assert response.user.user_metadata["full_name"] == "New"
    assert claims(response.session.access_token)["email"] == email
    with auth.http() as http:
        again = http.post(
            "/signup", json={"email": email, "password": TEST_PASSWORD}, headers=API_VERSION
        )
    assert again.status_code == 422
    assert again.json()["code"] == "user_already_exists"


def test_settings_and_health_answer(auth: AuthTarget) -> None:
    with auth.http() as http:
        settings = http.get("/settings")
        health = http.get("/health")
    assert settings.status_code == 200
    assert settings.json()["external"]["email"] is True
    assert settings.json()["mailer_autoconfirm"] is True
    assert health.status_code == 200
    assert health.json()["name"] == "GoTrue"


def test_unimplemented_endpoints_say_so_in_the_error_format(auth: AuthTarget) -> None:
    with auth.http() as http:
        legacy = http.post("/otp", json={"phone": "+919876500001"})
        current = http.post("/magiclink", json={"email": "x@example.test"}, headers=API_VERSION)
    assert legacy.status_code == 501
    assert legacy.json()["code"] == 501
    assert legacy.json()["error_code"] == "not_implemented"
    assert current.status_code == 501
    assert current.json()["code"] == "not_implemented"


def test_an_unsupported_grant_type_is_refused(auth: AuthTarget) -> None:
    with auth.http() as http:
        response = http.post("/token", params={"grant_type": "magic"}, json={})
    assert response.status_code == 400
    assert response.json()["msg"] == "unsupported_grant_type"


# Raw JSON: "\u0000" (NUL) and "\ud800" (half a surrogate pair) are valid JSON escapes that
# Postgres text cannot store (and a lone surrogate cannot even be UTF-8 encoded).
UNSTORABLE_INPUT = [
    ("password", '{"email": "nul\\u0000@example.test", "password": "Test#Passw0rd"}'),
    ("password", '{"email": "half\\ud800@example.test", "password": "Test#Passw0rd"}'),
    ("password", '{"phone": "+9198\\u000012345", "password": "Test#Passw0rd"}'),
    ("password", '{"email": "' + DEMO_DOCTOR + '", "password": "Carebase\\u00002026"}'),
    ("password", '{"email": "' + DEMO_DOCTOR + '", "password": "Carebase#2026\\udfff"}'),
    ("refresh_token", '{"refresh_token": "abc\\u0000def"}'),
    ("refresh_token", '{"refresh_token": "abc\\udc00def"}'),
]


@pytest.mark.parametrize(("grant_type", "raw_body"), UNSTORABLE_INPUT)
def test_text_postgres_cannot_store_is_a_validation_error_in_both_error_formats(
    auth: AuthTarget, grant_type: str, raw_body: str
) -> None:
    json_body = {"Content-Type": "application/json"}
    with auth.http() as http:
        legacy = http.post(
            "/token", params={"grant_type": grant_type}, content=raw_body, headers=json_body
        )
        current = http.post(
            "/token",
            params={"grant_type": grant_type},
            content=raw_body,
            headers={**json_body, **API_VERSION},
        )
    assert legacy.status_code == 400, legacy.text
    assert legacy.json()["code"] == 400
    assert legacy.json()["error_code"] == "validation_failed"
    assert legacy.json()["msg"]
    assert current.status_code == 400, current.text
    assert current.json()["code"] == "validation_failed"
    assert current.json()["message"]


def test_signup_with_unstorable_text_creates_nobody(auth: AuthTarget) -> None:
    email = f"auth-signup-nul-{time.time_ns()}@example.test"
    bodies = [
        '{"email": "' + email + '\\u0000", "password": "Test#Passw0rd"}',
        '{"email": "' + email + '", "password": "Test#Passw0rd", "data": {"city": "Nab\\u0000ha"}}',
        '{"email": "' + email + '", "password": "Test#Passw0rd", "data": {"ci\\ud800ty": "x"}}',
    ]
    with auth.http() as http:
        responses = [
            http.post(
                "/signup",
                content=body,
                headers={"Content-Type": "application/json", **API_VERSION},
            )
            for body in bodies
        ]
    for response in responses:
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "validation_failed"
    with auth.db() as conn:
        row = conn.execute(
            "select count(*) from auth.users where email like %s", (email + "%",)
        ).fetchone()
    assert row == (0,)


def test_a_body_nested_too_deeply_is_bad_json(auth: AuthTarget) -> None:
    with auth.http() as http:
        response = http.post(
            "/signup",
            content="[" * 200_000,
            headers={"Content-Type": "application/json", **API_VERSION},
        )
    assert response.status_code == 400
    assert response.json()["code"] == "bad_json"
