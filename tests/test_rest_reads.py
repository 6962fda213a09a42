"""/rest/v1 reads: filters, select, order, ranges, counts, singular objects, CSV, profiles."""

from __future__ import annotations

import psycopg
import pytest
from openapi_spec_validator import OpenAPIV2SpecValidator, validate

pytest.register_assert_rewrite("tests.rest_conformance")

from tests.rest_conformance import assert_error  # noqa: E402

pytest_plugins = ["tests.rest_conformance"]


def ids(response) -> list[int]:
    assert response.status_code in (200, 206), response.text
    return [row["id"] for row in response.json()]


def authors(api, **params) -> list[int]:
    return ids(api.get("/conformance_authors", params={"select": "id", "order": "id", **params}))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"id": "eq.2"}, [2]),
        ({"id": "neq.2"}, [1, 3]),
        ({"id": "gt.1"}, [2, 3]),
        ({"id": "gte.2"}, [2, 3]),
        ({"id": "lt.2"}, [1]),
        ({"id": "lte.2"}, [1, 2]),
        ({"name": "like.A*"}, [1, 2]),
        ({"name": "ilike.*HOPPER"}, [3]),
        ({"name": "match.^Al"}, [2]),
        ({"name": "imatch.^ada"}, [1]),
        ({"id": "in.(1,3)"}, [1, 3]),
        ({"name": 'in.("Ada Lovelace","Grace Hopper")'}, [1, 3]),
        ({"born": "is.null"}, [3]),
        ({"born": "not.is.null"}, [1, 2]),
        ({"rating": "isdistinct.4.5"}, [2, 3]),
        ({"id": "not.in.(1,2)"}, [3]),
        ({"tags": "cs.{math}"}, [1, 2]),
        ({"tags": "cd.{math,cs,poetry}"}, [1, 2]),
        ({"tags": "ov.{navy,poetry}"}, [1, 3]),
        ({"meta": 'cs.{"country":"US"}'}, [3]),
        ({"meta->>country": "eq.UK"}, [1, 2]),
        ({"meta->langs->>0": "eq.en"}, [1]),
        ({"bio": "fts(english).turing"}, [2]),
        ({"bio": "plfts.grace hopper"}, [3]),
        ({"bio": "phfts(english).ada lovelace"}, [1]),
        ({"bio": "wfts.alan or grace"}, [2, 3]),
        ({"name": "like(any).{Ada*,Grace*}"}, [1, 3]),
        ({"id": "gt(all).{0,1}"}, [2, 3]),
        ({"or": "(id.eq.1,name.eq.Grace Hopper)"}, [1, 3]),
        ({"or": "(id.eq.1,and(id.gt.1,born.is.null))"}, [1, 3]),
        ({"not.or": "(id.eq.1,id.eq.2)"}, [3]),
        ({"and": "(id.gte.1,id.not.eq.2)"}, [1, 3]),
        ({"or": '(name.eq."Ada Lovelace",name.in.("Alan Turing","x,y"))'}, [1, 2]),
    ],
)
def test_filter_operators(anon, params, expected):
    assert authors(anon, **params) == expected


def test_reads_name_their_canonical_location(anon):
    """Content-Location: the query string sorted by name, a repeated name's values joined."""
    response = anon.get(
        "/conformance_authors?select=id,name&order=id&id=gt.1&id=lt.9&name=like.A*%20T*"
    )
    assert response.headers["content-location"] == (
        "/conformance_authors?id=gt.1,lt.9&name=like.A%2A%20T%2A&order=id&select=id%2Cname"
    )
    assert anon.get("/conformance_tags").headers["content-location"] == "/conformance_tags"
    accented = anon.get("/conformance_tags", params={"label": "eq.é"})
    assert accented.headers["content-location"] == "/conformance_tags?label=eq.%C3%83%C2%A9"


