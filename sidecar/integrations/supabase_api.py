"""The sidecar's only way to the database: the Supabase API, through the `supabase` client.

Work done for a user runs with that user's own JWT, so row-level security bounds it exactly
as it bounds the user's app. The service role is for system work only, and then only
through named RPC functions. Every client forwards the request id (see observability).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import httpx
from postgrest.exceptions import APIError
from supabase import AsyncClient, AsyncClientOptions

from sidecar.errors import database_error
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


async def call_rpc(
    client: AsyncClient,
    function: str,
    params: dict[str, Any],
    refusals: Mapping[str, tuple[int, str, str]] | None = None,
) -> Any:
    """A named RPC's result; its refusal as the sidecar's error (see errors.database_error)."""
    try:
        return (await client.rpc(function, params).execute()).data
    except APIError as error:
        raise database_error(error, refusals) from error


def token_claims(token: str) -> dict[str, Any]:
    """A Supabase access token's claims, unverified: only to pick the caller's own rows and to
    key rate limits (the database verifies the token on every call)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}
