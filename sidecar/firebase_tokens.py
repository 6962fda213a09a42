"""Verifying a Firebase ID token with firebase-admin: whose phone did Firebase just prove?

firebase-admin checks the signature (Google's public keys), expiry, issuer and audience
against our project id. With FIREBASE_AUTH_EMULATOR_HOST set it accepts the emulator's
unsigned tokens, so that mode is refused unless the project is a `demo-` one: a production
deployment with a stray emulator variable must not accept forged tokens.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import firebase_admin
import jwt
from firebase_admin import auth

from sidecar.errors import ApiError


@dataclass(frozen=True)
class PhoneIdentity:
    firebase_uid: str
    phone: str  # E.164
    name: str | None


class FirebaseTokenVerifier:
    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        name = f"carebase-patient-login:{project_id}"
        try:
            self.app = firebase_admin.get_app(name)
        except ValueError:
            self.app = firebase_admin.initialize_app(options={"projectId": project_id}, name=name)

    def _refuse_unsigned_outside_demo(self) -> None:
        if os.environ.get("FIREBASE_AUTH_EMULATOR_HOST") and not self.project_id.startswith(
            "demo-"
        ):
            raise ApiError(
                503,
                "firebase_misconfigured",
                "the Firebase Auth emulator is configured for a non-demo project",
            )

    def _wrong_project(self, token: str) -> str | None:
        try:
            audience = jwt.decode(token, options={"verify_signature": False}).get("aud")
        except jwt.PyJWTError:
            return None
        return audience if audience and audience != self.project_id else None

    async def verify(self, id_token: str) -> PhoneIdentity:
        self._refuse_unsigned_outside_demo()
        try:
            # Blocking: the first call of a key period fetches Google's certificates.
            claims: dict[str, Any] = await asyncio.to_thread(
                auth.verify_id_token, id_token, app=self.app, clock_skew_seconds=10
            )
        except auth.ExpiredIdTokenError as error:
            raise ApiError(401, "id_token_expired", "the Firebase ID token has expired") from error
        except auth.CertificateFetchError as error:
            raise ApiError(
                503, "firebase_unavailable", "Firebase's signing keys cannot be fetched"
            ) from error
        except (auth.InvalidIdTokenError, ValueError) as error:
            if other := self._wrong_project(id_token):
                raise ApiError(
                    401,
                    "id_token_wrong_project",
                    f"the Firebase ID token is for project {other!r}, not this one",
                ) from error
            raise ApiError(401, "invalid_id_token", "the Firebase ID token is not valid") from error
        phone = claims.get("phone_number")
        provider = (claims.get("firebase") or {}).get("sign_in_provider")
        # Only a phone sign-in proves the phone now; another provider's account may carry a
        # number that an admin set without a code.
        if not phone or provider != "phone":
            raise ApiError(
                422,
                "phone_sign_in_required",
                "the Firebase ID token does not come from a phone number sign-in",
            )
        return PhoneIdentity(firebase_uid=str(claims["uid"]), phone=phone, name=claims.get("name"))


@lru_cache
def token_verifier(project_id: str) -> FirebaseTokenVerifier:
    return FirebaseTokenVerifier(project_id)
