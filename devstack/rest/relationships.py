"""Resource embedding: which relationship an embed names, as PostgREST's schema cache and
findRel resolve it. Every foreign key gives a many-to-one (or one-to-one) relationship and
its inverse; a junction whose primary key holds two keys gives a many-to-many one. An embed
names a relationship by the target's name, or (not through a view) by a key's constraint or
single column; a hint narrows the target. A self-referencing key is the one-to-many side by
the table's name and the many-to-one side by its column. A function from a row to another
relation's rows is a computed relationship, named by the function."""

from __future__ import annotations

from dataclasses import dataclass

from devstack.rest import errors, fuzzy_names
from devstack.rest.schema_cache import EXPOSED_SCHEMA, ForeignKey, SchemaCache

ONE_TO_MANY = "one-to-many"
MANY_TO_ONE = "many-to-one"
ONE_TO_ONE = "one-to-one"
MANY_TO_MANY = "many-to-many"
# PostgREST sorts a relation's relationships by its Cardinality type: constructors in this order
_RANK = {ONE_TO_MANY: 0, MANY_TO_ONE: 1, ONE_TO_ONE: 2, MANY_TO_MANY: 3}

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Junction:
    table: str
    origin_key: str  # the junction's foreign key to the origin
    target_key: str  # ... and to the target
    origin_pairs: Pairs  # (origin column, junction column)
    target_pairs: Pairs  # (target column, junction column)


@dataclass(frozen=True)
class Relationship:
    origin: str
    target: str
    cardinality: str
    constraint: str | None  # the foreign key's name; None through a junction
    pairs: Pairs  # (origin column, target column); () through a junction
    junction: Junction | None = None
    is_self: bool = False
    origin_is_view: bool = False
    target_is_view: bool = False
    function: str | None = None  # a computed relationship: this function of the origin's row

    @property
    def to_one(self) -> bool:
        return self.cardinality in (MANY_TO_ONE, ONE_TO_ONE)

    @property
    def origin_columns(self) -> tuple[str, ...]:
        pairs = self.junction.origin_pairs if self.junction else self.pairs
        return tuple(pair[0] for pair in pairs)

    @property
    def target_columns(self) -> tuple[str, ...]:
        if self.junction:
            return tuple(pair[0] for pair in self.junction.target_pairs)
        return tuple(pair[1] for pair in self.pairs)

    def _single_column(self, side: int) -> str | None:
        return self.pairs[0][side] if len(self.pairs) == 1 else None

    def named_by(self, target: str, hint: str | None) -> bool:
        """Whether `target!hint` names this relationship (PostgREST's findRel)."""
        if self.function:
            return target == self.function
        if self.is_self:
            if hint is None:
                return (self.cardinality == ONE_TO_MANY and target == self.target) or (
                    self.cardinality == MANY_TO_ONE and self._single_column(0) == target
                )
            return (
                self.cardinality == ONE_TO_MANY
                and target == self.target
                and self._single_column(1) == hint
            )
        if hint is None:
            return target == self.target or (
                not self.target_is_view
                and target in (self.constraint, self._single_column(0))
                and self.junction is None
            )
        return target == self.target and hint in (
            self.constraint,
            self._single_column(0),
            self._single_column(1),
            self.junction.table if self.junction else None,
        )

    def sort_key(self) -> tuple:
        """PostgREST keeps each relation's relationships sorted (its derived Ord)."""
        junction = self.junction
        return (
            self.function is not None,  # computed ones last, as PostgREST's constructors
            self.target,
            self.is_self,
            _RANK[self.cardinality],
            self.constraint or "",
            self.pairs,
            (junction.table, junction.origin_key, junction.target_key) if junction else (),
            (junction.origin_pairs, junction.target_pairs) if junction else (),
            self.origin_is_view,
            self.target_is_view,
        )

    def describe(self) -> dict[str, str]:
        """An entry of PGRST201's details."""
        if self.junction:
            junction = self.junction
            text = (
                f"{junction.table} using {junction.origin_key}"
                f"({_listed(p[1] for p in junction.origin_pairs)}) and {junction.target_key}"
                f"({_listed(p[1] for p in junction.target_pairs)})"
            )
        else:
            text = (
                f"{self.constraint} using {self.origin}({_listed(self.origin_columns)}) and "
                f"{self.target}({_listed(self.target_columns)})"
            )
        return {
            "cardinality": self.cardinality,
            "embedding": f"{self.origin} with {self.target}",
            "relationship": text,
        }

    def suggestion(self) -> str:
        """How PGRST201's hint spells this relationship."""
        name = self.junction.table if self.junction else self.constraint
        return f"'{self.target}!{name}'"


def _listed(columns) -> str:
    return ", ".join(columns)


def _is_view(cache: SchemaCache, name: str) -> bool:
    return not cache.relations[name].is_table


