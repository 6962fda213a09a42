"""/rest/v1 Preference-Applied as PostgREST writes it: the preferences each action takes, in
one fixed order (resolution, missing, return, count, tx, handling, max-affected), and the
Content-Range of a DELETE (`*/<count>`: it names no range)."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.rest_conformance")

from tests.rest_conformance import assert_error  # noqa: E402

pytest_plugins = ["tests.rest_conformance"]


def test_insert_reports_its_preferences_in_postgrest_order(service, reset_data):
    response = service.post(
        "/conformance_tags",
        json={"id": 30, "label": "ordered"},
        headers={
            "Prefer": "return=representation, count=exact, handling=lenient, "
            "resolution=merge-duplicates, missing=default, max-affected=3"
        },
    )
    assert response.status_code == 201
    assert response.headers["preference-applied"] == (
        "resolution=merge-duplicates, missing=default, return=representation, count=exact, "
        "handling=lenient"
    )


def test_reads_and_calls_report_handling(anon):
    read = anon.get("/conformance_tags", headers={"Prefer": "handling=lenient, count=exact"})
    assert read.headers["preference-applied"] == "count=exact, handling=lenient"
    call = anon.get(
        "/rpc/conformance_numbers",
        params={"n": 2},
        headers={"Prefer": "max-affected=5, handling=strict, count=exact"},
    )
    assert call.headers["preference-applied"] == "count=exact, handling=strict, max-affected=5"


def test_delete_content_range_names_no_range(service, reset_data):
    service.post("/conformance_tags", json=[{"id": 31, "label": "a"}, {"id": 32, "label": "b"}])
    counted = service.delete(
        "/conformance_tags", params={"id": "in.(31,32)"}, headers={"Prefer": "count=exact"}
    )
    assert counted.status_code == 204
    assert counted.headers["content-range"] == "*/2"
    service.post("/conformance_tags", json={"id": 33, "label": "c"})
    uncounted = service.delete(
        "/conformance_tags",
        params={"id": "eq.33"},
        headers={"Prefer": "return=representation"},
    )
    assert uncounted.headers["content-range"] == "*/*"
    assert uncounted.headers["preference-applied"] == "return=representation"


def test_timezone_preference(service, reset_data):
    """`Prefer: timezone=` sets the transaction's time zone when Postgres knows the name
    (pg_timezone_names), and is reported; another name is ignored, or refused when strict."""
    service.post("/conformance_notes", json={"body": "zoned"})
    kolkata = service.get(
        "/conformance_notes",
        params={"select": "created_at"},
        headers={"Prefer": "timezone=Asia/Kolkata"},
    )
    assert kolkata.json()[0]["created_at"].endswith("+05:30")
    assert kolkata.headers["preference-applied"] == "timezone=Asia/Kolkata"
    unknown = service.get(
        "/conformance_notes", params={"select": "created_at"}, headers={"Prefer": "timezone=Mars"}
    )
    assert unknown.status_code == 200 and "preference-applied" not in unknown.headers
    strict = service.get(
        "/conformance_notes", headers={"Prefer": "handling=strict, timezone=Mars/Olympus"}
    )
    body = assert_error(strict, 400, "PGRST122")
    assert body["details"] == "Invalid preferences: timezone=Mars/Olympus"


def test_params_preference_is_gone_since_v13(anon):
    """PostgREST v13 removed `Prefer: params=single-object`: an invalid preference."""
    response = anon.post(
        "/rpc/conformance_add",
        json={"a": 1},
        headers={"Prefer": "handling=strict, params=single-object"},
    )
    body = assert_error(response, 400, "PGRST122")
    assert body["details"] == "Invalid preferences: params=single-object"
