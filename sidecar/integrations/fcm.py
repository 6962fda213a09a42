"""Push through Firebase Cloud Messaging's HTTP v1 API.

`POST {base}/v1/projects/{project}/messages:send` with a bearer OAuth token. firebase-admin's
own `messaging.send` cannot be pointed at another host (its URL is a class constant), so this
module speaks the same wire format with httpx, which lets tests drive it against a local fake
(FCM has no emulator). The OAuth token still comes from firebase-admin's credentials.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC
from typing import Any

import httpx
from firebase_admin import credentials
from google.auth.exceptions import GoogleAuthError

from sidecar.integrations.outcomes import DeliveryFailed, permanent, transient


class UnregisteredToken(DeliveryFailed):
    """The device token is gone (app uninstalled) or was never valid: forget it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class AccessToken:
    """A fixed token (tests, or one minted elsewhere), or one minted from a service account."""

    def __init__(self, fixed: str = "", credentials_file: str = "") -> None:
        self.fixed = fixed
        self.certificate = credentials.Certificate(credentials_file) if credentials_file else None
        self.token = ""
        self.expires_at = 0.0
        # Sends of one batch ask at once: one of them mints, the others wait for its token.
        self.minting = asyncio.Lock()

    async def get(self) -> str:
        if self.fixed or self.certificate is None:
            return self.fixed
        async with self.minting:
            return await self._current()

    async def _current(self) -> str:
        if time.time() > self.expires_at - 60:
            # google-auth refreshes synchronously; keep the event loop free.
            info = await asyncio.to_thread(self.certificate.get_access_token)
            self.token = info.access_token
            # google-auth's expiry is a naive datetime in UTC.
            expiry = info.expiry.replace(tzinfo=UTC) if info.expiry else None
            self.expires_at = expiry.timestamp() if expiry else time.time() + 300
        return self.token


def _fcm_error_code(response: httpx.Response) -> tuple[str, str]:
    """(FcmError errorCode or the status, message) from a Google API error body."""
    try:
        error: dict[str, Any] = response.json().get("error", {})
    except ValueError:
        return str(response.status_code), response.text[:200]
    code = error.get("status", str(response.status_code))
    for detail in error.get("details") or []:
        if str(detail.get("@type", "")).endswith("google.firebase.fcm.v1.FcmError"):
            code = detail.get("errorCode", code)
    return code, error.get("message", "")


class FcmClient:
    def __init__(
        self, base_url: str, project_id: str, token: AccessToken, http: httpx.AsyncClient
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self.token = token
        self.http = http

    async def send(self, device_token: str, title: str, body: str, data: dict[str, str]) -> str:
        """Sends one message to one device; returns FCM's message name."""
        message = {
            "token": device_token,
            "notification": {"title": title, "body": body},
            "data": data,
            "android": {"priority": "high"},
        }
        try:
            headers = {"Authorization": f"Bearer {await self.token.get()}"}
        except GoogleAuthError as error:
            # Google's token endpoint is down or refuses our key: retry once it is fixed.
            raise transient(f"fcm oauth token: {error}") from error
        try:
            response = await self.http.post(self.url, json={"message": message}, headers=headers)
        except httpx.HTTPError as error:
            raise transient(f"fcm unreachable: {type(error).__name__}") from error
        if response.status_code == 200:
            return str(response.json().get("name", ""))
        code, text = _fcm_error_code(response)
        described = f"fcm {response.status_code} {code}: {text}".strip()
        if code == "UNREGISTERED" or (response.status_code == 400 and code == "INVALID_ARGUMENT"):
            # FCM's INVALID_ARGUMENT on a well-formed message means the token is not one.
            raise UnregisteredToken(described)
        if response.status_code == 429 or response.status_code >= 500:
            raise transient(described)
        if response.status_code in (401, 403):
            # Our credentials or project: an operator fixes them, then the retry goes out.
            raise transient(described)
        raise permanent(described)
