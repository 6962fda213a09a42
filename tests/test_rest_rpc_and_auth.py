"""/rest/v1 functions (RPC) and the per-request context: JWT checks, role, claims, settings,
read-only transactions, RLS as a demo user, error mapping of raised exceptions."""

from __future__ import annotations

import time

import jwt
import pytest
from psycopg import sql

pytest.register_assert_rewrite("tests.rest_conformance")

from devstack.gateway import tokens  # noqa: E402
from tests.rest_conformance import Api, assert_error, fixture_sql  # noqa: E402

pytest_plugins = ["tests.rest_conformance"]


def test_rpc_named_arguments(anon):
    assert anon.post("/rpc/conformance_add", json={"a": 1, "b": 2}).json() == 3
    assert anon.get("/rpc/conformance_add", params={"a": 1}).json() == 11  # b's default


def test_rpc_unknown_function_or_arguments_is_404(anon):
    body = assert_error(anon.post("/rpc/conformance_nothing", json={}), 404, "PGRST202")
    assert body["message"] == (
        "Could not find the function public.conformance_nothing without parameters in the "
        "schema cache"
    )
    assert_error(anon.post("/rpc/conformance_add", json={"x": 1}), 404, "PGRST202")
    assert_error(anon.get("/rpc/conformance_add"), 404, "PGRST202")


def test_rpc_argument_with_a_nul_byte_is_refused_cleanly(anon):
    """A GET argument with NUL (from the OpenAPI fuzz; it was a 500): 400 as Postgres says."""
    response = anon.get("/rpc/conformance_books_by", params={"author": "1\x00"})
    assert_error(response, 400, "22021")


def test_rpc_set_of_rows_takes_select_filters_order_and_limit(anon):
    response = anon.get(
        "/rpc/conformance_books_by",
        params={"author": 2, "select": "title", "order": "id.desc", "pages": "gt.10"},
        headers={"Prefer": "count=exact"},
    )
    assert response.json() == [{"title": "Morphogenesis"}, {"title": "Computable Numbers"}]
    assert response.headers["content-range"] == "0-1/2"
    limited = anon.post("/rpc/conformance_books_by", params={"limit": 1}, json={"author": 2})
    assert [row["id"] for row in limited.json()] == [2]


def test_rpc_result_shapes(anon):
    assert anon.post("/rpc/conformance_echo", json={"x": [1, 2]}).json() == {"x": [1, 2]}
    void = anon.post("/rpc/conformance_noop", json={})
    assert void.status_code == 204 and void.content == b""
    assert anon.get("/rpc/conformance_card", params={"author": 2}).json() == [
        {"name": "Alan Turing", "books": 2}
    ]
    first = anon.get("/rpc/conformance_first_author", params={"select": "id,name"})
    assert first.json() == {"id": 1, "name": "Ada Lovelace"}
    assert anon.get("/rpc/conformance_numbers", params={"n": 3}).json() == [1, 2, 3]


def test_rpc_scalar_sets_take_limit_offset_range_and_count(anon):
    response = anon.get(
        "/rpc/conformance_numbers",
        params={"n": 10, "limit": 3, "offset": 2},
        headers={"Prefer": "count=exact"},
    )
    assert response.json() == [3, 4, 5]
    assert response.status_code == 206
    assert response.headers["content-range"] == "2-4/10"
    ranged = anon.post("/rpc/conformance_numbers", params={"limit": 2}, json={"n": 5})
    assert ranged.json() == [1, 2]
    assert ranged.headers["content-range"] == "0-1/*"
    one = anon.get(
        "/rpc/conformance_numbers",
        params={"n": 1},
        headers={"Accept": "application/vnd.pgrst.object+json"},
    )
    assert one.status_code == 200 and one.json() == 1
    many = anon.get(
        "/rpc/conformance_numbers",
        params={"n": 2},
        headers={"Accept": "application/vnd.pgrst.object+json"},
    )
    assert assert_error(many, 406, "PGRST116")["details"] == "The result contains 2 rows"


