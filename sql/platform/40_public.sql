-- Schema `public` as Supabase sets it up: the API roles may use it, and whatever postgres
-- (migrations) or supabase_admin creates in it is granted to them by default; row-level
-- security, not table privileges, is what guards the rows. Migrations should still grant
-- explicitly: new hosted projects may stop granting table privileges by default.

grant usage on schema public to postgres, anon, authenticated, service_role;

alter default privileges for role postgres in schema public
grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public
grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public
grant all on sequences to postgres, anon, authenticated, service_role;

alter default privileges for role supabase_admin in schema public
grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
grant all on sequences to postgres, anon, authenticated, service_role;
