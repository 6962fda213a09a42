"""A read request resolved against the schema cache (PostgREST's ReadPlan): a tree of
relations to select from, with the columns, embedded relations, filters, order and limits of
each level, and the page of rows asked for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from devstack.rest import errors, responses
from devstack.rest import query_grammar as grammar
from devstack.rest.errors import ApiError
from devstack.rest.relationships import Relationship, resolve
from devstack.rest.request import ApiRequest
from devstack.rest.schema_cache import Relation, SchemaCache

DB_MAX_ROWS = 1000  # PostgREST's db-max-rows (Supabase's `max_rows`): the most rows read


@dataclass
class EmbedPlan:
    item: grammar.EmbedItem
    relationship: Relationship
    node: PlanNode

    @property
    def output_name(self) -> str:
        return self.item.output_name


@dataclass
class PlanNode:
    relation: Relation
    items: list[grammar.ColumnItem | EmbedPlan]
    conditions: list[grammar.Condition | grammar.Logic] = field(default_factory=list)
    embed_null_filters: list[tuple[EmbedPlan, bool]] = field(default_factory=list)  # is null?
    order: tuple[grammar.OrderTerm, ...] = ()
    limit: int | None = None
    offset: int | None = None

    def embed(self, name: str) -> EmbedPlan | None:
        for item in self.items:
            if isinstance(item, EmbedPlan) and item.output_name == name:
                return item
        return None


def unknown_column(relation: Relation, name: str) -> ApiError:
    return ApiError(400, "42703", f"column {relation.name}.{name} does not exist")


def check_field(relation: Relation, target: grammar.Field) -> None:
    """A column or computed field, as a filter or order term may name it."""
    if target.name not in relation.columns and target.name not in relation.computed:
        raise unknown_column(relation, target.name)


# `rel(count)`: PostgREST selects `alias.count`, which Postgres reads as count(alias), the
# embed's (or the table's) row count; older than aggregates, it works with them disabled
LEGACY_COUNT = grammar.Field("count")


def check_selected(relation: Relation, target: grammar.Field) -> None:
    """A column, computed field or the legacy count, as `select=` may name it."""
    if target != LEGACY_COUNT:
        check_field(relation, target)


def _check_logic(relation: Relation, logic: grammar.Logic) -> None:
    for condition in logic.conditions:
        if isinstance(condition, grammar.Logic):
            _check_logic(relation, condition)
        else:
            check_field(relation, condition.field)


def build_node(
    cache: SchemaCache,
    relation: Relation,
    items: tuple[grammar.SelectItem, ...],
    depth: int = 1,
) -> PlanNode:
    """The plan of one level of `select=`; its embeds are at `depth` (1: the top's)."""
    resolved: list[grammar.ColumnItem | EmbedPlan] = []
    subqueries: set[str] = set()
    for item in items:
        if isinstance(item, grammar.StarItem):
            resolved += [grammar.ColumnItem(grammar.Field(name)) for name in relation.columns]
        elif isinstance(item, grammar.ColumnItem):
            check_selected(relation, item.field)
            resolved.append(item)
        else:
            # PostgREST names an embed's subquery <origin>_<alias or name>_<depth>: two embeds
            # of one name at one level fail in Postgres, and devstack answers as they do
            subquery = f"{relation.name}_{item.output_name}_{depth}"
            if subquery in subqueries:
                raise errors.duplicate_subquery(subquery)
            subqueries.add(subquery)
            relationship = resolve(cache, relation.name, item.target, item.hint)
            target = cache.relations[relationship.target]
            node = build_node(cache, target, item.items, depth + 1)
            resolved.append(EmbedPlan(item, relationship, node))
    return PlanNode(relation, resolved)


def check_order(node: PlanNode) -> None:
    """Order terms name columns of the node, or (`embed(column)`) of a to-one embed of it."""
    for term in node.order:
        if term.embed is None:
            check_field(node.relation, term.field)
            continue
        embed = node.embed(term.embed)
        if embed is None:
            raise errors.not_embedded(term.embed)
        if not embed.relationship.to_one:
            raise errors.related_order(node.relation.name, term.embed)


def _nodes_by_path(node: PlanNode, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], PlanNode]:
    found = {path: node}
    for item in node.items:
        if isinstance(item, EmbedPlan):
            found.update(_nodes_by_path(item.node, (*path, item.output_name)))
    return found


def apply_parameters(root: PlanNode, parameters: list[tuple[str, str]]) -> None:
    """Distributes filters, `or`/`and`, `order`, `limit`, `offset` to the levels they name."""
    nodes = _nodes_by_path(root)
    for key, value in parameters:
        parts = key.split(".")
        negated = False
        if parts[-1] in ("or", "and"):
            negated = len(parts) > 1 and parts[-2] == "not"
            path, name = tuple(parts[: -2 if negated else -1]), parts[-1]
        else:
            path, name = tuple(parts[:-1]), parts[-1]
        node = nodes.get(path)
        if node is None:
            dotted = ".".join(path)
            raise errors.not_embedded(dotted)
        if name in ("or", "and"):
            logic = grammar.parse_logic(name, value, negated)
            _check_logic(node.relation, logic)
            node.conditions.append(logic)
        elif path and name == "order":
            node.order = grammar.parse_order(value)
            check_order(node)
        elif path and name in ("limit", "offset"):
            setattr(node, name, grammar.parse_count(key, value))
        else:
            target = grammar.parse_field(name)
            embed = node.embed(target.name) if not target.json_path else None
            if embed is not None and target.name not in node.relation.columns:
                if value not in ("is.null", "not.is.null"):
                    raise errors.embed_operator(target.name)
                node.embed_null_filters.append((embed, value == "is.null"))
                continue
            condition = grammar.parse_condition(target, value)
            check_field(node.relation, target)
            node.conditions.append(condition)


def read_plan(
    cache: SchemaCache, relation: Relation, params: Iterable[tuple[str, str]], reserved: set[str]
) -> PlanNode:
    """The plan of `select=` and the filters, order and limits the other parameters give
    (the `reserved` ones are the caller's business)."""
    params = list(params)
    select = next((v for k, v in reversed(params) if k == "select"), "*")
    node = build_node(cache, relation, grammar.parse_select(select))
    apply_parameters(node, [(k, v) for k, v in params if k not in reserved])
    order = next((v for k, v in reversed(params) if k == "order"), None)
    if order:
        node.order = grammar.parse_order(order)
        check_order(node)
    return node


def page(req: ApiRequest) -> tuple[int, int]:
    """offset and limit from limit=/offset= and the Range header, capped at db-max-rows."""
    values = dict(req.params)
    offset = grammar.parse_count("offset", values["offset"]) if "offset" in values else 0
    limit = grammar.parse_count("limit", values["limit"]) if "limit" in values else None
    lower, upper = offset, (offset + limit - 1 if limit is not None else None)
    requested = responses.parse_range(req.range) if req.is_read else None
    if requested is not None:
        start, end = requested
        lower = max(lower, start)
        if end is not None:
            upper = end if upper is None else min(upper, end)
    if lower > 2**62:
        raise errors.range_not_satisfiable()
    count = DB_MAX_ROWS if upper is None else max(0, upper - lower + 1)
    return lower, min(count, DB_MAX_ROWS)
