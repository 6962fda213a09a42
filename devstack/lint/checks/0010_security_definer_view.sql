-- A view of the API that runs as its owner: anon or authenticated reading it get the owner's
-- privileges and skip the row-level security of the tables beneath.
select
    'ERROR' as level,
    format('%s.%s', n.nspname, c.relname) as object,
    'is a view of the API without security_invoker (it reads as its owner)' as detail,
    'create it with (security_invoker = true), or revoke select from anon and authenticated' as remedy
from pg_catalog.pg_class as c
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
where
    c.relkind = 'v'
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
    and not exists (
        select from pg_catalog.pg_options_to_table(c.reloptions) as o
        where o.option_name = 'security_invoker' and lower(o.option_value) in ('true', 'on', 'yes', '1')
    )
