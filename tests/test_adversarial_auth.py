"""Attacks on sign-in, sessions and the gateway, made over HTTP as an attacker would make them
(issue 10, findings 8, 9 and the auth/gateway side channels of 12). Each test signs in or
looks like a stranger, attacks, and asserts what the attacker sees and what the victim keeps.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from devstack.config import Settings
from devstack.gateway import forwarding
from devstack.gateway.app import create_app
from tests.auth_target import (
    API_VERSION,
    TEST_PASSWORD,
    AuthTarget,
    claims,
    refresh,
    sign_in,
)

pytest_plugins = ["tests.auth_target"]

WRONG_PASSWORD = "Wrong#Passw0rd"
STAFF_LOGIN = "/api/v1/auth/staff/login"


def password_grant(target: AuthTarget, email: str, password: str, **headers: str) -> httpx.Response:
    with target.http() as http:
        return http.post(
            "/token",
            params={"grant_type": "password"},
            json={"email": email, "password": password},
            headers=headers,
        )


def age_rotation(target: AuthTarget, token: str, seconds: int = 11) -> None:
    """Move a refresh token's last rotation past the reuse interval (10 s)."""
    with target.db() as conn:
        conn.execute(
            "update auth.refresh_tokens set updated_at = now() - make_interval(secs => %s) "
            "where token = %s",
            (seconds, token),
        )


def lock_out(target: AuthTarget, email: str) -> list[httpx.Response]:
    """What a stranger does to lock an account: five wrong passwords."""
    return [
        password_grant(target, email, f"Stranger#{attempt}aA", **API_VERSION)
        for attempt in range(5)
    ]


# -- finding 8: refresh-token reuse ends the whole session -----------------------------------


def test_a_reused_refresh_token_ends_the_session_for_its_newest_token_too(
    auth: AuthTarget,
) -> None:
    """A thief replays a token the victim already rotated: the session is revoked, and the
    newest token (the one the thief may also hold) no longer refreshes, not even within the
    10 s reuse interval, nor does anything it could have produced."""
    user = auth.new_user()
    first = sign_in(auth, user["email"], TEST_PASSWORD)["refresh_token"]
    second = refresh(auth, first).json()["refresh_token"]
    newest = refresh(auth, second).json()["refresh_token"]
    age_rotation(auth, first)

    replayed = refresh(auth, first)
    assert replayed.status_code == 400
    assert replayed.json()["code"] == "refresh_token_already_used"

    for token in (newest, second, first):
        answer = refresh(auth, token)
        assert answer.status_code == 400, f"{token} still refreshes: {answer.text}"
        assert answer.json()["code"] == "refresh_token_already_used"
    with auth.db() as conn:
        alive = conn.execute(
            "select count(*) from auth.refresh_tokens as t join auth.users as u "
            "on u.id::text = t.user_id where u.email = %s and not t.revoked",
            (user["email"],),
        ).fetchone()
    assert alive == (0,)


def test_a_concurrent_refresh_within_the_reuse_interval_still_works(auth: AuthTarget) -> None:
    """What the reuse interval is for (two tabs refreshing at once) keeps working."""
    user = auth.new_user()
    first = sign_in(auth, user["email"], TEST_PASSWORD)["refresh_token"]
    second = refresh(auth, first).json()["refresh_token"]
    refresh(auth, second)
    late = refresh(auth, first)  # rotated moments ago, not the newest token's parent
    assert late.status_code == 200, late.text


# -- finding 9: a lockout locks the sign-in, never the victim's sessions ----------------------