def test_json_paths_on_columns_that_are_not_json(anon):
    """PostgREST reads `col->key` on a column of another type as to_jsonb(col)->key."""
    response = anon.get(
        "/conformance_authors",
        params={"select": "id,first:tags->>0,name->>x", "tags->>0": "eq.cs", "order": "id"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == [{"id": 3, "first": "cs", "x": None}]


def test_full_text_search_on_a_text_column(anon):
    """PostgREST v13 searches a column that is no tsvector as to_tsvector([config,] col):
    with `simple`, "numbers" is not stemmed to the default configuration's "number"."""
    response = anon.get(
        "/conformance_books", params={"select": "id", "title": "fts(simple).numbers"}
    )
    assert ids(response) == [2]
    response = anon.get("/conformance_books", params={"select": "id", "title": "plfts.engine"})
    assert ids(response) == [1]


def test_range_operators(anon):
    def books(**params):
        response = anon.get("/conformance_books", params={"select": "id", "order": "id", **params})
        return ids(response)

    assert books(period="sl.[1900,1950)") == [1]
    assert books(period="sr.[1900,1950)") == [4]
    assert books(period="adj.[1937,1940)") == [2]
    assert books(period="nxr.[1850,1900)") == [1]
    assert books(period="nxl.[1940,1950)") == [4]
    assert books(published="eq.True") == [1, 2, 4]  # the Python client sends booleans so
    assert books(published="is.false") == [3, 5]


def test_select_aliases_casts_and_json_paths(anon):
    response = anon.get(
        "/conformance_authors",
        params={
            "select": "key:id,name,pages:rating::text,meta->>country,first:meta->langs->0",
            "id": "eq.1",
        },
    )
    assert response.json() == [
        {"key": 1, "name": "Ada Lovelace", "pages": "4.5", "country": "UK", "first": "en"}
    ]


def test_order_with_nulls(anon):
    assert authors(anon, order="born.desc.nullsfirst") == [3, 2, 1]
    assert authors(anon, order="born.asc.nullslast") == [1, 2, 3]
    assert authors(anon, order="rating.desc.nullslast,id") == [2, 1, 3]


def test_limit_offset_and_content_range(anon):
    response = anon.get("/conformance_authors", params={"order": "id", "limit": 2, "offset": 1})
    assert [row["id"] for row in response.json()] == [2, 3]
    assert response.status_code == 200
    assert response.headers["content-range"] == "1-2/*"


def test_range_header_and_counts(anon):
    response = anon.get(
        "/conformance_books",
        params={"select": "id", "order": "id"},
        headers={"Range": "0-1", "Prefer": "count=exact"},
    )
    assert response.status_code == 206
    assert response.headers["content-range"] == "0-1/5"
    assert response.headers["preference-applied"] == "count=exact"
    full = anon.get("/conformance_books", headers={"Prefer": "count=exact"})
    assert full.status_code == 200 and full.headers["content-range"] == "0-4/5"
    empty = anon.get(
        "/conformance_books", params={"id": "eq.999"}, headers={"Prefer": "count=exact"}
    )
    assert empty.status_code == 200 and empty.headers["content-range"] == "*/0"
    assert empty.json() == []
    uncounted = anon.get("/conformance_books", params={"id": "eq.999"})
    assert uncounted.headers["content-range"] == "*/*"
    planned = anon.get("/conformance_books", headers={"Prefer": "count=planned"})
    assert planned.headers["content-range"].startswith("0-4/")
    estimated = anon.get("/conformance_books", headers={"Prefer": "count=estimated"})
    assert estimated.headers["content-range"] == "0-4/5"


def test_offset_past_the_end_is_416(anon):
    response = anon.get(
        "/conformance_books", params={"offset": 10}, headers={"Prefer": "count=exact"}
    )
    body = assert_error(response, 416, "PGRST103")
    assert body["details"] == "An offset of 10 was requested, but there are only 5 rows."


def test_huge_ranges_are_refused_or_capped(anon):
    capped = anon.get("/conformance_books", headers={"Range": "0-99999999999999999999999"})
    assert capped.status_code == 200 and len(capped.json()) == 5
    far = anon.get("/conformance_books", params={"offset": "99999999999999999999999"})
    assert 400 <= far.status_code < 500
    assert set(far.json()) == {"code", "message", "details", "hint"}


def test_singular_object(anon):
    accept = {"Accept": "application/vnd.pgrst.object+json"}
    one = anon.get("/conformance_authors", params={"id": "eq.2", "select": "name"}, headers=accept)
    assert one.status_code == 200
    assert one.headers["content-type"].startswith("application/vnd.pgrst.object+json")
    assert one.json() == {"name": "Alan Turing"}
    many = anon.get("/conformance_authors", headers=accept)
    body = assert_error(many, 406, "PGRST116")
    assert body["details"] == "The result contains 3 rows"
    none = anon.get("/conformance_authors", params={"id": "eq.9"}, headers=accept)
    assert assert_error(none, 406, "PGRST116")["details"] == "The result contains 0 rows"


def test_unknown_media_type_is_406(anon):
    assert_error(anon.get("/conformance_authors", headers={"Accept": "image/png"}), 406)


def test_head_has_headers_without_body(anon):
    response = anon.head("/conformance_authors", headers={"Prefer": "count=exact"})
    assert response.status_code == 200
    assert response.headers["content-range"] == "0-2/3"
    assert response.content == b""


def test_profiles(anon):
    ok = anon.get("/conformance_authors", headers={"Accept-Profile": "public"})
    assert ok.status_code == 200
    # a body names the schema a profile header named, as PostgREST's
    assert ok.headers["content-profile"] == "public"
    assert "content-profile" not in anon.get("/conformance_authors").headers
    minimal = anon.post("/rpc/conformance_noop", json={}, headers={"Content-Profile": "public"})
    assert minimal.status_code == 204 and "content-profile" not in minimal.headers
    called = anon.post("/rpc/conformance_add", json={"a": 1}, headers={"Content-Profile": "public"})
    assert called.headers["content-profile"] == "public"
    other = anon.get("/conformance_authors", headers={"Accept-Profile": "private"})
    assert_error(other, 406, "PGRST106")
    write = anon.post(
        "/conformance_tags", json={"id": 50, "label": "x"}, headers={"Content-Profile": "auth"}
    )
    assert_error(write, 406, "PGRST106")


def test_options_lists_writes_only_where_postgres_can_write(anon):
    assert anon.options("/conformance_books").headers["allow"] == (
        "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
    )
    assert anon.options("/conformance_series").headers["allow"] == "OPTIONS,GET,HEAD"


def test_views_are_readable(anon):
    response = anon.get("/conformance_book_view", params={"id": "eq.2"})
    assert response.json() == [{"id": 2, "title": "Computable Numbers", "author_id": 2}]


def test_nulls_stripped(anon):
    response = anon.get(
        "/conformance_authors",
        params={"select": "id,born", "id": "eq.3"},
        headers={"Accept": "application/vnd.pgrst.array+json;nulls=stripped"},
    )
    assert response.json() == [{"id": 3}]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"id": "eqx.1"}, 400, "PGRST100"),
        ({"id": "eq"}, 400, "PGRST100"),
        ({"id": "in.1,2"}, 400, "PGRST100"),
        ({"or": "(id.eq.1"}, 400, "PGRST100"),
        ({"or": "id.eq.1"}, 400, "PGRST100"),
        ({"select": "id,,name"}, 400, "PGRST100"),
        ({"select": "id::text;drop table x"}, 400, "PGRST100"),
        ({"order": "id.sideways"}, 400, "PGRST100"),
        ({"limit": "-1"}, 400, "PGRST100"),
        ({"nope": "eq.1"}, 400, "42703"),
        ({"select": "id,nope"}, 400, "42703"),
        ({'id"; drop table x; --': "eq.1"}, 400, "42703"),
        ({"id": "eq.not-a-number"}, 400, "22P02"),
        ({"select": "count()"}, 400, "PGRST123"),
        ({"nothing.id": "eq.1"}, 400, "PGRST108"),
    ],
)
def test_bad_queries(anon, params, status, code):
    assert_error(anon.get("/conformance_authors", params=params), status, code)


