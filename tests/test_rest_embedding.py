"""/rest/v1 resource embedding: to-one objects, to-many arrays, many-to-many, hints,
ambiguity, !inner, embedded filters/order/limit, spreads, composite keys, views."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.rest_conformance")

from tests.rest_conformance import assert_error  # noqa: E402

pytest_plugins = ["tests.rest_conformance"]


def get(api, table, **params):
    response = api.get(f"/{table}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_ambiguous_embed_is_300(anon):
    response = anon.get("/conformance_books", params={"select": "title,conformance_authors(name)"})
    body = response.json()
    assert response.status_code == 300
    assert body["code"] == "PGRST201"
    assert {item["relationship"].split(" ")[0] for item in body["details"]} == {
        "conformance_books_author_fkey",
        "conformance_books_editor_fkey",
    }


def test_many_to_one_with_hints(anon):
    rows = get(
        anon,
        "conformance_books",
        select="title,author:conformance_authors!author_id(name),"
        "editor:conformance_authors!conformance_books_editor_fkey(name)",
        id="eq.1",
    )
    assert rows == [
        {
            "title": "Notes on the Engine",
            "author": {"name": "Ada Lovelace"},
            "editor": {"name": "Alan Turing"},
        }
    ]
    orphan = get(
        anon, "conformance_books", select="id,conformance_authors!author_id(name)", id="eq.5"
    )
    assert orphan == [{"id": 5, "conformance_authors": None}]


def test_one_to_many_with_filters_order_and_limit(anon):
    rows = get(
        anon,
        "conformance_authors",
        select="name,books:conformance_books!author_id(id,title)",
        id="eq.2",
        **{"books.order": "id.desc", "books.limit": "1", "books.pages": "gt.10"},
    )
    assert rows == [{"name": "Alan Turing", "books": [{"id": 3, "title": "Morphogenesis"}]}]
    empty = get(
        anon, "conformance_authors", select="id,books:conformance_books!author_id(id)", id="eq.9"
    )
    assert empty == []


def test_one_to_one_is_an_object(anon):
    rows = get(anon, "conformance_authors", select="id,conformance_profiles(website)", order="id")
    assert rows == [
        {"id": 1, "conformance_profiles": {"website": "https://ada.example"}},
        {"id": 2, "conformance_profiles": None},
        {"id": 3, "conformance_profiles": {"website": None}},
    ]


def test_many_to_many_through_a_junction(anon):
    rows = get(
        anon,
        "conformance_books",
        select="id,conformance_tags(label)",
        id="in.(1,4)",
        order="id",
        **{"conformance_tags.order": "label"},
    )
    assert rows == [
        {"id": 1, "conformance_tags": [{"label": "classic"}, {"label": "math"}]},
        {"id": 4, "conformance_tags": []},
    ]


def test_inner_join_and_null_filters_on_embeds(anon):
    inner = get(
        anon, "conformance_authors", select="id,conformance_profiles!inner(website)", order="id"
    )
    assert [row["id"] for row in inner] == [1, 3]
    filtered = get(
        anon,
        "conformance_authors",
        select="id,conformance_profiles!inner(website)",
        **{"conformance_profiles.website": "not.is.null"},
    )
    assert [row["id"] for row in filtered] == [1]
    without = get(
        anon,
        "conformance_authors",
        select="id,conformance_profiles(website)",
        conformance_profiles="is.null",
    )
    assert [row["id"] for row in without] == [2]
    left = get(
        anon, "conformance_authors", select="id,conformance_profiles!left(website)", order="id"
    )
    assert [row["id"] for row in left] == [1, 2, 3]
    assert left[1]["conformance_profiles"] is None
    empty_select = get(
        anon, "conformance_authors", select="id,conformance_profiles!inner()", order="id"
    )
    assert empty_select == [{"id": 1}, {"id": 3}]


def test_composite_foreign_key(anon):
    rows = get(anon, "conformance_reprints", select="id,conformance_editions(year)", order="id")
    assert rows == [
        {"id": 1, "conformance_editions": {"year": 1953}},
        {"id": 2, "conformance_editions": {"year": 1937}},
    ]


def test_spread_of_a_to_one_embed(anon):
    rows = get(
        anon,
        "conformance_books",
        select="title,...conformance_authors!author_id(author_name:name)",
        id="eq.2",
    )
    assert rows == [{"title": "Computable Numbers", "author_name": "Alan Turing"}]


def test_spread_of_a_to_many_embed(anon):
    """PostgREST v13: each column of a one-to-many or many-to-many spread is an array."""
    rows = get(
        anon,
        "conformance_authors",
        select="id,...conformance_books!author_id(title,pages)",
        order="id",
        **{"conformance_books.order": "id.desc"},
    )
    assert rows == [
        {"id": 1, "title": ["Notes on the Engine"], "pages": [120]},
        {"id": 2, "title": ["Morphogenesis", "Computable Numbers"], "pages": [72, 36]},
        {"id": 3, "title": ["COBOL, Explained"], "pages": [None]},
    ]
    many_to_many = get(
        anon,
        "conformance_books",
        select="id,...conformance_tags(tag:label)",
        id="in.(1,4)",
        order="id",
        **{"conformance_tags.order": "label"},
    )
    assert many_to_many == [{"id": 1, "tag": ["classic", "math"]}, {"id": 4, "tag": []}]
    inner = get(anon, "conformance_staff", select="id,...conformance_staff!inner(name)", order="id")
    assert [row["id"] for row in inner] == [1, 2]


def test_nested_embedding(anon):
    rows = get(
        anon,
        "conformance_authors",
        select="name,books:conformance_books!author_id(title,conformance_tags(label))",
        id="eq.1",
    )
    assert rows == [
        {
            "name": "Ada Lovelace",
            "books": [
                {
                    "title": "Notes on the Engine",
                    "conformance_tags": [{"label": "classic"}, {"label": "math"}],
                }
            ],
        }
    ]


def test_view_inherits_foreign_keys(anon):
    rows = get(anon, "conformance_book_view", select="title,conformance_authors(name)", id="eq.1")
    assert rows == [
        {"title": "Notes on the Engine", "conformance_authors": {"name": "Ada Lovelace"}}
    ]


@pytest.mark.parametrize(
    ("select", "status", "code"),
    [
        ("id,conformance_tags(label)", 400, "PGRST200"),
        ("id,conformance_books!nothing(title)", 400, "PGRST200"),
        ("id,nothing(*)", 400, "PGRST200"),
        ("id,conformance_books!author_id(nope)", 400, "42703"),
    ],
)
def test_embedding_errors(anon, select, status, code):
    assert_error(anon.get("/conformance_authors", params={"select": select}), status, code)


def test_embedding_with_the_official_client(rest_url, settings, conformance):
    from supabase import create_client

    client = create_client(rest_url, settings.anon_key)
    result = (
        client.table("conformance_books")
        .select("title, conformance_authors!author_id(name)")
        .eq("id", 2)
        .execute()
    )
    assert result.data == [
        {"title": "Computable Numbers", "conformance_authors": {"name": "Alan Turing"}}
    ]


def test_embedding_by_constraint_name_and_column_name(anon):
    """A foreign key's constraint name or column names its relationship; the view over
    conformance_authors (which inherits the key) is no second candidate."""
    by_constraint = get(
        anon,
        "conformance_books",
        select="title,author:conformance_books_author_fkey(name)",
        id="eq.1",
    )
    assert by_constraint == [{"title": "Notes on the Engine", "author": {"name": "Ada Lovelace"}}]
    by_column = get(anon, "conformance_books", select="title,editor_id(name)", id="eq.1")
    assert by_column == [{"title": "Notes on the Engine", "editor_id": {"name": "Alan Turing"}}]
    one_to_many = get(
        anon, "conformance_authors", select="name,conformance_books_editor_fkey(title)", id="eq.1"
    )
    assert one_to_many == [
        {"name": "Ada Lovelace", "conformance_books_editor_fkey": [{"title": "Morphogenesis"}]}
    ]


def test_self_referencing_foreign_key(anon):
    """The table's name is the one-to-many side (reports), the column the many-to-one side
    (manager); a hint on the table's name names the referencing column."""
    rows = get(
        anon,
        "conformance_staff",
        select="name,manager:manager_id(name),conformance_staff(name),"
        "reports:conformance_staff!manager_id(id)",
        id="eq.2",
        **{"conformance_staff.order": "id", "reports.order": "id.desc"},
    )
    assert rows == [
        {
            "name": "Lead",
            "manager": {"name": "Chief"},
            "conformance_staff": [{"name": "Clerk"}, {"name": "Intern"}],
            "reports": [{"id": 4}, {"id": 3}],
        }
    ]
    by_constraint = anon.get(
        "/conformance_staff", params={"select": "conformance_staff_manager_fkey(name)"}
    )
    assert_error(by_constraint, 400, "PGRST200")


