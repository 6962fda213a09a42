"""The OpenAPI (Swagger 2.0) document PostgREST serves at its root, built from the schema
cache as PostgREST v13 builds it: one path per table/view and per function, one definition
per table/view, and the shared parameters (`select`, `order`, `limit`, `offset`,
`on_conflict`, the `Range` and `Prefer` headers, a `rowFilter.<table>.<column>` per column
and a `body.<table>` per table) that the operations refer to.

As PostgREST's default openapi-mode (follow-privileges), it lists only what the caller's role
may use: `relations` and `functions` name those, read in the request's own transaction, as
that role (see serve).

Comments in the catalog document the API as in PostgREST: a table's, view's or function's
comment is its operations' summary (first line) and description (the rest, leading newlines
dropped) and its definition's (or arguments') description; a column's comment is its
property's and row filter's description.

One deliberate difference: a column default is shown only when it is a constant. PostgREST
also shows expressions (`"gen_random_uuid()"` for a uuid column), which are not values of
the column and make the document fail validation."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlparse

from starlette.responses import Response

from devstack.rest import responses, schema_cache, wire
from devstack.rest.request import ApiRequest
from devstack.rest.schema_cache import Argument, Column, ForeignKey, Relation, SchemaCache
from devstack.rest.transaction import Outcome, Transactions

_SWAGGER_TYPES = {
    "character varying": "string",
    "character": "string",
    "text": "string",
    "boolean": "boolean",
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "numeric": "number",
    "real": "number",
    "double precision": "number",
    "json": None,  # any JSON value
    "jsonb": None,
}
_TYPMOD = re.compile(r"\((\d+)(?:,\s*\d+)?\)")
_LITERAL = re.compile(r"^'((?:[^']|'')*)'(?:::.+)?$")
_PREFER = {
    "params": [],  # PostgREST v13 removed params=single-object: no enum at all (13.0.6)
    "count": ["count=none"],
    "return": ["return=representation", "return=minimal", "return=none"],
    "resolution": ["resolution=ignore-duplicates", "resolution=merge-duplicates"],
}
_SINGULAR = "application/vnd.pgrst.object+json"
_MEDIA = ["application/json", f"{_SINGULAR};nulls=stripped", _SINGULAR]


def _base_type(pg_type: str) -> str:
    """The type as PostgREST names it: without modifiers (`character varying(20)[]` is
    `character varying[]`)."""
    return _TYPMOD.sub("", pg_type)


def _swagger_type(pg_type: str) -> str | None:
    if pg_type.endswith("[]"):
        return "array"
    return _SWAGGER_TYPES.get(pg_type, "string")


def _typed(pg_type: str) -> dict[str, Any]:
    """`type`, `format` and, for arrays, `items` of a column or argument of this type."""
    base = _base_type(pg_type)
    kind = _swagger_type(base)
    schema: dict[str, Any] = {"format": base}
    if kind is not None:
        schema["type"] = kind
    if kind == "array":
        element = _swagger_type(base[:-2])
        schema["items"] = {} if element is None else {"type": element}
    return schema


def _default(column: Column, kind: str | None) -> Any:
    """The default as a JSON value when it is a constant; None for an expression."""
    if column.default is None:
        return None
    if kind == "string":
        literal = _LITERAL.match(column.default)
        return literal.group(1).replace("''", "'") if literal else None
    try:
        return json.loads(column.default)
    except ValueError:
        return None


def _foreign_key(relation: str, column: str, keys: list[ForeignKey], cache: SchemaCache) -> str:
    """PostgREST's note on a column that alone references another table (tables first)."""
    candidates = sorted(
        (fk for fk in keys if fk.table == relation and fk.columns == (column,)),
        key=lambda fk: not cache.relations[fk.referenced_table].is_table,
    )
    if not candidates:
        return ""
    table, target = candidates[0].referenced_table, candidates[0].referenced_columns[0]
    return f"This is a Foreign Key to `{table}.{target}`.<fk table='{table}' column='{target}'/>"


def _property(column: Column, relation: Relation, cache: SchemaCache) -> dict[str, Any]:
    prop = _typed(column.type)
    default = _default(column, prop.get("type"))
    if default is not None:
        prop["default"] = default
    notes = [
        "This is a Primary Key.<pk/>" if column.name in relation.primary_key else "",
        _foreign_key(relation.name, column.name, cache.foreign_keys, cache),
    ]
    # As PostgREST: the column's comment, then (after a blank line) the key notes.
    described = [column.comment] if column.comment else []
    if any(notes):
        described.append("\n".join(["Note:", *filter(None, notes)]))
    if described:
        prop["description"] = "\n\n".join(described)
    if column.enum:
        prop["enum"] = list(column.enum)
    length = _TYPMOD.search(column.type)
    if length and prop.get("type") == "string" and _base_type(column.type).startswith("char"):
        prop["maxLength"] = int(length.group(1))
    return prop