@pytest.mark.parametrize(
    "params",
    [
        {"or": "(" + "and(" * 400 + "id.eq.1" + ")" * 400 + ")"},
        {"select": "id," + "conformance_books!author_id(" * 400 + "id" + ")" * 400},
        {"select": "meta" + "->a" * 400},
        {"meta" + "->a" * 400: "eq.1"},
        {"order": "meta" + "->a" * 400},
    ],
    ids=["logic tree", "embeds", "json path", "json path filter", "json path order"],
)
def test_deep_nesting_is_refused_cleanly(anon, params):
    """Nesting nobody writes by hand (devstack refuses more than 32 levels as PGRST100)."""
    response = anon.get("/conformance_authors", params=params)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_error(response, response.status_code)


@pytest.mark.parametrize(
    "params",
    [
        {"name": "eq.a\x00b"},
        {"name": "in.(a\x00)"},
        {"or": "(name.eq.a\x00)"},
        {"name": "like.*\x00*"},
    ],
    ids=["eq", "in", "or", "like"],
)
def test_a_nul_byte_in_a_value_is_refused_as_postgres_refuses_it(anon, params):
    """Text cannot hold NUL (it was a 500 before): 400 with the error Postgres gives."""
    body = assert_error(anon.get("/conformance_authors", params=params), 400, "22021")
    assert body["message"] == 'invalid byte sequence for encoding "UTF8": 0x00'