def test_ambiguous_embed_lists_relationships_in_postgrest_order(anon):
    """PostgREST sorts the candidates: one-to-many, many-to-one, one-to-one, many-to-many."""
    response = anon.get("/conformance_desks", params={"select": "conformance_staff(*)"})
    body = assert_error(response, 300, "PGRST201")
    assert body["message"] == (
        "Could not embed because more than one relationship was found for "
        "'conformance_desks' and 'conformance_staff'"
    )
    embedding = "conformance_desks with conformance_staff"
    assert body["details"] == [
        {
            "cardinality": "one-to-many",
            "embedding": embedding,
            "relationship": "conformance_staff_desk_id_fkey using "
            "conformance_desks(id) and conformance_staff(desk_id)",
        },
        {
            "cardinality": "many-to-one",
            "embedding": embedding,
            "relationship": "conformance_desks_cleaner_id_fkey using "
            "conformance_desks(cleaner_id) and conformance_staff(id)",
        },
        {
            "cardinality": "many-to-many",
            "embedding": embedding,
            "relationship": "conformance_desk_bookings using "
            "conformance_desk_bookings_desk_id_fkey(desk_id) and "
            "conformance_desk_bookings_staff_id_fkey(staff_id)",
        },
    ]
    assert body["hint"] == (
        "Try changing 'conformance_staff' to one of the following: "
        "'conformance_staff!conformance_staff_desk_id_fkey', "
        "'conformance_staff!conformance_desks_cleaner_id_fkey', "
        "'conformance_staff!conformance_desk_bookings'. "
        "Find the desired relationship in the 'details' key."
    )


