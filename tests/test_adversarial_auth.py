"""Attacks on sign-in, sessions and the gateway, made over HTTP as an attacker would make them
(issue 10, findings 8, 9 and the auth/gateway side channels of 12). Each test signs in or
looks like a stranger, attacks, and asserts what the attacker sees and what the victim keeps.
"""

from __future__ import annotations

import httpx

from tests.auth_target import (
    API_VERSION,
    TEST_PASSWORD,
    AuthTarget,
    refresh,
    sign_in,
)

pytest_plugins = ["tests.auth_target"]

WRONG_PASSWORD = "Wrong#Passw0rd"
STAFF_LOGIN = "/api/v1/auth/staff/login"


def password_grant(target: AuthTarget, email: str, password: str, **headers: str) -> httpx.Response:
    with target.http() as http:
        return http.post(
            "/token",
            params={"grant_type": "password"},
            json={"email": email, "password": password},
            headers=headers,
        )


def age_rotation(target: AuthTarget, token: str, seconds: int = 11) -> None:
    """Move a refresh token's last rotation past the reuse interval (10 s)."""
    with target.db() as conn:
        conn.execute(
            "update auth.refresh_tokens set updated_at = now() - make_interval(secs => %s) "
            "where token = %s",
            (seconds, token),
        )


def lock_out(target: AuthTarget, email: str) -> list[httpx.Response]:
    """What a stranger does to lock an account: five wrong passwords."""
    return [
        password_grant(target, email, f"Stranger#{attempt}aA", **API_VERSION)
        for attempt in range(5)
    ]


# -- finding 8: refresh-token reuse ends the whole session -----------------------------------


def test_a_reused_refresh_token_ends_the_session_for_its_newest_token_too(
    auth: AuthTarget,
) -> None:
    """A thief replays a token the victim already rotated: the session is revoked, and the
    newest token (the one the thief may also hold) no longer refreshes, not even within the
    10 s reuse interval, nor does anything it could have produced."""
    user = auth.new_user()
    first = sign_in(auth, user["email"], TEST_PASSWORD)["refresh_token"]
    second = refresh(auth, first).json()["refresh_token"]
    newest = refresh(auth, second).json()["refresh_token"]
    age_rotation(auth, first)

    replayed = refresh(auth, first)
    assert replayed.status_code == 400
    assert replayed.json()["code"] == "refresh_token_already_used"

    for token in (newest, second, first):
        answer = refresh(auth, token)
        assert answer.status_code == 400, f"{token} still refreshes: {answer.text}"
        assert answer.json()["code"] == "refresh_token_already_used"
    with auth.db() as conn:
        alive = conn.execute(
            "select count(*) from auth.refresh_tokens as t join auth.users as u "
            "on u.id::text = t.user_id where u.email = %s and not t.revoked",
            (user["email"],),
        ).fetchone()
    assert alive == (0,)


def test_a_concurrent_refresh_within_the_reuse_interval_still_works(auth: AuthTarget) -> None:
    """What the reuse interval is for (two tabs refreshing at once) keeps working."""
    user = auth.new_user()
    first = sign_in(auth, user["email"], TEST_PASSWORD)["refresh_token"]
    second = refresh(auth, first).json()["refresh_token"]
    refresh(auth, second)
    late = refresh(auth, first)  # rotated moments ago, not the newest token's parent
    assert late.status_code == 200, late.text
