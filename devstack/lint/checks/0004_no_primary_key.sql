-- A table without a primary key: rows cannot be addressed one by one (replication, the API's
-- updates and deletes by key), and it is often a sign of a missing constraint.
select
    'INFO' as level,
    format('%s.%s', n.nspname, c.relname) as object,
    'has no primary key' as detail,
    'add a primary key' as remedy
from pg_catalog.pg_class as c
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
where
    c.relkind in ('r', 'p')
    and not c.relispartition
    and n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
    and not exists (
        select from pg_catalog.pg_depend as d
        where d.objid = c.oid and d.deptype = 'e'
    )
    and not exists (
        select from pg_catalog.pg_index as i
        where i.indrelid = c.oid and i.indisprimary
    )
