"""The notification worker: claim due outbox rows, send each through its channel, report back.

Run by the sidecar's worker process (`carebase worker`, `python -m sidecar.jobs.worker`).
Every database call is a named RPC made with the service role through the Supabase API:
`claim_notifications` leases rows (`for update skip locked`, so any number of workers can
run), `complete_notification` and `fail_notification` settle them (backoff and dead letters
are the database's rules), `forget_device_token` drops tokens FCM says are gone. A worker
that dies holding rows loses them when their lease ends; another worker sends them then.
Messages to patients (public.messages, kind `message`) ride the same rows: SMS and WhatsApp
through Twilio's Messages API (a WhatsApp template outside the 24-hour window as its Content
SID), email over SMTP; the database settles the message with its row. An appointment's
email (confirmation, move, cancellation) carries its calendar invitation, built here from
`message_calendar` (sidecar/messaging/ics.py) when it is sent.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from sidecar.integrations.fcm import AccessToken, FcmClient, UnregisteredToken
from sidecar.integrations.outcomes import DeliveryFailed, permanent, transient
from sidecar.integrations.smtp_email import Attachment, SmtpMailer
from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.integrations.twilio_sms import TwilioSms
from sidecar.jobs.polling import poll
from sidecar.messaging.ics import invitation
from sidecar.messaging.templates import TemplateError, render
from sidecar.observability import request_id
from sidecar.settings import SidecarSettings

log = logging.getLogger("sidecar.notifications")

# Where Twilio posts a message's status changes (sidecar/routes/webhooks.py), under the
# sidecar's public URL.
TWILIO_STATUS_PATH = "/api/v1/webhooks/twilio/status"


@dataclass
class Channels:
    """The adapters this worker has settings for; only their channels are claimed."""

    push: FcmClient | None = None
    sms: TwilioSms | None = None
    whatsapp: TwilioSms | None = None
    email: SmtpMailer | None = None

    @property
    def names(self) -> list[str]:
        return [
            name for name in ("push", "sms", "whatsapp", "email") if getattr(self, name) is not None
        ]

    @classmethod
    def from_settings(cls, settings: SidecarSettings, http: httpx.AsyncClient) -> Channels:
        channels = cls()
        if settings.fcm_project_id and (settings.fcm_access_token or settings.fcm_credentials_file):
            token = AccessToken(settings.fcm_access_token, settings.fcm_credentials_file)
            channels.push = FcmClient(settings.fcm_base_url, settings.fcm_project_id, token, http)
        s = settings
        if s.twilio_account_sid and s.twilio_auth_token and s.twilio_from_number:
            channels.sms = TwilioSms(
                settings.twilio_base_url,
                settings.twilio_account_sid,
                settings.twilio_auth_token,
                settings.twilio_from_number,
                http,
            )
        if s.twilio_account_sid and s.twilio_auth_token and s.twilio_whatsapp_from:
            channels.whatsapp = TwilioSms(
                s.twilio_base_url,
                s.twilio_account_sid,
                s.twilio_auth_token,
                s.twilio_whatsapp_from,
                http,
            )
        if s.smtp_host and s.smtp_from:
            channels.email = SmtpMailer(
                s.smtp_host,
                s.smtp_port,
                s.smtp_from,
                username=s.smtp_username,
                password=s.smtp_password,
                tls=s.smtp_tls,
                sender_name=s.smtp_from_name,
                timeout=s.delivery_timeout,
            )
        return channels


@dataclass
class Worker:
    settings: SidecarSettings
    supabase: SupabaseApi
    channels: Channels
    name: str = field(default_factory=lambda: f"worker-{uuid.uuid4().hex[:8]}")

    async def _rpc(self, function: str, params: dict[str, Any]) -> Any:
        return (await self.supabase.as_service().rpc(function, params).execute()).data

    async def run_once(self) -> int:
        """Claims one batch and settles every row of it; returns how many rows it claimed."""
        if not self.channels.names:
            return 0
        token = request_id.set(f"{self.name}-{uuid.uuid4().hex[:12]}")
        try:
            rows = await self._rpc(
                "claim_notifications",
                {
                    "batch": self.settings.worker_batch_size,
                    "lease": f"{self.settings.worker_lease_seconds} seconds",
                    "channels": self.channels.names,
                    "max_attempts": self.settings.worker_max_attempts,
                },
            )
            results = await asyncio.gather(
                *(self._settle(row) for row in rows or []), return_exceptions=True
            )
            for row, result in zip(rows or [], results, strict=True):
                if isinstance(result, Exception):
                    # Left processing: the row is claimed again when its lease ends.
                    log.error(
                        "settling a notification failed",
                        exc_info=result,
                        extra={"notification_id": row["id"]},
                    )
            return len(rows or [])
        finally:
            request_id.reset(token)

    async def _settle(self, row: dict[str, Any]) -> None:
        ids = {"notification_id": row["id"], "kind": row["kind"], "channel": row["channel"]}
        try:
            provider_id = await self._deliver(row)
        except DeliveryFailed as failure:
            result = await self._rpc(
                "fail_notification",
                {
                    "notification_id": row["id"],
                    "claim_token": row["claim_token"],
                    "error": str(failure),
                    "permanent": failure.permanent,
                    "max_attempts": self.settings.worker_max_attempts,
                },
            )
            state = result[0]["state"] if result else "lost (lease ended)"
            log.warning("delivery failed", extra={**ids, "error": str(failure), "now": state})
            return
        done = await self._rpc(
            "complete_notification",
            {
                "notification_id": row["id"],
                "claim_token": row["claim_token"],
                "provider_message_id": provider_id,
            },
        )
        log.info("delivered" if done else "delivered after its lease ended", extra=ids)

    async def _deliver(self, row: dict[str, Any]) -> str:
        if row["kind"] == "message":
            return await self._message(row)
        if row["channel"] == "sms" and self.channels.sms and row.get("phone"):
            return await self.channels.sms.send(row["phone"], f"{row['title']}: {row['body']}")
        if row["channel"] == "push" and self.channels.push:
            return await self._push(row)
        raise permanent(f"no adapter or address for channel {row['channel']}")

    async def _message(self, row: dict[str, Any]) -> str:
        """A message to a patient (public.messages): its text as it was written, to the
        address the claim gives; a WhatsApp template outside the 24-hour window as its
        approved Content SID. Twilio reports the message's progress to the status callback."""
        data = row.get("data") or {}
        callback = None
        if self.settings.sidecar_public_url:
            callback = (
                f"{self.settings.sidecar_public_url.rstrip('/')}{TWILIO_STATUS_PATH}"
                f"?message_id={data.get('message_id', '')}"
            )
        channel, phone = row["channel"], row.get("phone")
        subject, body = row["title"], row["body"]
        if data.get("render"):
            subject, body = await self._render(data["message_id"], data["render"])
        if channel == "sms" and self.channels.sms and phone:
            return await self.channels.sms.send(phone, body, status_callback=callback)
        if channel == "whatsapp" and self.channels.whatsapp and phone:
            return await self.channels.whatsapp.send(
                f"whatsapp:{phone}",
                body,
                content_sid=data.get("content_sid"),
                content_variables=data.get("content_variables"),
                status_callback=callback,
            )
        if channel == "email" and self.channels.email and data.get("email"):
            attachments = await self._calendar(data["message_id"])
            return await self.channels.email.send(data["email"], subject or "", body, attachments)
        raise permanent(f"no adapter or address for channel {channel}")

    async def _calendar(self, message_id: str) -> list[Attachment]:
        """The calendar invitation of an appointment email (none for other messages)."""
        event = await self._rpc("message_calendar", {"message_id": message_id})
        if not event:
            return []
        assert self.channels.email is not None
        ics = invitation(event, fallback_organizer=self.channels.email.sender)
        return [
            Attachment(
                filename="invite.ics" if event["method"] == "REQUEST" else "cancel.ics",
                maintype="text",
                subtype="calendar",
                data=ics.encode(),
                params={"method": event["method"], "charset": "UTF-8"},
            )
        ]

    async def _render(self, message_id: str, source: dict[str, Any]) -> tuple[str | None, str]:
        """An automatic message's template rendered in the sandbox, its text recorded on the
        message before it goes; a template that cannot be rendered fails the message."""
        values = source.get("values") or {}
        try:
            body = render(source["body"], source["variables"], values)
            subject = (
                render(source["subject"], source["variables"], values)
                if source.get("subject")
                else None
            )
        except TemplateError as error:
            raise permanent(f"{error.code}: {error.message}") from error
        await self._rpc(
            "record_message_text", {"message_id": message_id, "subject": subject, "body": body}
        )
        return subject, body

    async def _push(self, row: dict[str, Any]) -> str:
        """Sends to each of the recipient's devices; one success is a delivery."""
        assert self.channels.push is not None
        sent: list[str] = []
        retryable: list[str] = []
        gone: list[str] = []
        for device in row.get("device_tokens") or []:
            try:
                sent.append(
                    await self.channels.push.send(device, row["title"], row["body"], row["data"])
                )
            except UnregisteredToken as failure:
                gone.append(str(failure))
                await self._rpc("forget_device_token", {"token": device})
            except DeliveryFailed as failure:
                if failure.permanent:
                    gone.append(str(failure))
                else:
                    retryable.append(str(failure))
        if sent:
            return sent[0]
        if retryable:
            raise transient("; ".join(retryable))
        raise permanent("every device refused the message: " + "; ".join(gone))

    async def run(self, stop: asyncio.Event) -> None:
        if not self.channels.names:
            log.warning(
                "no notification channel is configured (set CAREBASE_FCM_*, TWILIO_* or "
                "CAREBASE_SMTP_*): "
                "notifications stay queued in the outbox"
            )
        else:
            log.info("worker started", extra={"worker": self.name, "channels": self.channels.names})
        await poll(
            self.run_once,
            stop,
            self.settings.worker_poll_seconds,
            log,
            "claiming notifications failed",
        )
