"""TOTP MFA: enroll, challenge, verify (aal2), unenroll, through the official client."""

from __future__ import annotations

import pyotp
import pytest
from supabase import AuthApiError, Client

from tests.auth_target import API_VERSION, TEST_PASSWORD, AuthTarget, claims

pytest_plugins = ["tests.auth_target"]


def _signed_in(auth: AuthTarget) -> tuple[Client, dict]:
    user = auth.new_user()
    client = auth.client()
    client.auth.sign_in_with_password({"email": user["email"], "password": TEST_PASSWORD})
    return client, user


def test_enrolling_and_verifying_totp_lifts_the_session_to_aal2(auth: AuthTarget) -> None:
    client, user = _signed_in(auth)
    before = client.auth.get_session()
    assert before is not None
    enrolled = client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "phone"})
    assert enrolled.type == "totp"
    assert enrolled.totp is not None
    assert enrolled.totp.qr_code.startswith("data:image/svg+xml;utf-8,<svg")
    assert enrolled.totp.uri.startswith("otpauth://totp/")
    assert f"secret={enrolled.totp.secret}" in enrolled.totp.uri

    challenge = client.auth.mfa.challenge({"factor_id": enrolled.id})
    assert challenge.expires_at > 0
    verified = client.auth.mfa.verify(
        {
            "factor_id": enrolled.id,
            "challenge_id": challenge.id,
            "code": pyotp.TOTP(enrolled.totp.secret).now(),
        }
    )
    token = claims(verified.access_token)
    assert token["aal"] == "aal2"
    assert {entry["method"] for entry in token["amr"]} == {"password", "totp"}
    assert token["session_id"] == claims(before.access_token)["session_id"]
    assert verified.refresh_token != before.refresh_token

    factors = client.auth.mfa.list_factors()
    assert [(f.id, f.status) for f in factors.totp] == [(enrolled.id, "verified")]
    level = client.auth.mfa.get_authenticator_assurance_level()
    assert (level.current_level, level.next_level) == ("aal2", "aal2")
    # A refreshed token stays aal2.
    refreshed = client.auth.refresh_session()
    assert refreshed.session is not None
    assert claims(refreshed.session.access_token)["aal"] == "aal2"
    assert user["id"] == token["sub"]


def test_a_wrong_code_is_refused(auth: AuthTarget) -> None:
    client, _ = _signed_in(auth)
    enrolled = client.auth.mfa.enroll({"factor_type": "totp"})
    challenge = client.auth.mfa.challenge({"factor_id": enrolled.id})
    assert enrolled.totp is not None
    wrong = "000000" if pyotp.TOTP(enrolled.totp.secret).now() != "000000" else "111111"
    with pytest.raises(AuthApiError) as error:
        client.auth.mfa.verify(
            {"factor_id": enrolled.id, "challenge_id": challenge.id, "code": wrong}
        )
    assert error.value.status == 422
    assert error.value.code == "mfa_verification_failed"


def test_unenrolling_a_verified_factor_needs_aal2(auth: AuthTarget) -> None:
    client, user = _signed_in(auth)
    enrolled = client.auth.mfa.enroll({"factor_type": "totp"})
    assert enrolled.totp is not None
    client.auth.mfa.challenge_and_verify(
        {"factor_id": enrolled.id, "code": pyotp.TOTP(enrolled.totp.secret).now()}
    )
    # A fresh password sign-in is only aal1: it may not remove the factor.
    weak = auth.client()
    weak.auth.sign_in_with_password({"email": user["email"], "password": TEST_PASSWORD})
    with pytest.raises(AuthApiError) as error:
        weak.auth.mfa.unenroll({"factor_id": enrolled.id})
    assert error.value.code == "insufficient_aal"

    removed = client.auth.mfa.unenroll({"factor_id": enrolled.id})
    assert removed.id == enrolled.id
    assert client.auth.mfa.list_factors().all == []


def test_factors_of_other_users_are_not_found(auth: AuthTarget) -> None:
    owner, _ = _signed_in(auth)
    enrolled = owner.auth.mfa.enroll({"factor_type": "totp"})
    stranger, _ = _signed_in(auth)
    session = stranger.auth.get_session()
    assert session is not None
    with auth.http() as http:
        response = http.post(
            f"/factors/{enrolled.id}/challenge",
            headers={**API_VERSION, "Authorization": f"Bearer {session.access_token}"},
        )
    assert response.status_code == 404
    assert response.json()["code"] == "mfa_factor_not_found"
