-- A view or materialized view of the API that reads auth.users and that anon or authenticated
-- may select, in a way row-level security does not guard: a materialized view (no RLS), a view
-- that runs as its owner, or an invoker's view while auth.users itself has no RLS.
select distinct
    'ERROR' as level,
    format('%s.%s', n.nspname, v.relname) as object,
    'exposes auth.users to the API roles' as detail,
    'move it out of the exposed schemas or revoke select from anon and authenticated' as remedy
from pg_catalog.pg_depend as d
inner join pg_catalog.pg_rewrite as r on d.objid = r.oid
inner join pg_catalog.pg_class as v on r.ev_class = v.oid
inner join pg_catalog.pg_namespace as n on v.relnamespace = n.oid
where
    d.classid = 'pg_catalog.pg_rewrite'::regclass
    and d.refobjid = pg_catalog.to_regclass('auth.users')
    and d.deptype = 'n'
    and n.nspname = any(string_to_array(current_setting('carebase.lint.api_schemas'), ','))
    and (
        pg_catalog.has_table_privilege('anon', v.oid, 'select')
        or pg_catalog.has_table_privilege('authenticated', v.oid, 'select')
    )
    and (
        v.relkind = 'm'
        or (
            v.relkind = 'v'
            and (
                not exists (
                    select from pg_catalog.pg_options_to_table(v.reloptions) as o
                    where o.option_name = 'security_invoker' and lower(o.option_value) in ('true', 'on', 'yes', '1')
                )
                or not (
                    select u.relrowsecurity from pg_catalog.pg_class as u
                    where u.oid = d.refobjid
                )
            )
        )
    )