def test_values_with_quotes_and_semicolons_are_just_values(anon):
    response = anon.get(
        "/conformance_books", params={"title": 'eq.Unsigned "Draft"; v2', "select": "id"}
    )
    assert response.json() == [{"id": 5}]
    response = anon.get("/conformance_books", params={"title": "eq.x' or '1'='1", "select": "id"})
    assert response.json() == []


def test_unknown_table_is_404(anon):
    body = assert_error(anon.get("/conformance_nothing"), 404, "PGRST205")
    assert (
        body["message"]
        == "Could not find the table 'public.conformance_nothing' in the schema cache"
    )


def test_max_rows_caps_silently(anon):
    """db-max-rows (1000, Supabase's `max_rows`) caps tables, views and functions alike."""
    capped = anon.get("/conformance_series", params={"order": "n"})
    assert capped.status_code == 200
    assert capped.headers["content-range"] == "0-999/*"
    rows = capped.json()
    assert len(rows) == 1000 and rows[0] == {"n": 1} and rows[-1] == {"n": 1000}
    counted = anon.get(
        "/conformance_series", params={"limit": 5000}, headers={"Prefer": "count=exact"}
    )
    assert counted.status_code == 206
    assert counted.headers["content-range"] == "0-999/1500"
    last_page = anon.get("/conformance_series", params={"order": "n", "offset": 1400})
    assert [row["n"] for row in last_page.json()] == list(range(1401, 1501))
    numbers = anon.get("/rpc/conformance_numbers", params={"n": 1500})
    assert numbers.status_code == 200
    assert numbers.json() == list(range(1, 1001))
    assert numbers.headers["content-range"] == "0-999/*"


def test_schema_cache_reloads_after_ddl(anon, settings):
    """A table created after start appears without a restart (the DDL event trigger sends
    `NOTIFY pgrst, 'reload schema'`), and disappears when dropped."""
    import psycopg

    from tests.rest_conformance import eventually

    def status() -> int:
        return anon.get("/conformance_late", params={"select": "id"}).status_code

    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        conn.execute(
            "create table public.conformance_late (id int primary key);"
            "grant select on public.conformance_late to anon;"
        )
    try:
        assert eventually(lambda: status() == 200), "the new table never showed"
    finally:
        with psycopg.connect(settings.dsn(), autocommit=True) as conn:
            conn.execute("drop table if exists public.conformance_late")
    assert eventually(lambda: status() == 404), "the dropped table stayed"
    assert_error(anon.get("/conformance_late"), 404, "PGRST205")


