"""Seed 001's rate limits on the sidecar's API (sidecar.rate_limit.UsageLimits), as a client
sees them: per user, then per tenant (the hospital of the user's token), answered 429 with
Retry-After before the route runs; a forged token naming someone else spends none of their
share. The routes here stand in for the real ones (the database answers 401 for a token it
refuses, which the stand-in says with a header); the last test checks the sidecar puts the
limits in front of its /api/v1 routes and documents the 429 on each."""

from __future__ import annotations

import base64
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sidecar.app import create_app
from sidecar.rate_limit import UsageLimits

HOSPITAL_A, HOSPITAL_B = "hospital-a", "hospital-b"


def token(sub: str, hospital: str) -> str:
    claims = {"sub": sub, "role": "authenticated", "hospital_id": hospital}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{body}.signature"


async def route(request: Request) -> JSONResponse:
    # The database refuses a forged token: 401.
    if request.headers.get("x-forged"):
        return JSONResponse({"code": "invalid_token", "message": "no"}, status_code=401)
    return JSONResponse({"ok": True})


def client(per_user: str, per_tenant: str) -> TestClient:
    app = Starlette(routes=[Route("/api/v1/thing", route), Route("/healthz", route)])
    return TestClient(UsageLimits(app, per_user=per_user, per_tenant=per_tenant))


def call(http: TestClient, bearer: str | None = None, **headers: str):  # type: ignore[no-untyped-def]
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    return http.get("/api/v1/thing", headers=headers)


def test_a_user_over_the_limit_is_answered_429_with_retry_after() -> None:
    http = client("3/minute", "100/minute")
    alice = token("alice", HOSPITAL_A)
    assert [call(http, alice).status_code for _ in range(3)] == [200, 200, 200]
    refused = call(http, alice)
    assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert call(http, token("bob", HOSPITAL_A)).status_code == 200, "another user is not held"
    assert call(http).status_code == 200, "requests without a user token keep their own limits"


def test_a_tenant_over_its_limit_holds_all_its_users_but_not_another_tenant() -> None:
    http = client("100/minute", "4/minute")
    for n in range(4):
        assert call(http, token(f"user{n}", HOSPITAL_A)).status_code == 200
    refused = call(http, token("newcomer", HOSPITAL_A))
    assert refused.status_code == 429
    assert "this hospital" in refused.json()["message"]
    assert call(http, token("someone", HOSPITAL_B)).status_code == 200


def test_forged_tokens_spend_nothing_of_the_tenant_named() -> None:
    http = client("100/minute", "2/minute")
    for _ in range(5):
        assert call(http, token("mallory", HOSPITAL_A), **{"X-Forged": "1"}).status_code == 401
    assert [call(http, token("alice", HOSPITAL_A)).status_code for _ in range(2)] == [200, 200]


def test_the_sidecar_limits_every_api_route_and_documents_the_429() -> None:
    app = create_app()
    limits = [m for m in app.user_middleware if m.cls is UsageLimits]
    assert [(m.kwargs["per_user"], m.kwargs["per_tenant"]) for m in limits] == [
        ("100/minute", "1000/minute")
    ]
    undocumented = [
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in operations.items()
        if "429" not in operation["responses"]
    ]
    assert undocumented == []