def _definition(relation: Relation, cache: SchemaCache) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "type": "object",
        "properties": {c.name: _property(c, relation, cache) for c in relation.columns.values()},
    }
    required = [c.name for c in relation.columns.values() if not c.nullable]
    if required:
        definition["required"] = required
    if relation.comment:
        definition["description"] = relation.comment
    return definition


def _header(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "required": False,
        "in": "header",
        "type": "string",
        **schema,
    }


def _query(name: str, description: str | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "required": False, "in": "query", "type": "string"}
    if description:
        param["description"] = description
    return param


def _prefer(*kinds: str) -> dict[str, Any]:
    values = [v for kind in kinds for v in _PREFER[kind]]
    return _header("Prefer", "Preference", **({"enum": values} if values else {}))


def _parameters(relations: dict[str, Relation]) -> dict[str, Any]:
    shared: dict[str, Any] = {
        "preferParams": _prefer("params"),
        "preferReturn": _prefer("return"),
        "preferCount": _prefer("count"),
        "preferPost": _prefer("return", "resolution"),
        "select": _query("select", "Filtering Columns"),
        "on_conflict": _query("on_conflict", "On Conflict"),
        "order": _query("order", "Ordering"),
        "range": _header("Range", "Limiting and Pagination"),
        "rangeUnit": _header("Range-Unit", "Limiting and Pagination", default="items"),
        "offset": _query("offset", "Limiting and Pagination"),
        "limit": _query("limit", "Limiting and Pagination"),
    }
    for name, relation in sorted(relations.items()):
        shared[f"body.{name}"] = {
            "name": name,
            "description": name,
            "required": False,
            "in": "body",
            "schema": {"$ref": f"#/definitions/{name}"},
        }
        for column in relation.columns.values():
            shared[f"rowFilter.{name}.{column.name}"] = _query(column.name, column.comment)
    return shared


def _refs(*names: str) -> list[dict[str, str]]:
    return [{"$ref": f"#/parameters/{name}"} for name in names]


def _relation_path(name: str, relation: Relation) -> dict[str, Any]:
    filters = [f"rowFilter.{name}.{column}" for column in relation.columns]
    common: dict[str, Any] = {"tags": [name]}
    if relation.comment:
        summary, _, description = relation.comment.partition("\n")
        common["summary"] = summary
        if description.lstrip("\n"):
            common["description"] = description.lstrip("\n")
    rows = {"type": "array", "items": {"$ref": f"#/definitions/{name}"}}
    operations: dict[str, Any] = {
        "get": {
            **common,
            "parameters": _refs(
                *filters, "select", "order", "range", "rangeUnit", "offset", "limit", "preferCount"
            ),
            "responses": {
                "200": {"description": "OK", "schema": rows},
                "206": {"description": "Partial Content"},
            },
        }
    }
    if relation.writable:
        operations["post"] = {
            **common,
            "parameters": _refs(f"body.{name}", "select", "preferPost"),
            "responses": {"201": {"description": "Created"}},
        }
        operations["patch"] = {
            **common,
            "parameters": _refs(*filters, f"body.{name}", "preferReturn"),
            "responses": {"204": {"description": "No Content"}},
        }
        operations["delete"] = {
            **common,
            "parameters": _refs(*filters, "preferReturn"),
            "responses": {"204": {"description": "No Content"}},
        }
    return operations


def _query_argument(argument: Argument) -> dict[str, Any]:
    """An argument of a GET RPC: a query parameter (arrays as `{a,b}`, variadic repeated)."""
    param: dict[str, Any] = {"in": "query", "name": argument.name}
    param["required"] = not argument.has_default
    base = _base_type(argument.type)
    if argument.variadic and base.endswith("[]"):
        element = base[:-2]
        param.update(
            type="array",
            collectionFormat="multi",
            items={"type": _swagger_type(element) or "string", "format": element},
        )
    else:
        kind = _swagger_type(base)
        param.update(type="string" if kind in (None, "array") else kind, format=base)
    return param