def test_rpc_with_the_official_client(rest_url, settings, conformance):
    from supabase import create_client

    client = create_client(rest_url, settings.anon_key)
    assert client.rpc("conformance_add", {"a": 2, "b": 3}).execute().data == 5
    rows = client.rpc("conformance_books_by", {"author": 1}).select("title").execute()
    assert rows.data == [{"title": "Notes on the Engine"}]


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("plain", 400, "P0001"), ("payment", 402, "PT402"), ("custom", 418, "C001")],
)
def test_raised_errors(anon, kind, status, code):
    response = anon.post("/rpc/conformance_fail", json={"kind": kind})
    body = assert_error(response, status, code)
    if kind == "plain":
        assert body == {
            "code": "P0001",
            "message": "plain failure",
            "details": "some detail",
            "hint": "some hint",
        }
    if kind == "custom":
        assert body == {"code": "C001", "message": "Custom", "details": "D", "hint": "H"}
        assert response.headers["x-teapot"] == "yes"


def test_unparseable_pgrst_raise_is_pgrst121(anon):
    assert_error(anon.post("/rpc/conformance_fail", json={"kind": "broken"}), 500, "PGRST121")


def test_request_context(anon):
    response = anon.get(
        "/rpc/conformance_context",
        headers={"X-Custom": "Value", "Cookie": "session=abc; theme=dark"},
    )
    context = response.json()
    assert context["user"] == "anon"
    assert context["claims"]["role"] == "anon"
    assert context["method"] == "GET"
    assert context["path"] == "/rpc/conformance_context"
    assert context["headers"]["x-custom"] == "Value"
    assert context["cookies"] == {"session": "abc", "theme": "dark"}
    assert context["statement_timeout"] == "3s"  # anon's own role setting
    assert context["search_path"] == "public, extensions"
    assert context["read_only"] == "on"
    posted = anon.post("/rpc/conformance_context", json={}).json()
    assert posted["read_only"] == "on"  # a stable function runs read-only even on POST
    assert posted["method"] == "POST"


def test_authenticated_context(patient):
    context = patient.get("/rpc/conformance_context").json()
    assert context["user"] == "authenticated"
    assert context["claims"]["sub"] == "50000000-0000-4000-8000-000000000001"
    assert context["statement_timeout"] == "8s"


def test_rls_applies_to_a_demo_patient(patient, service):
    mine = patient.get("/patients", params={"select": "phone"})
    assert mine.status_code == 200
    assert mine.json() == [{"phone": "+919876500001"}]
    everyone = service.get("/patients", params={"select": "id"})
    assert len(everyone.json()) > 1


def _token(settings, **claims):
    return tokens.issue({"role": "authenticated", "exp": int(time.time()) + 60, **claims},
                        settings.jwt_secret)  # fmt: skip


