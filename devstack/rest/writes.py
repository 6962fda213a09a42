"""POST, PATCH, PUT and DELETE on tables and views (PostgREST's MutatePlan): the statement
from the body and filters, the representation or keys it returns, `Prefer:` handling
(return, count, resolution, missing, max-affected, tx) and the response."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from psycopg import sql
from starlette.responses import Response

from devstack.rest import errors, preferences, query_grammar, responses, wire
from devstack.rest.preferences import Preferences
from devstack.rest.query_plan import PlanNode, apply_parameters, build_node, unknown_column
from devstack.rest.request import ApiRequest, payload
from devstack.rest.schema_cache import Relation, SchemaCache
from devstack.rest.sql_builder import Insert, SqlBuilder, aggregate_rows, ident, qualified
from devstack.rest.transaction import Outcome, Transactions

WRITE_PARAMS = {"select", "order", "limit", "offset", "columns", "on_conflict"}
NOTHING_FROM = "select pgrst_target.*, true as pgrst_inserted from {} as pgrst_target where false"


@dataclass(frozen=True)
class Mutation:
    """A write's statement and what its response needs."""

    relation: Relation
    kind: str  # insert, update or delete: how the response reports it
    statement: sql.Composable | wire.Query  # a Query: composed and converted already
    builder: SqlBuilder  # the statement's parameters
    returning: sql.Composable | None
    node: PlanNode | None  # the representation's select, when one is asked for
    media: responses.MediaType | None
    applied: list[str]
    has_rows: bool = True
    counts_inserts: bool = False  # the statement gives (rows affected, rows inserted)


async def insert(db: Transactions, req: ApiRequest, relation: Relation) -> Response:
    prefs = req.prefs
    rows, columns = _rows(relation, payload(req, allow_empty=False), req.params)
    conflict = None
    on_conflict = next((v for k, v in req.params if k == "on_conflict"), None)
    if on_conflict:
        conflict = tuple(
            query_grammar.parse_field(c).name for c in on_conflict.split(",") if c.strip()
        )
        for name in conflict:
            if name not in relation.columns:
                raise unknown_column(relation, name)
    media = _media(req)
    node = _representation_node(db.schema.cache, relation, req)
    # a resolution needs a conflict target: the primary key or on_conflict
    taken = preferences.INSERT
    if not (relation.primary_key or conflict):
        taken = tuple(name for name in taken if name != "resolution")
    applied = preferences.applied(prefs, taken)
    builder = SqlBuilder()
    returning = _returning(relation, prefs, upsert=prefs.resolution is not None)
    # a merge without a representation still tells an update (200) from an insert (201)
    counts_inserts = prefs.resolution == "merge-duplicates" and prefs.return_ in (None, "minimal")
    if counts_inserts:
        returning = _inserted_flag(relation)
    plan = Insert(relation, rows, columns, prefs.missing == "default", conflict, prefs.resolution)
    statement: sql.Composable | wire.Query
    if not rows:
        statement = sql.SQL(NOTHING_FROM).format(qualified(relation.name))
        if returning is None:
            statement = sql.SQL("select 1 where false")
        elif prefs.return_ == "headers-only":
            statement = sql.SQL("select {} from {} as pgrst_target where false").format(
                returning, qualified(relation.name)
            )
    elif columns and not plan.missing_default and not prefs.representation:
        # The rows travel as the statement's one parameter; the statement itself is a
        # function of this key, composed once per shape (as reads are).
        def compose() -> bytes:
            composer = SqlBuilder()
            composed = composer.insert(plan, returning)
            if counts_inserts:
                composed = _counting_inserts(composed)
            return wire.query(composed, composer.params).text

        key = ("insert", relation.name, tuple(columns), conflict, prefs.resolution)
        text = db.schema.remembered((*key, prefs.return_), compose)
        statement = wire.Query(text, (wire.dump(json.dumps(rows)),))
    else:
        statement = builder.insert(plan, returning)
    if counts_inserts and not isinstance(statement, wire.Query):
        statement = _counting_inserts(statement)
    mutation = Mutation(
        relation,
        "insert",
        statement,
        builder,
        returning,
        node,
        media,
        applied,
        bool(rows),
        counts_inserts,
    )
    return await mutate(db, req, mutation)


def _counting_inserts(statement: sql.Composable) -> sql.Composable:
    """The rows an upsert affected and those it inserted (its returning is _inserted_flag)."""
    return sql.SQL(
        "with pgrst_source as ({}) select count(*)::int, "
        "(count(*) filter (where pgrst_inserted))::int from pgrst_source"
    ).format(statement)


