-- Foundation: extensions, the private schema, the role enum, shared trigger functions and the
-- helpers that raise the project's errors.

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

-- Privileges on functions, stated once: a function that postgres (the migrations' role, here
-- and on Supabase) creates can be executed by nobody but its owner and its explicit grants.
-- Revoking from PUBLIC must be a global default (a per-schema default can only add grants). In
-- schema public, Supabase's defaults still grant EXECUTE to authenticated and service_role, but
-- not to anon: nothing is anonymous unless its migration grants it.
alter default privileges for role postgres revoke execute on functions from public;
alter default privileges for role postgres in schema public revoke execute on functions from anon;

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

-- The project's errors, raised in one way: a stable SQLSTATE, a message, the sidecar's
-- machine code in DETAIL, the fix in HINT. PostgREST answers PTxyz with HTTP xyz, 42501 with
-- 403 (401 without a login) and 22023 with 400. A RAISE option cannot be null, so absent ones are left out.
create function private.raise_error(code text, message text, detail text default null, hint text default null)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    if raise_error.detail is null and raise_error.hint is null then
        raise exception using errcode = raise_error.code, message = raise_error.message;
    elsif raise_error.hint is null then
        raise exception using
            errcode = raise_error.code, message = raise_error.message, detail = raise_error.detail;
    elsif raise_error.detail is null then
        raise exception using errcode = raise_error.code, message = raise_error.message, hint = raise_error.hint;
    end if;
    raise exception using
        errcode = raise_error.code, message = raise_error.message, detail = raise_error.detail,
        hint = raise_error.hint;
end;
$$;

-- HTTP 404: what the caller asked for does not exist, or is not theirs to know of.
create function private.raise_not_found(message text, detail text default null, hint text default null)
returns void
language sql
volatile
set search_path = ''
as $$
    select private.raise_error('PT404', message, detail, hint);
$$;

-- HTTP 409: the request clashes with the state of the data (used, expired, taken...).
create function private.raise_conflict(message text, detail text default null, hint text default null)
returns void
language sql
volatile
set search_path = ''
as $$
    select private.raise_error('PT409', message, detail, hint);
$$;

-- HTTP 403 (42501, insufficient_privilege): the caller may not do this.
create function private.raise_forbidden(message text, detail text default null, hint text default null)
returns void
language sql
volatile
set search_path = ''
as $$
    select private.raise_error('42501', message, detail, hint);
$$;

-- HTTP 400 (22023, invalid_parameter_value): an argument is missing or malformed.
create function private.raise_invalid(message text, detail text default null, hint text default null)
returns void
language sql
volatile
set search_path = ''
as $$
    select private.raise_error('22023', message, detail, hint);
$$;

-- HTTP 422: well-formed, but it names something unusable here (an inactive doctor...).
create function private.raise_unprocessable(message text, detail text default null, hint text default null)
returns void
language sql
volatile
set search_path = ''
as $$
    select private.raise_error('PT422', message, detail, hint);
$$;

-- Raising reveals nothing: every role that runs project code may call the helpers.
grant execute on function private.raise_error(text, text, text, text)
to authenticated, service_role, supabase_auth_admin;
grant execute on function private.raise_not_found(text, text, text)
to authenticated, service_role, supabase_auth_admin;
grant execute on function private.raise_conflict(text, text, text)
to authenticated, service_role, supabase_auth_admin;
grant execute on function private.raise_forbidden(text, text, text)
to authenticated, service_role, supabase_auth_admin;
grant execute on function private.raise_invalid(text, text, text)
to authenticated, service_role, supabase_auth_admin;
grant execute on function private.raise_unprocessable(text, text, text)
to authenticated, service_role, supabase_auth_admin;
