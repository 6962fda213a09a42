-- A policy that calls auth.uid(), auth.jwt(), auth.role(), auth.email() or current_setting()
-- without wrapping the call in a scalar subquery: the planner then evaluates it for every row
-- instead of once per statement (an InitPlan). Judged per policy and function, as Supabase's
-- advisor does: a policy that wraps a function once passes for that function.
with policies as (
    select
        n.nspname as schema_name,
        c.relname as table_name,
        p.polname as policy_name,
        concat_ws(
            ' ', pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
        ) as expression
    from pg_catalog.pg_policy as p
    inner join pg_catalog.pg_class as c on p.polrelid = c.oid
    inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
    where
        c.relrowsecurity
        -- Realtime's own tables are linted too: their policies are the project's.
        and (
            n.nspname = 'realtime'
            or n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
        )
),

calls as (
    select
        p.*,
        f.pattern
    from policies as p
    cross join (
        values ('auth\.uid\('), ('auth\.jwt\('), ('auth\.role\('), ('auth\.email\('), ('current_setting\(')
    ) as f (pattern)
    where
        p.expression ~* ('\m' || f.pattern)
        and p.expression !~* ('select\s+' || f.pattern)
)

select distinct
    'WARN' as level,
    format('%s.%s policy %s', schema_name, table_name, policy_name) as object,
    'calls auth.<function>() or current_setting() once per row' as detail,
    'wrap the call in a scalar subquery, e.g. (select auth.uid()), so it runs once per statement' as remedy
from calls