async def update(db: Transactions, req: ApiRequest, relation: Relation) -> Response:
    body = payload(req, allow_empty=False)
    if not isinstance(body, dict):
        raise errors.invalid_body("Empty or invalid json")
    _columns(relation, list(body))
    builder = SqlBuilder()
    conditions = _filters(relation, req.params, builder)
    returning = _returning(relation, req.prefs, upsert=False)
    if not body:
        statement: sql.Composable = sql.SQL(NOTHING_FROM).format(qualified(relation.name))
        if returning is None:
            statement = sql.SQL("select 1 where false")
    else:
        statement = builder.update(relation, body, conditions, returning)
    return await _mutate_rows(db, req, relation, builder, statement, returning)


async def delete(db: Transactions, req: ApiRequest, relation: Relation) -> Response:
    builder = SqlBuilder()
    conditions = _filters(relation, req.params, builder)
    returning = _returning(relation, req.prefs, upsert=False)
    statement = builder.delete(relation, conditions, returning)
    return await _mutate_rows(db, req, relation, builder, statement, returning)


async def put(db: Transactions, req: ApiRequest, relation: Relation) -> Response:
    """An upsert of one row named by its whole primary key in the URL."""
    values = dict(req.params)
    if "limit" in values or "offset" in values:
        raise errors.put_limit_offset()
    filters = {k: v for k, v in req.params if k not in WRITE_PARAMS}
    key = relation.primary_key
    if (
        not key
        or set(filters) != set(key)
        or not all(v.startswith("eq.") for v in filters.values())
    ):
        raise errors.put_filters()
    body = payload(req, allow_empty=False)
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, dict):
        raise errors.invalid_body("Empty or invalid json")
    _columns(relation, list(body))
    for column in key:
        given = body.get(column)
        text = json.dumps(given) if isinstance(given, bool) else str(given)
        if column not in body or text != filters[column][3:]:
            raise errors.put_key_mismatch()
    builder = SqlBuilder()
    returning = _returning(relation, req.prefs, upsert=True)
    plan = Insert(relation, [body], list(body), conflict=key, resolution="merge-duplicates")
    statement = builder.insert(plan, returning)
    response = await _mutate_rows(db, req, relation, builder, statement, returning)
    if "content-range" in response.headers:
        del response.headers["content-range"]
    return response


async def _mutate_rows(
    db: Transactions,
    req: ApiRequest,
    relation: Relation,
    builder: SqlBuilder,
    statement: sql.Composable,
    returning: sql.Composable | None,
) -> Response:
    """PATCH, DELETE and PUT: the representation's select and media, then the mutation."""
    kind = "delete" if req.method == "DELETE" else "update"
    node = _representation_node(db.schema.cache, relation, req)
    media = _media(req)
    taken = {"DELETE": preferences.DELETE, "PATCH": preferences.UPDATE}
    applied = preferences.applied(req.prefs, taken.get(req.method, preferences.SINGLE_UPSERT))
    mutation = Mutation(relation, kind, statement, builder, returning, node, media, applied)
    return await mutate(db, req, mutation)


async def mutate(db: Transactions, req: ApiRequest, mutation: Mutation) -> Response:
    """Run the write in the request's transaction and answer as PostgREST does: 201 / 200 /
    204, Content-Range, Location, the representation; max-affected and a singular media
    type refuse (and roll back) by the rows affected."""
    prefs, relation, media = req.prefs, mutation.relation, mutation.media
    statement, returning = mutation.statement, mutation.returning
    names: list[str] = []
    if returning is not None and prefs.representation:
        assert mutation.node is not None and not isinstance(statement, wire.Query)
        builder = mutation.builder
        alias = builder.alias()
        source = sql.SQL("pgrst_source as {}").format(ident(alias))
        select, names = builder.select(mutation.node, source, alias, paginate=False)
        statement = sql.SQL(
            "with pgrst_source as ({}) select "
            "(select count(*) from pgrst_source)::int, "
            "(select count(*) from pgrst_source where pgrst_inserted)::int, "
            "(select {} from ({}) as pgrst_row)"
        ).format(
            statement, aggregate_rows(media is not None and media.name == responses.CSV), select
        )
    applied = mutation.applied
    commit = db.commits(req, applied)
    # Refusals that depend on the rows affected need the results before the transaction
    # ends; without them the end goes with the statement.
    strict = prefs.strict and prefs.max_affected is not None
    singular = media is not None and media.singular

    def respond(results: list[Any]) -> Outcome:
        (result,) = results
        inserted = None
        body = None
        location = None
        if returning is None:
            affected = max(result.command_tuples or 0, 0)
        elif mutation.counts_inserts:
            affected = int(wire.value(result, 0) or 0)
            inserted = int(wire.value(result, 1) or 0)
        elif prefs.representation:
            affected = int(wire.value(result, 0) or 0)
            inserted = int(wire.value(result, 1) or 0)
            body = wire.value(result, 2) or b""  # CSV of no rows is empty
            assert media is not None
            body = responses.render_rows(body, media, names, affected)
        else:
            keys = wire.typed_rows(result)
            affected = len(keys)
            if mutation.kind == "insert" and len(keys) == 1:
                location = f"/{relation.name}?" + "&".join(
                    f"{quote(column)}=eq.{quote(str(value))}"
                    for column, value in zip(relation.primary_key, keys[0], strict=True)
                )
        if strict and affected > prefs.max_affected:
            raise errors.max_affected(affected)
        if singular and affected != 1:
            raise errors.not_singular(affected)
        status = _status(req, mutation, inserted)
        total = affected if prefs.count else None
        headers = {"Content-Range": responses.content_range(0, affected, total)}
        if mutation.kind == "insert" or req.method == "DELETE":
            headers["Content-Range"] = f"*/{'*' if total is None else total}"  # no range
        if location:
            headers["Location"] = location
        headers.update(responses.applied(applied))
        if not prefs.representation:
            return Outcome(Response(status_code=status, headers=headers), commit)
        return Outcome(responses.body_response(body, status, media, headers), commit)

    if not isinstance(statement, wire.Query):
        statement = wire.query(statement, mutation.builder.params)
    end = None if strict or singular else commit
    return await db.run(req, False, [statement], respond, end)


