"""What a route takes from the request besides its body: the Supabase API and the caller's token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sidecar.errors import ApiError
from sidecar.integrations.supabase_api import SupabaseApi


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
