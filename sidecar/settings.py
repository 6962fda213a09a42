"""Sidecar settings from environment variables, with the local stack's defaults.

In production the Supabase variables come from the project's settings and the secrets from
the platform's secret store; nothing here is a production secret (the keys are the Supabase
CLI's well-known local ones).
"""

from __future__ import annotations

from functools import lru_cache

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
    port: int = Field(8000, alias="CAREBASE_SIDECAR_PORT")
    log_level: str = Field("info", alias="CAREBASE_SIDECAR_LOG_LEVEL")

    # Seed 003: 100 requests per 15 minutes per client IP on the auth routes.
    auth_rate_limit: str = Field("100/15 minutes", alias="CAREBASE_SIDECAR_AUTH_RATE_LIMIT")
    # How many proxies in front of the sidecar append to X-Forwarded-For (0: use the peer).
    trusted_proxies: int = Field(0, alias="CAREBASE_SIDECAR_TRUSTED_PROXIES")


@lru_cache
def get_settings() -> SidecarSettings:
    return SidecarSettings()