def _status(req: ApiRequest, mutation: Mutation, inserted: int | None) -> int:
    """201 for an insert, but 200 for a merge-duplicates upsert that inserted nothing
    (ignore-duplicates answers 201 whatever it skipped); 200 or 204 for the others (with or
    without a representation), but 201 for a PUT that inserted its row."""
    prefs = req.prefs
    if mutation.kind == "insert":
        merged = prefs.resolution == "merge-duplicates"
        return 200 if merged and inserted == 0 and mutation.has_rows else 201
    if req.method == "PUT" and inserted:
        return 201
    return 200 if prefs.representation else 204


def _columns(relation: Relation, names: list[str]) -> list[str]:
    for name in names:
        if name not in relation.columns:
            raise errors.unknown_column(name, relation.name)
    return names


def _rows(
    relation: Relation, body: Any, params: tuple[tuple[str, str], ...]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of an insert's body and the columns written (`columns=`, else the keys,
    which every row must share)."""
    rows = body if isinstance(body, list) else [body]
    if not all(isinstance(row, dict) for row in rows):
        raise errors.invalid_body("All object keys must match")
    columns_param = next((v for k, v in params if k == "columns"), None)
    if columns_param is not None:
        names = [query_grammar.parse_field(c).name for c in columns_param.split(",")]
        return rows, _columns(relation, names)
    if not rows:
        return rows, []
    keys = list(rows[0])
    for row in rows[1:]:
        if set(row) != set(keys):
            raise errors.invalid_body("All object keys must match")
    return rows, _columns(relation, keys)


def _media(req: ApiRequest) -> responses.MediaType | None:
    """The representation's media type; none without `return=representation`."""
    return responses.negotiate(req.accept) if req.prefs.representation else None


def _inserted_flag(relation: Relation) -> sql.Composable:
    """Whether an upserted row was inserted: a row an update wrote has a non-zero xmax."""
    if relation.is_table:
        return sql.SQL("(pgrst_target.xmax = 0) as pgrst_inserted")
    return sql.SQL("true as pgrst_inserted")


def _returning(relation: Relation, prefs: Preferences, upsert: bool) -> sql.Composable | None:
    if prefs.representation:
        extra = _inserted_flag(relation) if upsert else sql.SQL("true as pgrst_inserted")
        return sql.SQL("pgrst_target.*, {}").format(extra)
    if prefs.return_ == "headers-only" and relation.primary_key:
        return sql.SQL(", ").join(ident("pgrst_target", column) for column in relation.primary_key)
    return None


def _representation_node(
    cache: SchemaCache, relation: Relation, req: ApiRequest
) -> PlanNode | None:
    if not req.prefs.representation:
        return None
    select = next((v for k, v in reversed(req.params) if k == "select"), "*")
    return build_node(cache, relation, query_grammar.parse_select(select))


def _filters(
    relation: Relation, params: tuple[tuple[str, str], ...], builder: SqlBuilder
) -> list[sql.Composable]:
    """The top-level filters of a PATCH / DELETE as conditions on `pgrst_target`."""
    values = dict(params)
    if "limit" in values or "offset" in values:
        raise errors.not_implemented("limit/offset on PATCH and DELETE")
    filters = [(k, v) for k, v in params if k not in WRITE_PARAMS and "." not in k]
    filters += [(k, v) for k, v in params if k in ("not.or", "not.and")]
    node = PlanNode(relation, [])
    apply_parameters(node, filters)
    return [builder.condition(condition, "pgrst_target", relation) for condition in node.conditions]
