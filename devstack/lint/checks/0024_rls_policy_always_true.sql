-- A permissive policy for anon, authenticated or public whose condition is always true where a
-- write is concerned: an UPDATE or DELETE whose using admits every row, an INSERT or UPDATE whose
-- with check admits any new row (an UPDATE's with check true lets a row be moved out of the
-- writer's reach). A select policy using (true) is left alone: public reads are often meant.
with policies as (
    select
        n.nspname as schema_name,
        c.relname as table_name,
        p.polname as policy_name,
        p.polcmd as command,
        regexp_replace(lower(coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '')), '\s', '', 'g')
            as using_text,
        regexp_replace(lower(coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '')), '\s', '', 'g')
            as check_text,
        p.polqual is null as no_using,
        p.polwithcheck is null as no_check
    from pg_catalog.pg_policy as p
    inner join pg_catalog.pg_class as c on p.polrelid = c.oid
    inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
    where
        p.polpermissive
        and c.relrowsecurity
        and c.relkind = 'r'
        and n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
        and (
            p.polroles = '{0}'::oid[]
            or exists (
                select from pg_catalog.pg_roles as r
                where r.oid = any(p.polroles) and r.rolname in ('anon', 'authenticated')
            )
        )
),

judged as (
    select
        *,
        command in ('w', 'd', '*') and (no_using or using_text in ('true', '(true)', '1=1', '(1=1)')) as open_using,
        check_text in ('true', '(true)', '1=1', '(1=1)')
        or (no_check and command = 'a')
        or (no_check and command in ('w', '*') and using_text in ('true', '(true)', '1=1', '(1=1)')) as open_check
    from policies
)

select
    'WARN' as level,
    format('%s.%s policy %s', schema_name, table_name, policy_name) as object,
    format(
        'lets %s %s',
        case command when 'a' then 'INSERT' when 'w' then 'UPDATE' when 'd' then 'DELETE' else 'ALL' end,
        case
            when open_using and open_check then 'reach every row and write any row'
            when open_using then 'reach every row (using is always true)'
            else 'write any row (with check is always true)'
        end
    ) as detail,
    'state the condition: for an update, the with check the changed row must still meet (usually its using)'
        as remedy
from judged
where open_using or open_check
