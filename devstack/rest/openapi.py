"""The OpenAPI (Swagger 2.0) document PostgREST serves at its root, built from the schema
cache: one path per table/view and per function, one definition per table/view."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from devstack.rest.schema_cache import Column, Relation, SchemaCache

_TYPES = {
    "integer": ("integer", "integer"),
    "bigint": ("integer", "bigint"),
    "smallint": ("integer", "smallint"),
    "numeric": ("number", "numeric"),
    "real": ("number", "real"),
    "double precision": ("number", "double precision"),
    "boolean": ("boolean", "boolean"),
    "json": ("object", "json"),
    "jsonb": ("object", "jsonb"),
}


def _property(column: Column, relation: Relation) -> dict[str, Any]:
    kind, pg_format = _TYPES.get(column.type, ("string", column.type))
    prop: dict[str, Any] = {"format": pg_format}
    if column.is_array:
        prop.update({"type": "array", "items": {"type": "string"}})
    else:
        prop["type"] = kind
    if column.default is not None:
        prop["default"] = column.default
    if column.name in relation.primary_key:
        prop["description"] = "Note:\nThis is a Primary Key.<pk/>"
    return prop


def _definition(relation: Relation) -> dict[str, Any]:
    required = [c.name for c in relation.columns.values() if not c.nullable and c.default is None]
    definition: dict[str, Any] = {
        "type": "object",
        "properties": {c.name: _property(c, relation) for c in relation.columns.values()},
    }
    if required:
        definition["required"] = required
    if relation.comment:
        definition["description"] = relation.comment
    return definition


def document(cache: SchemaCache, api_url: str) -> dict[str, Any]:
    url = urlparse(api_url)
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
    for name, relation in sorted(cache.relations.items()):
        ok = {"200": {"description": "OK", "schema": {"type": "array", "items": {
            "$ref": f"#/definitions/{name}"}}}}  # fmt: skip
        operations: dict[str, Any] = {"get": {"tags": [name], "responses": ok}}
        if relation.kind in ("r", "p", "v", "f"):
            operations.update(
                {
                    "post": {"tags": [name], "responses": {"201": {"description": "Created"}}},
                    "patch": {
                        "tags": [name],
                        "responses": {"204": {"description": "No Content"}},
                    },
                    "delete": {
                        "tags": [name],
                        "responses": {"204": {"description": "No Content"}},
                    },
                }
            )
        if relation.comment:
            operations["get"]["summary"] = relation.comment
        paths[f"/{name}"] = operations
    for name, overloads in sorted(cache.functions.items()):
        function = overloads[0]
        parameters = {
            a.name: {"type": "string", "format": a.type} for a in function.arguments if a.name
        }
        body = {
            "in": "body",
            "name": "args",
            "required": True,
            "schema": {"type": "object", "properties": parameters},
        }
        operation = {
            "tags": ["(rpc) " + name],
            "parameters": [body],
            "responses": {"200": {"description": "OK"}},
        }
        if function.comment:
            operation["summary"] = function.comment
        paths[f"/rpc/{name}"] = {"post": operation}
        if function.read_only:
            paths[f"/rpc/{name}"]["get"] = {
                "tags": ["(rpc) " + name],
                "parameters": [
                    {
                        "in": "query",
                        "name": a.name,
                        "required": not a.has_default,
                        "type": "string",
                        "format": a.type,
                    }
                    for a in function.arguments
                    if a.name
                ],
                "responses": {"200": {"description": "OK"}},
            }
    return {
        "swagger": "2.0",
        "info": {
            "title": "carebase devstack REST API",
            "description": "PostgREST-compatible API of the local stack",
            "version": "12.2.0 (devstack)",
        },
        "host": url.netloc,
        "basePath": "/rest/v1",
        "schemes": [url.scheme or "http"],
        "consumes": ["application/json", "application/vnd.pgrst.object+json"],
        "produces": ["application/json", "application/vnd.pgrst.object+json", "text/csv"],
        "paths": paths,
        "definitions": {name: _definition(rel) for name, rel in sorted(cache.relations.items())},
    }
