-- Foreign table of the API that anon or authenticated may select: row-level security cannot guard it.
select
    'WARN' as level,
    format('%s.%s', n.nspname, c.relname) as object,
    'is a foreign table (no row-level security) readable through the API' as detail,
    'move it out of the exposed schemas or revoke select from anon and authenticated' as remedy
from pg_catalog.pg_class as c
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
where
    c.relkind = 'f'
    and n.nspname = any(string_to_array(current_setting('carebase.lint.api_schemas'), ','))
    and n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
    and not exists (
        select from pg_catalog.pg_depend as d
        where d.objid = c.oid and d.deptype = 'e'
    )
    and (
        pg_catalog.has_table_privilege('anon', c.oid, 'select')
        or pg_catalog.has_table_privilege('authenticated', c.oid, 'select')
    )
