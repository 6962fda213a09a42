"""The public website form (POST /api/v1/leads/website, seed 004): anyone may post a lead, which
is filed at the hospital of the code (a repeat from the same phone recorded on the open lead),
and learns nothing back; a captcha when configured (against a local fake of the siteverify
protocol), a honeypot, and a limit per client address.

The sidecar is built in-process with the settings each test needs, against the running API
gateway; the leads are filed at the demo hospital (Nabha) and removed afterwards.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devstack.config import Settings
from devstack.local_server import LocalServer
from sidecar.app import create_app
from sidecar.settings import SidecarSettings

FORM = "/api/v1/leads/website"
NABHA = "10000000-0000-4000-8000-000000000001"


class FakeSiteverify:
    """Turnstile's / hCaptcha's siteverify: `good-token` passes, anything else fails."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/siteverify", self.verify, methods=["POST"])])

    async def verify(self, request: Request) -> JSONResponse:
        form = dict(await request.form())
        with self.lock:
            self.calls.append(form)
        passed = form.get("response") == "good-token" and form.get("secret") == "captcha-secret"
        return JSONResponse({"success": passed, "error-codes": [] if passed else ["invalid"]})


@pytest.fixture
def phones(stack: Settings) -> Iterator[Callable[[], str]]:
    """Fresh numbers; the leads filed with them are removed afterwards."""
    made: list[str] = []

    def make() -> str:
        made.append(f"+9196{secrets.randbelow(10**8):08d}")
        return made[-1]

    yield make
    leads = "select id from public.leads where phone = any(%(phones)s)"
    with psycopg.connect(stack.dsn(), autocommit=True) as conn, conn.transaction():
        conn.execute(
            f"delete from public.status_history where subject_id in ({leads})",  # noqa: S608
            {"phones": made},
        )
        conn.execute("delete from public.leads where phone = any(%(phones)s)", {"phones": made})


def sidecar(gateway: str, **settings: Any) -> TestClient:
    return TestClient(create_app(SidecarSettings(supabase_url=gateway, **settings)))


def filed(stack: Settings, phone: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(stack.dsn()) as conn:
        return conn.execute(
            "select hospital_id::text, full_name, source, inquiry, problem, created_via,"
            " status::text, inquiries from public.leads where phone = %s",
            (phone,),
        ).fetchall()


def form(phone: str, **fields: str) -> dict[str, str]:
    return {"hospital_code": "nab", "name": "Kiran Bala", "phone": phone, **fields}


def test_a_website_lead_is_filed_and_nothing_is_read_back(
    gateway: str, stack: Settings, phones: Callable[[], str]
) -> None:
    phone = phones()
    local = phone.removeprefix("+91")
    with sidecar(gateway) as client:
        first = client.post(
            FORM, json=form(local, inquiry="ivf", message="please call after 6", email="k@b.test")
        )
        again = client.post(FORM, json=form(phone, name="Kiran", inquiry="IUI"))
        listing = client.get(FORM)
    assert (first.status_code, first.json()) == (202, {"received": True})
    assert (again.status_code, again.json()) == (202, {"received": True}), "a repeat: the same"
    assert listing.status_code == 405, "the form only creates"
    assert filed(stack, phone) == [
        (NABHA, "Kiran Bala", "Website", "IVF", "please call after 6", "website", "new_inquiry", 2)
    ]


def test_refusals_say_why_without_telling_what_exists(
    gateway: str, stack: Settings, phones: Callable[[], str]
) -> None:
    phone = phones()
    with sidecar(gateway) as client:
        bad_phone = client.post(FORM, json=form("123456789"))
        no_hospital = client.post(FORM, json={**form(phone), "hospital_code": "NOPE"})
        no_name = client.post(FORM, json=form(phone, name=""))
        bot = client.post(FORM, json=form(phone, website="http://spam.example"))
    assert (bad_phone.status_code, bad_phone.json()["code"]) == (422, "invalid_phone")
    assert (no_hospital.status_code, no_hospital.json()["code"]) == (404, "website_leads_off")
    assert no_name.status_code == 422
    assert (bot.status_code, bot.json()) == (202, {"received": True}), "a bot is told the same"
    assert filed(stack, phone) == [], "and nothing was filed"


def test_the_captcha_is_checked_when_configured(
    gateway: str, stack: Settings, phones: Callable[[], str]
) -> None:
    fake = FakeSiteverify()
    phone = phones()
    with LocalServer(fake.app) as server:
        settings = {
            "captcha_secret": "captcha-secret",
            "captcha_verify_url": f"{server.url}/siteverify",
            "trusted_proxies": 1,
        }
        with sidecar(gateway, **settings) as client:
            headers = {"x-forwarded-for": "203.0.113.9"}
            missing = client.post(FORM, json=form(phone), headers=headers)
            failed = client.post(FORM, json=form(phone, captcha_token="bot"), headers=headers)
            good = form(phone, captcha_token="good-token")
            passed = client.post(FORM, json=good, headers=headers)
    with sidecar(gateway, captcha_secret="x", captcha_verify_url="http://127.0.0.1:9/") as client:
        unreachable = client.post(FORM, json=form(phones(), captcha_token="good-token"))
    assert (missing.status_code, missing.json()["code"]) == (403, "captcha_required")
    assert (failed.status_code, failed.json()["code"]) == (403, "captcha_failed")
    assert passed.status_code == 202
    assert (unreachable.status_code, unreachable.json()["code"]) == (503, "captcha_unavailable")
    assert fake.calls[-1] == {
        "secret": "captcha-secret",
        "response": "good-token",
        "remoteip": "203.0.113.9",
    }
    assert len(filed(stack, phone)) == 1, "filed once, after the captcha passed"


def test_posts_are_limited_per_client_address(gateway: str, phones: Callable[[], str]) -> None:
    with sidecar(gateway, website_lead_rate_limit="2/hour", trusted_proxies=1) as client:

        def post(ip: str) -> httpx.Response:
            return client.post(FORM, json=form(phones()), headers={"x-forwarded-for": ip})

        allowed = [post("198.51.100.7").status_code for _ in range(2)]
        limited = post("198.51.100.7")
        other = post("198.51.100.8")
    assert allowed == [202, 202]
    assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
    assert int(limited.headers["retry-after"]) > 0
    assert other.status_code == 202


def test_only_the_hospitals_websites_may_post_from_a_browser(gateway: str) -> None:
    origin = "https://www.janmasethu.example"
    with sidecar(gateway, website_lead_origins=origin) as client:
        preflight = {"access-control-request-method": "POST"}
        allowed = client.options(FORM, headers={"origin": origin, **preflight})
        other = client.options(FORM, headers={"origin": "https://evil.example", **preflight})
        elsewhere = client.options(
            "/api/v1/voice/callback", headers={"origin": origin, **preflight}
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in elsewhere.headers
