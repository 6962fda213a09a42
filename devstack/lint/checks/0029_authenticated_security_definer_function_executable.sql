-- A security definer function of the API that authenticated may execute: it runs with its owner's
-- rights, past row-level security, for every signed-in user (/rest/v1/rpc/<name>).
select
    'WARN' as level,
    format('%s.%s(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) as object,
    'is security definer and executable by authenticated through the API' as detail,
    'make it security invoker (a definer helper belongs in a private schema), or revoke execute from authenticated'
        as remedy
from pg_catalog.pg_proc as p
inner join pg_catalog.pg_namespace as n on p.pronamespace = n.oid
where
    p.prosecdef
    and n.nspname = any(string_to_array(current_setting('carebase.lint.api_schemas'), ','))
    and n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
    and pg_catalog.has_function_privilege('authenticated', p.oid, 'execute')
