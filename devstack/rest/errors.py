"""PostgREST's errors: the four-key body, the PGRST codes and the SQLSTATE-to-status mapping."""

from __future__ import annotations

import json
from typing import Any

import psycopg


class ApiError(Exception):
    """An error answered as PostgREST answers it: a status and {code, message, details, hint}."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        }


def parse_error(message: str, details: str | None = None) -> ApiError:
    return ApiError(400, "PGRST100", message, details)


def not_implemented(feature: str) -> ApiError:
    """Something PostgREST does that devstack does not: said plainly, never answered wrongly."""
    return ApiError(
        400,
        "PGRST127",
        "Feature not implemented",
        f"{feature} is not implemented by the devstack REST API",
        "Run the real stack (`supabase start`) for this feature",
    )


def unknown_table(name: str) -> ApiError:
    return ApiError(
        404,
        "PGRST205",
        f"Could not find the table 'public.{name}' in the schema cache",
    )


def unknown_column(column: str, table: str) -> ApiError:
    return ApiError(
        400,
        "PGRST204",
        f"Could not find the '{column}' column of '{table}' in the schema cache",
    )


def invalid_body(message: str) -> ApiError:
    return ApiError(400, "PGRST102", message)


def connection_error(details: str) -> ApiError:
    """No connection to the database could be opened: PostgREST's PGRST000."""
    return ApiError(503, "PGRST000", "Database connection error. Retrying the connection.", details)


def client_error(details: str) -> ApiError:
    """The connection broke during the request: PostgREST's PGRST001."""
    return ApiError(503, "PGRST001", "Database client error. Retrying the connection.", details)


def acquisition_timeout() -> ApiError:
    """Every connection stayed busy for the acquisition timeout: PostgREST's PGRST003."""
    return ApiError(504, "PGRST003", "Timed out acquiring connection from connection pool.")


def _status_for_sqlstate(sqlstate: str, anonymous: bool) -> int:
    exact = {
        "23503": 409,
        "23505": 409,
        "23P01": 409,
        "25006": 405,
        "42501": 401 if anonymous else 403,
        "42883": 404,
        "42P01": 404,
        "42P17": 500,
        "53400": 500,
        "57P01": 503,
        "P0001": 400,
    }
    if sqlstate in exact:
        return exact[sqlstate]
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
    by_class = {
        "08": 503,
        "09": 500,
        "0L": 403,
        "0P": 403,
        "25": 500,
        "28": 403,
        "2D": 500,
        "38": 500,
        "39": 500,
        "3B": 500,
        "40": 500,
        "53": 503,
        # Program limits (stack depth of a deeply nested JSON value, array dimensions, an
        # index row too large): PostgREST answers 500, but the request asked for more than
        # Postgres does, so devstack answers 400 with the SQLSTATE, as for any bad input.
        "54": 400,
        "55": 500,
        "57": 500,
        "58": 500,
        "F0": 500,
        "HV": 500,
        "P0": 500,
        "XX": 500,
    }
    return by_class.get(sqlstate[:2], 400)


def from_database(error: psycopg.Error, anonymous: bool) -> ApiError:
    """The response PostgREST gives for an error raised by Postgres."""
    diag = error.diag
    if isinstance(error, psycopg.OperationalError) and not (error.sqlstate or diag.sqlstate):
        return client_error(str(error).strip())  # the connection broke: no server error
    sqlstate = error.sqlstate or diag.sqlstate or "XX000"
    message = diag.message_primary or str(error).strip()
    if sqlstate == "PGRST":
        return _raised_pgrst(message, diag.message_detail)
    status = _status_for_sqlstate(sqlstate, anonymous)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return ApiError(status, sqlstate, message, diag.message_detail, diag.message_hint, headers)


def _raised_pgrst(message: str, detail: str | None) -> ApiError:
    """`RAISE SQLSTATE 'PGRST'`: a JSON message {code, message, details, hint} and a JSON
    detail {status, headers}."""
    failure = ApiError(
        500,
        "PGRST121",
        "Could not parse JSON in the RAISE SQLSTATE 'PGRST' error",
        f"Invalid JSON value for MESSAGE: '{message}'",
        "MESSAGE must be a JSON object with obligatory keys: 'code', 'message'.",
    )
    try:
        body = json.loads(message)
    except ValueError:
        return failure
    if not isinstance(body, dict) or not {"code", "message"} <= body.keys():
        return failure
    status, headers = 400, {}
    if detail:
        try:
            extra = json.loads(detail)
            status = int(extra["status"])
            headers = {str(k): str(v) for k, v in (extra.get("headers") or {}).items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            return ApiError(
                500,
                "PGRST121",
                "Could not parse JSON in the RAISE SQLSTATE 'PGRST' error",
                f"Invalid JSON value for DETAIL: '{detail}'",
                "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' "
                "and optional key: 'status_text'.",
            )
    if not 100 <= status <= 599:
        status = 500

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return ApiError(
        status,
        str(body["code"]),
        str(body["message"]),
        text(body.get("details")),
        text(body.get("hint")),
        headers,
    )
