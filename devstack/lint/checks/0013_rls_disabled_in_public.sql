-- A table of the API that anon or authenticated may select and that has no row-level security:
-- every row is readable through the API.
select
    'ERROR' as level,
    format('%s.%s', n.nspname, c.relname) as object,
    'is readable through the API and row-level security is not enabled' as detail,
    'alter table ... enable row level security, then write its policies' as remedy
from pg_catalog.pg_class as c
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
where
    c.relkind in ('r', 'p')
    and not c.relrowsecurity
    and n.nspname = any(string_to_array(current_setting('carebase.lint.api_schemas'), ','))
    and n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
    and (
        pg_catalog.has_table_privilege('anon', c.oid, 'select')
        or pg_catalog.has_table_privilege('authenticated', c.oid, 'select')
    )
