"""What Supabase Auth is configured with: the `[auth]` tables of supabase/config.toml, which
`supabase start` hands to GoTrue, read the same way here so both stacks behave alike."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from devstack.auth.go_durations import parse_seconds
from devstack.config import Settings

# Seconds without activity after which a session can no longer be refreshed (overrides
# [auth.sessions] inactivity_timeout).
INACTIVITY_TIMEOUT_ENV = "CAREBASE_AUTH_INACTIVITY_TIMEOUT"
# Requests per IP per 5 minutes (override [auth.rate_limit] sign_in_sign_ups / token_refresh;
# Supabase's defaults 30 and 150).
SIGN_IN_RATE_LIMIT_ENV = "CAREBASE_AUTH_RATE_LIMIT_SIGN_IN_SIGN_UPS"
REFRESH_RATE_LIMIT_ENV = "CAREBASE_AUTH_RATE_LIMIT_TOKEN_REFRESH"


@dataclass(frozen=True)
class HookFunction:
    """A `pg-functions://<db>/<schema>/<function>` hook."""

    schema: str
    function: str

    @classmethod
    def from_uri(cls, uri: str) -> HookFunction:
        parsed = urlparse(uri)
        if parsed.scheme != "pg-functions":
            raise ValueError(f"only pg-functions:// hooks are supported, not {uri!r}")
        schema, _, function = parsed.path.strip("/").partition("/")
        if not schema or not function:
            raise ValueError(f"a pg-functions hook names <schema>/<function>: {uri!r}")
        return cls(schema, function)


@dataclass(frozen=True)
class AuthConfig:
    api_url: str  # the API gateway's external URL; the issuer is <api_url>/auth/v1
    site_url: str
    jwt_expiry: int
    refresh_token_rotation: bool
    refresh_token_reuse_interval: int
    minimum_password_length: int
    password_requirements: str
    signup_enabled: bool
    email_signup_enabled: bool
    email_confirmations: bool
    sms_signup_enabled: bool
    totp_enroll_enabled: bool
    totp_verify_enabled: bool
    max_enrolled_factors: int
    inactivity_timeout: float  # seconds; 0 = never
    rate_limit_sign_in_sign_ups: int  # per IP per 5 minutes
    rate_limit_token_refresh: int  # per IP per 5 minutes
    access_token_hook: HookFunction | None
    password_verification_hook: HookFunction | None

    @property
    def issuer(self) -> str:
        return f"{self.api_url}/auth/v1"

    @classmethod
    def load(cls, settings: Settings) -> AuthConfig:
        path: Path = settings.repo_root / "supabase" / "config.toml"
        auth: dict[str, Any] = {}
        if path.exists():
            auth = tomllib.loads(path.read_text()).get("auth", {})
        hook = auth.get("hook", {})
        rate_limit = auth.get("rate_limit", {})
        mfa = auth.get("mfa", {})
        totp = mfa.get("totp", {})
        inactivity = os.environ.get(INACTIVITY_TIMEOUT_ENV, "")
        if inactivity:
            inactivity_seconds = float(inactivity)
        else:
            inactivity_seconds = parse_seconds(
                str(auth.get("sessions", {}).get("inactivity_timeout", "0"))
            )
        return cls(
            api_url=settings.api_url,
            site_url=str(auth.get("site_url", "http://127.0.0.1:3000")),
            jwt_expiry=int(auth.get("jwt_expiry", 3600)),
            refresh_token_rotation=bool(auth.get("enable_refresh_token_rotation", True)),
            refresh_token_reuse_interval=int(auth.get("refresh_token_reuse_interval", 10)),
            minimum_password_length=int(auth.get("minimum_password_length", 6)),
            password_requirements=str(auth.get("password_requirements", "")),
            signup_enabled=bool(auth.get("enable_signup", True)),
            email_signup_enabled=bool(auth.get("email", {}).get("enable_signup", True)),
            email_confirmations=bool(auth.get("email", {}).get("enable_confirmations", False)),
            sms_signup_enabled=bool(auth.get("sms", {}).get("enable_signup", False)),
            totp_enroll_enabled=bool(totp.get("enroll_enabled", True)),
            totp_verify_enabled=bool(totp.get("verify_enabled", True)),
            max_enrolled_factors=int(mfa.get("max_enrolled_factors", 10)),
            inactivity_timeout=inactivity_seconds,
            rate_limit_sign_in_sign_ups=int(
                os.environ.get(SIGN_IN_RATE_LIMIT_ENV) or rate_limit.get("sign_in_sign_ups", 30)
            ),
            rate_limit_token_refresh=int(
                os.environ.get(REFRESH_RATE_LIMIT_ENV) or rate_limit.get("token_refresh", 150)
            ),
            access_token_hook=_hook(hook.get("custom_access_token")),
            password_verification_hook=_hook(hook.get("password_verification_attempt")),
        )


def _hook(section: dict[str, Any] | None) -> HookFunction | None:
    if not section or not section.get("enabled"):
        return None
    return HookFunction.from_uri(str(section["uri"]))
