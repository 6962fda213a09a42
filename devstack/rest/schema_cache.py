"""What PostgREST knows of the database: relations, columns, keys, foreign keys, functions and
role settings of the exposed schema, read from the catalogs at startup and on every
`NOTIFY pgrst, 'reload schema'`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import psycopg

EXPOSED_SCHEMA = "public"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # format_type(): a type name as the catalog spells it, safe to put in SQL
    nullable: bool
    default: str | None
    is_array: bool
    enum: tuple[str, ...] = ()  # the labels, when the column's type is an enum
    comment: str | None = None  # `comment on column`: the property's description


@dataclass
class Relation:
    name: str
    kind: str  # r table, p partitioned table, v view, m materialized view, f foreign table
    columns: dict[str, Column]
    primary_key: tuple[str, ...] = ()
    unique_keys: list[tuple[str, ...]] = field(default_factory=list)
    comment: str | None = None
    # Whether it takes POST, PATCH or DELETE at all: a table, or a view or foreign table
    # Postgres can insert into, update or delete from (auto-updatable or by trigger).
    writable: bool = True
    # Computed fields: functions of its row type, read as `alias.fn` (Postgres calls fn(alias))
    computed: set[str] = field(default_factory=set)

    @property
    def is_table(self) -> bool:
        return self.kind in ("r", "p")


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: str
    columns: tuple[str, ...]
    referenced_table: str
    referenced_columns: tuple[str, ...]
    # its columns are its table's primary key or a unique key: a one-to-one relationship
    one_to_one: bool = False


@dataclass(frozen=True)
class Argument:
    name: str
    type: str
    has_default: bool
    variadic: bool


@dataclass(frozen=True)
class Function:
    name: str
    arguments: tuple[Argument, ...]
    return_type: str
    returns_set: bool
    returns_void: bool
    returns_composite: bool  # a row type (table, view, composite type or `returns table`)
    return_relation: str | None  # the exposed relation whose row type it returns
    volatility: str  # i, s, v
    comment: str | None
    columns: tuple[Column, ...]  # the row type's columns when it returns rows
    field_of: str | None = None  # the relation whose row type is its one argument
    single_row: bool = True  # not set-returning, or declared `rows 1`

    @property
    def single_json_argument(self) -> bool:
        """One unnamed json/jsonb parameter: it takes the whole request body."""
        return (
            len(self.arguments) == 1
            and not self.arguments[0].name
            and self.arguments[0].type in ("json", "jsonb")
        )

    @property
    def read_only(self) -> bool:
        return self.volatility in ("i", "s")


@dataclass
class SchemaCache:
    relations: dict[str, Relation] = field(default_factory=dict)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    functions: dict[str, list[Function]] = field(default_factory=dict)
    role_settings: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # PostgREST's in-database configuration: `pgrst.*` settings of the connecting role
    # (e.g. `alter role authenticator set pgrst.db_pre_request = 'public.fn'`)
    db_config: dict[str, str] = field(default_factory=dict)
    # the time zone names `Prefer: timezone=` may give (pg_timezone_names)
    timezones: frozenset[str] = frozenset()


_RELATIONS = """
select c.relname, c.relkind, obj_description(c.oid, 'pg_class'),
       a.attname, format_type(a.atttypid, a.atttypmod), not a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), t.typcategory = 'A',
       array(select e.enumlabel from pg_enum e where e.enumtypid = a.atttypid
             order by e.enumsortorder)::text[],
       c.relkind in ('r', 'p') or (pg_relation_is_updatable(c.oid, true) & 28) <> 0,
       col_description(c.oid, a.attnum)
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
join pg_type t on t.oid = a.atttypid
left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm', 'f')
order by c.relname, a.attnum
"""

_KEYS = """
select con.conname, con.contype, c.relname,
       array(select a.attname from unnest(con.conkey) with ordinality k(num, pos)
             join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num
             order by k.pos)::text[],
       fc.relname,
       array(select a.attname from unnest(con.confkey) with ordinality k(num, pos)
             join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num
             order by k.pos)::text[]
from pg_constraint con
join pg_class c on c.oid = con.conrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_class fc on fc.oid = con.confrelid
left join pg_namespace fn on fn.oid = fc.relnamespace
where n.nspname = %s and con.contype in ('p', 'u', 'f')
  and (con.contype <> 'f' or fn.nspname = %s)
