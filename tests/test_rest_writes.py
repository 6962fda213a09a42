"""/rest/v1 writes: POST (bulk, columns, missing=default, upsert), PATCH, DELETE, PUT and the
Prefer header (return, count, handling=strict, max-affected), with their statuses."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.rest_conformance")

from tests.rest_conformance import (  # noqa: E402
    assert_error,
    authenticator_setting,
    eventually,
)

pytest_plugins = ["tests.rest_conformance"]

RETURN = {"Prefer": "return=representation"}


def tag(api, tag_id: int):
    return api.get("/conformance_tags", params={"id": f"eq.{tag_id}"}).json()


def test_post_minimal_is_201_without_body(service, reset_data):
    response = service.post("/conformance_tags", json={"id": 10, "label": "ten"})
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["content-range"] == "*/*"
    assert tag(service, 10) == [{"id": 10, "label": "ten"}]


def test_post_representation_and_select(service, reset_data):
    response = service.post(
        "/conformance_tags",
        params={"select": "label"},
        json={"id": 11, "label": "x"},
        headers=RETURN,
    )
    assert response.status_code == 201
    assert response.json() == [{"label": "x"}]
    assert response.headers["preference-applied"] == "return=representation"


def test_post_headers_only_gives_location(service, reset_data):
    response = service.post(
        "/conformance_tags",
        json={"id": 12, "label": "y"},
        headers={"Prefer": "return=headers-only"},
    )
    assert response.status_code == 201
    assert response.headers["location"] == "/conformance_tags?id=eq.12"


def test_bulk_post_columns_and_missing_default(service, reset_data):
    response = service.post(
        "/conformance_tags",
        params={"columns": "id,label"},
        json=[{"id": 13, "label": "a", "ignored": 1}, {"id": 14, "label": "b"}],
        headers=RETURN,
    )
    assert response.status_code == 201
    assert [row["id"] for row in response.json()] == [13, 14]
    notes = service.post(
        "/conformance_notes",
        params={"columns": "body,created_at"},
        json=[{"body": "one"}, {"body": "two", "created_at": "2020-01-01T00:00:00Z"}],
        headers={"Prefer": "return=representation,missing=default"},
    )
    assert notes.status_code == 201, notes.text
    rows = notes.json()
    assert rows[0]["created_at"] is not None  # the column default, not null
    assert rows[1]["created_at"].startswith("2020-01-01")
    assert "missing=default" in notes.headers["preference-applied"]


def test_upsert_statuses(service, reset_data):
    merge = {"Prefer": "return=representation,resolution=merge-duplicates"}
    created = service.post("/conformance_tags", json=[{"id": 15, "label": "new"}], headers=merge)
    assert created.status_code == 201
    updated = service.post("/conformance_tags", json=[{"id": 15, "label": "newer"}], headers=merge)
    assert updated.status_code == 200, updated.text
    assert updated.json() == [{"id": 15, "label": "newer"}]
    # ignore-duplicates answers 201 even when it inserted nothing (only merge-duplicates
    # tells an update by its 200)
    ignore = service.post(
        "/conformance_tags",
        params={"on_conflict": "label"},
        json={"id": 16, "label": "newer"},
        headers={"Prefer": "return=representation,resolution=ignore-duplicates"},
    )
    assert ignore.status_code == 201 and ignore.json() == []
    minimal = service.post(
        "/conformance_tags",
        json={"id": 15, "label": "again"},
        headers={"Prefer": "resolution=ignore-duplicates"},
    )
    assert minimal.status_code == 201 and minimal.content == b""
    # merge-duplicates tells an update by its 200 without a representation too
    merge_minimal = {"Prefer": "resolution=merge-duplicates"}
    again = service.post("/conformance_tags", json={"id": 15, "label": "m"}, headers=merge_minimal)
    assert again.status_code == 200 and again.content == b""
    fresh = service.post("/conformance_tags", json={"id": 18, "label": "n"}, headers=merge_minimal)
    assert fresh.status_code == 201


def test_upsert_with_the_official_client(rest_url, settings, conformance, reset_data):
    from supabase import create_client

    client = create_client(rest_url, settings.service_role_key)
    inserted = client.table("conformance_tags").insert({"id": 17, "label": "c"}).execute()
    assert inserted.data == [{"id": 17, "label": "c"}]
    upserted = (
        client.table("conformance_tags")
        .upsert({"id": 17, "label": "d"}, on_conflict="id")
        .execute()
    )
    assert upserted.data == [{"id": 17, "label": "d"}]
    updated = client.table("conformance_tags").update({"label": "e"}).eq("id", 17).execute()
    assert updated.data == [{"id": 17, "label": "e"}]
    deleted = client.table("conformance_tags").delete().eq("id", 17).execute()
    assert deleted.data == [{"id": 17, "label": "e"}]


def test_patch_and_delete_statuses(service, reset_data):
    service.post("/conformance_tags", json=[{"id": 20, "label": "p"}, {"id": 21, "label": "q"}])
    minimal = service.patch("/conformance_tags", params={"id": "eq.20"}, json={"label": "pp"})
    assert minimal.status_code == 204 and minimal.content == b""
    shown = service.patch(
        "/conformance_tags", params={"id": "eq.20"}, json={"label": "ppp"}, headers=RETURN
    )
    assert shown.status_code == 200 and shown.json() == [{"id": 20, "label": "ppp"}]
    nothing = service.patch(
        "/conformance_tags", params={"id": "eq.999"}, json={"label": "z"}, headers=RETURN
    )
    assert nothing.status_code == 200 and nothing.json() == []
    gone = service.delete("/conformance_tags", params={"id": "in.(20,21)"}, headers=RETURN)
    assert gone.status_code == 200 and len(gone.json()) == 2
    again = service.delete("/conformance_tags", params={"id": "in.(20,21)"})
    assert again.status_code == 204


def test_put_needs_exactly_the_primary_key(service, reset_data):
    created = service.put(
        "/conformance_tags", params={"id": "eq.30"}, json={"id": 30, "label": "put"}, headers=RETURN
    )
    assert created.status_code == 201 and created.json() == [{"id": 30, "label": "put"}]
    updated = service.put(
        "/conformance_tags",
        params={"id": "eq.30"},
        json={"id": 30, "label": "put1"},
        headers=RETURN,
    )
    assert updated.status_code == 200 and updated.json() == [{"id": 30, "label": "put1"}]
    replaced = service.put(
        "/conformance_tags", params={"id": "eq.30"}, json={"id": 30, "label": "put2"}
    )
    assert replaced.status_code == 204
    assert tag(service, 30) == [{"id": 30, "label": "put2"}]
    assert_error(
        service.put("/conformance_tags", params={"label": "eq.x"}, json={"id": 1, "label": "x"}),
        405,
        "PGRST105",
    )
    assert_error(
        service.put("/conformance_tags", params={"id": "eq.31"}, json={"id": 32, "label": "x"}),
        400,
        "PGRST115",
    )


def test_singular_write_rolls_back(service, reset_data):
    response = service.patch(
        "/conformance_books",
        params={"id": "in.(1,2)"},
        json={"pages": 1},
        headers={**RETURN, "Accept": "application/vnd.pgrst.object+json"},
    )
    assert assert_error(response, 406, "PGRST116")["details"] == "The result contains 2 rows"
    pages = service.get("/conformance_books", params={"id": "in.(1,2)", "select": "pages"})
    assert sorted(row["pages"] for row in pages.json()) == [36, 120]


def test_max_affected_with_strict_handling(service, reset_data):
    strict = {"Prefer": "handling=strict, max-affected=1"}
    response = service.patch(
        "/conformance_books", params={"id": "in.(1,2)"}, json={"pages": 2}, headers=strict
    )
    body = assert_error(response, 400, "PGRST124")
    assert body["details"] == "The query affects 2 rows"
    ok = service.patch(
        "/conformance_books", params={"id": "eq.1"}, json={"pages": 3}, headers=strict
    )
    assert ok.status_code == 204
    assert "max-affected=1" in ok.headers["preference-applied"]


def test_a_preference_given_twice_counts_the_first_time(service, reset_data):
    """PostgREST applies the first occurrence of a preference, within one Prefer header or
    across several."""
    one_header = service.post(
        "/conformance_tags",
        json={"id": 12, "label": "a"},
        headers={"Prefer": "return=minimal, return=representation"},
    )
    assert one_header.status_code == 201 and one_header.content == b""
    two_headers = service.post(
        "/conformance_tags",
        json={"id": 13, "label": "b"},
        headers=[("Prefer", "return=representation"), ("Prefer", "return=minimal")],
    )
    assert two_headers.status_code == 201
    assert two_headers.json() == [{"id": 13, "label": "b"}]
    strict = service.patch(
        "/conformance_books",
        params={"id": "in.(1,2)"},
        json={"pages": 2},
        headers={"Prefer": "handling=strict, max-affected=1, max-affected=5"},
    )
    assert assert_error(strict, 400, "PGRST124")["details"] == "The query affects 2 rows"


def test_unknown_preference_with_strict_handling(service):
    response = service.get(
        "/conformance_tags", headers={"Prefer": "handling=strict, frobnicate=yes"}
    )
    assert (
        assert_error(response, 400, "PGRST122")["details"] == "Invalid preferences: frobnicate=yes"
    )
    lenient = service.get("/conformance_tags", headers={"Prefer": "frobnicate=yes"})
    assert lenient.status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "PGRST102"),
        (b"", "PGRST102"),
        (b'[{"id": 40, "label": "a"}, {"id": 41}]', "PGRST102"),
        (b'{"id": 40, "nope": 1}', "PGRST204"),
        (b"[1, 2]", "PGRST102"),
    ],
)
def test_bad_bodies(service, body, code):
    response = service.post(
        "/conformance_tags", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, code)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"id": 1, "label": "dup"}, 409, "23505"),
        ({"id": 50}, 400, "23502"),
        ({"id": "x", "label": "x"}, 400, "22P02"),
    ],
)
def test_database_errors(service, body, status, code):
    assert_error(service.post("/conformance_tags", json=body), status, code)


def test_foreign_key_violation_is_409(service):
    response = service.post("/conformance_books", json={"id": 90, "title": "t", "author_id": 99})
    assert_error(response, 409, "23503")


def test_check_violation_is_400(service):
    assert_error(service.post("/conformance_notes", json={"body": "x" * 200}), 400, "23514")


def test_rls_denial_as_anon_is_401(anon):
    response = anon.post("/conformance_notes", json={"body": "anon"})
    assert_error(response, 401, "42501")


def test_rls_denial_as_user_is_403(patient, reset_data):
    response = patient.post(
        "/conformance_notes", json={"body": "x", "owner": "00000000-0000-0000-0000-000000000000"}
    )
    assert_error(response, 403, "42501")
    own = patient.post("/conformance_notes", json={"body": "mine"}, headers=RETURN)
    assert own.status_code == 201, own.text
    assert own.json()[0]["owner"] == "50000000-0000-4000-8000-000000000001"


def test_writes_in_get_are_read_only(service):
    assert_error(service.get("/rpc/conformance_touch"), 405, "25006")


def test_tx_preference_is_ignored_unless_db_tx_end_allows_it(service, settings, reset_data):
    """`Prefer: tx=rollback` only counts when db-tx-end is `commit-allow-override`
    (PostgREST's default `commit` ignores it and does not report it as applied)."""
    rollback = {"Prefer": "tx=rollback, return=representation"}
    ignored = service.post("/conformance_tags", json={"id": 60, "label": "kept"}, headers=rollback)
    assert ignored.status_code == 201
    assert "tx=" not in ignored.headers.get("preference-applied", "")
    assert tag(service, 60) == [{"id": 60, "label": "kept"}]

    def overridable() -> bool:
        noop = service.post("/rpc/conformance_noop", json={}, headers={"Prefer": "tx=rollback"})
        return "tx=rollback" in noop.headers.get("preference-applied", "")

    with authenticator_setting(settings, "db_tx_end", "commit-allow-override"):
        assert eventually(overridable), "db-tx-end was never reloaded"
        dry = service.post("/conformance_tags", json={"id": 61, "label": "dry"}, headers=rollback)
        assert dry.status_code == 201
        assert dry.json() == [{"id": 61, "label": "dry"}]
        assert "tx=rollback" in dry.headers["preference-applied"]
        assert tag(service, 61) == []
        patched = service.patch(
            "/conformance_tags", params={"id": "eq.60"}, json={"label": "x"}, headers=rollback
        )
        assert patched.status_code == 200 and patched.json() == [{"id": 60, "label": "x"}]
        assert tag(service, 60) == [{"id": 60, "label": "kept"}]
        touched = service.post("/rpc/conformance_touch", json={}, headers=rollback)
        assert touched.status_code == 200 and touched.json() == 99
        assert tag(service, 99) == []
        committed = service.post(
            "/conformance_tags", json={"id": 62, "label": "also"}, headers={"Prefer": "tx=commit"}
        )
        assert committed.status_code == 201
        assert tag(service, 62) == [{"id": 62, "label": "also"}]
        # reads and read-only calls report it too, as PostgREST's
        read = service.get("/conformance_tags", headers={"Prefer": "tx=rollback, count=exact"})
        assert read.headers["preference-applied"] == "count=exact, tx=rollback"
        call = service.get("/rpc/conformance_add", params={"a": 1}, headers=rollback)
        assert call.headers["preference-applied"] == "tx=rollback"
    assert eventually(lambda: not overridable()), "db-tx-end was never put back"
