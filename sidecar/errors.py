"""One error shape for every failure: `{"code": "...", "message": "..."}` with a stable code.

Routes raise `ApiError`; validation errors, unknown routes and wrong methods are turned into
the same shape here, so a client never has to parse two formats; and the database's refusals
are mapped here, once (`database_error`), for every caller of the Supabase API.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from postgrest.exceptions import APIError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from supabase_auth.errors import AuthRetryableError

log = logging.getLogger("sidecar.errors")


class ErrorBody(BaseModel):
    code: str
    message: str


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the errors a route can answer.

    Every route can meet a body it cannot parse (400), the per-user and per-tenant limits
    (429, sidecar.rate_limit.UsageLimits) and a failure of its own (500).
    """
    return {
        status: {"model": ErrorBody, "description": HTTPStatus(status).phrase}
        for status in sorted({*statuses, 400, 429, 500})
    }


# PostgREST error codes (and SQLSTATEs) → the sidecar's HTTP status and stable code.
_DATABASE_ERRORS = {
    "PGRST301": (401, "invalid_token"),
    "PGRST302": (401, "invalid_token"),
    "PGRST303": (401, "invalid_token"),
    "42501": (403, "forbidden"),
    "PGRST116": (404, "not_found"),
    # PostgREST's custom status 404, which the project's RPCs raise for "not found".
    "PT404": (404, "not_found"),
    "23505": (409, "conflict"),
    "23P01": (409, "conflict"),
    "23503": (409, "conflict"),
    "23514": (422, "constraint_violated"),
    "22023": (422, "invalid_value"),
    "22P02": (422, "invalid_value"),
    # Concurrent transactions collided; nothing was done, and the same call can succeed.
    "40001": (503, "try_again"),
    "40P01": (503, "try_again"),
}
# PostgREST answers a raised PTxyz with HTTP xyz; the project's functions raise them.
_PT_STATUS = re.compile(r"PT[45]\d\d")
# The snake_case code a function puts in DETAIL (`staff_phone`, `insufficient_aal`).
_MACHINE_CODE = re.compile(r"^[a-z][a-z_]{2,63}$")


def database_error(
    error: APIError, refusals: Mapping[str, tuple[int, str, str]] | None = None
) -> ApiError:
    """The database's refusal as the sidecar's error, keeping its message.

    Status: PTxyz's digits, else the table's (502 for a code it does not know). Code: the
    machine code in DETAIL, else the table's. `refusals` answers chosen DETAIL codes with a
    caller's own (status, code, message) instead.
    """
    details = error.details if isinstance(error.details, str) else ""
    if refusals and details in refusals:
        return ApiError(*refusals[details])
    sqlstate = error.code or ""
    status, code = _DATABASE_ERRORS.get(sqlstate, (502, "upstream_error"))
    if _PT_STATUS.fullmatch(sqlstate):
        status = int(sqlstate[2:])
    if _MACHINE_CODE.match(details):
        code = details
    return ApiError(status, code, error.message or "the database refused the request")


# Codes for the statuses the framework itself produces.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    return f"{where}: {error.get('msg')}" if where else str(error.get("msg"))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_describe(e) for e in error.errors()[:5])
        return error_response(422, "validation_failed", f"invalid request: {problems}")

    @app.exception_handler(HTTPException)
    async def _http(_: Request, error: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(error.status_code, "http_error")
        message = (
            error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).phrase
        )
        return error_response(error.status_code, code, message, getattr(error, "headers", None))

    @app.exception_handler(httpx.TransportError)
    @app.exception_handler(AuthRetryableError)
    async def _unreachable(_: Request, error: Exception) -> JSONResponse:
        log.error("supabase api unreachable", exc_info=error)
        return error_response(503, "upstream_unavailable", "the Supabase API does not answer")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=error)
        return error_response(500, "internal_error", "the server failed; the request id names it")
