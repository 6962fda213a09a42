-- A function that does not pin search_path resolves unqualified names through the caller's
-- search_path: a caller who can create objects earlier on the path can hijack it. Exempt: SQL
-- functions that Postgres inlines into the caller's query (a `set` clause would stop that), which
-- say so in their comment and qualify every name (tests/test_schema_conventions.py checks them).
select
    'WARN' as level,
    format('%s.%s(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) as object,
    'does not set search_path' as detail,
    'add set search_path = '''' and qualify every name' as remedy
from pg_catalog.pg_proc as p
inner join pg_catalog.pg_namespace as n on p.pronamespace = n.oid
where
    n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
    and not exists (
        select from pg_catalog.pg_depend as d
        where d.objid = p.oid and d.deptype = 'e'
    )
    and not exists (
        select from unnest(p.proconfig) as setting
        where setting like 'search\_path=%'
    )
    and not (
        p.prolang = (
            select l.oid from pg_catalog.pg_language as l
            where l.lanname = 'sql'
        )
        and not p.prosecdef
        and coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') like 'Inlined into the caller''s query.%'
    )
