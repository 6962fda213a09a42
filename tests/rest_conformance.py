"""Fixtures for the /rest/v1 conformance tests (loaded with `pytest_plugins`).

The tests talk HTTP to a running gateway: `CAREBASE_TEST_API_URL` when set (devstack or a
real `supabase start`), else the `gateway` fixture of conftest.py. The tables, views and
functions they need are created in `public` with the prefix `conformance_`, granted to the
API roles and dropped at the end; the test waits until the API's schema cache shows them.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from devstack.config import Settings
from devstack.gateway import tokens
from devstack.postgrest_session import PostgrestSession

PATIENT_USER_ID = "50000000-0000-4000-8000-000000000001"  # phone +919876500001 in the seed

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_sql(name: str) -> str:
    """The text of tests/fixtures/<name>.sql (linted by sqlfluff with the migrations)."""
    return (FIXTURES / f"{name}.sql").read_text()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def rest_url(request: pytest.FixtureRequest) -> str:
    """The API's base URL (…:54321): CAREBASE_TEST_API_URL, else the gateway fixture."""
    url = os.environ.get("CAREBASE_TEST_API_URL")
    if url:
        return url.rstrip("/")
    return str(request.getfixturevalue("gateway")).rstrip("/")


def _wait_for_schema(base: str, key: str) -> None:
    """Until every gateway worker's schema cache shows the conformance objects."""
    deadline = time.monotonic() + 20
    streak = 0
    with httpx.Client(base_url=f"{base}/rest/v1", headers={"apikey": key}) as client:
        while time.monotonic() < deadline:
            table = client.get("/conformance_notes", params={"select": "id", "limit": "0"})
            rpc = client.get("/rpc/conformance_add", params={"a": "1"})
            streak = streak + 1 if table.status_code == 200 and rpc.status_code == 200 else 0
            if streak >= 6:
                return
            time.sleep(0.1)
    raise AssertionError("the REST API never showed the conformance schema (schema reload)")


@pytest.fixture(scope="session")
def conformance(rest_url: str, settings: Settings) -> Iterator[None]:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        conn.execute(fixture_sql("conformance_teardown"))
        conn.execute(fixture_sql("conformance_schema"))
        conn.execute(fixture_sql("conformance_data"))
    try:
        _wait_for_schema(rest_url, settings.service_role_key)
        yield
    finally:
        with psycopg.connect(settings.dsn(), autocommit=True) as conn:
            conn.execute(fixture_sql("conformance_teardown"))


@pytest.fixture
def reset_data(settings: Settings, conformance: None) -> Iterator[None]:
    """Restores the conformance rows a write test changed."""
    yield
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        conn.execute(fixture_sql("conformance_reset"))


@contextlib.contextmanager
def authenticator_setting(settings: Settings, name: str, value: str) -> Iterator[None]:
    """PostgREST's in-database configuration: `alter role authenticator set pgrst.<name>`,
    announced with `NOTIFY pgrst, 'reload config'`; the previous value is put back after."""
    setting = f"pgrst.{name}"
    admin = settings.dsn(settings.admin_user)
    with psycopg.connect(admin, autocommit=True) as conn:
        (previous,) = conn.execute(
            "select (select substr(cfg, strpos(cfg, '=') + 1)"
            " from pg_db_role_setting s, unnest(s.setconfig) cfg"
            " where s.setrole = 'authenticator'::regrole and s.setdatabase = 0"
            " and split_part(cfg, '=', 1) = %s)",
            (setting,),
        ).fetchone()
        conn.execute(
            sql.SQL("alter role authenticator set {} = {}").format(
                sql.Identifier(setting), sql.Literal(value)
            )
        )
        conn.execute("notify pgrst, 'reload config'")
    try:
        yield
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            if previous is None:
                conn.execute(
                    sql.SQL("alter role authenticator reset {}").format(sql.Identifier(setting))
                )
            else:
                conn.execute(
                    sql.SQL("alter role authenticator set {} = {}").format(
                        sql.Identifier(setting), sql.Literal(previous)
                    )
                )
            conn.execute("notify pgrst, 'reload config'")


def eventually(check: Any, seconds: float = 10) -> bool:
    """Whether `check()` holds six times in a row within `seconds`: every gateway worker
    (or PostgREST instance) has taken a reload in."""
    deadline = time.monotonic() + seconds
    streak = 0
    while time.monotonic() < deadline:
        streak = streak + 1 if check() else 0
        if streak >= 6:
            return True
        time.sleep(0.05)
    return False


class Api:
    """Raw HTTP against /rest/v1 with a given bearer token."""

    def __init__(self, base: str, apikey: str, token: str | None = None) -> None:
        headers = {"apikey": apikey}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.Client(base_url=f"{base}/rest/v1", headers=headers, timeout=30)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.fixture
def anon(rest_url: str, settings: Settings, conformance: None) -> Iterator[Api]:
    api = Api(rest_url, settings.anon_key)
    yield api
    api.client.close()


@pytest.fixture
def service(rest_url: str, settings: Settings, conformance: None) -> Iterator[Api]:
    api = Api(rest_url, settings.service_role_key)
    yield api
    api.client.close()


def user_token(settings: Settings, user_id: str) -> str:
    """An access token as Supabase Auth issues it (custom access token hook included)."""
    with psycopg.connect(settings.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(user_id)
    return tokens.issue(claims, settings.jwt_secret)


@pytest.fixture
def patient(rest_url: str, settings: Settings, conformance: None) -> Iterator[Api]:
    api = Api(rest_url, settings.anon_key, user_token(settings, PATIENT_USER_ID))
    yield api
    api.client.close()


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """A PostgREST error: the status, and exactly the four keys, strings or null."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"code", "message", "details", "hint"}, body
    assert isinstance(body["code"], str) and isinstance(body["message"], str)
    if code is not None:
        assert body["code"] == code, body
    return body
