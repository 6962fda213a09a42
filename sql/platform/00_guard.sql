-- Platform shim, step 0: refuse to run where it does not belong, then create the schema in
-- which devstack records the shim files it has applied to this database.
--
-- The shim recreates on a plain PostgreSQL 15 what a Supabase database has before any
-- migration (roles, auth, storage, realtime, vault, extensions). On a real Supabase database
-- it would clash with, or quietly shadow, the real objects, so it stops here instead.

do $$
declare
    evidence text;
begin
    -- Event triggers, role attributes and extensions below need a superuser.
    if not coalesce((select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = current_user), false) then
        raise exception using
            errcode = '42501',
            message = pg_catalog.format(
                'carebase''s platform shim must be applied by a superuser, not by %I', current_user
            ),
            hint = 'connect as supabase_admin, the superuser the cluster was initialised with';
    end if;

    -- On Supabase `postgres` is an ordinary role; the bootstrap superuser cannot be demoted.
    if (select r.rolname from pg_catalog.pg_roles as r where r.oid = 10) = 'postgres' then
        raise exception using
            errcode = 'P0001',
            message = 'carebase''s platform shim needs a cluster whose bootstrap superuser is not postgres',
            hint = 'initialise the cluster with initdb -U supabase_admin';
    end if;

    -- Once _devstack exists the shim owns this database; before that, any sign of Supabase's
    -- own services or extensions means this is a real Supabase database.
    if pg_catalog.to_regnamespace('_devstack') is null then
        select pg_catalog.string_agg(signs.found, ', ' order by signs.found)
        into evidence
        from (
            select 'schema ' || n.nspname as found
            from pg_catalog.pg_namespace as n
            where n.nspname in (
                'auth', 'storage', 'realtime', '_realtime', 'vault', 'graphql', 'graphql_public',
                'supabase_functions'
            )
            union
            select 'setting ' || s.name
            from pg_catalog.pg_settings as s
            where s.name like 'supautils.%' or s.name like 'pgsodium.%'
            union
            -- pg_settings hides settings of libraries not loaded in this session (placeholders).
            select 'setting ' || g.name
            from pg_catalog.unnest(array[
                'supautils.reserved_roles', 'supautils.privileged_extensions', 'supautils.policy_grants',
                'pgsodium.getkey_script'
            ]) as g (name)
            where pg_catalog.current_setting(g.name, true) is not null
            union
            select 'preloaded library ' || l.name
            from pg_catalog.unnest(
                pg_catalog.string_to_array(pg_catalog.current_setting('shared_preload_libraries'), ',')
            ) as l (name)
            where pg_catalog.btrim(l.name) in ('supautils', 'pgsodium')
            union
            select 'extension ' || e.extname
            from pg_catalog.pg_extension as e
            where e.extname in ('supabase_vault', 'pgsodium', 'pg_graphql', 'pg_net')
        ) as signs;

        if evidence is not null then
            raise exception using
                errcode = 'P0001',
                message = 'carebase''s platform shim is for plain PostgreSQL only; '
                || 'this database already is a Supabase database',
                detail = 'found ' || evidence,
                hint = 'apply supabase/migrations to it with the Supabase CLI (supabase db push) instead';
        end if;
    end if;
end;
$$;

-- devstack's own bookkeeping: owned by the superuser, granted to nobody.
create schema if not exists _devstack authorization supabase_admin;
revoke all on schema _devstack from public;

create table if not exists _devstack.platform_files (
    file text primary key,
    sha256 text not null,
    applied_at timestamptz not null default now()
);
revoke all on _devstack.platform_files from public;
