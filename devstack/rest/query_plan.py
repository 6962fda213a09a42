"""A read request resolved against the schema cache: a tree of relations to select from, with
the columns, embedded relations, filters, order and limits of each level."""

from __future__ import annotations

from dataclasses import dataclass, field

from devstack.rest import query_grammar as grammar
from devstack.rest.errors import ApiError
from devstack.rest.relationships import Relationship, resolve
from devstack.rest.schema_cache import Relation, SchemaCache


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
    if target.name not in relation.columns:
        raise unknown_column(relation, target.name)


def _check_logic(relation: Relation, logic: grammar.Logic) -> None:
    for condition in logic.conditions:
        if isinstance(condition, grammar.Logic):
            _check_logic(relation, condition)
        else:
            check_field(relation, condition.field)


def build_node(
    cache: SchemaCache, relation: Relation, items: tuple[grammar.SelectItem, ...]
) -> PlanNode:
    resolved: list[grammar.ColumnItem | EmbedPlan] = []
    for item in items:
        if isinstance(item, grammar.StarItem):
            resolved += [grammar.ColumnItem(grammar.Field(name)) for name in relation.columns]
        elif isinstance(item, grammar.ColumnItem):
            check_field(relation, item.field)
            resolved.append(item)
        else:
            relationship = resolve(cache, relation.name, item.target, item.hint)
            if item.spread and not relationship.to_one:
                raise ApiError(
                    400,
                    "PGRST119",
                    f"A spread operation on '{item.target}' is not possible",
                    "'"
                    f"{relation.name}' and '{item.target}' do not form a many-to-one or "
                    "one-to-one relationship",
                )
            target = cache.relations[relationship.target]
            resolved.append(EmbedPlan(item, relationship, build_node(cache, target, item.items)))
    return PlanNode(relation, resolved)


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
            raise ApiError(
                400,
                "PGRST108",
                f"'{dotted}' is not an embedded resource in this request",
                None,
                f"Verify that '{dotted}' is included in the 'select' query parameter.",
            )
        if name in ("or", "and"):
            logic = grammar.parse_logic(name, value, negated)
            _check_logic(node.relation, logic)
            node.conditions.append(logic)
        elif path and name == "order":
            node.order = grammar.parse_order(value)
            for term in node.order:
                check_field(node.relation, term.field)
        elif path and name in ("limit", "offset"):
            setattr(node, name, grammar.parse_count(key, value))
        else:
            target = grammar.parse_field(name)
            embed = node.embed(target.name) if not target.json_path else None
            if embed is not None and target.name not in node.relation.columns:
                if value not in ("is.null", "not.is.null"):
                    raise ApiError(
                        400,
                        "PGRST120",
                        f"Bad operator on the '{target.name}' embedded resource",
                        "Only is null or not is null filters are allowed on embedded resources",
                    )
                node.embed_null_filters.append((embed, value == "is.null"))
                continue
            condition = grammar.parse_condition(target, value)
            check_field(node.relation, target)
            node.conditions.append(condition)
