-- The devstack services that log in as Supabase's own roles, as Supabase's services do:
-- - supabase_storage_admin (devstack/storage): owns storage.buckets and storage.objects, so its
--   own statements (a bucket's limits, a signed URL's object) see every row;
-- - supabase_realtime_admin (devstack/realtime): owns realtime.messages and reads the WAL for
--   Postgres Changes (a temporary wal2json slot: replication).
-- Everything either does for a caller runs after `set local role` to the caller's API role, so
-- RLS decides; noinherit (10_roles.sql): like PostgREST's authenticator, neither ever uses
-- those roles' rights itself.
alter role supabase_storage_admin with login;
alter role supabase_realtime_admin with login replication;

do $$
declare
    service_role_name text;
    api_role text;
begin
    foreach service_role_name in array array['supabase_storage_admin', 'supabase_realtime_admin'] loop
        foreach api_role in array array['anon', 'authenticated', 'service_role'] loop
            if not exists (
                select from pg_catalog.pg_auth_members as a
                where a.roleid = api_role::regrole and a.member = service_role_name::regrole
            ) then
                execute pg_catalog.format('grant %I to %I', api_role, service_role_name);
            end if;
        end loop;
    end loop;
end;
$$;