order by con.conname
"""

# Which view column shows which table column: the view's rewrite rule depends on the table
# columns it reads; a view column of the same name as such a table column is taken as it.
_VIEW_SOURCES = """
select distinct v.relname, t.relname, a.attname
from pg_class v
join pg_namespace vn on vn.oid = v.relnamespace
join pg_rewrite r on r.ev_class = v.oid
join pg_depend d on d.objid = r.oid and d.classid = 'pg_rewrite'::regclass
  and d.refclassid = 'pg_class'::regclass and d.refobjsubid > 0
join pg_class t on t.oid = d.refobjid and t.oid <> v.oid
join pg_namespace tn on tn.oid = t.relnamespace
join pg_attribute a on a.attrelid = t.oid and a.attnum = d.refobjsubid
join pg_attribute va on va.attrelid = v.oid and va.attname = a.attname
where vn.nspname = %s and tn.nspname = %s and v.relkind in ('v', 'm')
"""

_FUNCTIONS = """
select p.proname, p.proargnames, p.proargmodes::text[],
       array(select format_type(t, null) from unnest(
         coalesce(p.proallargtypes, p.proargtypes::oid[])) t)::text[],
       p.pronargdefaults, p.pronargs, p.provariadic <> 0,
       format_type(p.prorettype, null), p.proretset, p.prorettype = 'void'::regtype,
       rt.typtype = 'c' or rt.oid = 'record'::regtype,
       case when rc.relnamespace = %s::regnamespace then rc.relname end,
       p.provolatile, obj_description(p.oid, 'pg_proc'),
       array(select a.attname from pg_attribute a where a.attrelid = rt.typrelid
             and a.attnum > 0 and not a.attisdropped order by a.attnum)::text[],
       array(select format_type(a.atttypid, a.atttypmod) from pg_attribute a
             where a.attrelid = rt.typrelid and a.attnum > 0 and not a.attisdropped
             order by a.attnum)::text[],
       (select ac.relname from pg_class ac where p.pronargs = 1
          and ac.reltype = p.proargtypes[0] and ac.relnamespace = n.oid),
       not p.proretset or p.prorows = 1
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type rt on rt.oid = p.prorettype
left join pg_class rc on rc.oid = rt.typrelid
where n.nspname = %s and p.prokind = 'f'
order by p.proname, p.oid
"""

_ROLE_SETTINGS = """
select r.rolname, split_part(cfg, '=', 1), substr(cfg, strpos(cfg, '=') + 1)
from pg_db_role_setting s
join pg_roles r on r.oid = s.setrole
cross join unnest(s.setconfig) cfg
join pg_settings ps on ps.name = split_part(cfg, '=', 1) and ps.context = 'user'
where s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
order by r.rolname, s.setdatabase
"""

_TIMEZONES = "select name from pg_timezone_names"

_DB_CONFIG = """
select split_part(cfg, '=', 1), substr(cfg, strpos(cfg, '=') + 1)
from pg_db_role_setting s
cross join unnest(s.setconfig) cfg
where s.setrole = (select oid from pg_roles where rolname = current_user)
  and s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
  and cfg like 'pgrst.%%'
