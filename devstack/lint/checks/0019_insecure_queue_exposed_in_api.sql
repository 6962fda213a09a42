-- A pgmq queue table readable through the API (pgmq_public exposed) without row-level security.
select
    'ERROR' as level,
    format('%s.%s', n.nspname, c.relname) as object,
    'is a queue readable through the API and row-level security is not enabled' as detail,
    'enable row level security on the queue table and write its policies' as remedy
from pg_catalog.pg_class as c
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
where
    n.nspname = 'pgmq'
    and c.relname like 'q\_%'
    and c.relkind in ('r', 'p')
    and not c.relrowsecurity
    and 'pgmq_public' = any(string_to_array(current_setting('carebase.lint.api_schemas'), ','))
    and (
        pg_catalog.has_table_privilege('anon', c.oid, 'select')
        or pg_catalog.has_table_privilege('authenticated', c.oid, 'select')
    )