@pytest.mark.parametrize("case", ["expired", "wrong_secret", "alg_none", "tampered", "garbage"])
def test_bad_tokens_are_401(rest_url, settings, conformance, case):
    good = _token(settings)
    token = {
        "expired": tokens.issue(
            {"role": "anon", "exp": int(time.time()) - 120}, settings.jwt_secret
        ),
        "wrong_secret": jwt.encode({"role": "service_role"}, "x" * 40, algorithm="HS256"),
        "alg_none": jwt.encode({"role": "service_role"}, None, algorithm="none"),
        "tampered": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "garbage": "not-a-jwt",
    }[case]
    api = Api(rest_url, settings.anon_key, token)
    response = api.get("/conformance_authors")
    body = assert_error(response, 401, "PGRST303" if case == "expired" else "PGRST301")
    assert body["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_token_of_other_than_three_parts(rest_url, settings, conformance):
    for token, parts in (("not-a-jwt", 1), ("a.b", 2), ("a.b.c.d", 4)):
        response = Api(rest_url, settings.anon_key, token).get("/conformance_authors")
        body = assert_error(response, 401, "PGRST301")
        assert body["message"] == f"Expected 3 parts in JWT; got {parts}"


def test_token_for_a_role_that_does_not_exist_is_401(rest_url, settings, conformance):
    api = Api(rest_url, settings.anon_key, _token(settings, role="nobody_at_all"))
    response = api.get("/conformance_authors")
    body = assert_error(response, 401, "22023")
    assert body["message"] == 'role "nobody_at_all" does not exist'


def test_a_22023_raised_by_the_statement_is_not_a_token_error(rest_url, settings, conformance):
    """Only the settings statement's 22023 (an unknown role) is 401; the same SQLSTATE
    raised by the called function maps as any other error (400), with its own message."""
    api = Api(rest_url, settings.anon_key, _token(settings, role="service_role"))
    response = api.post(
        "/rpc/find_slots",
        json={"from_time": "2026-01-02T10:00:00Z", "to_time": "2026-01-01T10:00:00Z"},
    )
    body = assert_error(response, 400, "22023")
    assert body["message"] == "find_slots needs from_time before to_time"
    assert "www-authenticate" not in response.headers
    # and the connection it ran on is fine for the next request
    assert api.get("/conformance_authors").status_code == 200


def test_pre_request_function_from_in_database_config(anon, settings):
    """`pgrst.db_pre_request` on the authenticator role, picked up on 'reload config'."""
    import psycopg

    admin = settings.dsn(settings.admin_user)
    with psycopg.connect(admin, autocommit=True) as conn:
        # The migrations configure public.db_pre_request (audit of clinical reads): put it
        # back afterwards.
        (previous,) = conn.execute(
            "select (select substr(cfg, length('pgrst.db_pre_request=') + 1)"
            " from pg_db_role_setting s, unnest(s.setconfig) cfg"
            " where s.setrole = 'authenticator'::regrole"
            " and cfg like 'pgrst.db\\_pre\\_request=%')"
        ).fetchone()
        conn.execute(fixture_sql("conformance_pre_request"))
    try:
        block = {"X-Conformance-Block": "1"}
        deadline = time.monotonic() + 10
        streak = 0
        while time.monotonic() < deadline and streak < 6:
            refused = anon.get("/conformance_tags", headers=block).status_code == 403
            streak = streak + 1 if refused else 0
            time.sleep(0.05)
        assert streak >= 6, "the pre-request function was never called"
        body = assert_error(anon.get("/conformance_tags", headers=block), 403, "PT403")
        assert body["message"] == "blocked by pre-request"
        assert anon.get("/conformance_tags").status_code == 200
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            if previous:
                conn.execute(
                    sql.SQL("alter role authenticator set pgrst.db_pre_request = {}").format(
                        sql.Literal(previous)
                    )
                )
            else:
                conn.execute("alter role authenticator reset pgrst.db_pre_request")
            conn.execute("notify pgrst, 'reload config'")
            time.sleep(0.5)
            conn.execute("drop function if exists public.conformance_pre()")


def test_rpc_single_values_are_counted_as_one_row(anon):
    """A function returning one value is one row: Content-Range 0-0/1 with a count."""
    scalar = anon.get("/rpc/conformance_add", params={"a": 1}, headers={"Prefer": "count=exact"})
    assert scalar.status_code == 200 and scalar.json() == 11
    assert scalar.headers["content-range"] == "0-0/1"
    assert scalar.headers["preference-applied"] == "count=exact"
    assert anon.get("/rpc/conformance_add", params={"a": 1}).headers["content-range"] == "0-0/*"
    row = anon.get("/rpc/conformance_first_author", headers={"Prefer": "count=exact"})
    assert row.json()["id"] == 1 and row.headers["content-range"] == "0-0/1"


def test_rpc_max_affected_with_strict_handling(service, reset_data):
    """PGRST124 when a set-returning function gives more rows than max-affected, and its
    writes are rolled back; a function returning one value cannot take it (PGRST128)."""
    strict = {"Prefer": "handling=strict, max-affected=2"}
    refused = service.post("/rpc/conformance_add_tags", json={"n": 3}, headers=strict)
    assert assert_error(refused, 400, "PGRST124")["details"] == "The query affects 3 rows"
    tags = service.get("/conformance_tags", params={"select": "id", "id": "gt.3"})
    assert tags.json() == []
    allowed = service.post("/rpc/conformance_add_tags", json={"n": 2}, headers=strict)
    assert allowed.status_code == 200 and len(allowed.json()) == 2
    values = service.get("/rpc/conformance_numbers", params={"n": 3}, headers=strict)
    assert assert_error(values, 400, "PGRST124")["details"] == "The query affects 3 rows"
    lenient = service.get(
        "/rpc/conformance_numbers",
        params={"n": 5},
        headers={"Prefer": "handling=lenient, max-affected=2"},
    )
    assert lenient.status_code == 200 and lenient.json() == [1, 2, 3, 4, 5]
    single = service.get("/rpc/conformance_add", params={"a": 1}, headers=strict)
    body = assert_error(single, 400, "PGRST128")
    assert body["message"] == (
        "Function must return SETOF or TABLE when max-affected preference is used with "
        "handling=strict"
    )
