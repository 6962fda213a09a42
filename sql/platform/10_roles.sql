-- The roles of a Supabase database, with the attributes, settings and memberships Supabase
-- gives them (supabase/postgres init scripts and migrations, as of its PostgreSQL 15 images).
-- Roles are cluster-wide while this shim runs once per database, so each role is created only
-- when missing and every statement after that is safe to repeat. No passwords here: devstack
-- sets those of the login roles after the shim.

do $$
declare
    role_name text;
begin
    foreach role_name in array array[
        'postgres', 'anon', 'authenticated', 'service_role', 'authenticator',
        'supabase_auth_admin', 'supabase_storage_admin', 'supabase_realtime_admin'
    ] loop
        if not exists (select from pg_catalog.pg_roles as r where r.rolname = role_name) then
            execute pg_catalog.format('create role %I', role_name);
        end if;
    end loop;
end;
$$;

-- The project owner's role. Not a superuser on Supabase: it owns the database and what the
-- migrations create, and reaches Supabase's schemas only through the grants given there.
alter role postgres with nosuperuser inherit createdb createrole login replication bypassrls;

-- The three roles PostgREST switches to per request, from the JWT's `role` claim. Supabase
-- made them INHERIT in 2023 (20230529180330_alter_api_roles_for_inherit).
alter role anon with nosuperuser inherit nocreatedb nocreaterole nologin noreplication nobypassrls;
alter role authenticated with nosuperuser inherit nocreatedb nocreaterole nologin noreplication nobypassrls;
alter role service_role with nosuperuser inherit nocreatedb nocreaterole nologin noreplication bypassrls;

-- PostgREST's login role: it can only become one of the API roles, never use their rights itself.
alter role authenticator with nosuperuser noinherit nocreatedb nocreaterole login noreplication nobypassrls;

-- Supabase Auth's login role; it owns the auth tables and runs the auth hooks. Supabase took
-- CREATEROLE away from it in 2026 (20260821154147_revoke_createrole_from_auth_admin).
alter role supabase_auth_admin with nosuperuser noinherit nocreatedb nocreaterole login noreplication nobypassrls;

-- Owners of the storage and realtime schemas' objects. On Supabase the Storage API and Realtime
-- log in as them; here nothing does yet, so they cannot log in (nor create roles).
alter role supabase_storage_admin with nosuperuser noinherit nocreatedb nocreaterole nologin noreplication nobypassrls;
alter role supabase_realtime_admin with nosuperuser noinherit nocreatedb nocreaterole nologin noreplication nobypassrls;

-- Memberships, granted only when missing so that a second database's shim stays quiet:
-- - authenticator becomes the API role a request's JWT names (PostgREST's `set role`);
-- - postgres may `set role` to an API role, as tests and Supabase's SQL editor do;
-- - on Supabase, supautils lets postgres create policies on storage.objects and
--   realtime.messages, which it does not own; membership in their owners is how plain
--   PostgreSQL allows the same (and what Supabase granted before supautils did it);
-- - pg_monitor lets postgres see every session's activity, as on Supabase.
do $$
declare
    membership record;
begin
    for membership in
        select m.granted, m.member
        from (
            values
            ('anon', 'authenticator'),
            ('authenticated', 'authenticator'),
            ('service_role', 'authenticator'),
            ('anon', 'postgres'),
            ('authenticated', 'postgres'),
            ('service_role', 'postgres'),
            ('supabase_storage_admin', 'postgres'),
            ('supabase_realtime_admin', 'postgres'),
            ('pg_monitor', 'postgres')
        ) as m (granted, member)
    loop
        if not exists (
            select from pg_catalog.pg_auth_members as a
            where a.roleid = membership.granted::regrole and a.member = membership.member::regrole
        ) then
            execute pg_catalog.format('grant %I to %I', membership.granted, membership.member);
        end if;
    end loop;
end;
$$;

-- Per-role settings: PostgreSQL applies them when a session of the role starts, and PostgREST
-- applies the API roles' ones (the timeouts) when it switches to them for a request.
alter role postgres set search_path = "$user", public, extensions; -- noqa: RF05
alter role supabase_admin set search_path = "$user", public, auth, extensions; -- noqa: RF05
alter role supabase_auth_admin set search_path = auth;
alter role supabase_auth_admin set idle_in_transaction_session_timeout = 60000;
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';
