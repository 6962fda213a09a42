"""/rest/v1 Preference-Applied as PostgREST writes it: the preferences each action takes, in
one fixed order (resolution, missing, return, count, tx, handling, max-affected), and the
Content-Range of a DELETE (`*/<count>`: it names no range)."""

from __future__ import annotations

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
