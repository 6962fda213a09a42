"""`/rpc/{name}`: calling a function (PostgREST's CallPlan). The overload is chosen by the
argument names given (the JSON body's keys, or the query parameters of GET); the result is
answered by its shape: nothing (204), a scalar, a set of scalars, one row, or rows read as
a table is."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from starlette.responses import Response

from devstack.rest import errors, fuzzy_names, preferences, responses, wire
from devstack.rest.query_plan import PlanNode, page, read_plan
from devstack.rest.reads import READ_PARAMS, Rows, answer_rows, count_queries, rows_queries, total
from devstack.rest.request import ApiRequest, payload
from devstack.rest.schema_cache import Column, Function, Relation, SchemaCache
from devstack.rest.sql_builder import SqlBuilder, ident
from devstack.rest.transaction import Outcome, Transactions

JSON = responses.MediaType(responses.JSON)


@dataclass(frozen=True)
class Call:
    """The chosen function, the statement's source `from <args> ... fn(...) as alias`, and
    how its transaction ends."""

    function: Function
    builder: SqlBuilder
    source: sql.Composable
    alias: str
    rest: list[tuple[str, str]]  # parameters that are not arguments: filters, select, ...
    media: responses.MediaType
    read_only: bool
    commit: bool
    applied: list[str]


async def call(db: Transactions, req: ApiRequest) -> Response:
    cache = db.schema.cache
    overloads = cache.functions.get(req.target, [])
    argument_names = {a.name for f in overloads for a in f.arguments}
    body: Any = None
    query_args: dict[str, list[str]] | None = None
    if req.method == "POST":
        body = payload(req, allow_empty=True)
        keys = set(body) if isinstance(body, dict) else set()
        function = choose(cache, req.target, keys, isinstance(body, (dict, list)))
        if not function.single_json_argument and not isinstance(body, dict):
            raise errors.invalid_body("Empty or invalid json")
        rest = [(k, v) for k, v in req.params if k not in READ_PARAMS]
    else:
        query_args = {}
        for key, value in req.params:
            if key in argument_names:
                query_args.setdefault(key, []).append(value)
        function = choose(cache, req.target, set(query_args), False)
        rest = [(k, v) for k, v in req.params if k not in READ_PARAMS and k not in query_args]
    if req.prefs.strict and req.prefs.max_affected is not None and not function.returns_set:
        raise errors.max_affected_single_value()
    read_only = req.method != "POST" or function.read_only
    applied = preferences.applied(req.prefs, preferences.CALL)
    commit = db.commits(req, applied) or read_only  # tx is reported either way
    builder = SqlBuilder()
    alias = builder.alias()
    source = builder.call_from(function, query_args, body, alias)
    media = responses.negotiate(req.accept)
    plan = Call(function, builder, source, alias, rest, media, read_only, commit, applied)
    if function.returns_void:
        return await _nothing(db, req, plan)
    if not function.returns_composite:
        if rest or any(k in ("select", "order") for k, _ in req.params):
            raise errors.not_implemented("select, filters and order on scalar function results")
        if function.returns_set:
            return await _scalar_set(db, req, plan)
        return await _scalar(db, req, plan)
    if not function.returns_set:
        return await _row(db, req, plan)
    return await _rows(db, req, plan)


def choose(cache: SchemaCache, name: str, keys: set[str], body_is_object: bool) -> Function:
    """The overload the argument names select; one taking a single unnamed json argument
    takes any object body."""
    matches = []
    for function in cache.functions.get(name, []):
        if function.single_json_argument and (body_is_object or not keys):
            matches.append(function)
            continue
        names = {a.name for a in function.arguments}
        required = {a.name for a in function.arguments if not a.has_default}
        if required <= keys <= names:
            matches.append(function)
    if len(matches) > 1:
        exact = [f for f in matches if not f.single_json_argument]
        if len(exact) == 1:
            return exact[0]
        raise errors.ambiguous_function(
            [
                f"public.{f.name}({', '.join(f'{a.name} => {a.type}' for a in f.arguments)})"
                for f in matches
            ]
        )
    if not matches:
        raise errors.unknown_function(name, keys, body_is_object, _meant(cache, name, keys))
    return matches[0]


def _single_value_headers(req: ApiRequest, plan: Call) -> dict[str, str]:
    """A function returning one value (void included) gives one row: 0-0, counted as 1."""
    count = 1 if req.prefs.count else "*"
    return {"Content-Range": f"0-0/{count}", **responses.applied(plan.applied)}


def _meant(cache: SchemaCache, name: str, keys: set[str]) -> str | None:
    """PostgREST's suggestion: another function's name, or this one's parameters."""
    overloads = cache.functions.get(name)
    if not overloads:
        return fuzzy_names.closest(cache.functions, name)

    def listed(names: Iterable[str]) -> str:
        return f"({', '.join(sorted(names))})"

    parameters = [listed(a.name for a in f.arguments) for f in overloads]
    best = fuzzy_names.closest(parameters, listed(keys))
    return f"{name}{best}" if best else None


async def _nothing(db: Transactions, req: ApiRequest, plan: Call) -> Response:
    statement = wire.query(sql.SQL("select from {}").format(plan.source), plan.builder.params)
    headers = _single_value_headers(req, plan)
    return await db.run(
        req,
        plan.read_only,
        [statement],
        lambda _: Outcome(Response(status_code=204, headers=headers)),
        end=plan.commit,
    )


