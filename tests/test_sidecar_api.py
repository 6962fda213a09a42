"""The sidecar as a client sees it: its OpenAPI document, error shape, request ids, health,
the staff login alias and the per-IP limit on the auth routes.

Most tests call the sidecar `make up` runs (:8000); the rate limit and an unreachable
Supabase API are tested on an app built in-process with those settings.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import re
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

import sidecar.routes
from devstack.config import Settings
from sidecar import observability
from sidecar.app import create_app
from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.settings import SidecarSettings
from tests.auth_target import DEMO_DOCTOR, DEMO_PASSWORD, TEST_PASSWORD, AuthTarget, claims, sign_in

pytest_plugins = ["tests.auth_target"]

STAFF_LOGIN = "/api/v1/auth/staff/login"


@pytest.fixture
def api(sidecar: str) -> httpx.Client:
    with httpx.Client(base_url=sidecar, timeout=30) as client:
        yield client


def _openapi(api: httpx.Client) -> dict[str, Any]:
    response = api.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_openapi_document_is_valid_and_versioned(api: httpx.Client) -> None:
    document = _openapi(api)
    validate(document)
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) - {"/healthz", "/readyz"} == {
        path for path in document["paths"] if path.startswith("/api/v1/")
    }


def test_every_route_documents_its_error_shape(api: httpx.Client) -> None:
    document = _openapi(api)
    error_ref = "#/components/schemas/ErrorBody"
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            errors = {code: r for code, r in operation["responses"].items() if code >= "400"}
            assert "500" in errors, f"{method} {path} documents no server error"
            for code, response in errors.items():
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": error_ref}, f"{method} {path} {code}"
    assert set(document["components"]["schemas"]["ErrorBody"]["required"]) == {"code", "message"}


# Every operation's id, as generated clients name their methods: a rename shows here in review.
OPERATION_IDS = {
    ("GET", "/healthz"): "health_live",
    ("GET", "/readyz"): "health_ready",
    ("POST", "/api/v1/auth/staff/login"): "staff_login",
    ("POST", "/api/v1/auth/patient/otp"): "patient_login_otp",
    ("POST", "/api/v1/auth/patient/verify"): "patient_login_verify",
    ("POST", "/api/v1/auth/patient/exchange"): "patient_login_exchange",
    ("POST", "/api/v1/auth/patient/refresh"): "patient_login_refresh",
    ("POST", "/api/v1/doctors"): "doctor_create",
    ("PUT", "/api/v1/doctors/{doctor_id}"): "doctor_update",
    ("POST", "/api/v1/doctors/{doctor_id}/deactivate"): "doctor_deactivate",
    ("POST", "/api/v1/doctors/{doctor_id}/reactivate"): "doctor_reactivate",
    ("POST", "/api/v1/pharmacists"): "pharmacist_create",
    ("PUT", "/api/v1/pharmacists/{pharmacist_id}"): "pharmacist_update",
    ("POST", "/api/v1/pharmacists/{pharmacist_id}/deactivate"): "pharmacist_deactivate",
    ("POST", "/api/v1/pharmacists/{pharmacist_id}/reactivate"): "pharmacist_reactivate",
    ("POST", "/api/v1/staff"): "staff_create",
    ("POST", "/api/v1/staff/{membership_id}/deactivate"): "staff_deactivate",
    ("POST", "/api/v1/staff/{membership_id}/reactivate"): "staff_reactivate",
    ("POST", "/api/v1/users/{user_id}/password-reset"): "user_password_reset",
    ("PATCH", "/api/v1/users/{user_id}/password"): "user_password_change",
    ("GET", "/api/v1/scans/{scan_id}/dicom"): "scan_dicom_urls",
    ("POST", "/api/v1/webhooks/cal"): "calcom_webhook_receive",
    ("POST", "/api/v1/webhooks/vapi"): "vapi_webhook_receive",
    ("POST", "/api/v1/webhooks/twilio/sms"): "twilio_sms_receive",
    ("POST", "/api/v1/webhooks/razorpay"): "razorpay_webhook_receive",
    ("POST", "/api/v1/payments/process"): "payments_process",
    ("POST", "/api/v1/payments/refund"): "payments_refund",
    ("POST", "/api/v1/invoices/{invoice_id}/payment-link"): "invoice_payment_link",
    ("GET", "/api/v1/reports/{report}/xlsx"): "report_export_xlsx",
    ("POST", "/api/v1/webhooks/twilio/status"): "twilio_status_receive",
    ("POST", "/api/v1/webhooks/twilio/whatsapp"): "twilio_whatsapp_receive",
    ("POST", "/api/v1/communications"): "communication_create",
    ("GET", "/api/v1/analytics/realtime"): "analytics_realtime_stream",
    ("GET", "/api/v1/invoices/{invoice_id}/pdf"): "invoice_pdf",
    ("GET", "/api/v1/prescriptions/{prescription_id}/pdf"): "prescription_pdf",
    ("GET", "/api/v1/verify/{token}"): "document_verify",
    ("POST", "/api/v1/voice/callback"): "voice_callback_request",
    ("POST", "/api/v1/leads/website"): "website_lead_create",
    ("POST", "/api/v1/sessions/copilot"): "copilot_message",
    ("POST", "/api/v1/sessions/copilot/{session_id}/actions/{action_id}/confirm"): (
        "copilot_confirm_action"
    ),
    ("POST", "/api/v1/sessions/copilot/{session_id}/actions/{action_id}/reject"): (
        "copilot_reject_action"
    ),
    ("POST", "/api/v1/sessions/copilot/{session_id}/close"): "copilot_close_session",
}


def test_every_operation_has_a_stable_explicit_id() -> None:
    """`<what>_<action>` in snake_case, set on the route (not FastAPI's path-derived default)."""
    routes = [
        route
        for module in pkgutil.iter_modules(sidecar.routes.__path__)
        for route in getattr(
            importlib.import_module(f"sidecar.routes.{module.name}"), "router", APIRouter()
        ).routes
        if isinstance(route, APIRoute)
    ]
    implicit = [route.path for route in routes if not route.operation_id]
    assert not implicit, f"routes without an explicit operation_id: {implicit}"
    document = create_app(SidecarSettings()).openapi()
    ids = {
        (method.upper(), path): operation["operationId"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert ids == OPERATION_IDS
    assert set(ids.values()) == {route.operation_id for route in routes}
    assert len(set(ids.values())) == len(ids), "operation ids repeat"
    for operation_id in ids.values():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)+", operation_id), operation_id


def test_errors_have_one_shape(api: httpx.Client) -> None:
    not_found = api.get("/api/v1/no-such-route")
    assert not_found.status_code == 404
    assert not_found.json() == {"code": "not_found", "message": "Not Found"}

    wrong_method = api.get(STAFF_LOGIN)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"

    invalid = api.post(STAFF_LOGIN, json={"email": "no-at-sign"})
    assert invalid.status_code == 422
    body = invalid.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == "validation_failed"
    assert "email" in body["message"] and "password" in body["message"]

    not_json = api.post(STAFF_LOGIN, content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 422
    assert not_json.json()["code"] == "validation_failed"

    # Text the database cannot store is the caller's mistake, not a failure of the server.
    nul = api.post(STAFF_LOGIN, json={"email": "a\u0000@b.test", "password": "x"})
    assert nul.status_code == 422
    assert nul.json()["code"] == "validation_failed"


def test_request_id_is_returned_or_made(api: httpx.Client) -> None:
    generated = api.get("/healthz").headers["x-request-id"]
    assert uuid.UUID(generated)
    request_id = f"sidecar-test-{uuid.uuid4().hex}"
    assert api.get("/healthz", headers={"X-Request-Id": request_id}).headers["x-request-id"] == (
        request_id
    )
    # A header that could forge log lines is replaced, not echoed.
    hostile = api.get("/healthz", headers={"X-Request-Id": "a b\tc"})
    assert uuid.UUID(hostile.headers["x-request-id"])


def test_request_id_reaches_the_audit_trail_of_writes_made_for_a_user(
    gateway: str, auth: AuthTarget, db: psycopg.Connection
) -> None:
    user = auth.new_user()
    session = sign_in(auth, user["email"], TEST_PASSWORD)
    request_id = f"sidecar-test-{uuid.uuid4().hex}"

    async def rename() -> None:
        async with httpx.AsyncClient() as http:
            supabase = SupabaseApi(SidecarSettings(supabase_url=gateway), http)
            token = observability.request_id.set(request_id)
            try:
                client = supabase.as_user(session["access_token"])
                await (
                    client.table("profiles")
                    .update({"full_name": "Renamed"})
                    .eq("id", user["id"])
                    .execute()
                )
            finally:
                observability.request_id.reset(token)

    asyncio.run(rename())
    rows = db.execute(
        "select action, table_name, actor_id::text from audit.log where request_id = %s",
        (request_id,),
    ).fetchall()
    assert rows == [("UPDATE", "public.profiles", user["id"])]


def test_health_and_readiness(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"rest": "ok", "auth": "ok"}


def test_readiness_fails_when_the_supabase_api_is_down() -> None:
    app = create_app(SidecarSettings(supabase_url="http://127.0.0.1:9"))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        login = client.post(STAFF_LOGIN, json={"email": "a@b.c", "password": "x"})
    assert ready.status_code == 503
    assert ready.json()["code"] == "not_ready"
    assert ready.json()["checks"]["rest"].startswith("unreachable")
    assert login.status_code == 503
    assert login.json()["code"] == "upstream_unavailable"


def test_auth_routes_are_rate_limited_per_client_ip(gateway: str) -> None:
    settings = SidecarSettings(
        supabase_url=gateway, auth_rate_limit="3/15 minutes", trusted_proxies=1
    )
    wrong = {"email": "nobody@example.test", "password": "wrong"}
    with TestClient(create_app(settings)) as client:

        def login(ip: str) -> httpx.Response:
            return client.post(STAFF_LOGIN, json=wrong, headers={"x-forwarded-for": ip})

        first = [login("10.0.0.1") for _ in range(3)]
        limited = login("10.0.0.1")
        other_ip = login("10.0.0.2")
        health = [client.get("/healthz") for _ in range(5)]
    assert [r.status_code for r in first] == [401, 401, 401]
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert 0 < int(limited.headers["retry-after"]) <= 15 * 60
    assert other_ip.status_code == 401
    assert {r.status_code for r in health} == {200}


def test_staff_login_returns_a_session_the_rest_api_accepts(
    api: httpx.Client, stack: Settings
) -> None:
    response = api.post(STAFF_LOGIN, json={"email": DEMO_DOCTOR, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["token_type"] == "bearer"
    assert session["expires_in"] == 900
    user = session["user"]
    assert user["email"] == DEMO_DOCTOR
    assert user["role"] == "doctor"
    assert user["hospital_id"] == "10000000-0000-4000-8000-000000000001"
    assert claims(session["access_token"])["user_role"] == "doctor"

    rest = httpx.get(
        f"{stack.api_url}/rest/v1/doctors",
        params={"select": "user_id", "user_id": f"eq.{user['id']}"},
        headers={"apikey": stack.anon_key, "Authorization": f"Bearer {session['access_token']}"},
    )
    assert rest.status_code == 200
    assert rest.json() == [{"user_id": user["id"]}]


def test_staff_login_refusals(api: httpx.Client, auth: AuthTarget) -> None:
    wrong = api.post(STAFF_LOGIN, json={"email": DEMO_DOCTOR, "password": "Wrong#Passw0rd"})
    assert wrong.status_code == 401
    assert wrong.json() == {"code": "invalid_credentials", "message": "Invalid login credentials"}
    # The lockout of the password verification hook: after five failures even the right
    # password is refused, with the answer of a wrong password (nobody learns of the lock).
    user = auth.new_user()
    for _ in range(5):
        failed = api.post(STAFF_LOGIN, json={"email": user["email"], "password": "Nope#123abc"})
        assert failed.status_code == 401
    locked = api.post(STAFF_LOGIN, json={"email": user["email"], "password": TEST_PASSWORD})
    assert (locked.status_code, locked.json()) == (401, wrong.json())

    # A banned (deactivated) login: the same answer, even with the right password.
    banned = auth.new_user(ban_duration="24h")
    refused = api.post(STAFF_LOGIN, json={"email": banned["email"], "password": TEST_PASSWORD})
    assert (refused.status_code, refused.json()) == (401, wrong.json())
