"""GET and HEAD on tables and views: the read plan's statements (a page of rows as one JSON
array, and the total `Prefer: count=` asks for) and the response with its Content-Range.
Functions returning rows answer through the same statements (see rpc)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from starlette.responses import Response

from devstack.rest import errors, preferences, responses, wire
from devstack.rest.query_plan import DB_MAX_ROWS, PlanNode, page, read_plan
from devstack.rest.request import ApiRequest
from devstack.rest.schema_cache import Relation
from devstack.rest.sql_builder import SqlBuilder, aggregate_rows, ident, qualified
from devstack.rest.transaction import Outcome, Transactions

READ_PARAMS = {"select", "order", "limit", "offset"}


@dataclass(frozen=True)
class Rows:
    """The statements of a read and what its response needs from the request's plan."""

    queries: list[wire.Query]
    names: list[str]  # the columns, in order (CSV's header)
    media: responses.MediaType
    lower: int  # the first row's offset
    read_only: bool = True
    commit: bool = True
    applied: tuple[str, ...] | list[str] = ()
    max_affected: int | None = None  # more rows refuse the request (RPC, handling=strict)
    location: str | None = None  # Content-Location (table and view reads)


async def read(db: Transactions, req: ApiRequest, relation: Relation) -> Response:
    media = responses.negotiate(req.accept)

    # The statements are a function of the URL, the Range header and the count asked for
    # (the role does not enter them: RLS applies in the database).
    def compose() -> tuple[list[wire.Query], list[str], int]:
        node = read_plan(db.schema.cache, relation, req.params, READ_PARAMS)
        lower, limit = page(req)
        node.limit, node.offset = limit, lower
        builder = SqlBuilder()
        alias = builder.alias()
        source = sql.SQL("{} as {}").format(qualified(relation.name), ident(alias))
        queries, names = rows_queries(builder, node, source, alias, req.prefs.count, media)
        return queries, names, lower

    key = ("read", relation.name, req.query_string, req.range, req.prefs.count, media.name)
    queries, names, lower = db.schema.remembered(key, compose)
    applied = preferences.applied(req.prefs, preferences.READ)
    db.commits(req, applied)  # a read-only transaction has nothing to undo; tx is reported
    location = responses.content_location(relation.name, req.params)
    rows = Rows(queries, names, media, lower, applied=applied, location=location)
    return await answer_rows(db, req, rows)


def rows_queries(
    builder: SqlBuilder,
    node: PlanNode,
    source: sql.Composable,
    alias: str,
    count: str | None,
    media: responses.MediaType,
) -> tuple[list[wire.Query], list[str]]:
    """The page's row count and rows (a JSON array or CSV lines), then the count
    statements."""
    page_query, names = builder.select(node, source, alias)
    rows = aggregate_rows(media.name == responses.CSV)
    queries = [
        wire.query(
            sql.SQL("select count(pgrst_row)::int, {} from ({}) as pgrst_row").format(
                rows, page_query
            ),
            builder.params,
        )
    ]
    if count:
        unpaginated, _ = builder.select(node, source, alias, paginate=False)
        queries += count_queries(builder, unpaginated, count)
    return queries, names


def count_queries(
    builder: SqlBuilder, unpaginated: sql.Composable, count: str | None
) -> list[wire.Query]:
    """The statements that give the total `Prefer: count=` asks for (see total)."""
    if count is None:
        return []
    if count == "exact":
        query = sql.SQL("select count(*) from ({}) as pgrst_count").format(unpaginated)
        return [wire.query(query, builder.params)]
    plan = wire.query(sql.SQL("explain (format json) {}").format(unpaginated), builder.params)
    if count == "estimated":
        capped = sql.SQL("select count(*) from ({} limit {}) as pgrst_count").format(
            unpaginated, sql.Literal(DB_MAX_ROWS + 1)
        )
        return [wire.query(capped, builder.params), plan]
    return [plan]


def total(results: list[Any], count: str | None) -> int | None:
    """exact: the count; estimated: the count up to db-max-rows, else the planner's
    estimate; planned: the planner's estimate."""
    if count is None:
        return None
    if count in ("exact", "estimated"):
        counted = int(wire.value(results[0]) or 0)
        if count == "exact" or counted <= DB_MAX_ROWS:
            return counted
    document = json.loads(wire.value(results[-1]) or b"[{}]")
    return int(document[0].get("Plan", {}).get("Plan Rows", 0))


async def answer_rows(db: Transactions, req: ApiRequest, rows: Rows) -> Response:
    """Run a read's statements and answer with the page in the negotiated media type."""
    count_pref = req.prefs.count

    def respond(results: list[Any]) -> Outcome:
        count = int(wire.value(results[0], 0) or 0)
        if rows.max_affected is not None and count > rows.max_affected:
            raise errors.max_affected(count)
        body = wire.value(results[0], 1) or b""  # CSV of no rows is empty
        counted = total(results[1:], count_pref)
        status = responses.range_status(rows.lower, count, counted)
        rendered = responses.render_rows(body, rows.media, rows.names, count)
        headers = {"Content-Range": responses.content_range(rows.lower, count, counted)}
        if rows.location:
            headers["Content-Location"] = rows.location
        headers.update(responses.applied(list(rows.applied)))
        if req.method == "HEAD":
            headers["Content-Type"] = rows.media.content_type
            return Outcome(Response(status_code=status, headers=headers), rows.commit)
        return Outcome(responses.body_response(rendered, status, rows.media, headers), rows.commit)

    return await db.run(req, rows.read_only, rows.queries, respond)
