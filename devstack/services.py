"""The processes `carebase up` runs beside the database and the gateway.

The sidecar and its workers are configured as in production, through the environment
variables of sidecar/settings.py; here they point at the local stack.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path

from devstack.background import BackgroundService
from devstack.config import Settings
from devstack.firebase import emulator as firebase_emulator


def sidecar_environment(settings: Settings) -> dict[str, str]:
    """What the sidecar and its workers need to reach this local stack."""
    return {
        "SUPABASE_URL": settings.api_url,
        "SUPABASE_ANON_KEY": settings.anon_key,
        "SUPABASE_SERVICE_ROLE_KEY": settings.service_role_key,
        "CAREBASE_SIDECAR_HOST": settings.sidecar_host,
        "CAREBASE_SIDECAR_PORT": str(settings.sidecar_port),
        # A local secret for the patient logins' derived passwords (never used in production).
        "CAREBASE_PATIENT_LOGIN_SECRET": "carebase-local-patient-login-secret",
        # The local Cal.com webhook secret (never used in production).
        "CAREBASE_CALCOM_WEBHOOK_SECRET": "carebase-local-calcom-webhook-secret",
        # The local Vapi server-message secret (never used in production).
        "VAPI_SERVER_SECRET": "carebase-local-vapi-server-secret",
        # The local Razorpay webhook secret (never used in production).
        "RAZORPAY_WEBHOOK_SECRET": "carebase-local-razorpay-webhook-secret",
        # The local signing secret of the PDFs' verification tokens (never used in production).
        "CAREBASE_DOCUMENT_SIGNING_SECRET": "carebase-local-document-signing-secret",
        **firebase_emulator.sidecar_environment(settings),
    }


def anchor_key_file(settings: Settings) -> Path:
    return settings.local_dir / "audit-anchor-signing.key"


def anchor_dir(settings: Settings) -> Path:
    """The environment's, else .local/audit-anchors (with the database's port when it is not
    the default, so that another cluster's `db reset` never moves this one's anchors)."""
    if configured := os.environ.get("CAREBASE_AUDIT_ANCHOR_DIR"):
        return Path(configured)
    suffix = "" if settings.db_port == 54322 else f"-{settings.db_port}"
    return settings.local_dir / f"audit-anchors{suffix}"


def anchor_environment(settings: Settings) -> dict[str, str]:
    """The audit anchor exporter's key and store for the worker (and `carebase audit`): the
    environment's when set, else a local key generated once into .local/ (never committed;
    it signs this machine's anchors only) and .local/audit-anchors."""
    key = os.environ.get("CAREBASE_AUDIT_ANCHOR_SIGNING_KEY", "")
    if not key:
        path = anchor_key_file(settings)
        if not path.exists():
            settings.local_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
        key = path.read_text().strip()
    return {
        "CAREBASE_AUDIT_ANCHOR_SIGNING_KEY": key,
        "CAREBASE_AUDIT_ANCHOR_DIR": str(anchor_dir(settings)),
    }


def set_aside_anchors(settings: Settings) -> Path | None:
    """Before a database is rebuilt: its anchors belong to the old chain. They are moved, not
    deleted (carebase never deletes an anchor); returns where they went."""
    current = anchor_dir(settings)
    if not current.is_dir() or not any(current.iterdir()):
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = current.with_name(f"{current.name}-before-reset-{stamp}")
    current.rename(kept)
    return kept


def sidecar(settings: Settings) -> BackgroundService:
    # A sidecar on another port (CAREBASE_SIDECAR_PORT) keeps its own pid and log file, so that
    # it neither mistakes another stack's sidecar for its own nor stops it.
    suffix = "" if settings.sidecar_port == 8000 else f"-{settings.sidecar_port}"
    return BackgroundService(
        name=f"sidecar{suffix}",
        argv=[sys.executable, "-m", "sidecar.serve"],
        local_dir=settings.local_dir,
        cwd=settings.repo_root,
        host=settings.sidecar_host,
        port=settings.sidecar_port,
        env=sidecar_environment(settings),
        port_hint="CAREBASE_SIDECAR_PORT",
    )


def worker(settings: Settings) -> BackgroundService:
    """The sidecar's worker: notifications and the audit anchor exporter. Without
    CAREBASE_FCM_* / TWILIO_* in the environment it serves no channel and notifications stay
    queued (its log says so). It pushes nothing to Cal.com (there is none locally: the tests
    push to their own Cal.com fake), unless CAREBASE_CALCOM_PUSH=on is set."""
    suffix = "" if settings.sidecar_port == 8000 else f"-{settings.sidecar_port}"
    return BackgroundService(
        name=f"worker{suffix}",
        argv=[sys.executable, "-m", "sidecar.jobs.worker"],
        local_dir=settings.local_dir,
        cwd=settings.repo_root,
        env={
            **sidecar_environment(settings),
            **anchor_environment(settings),
            "CAREBASE_CALCOM_PUSH": os.environ.get("CAREBASE_CALCOM_PUSH", "off"),
        },
    )


def background_services(settings: Settings) -> list[BackgroundService]:
    """In start order; `down` stops them in reverse."""
    firebase = firebase_emulator.service(settings)
    return [*([firebase] if firebase else []), sidecar(settings), worker(settings)]
