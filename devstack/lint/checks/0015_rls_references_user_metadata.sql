-- A policy that reads user_metadata from the JWT: users edit their own metadata, so it must
-- never decide access.
select
    'ERROR' as level,
    format('%s.%s policy %s', n.nspname, c.relname, p.polname) as object,
    'reads user_metadata of the JWT, which users can edit' as detail,
    'decide on app_metadata or on tables the user cannot write' as remedy
from pg_catalog.pg_policy as p
inner join pg_catalog.pg_class as c on p.polrelid = c.oid
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
where
    n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
    and concat_ws(
        ' ', pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
    ) ~ '(auth\.jwt\(\)|request\.jwt\.claim).*user_metadata'
