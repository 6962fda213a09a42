"""The processes `carebase up` runs beside the database and the gateway.

The sidecar and its workers are configured as in production, through the environment
variables of sidecar/settings.py; here they point at the local stack.
"""

from __future__ import annotations

import sys

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
        **firebase_emulator.sidecar_environment(settings),
    }


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
    """The notification worker. Without CAREBASE_FCM_* / TWILIO_* in the environment it
    serves no channel and notifications stay queued (its log says so)."""
    suffix = "" if settings.sidecar_port == 8000 else f"-{settings.sidecar_port}"
    return BackgroundService(
        name=f"worker{suffix}",
        argv=[sys.executable, "-m", "sidecar.notifications.worker"],
        local_dir=settings.local_dir,
        cwd=settings.repo_root,
        env=sidecar_environment(settings),
    )


def background_services(settings: Settings) -> list[BackgroundService]:
    """In start order; `down` stops them in reverse."""
    firebase = firebase_emulator.service(settings)
    return [*([firebase] if firebase else []), sidecar(settings), worker(settings)]
