-- With pg_graphql installed, GraphQL introspection shows anyone with the public anon key every table, view,
-- materialized view and foreign table of which anon may select any column (with or without
-- row-level security): names, columns and relations.
select
    'WARN' as level,
    format('%s.%s', n.nspname, c.relname) as object,
    'appears in the GraphQL schema of anon' as detail,
    'revoke select from anon, or drop extension pg_graphql if GraphQL is not used' as remedy
from pg_catalog.pg_class as c
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
where
    c.relkind in ('r', 'v', 'm', 'f')
    and exists (
        select from pg_catalog.pg_extension as e
        where e.extname = 'pg_graphql'
    )
    and n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
    and exists (
        select from pg_catalog.pg_attribute as a
        where
            a.attrelid = c.oid
            and a.attnum > 0
            and not a.attisdropped
            and pg_catalog.has_column_privilege('anon', c.oid, a.attnum, 'select')
    )