def test_a_stranger_locking_an_account_does_not_end_the_victims_sessions(
    auth: AuthTarget,
) -> None:
    victim = auth.new_user()
    session = sign_in(auth, victim["email"], TEST_PASSWORD)

    attempts = lock_out(auth, victim["email"])
    assert [a.status_code for a in attempts] == [400] * 5

    # The sign-in is locked: even the right password is refused...
    locked = password_grant(auth, victim["email"], TEST_PASSWORD, **API_VERSION)
    assert locked.status_code == 400
    # ...but the victim's session goes on: it refreshes, and its access token still works.
    renewed = refresh(auth, session["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert (
        claims(renewed.json()["access_token"])["session_id"]
        == claims(session["access_token"])["session_id"]
    )
    with auth.http() as http:
        me = http.get("/user", headers={"Authorization": f"Bearer {session['access_token']}"})
    assert me.status_code == 200, me.text


# -- finding 12: one answer for wrong, unknown, locked and banned -----------------------------


def _refusals(auth: AuthTarget, login: Any) -> dict[str, tuple[int, Any]]:
    """What an attacker sees for each kind of account, through `login(email, password)`."""
    wrong = auth.new_user()
    locked = auth.new_user()
    banned = auth.new_user(ban_duration="24h")
    lock_out(auth, locked["email"])
    answers = {
        "wrong password": login(wrong["email"], WRONG_PASSWORD),
        "unknown email": login(f"nobody-{uuid.uuid4().hex[:8]}@example.test", WRONG_PASSWORD),
        "locked, wrong password": login(locked["email"], WRONG_PASSWORD),
        "locked, right password": login(locked["email"], TEST_PASSWORD),
        "banned, wrong password": login(banned["email"], WRONG_PASSWORD),
    }
    return {kind: (r.status_code, r.json()) for kind, r in answers.items()}


@pytest.mark.parametrize("api_version", [True, False], ids=["2024-01-01", "initial"])
def test_locked_banned_and_unknown_accounts_answer_as_a_wrong_password(
    auth: AuthTarget, api_version: bool
) -> None:
    headers = API_VERSION if api_version else {}
    seen = _refusals(auth, lambda email, pw: password_grant(auth, email, pw, **headers))
    expected = (
        {"code": "invalid_credentials", "message": "Invalid login credentials"}
        if api_version
        else {"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"}
    )
    assert seen == dict.fromkeys(seen, (400, expected))


def test_the_sidecar_staff_login_answers_them_alike(auth: AuthTarget, sidecar: str) -> None:
    with httpx.Client(base_url=sidecar, timeout=30) as api:
        seen = _refusals(
            auth,
            lambda email, pw: api.post(STAFF_LOGIN, json={"email": email, "password": pw}),
        )
    expected = {"code": "invalid_credentials", "message": "Invalid login credentials"}
    assert seen == dict.fromkeys(seen, (401, expected))


# -- finding 12: the audit trail never records a client-chosen address ------------------------


def test_a_client_chosen_x_forwarded_for_is_not_recorded(auth: AuthTarget) -> None:
    spoofed = {"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6"}
    user = auth.new_user()
    session = password_grant(auth, user["email"], TEST_PASSWORD, **spoofed)
    assert session.status_code == 200, session.text
    token = session.json()["access_token"]
    request_id = str(uuid.uuid4())
    written = httpx.post(
        f"{auth.url}/rest/v1/device_tokens",
        json={"token": f"adversarial-{request_id}", "platform": "android"},
        headers={
            "apikey": auth.settings.anon_key,
            "Authorization": f"Bearer {token}",
            "X-Request-Id": request_id,
            **spoofed,
        },
    )
    assert written.status_code == 201, written.text
    with auth.db() as conn:
        audited = conn.execute(
            "select ip_address from audit.log where request_id = %s", (request_id,)
        ).fetchall()
        session_ip = conn.execute(
            "select host(ip) from auth.sessions where id = %s",
            (claims(token)["session_id"],),
        ).fetchone()
        login_ips = conn.execute(
            "select ip_address from auth.audit_log_entries "
            "where payload ->> 'actor_id' = %s and payload ->> 'action' = 'login'",
            (user["id"],),
        ).fetchall()
    assert audited, "the write left no audit entry"
    assert {ip for (ip,) in audited} == {"127.0.0.1"}
    assert session_ip == ("127.0.0.1",)
    assert {ip for (ip,) in login_ips} == {"127.0.0.1"}


@pytest.mark.parametrize(
    ("received", "trusted_proxies", "passed_on"),
    [
        ([], 0, ["10.0.0.1"]),
        (["6.6.6.6"], 0, ["10.0.0.1"]),
        (["6.6.6.6, 203.0.113.7"], 1, ["203.0.113.7", "10.0.0.1"]),
        (["6.6.6.6", "203.0.113.7"], 1, ["203.0.113.7", "10.0.0.1"]),
        (["203.0.113.7"], 2, ["203.0.113.7", "10.0.0.1"]),
    ],
    ids=["none", "untrusted", "one proxy", "two header lines", "fewer than trusted"],
)
def test_the_gateway_passes_on_only_the_forwarded_for_entries_it_trusts(
    received: list[str], trusted_proxies: int, passed_on: list[str]
) -> None:
    """CAREBASE_GATEWAY_TRUSTED_PROXIES: the entries its trusted proxies appended, then the
    peer (10.0.0.1 here); the client is the first entry left."""
    assert forwarding.forwarded_for(received, "10.0.0.1", trusted_proxies) == passed_on


# -- finding 12: /auth/v1/token is rate limited per client address ----------------------------


@pytest.fixture
def limited_gateway(stack: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The gateway in-process with Supabase's limits lowered to 3 sign-ins and 2 refreshes."""
    monkeypatch.setenv("CAREBASE_AUTH_RATE_LIMIT_SIGN_IN_SIGN_UPS", "3")
    monkeypatch.setenv("CAREBASE_AUTH_RATE_LIMIT_TOKEN_REFRESH", "2")
    with TestClient(create_app(stack), headers={"apikey": stack.anon_key, **API_VERSION}) as client:
        yield client


def test_sign_ins_and_refreshes_are_rate_limited_per_address(
    limited_gateway: TestClient,
) -> None:
    def attempt(grant: str, body: dict[str, str], forwarded_for: str) -> httpx.Response:
        return limited_gateway.post(
            f"/auth/v1/token?grant_type={grant}",
            json=body,
            headers={"X-Forwarded-For": forwarded_for},
        )

    # Unknown emails: guesses at a real account would also count towards its lockout.
    guesses = [
        attempt(
            "password", {"email": f"guess{n}@example.test", "password": "Guess#1aA"}, f"10.0.0.{n}"
        )
        for n in range(4)
    ]
    # A different X-Forwarded-For on every try does not make a new client.
    assert [g.status_code for g in guesses] == [400, 400, 400, 429]
    assert guesses[3].json() == {
        "code": "over_request_rate_limit",
        "message": "Request rate limit reached",
    }
    refreshes = [
        attempt("refresh_token", {"refresh_token": f"nosuchtoken{n}"}, f"10.0.1.{n}")
        for n in range(3)
    ]
    assert [r.status_code for r in refreshes] == [400, 400, 429]
    assert refreshes[2].json()["code"] == "over_request_rate_limit"


# -- finding 12: very deep JSON is a clean 400, never a 500 -----------------------------------


def _raw_get(settings: Settings, path: str) -> tuple[int, dict[str, Any]]:
    """A GET with a long query string httpx would refuse to build."""
    conn = http.client.HTTPConnection(settings.api_host, settings.api_port, timeout=60)
    try:
        conn.request(
            "GET",
            path,
            headers={
                "apikey": settings.service_role_key,
                "Authorization": f"Bearer {settings.service_role_key}",
            },
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/rest/v1/device_tokens", "[" * 200_000),
        ("/rest/v1/rpc/set_doctor_schedule", '{"doctor_id": null, "hours": ' + _nested(990) + "}"),
        ("/rest/v1/rpc/set_doctor_schedule", '{"doctor_id": null, "hours": ' + _nested(65) + "}"),
    ],
    ids=["table body", "rpc argument", "just past the bound"],
)
def test_a_deeply_nested_body_is_a_clean_400(auth: AuthTarget, path: str, body: str) -> None:
    response = httpx.post(
        f"{auth.url}{path}",
        content=body,
        headers={
            "apikey": auth.settings.service_role_key,
            "Authorization": f"Bearer {auth.settings.service_role_key}",
            "Content-Type": "application/json",
            "Prefer": "tx=rollback",
        },
        timeout=60,
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "PGRST102"
    assert response.json()["details"] == "nested more than 64 levels deep"


def test_a_deeply_nested_auth_body_is_bad_json(auth: AuthTarget) -> None:
    with auth.http() as http:
        response = http.post(
            "/token",
            params={"grant_type": "password"},
            content='{"email": "a@b.test", "password": "x", "x": ' + _nested(990) + "}",
            headers={"Content-Type": "application/json", **API_VERSION},
        )
    assert response.status_code == 400
    assert response.json()["code"] == "bad_json"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("/rest/v1/audit_trail?limit=1&details=eq." + _nested(20_000), "54001"),
        ("/rest/v1/audit_trail?limit=1&details=cs." + _nested(20_000), "54001"),
        ("/rest/v1/audit_trail?limit=1&details-%3Ea=eq." + _nested(20_000), "54001"),
        (
            "/rest/v1/rpc/set_doctor_schedule?doctor_id=00000000-0000-4000-8000-000000000000"
            "&hours=" + _nested(20_000),
            "54001",
        ),
        ("/rest/v1/doctors?languages=cs." + "{" * 7 + "a" + "}" * 7, "54000"),
    ],
    ids=["jsonb filter", "jsonb contains", "json path filter", "rpc query argument", "array"],
)
def test_nesting_postgres_cannot_take_in_a_query_string_is_a_clean_400(
    stack: Settings, auth: AuthTarget, query: str, code: str
) -> None:
    status, body = _raw_get(stack, query)
    assert (status, body["code"]) == (400, code), body
    assert set(body) == {"code", "message", "details", "hint"}


# -- finding 12: the OpenAPI document lists only what the caller may use ----------------------


def _document(auth: AuthTarget, token: str | None) -> dict[str, Any]:
    headers = {"apikey": auth.settings.anon_key}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = httpx.get(f"{auth.url}/rest/v1/", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _listed(document: dict[str, Any]) -> tuple[set[str], set[str]]:
    paths = set(document["paths"]) - {"/"}
    functions = {p.removeprefix("/rpc/") for p in paths if p.startswith("/rpc/")}
    relations = {p.removeprefix("/") for p in paths if not p.startswith("/rpc/")}
    return relations, functions


def _usable(conn: psycopg.Connection, role: str) -> tuple[set[str], set[str]]:
    relations = conn.execute(
        "select c.relname from pg_class as c where c.relnamespace = 'public'::regnamespace "
        "and c.relkind in ('v', 'r', 'm', 'f', 'p') and not c.relispartition "
        "and (has_table_privilege(%(role)s, c.oid, "
        "'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') "
        "or has_any_column_privilege(%(role)s, c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))",
        {"role": role},
    ).fetchall()
    functions = conn.execute(
        "select distinct p.proname from pg_proc as p where p.pronamespace = "
        "'public'::regnamespace and p.prokind = 'f' and p.prorettype <> 'trigger'::regtype "
        "and has_function_privilege(%(role)s, p.oid, 'execute') "
        "and p.proname <> 'db_pre_request'",
        {"role": role},
    ).fetchall()
    return {r for (r,) in relations}, {f for (f,) in functions}


INTERNAL = {"db_pre_request", "claim_notifications", "rotate_field_key", "verify_audit_chain"}


def test_the_anonymous_openapi_document_lists_only_what_anon_may_use(auth: AuthTarget) -> None:
    relations, functions = _listed(_document(auth, None))
    with auth.db() as conn:
        usable_relations, usable_functions = _usable(conn, "anon")
    assert not functions & INTERNAL
    assert functions == usable_functions
    assert relations == usable_relations
    document = _document(auth, None)
    assert set(document["definitions"]) == usable_relations
    assert not any(name.startswith("body.") and name[5:] not in relations
                   for name in document["parameters"])  # fmt: skip


def test_a_signed_in_user_sees_what_authenticated_may_use(auth: AuthTarget) -> None:
    user = auth.new_user()
    token = sign_in(auth, user["email"], TEST_PASSWORD)["access_token"]
    relations, functions = _listed(_document(auth, token))
    with auth.db() as conn:
        usable_relations, usable_functions = _usable(conn, "authenticated")
    assert functions == usable_functions
    assert relations == usable_relations
    assert not functions & INTERNAL
    assert "book_appointment" in functions

    service_relations, service_functions = _listed(_document(auth, auth.settings.service_role_key))
    assert "verify_audit_chain" in service_functions
    assert "db_pre_request" not in service_functions
    assert relations <= service_relations
