"""Supabase Auth's error bodies.

A client that sends `X-Supabase-Api-Version: 2024-01-01` (or later) gets
`{"code": "<error_code>", "message": ...}` and the header echoed back; any other client gets
the initial format `{"code": <status>, "error_code": ..., "msg": ...}`. A weak password adds
`weak_password: {reasons}` in both. A few OAuth-style token errors keep
`{"error", "error_description"}` whatever the version, as in GoTrue.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

API_VERSION_HEADER = "X-Supabase-Api-Version"
API_VERSION_2024_01_01 = dt.date(2024, 1, 1)
_VERSION = re.compile(r"^2[0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")


class AuthError(Exception):
    """An error answered to the client, with GoTrue's status, error code and message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        weak_password_reasons: list[str] | None = None,
        oauth_error: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.weak_password_reasons = weak_password_reasons
        self.oauth_error = oauth_error


def bad_request(code: str, message: str) -> AuthError:
    return AuthError(400, code, message)


def forbidden(code: str, message: str) -> AuthError:
    return AuthError(403, code, message)


def not_found(code: str, message: str) -> AuthError:
    return AuthError(404, code, message)


def unprocessable(code: str, message: str) -> AuthError:
    return AuthError(422, code, message)


def oauth(error: str, description: str) -> AuthError:
    """GoTrue's OAuth2-style error: always 400 `{"error", "error_description"}`."""
    return AuthError(400, error, description, oauth_error=error)


def not_implemented(feature: str) -> AuthError:
    return AuthError(
        501,
        "not_implemented",
        f"{feature} is not available in devstack's Auth; use `supabase start` for it",
    )


def unexpected_failure() -> AuthError:
    return AuthError(
        500,
        "unexpected_failure",
        "Unexpected failure, please check server logs for more information",
    )


def database_unavailable() -> AuthError:
    """The database cannot be reached (down, restarting): worth retrying shortly."""
    return AuthError(
        503,
        "unexpected_failure",
        "Database connection error. Retrying the connection.",
    )


def request_timeout() -> AuthError:
    """Every database connection stayed busy for the acquisition timeout."""
    return AuthError(
        504,
        "request_timeout",
        "Processing this request timed out, please retry after a moment.",
    )


def requested_api_version(request: Request) -> dt.date | None:
    """The API version the client asked for, when it is 2024-01-01 or later."""
    raw = request.headers.get(API_VERSION_HEADER, "")
    if not _VERSION.match(raw):
        return None
    try:
        version = dt.date.fromisoformat(raw)
    except ValueError:
        return None
    return API_VERSION_2024_01_01 if version >= API_VERSION_2024_01_01 else None


def error_response(request: Request, error: AuthError) -> JSONResponse:
    version = requested_api_version(request)
    headers = {API_VERSION_HEADER: version.isoformat()} if version else {}
    body: dict[str, Any]
    if error.oauth_error is not None:
        body = {"error": error.oauth_error, "error_description": error.message}
    elif version:
        body = {"code": error.code, "message": error.message}
    else:
        body = {"code": error.status, "error_code": error.code, "msg": error.message}
    if error.weak_password_reasons is not None:
        body["weak_password"] = {"reasons": error.weak_password_reasons}
    return JSONResponse(body, error.status, headers=headers)
