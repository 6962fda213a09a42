"""GET /settings and GET /health: what Supabase Auth tells clients about itself."""

from __future__ import annotations

from typing import Any

from devstack.auth.auth_config import AuthConfig

_EXTERNAL_PROVIDERS = (
    "anonymous_users",
    "apple",
    "azure",
    "bitbucket",
    "discord",
    "facebook",
    "figma",
    "fly",
    "github",
    "gitlab",
    "google",
    "keycloak",
    "kakao",
    "linkedin",
    "linkedin_oidc",
    "notion",
    "spotify",
    "slack",
    "slack_oidc",
    "workos",
    "twitch",
    "twitter",
    "zoom",
)


def public_settings(config: AuthConfig) -> dict[str, Any]:
    external: dict[str, bool] = dict.fromkeys(_EXTERNAL_PROVIDERS, False)
    external["email"] = config.email_signup_enabled
    external["phone"] = config.sms_signup_enabled
    return {
        "external": external,
        "disable_signup": not config.signup_enabled,
        "mailer_autoconfirm": not config.email_confirmations,
        "phone_autoconfirm": False,
        "sms_provider": "",
        "saml_enabled": False,
    }


def health() -> dict[str, str]:
    return {
        "version": "devstack",
        "name": "GoTrue",
        "description": "GoTrue is a user registration and authentication API",
    }
