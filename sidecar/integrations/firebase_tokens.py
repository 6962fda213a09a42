"""Verifying a Firebase ID token with firebase-admin: whose phone did Firebase just prove?

firebase-admin checks the signature (Google's public keys), expiry, issuer and audience
against our project id, then asks Firebase whether the account is disabled or its tokens were
revoked since (a lost phone): the Supabase session made from the token outlives it, so this is
the last moment to refuse. That look-up uses the service account (application default
credentials). With FIREBASE_AUTH_EMULATOR_HOST set firebase-admin accepts the emulator's
unsigned tokens and skips the expiry check, so that mode is refused unless the project is a
`demo-` one (a production deployment with a stray emulator variable must not accept forged
tokens), and expiry is checked here as well.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import firebase_admin
import jwt
from firebase_admin import auth, exceptions
from google.auth.exceptions import DefaultCredentialsError

from sidecar.errors import ApiError

CLOCK_SKEW_SECONDS = 10


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
            # Blocking: the first call of a key period fetches Google's certificates, and the
            # revocation check reads the account.
            claims: dict[str, Any] = await asyncio.to_thread(
                auth.verify_id_token,
                id_token,
                app=self.app,
                check_revoked=True,
                clock_skew_seconds=CLOCK_SKEW_SECONDS,
            )
        except auth.ExpiredIdTokenError as error:
            raise _expired() from error
        except auth.RevokedIdTokenError as error:
            raise ApiError(
                401, "id_token_revoked", "the Firebase ID token was revoked; sign in again"
            ) from error
        except auth.UserDisabledError as error:
            raise ApiError(403, "account_disabled", "this Firebase account is disabled") from error
        except auth.UserNotFoundError as error:
            raise ApiError(
                401, "invalid_id_token", "the Firebase account of this ID token no longer exists"
            ) from error
        except (auth.InvalidIdTokenError, ValueError) as error:
            if other := self._wrong_project(id_token):
                raise ApiError(
                    401,
                    "id_token_wrong_project",
                    f"the Firebase ID token is for project {other!r}, not this one",
                ) from error
            raise ApiError(401, "invalid_id_token", "the Firebase ID token is not valid") from error
        except DefaultCredentialsError as error:
            raise ApiError(
                503,
                "firebase_misconfigured",
                "no Google credentials to check the Firebase account with",
            ) from error
        except (auth.CertificateFetchError, exceptions.FirebaseError) as error:
            raise ApiError(
                503, "firebase_unavailable", "Firebase Auth cannot be reached"
            ) from error
        # The emulator's tokens are not checked for expiry by firebase-admin.
        if float(claims.get("exp") or 0) + CLOCK_SKEW_SECONDS < time.time():
            raise _expired()
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


def _expired() -> ApiError:
    return ApiError(401, "id_token_expired", "the Firebase ID token has expired")


@lru_cache
def token_verifier(project_id: str) -> FirebaseTokenVerifier:
    return FirebaseTokenVerifier(project_id)
