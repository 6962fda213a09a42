"""The gateway in front of /rest/v1 and /auth/v1: the API key check as Supabase's gateway
does it, the key standing in for a missing bearer token, and a request id on every answer
and log line."""

from __future__ import annotations

import asyncio
import logging
import uuid

import httpx
import pytest

from devstack.config import Settings
from devstack.gateway.app import Gateway

pytest_plugins = ["tests.rest_conformance"]


@pytest.mark.parametrize("path", ["/rest/v1/conformance_authors", "/rest/v1/", "/auth/v1/user"])
def test_a_request_without_an_api_key_is_refused(rest_url, conformance, path):
    response = httpx.get(f"{rest_url}{path}")
    assert response.status_code == 401
    assert response.json() == {"message": "No API key found in request"}


def test_an_unknown_api_key_is_refused(rest_url, conformance):
    response = httpx.get(f"{rest_url}/rest/v1/conformance_authors", headers={"apikey": "nope"})
    assert response.status_code == 401
    assert response.json()["message"]


def test_the_api_key_may_come_as_a_query_parameter(rest_url, settings, conformance):
    response = httpx.get(
        f"{rest_url}/rest/v1/conformance_authors",
        params={"apikey": settings.anon_key, "select": "id", "order": "id"},
    )
    assert response.status_code == 200
    assert response.json() == [{"id": 1}, {"id": 2}, {"id": 3}]  # apikey is no filter


def test_without_authorization_the_api_key_is_the_bearer_token(rest_url, settings, conformance):
    def user(key: str) -> str:
        response = httpx.get(f"{rest_url}/rest/v1/rpc/conformance_context", headers={"apikey": key})
        assert response.status_code == 200, response.text
        return response.json()["user"]

    assert user(settings.anon_key) == "anon"
    assert user(settings.service_role_key) == "service_role"


def test_every_request_gets_an_id_in_its_answer_and_its_log_line(caplog):
    """devstack's own middleware, in-process (Supabase's gateway names its ids otherwise)."""
    settings = Settings.from_env()
    seen: list[dict[bytes, bytes]] = []

    async def service(scope, receive, send):
        seen.append(dict(scope["headers"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=Gateway(service, settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            key = {"apikey": settings.anon_key}
            return [
                await client.get("/rest/v1/things", headers={**key, "X-Request-Id": "abc-1"}),
                await client.get("/rest/v1/things", headers=key),
                await client.get("/auth/v1/user"),
            ]

    with caplog.at_level(logging.INFO, logger="carebase.gateway"):
        given, generated, refused = asyncio.run(calls())
    assert given.headers["x-request-id"] == "abc-1"
    new_id = generated.headers["x-request-id"]
    assert uuid.UUID(new_id)
    assert refused.status_code == 401 and uuid.UUID(refused.headers["x-request-id"])
    # the service sees the id, and the API key as the bearer token
    assert seen[1][b"x-request-id"] == new_id.encode()
    assert seen[1][b"authorization"] == f"Bearer {settings.anon_key}".encode()
    lines = [record.getMessage() for record in caplog.records]
    assert any(line.startswith("abc-1 GET /rest/v1/things 200 ") for line in lines), lines
    assert any(line.startswith(f"{new_id} GET /rest/v1/things 200 ") for line in lines)
    assert any(
        line.startswith(f"{refused.headers['x-request-id']} GET /auth/v1/user 401 ")
        for line in lines
    )
