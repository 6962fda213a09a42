-- The database belongs to postgres, as a Supabase project's does: that is what lets migrations
-- (run as postgres) create schemas and trusted extensions, and own the `public` schema
-- (PostgreSQL 15 gives `public` to pg_database_owner).
-- The services' admin roles may create their own schemas, as on Supabase.

do $$
begin
    execute pg_catalog.format('alter database %I owner to postgres', pg_catalog.current_database());
    execute pg_catalog.format(
        'grant create on database %I to supabase_auth_admin, supabase_storage_admin, supabase_realtime_admin',
        pg_catalog.current_database()
    );
end;
$$;