async def _scalar(db: Transactions, req: ApiRequest, plan: Call) -> Response:
    query = sql.SQL("select (to_json({}.pgrst_scalar))::text from {}").format(
        ident(plan.alias), plan.source
    )
    body_media = JSON if plan.media.name == responses.CSV else plan.media

    def respond(results: list[Any]) -> Outcome:
        text = wire.value(results[0], 0) or b"null"
        headers = _single_value_headers(req, plan)
        if req.method == "HEAD":
            return Outcome(Response(status_code=200, headers=headers))
        return Outcome(responses.body_response(text, 200, body_media, headers))

    statements = [wire.query(query, plan.builder.params)]
    return await db.run(req, plan.read_only, statements, respond, end=plan.commit)


async def _scalar_set(db: Transactions, req: ApiRequest, plan: Call) -> Response:
    """A function returning `setof <scalar>`: a JSON array, paginated (limit, offset,
    Range) and capped at db-max-rows as any other read, counted when asked."""
    count_pref, media, builder = req.prefs.count, plan.media, plan.builder
    limit_affected = _max_affected(req)
    lower, limit = page(req)
    values = sql.SQL("select {}.pgrst_scalar from {}").format(ident(plan.alias), plan.source)
    query = sql.SQL(
        "select count(*)::int, coalesce(json_agg(pgrst_row.pgrst_scalar), '[]')::text "
        "from ({}) as pgrst_row"
    ).format(builder.paginate(values, limit, lower))
    queries = [wire.query(query, builder.params)]
    queries += count_queries(builder, values, count_pref)
    body_media = JSON if media.name == responses.CSV else media

    def respond(results: list[Any]) -> Outcome:
        count = int(wire.value(results[0], 0) or 0)
        if limit_affected is not None and count > limit_affected:
            raise errors.max_affected(count)
        text = wire.value(results[0], 1) or b"[]"
        counted = total(results[1:], count_pref)
        status = responses.range_status(lower, count, counted)
        if media.singular:
            text = responses.render_rows(text, media, [], count)
        headers = {
            "Content-Range": responses.content_range(lower, count, counted),
            **responses.applied(plan.applied),
        }
        if req.method == "HEAD":
            return Outcome(Response(status_code=status, headers=headers), plan.commit)
        return Outcome(responses.body_response(text, status, body_media, headers), plan.commit)

    # a singular media type or max-affected refuses by the rows: that rolls back
    end = None if media.singular or limit_affected is not None else plan.commit
    return await db.run(req, plan.read_only, queries, respond, end)


async def _row(db: Transactions, req: ApiRequest, plan: Call) -> Response:
    """A function returning one composite value: an object (nulls stripped when asked)."""
    single_media = plan.media
    if single_media.name == responses.JSON:
        single_media = responses.MediaType(responses.OBJECT)
    node = _result_plan(db.schema.cache, req, plan)
    node.limit = None
    select, _ = plan.builder.select(node, plan.source, plan.alias)
    query = sql.SQL(
        "select (select row_to_json(pgrst_row) from ({}) as pgrst_row limit 1)::text"
    ).format(select)

    def respond(results: list[Any]) -> Outcome:
        text = wire.value(results[0], 0) or b"null"
        if single_media.strip_nulls:
            text = json.dumps(json.loads(text))
        headers = _single_value_headers(req, plan)
        if req.method == "HEAD":
            return Outcome(Response(status_code=200, headers=headers))
        return Outcome(responses.body_response(text, 200, JSON, headers))

    statements = [wire.query(query, plan.builder.params)]
    return await db.run(req, plan.read_only, statements, respond, end=plan.commit)


async def _rows(db: Transactions, req: ApiRequest, plan: Call) -> Response:
    """A function returning a set of rows: read as a table is, filters and all."""
    node = _result_plan(db.schema.cache, req, plan)
    lower, limit = page(req)
    node.limit, node.offset = limit, lower
    queries, names = rows_queries(
        plan.builder, node, plan.source, plan.alias, req.prefs.count, plan.media
    )
    rows = Rows(
        queries,
        names,
        plan.media,
        lower,
        plan.read_only,
        plan.commit,
        plan.applied,
        _max_affected(req),
    )
    return await answer_rows(db, req, rows)


def _max_affected(req: ApiRequest) -> int | None:
    """The most rows a set-returning call may give: max-affected under handling=strict."""
    return req.prefs.max_affected if req.prefs.strict else None


def _result_plan(cache: SchemaCache, req: ApiRequest, plan: Call) -> PlanNode:
    """The read plan over the function's rows: select, order, limits and the filters."""
    relation = _result_relation(cache, plan.function)
    params = [(k, v) for k, v in req.params if (k, v) in plan.rest or k in READ_PARAMS]
    return read_plan(cache, relation, params, READ_PARAMS)


def _result_relation(cache: SchemaCache, function: Function) -> Relation:
    """The columns a function's rows have: its return table's, or its own OUT columns."""
    if function.return_relation and function.return_relation in cache.relations:
        return cache.relations[function.return_relation]
    columns = {column.name: column for column in function.columns}
    if not function.returns_composite:
        columns = {function.name: Column(function.name, function.return_type, True, None, False)}
    return Relation(function.name, "f", columns)