def _function_path(name: str, cache: SchemaCache) -> dict[str, Any]:
    function = cache.functions[name][0]
    named = [a for a in function.arguments if a.name]
    operation: dict[str, Any] = {"tags": [f"(rpc) {name}"], "produces": _MEDIA}
    if function.comment:
        summary, _, description = function.comment.partition("\n")
        operation["summary"] = summary
        if description.lstrip("\n"):
            operation["description"] = description.lstrip("\n")
    operation["responses"] = {"200": {"description": "OK"}}
    args: dict[str, Any] = {
        "type": "object",
        "properties": {a.name: _typed(a.type) for a in named},
    }
    if function.comment:
        args["description"] = function.comment
    required = [a.name for a in named if not a.has_default]
    if required:
        args["required"] = required
    body = {"name": "args", "required": True, "in": "body", "schema": args}
    path = {"post": {**operation, "parameters": [body, *_refs("preferParams")]}}
    if function.read_only:
        path["get"] = {**operation, "parameters": [_query_argument(a) for a in named]}
    return path


def document(
    cache: SchemaCache, api_url: str, relations: set[str], functions: set[str]
) -> dict[str, Any]:
    """The document for a role that may use `relations` and `functions` (names)."""
    url = urlparse(api_url)
    shown = {name: r for name, r in cache.relations.items() if name in relations}
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "tags": ["Introspection"],
                "summary": "OpenAPI description (this document)",
                "produces": ["application/openapi+json", "application/json"],
                "responses": {"200": {"description": "OK"}},
            }
        }
    }
    for name, relation in sorted(shown.items()):
        paths[f"/{name}"] = _relation_path(name, relation)
    for name in sorted(functions & cache.functions.keys()):
        paths[f"/rpc/{name}"] = _function_path(name, cache)
    return {
        "swagger": "2.0",
        "info": {
            "title": "carebase devstack REST API",
            "description": "PostgREST-compatible API of the local stack",
            "version": "13.0.8 (devstack)",
        },
        "externalDocs": {
            "description": "PostgREST Documentation",
            "url": "https://postgrest.org/en/v13/references/api.html",
        },
        "host": url.netloc,
        "basePath": "/rest/v1",
        "schemes": [url.scheme or "http"],
        "consumes": [*_MEDIA, "text/csv"],
        "produces": [*_MEDIA, "text/csv"],
        "paths": paths,
        "definitions": {
            name: _definition(relation, cache) for name, relation in sorted(shown.items())
        },
        "parameters": _parameters(shown),
    }


# What the current role may use in the exposed schema, as PostgREST's OpenAPI queries it
# (accessibleTables, accessibleFuncs): relations it holds any privilege on, functions it may
# execute, trigger functions never.
_VISIBLE_TO_ROLE = wire.query(
    b"""
    select json_build_object(
        'relations', (
            select coalesce(json_agg(c.relname), '[]')
            from pg_catalog.pg_class as c
            where c.relnamespace = %(schema)s::regnamespace
                and c.relkind in ('v', 'r', 'm', 'f', 'p') and not c.relispartition
                and (pg_catalog.pg_has_role(c.relowner, 'USAGE')
                    or pg_catalog.has_table_privilege(
                        c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                    or pg_catalog.has_any_column_privilege(
                        c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))
        ),
        'functions', (
            select coalesce(json_agg(distinct p.proname), '[]')
            from pg_catalog.pg_proc as p
            where p.pronamespace = %(schema)s::regnamespace and p.prokind = 'f'
                and p.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype)
                and pg_catalog.has_function_privilege(p.oid, 'execute')
        )
    )::text
    """,
    {"schema": schema_cache.EXPOSED_SCHEMA},
)


async def serve(db: Transactions, req: ApiRequest, api_url: str) -> Response:
    """GET / : the document of what the caller's role may use."""

    def respond(results: list[Any]) -> Outcome:
        visible = json.loads(wire.value(results[0]) or b"{}")
        functions = set(visible.get("functions") or [])
        # The pre-request hook runs on every request; it is not an RPC to offer (PostgREST
        # lists it, since the role must be able to execute it).
        pre_request = (db.pre_request or "").split(".")
        if len(pre_request) == 2 and pre_request[0] == schema_cache.EXPOSED_SCHEMA:
            functions.discard(pre_request[1])
        relations = set(visible.get("relations") or [])
        content = document(db.schema.cache, api_url, relations, functions)
        body = b"" if req.method == "HEAD" else json.dumps(content).encode()
        headers = {"Content-Type": f"{responses.OPENAPI}; charset=utf-8"}
        return Outcome(Response(body, 200, headers=headers))

    return await db.run(req, True, [_VISIBLE_TO_ROLE], respond)
