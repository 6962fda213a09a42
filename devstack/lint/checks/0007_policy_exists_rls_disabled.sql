-- Policies written for a table whose row-level security is off: they protect nothing.
select
    'ERROR' as level,
    format('%s.%s', n.nspname, c.relname) as object,
    format(
        'has policies (%s) but row-level security is not enabled',
        (
            select string_agg(p.polname, ', ' order by p.polname) from pg_catalog.pg_policy as p
            where p.polrelid = c.oid
        )
    ) as detail,
    'alter table ... enable row level security' as remedy
from pg_catalog.pg_class as c
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
where
    c.relkind in ('r', 'p')
    and not c.relrowsecurity
    and exists (
        select from pg_catalog.pg_policy as p
        where p.polrelid = c.oid
    )
    and n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
    and not exists (
        select from pg_catalog.pg_depend as d
        where d.objid = c.oid and d.deptype = 'e'
    )
