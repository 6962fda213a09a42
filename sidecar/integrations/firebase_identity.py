"""Firebase phone sign-in over Identity Toolkit's REST API, for clients without the Firebase SDK.

`accounts:sendVerificationCode` texts a code and answers a session info;
`accounts:signInWithPhoneNumber` trades session info + code for a Firebase ID token. The base
URL is Google's, or the Auth emulator's (`http://<host>/identitytoolkit.googleapis.com`).
"""

from __future__ import annotations

from typing import Any

import httpx

from sidecar.errors import ApiError

# Identity Toolkit's error messages ("CODE : detail") → the sidecar's status and code.
_REFUSALS = {
    "INVALID_PHONE_NUMBER": (422, "invalid_phone", "the phone number is not valid"),
    "MISSING_PHONE_NUMBER": (422, "invalid_phone", "the phone number is missing"),
    "INVALID_CODE": (401, "invalid_code", "the code is wrong"),
    "MISSING_CODE": (422, "invalid_code", "the code is missing"),
    "CODE_EXPIRED": (401, "code_expired", "the code has expired; ask for a new one"),
    "SESSION_EXPIRED": (401, "session_expired", "the code has expired; ask for a new one"),
    "INVALID_SESSION_INFO": (
        401,
        "invalid_session",
        "this sign-in session is unknown or already used; ask for a new code",
    ),
    "MISSING_SESSION_INFO": (422, "invalid_session", "the session info is missing"),
    "TOO_MANY_ATTEMPTS_TRY_LATER": (429, "rate_limited", "too many attempts; try again later"),
    "QUOTA_EXCEEDED": (429, "rate_limited", "too many codes sent; try again later"),
    "CAPTCHA_CHECK_FAILED": (422, "app_verification_failed", "the app verification failed"),
    "INVALID_APP_CREDENTIAL": (422, "app_verification_failed", "the app verification failed"),
    "MISSING_APP_CREDENTIAL": (
        422,
        "app_verification_failed",
        "Firebase asks for app verification (reCAPTCHA token) to send a code",
    ),
}


class IdentityToolkit:
    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key

    async def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.http.post(
                f"{self.base_url}/v1/accounts:{method}", params={"key": self.api_key}, json=body
            )
        except httpx.TransportError as error:
            raise ApiError(503, "firebase_unavailable", "Firebase Auth does not answer") from error
        answer = response.json() if response.content else {}
        if response.is_success:
            return answer
        message = str((answer.get("error") or {}).get("message") or "")
        reason = message.split(" : ", 1)[0].strip()
        status, code, text = _REFUSALS.get(
            reason,
            (502, "firebase_error", f"Firebase Auth refused: {message or response.status_code}"),
        )
        raise ApiError(status, code, text)

    async def send_verification_code(self, phone: str, recaptcha_token: str | None) -> str:
        """Texts a code to the phone; returns the session info that the code goes with."""
        body = {"phoneNumber": phone}
        if recaptcha_token:
            body["recaptchaToken"] = recaptcha_token
        answer = await self._call("sendVerificationCode", body)
        return str(answer["sessionInfo"])

    async def sign_in_with_phone_number(self, session_info: str, code: str) -> str:
        """The Firebase ID token of the phone's account, when the code is right."""
        answer = await self._call(
            "signInWithPhoneNumber", {"sessionInfo": session_info, "code": code}
        )
        return str(answer["idToken"])
