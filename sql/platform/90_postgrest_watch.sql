-- Tell PostgREST (and devstack's stand-in for it) to reload its schema cache after DDL, as
-- Supabase's event triggers pgrst_ddl_watch / pgrst_drop_watch do. Last in the shim so that
-- its own DDL does not fire them. Changes inside Supabase's service schemas and to temporary
-- objects do not concern the API and are ignored. Not security definer: NOTIFY needs no
-- privilege, and the functions run as whoever ran the DDL.

create function extensions.pgrst_ddl_watch()
returns event_trigger
language plpgsql
set search_path = ''
as $$
declare
    cmd record;
begin
    for cmd in select * from pg_catalog.pg_event_trigger_ddl_commands() loop
        if cmd.command_tag in (
            'CREATE SCHEMA', 'ALTER SCHEMA',
            'CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE',
            'CREATE FOREIGN TABLE', 'ALTER FOREIGN TABLE',
            'CREATE VIEW', 'ALTER VIEW',
            'CREATE MATERIALIZED VIEW', 'ALTER MATERIALIZED VIEW',
            'CREATE FUNCTION', 'ALTER FUNCTION',
            'CREATE TYPE', 'ALTER TYPE',
            'CREATE RULE',
            'COMMENT'
        )
        and coalesce(cmd.schema_name, '') not in ('pg_temp', 'auth', 'realtime', '_realtime', 'storage')
        or (cmd.command_tag = 'CREATE TRIGGER' and cmd.object_identity not like '% pg\_temp.%')
        then
            notify pgrst, 'reload schema';
        end if;
    end loop;
end;
$$;

create function extensions.pgrst_drop_watch()
returns event_trigger
language plpgsql
set search_path = ''
as $$
declare
    obj record;
begin
    for obj in select * from pg_catalog.pg_event_trigger_dropped_objects() loop
        if obj.object_type in (
            'schema', 'table', 'foreign table', 'view', 'materialized view', 'function', 'type', 'rule'
        )
        and obj.is_temporary is false
        and coalesce(obj.schema_name, '') not in ('auth', 'realtime', '_realtime', 'storage')
        or (obj.object_type = 'trigger' and obj.object_identity not like '% pg\_temp.%')
        then
            notify pgrst, 'reload schema';
        end if;
    end loop;
end;
$$;

-- The SQL linter (sqlfluff) cannot parse CREATE EVENT TRIGGER.
-- noqa: disable=PRS
create event trigger pgrst_ddl_watch on ddl_command_end
execute function extensions.pgrst_ddl_watch();

create event trigger pgrst_drop_watch on sql_drop
execute function extensions.pgrst_drop_watch();
-- noqa: enable=PRS