def test_openapi_document(anon):
    response = anon.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openapi+json")
    document = response.json()
    assert document["swagger"] == "2.0"
    assert "/conformance_authors" in document["paths"]
    assert "/rpc/conformance_add" in document["paths"]
    assert "name" in document["definitions"]["conformance_authors"]["properties"]
    # the PostgREST version devstack follows (v13, as hosted Supabase), and its docs
    assert document["info"]["version"].startswith("13.")
    assert document["externalDocs"]["url"] == "https://postgrest.org/en/v13/references/api.html"
    assert "enum" not in document["parameters"]["preferParams"]  # params= is gone in v13


def test_openapi_document_is_valid_swagger_2_shaped_as_postgrest_shapes_it(anon):
    """Valid, so that tools (Swagger UI, schemathesis, client generators) can use it, with the
    parameters PostgREST declares: row filters, select, order, paging, Prefer, bodies."""
    document = anon.get("/").json()
    validate(document, cls=OpenAPIV2SpecValidator)
    paths, shared = document["paths"], document["parameters"]
    table = paths["/conformance_authors"]
    assert [p["$ref"] for p in table["get"]["parameters"]][-7:] == [
        f"#/parameters/{name}"
        for name in ("select", "order", "range", "rangeUnit", "offset", "limit", "preferCount")
    ]
    assert {"$ref": "#/parameters/rowFilter.conformance_authors.name"} in table["get"]["parameters"]
    assert shared["rowFilter.conformance_authors.name"] == {
        "name": "name", "required": False, "in": "query", "type": "string"
    }  # fmt: skip
    assert (shared["range"]["in"], shared["range"]["name"]) == ("header", "Range")
    assert {"$ref": "#/parameters/body.conformance_authors"} in table["post"]["parameters"]
    assert set(paths["/conformance_book_view"]) == {"get", "post", "patch", "delete"}
    assert set(paths["/conformance_series"]) == {"get"}  # a view Postgres cannot write to
    assert set(paths["/rpc/conformance_books_by"]) == {"get", "post"}  # stable
    assert set(paths["/rpc/conformance_touch"]) == {"post"}  # volatile
    authors = document["definitions"]["conformance_authors"]
    assert authors["required"] == ["id", "name"]
    assert authors["properties"]["tags"] == {
        "format": "text[]", "type": "array", "items": {"type": "string"}
    }  # fmt: skip
    assert "type" not in authors["properties"]["meta"]  # jsonb: any JSON value
    assert authors["properties"]["id"]["description"] == "Note:\nThis is a Primary Key.<pk/>"
    books = document["definitions"]["conformance_books"]["properties"]
    assert books["published"]["default"] is False
    assert books["author_id"]["description"] == (
        "Note:\nThis is a Foreign Key to `conformance_authors.id`."
        "<fk table='conformance_authors' column='id'/>"
    )


