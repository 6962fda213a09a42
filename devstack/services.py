"""The processes `carebase up` runs beside the database and the gateway.

The sidecar and its workers are configured as in production, through the environment
variables of sidecar/settings.py; here they point at the local stack.
"""

from __future__ import annotations

import sys

from devstack.background import BackgroundService
from devstack.config import Settings


def sidecar_environment(settings: Settings) -> dict[str, str]:
    """What the sidecar and its workers need to reach this local stack."""
    return {
        "SUPABASE_URL": settings.api_url,
        "SUPABASE_ANON_KEY": settings.anon_key,
        "SUPABASE_SERVICE_ROLE_KEY": settings.service_role_key,
        "CAREBASE_SIDECAR_HOST": settings.sidecar_host,
        "CAREBASE_SIDECAR_PORT": str(settings.sidecar_port),
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


def background_services(settings: Settings) -> list[BackgroundService]:
    """In start order; `down` stops them in reverse."""
    return [sidecar(settings)]
