"""Settings of the local stack, read from the environment with the Supabase CLI's local defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import make_conninfo

REPO_ROOT = Path(__file__).resolve().parent.parent

# The Supabase CLI's well-known local defaults (public, for local stacks only): clients and
# tests written against `supabase start` work unchanged against devstack.
LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"  # noqa: S105
LOCAL_ANON_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLC"
    "JleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
)
LOCAL_SERVICE_ROLE_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vf"
    "cm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
)


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "")
    return value if value else default


@dataclass(frozen=True)
class Settings:
    """Everything devstack needs to find, start and reach the local database."""

    repo_root: Path
    db_host: str
    db_port: int
    db_name: str
    db_password: str  # for the login roles postgres, authenticator, supabase_auth_admin
    admin_user: str  # the superuser that does the platform set-up, as on Supabase
    admin_password: str
    pg_bindir: Path
    db_dir_override: Path | None
    api_host: str
    api_port: int
    jwt_secret: str
    anon_key: str
    service_role_key: str
    sidecar_host: str
    sidecar_port: int
    # proxies in front of the gateway whose X-Forwarded-For entries it trusts
    gateway_trusted_proxies: int = 0
    # the synthetic data `up` and `db reset` add to supabase/seed.sql: a size of
    # `carebase seed generate`, or "none"
    demo_data: str = "demo"

    @classmethod
    def from_env(cls) -> Settings:
        override = os.environ.get("CAREBASE_DB_DIR")
        return cls(
            repo_root=Path(_env("CAREBASE_HOME", str(REPO_ROOT))),
            db_host=_env("CAREBASE_DB_HOST", "127.0.0.1"),
            db_port=int(_env("CAREBASE_DB_PORT", "54322")),
            db_name=_env("CAREBASE_DB_NAME", "postgres"),
            db_password=_env("CAREBASE_DB_PASSWORD", "postgres"),
            admin_user="supabase_admin",
            admin_password=_env("CAREBASE_DB_ADMIN_PASSWORD", "postgres"),
            pg_bindir=Path(_env("CAREBASE_PG_BINDIR", "/usr/lib/postgresql/15/bin")),
            db_dir_override=Path(override) if override else None,
            api_host=_env("CAREBASE_API_HOST", "127.0.0.1"),
            api_port=int(_env("CAREBASE_API_PORT", "54321")),
            jwt_secret=_env("CAREBASE_JWT_SECRET", LOCAL_JWT_SECRET),
            anon_key=_env("CAREBASE_ANON_KEY", LOCAL_ANON_KEY),
            service_role_key=_env("CAREBASE_SERVICE_ROLE_KEY", LOCAL_SERVICE_ROLE_KEY),
            sidecar_host=_env("CAREBASE_SIDECAR_HOST", "127.0.0.1"),
            sidecar_port=int(_env("CAREBASE_SIDECAR_PORT", "8000")),
            gateway_trusted_proxies=int(_env("CAREBASE_GATEWAY_TRUSTED_PROXIES", "0")),
            demo_data=_env("CAREBASE_DEMO_DATA", "demo"),
        )

    @property
    def local_dir(self) -> Path:
        return self.repo_root / ".local"

    @property
    def migrations_dir(self) -> Path:
        return self.repo_root / "supabase" / "migrations"

    @property
    def platform_dir(self) -> Path:
        return self.repo_root / "sql" / "platform"

    @property
    def seed_file(self) -> Path:
        return self.repo_root / "supabase" / "seed.sql"

    def dsn(self, user: str = "postgres", dbname: str | None = None) -> str:
        """A libpq connection string for one of the login roles."""
        password = self.admin_password if user == self.admin_user else self.db_password
        return make_conninfo(
            host=self.db_host,
            port=self.db_port,
            dbname=dbname or self.db_name,
            user=user,
            password=password,
            connect_timeout=5,
        )

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def sidecar_url(self) -> str:
        return f"http://{self.sidecar_host}:{self.sidecar_port}"

    def url(self, user: str = "postgres") -> str:
        """The URL people paste into psql or a client, as `supabase status` prints it."""
        return (
            f"postgresql://{user}:{self.db_password}@{self.db_host}:{self.db_port}/{self.db_name}"
        )
