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
from urllib.parse import quote

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


class AuthRefusal(Exception):
    """Supabase Auth refused a user-endpoint call: its HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


async def own_user_request(
    api: SupabaseApi, access_token: str, method: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`GET` or `PUT /auth/v1/user` as the holder of the access token (Supabase Auth's own
    user endpoint, which the `supabase` client offers only for a session it keeps)."""
    headers = {
        "apikey": api.settings.supabase_anon_key,
        "Authorization": f"Bearer {access_token}",
        # The current error shape: {"code", "message"}.
        "X-Supabase-Api-Version": "2024-01-01",
    }
    if rid := request_id.get():
        headers["X-Request-Id"] = rid
    response = await api.http.request(
        method,
        f"{api.settings.supabase_url}/auth/v1/user",
        headers=headers,
        json=body,
        timeout=api.settings.supabase_timeout,
    )
    if response.status_code >= 400:
        try:
            error = response.json()
        except ValueError:
            error = {}
        raise AuthRefusal(
            response.status_code,
            str(error.get("code") or error.get("error_code") or "auth_error"),
            str(error.get("message") or error.get("msg") or response.text[:200]),
        )
    return response.json()


async def storage_object_start(api: SupabaseApi, bucket: str, path: str, length: int) -> bytes:
    """The first `length` bytes of a Storage object (one Range request, service role): what a
    header reader needs, without the rest of a large file in memory. Raises httpx.HTTPStatusError
    for a refusal (404: the object is gone)."""
    headers = {
        "apikey": api.settings.supabase_service_role_key,
        "Authorization": f"Bearer {api.settings.supabase_service_role_key}",
        "Range": f"bytes=0-{length - 1}",
    }
    if rid := request_id.get():
        headers["X-Request-Id"] = rid
    url = f"{api.settings.supabase_url}/storage/v1/object/{bucket}/{quote(path)}"
    async with api.http.stream(
        "GET", url, headers=headers, timeout=api.settings.supabase_timeout
    ) as response:
        response.raise_for_status()
        chunks = bytearray()
        async for chunk in response.aiter_bytes():
            chunks.extend(chunk)
            if len(chunks) >= length:
                break
    return bytes(chunks[:length])


async def signed_urls(
    client: AsyncClient, bucket: str, paths: list[str], expires_in: int
) -> dict[str, str | None]:
    """A signed download URL per Storage path, asked with the client's token (so Storage's
    policies decide, path by path); None for a path the caller may not read."""
    urls: dict[str, str | None] = {}
    for path in paths:
        try:
            signed = await client.storage.from_(bucket).create_signed_url(path, expires_in)
        except Exception:
            urls[path] = None
            continue
        urls[path] = signed.get("signedURL") or signed.get("signedUrl")
    return urls


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
