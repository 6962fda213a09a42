-- Row-level security on and no policy at all: only roles that bypass RLS reach the rows. Often
-- meant (tables only definer functions read), so this is information, not a warning.
select
    'INFO' as level,
    format('%s.%s', n.nspname, c.relname) as object,
    'has row-level security enabled and no policy' as detail,
    'add the policies its readers need, or leave it closed on purpose' as remedy
from pg_catalog.pg_class as c
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
where
    c.relkind in ('r', 'p')
    and c.relrowsecurity
    and not exists (
        select from pg_catalog.pg_policy as p
        where p.polrelid = c.oid
    )
    and n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
    and not exists (
        select from pg_catalog.pg_depend as d
        where d.objid = c.oid and d.deptype = 'e'
    )