def test_openapi_document_shows_catalog_comments_as_postgrest_does(anon):
    """A table's or function's comment: first line the summary, the rest (leading newlines
    dropped) the description, the whole the definition's or arguments' description; a
    column's comment: its property's description (before the key notes) and its filter's."""
    document = anon.get("/").json()
    paths, definitions, shared = document["paths"], document["definitions"], document["parameters"]
    books_comment = "Books\n\n\nOne row per title.\nAuthors are in conformance_authors."
    for operation in paths["/conformance_books"].values():
        assert operation["summary"] == "Books"
        assert operation["description"] == "One row per title.\nAuthors are in conformance_authors."
    assert definitions["conformance_books"]["description"] == books_comment
    assert "summary" not in paths["/conformance_authors"]["get"]  # no comment, no summary
    assert "description" not in definitions["conformance_authors"]
    add = paths["/rpc/conformance_add"]
    for operation in add.values():
        assert operation["summary"] == "Adds two numbers"
        assert operation["description"] == "Returns a + b (b is 10 when left out)."
    args = add["post"]["parameters"][0]["schema"]
    assert args["description"] == "Adds two numbers\n\nReturns a + b (b is 10 when left out)."
    touch = paths["/rpc/conformance_touch"]["post"]
    assert touch["summary"] == "Inserts tag 99"
    assert "description" not in touch  # one line: a summary only
    born = "Date of birth, when known."
    assert definitions["conformance_authors"]["properties"]["born"]["description"] == born
    assert shared["rowFilter.conformance_authors.born"]["description"] == born
    assert definitions["conformance_tags"]["properties"]["id"]["description"] == (
        "The tag's number.\n\nNote:\nThis is a Primary Key.<pk/>"
    )
    validate(document, cls=OpenAPIV2SpecValidator)


def test_openapi_document_describes_the_carebase_api(service, settings):
    """The migrations' comments reach the document the service role reads (the one listing
    everything): every table, view and RPC has a summary; a table's, an RPC's and a column's
    text are the catalog's."""
    document = service.get("/").json()
    paths, definitions = document["paths"], document["definitions"]
    carebase = {p: item for p, item in paths.items() if p != "/" and "conformance_" not in p}
    assert "/appointments" in carebase and "/rpc/book_appointment" in carebase
    unsummarised = [
        f"{method} {path}"
        for path, item in sorted(carebase.items())
        for method, operation in item.items()
        if not operation.get("summary")
    ]
    assert unsummarised == []
    with psycopg.connect(settings.dsn()) as conn:
        table, function, column = conn.execute(
            "select obj_description('public.appointments'::regclass, 'pg_class'),"
            " obj_description('public.book_appointment'::regproc, 'pg_proc'),"
            " col_description('public.appointments'::regclass, ("
            "select attnum from pg_attribute where attrelid = 'public.appointments'::regclass"
            " and attname = 'status'))"
        ).fetchone()
    for comment, operations in (
        (table, paths["/appointments"]),
        (function, paths["/rpc/book_appointment"]),
    ):
        summary, _, description = comment.partition("\n")
        assert description.strip(), "the comment has a description after its summary"
        for operation in operations.values():
            assert operation["summary"] == summary
            assert operation["description"] == description.lstrip("\n")
    assert definitions["appointments"]["properties"]["status"]["description"] == column


def test_with_the_official_client(rest_url, settings, conformance):
    from supabase import create_client

    client = create_client(rest_url, settings.anon_key)
    result = (
        client.table("conformance_books")
        .select("id,title", count="exact")
        .eq("published", True)
        .order("id", desc=True)
        .range(0, 1)
        .execute()
    )
    assert [row["id"] for row in result.data] == [4, 2]
    assert result.count == 3
    single = client.table("conformance_authors").select("name").eq("id", 1).single().execute()
    assert single.data == {"name": "Ada Lovelace"}
    maybe = client.table("conformance_authors").select("name").eq("id", 9).maybe_single().execute()
    assert maybe is None
    text = client.table("conformance_authors").select("id").text_search("bio", "'turing'").execute()
    assert text.data == [{"id": 2}]
    filtered = (
        client.table("conformance_authors")
        .select("id")
        .or_("id.eq.1,id.eq.3")
        .in_("id", [1, 2, 3])
        .is_("born", "null")
        .execute()
    )
    assert filtered.data == [{"id": 3}]


def test_percent_signs_in_names_and_values(anon):
    """`%` in an alias or value reaches Postgres as itself, never as a placeholder."""
    response = anon.get("/conformance_authors", params={"select": "a%s:id,b%%:name", "id": "eq.1"})
    assert response.json() == [{"a%s": 1, "b%%": "Ada Lovelace"}]
    assert anon.get("/conformance_authors", params={"name": "like.%(p0)s"}).json() == []
