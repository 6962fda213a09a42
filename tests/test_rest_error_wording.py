"""/rest/v1 errors worded as PostgREST v13 and later word them (where v12 differed, or devstack
had its own words): the function method (PGRST101), an unexposed schema (PGRST106), an
unparseable `RAISE SQLSTATE 'PGRST'` (PGRST121) and an unknown function (PGRST202)."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.rest_conformance")

from tests.rest_conformance import assert_error  # noqa: E402

pytest_plugins = ["tests.rest_conformance"]


def test_function_methods(anon):
    body = assert_error(anon.put("/rpc/conformance_add", json={}), 405, "PGRST101")
    assert body["message"] == "Cannot use the PUT method on RPC"
    assert anon.options("/rpc/conformance_add").headers["allow"] == "OPTIONS,GET,HEAD,POST"
    assert anon.options("/rpc/conformance_touch").headers["allow"] == "OPTIONS,POST"


def test_unexposed_schema(anon):
    response = anon.get("/conformance_authors", headers={"Accept-Profile": "private"})
    body = assert_error(response, 406, "PGRST106")
    assert body["message"] == "Invalid schema: private"
    assert body["hint"] == "Only the following schemas are exposed: public"


def test_unparseable_pgrst_raise(anon):
    broken = anon.post("/rpc/conformance_fail", json={"kind": "broken"})
    body = assert_error(broken, 500, "PGRST121")
    assert body == {
        "code": "PGRST121",
        "message": "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
        "details": "Invalid JSON value for MESSAGE: 'not json'",
        "hint": "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and "
        "optional keys: 'details', 'hint'.",
    }
    no_detail = anon.post("/rpc/conformance_fail", json={"kind": "nodetail"})
    body = assert_error(no_detail, 500, "PGRST121")
    assert body["details"] == "DETAIL is missing in the RAISE statement"
    assert body["hint"] == (
        "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional "
        "key: 'status_text'."
    )


def test_unknown_function(anon):
    none = assert_error(anon.post("/rpc/conformance_nothing", json={}), 404, "PGRST202")
    assert none["message"] == (
        "Could not find the function public.conformance_nothing without parameters in the "
        "schema cache"
    )
    assert none["details"] == (
        "Searched for the function public.conformance_nothing without parameters or with a "
        "single unnamed json/jsonb parameter, but no matches were found in the schema cache."
    )
    one = assert_error(anon.post("/rpc/conformance_add", json={"x": 1}), 404, "PGRST202")
    assert one["message"] == (
        "Could not find the function public.conformance_add(x) in the schema cache"
    )
    assert one["details"] == (
        "Searched for the function public.conformance_add with parameter x or with a single "
        "unnamed json/jsonb parameter, but no matches were found in the schema cache."
    )
    two = assert_error(anon.post("/rpc/conformance_add", json={"y": 1, "x": 1}), 404, "PGRST202")
    assert two["message"].startswith("Could not find the function public.conformance_add(x, y)")
    assert "with parameters x, y or" in two["details"]


def test_perhaps_you_meant(anon):
    """PostgREST's fuzzy hints for a misspelled table, function, parameters or embed."""
    table = assert_error(anon.get("/conformance_autors"), 404, "PGRST205")
    assert table["hint"] == "Perhaps you meant the table 'public.conformance_authors'"
    function = assert_error(anon.post("/rpc/conformance_ad", json={}), 404, "PGRST202")
    assert function["hint"] == "Perhaps you meant to call the function public.conformance_add"
    parameters = assert_error(
        anon.post("/rpc/conformance_add", json={"a": 1, "c": 2}), 404, "PGRST202"
    )
    assert parameters["hint"] == (
        "Perhaps you meant to call the function public.conformance_add(a, b)"
    )
    embed = anon.get("/conformance_authors", params={"select": "conformance_bookz(*)"})
    body = assert_error(embed, 400, "PGRST200")
    assert body["hint"] == "Perhaps you meant 'conformance_books' instead of 'conformance_bookz'."
    nowhere = anon.get("/conformance_authors", params={"select": "xyzzy(*)"})
    assert assert_error(nowhere, 400, "PGRST200")["hint"] is None
