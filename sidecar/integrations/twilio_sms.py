"""SMS and WhatsApp through Twilio's Messages API.

`POST {base}/2010-04-01/Accounts/{sid}/Messages.json`, form-encoded To/From/Body, HTTP basic
auth with the account SID and auth token. Errors come back as `{"code", "message",
"more_info", "status"}`; the code says whether trying again can help. WhatsApp is the same
API with `whatsapp:+91...` numbers (a client made with the WhatsApp sender); an approved
template goes as `ContentSid` + `ContentVariables` (JSON) instead of a Body.
`StatusCallback` is the URL Twilio posts the message's status changes to.
"""

from __future__ import annotations

import httpx

from sidecar.integrations.outcomes import permanent, transient

# Twilio error codes about the recipient or the message itself: the same send fails again.
_PERMANENT_CODES = {
    21211,  # invalid 'To' number
    21408,  # no permission to send to that region
    21610,  # the recipient replied STOP
    21612,  # 'To' cannot be reached from 'From'
    21614,  # 'To' is not a mobile number
    21617,  # body too long
    63016,  # WhatsApp: outside the 24-hour window, free-form text is not allowed
}


class TwilioSms:
    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_number: str,
        http: httpx.AsyncClient,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = httpx.BasicAuth(account_sid, auth_token)
        self.from_number = from_number
        self.http = http

    async def send(
        self,
        to: str,
        body: str,
        *,
        content_sid: str | None = None,
        content_variables: str | None = None,
        status_callback: str | None = None,
    ) -> str:
        """Sends one message (the template `content_sid` instead of `body` when given);
        returns Twilio's message SID."""
        form = {"To": to, "From": self.from_number}
        if content_sid:
            form["ContentSid"] = content_sid
            if content_variables:
                form["ContentVariables"] = content_variables
        else:
            form["Body"] = body
        if status_callback:
            form["StatusCallback"] = status_callback
        try:
            response = await self.http.post(self.url, data=form, auth=self.auth)
        except httpx.HTTPError as error:
            raise transient(f"twilio unreachable: {type(error).__name__}") from error
        if response.status_code in (200, 201):
            return str(response.json().get("sid", ""))
        try:
            error = response.json()
        except ValueError:
            error = {}
        code = error.get("code")
        described = f"twilio {response.status_code} {code}: {error.get('message', '')}".strip()
        if response.status_code == 429 or response.status_code >= 500:
            raise transient(described)
        if response.status_code in (401, 403) and code not in _PERMANENT_CODES:
            # Our credentials: an operator fixes them, then the retry goes out.
            raise transient(described)
        raise permanent(described)
