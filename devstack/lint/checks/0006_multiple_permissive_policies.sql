-- More than one permissive policy on a table for the same role and command: Postgres ORs them
-- into one filter evaluated for every row, and each policy's conditions run for rows another
-- already admitted. A policy for public applies to every role; one for all to every command.
with applicable as (
    select
        n.nspname as schema_name,
        c.relname as table_name,
        r.rolname as role_name,
        cmd.name as command,
        p.polname as policy_name
    from pg_catalog.pg_policy as p
    inner join pg_catalog.pg_class as c on p.polrelid = c.oid
    inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
    inner join pg_catalog.pg_roles as r on r.oid = any(p.polroles) or p.polroles = '{0}'::oid[]
    inner join (
        values ('r', 'SELECT'), ('a', 'INSERT'), ('w', 'UPDATE'), ('d', 'DELETE')
    ) as cmd (code, name) on p.polcmd in (cmd.code, '*')
    where
        p.polpermissive
        and c.relkind in ('r', 'p')
        and n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
        and not exists (
            select from pg_catalog.pg_depend as d
            where d.objid = c.oid and d.deptype = 'e'
        )
        and not r.rolbypassrls
        and r.rolname !~ '^pg_'
        and r.rolname !~ '^supabase.*admin$'
)

select
    'WARN' as level,
    format('%s.%s (%s, %s)', schema_name, table_name, role_name, command) as object,
    format('has %s permissive policies: %s', count(*), string_agg(policy_name, ', ' order by policy_name)) as detail,
    'merge them into one policy per role and command (an OR of their conditions)' as remedy
from applicable
group by schema_name, table_name, role_name, command
having count(*) > 1
