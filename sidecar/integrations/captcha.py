"""Captcha verification for public forms: the siteverify protocol Cloudflare Turnstile, hCaptcha
and Google reCAPTCHA share.

`POST {verify_url}` form-encoded `secret`, `response` (the token the widget gave the browser) and
`remoteip`; the answer is JSON with `success` (and `error-codes`). Which service is used is only
its verify URL and secret.
"""

from __future__ import annotations

import httpx


class CaptchaUnavailable(Exception):
    """The verification service did not answer usably: nothing can be said about the token."""


class CaptchaVerifier:
    def __init__(
        self, verify_url: str, secret: str, http: httpx.AsyncClient, timeout: float
    ) -> None:
        self.verify_url = verify_url
        self.secret = secret
        self.http = http
        self.timeout = timeout

    async def passed(self, token: str, remote_ip: str) -> bool:
        """Whether the service vouches for the token (given to this client address)."""
        form = {"secret": self.secret, "response": token, "remoteip": remote_ip}
        try:
            response = await self.http.post(self.verify_url, data=form, timeout=self.timeout)
            answer = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as error:
            raise CaptchaUnavailable(type(error).__name__) from error
        if not isinstance(answer, dict):
            raise CaptchaUnavailable(f"status {response.status_code}")
        return answer.get("success") is True
