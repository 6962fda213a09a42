"""The Supabase Auth API the tests/test_auth_*.py suites run against, and helpers for them.

The base URL comes from CAREBASE_TEST_API_URL (e.g. a `supabase start` stack); without it the
suites use the devstack gateway (conftest's `gateway` fixture). Users the tests need are
created through the admin API with unique emails and deleted at the end, so the demo data is
left as it was.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import psycopg
import pyotp
import pytest
from supabase import Client, ClientOptions, create_client

from devstack.config import Settings

TEST_PASSWORD = "Test#Passw0rd"
DEMO_PASSWORD = "Carebase#2026"
# The demo staff logins' TOTP secret (supabase/seed.sql, README "Demo logins").
DEMO_TOTP_SECRET = "CAREBASEDEMOSTAFFTOTPNABHA234567"
DEMO_ADMIN = "admin@nabha.carebase.test"
DEMO_DOCTOR = "dr.sandhu@nabha.carebase.test"
NABHA_HOSPITAL = "10000000-0000-4000-8000-000000000001"
API_VERSION = {"X-Supabase-Api-Version": "2024-01-01"}


@dataclass
class AuthTarget:
    url: str
    settings: Settings
    created_user_ids: list[str] = field(default_factory=list)

    @property
    def auth_url(self) -> str:
        return f"{self.url}/auth/v1"

    def http(self, key: str | None = None) -> httpx.Client:
        """Raw HTTP on /auth/v1 with an API key (anon by default) and no API version."""
        return httpx.Client(
            base_url=self.auth_url, headers={"apikey": key or self.settings.anon_key}, timeout=30
        )

    def service_http(self) -> httpx.Client:
        return self.http(self.settings.service_role_key)

    def client(self) -> Client:
        """The official client, as an app would hold it (anon key)."""
        return create_client(
            self.url,
            self.settings.anon_key,
            ClientOptions(auto_refresh_token=False, persist_session=True),
        )

    def admin(self) -> Client:
        return create_client(
            self.url,
            self.settings.service_role_key,
            ClientOptions(auto_refresh_token=False, persist_session=False),
        )

    def new_user(self, password: str = TEST_PASSWORD, **attributes: Any) -> dict[str, Any]:
        """A confirmed email user of the test's own, deleted when the suite ends."""
        body = {
            "email": f"auth-test-{uuid.uuid4().hex[:12]}@example.test",
            "password": password,
            "email_confirm": True,
            **attributes,
        }
        with self.service_http() as http:
            response = http.post("/admin/users", json=body)
        assert response.status_code == 200, response.text
        user = response.json()
        self.created_user_ids.append(user["id"])
        return user

    def forget(self, user_id: str) -> None:
        self.created_user_ids.append(user_id)

    def delete_created_users(self) -> None:
        with self.service_http() as http:
            for user_id in self.created_user_ids:
                http.delete(f"/admin/users/{user_id}")
        self.created_user_ids.clear()

    def db(self) -> psycopg.Connection:
        """The database as `postgres` (autocommit), to age sessions and tokens."""
        return psycopg.connect(self.settings.dsn(), autocommit=True)


def claims(access_token: str) -> dict[str, Any]:
    return jwt.decode(access_token, options={"verify_signature": False})


def sign_in(target: AuthTarget, email: str, password: str) -> dict[str, Any]:
    with target.http() as http:
        response = http.post(
            "/token", params={"grant_type": "password"}, json={"email": email, "password": password}
        )
    assert response.status_code == 200, response.text
    return response.json()


def step_up(target: AuthTarget, access_token: str, totp_secret: str) -> dict[str, Any]:
    """Lifts a session to aal2 as a client does: its verified TOTP factor (GET /user), a
    challenge, then the code. Returns the new session (access token with aal2)."""
    headers = {"Authorization": f"Bearer {access_token}"}
    with target.http() as http:
        user = http.get("/user", headers=headers)
        assert user.status_code == 200, user.text
        [factor_id] = [
            f["id"]
            for f in user.json().get("factors", [])
            if f["factor_type"] == "totp" and f["status"] == "verified"
        ]
        challenge = http.post(f"/factors/{factor_id}/challenge", headers=headers)
        assert challenge.status_code == 200, challenge.text
        verified = http.post(
            f"/factors/{factor_id}/verify",
            headers=headers,
            json={"challenge_id": challenge.json()["id"], "code": pyotp.TOTP(totp_secret).now()},
        )
    assert verified.status_code == 200, verified.text
    session = verified.json()
    assert claims(session["access_token"])["aal"] == "aal2"
    return session


def sign_in_at_aal2(
    target: AuthTarget,
    email: str,
    password: str = DEMO_PASSWORD,
    totp_secret: str = DEMO_TOTP_SECRET,
) -> dict[str, Any]:
    """A staff sign-in as staff must do it to read clinical records: password, then TOTP."""
    return step_up(target, sign_in(target, email, password)["access_token"], totp_secret)


def refresh(target: AuthTarget, refresh_token: str) -> httpx.Response:
    with target.http() as http:
        return http.post(
            "/token",
            params={"grant_type": "refresh_token"},
            json={"refresh_token": refresh_token},
            headers=API_VERSION,
        )


@pytest.fixture(scope="session")
def auth(request: pytest.FixtureRequest) -> Iterator[AuthTarget]:
    """The Supabase Auth API under test, for the whole run (see the module's docstring)."""
    url = os.environ.get("CAREBASE_TEST_API_URL", "").rstrip("/")
    target = AuthTarget(url or request.getfixturevalue("gateway"), Settings.from_env())
    yield target
    target.delete_created_users()