order by s.setdatabase
"""


async def load(conn: psycopg.AsyncConnection) -> SchemaCache:
    cache = SchemaCache()
    schema = EXPOSED_SCHEMA
    for row in await _rows(conn, _RELATIONS, (schema,)):
        name, kind, comment, col, typ, nullable, default, is_array, labels, writable, note = row
        relation = cache.relations.get(name)
        if relation is None:
            relation = Relation(name, kind, {}, comment=comment, writable=writable)
            cache.relations[name] = relation
        relation.columns[col] = Column(
            col, typ, nullable, default, is_array, tuple(labels), comment=note
        )
    keys = await _rows(conn, _KEYS, (schema, schema))
    for _, contype, table, cols, _, _ in keys:
        if table in cache.relations and contype in ("p", "u"):
            if contype == "p":
                cache.relations[table].primary_key = tuple(cols)
            cache.relations[table].unique_keys.append(tuple(cols))
    for conname, contype, table, cols, ref_table, ref_cols in keys:
        if contype == "f" and table in cache.relations and ref_table in cache.relations:
            unique = [set(key) for key in cache.relations[table].unique_keys]
            cache.foreign_keys.append(
                ForeignKey(
                    conname, table, tuple(cols), ref_table, tuple(ref_cols), set(cols) in unique
                )
            )
    _add_view_keys(cache, await _rows(conn, _VIEW_SOURCES, (schema, schema)))
    for row in await _rows(conn, _FUNCTIONS, (schema, schema)):
        function = _function(row)
        if function is not None:
            cache.functions.setdefault(function.name, []).append(function)
            if function.field_of in cache.relations:
                cache.relations[function.field_of].computed.add(function.name)
    for role, name, value in await _rows(conn, _ROLE_SETTINGS, ()):
        cache.role_settings.setdefault(role, []).append((name, value))
    cache.timezones = frozenset(name for (name,) in await _rows(conn, _TIMEZONES, ()))
    for name, value in await _rows(conn, _DB_CONFIG, ()):
        cache.db_config[name] = value  # a database-specific setting wins (ordered last)
    return cache


async def _rows(conn: psycopg.AsyncConnection, query: str, params: tuple) -> list[tuple]:
    cursor = await conn.execute(query, params)
    return await cursor.fetchall()


def _add_view_keys(cache: SchemaCache, sources: list[tuple[str, str, str]]) -> None:
    """Views inherit the primary key and foreign keys of the tables whose columns they show."""
    providers: dict[tuple[str, str], int] = {}
    for view, _, column in sources:
        providers[(view, column)] = providers.get((view, column), 0) + 1
    shown: dict[str, dict[str, set[str]]] = {}
    for view, table, column in sources:
        if providers[(view, column)] == 1:  # a name two tables provide is left out: ambiguous
            shown.setdefault(view, {}).setdefault(table, set()).add(column)
    for view_name, tables in shown.items():
        view = cache.relations.get(view_name)
        for table_name, columns in tables.items():
            table = cache.relations.get(table_name)
            if view is None or table is None or view.primary_key:
                continue
            if table.primary_key and set(table.primary_key) <= columns:
                view.primary_key = table.primary_key

    def showing(table: str, columns: tuple[str, ...]) -> list[str]:
        """The views that show these columns of the table."""
        return [
            view
            for view, tables in shown.items()
            if view in cache.relations and set(columns) <= tables.get(table, set())
        ]

    # a key joins the views of its table to its referenced table and to the views of that
    # (PostgREST's view-table, table-view and view-view relationships)
    for fk in list(cache.foreign_keys):
        origins = [fk.table, *showing(fk.table, fk.columns)]
        targets = [fk.referenced_table, *showing(fk.referenced_table, fk.referenced_columns)]
        for origin in origins:
            for target in targets:
                if (origin, target) != (fk.table, fk.referenced_table):
                    cache.foreign_keys.append(replace(fk, table=origin, referenced_table=target))


class _FunctionRow(NamedTuple):
    """A row of _FUNCTIONS, in its column order."""

    name: str
    arg_names: list[str] | None
    arg_modes: list[str] | None
    arg_types: list[str]
    n_defaults: int
    n_args: int
    variadic: bool
    return_type: str
    returns_set: bool
    returns_void: bool
    returns_composite: bool
    return_relation: str | None
    volatility: str
    comment: str | None
    type_columns: list[str] | None
    type_column_types: list[str] | None
    field_of: str | None
    single_row: bool


def _function(values: tuple) -> Function | None:
    row = _FunctionRow(*values)
    arg_types, n_args = row.arg_types, row.n_args
    modes = row.arg_modes or ["i"] * len(arg_types)
    names = row.arg_names or [""] * len(arg_types)
    inputs = [
        (names[i], arg_types[i], modes[i])
        for i in range(len(arg_types))
        if modes[i] in ("i", "b", "v")
    ]
    if len(inputs) != n_args:
        return None
    arguments = tuple(
        Argument(arg_name, arg_type, i >= n_args - row.n_defaults, mode == "v")
        for i, (arg_name, arg_type, mode) in enumerate(inputs)
    )
    outputs = [
        Column(names[i], arg_types[i], True, None, arg_types[i].endswith("[]"))
        for i in range(len(arg_types))
        if modes[i] in ("o", "b", "t")
    ]
    returns_composite = row.returns_composite
    if any(mode == "t" for mode in modes) or len(outputs) > 1:
        returns_composite = True
        columns = tuple(outputs)
    else:
        columns = tuple(
            Column(col, typ, True, None, typ.endswith("[]"))
            for col, typ in zip(row.type_columns or [], row.type_column_types or [], strict=False)
        )
    if returns_composite and not columns:
        return None  # `returns record` without column definitions cannot be called over HTTP
    return Function(
        name=row.name,
        arguments=arguments,
        return_type=row.return_type,
        returns_set=row.returns_set,
        returns_void=row.returns_void,
        returns_composite=returns_composite,
        return_relation=row.return_relation,
        volatility=row.volatility,
        comment=row.comment,
        columns=columns,
        field_of=row.field_of,
        single_row=row.single_row,
    )