def _direct(cache: SchemaCache, fk: ForeignKey) -> Relationship:
    """A foreign key as the relationship from its table: many-to-one, or one-to-one when
    its columns are the table's primary key or a unique key."""
    return Relationship(
        origin=fk.table,
        target=fk.referenced_table,
        cardinality=ONE_TO_ONE if fk.one_to_one else MANY_TO_ONE,
        constraint=fk.name,
        pairs=tuple(zip(fk.columns, fk.referenced_columns, strict=True)),
        is_self=fk.table == fk.referenced_table,
        origin_is_view=_is_view(cache, fk.table),
        target_is_view=_is_view(cache, fk.referenced_table),
    )


def _inverse(rel: Relationship) -> Relationship:
    return Relationship(
        origin=rel.target,
        target=rel.origin,
        cardinality=ONE_TO_ONE if rel.cardinality == ONE_TO_ONE else ONE_TO_MANY,
        constraint=rel.constraint,
        pairs=tuple((target, origin) for origin, target in rel.pairs),
        is_self=rel.is_self,
        origin_is_view=rel.target_is_view,
        target_is_view=rel.origin_is_view,
    )


def _through_junctions(cache: SchemaCache, origin: str, many_to_one: list[Relationship]):
    """Many-to-many relationships from `origin`: two many-to-one keys of one junction whose
    columns together lie in its primary key."""
    for to_origin in many_to_one:
        if to_origin.target != origin:
            continue
        for to_target in many_to_one:
            if to_target.origin != to_origin.origin or to_target.constraint == to_origin.constraint:
                continue
            key_columns = set(cache.relations[to_origin.origin].primary_key)
            used = {pair[0] for pair in to_origin.pairs + to_target.pairs}
            if not used <= key_columns:
                continue
            junction = Junction(
                table=to_origin.origin,
                origin_key=to_origin.constraint or "",
                target_key=to_target.constraint or "",
                origin_pairs=tuple((o, j) for j, o in to_origin.pairs),
                target_pairs=tuple((t, j) for j, t in to_target.pairs),
            )
            yield Relationship(
                origin=origin,
                target=to_target.target,
                cardinality=MANY_TO_MANY,
                constraint=None,
                pairs=(),
                junction=junction,
                is_self=origin == to_target.target,
                origin_is_view=to_origin.target_is_view,
                target_is_view=to_target.target_is_view,
            )


def _computed(cache: SchemaCache, origin: str) -> list[Relationship]:
    """Computed relationships: functions taking `origin`'s row and returning rows of an
    exposed relation (one row: to-one)."""
    return [
        Relationship(
            origin=origin,
            target=function.return_relation,
            cardinality=MANY_TO_ONE if function.single_row else ONE_TO_MANY,
            constraint=None,
            pairs=(),
            is_self=origin == function.return_relation,
            function=function.name,
        )
        for overloads in cache.functions.values()
        for function in overloads
        if function.field_of == origin and function.return_relation in cache.relations
    ]


def relationships_of(cache: SchemaCache, origin: str) -> list[Relationship]:
    """Every relationship from `origin`, in PostgREST's order. A computed relationship
    named as a relation replaces the detected ones to that relation."""
    direct = [_direct(cache, fk) for fk in cache.foreign_keys]
    many_to_one = [rel for rel in direct if rel.cardinality == MANY_TO_ONE]
    found = [rel for rel in direct if rel.origin == origin]
    found += [_inverse(rel) for rel in direct if rel.target == origin]
    found += _through_junctions(cache, origin, many_to_one)
    computed = _computed(cache, origin)
    overridden = {rel.function for rel in computed}
    found = [rel for rel in found if rel.target not in overridden] + computed
    return sorted(found, key=Relationship.sort_key)


def _no_relationship_hint(cache: SchemaCache, origin: str, target: str) -> str | None:
    """PostgREST's suggestion: a relation `origin` has relationships to, not `target` itself;
    when `origin` has none, a relation that has some."""
    targets = [rel.target for rel in relationships_of(cache, origin)]
    if targets:
        meant = [name for score, name in fuzzy_names.ranked(targets, target) if score < 1.0]
        return f"Perhaps you meant '{meant[0]}' instead of '{target}'." if meant else None
    origins = [name for name in cache.relations if relationships_of(cache, name)]
    parent = fuzzy_names.closest(origins, origin)
    return f"Perhaps you meant '{parent}' instead of '{origin}'." if parent else None


def resolve(cache: SchemaCache, origin: str, target: str, hint: str | None) -> Relationship:
    """The one relationship an embed `target!hint` means from `origin`; none or several:
    PGRST200 or PGRST201."""
    candidates = [rel for rel in relationships_of(cache, origin) if rel.named_by(target, hint)]
    if not candidates:
        searched = f"'{origin}' and '{target}'"
        if hint:
            searched += f" using the hint '{hint}'"
        hint = _no_relationship_hint(cache, origin, target)
        raise errors.no_relationship(origin, target, searched, EXPOSED_SCHEMA, hint)
    if len(candidates) > 1:
        options = ", ".join(rel.suggestion() for rel in candidates)
        details = [rel.describe() for rel in candidates]
        raise errors.ambiguous_relationship(origin, target, details, options)
    return candidates[0]
