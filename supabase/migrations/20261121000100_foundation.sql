-- Foundation: extensions, the private schema, the role enum and shared trigger functions.

-- On Supabase, extensions live in the `extensions` schema.
create extension if not exists pgcrypto with schema extensions;
create extension if not exists btree_gist with schema extensions;
create extension if not exists pg_trgm with schema extensions;
create extension if not exists citext with schema extensions;

-- Helpers and internal tables: not exposed through PostgREST. API roles need usage only so
-- that policies can call the helper functions.
create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

-- Every person who signs in acts in one of these roles.
create type public.app_role as enum (
    'patient', 'doctor', 'pharmacist', 'hospital_admin', 'front_desk', 'cro', 'nurse'
);

-- Phone numbers are stored in E.164 so the voice agent and SMS can match callers.
create domain public.phone_e164 as text
constraint phone_e164_format check (value ~ '^\+[1-9][0-9]{7,14}$');

create function private.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

create function private.is_time_zone(name text)
returns boolean
language sql
immutable
set search_path = ''
as $$
    select exists (select 1 from pg_catalog.pg_timezone_names as tz where tz.name = is_time_zone.name);
$$;

revoke execute on all functions in schema private from public;
