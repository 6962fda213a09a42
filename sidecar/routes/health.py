"""Liveness (the process answers) and readiness (the Supabase API answers too)."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

router = APIRouter(tags=["Health"])


class Liveness(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(description="ready, or not_ready")
    checks: dict[str, str] = Field(description="Per dependency: ok, or what went wrong")
    code: str | None = Field(None, description="not_ready, when not ready")
    message: str | None = None


@router.get("/healthz", operation_id="health_live", summary="Liveness", response_model=Liveness)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="health_ready",
    summary="Readiness: the Supabase REST and Auth APIs answer",
    response_model=Readiness,
    response_model_exclude_none=True,
    responses={503: {"model": Readiness, "description": "A dependency does not answer"}},
)
async def readyz(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    http: httpx.AsyncClient = request.app.state.http
    headers = {"apikey": settings.supabase_anon_key}
    checks: dict[str, str] = {}
    for name, path in (("rest", "/rest/v1/"), ("auth", "/auth/v1/health")):
        try:
            response = await http.get(f"{settings.supabase_url}{path}", headers=headers, timeout=3)
            checks[name] = "ok" if response.status_code < 500 else f"status {response.status_code}"
        except httpx.HTTPError as error:
            checks[name] = f"unreachable: {type(error).__name__}"
    ready = all(state == "ok" for state in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    if not ready:
        body |= {"code": "not_ready", "message": "a dependency does not answer"}
    return JSONResponse(body, status_code=200 if ready else 503)
