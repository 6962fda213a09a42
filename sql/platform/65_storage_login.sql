-- devstack's Storage API (devstack/storage) logs in as supabase_storage_admin, as Supabase
-- Storage does: it owns storage.buckets and storage.objects, so its own statements (a bucket's
-- limits, a signed URL's object) see every row; everything done for a caller runs after
-- `set local role` to the caller's API role, so RLS decides. noinherit: it never uses those
-- roles' rights itself, as PostgREST's authenticator.
alter role supabase_storage_admin with login;

do $$
declare
    api_role text;
begin
    foreach api_role in array array['anon', 'authenticated', 'service_role'] loop
        if not exists (
            select from pg_catalog.pg_auth_members as a
            where a.roleid = api_role::regrole and a.member = 'supabase_storage_admin'::regrole
        ) then
            execute pg_catalog.format('grant %I to supabase_storage_admin', api_role);
        end if;
    end loop;
end;
$$;
