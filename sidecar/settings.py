"""Sidecar settings from environment variables, with the local stack's defaults.

In production the Supabase variables come from the project's settings and the secrets from
the platform's secret store; nothing here is a production secret (the keys are the Supabase
CLI's well-known local ones).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The Supabase CLI's well-known local keys (public, valid only against a local stack).
LOCAL_ANON_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLC"
    "JleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
)
LOCAL_SERVICE_ROLE_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vf"
    "cm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
)


class SidecarSettings(BaseSettings):
    """Field names are for code; the environment variable of each is its alias."""

    model_config = SettingsConfigDict(populate_by_name=True, frozen=True, extra="ignore")

    supabase_url: str = Field("http://127.0.0.1:54321", alias="SUPABASE_URL")
    supabase_anon_key: str = Field(LOCAL_ANON_KEY, alias="SUPABASE_ANON_KEY")
    supabase_service_role_key: str = Field(
        LOCAL_SERVICE_ROLE_KEY, alias="SUPABASE_SERVICE_ROLE_KEY"
    )
    # Seconds to wait for the Supabase API before answering 503.
    supabase_timeout: float = Field(10.0, alias="CAREBASE_SIDECAR_SUPABASE_TIMEOUT")

    host: str = Field("127.0.0.1", alias="CAREBASE_SIDECAR_HOST")
    # The sidecar's public base URL as providers call it (Twilio signs the URL it called);
    # empty: the URL of the request as it arrives.
    sidecar_public_url: str = Field("", alias="CAREBASE_SIDECAR_PUBLIC_URL")
    port: int = Field(8000, alias="CAREBASE_SIDECAR_PORT")
    log_level: str = Field("info", alias="CAREBASE_SIDECAR_LOG_LEVEL")

    # Seed 003: 100 requests per 15 minutes per client IP on the auth routes.
    auth_rate_limit: str = Field("100/15 minutes", alias="CAREBASE_SIDECAR_AUTH_RATE_LIMIT")
    # Seed 001: requests a minute to the API per user and per tenant (the hospital of the
    # user's token); only requests whose token the database accepted are counted.
    user_rate_limit: str = Field("100/minute", alias="CAREBASE_SIDECAR_USER_RATE_LIMIT")
    tenant_rate_limit: str = Field("1000/minute", alias="CAREBASE_SIDECAR_TENANT_RATE_LIMIT")
    # How many proxies in front of the sidecar append to X-Forwarded-For (0: use the peer).
    trusted_proxies: int = Field(0, alias="CAREBASE_SIDECAR_TRUSTED_PROXIES")

    # Patient phone login through Firebase (sidecar/accounts/patient_login.py). firebase-admin
    # itself reads FIREBASE_AUTH_EMULATOR_HOST; it is honoured only for a `demo-` project.
    firebase_project_id: str = Field("demo-carebase", alias="FIREBASE_PROJECT_ID")
    firebase_web_api_key: str = Field("", alias="FIREBASE_WEB_API_KEY")
    firebase_auth_emulator_host: str = Field("", alias="FIREBASE_AUTH_EMULATOR_HOST")
    # Identity Toolkit's base URL; empty: Google's, or the emulator's when one is set.
    identity_toolkit_url: str = Field("", alias="CAREBASE_IDENTITY_TOOLKIT_URL")
    # Derives each patient login's Supabase Auth password (HMAC); no default, so that a
    # deployment cannot run with a publicly known one. Unset: patient login answers 503.
    patient_login_secret: str = Field("", alias="CAREBASE_PATIENT_LOGIN_SECRET")

    # Cal.com webhooks (sidecar/routes/webhooks.py): the secret set on the webhook in Cal.com;
    # no default, so that nobody can sign events with a publicly known one. Unset: every
    # webhook is refused (503) and nothing is stored.
    calcom_webhook_secret: str = Field("", alias="CAREBASE_CALCOM_WEBHOOK_SECRET")
    # The largest webhook body accepted (bytes); larger: 413.
    webhook_max_bytes: int = Field(1_048_576, ge=1024, alias="CAREBASE_WEBHOOK_MAX_BYTES")

    @property
    def identity_toolkit_base_url(self) -> str:
        if self.identity_toolkit_url:
            return self.identity_toolkit_url.rstrip("/")
        if self.firebase_auth_emulator_host:
            return f"http://{self.firebase_auth_emulator_host}/identitytoolkit.googleapis.com"
        return "https://identitytoolkit.googleapis.com"

    # Notification delivery (sidecar/jobs/notifications.py). A channel without its settings
    # is not served: its messages stay queued. Push: FCM HTTP v1 with an OAuth token (a fixed
    # one, or minted from the service account file by firebase-admin's credentials).
    fcm_base_url: str = Field("https://fcm.googleapis.com", alias="CAREBASE_FCM_BASE_URL")
    fcm_project_id: str = Field("", alias="CAREBASE_FCM_PROJECT_ID")
    fcm_access_token: str = Field("", alias="CAREBASE_FCM_ACCESS_TOKEN")
    fcm_credentials_file: str = Field("", alias="GOOGLE_APPLICATION_CREDENTIALS")
    # SMS: Twilio's Messages API.
    twilio_base_url: str = Field("https://api.twilio.com", alias="CAREBASE_TWILIO_BASE_URL")
    twilio_account_sid: str = Field("", alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str = Field("", alias="TWILIO_AUTH_TOKEN")
    twilio_from_number: str = Field("", alias="TWILIO_FROM_NUMBER")
    # WhatsApp through the same account: the sender as Twilio spells it (whatsapp:+1415...).
    # Unset: WhatsApp messages stay queued. Status callbacks go to CAREBASE_SIDECAR_PUBLIC_URL
    # (unset: Twilio is not asked to call back, as it could not reach a local stack).
    twilio_whatsapp_from: str = Field("", alias="TWILIO_WHATSAPP_FROM")
    # Email over SMTP (Amazon SES, SendGrid or any relay): host (unset: email stays queued),
    # port, login, TLS (starttls on 587, ssl on 465, or none for a local relay) and sender.
    smtp_host: str = Field("", alias="CAREBASE_SMTP_HOST")
    smtp_port: int = Field(587, ge=1, le=65535, alias="CAREBASE_SMTP_PORT")
    smtp_username: str = Field("", alias="CAREBASE_SMTP_USERNAME")
    smtp_password: str = Field("", alias="CAREBASE_SMTP_PASSWORD")
    smtp_tls: Literal["starttls", "ssl", "none"] = Field("starttls", alias="CAREBASE_SMTP_TLS")
    smtp_from: str = Field("", alias="CAREBASE_SMTP_FROM")
    smtp_from_name: str = Field("carebase", alias="CAREBASE_SMTP_FROM_NAME")
    # Scheduling mirror: Cal.com API v2 (sidecar/integrations/calcom.py). A deployment-wide
    # key; a doctor's own key or OAuth token comes from Vault, never from here.
    calcom_base_url: str = Field("https://api.cal.com/v2", alias="CAREBASE_CALCOM_BASE_URL")
    calcom_api_key: str = Field("", alias="CALCOM_API_KEY")
    # Reconciliation of the mirror (sidecar/jobs/calendar_reconcile.py, needs CALCOM_API_KEY):
    # every interval seconds over the next ahead_days days, and once a night (in the UTC hour
    # given) over the last behind_days days; bookings per database transaction.
    calcom_reconcile_interval: int = Field(900, ge=10, alias="CAREBASE_CALCOM_RECONCILE_INTERVAL")
    calcom_reconcile_ahead_days: int = Field(
        30, ge=1, le=366, alias="CAREBASE_CALCOM_RECONCILE_AHEAD_DAYS"
    )
    calcom_reconcile_behind_days: int = Field(
        7, ge=1, le=366, alias="CAREBASE_CALCOM_RECONCILE_BEHIND_DAYS"
    )
    calcom_reconcile_nightly_hour: int = Field(
        21, ge=0, le=23, alias="CAREBASE_CALCOM_RECONCILE_NIGHTLY_HOUR"
    )
    calcom_reconcile_page_size: int = Field(
        100, ge=1, le=250, alias="CAREBASE_CALCOM_RECONCILE_PAGE_SIZE"
    )
    # The worker pushes carebase appointments and working hours to Cal.com
    # (sidecar/jobs/calendar_push.py) with each doctor's key from Vault, else CALCOM_API_KEY.
    # Off: nothing is pushed and pending appointments wait (the local stack has no Cal.com).
    calcom_push: bool = Field(True, alias="CAREBASE_CALCOM_PUSH")
    # Voice agent: Vapi's API (outbound calls, listing calls for reports that never came).
    vapi_base_url: str = Field("https://api.vapi.ai", alias="CAREBASE_VAPI_BASE_URL")
    vapi_api_key: str = Field("", alias="VAPI_API_KEY")
    # Vapi's server messages (POST /api/v1/webhooks/vapi), authenticated as the server URL's
    # credential in Vapi is set up: hmac (`x-signature` over `{x-timestamp}.{body}`, within
    # max_age seconds), bearer (`Authorization: Bearer <secret>`) or header (the secret alone
    # in the named header). No default secret: unset, every message is refused (503).
    vapi_server_auth: str = Field("hmac", alias="CAREBASE_VAPI_SERVER_AUTH")
    vapi_server_secret: str = Field("", alias="VAPI_SERVER_SECRET")
    vapi_server_secret_header: str = Field("X-Vapi-Secret", alias="CAREBASE_VAPI_SECRET_HEADER")
    vapi_server_max_age: int = Field(300, alias="CAREBASE_VAPI_SERVER_MAX_AGE")
    # The assistant that answers a caller (Vapi's assistant-request); unset: 503.
    vapi_assistant_id: str = Field("", alias="VAPI_ASSISTANT_ID")
    # The worker's sweep for call reports that never arrived (needs VAPI_API_KEY): how often,
    # and how far back it looks.
    vapi_sweep_interval: int = Field(600, alias="CAREBASE_VAPI_SWEEP_INTERVAL")
    vapi_sweep_lookback_hours: int = Field(24, alias="CAREBASE_VAPI_SWEEP_LOOKBACK_HOURS")
    # The AI copilot (issue 15): Claude through the official `anthropic` SDK
    # (sidecar/integrations/claude.py). No default key: unset, the copilot answers 503
    # `not_configured`. The tests point the base URL at the local fake (tests/fakes/anthropic.py).
    anthropic_api_key: str = Field("", alias="ANTHROPIC_API_KEY")
    anthropic_base_url: str = Field("https://api.anthropic.com", alias="ANTHROPIC_BASE_URL")
    copilot_model: str = Field("claude-sonnet-5-5", alias="CAREBASE_COPILOT_MODEL")
    # Seconds one model turn may take, the SDK's retries included (a silent upstream: 504);
    # streamed, the seconds to the first event and between two events.
    copilot_timeout: float = Field(60.0, gt=0, le=600, alias="CAREBASE_COPILOT_TIMEOUT")
    # The SDK's retries of a 429, 5xx, 529 or lost connection, within the timeout above.
    copilot_max_retries: int = Field(2, ge=0, le=10, alias="CAREBASE_COPILOT_MAX_RETRIES")
    # Output tokens of one model turn; model turns (tool rounds) of one message; and the input
    # plus output tokens one copilot session may spend in all.
    copilot_max_tokens: int = Field(2048, ge=1, le=128_000, alias="CAREBASE_COPILOT_MAX_TOKENS")
    copilot_max_tool_rounds: int = Field(6, ge=1, le=50, alias="CAREBASE_COPILOT_MAX_TOOL_ROUNDS")
    copilot_session_token_budget: int = Field(
        200_000, ge=1, alias="CAREBASE_COPILOT_SESSION_TOKEN_BUDGET"
    )
    # Seconds a proposed write waits for the user's confirmation (the store caps it at 1800).
    copilot_action_ttl: int = Field(600, ge=1, le=1800, alias="CAREBASE_COPILOT_ACTION_TTL")
    # Closing a session (POST /sessions/copilot/{session}/close): the model's summary is one
    # call without tools, at most this many output tokens and seconds; past them (or without a
    # key) the session closes with the facts the database counted as its summary.
    copilot_summary_max_tokens: int = Field(
        300, ge=16, le=4096, alias="CAREBASE_COPILOT_SUMMARY_MAX_TOKENS"
    )
    copilot_summary_timeout: float = Field(
        15.0, gt=0, le=600, alias="CAREBASE_COPILOT_SUMMARY_TIMEOUT"
    )
    # Copilot messages and decisions per user (their token's subject), and the seconds between
    # two SSE heartbeats (comments) while a streamed answer waits for the model or a tool.
    copilot_rate_limit: str = Field("30/minute", alias="CAREBASE_COPILOT_RATE_LIMIT")
    copilot_heartbeat_seconds: float = Field(
        5.0, gt=0, le=60, alias="CAREBASE_COPILOT_HEARTBEAT_SECONDS"
    )
    # The public website lead form (POST /api/v1/leads/website, seed 004): requests per client
    # address; the captcha service's siteverify URL and secret (Turnstile by default; hCaptcha and
    # reCAPTCHA speak the same protocol; no secret: no captcha asked, the rate limit alone); the
    # websites allowed to post from a browser (comma-separated origins; empty: none).
    website_lead_rate_limit: str = Field("10/hour", alias="CAREBASE_WEBSITE_LEAD_RATE_LIMIT")

    # Invoice and prescription PDFs (sidecar/routes/documents.py). The QR code's token is
    # HMAC-signed with this secret; no default, so that nobody can sign tokens with a publicly
    # known one. Unset: the PDF and verify routes answer 503.
    document_signing_secret: str = Field("", alias="CAREBASE_DOCUMENT_SIGNING_SECRET")
    # Where the Noto fonts are (NotoSans, NotoSansDevanagari, NotoSansGurmukhi; Regular, Bold).
    pdf_font_dir: str = Field("/usr/share/fonts/truetype/noto", alias="CAREBASE_PDF_FONT_DIR")
    # Seconds a PDF's signed Storage URL stays valid.
    pdf_url_ttl: int = Field(300, ge=10, le=86400, alias="CAREBASE_PDF_URL_TTL")
    # The public verify route: per client address.
    verify_rate_limit: str = Field("60/minute", alias="CAREBASE_VERIFY_RATE_LIMIT")
    captcha_verify_url: str = Field(
        "https://challenges.cloudflare.com/turnstile/v0/siteverify",
        alias="CAREBASE_CAPTCHA_VERIFY_URL",
    )
    captcha_secret: str = Field("", alias="CAREBASE_CAPTCHA_SECRET")
    captcha_timeout: float = Field(5.0, gt=0, le=30, alias="CAREBASE_CAPTCHA_TIMEOUT")
    website_lead_origins: str = Field("", alias="CAREBASE_WEBSITE_LEAD_ORIGINS")

    # Payments (issue 18): Razorpay's API for hosted-checkout orders and refunds
    # (sidecar/integrations/razorpay.py), with the account's key id and secret (no default:
    # unset, online payments and their refunds answer 503 `not_configured`; counter payments
    # need neither). The webhook's secret checks X-Razorpay-Signature (unset: every webhook 503,
    # nothing stored; `carebase up` sets a local one). The tests point the base URL at the local
    # fake (tests/fakes/razorpay.py).
    razorpay_base_url: str = Field("https://api.razorpay.com", alias="CAREBASE_RAZORPAY_BASE_URL")
    razorpay_key_id: str = Field("", alias="RAZORPAY_KEY_ID")
    razorpay_key_secret: str = Field("", alias="RAZORPAY_KEY_SECRET")
    razorpay_webhook_secret: str = Field("", alias="RAZORPAY_WEBHOOK_SECRET")
    razorpay_timeout: float = Field(10.0, gt=0, le=60, alias="CAREBASE_RAZORPAY_TIMEOUT")
    # The live analytics stream (GET /api/v1/analytics/realtime): seconds between heartbeats
    # (and between re-reads when Realtime is quiet), and streams one user may hold at once.
    analytics_heartbeat_seconds: float = Field(
        15.0, gt=0, le=60, alias="CAREBASE_ANALYTICS_HEARTBEAT_SECONDS"
    )
    analytics_streams_per_user: int = Field(
        3, ge=1, le=100, alias="CAREBASE_ANALYTICS_STREAMS_PER_USER"
    )
    # The worker loop: rows per claim, how long a claim is held, tries before dead-lettering.
    worker_batch_size: int = Field(20, alias="CAREBASE_WORKER_BATCH_SIZE")
    worker_lease_seconds: int = Field(120, alias="CAREBASE_WORKER_LEASE_SECONDS")
    # The CDSS model service (sidecar/integrations/cdss_model.py, `POST {base}/analyze`). Unset:
    # the worker runs no analysis and requests stay queued (the local stack has no model).
    cdss_model_base_url: str = Field("", alias="CAREBASE_CDSS_MODEL_URL")
    cdss_model_api_key: str = Field("", alias="CAREBASE_CDSS_MODEL_KEY")
    # Seconds one analysis may take (seed 003: 2 to 5 minutes).
    cdss_model_timeout: float = Field(600.0, gt=0, le=3600, alias="CAREBASE_CDSS_MODEL_TIMEOUT")
    worker_max_attempts: int = Field(5, alias="CAREBASE_WORKER_MAX_ATTEMPTS")
    worker_poll_seconds: float = Field(2.0, alias="CAREBASE_WORKER_POLL_SECONDS")
    # Seconds to wait for FCM or Twilio before counting the try as failed (and retrying).
    delivery_timeout: float = Field(10.0, alias="CAREBASE_DELIVERY_TIMEOUT")

    # Audit anchors (sidecar/jobs/audit_anchors.py): the worker signs the audit chain's head
    # with an Ed25519 key the database never sees (base64 of the 32-byte private key; unset:
    # no anchor is exported, and the worker says so) and writes it to an append-only store,
    # at least hourly. Verifiers trust the public keys listed (base64, comma-separated; empty:
    # the signing key's own), so that a rotated key's anchors still verify.
    audit_anchor_signing_key: str = Field("", alias="CAREBASE_AUDIT_ANCHOR_SIGNING_KEY")
    audit_anchor_public_keys: str = Field("", alias="CAREBASE_AUDIT_ANCHOR_PUBLIC_KEYS")
    audit_anchor_dir: str = Field(".local/audit-anchors", alias="CAREBASE_AUDIT_ANCHOR_DIR")
    audit_anchor_interval: float = Field(
        3600.0, gt=0, le=3600, alias="CAREBASE_AUDIT_ANCHOR_INTERVAL"
    )
    # Rows covered by one anchor at most; a longer stretch is anchored in several.
    audit_anchor_max_rows: int = Field(
        100_000, ge=1, le=1_000_000, alias="CAREBASE_AUDIT_ANCHOR_MAX_ROWS"
    )


@lru_cache
def get_settings() -> SidecarSettings:
    return SidecarSettings()
