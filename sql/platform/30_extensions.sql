-- Schema `extensions`, where Supabase installs extensions so that they stay out of the API's
-- `public` schema, with the extensions a Supabase database has (or migrations here expect) ready,
-- so that a migration's `create extension if not exists ... with schema extensions` is a no-op.

create schema extensions authorization postgres;

create extension "uuid-ossp" with schema extensions;
create extension pgcrypto with schema extensions;
create extension btree_gist with schema extensions;
create extension pg_trgm with schema extensions;
create extension citext with schema extensions;

-- pgTAP for `supabase test db`-style tests; not a trusted extension, so postgres could not
-- create it itself. Optional: only when the server has it (postgresql-15-pgtap).
do $$
begin
    if exists (select from pg_catalog.pg_available_extensions as e where e.name = 'pgtap') then
        create extension pgtap with schema extensions;
    end if;
end;
$$;

-- pg_cron lives in pg_catalog (its tables in schema `cron`) as on Supabase. It can only be
-- created in the database its background worker serves (cron.database_name); the other
-- databases of the cluster (scratch test databases) go without it.
do $$
begin
    if pg_catalog.current_setting('cron.database_name', true) = pg_catalog.current_database()
        and exists (select from pg_catalog.pg_available_extensions as e where e.name = 'pg_cron') then
        create extension pg_cron with schema pg_catalog;

        -- Supabase's grants (extensions.grant_pg_cron_access): postgres schedules jobs through
        -- cron's functions, reads cron.job and may manage the run history.
        grant usage on schema cron to postgres with grant option;
        grant all on all functions in schema cron to postgres with grant option;
        alter default privileges for role supabase_admin in schema cron
        grant all on tables to postgres with grant option;
        alter default privileges for role supabase_admin in schema cron
        grant all on functions to postgres with grant option;
        alter default privileges for role supabase_admin in schema cron
        grant all on sequences to postgres with grant option;
        grant all privileges on all tables in schema cron to postgres with grant option;
        revoke all on table cron.job from postgres;
        grant select on table cron.job to postgres with grant option;
        revoke trigger on cron.job_run_details from postgres;
    end if;
end;
$$;

-- The API roles may call extension functions (e.g. in policies and defaults); postgres may use
-- and re-grant everything in the schema, including what later extensions add.
grant usage on schema extensions to anon, authenticated, service_role;
grant all privileges on all tables in schema extensions to postgres with grant option;
grant all privileges on all routines in schema extensions to postgres with grant option;
grant all privileges on all sequences in schema extensions to postgres with grant option;
alter default privileges for role supabase_admin in schema extensions
grant all on tables to postgres with grant option;
alter default privileges for role supabase_admin in schema extensions
grant all on routines to postgres with grant option;
alter default privileges for role supabase_admin in schema extensions
grant all on sequences to postgres with grant option;
