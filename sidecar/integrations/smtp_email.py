"""Email over SMTP, which Amazon SES, SendGrid and any mail relay accept.

One message per connection: connect (implicit TLS on `ssl`, else plain and then STARTTLS on
`starttls`), log in when a username is set, send, quit. smtplib blocks, so each send runs in
a worker thread. A 5xx reply about the recipient or the message is permanent (the same send
fails again); a 4xx, a lost connection or refused credentials (an operator fixes them) are
worth retrying. The returned id is the message's Message-ID. An email may carry attachments
(a calendar invitation: text/calendar with its iTIP method, after the plain-text body).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from sidecar.integrations.outcomes import permanent, transient

TLS_MODES = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class Attachment:
    """A file attached to an email: its name, MIME type, type parameters and bytes."""

    filename: str
    maintype: str
    subtype: str
    data: bytes
    params: dict[str, str] = field(default_factory=dict)


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str = "",
        password: str = "",
        tls: str = "starttls",
        sender_name: str = "",
        timeout: float = 10.0,
    ) -> None:
        if tls not in TLS_MODES:
            raise ValueError(f"SMTP TLS mode is one of {', '.join(TLS_MODES)}, not {tls!r}")
        self.host = host
        self.port = port
        self.sender = sender
        self.sender_name = sender_name
        self.username = username
        self.password = password
        self.tls = tls
        self.timeout = timeout

    def _message(
        self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = (
            formataddr((self.sender_name, self.sender)) if self.sender_name else self.sender
        )
        message["To"] = to
        message["Subject"] = subject
        domain = self.sender.rpartition("@")[2] or None
        message["Message-ID"] = make_msgid(domain=domain)
        message.set_content(body)
        for attachment in attachments:
            message.add_attachment(
                attachment.data,
                maintype=attachment.maintype,
                subtype=attachment.subtype,
                filename=attachment.filename,
                params=attachment.params,
            )
        return message

    def _send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        if self.tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.tls == "starttls":
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password)
            client.send_message(message)

    async def send(
        self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()
    ) -> str:
        """Sends one plain-text email (with its attachments); returns its Message-ID."""
        message = self._message(to, subject, body, attachments)
        try:
            await asyncio.to_thread(self._send, message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            described = f"smtp refused the recipient: {error.recipients}"
            raise (permanent if any(c >= 500 for c in codes) else transient)(described) from error
        except smtplib.SMTPAuthenticationError as error:
            raise transient(f"smtp login refused ({error.smtp_code})") from error
        except smtplib.SMTPResponseException as error:
            described = f"smtp {error.smtp_code}: {error.smtp_error!r}"
            raise (permanent if error.smtp_code >= 500 else transient)(described) from error
        except (smtplib.SMTPException, OSError) as error:
            raise transient(f"smtp unreachable: {type(error).__name__}: {error}") from error
        return str(message["Message-ID"])
