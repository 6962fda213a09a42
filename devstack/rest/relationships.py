"""Resource embedding: which foreign key joins two relations, as PostgREST resolves it
(many-to-one, one-to-many, one-to-one, many-to-many through a junction; hints; ambiguity)."""

from __future__ import annotations

from dataclasses import dataclass

from devstack.rest import errors
from devstack.rest.schema_cache import EXPOSED_SCHEMA, ForeignKey, SchemaCache


@dataclass(frozen=True)
class Relationship:
    kind: str  # 'many-to-one' | 'one-to-many' | 'one-to-one' | 'many-to-many'
    origin: str
    target: str
    foreign_key: ForeignKey
    # origin column -> target column pairs (direct), or origin -> junction pairs (m2m)
    origin_columns: tuple[str, ...]
    target_columns: tuple[str, ...]
    junction: str | None = None
    junction_origin_columns: tuple[str, ...] = ()
    junction_target_columns: tuple[str, ...] = ()
    junction_key: ForeignKey | None = None

    @property
    def to_one(self) -> bool:
        return self.kind in ("many-to-one", "one-to-one")

    def matches(self, hint: str) -> bool:
        keys = [self.foreign_key] + ([self.junction_key] if self.junction_key else [])
        if self.junction == hint:
            return True
        for key in keys:
            if key.name == hint or (len(key.columns) == 1 and key.columns[0] == hint):
                return True
        return False

    def describe(self) -> dict[str, str]:
        fk = self.foreign_key
        if self.junction:
            text = (
                f"{self.foreign_key.name}, {self.junction_key.name if self.junction_key else ''}"
                f" using {self.junction}"
            )
        else:
            text = (
                f"{fk.name} using {fk.table}({', '.join(fk.columns)}) and "
                f"{fk.referenced_table}({', '.join(fk.referenced_columns)})"
            )
        return {
            "cardinality": self.kind,
            "embedding": f"{self.origin} with {self.target}",
            "relationship": text,
        }


def _is_unique(cache: SchemaCache, table: str, columns: tuple[str, ...]) -> bool:
    relation = cache.relations.get(table)
    return relation is not None and any(set(key) == set(columns) for key in relation.unique_keys)


def relationships(cache: SchemaCache, origin: str, target: str) -> list[Relationship]:
    found = []
    for fk in cache.foreign_keys:
        if fk.table == origin and fk.referenced_table == target:
            kind = "one-to-one" if _is_unique(cache, origin, fk.columns) else "many-to-one"
            found.append(Relationship(kind, origin, target, fk, fk.columns, fk.referenced_columns))
        if fk.referenced_table == origin and fk.table == target:
            kind = "one-to-one" if _is_unique(cache, target, fk.columns) else "one-to-many"
            found.append(Relationship(kind, origin, target, fk, fk.referenced_columns, fk.columns))
    for junction_name, junction in cache.relations.items():
        if not junction.primary_key:
            continue
        key_columns = set(junction.primary_key)
        keys = [
            fk
            for fk in cache.foreign_keys
            if fk.table == junction_name and set(fk.columns) <= key_columns
        ]
        for to_origin in keys:
            for to_target in keys:
                if (
                    to_origin is not to_target
                    and to_origin.referenced_table == origin
                    and to_target.referenced_table == target
                    and junction_name not in (origin, target)
                ):
                    found.append(
                        Relationship(
                            "many-to-many",
                            origin,
                            target,
                            to_origin,
                            to_origin.referenced_columns,
                            to_target.referenced_columns,
                            junction_name,
                            to_origin.columns,
                            to_target.columns,
                            to_target,
                        )
                    )
    return found


def resolve(cache: SchemaCache, origin: str, target: str, hint: str | None) -> Relationship:
    """The one relationship an embed `target!hint` means from `origin`; none or several:
    an error."""
    if target in cache.relations:
        candidates = relationships(cache, origin, target)
    else:
        # embedding through a foreign key column or constraint name of the origin
        candidates = []
        for fk in cache.foreign_keys:
            if fk.table == origin and (
                fk.name == target or (len(fk.columns) == 1 and fk.columns[0] == target)
            ):
                candidates += [
                    rel
                    for rel in relationships(cache, origin, fk.referenced_table)
                    if rel.foreign_key == fk and rel.junction is None
                ]
    if hint is not None:
        candidates = [rel for rel in candidates if rel.matches(hint)]
    if not candidates:
        searched = f"'{origin}' and '{target}'"
        if hint:
            searched += f" using the hint '{hint}'"
        raise errors.no_relationship(origin, target, searched, EXPOSED_SCHEMA)
    if len(candidates) > 1:
        # PostgREST prefers a direct relationship over one through a junction table
        direct = [rel for rel in candidates if rel.junction is None]
        if len(direct) == 1 and hint is not None:
            return direct[0]
        options = ", ".join(
            f"'{target}!{rel.junction or rel.foreign_key.name}'" for rel in candidates
        )
        details = [rel.describe() for rel in candidates]
        raise errors.ambiguous_relationship(origin, target, details, options)
    return candidates[0]
