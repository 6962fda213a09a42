"""/rest/v1 computed fields (functions taking a table's row type) in select, filters and
order, at the top and in embeds, and the legacy `rel(count)` that counts an embed's rows
(aggregate functions such as `count()` stay disabled, as on hosted Supabase)."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.rest_conformance")

from tests.rest_conformance import assert_error  # noqa: E402

pytest_plugins = ["tests.rest_conformance"]


def get(api, table, **params):
    response = api.get(f"/{table}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_computed_field_in_select_filters_and_order(anon):
    assert get(anon, "conformance_books", select="title,conformance_title_length", id="eq.2") == [
        {"title": "Computable Numbers", "conformance_title_length": 18}
    ]
    longest = get(
        anon,
        "conformance_books",
        select="id,length:conformance_title_length",
        conformance_title_length="gt.18",
        order="conformance_title_length.desc",
    )
    assert longest == [{"id": 5, "length": 20}, {"id": 1, "length": 19}]
    embedded = get(
        anon,
        "conformance_authors",
        select="name,conformance_books!author_id(conformance_title_length)",
        id="eq.3",
    )
    assert embedded == [
        {"name": "Grace Hopper", "conformance_books": [{"conformance_title_length": 16}]}
    ]
    unknown = anon.get("/conformance_books", params={"select": "conformance_nothing"})
    assert_error(unknown, 400, "42703")


def test_counting_an_embed(anon):
    rows = get(
        anon, "conformance_authors", select="id,conformance_books!author_id(count)", order="id"
    )
    assert rows == [
        {"id": 1, "conformance_books": [{"count": 1}]},
        {"id": 2, "conformance_books": [{"count": 2}]},
        {"id": 3, "conformance_books": [{"count": 1}]},
    ]
    aggregate = anon.get(
        "/conformance_authors", params={"select": "id,conformance_books!author_id(count())"}
    )
    assert_error(aggregate, 400, "PGRST123")