def test_two_embeds_of_one_name_need_aliases(anon):
    """PostgREST names each embed's subquery `<origin>_<name>_<depth>`: two embeds of one name
    at one level collide in Postgres (42712, HTTP 400)."""
    response = anon.get(
        "/conformance_books",
        params={
            "select": "id,conformance_authors!author_id(name),conformance_authors!editor_id(name)"
        },
    )
    body = assert_error(response, 400, "42712")
    assert body["message"] == (
        'table name "conformance_books_conformance_authors_1" specified more than once'
    )
    assert body["details"] is None and body["hint"] is None
    nested = anon.get(
        "/conformance_authors",
        params={
            "select": "books:conformance_books!author_id("
            "id,x:conformance_tags(id),x:conformance_tags(label))"
        },
    )
    body = assert_error(nested, 400, "42712")
    assert body["message"] == 'table name "conformance_books_x_2" specified more than once'


def test_view_to_view_embedding(anon):
    """A key joins a view over its table to a view over the table it references."""
    rows = get(
        anon, "conformance_book_view", select="title,conformance_author_view(name)", id="eq.1"
    )
    assert rows == [
        {"title": "Notes on the Engine", "conformance_author_view": {"name": "Ada Lovelace"}}
    ]


def test_computed_relationships(anon):
    """A function from a row to another relation's rows embeds by its name: a set of rows is
    an array, one row an object."""
    to_many = get(
        anon,
        "conformance_authors",
        select="name,conformance_author_books(title)",
        id="eq.2",
        **{"conformance_author_books.order": "id"},
    )
    assert to_many == [
        {
            "name": "Alan Turing",
            "conformance_author_books": [
                {"title": "Computable Numbers"},
                {"title": "Morphogenesis"},
            ],
        }
    ]
    to_one = get(anon, "conformance_books", select="title,conformance_book_author(name)", id="eq.3")
    assert to_one == [
        {"title": "Morphogenesis", "conformance_book_author": {"name": "Alan Turing"}}
    ]


def test_ordering_by_a_to_one_embed(anon):
    """`order=<embed>(<column>)`: by a column of a to-one embed of the same level."""
    rows = get(
        anon,
        "conformance_books",
        select="id,author:conformance_authors!author_id(name)",
        order="author(name).desc.nullslast,id",
        id="lt.5",
    )
    assert [row["id"] for row in rows] == [4, 2, 3, 1]
    to_many = anon.get(
        "/conformance_authors",
        params={"select": "id,conformance_books!author_id(id)", "order": "conformance_books(id)"},
    )
    body = assert_error(to_many, 400, "PGRST118")
    assert body["message"] == "A related order on 'conformance_books' is not possible"
    assert body["details"] == (
        "'conformance_authors' and 'conformance_books' do not form a many-to-one or one-to-one "
        "relationship"
    )
    missing = anon.get("/conformance_books", params={"select": "id", "order": "author(name)"})
    assert_error(missing, 400, "PGRST108")
