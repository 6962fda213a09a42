"""The sidecar's only way to the database: the Supabase API, through the `supabase` client.

Work done for a user runs with that user's own JWT, so row-level security bounds it exactly
as it bounds the user's app. The service role is for system work only, and then only
through named RPC functions. Every client forwards the request id (see observability).
"""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from postgrest.exceptions import APIError
from supabase import AsyncClient, AsyncClientOptions

from sidecar.errors import ApiError
from sidecar.observability import request_id
from sidecar.settings import SidecarSettings


class SupabaseApi:
    """Builds per-request clients over one shared connection pool."""

    def __init__(self, settings: SidecarSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http

    def _client(self, bearer: str) -> AsyncClient:
        headers = {"Authorization": f"Bearer {bearer}"}
        if rid := request_id.get():
            headers["X-Request-Id"] = rid
        options = AsyncClientOptions(
            headers=headers,
            auto_refresh_token=False,
            persist_session=False,
            httpx_client=self.http,
            postgrest_client_timeout=self.settings.supabase_timeout,
            postgrest_client_retry=False,
        )
        return AsyncClient(self.settings.supabase_url, self.settings.supabase_anon_key, options)

    def as_user(self, access_token: str) -> AsyncClient:
        """Acts as the caller: RLS applies."""
        return self._client(access_token)

    def anonymous(self) -> AsyncClient:
        return self._client(self.settings.supabase_anon_key)

    def as_service(self) -> AsyncClient:
        """Bypasses RLS: for system work through named RPCs and the Auth admin API only."""
        client = self._client(self.settings.supabase_service_role_key)
        # The service key is also the apikey, as Supabase's own server clients send it.
        client.options.headers["apikey"] = self.settings.supabase_service_role_key
        return client


def supabase_api(request: Request) -> SupabaseApi:
    return request.app.state.supabase


Supabase = Annotated[SupabaseApi, Depends(supabase_api)]

_bearer = HTTPBearer(auto_error=False, description="A Supabase access token (JWT)")


def caller_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The caller's Supabase access token; the database verifies it on every call."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise ApiError(401, "missing_token", "send the access token as `Authorization: Bearer ...`")
    return credentials.credentials


CallerToken = Annotated[str, Depends(caller_token)]

# PostgREST error codes (and SQLSTATEs) → the sidecar's HTTP status and stable code.
_POSTGREST_ERRORS = {
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


def api_error_from(error: APIError) -> ApiError:
    """The database's refusal as the sidecar's error, keeping its message."""
    status, code = _POSTGREST_ERRORS.get(error.code or "", (502, "upstream_error"))
    return ApiError(status, code, error.message or "the database refused the request")
