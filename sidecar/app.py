"""The sidecar's app factory: settings, shared HTTP pool, logs, errors and routes."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, Depends, FastAPI

from sidecar.errors import install_error_handlers
from sidecar.form_cors import WebsiteFormCors
from sidecar.integrations.claude import ClaudeClient
from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.observability import RequestContext
from sidecar.rate_limit import RateLimit, UsageLimits
from sidecar.routes import (
    analytics,
    communications,
    copilot,
    document_verify,
    documents,
    health,
    patient_auth,
    payments,
    radiology,
    reports,
    staff,
    staff_auth,
    users,
    voice,
    webhooks,
    website_leads,
)
from sidecar.settings import SidecarSettings, get_settings

API_PREFIX = "/api/v1"


def create_app(settings: SidecarSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=settings.supabase_timeout) as http:
            app.state.http = http
            app.state.supabase = SupabaseApi(settings, http)
            # The copilot's model client: one per app (the SDK's own connection pool).
            app.state.claude = ClaudeClient(settings)
            try:
                yield
            finally:
                await app.state.claude.close()

    app = FastAPI(
        title="carebase sidecar",
        version="1.0.0",
        description=(
            "What the database cannot do itself: phone login through Firebase, staff "
            "provisioning, signed webhooks, notification delivery. Everything else is the "
            "Supabase REST API."
        ),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    # Live analytics streams held per user (sidecar/routes/analytics.py).
    app.state.analytics_streams = Counter()
    app.add_middleware(
        UsageLimits,
        per_user=settings.user_rate_limit,
        per_tenant=settings.tenant_rate_limit,
        trusted_proxies=settings.trusted_proxies,
        prefix=f"{API_PREFIX}/",
    )
    app.add_middleware(RequestContext)
    if origins := [o.strip() for o in settings.website_lead_origins.split(",") if o.strip()]:
        app.add_middleware(WebsiteFormCors, path=f"{API_PREFIX}/leads/website", origins=origins)
    install_error_handlers(app)

    auth_limit = RateLimit("auth", settings.auth_rate_limit, settings.trusted_proxies)
    app.state.auth_rate_limit = auth_limit
    auth_routes = APIRouter(dependencies=[Depends(auth_limit)])
    auth_routes.include_router(staff_auth.router)
    auth_routes.include_router(patient_auth.router)

    # The copilot: per user (the token's subject), since each message costs model tokens.
    copilot_limit = RateLimit(
        "copilot",
        settings.copilot_rate_limit,
        settings.trusted_proxies,
        key=copilot.rate_key,
        who="this user",
    )
    copilot_routes = APIRouter(dependencies=[Depends(copilot_limit)])
    copilot_routes.include_router(copilot.router)

    # The public website form: per client address, since anyone may post it.
    website_limit = RateLimit(
        "website_leads", settings.website_lead_rate_limit, settings.trusted_proxies
    )
    website_routes = APIRouter(dependencies=[Depends(website_limit)])
    website_routes.include_router(website_leads.router)

    # The public verify route of the PDFs' QR codes: per client address.
    verify_limit = RateLimit("verify", settings.verify_rate_limit, settings.trusted_proxies)
    verify_routes = APIRouter(dependencies=[Depends(verify_limit)])
    verify_routes.include_router(document_verify.router)

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(auth_routes)
    api.include_router(staff.router)
    api.include_router(communications.router)
    api.include_router(analytics.router)
    api.include_router(users.router)
    api.include_router(radiology.router)
    api.include_router(webhooks.router)
    api.include_router(voice.router)
    api.include_router(payments.router)
    api.include_router(reports.router)
    api.include_router(documents.router)
    api.include_router(verify_routes)
    api.include_router(copilot_routes)
    api.include_router(website_routes)
    app.include_router(api)
    app.include_router(health.router)
    return app
