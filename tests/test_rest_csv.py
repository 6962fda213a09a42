"""/rest/v1 `Accept: text/csv` as PostgREST writes it: the first row's keys as the header,
then each row as Postgres prints a record (quoted where it has a space, comma, quote,
parenthesis or backslash, or is empty; nothing for null; jsonb as Postgres prints it),
lines joined by a newline without a final one, and only a newline for no rows."""

from __future__ import annotations

pytest_plugins = ["tests.rest_conformance"]

CSV = {"Accept": "text/csv"}


def test_csv_quotes_values_as_postgres_prints_a_record(anon):
    response = anon.get(
        "/conformance_authors",
        params={"select": "id,name,born,meta,tags,rating", "order": "id"},
        headers=CSV,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text == (
        "id,name,born,meta,tags,rating\n"
        '1,"Ada Lovelace",1815-12-10,"{""langs"": [""en"", ""fr""], ""country"": ""UK""}",'
        '"{math,poetry}",4.5\n'
        '2,"Alan Turing",1912-06-23,"{""country"": ""UK""}","{math,cs}",4.9\n'
        '3,"Grace Hopper",,"{""country"": ""US""}","{cs,navy}",'
    )


def test_csv_of_text_with_quotes_commas_and_booleans(anon):
    response = anon.get(
        "/conformance_books",
        params={"select": "id,title,published,period", "id": "in.(4,5)", "order": "id"},
        headers=CSV,
    )
    assert response.text == (
        "id,title,published,period\n"
        '4,"COBOL, Explained",t,"[1959,1961)"\n'
        '5,"Unsigned ""Draft""; v2",f,'
    )


def test_csv_of_embedded_resources_and_of_no_rows(anon):
    embedded = anon.get(
        "/conformance_books",
        params={"select": "id,conformance_authors!author_id(id,name)", "id": "eq.2"},
        headers=CSV,
    )
    assert embedded.text == ('id,conformance_authors\n2,"{""id"": 2, ""name"": ""Alan Turing""}"')
    empty = anon.get("/conformance_books", params={"id": "eq.99"}, headers=CSV)
    assert empty.status_code == 200 and empty.text == "\n"
    rpc = anon.get(
        "/rpc/conformance_books_by", params={"author": 3, "select": "id,title"}, headers=CSV
    )
    assert rpc.text == 'id,title\n4,"COBOL, Explained"'
