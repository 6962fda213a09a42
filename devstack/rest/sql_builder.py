"""SQL for a plan, composed with psycopg's `sql` module: identifiers come from the schema
cache and are quoted, values from the URL or body only ever travel as parameters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from devstack.rest import query_grammar as grammar
from devstack.rest.errors import invalid_body
from devstack.rest.query_plan import EmbedPlan, PlanNode
from devstack.rest.relationships import Relationship
from devstack.rest.schema_cache import EXPOSED_SCHEMA, Function, Relation

TRUE = sql.SQL("true")
JSON_TYPES = ("json", "jsonb")


def ident(*names: str) -> sql.Identifier:
    """A quoted identifier, its `%` doubled: statements always travel with named parameters,
    and psycopg reads `%%` back as `%` (an alias like `a%s:id` must not become a placeholder)."""
    return sql.Identifier(*(name.replace("%", "%%") for name in names))


def qualified(name: str) -> sql.Composable:
    return ident(EXPOSED_SCHEMA, name)


@dataclass(frozen=True)
class Insert:
    """What an INSERT writes: rows of a JSON body into the named columns, and what a
    conflict does (`Prefer: resolution=`, `on_conflict=`)."""

    relation: Relation
    rows: list[dict[str, Any]]
    columns: list[str]
    missing_default: bool = False  # absent keys take the column default, not null
    conflict: tuple[str, ...] | None = None
    resolution: str | None = None


def aggregate_rows(csv: bool) -> sql.Composable:
    """The rows aliased `pgrst_row` as one text: a JSON array, or (PostgREST's CSV body) each
    row as Postgres prints a record, without its parentheses, one a line."""
    if csv:
        return sql.SQL(
            "coalesce(string_agg(substring(pgrst_row::text, 2, length(pgrst_row::text) - 2), "
            "E'\\n'), '')"
        )
    return sql.SQL("coalesce(json_agg(pgrst_row), '[]')::text")


def _and(parts: list[sql.Composable]) -> sql.Composable:
    return sql.SQL(" and ").join(parts) if parts else TRUE


class SqlBuilder:
    """Builds one statement and collects its parameters (named p0, p1, ...)."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self._aliases = 0

    def param(self, value: Any) -> sql.Composable:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return sql.Placeholder(name)

    def alias(self) -> str:
        self._aliases += 1
        return f"pgrst_{self._aliases}"

    # ------------------------------------------------------------ expressions

    def column(
        self, alias: str, target: grammar.Field, relation: Relation | None = None
    ) -> sql.Composable:
        """A field of `alias`; a JSON path on a column of `relation` that is not json/jsonb
        reads it as to_jsonb(column), as PostgREST (an array's element, null for a key)."""
        expression: sql.Composable = ident(alias, target.name)
        known = relation.columns.get(target.name) if relation else None
        if target.json_path and relation and (known is None or known.type not in JSON_TYPES):
            expression = sql.SQL("to_jsonb({})").format(expression)
        for step in target.json_path:
            key = step.key
            if key.lstrip("-").isdigit():
                key_sql = sql.SQL("{}::int").format(self.param(key))
            else:
                key_sql = sql.SQL("{}::text").format(self.param(key))
            expression = sql.SQL("({} {} {})").format(expression, sql.SQL(step.arrow), key_sql)
        return expression

    def condition(
        self, condition: grammar.Condition | grammar.Logic, alias: str, relation: Relation
    ) -> sql.Composable:
        """A filter on `alias`, a row of `relation`."""
        if isinstance(condition, grammar.Logic):
            joiner = sql.SQL(f" {condition.conjunction} ")
            tree = sql.SQL("({})").format(
                joiner.join(
                    self.condition(child, alias, relation) for child in condition.conditions
                )
            )
            return sql.SQL("not {}").format(tree) if condition.negated else tree
        column = self.column(alias, condition.field, relation)
        operator, value = condition.operator, condition.value
        if operator == "is":
            keyword = {
                "null": "is null",
                "not_null": "is not null",
                "true": "is true",
                "false": "is false",
                "unknown": "is unknown",
            }[str(value)]
            expression = sql.SQL("{} {}").format(column, sql.SQL(keyword))
        elif operator == "in":
            if not value:
                expression = sql.SQL("false")
            else:
                expression = sql.SQL("{} in ({})").format(
                    column, sql.SQL(", ").join(self.param(item) for item in value)
                )
        elif operator in grammar.TEXT_SEARCH:
            function = ident(grammar.TEXT_SEARCH[operator])
            language = [self.param(condition.language)] if condition.language else []
            config = [sql.SQL("{}::regconfig").format(lang) for lang in language]
            query = sql.SQL("{}({})").format(
                function, sql.SQL(", ").join([*config, self.param(value)])
            )
            known = relation.columns.get(condition.field.name)
            if known is not None and known.type != "tsvector" and not condition.field.json_path:
                # PostgREST v13 reads a column of another type as to_tsvector([config,] column)
                column = sql.SQL("to_tsvector({})").format(sql.SQL(", ").join([*config, column]))
            expression = sql.SQL("{} @@ {}").format(column, query)
        else:
            text = str(value)
            if operator in ("like", "ilike"):
                text = text.replace("*", "%")
            symbol = sql.SQL(grammar.BINARY_OPERATORS[operator])
            if condition.quantifier:
                expression = sql.SQL("{} {} {}({})").format(
                    column, symbol, sql.SQL(condition.quantifier), self.param(text)
                )
            else:
                expression = sql.SQL("{} {} {}").format(column, symbol, self.param(text))
        return sql.SQL("not ({})").format(expression) if condition.negated else expression

    def order_by(
        self,
        terms: tuple[grammar.OrderTerm, ...],
        alias: str,
        laterals: dict[str, str] | None = None,
        relation: Relation | None = None,
    ) -> sql.Composable:
        """`order by` on `alias` (a row of `relation`), a term `embed(column)` on the lateral
        of that (to-one) embed."""
        if not terms:
            return sql.SQL("")
        parts = []
        for term in terms:
            if term.embed:
                field = self.column((laterals or {}).get(term.embed, alias), term.field)
            else:
                field = self.column(alias, term.field, relation)
            part = sql.SQL("{} {}").format(field, sql.SQL("desc" if term.descending else "asc"))
            if term.nulls:
                part = sql.SQL("{} nulls {}").format(part, sql.SQL(term.nulls))
            parts.append(part)
        return sql.SQL(" order by {}").format(sql.SQL(", ").join(parts))

    # ------------------------------------------------------------ reads

    def select(
        self,
        node: PlanNode,
        from_clause: sql.Composable,
        alias: str,
        where: list[sql.Composable] | None = None,
        paginate: bool = True,
    ) -> tuple[sql.Composed, list[str]]:
        """`select <columns> from <from_clause> <lateral embeds> where ... order ... limit`."""
        columns: list[sql.Composable] = []
        names: list[str] = []
        joins: list[sql.Composable] = []
        conditions = list(where or [])
        present_of: dict[int, sql.Composable] = {}
        laterals: dict[str, str] = {}  # an embed's output name -> its lateral's alias
        for item in node.items:
            if isinstance(item, grammar.ColumnItem):
                expression = self.column(alias, item.field, node.relation)
                if item.cast:
                    expression = sql.SQL("({})::{}").format(expression, sql.SQL(item.cast))
                columns.append(sql.SQL("{} as {}").format(expression, ident(item.output_name)))
                names.append(item.output_name)
                continue
            laterals[item.output_name] = self.alias()
            lateral, outputs, present = self._embed(item, alias, laterals[item.output_name])
            joins.append(lateral)
            present_of[id(item)] = present
            for expression, name in outputs:
                columns.append(sql.SQL("{} as {}").format(expression, ident(name)))
                names.append(name)
            if item.item.join == "inner":
                conditions.append(present)
        for embed, is_null in node.embed_null_filters:
            present = present_of[id(embed)]
            conditions.append(sql.SQL("not ({})").format(present) if is_null else present)
        conditions += [
            self.condition(condition, alias, node.relation) for condition in node.conditions
        ]
        query = sql.SQL("select {} from {}{} where {}{}").format(
            sql.SQL(", ").join(columns),
            from_clause,
            sql.SQL("").join(joins),
            _and(conditions),
            self.order_by(node.order, alias, laterals, node.relation),
        )
        if paginate:
            query = self.paginate(query, node.limit, node.offset)
        return query, names

    def paginate(self, query: sql.Composed, limit: int | None, offset: int | None) -> sql.Composed:
        if limit is not None:
            query = sql.SQL("{} limit {}").format(query, sql.Literal(limit))
        if offset:
            query = sql.SQL("{} offset {}").format(query, sql.Literal(offset))
        return query

    def _embed_source(
        self, rel: Relationship, parent: str
    ) -> tuple[sql.Composable, str, list[sql.Composable]]:
        """Where an embed's rows come from: the from clause, its alias, the join conditions."""
        child = self.alias()
        target = sql.SQL("{} as {}").format(qualified(rel.target), ident(child))
        if rel.function:
            # a computed relationship: the function called with the parent's row
            call = sql.SQL("{}({}) as {}").format(
                qualified(rel.function), ident(parent), ident(child)
            )
            return call, child, []
        if rel.junction:
            junction = self.alias()
            on_target = [
                sql.SQL("{} = {}").format(ident(junction, j), ident(child, t))
                for t, j in rel.junction.target_pairs
            ]
            through = sql.SQL("{} join {} as {} on {}").format(
                target, qualified(rel.junction.table), ident(junction), _and(on_target)
            )
            on_parent = [
                sql.SQL("{} = {}").format(ident(junction, j), ident(parent, o))
                for o, j in rel.junction.origin_pairs
            ]
            return through, child, on_parent
        join = [
            sql.SQL("{} = {}").format(ident(child, t), ident(parent, o))
            for o, t in zip(rel.origin_columns, rel.target_columns, strict=True)
        ]
        return target, child, join

    def _embed(
        self, embed: EmbedPlan, parent: str, lateral: str
    ) -> tuple[sql.Composable, list[tuple[sql.Composable, str]], sql.Composable]:
        """The `left join lateral (...) as <lateral>` of an embed, the columns it adds to the
        parent's select, and the condition that it has rows (for !inner and `is.null`). A
        to-one embed shows its columns too (`order=embed(column)`)."""
        rel = embed.relationship
        from_clause, child, join = self._embed_source(rel, parent)
        inner, names = self.select(embed.node, from_clause, child, join)
        present = sql.SQL("{} is not null").format(ident(lateral, "pgrst_present"))
        if embed.item.spread and rel.to_one:
            body = sql.SQL(
                "select true as pgrst_present, pgrst_spread.* from ({}) as pgrst_spread"
            ).format(inner)
            outputs = [(ident(lateral, column), column) for column in names]
        elif embed.item.spread:
            # a to-many spread (PostgREST v13): each column aggregated into an array;
            # bool_or(true) is null without rows, as the embed is absent
            arrays = [
                sql.SQL("coalesce(json_agg(pgrst_spread.{}), '[]')::jsonb as {}").format(
                    ident(column), ident(column)
                )
                for column in names
            ]
            body = sql.SQL("select {} from ({}) as pgrst_spread").format(
                sql.SQL(", ").join([sql.SQL("bool_or(true) as pgrst_present"), *arrays]), inner
            )
            outputs = [(ident(lateral, column), column) for column in names]
        else:
            # jsonb, as PostgREST's embeds: its key order and spacing show in the body
            if rel.to_one:
                body = sql.SQL(
                    "select pgrst_row.*, row_to_json(pgrst_row)::jsonb as pgrst_body "
                    "from ({}) as pgrst_row"
                ).format(inner)
            else:
                body = sql.SQL(
                    "select json_agg(pgrst_row)::jsonb as pgrst_body from ({}) as pgrst_row"
                ).format(inner)
            value: sql.Composable = ident(lateral, "pgrst_body")
            present = sql.SQL("{} is not null").format(value)
            if not rel.to_one:
                value = sql.SQL("coalesce({}, '[]'::jsonb)").format(value)
            outputs = [(value, embed.output_name)] if embed.node.items else []
        lateral_sql = sql.SQL(" left join lateral ({}) as {} on true").format(body, ident(lateral))
        return lateral_sql, outputs, present

    # ------------------------------------------------------------ writes

    def body_columns(self, relation: Relation, columns: list[str]) -> sql.Composable:
        """`"a" type, "b" type`: the column definition list json_to_record(set) needs."""
        return sql.SQL(", ").join(
            sql.SQL("{} {}").format(ident(name), sql.SQL(relation.columns[name].type))
            for name in columns
        )

    def insert(self, plan: Insert, returning: sql.Composable | None) -> sql.Composed:
        relation, rows, columns = plan.relation, plan.rows, plan.columns
        target = sql.SQL("{} as pgrst_target").format(qualified(relation.name))
        if not columns:
            if not relation.columns:
                raise invalid_body("Empty or invalid json")
            first = ident(next(iter(relation.columns)))
            values = sql.SQL(", ").join(sql.SQL("(default)") for _ in rows)
            source = sql.SQL("({}) values {}").format(first, values)
        elif plan.missing_default:
            value_rows = []
            for row in rows:
                row_param = self.param(json.dumps(row))
                cells = []
                for name in columns:
                    if name not in row:
                        cells.append(sql.SQL("default"))
                    else:
                        cells.append(
                            sql.SQL(
                                "(select pgrst_cell.{} from json_to_record({}::json) "
                                "as pgrst_cell({}))"
                            ).format(
                                ident(name),
                                row_param,
                                self.body_columns(relation, [name]),
                            )
                        )
                value_rows.append(sql.SQL("({})").format(sql.SQL(", ").join(cells)))
            source = sql.SQL("({}) values {}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(value_rows),
            )
        else:
            source = sql.SQL(
                "({cols}) select {cols} from json_to_recordset({body}::json) as pgrst_body({defs})"
            ).format(
                cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
                body=self.param(json.dumps(rows)),
                defs=self.body_columns(relation, columns),
            )
        statement = sql.SQL("insert into {} {}").format(target, source)
        if plan.resolution is not None:
            keys = plan.conflict or relation.primary_key
            conflict_target = (
                sql.SQL("({})").format(sql.SQL(", ").join(map(sql.Identifier, keys)))
                if keys
                else sql.SQL("")
            )
            if plan.resolution == "ignore-duplicates" or not columns:
                action = sql.SQL("do nothing")
            else:
                action = sql.SQL("do update set {}").format(
                    sql.SQL(", ").join(
                        sql.SQL("{} = excluded.{}").format(ident(c), ident(c)) for c in columns
                    )
                )
            statement = sql.SQL("{} on conflict {} {}").format(statement, conflict_target, action)
        if returning is not None:
            statement = sql.SQL("{} returning {}").format(statement, returning)
        return statement

    def update(
        self,
        relation: Relation,
        body: dict[str, Any],
        conditions: list[sql.Composable],
        returning: sql.Composable | None,
    ) -> sql.Composed:
        columns = list(body)
        statement = sql.SQL(
            "update {} as pgrst_target set {} from json_to_record({}::json) as pgrst_body({})"
            " where {}"
        ).format(
            qualified(relation.name),
            sql.SQL(", ").join(
                sql.SQL("{} = pgrst_body.{}").format(ident(c), ident(c)) for c in columns
            ),
            self.param(json.dumps(body)),
            self.body_columns(relation, columns),
            _and(conditions),
        )
        if returning is not None:
            statement = sql.SQL("{} returning {}").format(statement, returning)
        return statement

    def delete(
        self,
        relation: Relation,
        conditions: list[sql.Composable],
        returning: sql.Composable | None,
    ) -> sql.Composed:
        statement = sql.SQL("delete from {} as pgrst_target where {}").format(
            qualified(relation.name), _and(conditions)
        )
        if returning is not None:
            statement = sql.SQL("{} returning {}").format(statement, returning)
        return statement

    # ------------------------------------------------------------ functions

    def call_from(
        self,
        function: Function,
        query_args: dict[str, list[str]] | None,
        body: Any,
        alias: str,
    ) -> sql.Composed:
        """`from <args> cross join lateral public.fn(...) as alias`, args from a JSON body or
        from query-string values cast to the parameter types."""
        name = qualified(function.name)
        column_alias = sql.SQL("") if function.returns_composite else sql.SQL("(pgrst_scalar)")
        target = sql.SQL("{}{}").format(ident(alias), column_alias)
        if function.single_json_argument:
            call = sql.SQL("{}({}::{})").format(
                name, self.param(json.dumps(body)), sql.SQL(function.arguments[0].type)
            )
            return sql.SQL("{} as {}").format(call, target)
        if query_args is not None:
            args = []
            for argument in function.arguments:
                if argument.name not in query_args:
                    continue
                values = query_args[argument.name]
                text = values[0] if len(values) == 1 else _array_literal(values)
                args.append(
                    sql.SQL("{}{} := {}::{}").format(
                        sql.SQL("variadic ") if argument.variadic else sql.SQL(""),
                        ident(argument.name),
                        self.param(text),
                        sql.SQL(argument.type),
                    )
                )
            call = sql.SQL("{}({})").format(name, sql.SQL(", ").join(args))
            return sql.SQL("{} as {}").format(call, target)
        given = [a for a in function.arguments if a.name in (body or {})]
        if not given:
            return sql.SQL("{}() as {}").format(name, target)
        definitions = sql.SQL(", ").join(
            sql.SQL("{} {}").format(ident(a.name), sql.SQL(a.type)) for a in given
        )
        call = sql.SQL("{}({})").format(
            name,
            sql.SQL(", ").join(
                sql.SQL("{}{} := pgrst_args.{}").format(
                    sql.SQL("variadic ") if a.variadic else sql.SQL(""),
                    ident(a.name),
                    ident(a.name),
                )
                for a in given
            ),
        )
        return sql.SQL(
            "json_to_record({}::json) as pgrst_args({}) cross join lateral {} as {}"
        ).format(self.param(json.dumps(body)), definitions, call, target)


def _array_literal(values: list[str]) -> str:
    """A Postgres array literal for repeated query parameters (`?id=1&id=2`)."""
    quoted = []
    for value in values:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        quoted.append(f'"{escaped}"')
    return "{" + ",".join(quoted) + "}"
