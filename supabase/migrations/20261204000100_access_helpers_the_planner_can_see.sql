-- The caller's reach, visible to the planner (issue 12, item 3).
--
-- A table's permissive policies are one OR, e.g. on appointments
--     hospital_id = any(<the caller's front-office hospitals>)
--     or patient_id = <the caller's patient id> or doctor_id = any(<the caller's doctor ids>).
-- While each helper was wrapped in a scalar subquery (an InitPlan, run once per statement), the
-- planner could not see its value and estimated `hospital_id = any(...)` at nearly every row
-- (a hospital has half the rows): a patient's list of 8 appointments became a sequential scan of
-- 1M. Called directly, a stable function is evaluated by the planner for its estimate, so the
-- branches that do not apply to this caller are estimated at no rows and the one that does is
-- answered by its index (a BitmapOr of the three indexes for a patient or a doctor).
--
-- Called directly, a helper also runs wherever the executor evaluates the filter, possibly once
-- per row. So the helpers that scope by hospital, doctor or pharmacy are now inlined SQL reading
-- a transaction-local cache (under a microsecond a row, measured in bench/REPORT.md), filled on
-- first use by a security definer loader that holds the old query. The cache is keyed on the
-- caller's claims (request.jwt.claims, exactly as trusted as the identity itself) and forgotten
-- when a table it derives from changes, so a later statement of the same transaction sees the
-- change as it did before. The helpers that return many ids (care_team_patient_ids) or one id
-- (own_patient_id, estimated by the column's statistics) stay behind scalar subqueries.
--
-- Inlining needs a SQL function without `set search_path` and without security definer: these
-- accessors qualify every name and operator (their body is parsed with the caller's path), carry
-- the comment 'Inlined into the caller's query', and are the only functions the search_path lint
-- exempts (tests/test_schema_conventions.py, postgres-language-server.jsonc).

-- The cache --------------------------------------------------------------------------------------

create function private.access_cache_get(item text)
returns text
language sql
stable
as $$
    select case
        when pg_catalog.current_setting('carebase.access_for', true)
            operator(pg_catalog.=) coalesce(pg_catalog.current_setting('request.jwt.claims', true), '')
            -- A setting made in a rolled-back subtransaction reads as '' afterwards: a miss.
            then nullif(pg_catalog.current_setting(
                'carebase.access_' operator(pg_catalog.||)
                pg_catalog.current_setting('carebase.access_generation', true)
                operator(pg_catalog.||) '.' operator(pg_catalog.||) item,
                true
            ), '')
    end
$$;

comment on function private.access_cache_get(text) is
'Inlined into the caller''s query. The cached value of one access helper for the caller whose '
'claims filled the cache in this transaction, or null.';

grant execute on function private.access_cache_get(text) to authenticated;

create function private.access_cache_forget()
returns void
language sql
volatile
set search_path = ''
as $$
    select pg_catalog.set_config(
        'carebase.access_generation',
        (coalesce(nullif(pg_catalog.current_setting('carebase.access_generation', true), ''), '0')::bigint + 1)::text,
        true
    );
$$;

comment on function private.access_cache_forget() is
'Starts a new generation of the access cache: every value cached before is ignored.';

create function private.access_cache_put(item text, value text)
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
    claims constant text := coalesce(current_setting('request.jwt.claims', true), '');
begin
    -- auth.uid() prefers the legacy per-claim setting; such a caller is not cached.
    if nullif(current_setting('request.jwt.claim.sub', true), '') is not null then
        return access_cache_put.value;
    end if;
    if current_setting('carebase.access_for', true) is distinct from claims then
        perform private.access_cache_forget();
        perform set_config('carebase.access_for', claims, true);
    end if;
    perform set_config(
        format('carebase.access_%s.%s', current_setting('carebase.access_generation'), access_cache_put.item),
        access_cache_put.value,
        true
    );
    return access_cache_put.value;
end;
$$;

comment on function private.access_cache_put(text, text) is
'Caches one access helper''s value for the current caller until the transaction ends, the '
'claims change or a table it derives from changes.';

-- security definer: any role that may write these tables forgets the cache, without a grant on
-- access_cache_forget.
create function private.forget_cached_access()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform private.access_cache_forget();
    return null;
end;
$$;

comment on function private.forget_cached_access() is
'After a statement changes memberships, staff, hospitals or patients, the access cache is recomputed on next use.';

create trigger forget_cached_access after insert or update or delete or truncate
on public.staff_memberships for each statement execute function private.forget_cached_access();
create trigger forget_cached_access after insert or update or delete or truncate
on public.hospitals for each statement execute function private.forget_cached_access();
create trigger forget_cached_access after insert or update or delete or truncate
on public.doctors for each statement execute function private.forget_cached_access();
create trigger forget_cached_access after insert or update or delete or truncate
on public.pharmacists for each statement execute function private.forget_cached_access();
create trigger forget_cached_access after insert or update or delete or truncate
on public.patients for each statement execute function private.forget_cached_access();
create trigger forget_cached_access after insert or update or delete or truncate
on public.patient_registrations for each statement execute function private.forget_cached_access();

-- The loaders: the helpers' former queries, cached ------------------------------------------------

create function private.staff_access_item(roles public.app_role[])
returns text
language sql
stable
as $$
    select 'staff_' operator(pg_catalog.||) coalesce(pg_catalog.array_to_string(roles, '_'), 'any')
$$;

comment on function private.staff_access_item(public.app_role[]) is
'Inlined into the caller''s query. The cache entry of staff_hospital_ids for a set of roles.';

grant execute on function private.staff_access_item(public.app_role[]) to authenticated;

-- security definer: reads the caller's memberships whatever the policies on them.
create function private.load_staff_hospital_ids(roles public.app_role[])
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return private.access_cache_put(
        private.staff_access_item(load_staff_hospital_ids.roles),
        (
            select coalesce(array_agg(distinct m.hospital_id), '{}')
            from public.staff_memberships as m
            join public.hospitals as h on h.id = m.hospital_id
            where m.user_id = (select auth.uid())
                and m.is_active
                and h.is_active
                and (load_staff_hospital_ids.roles is null or m.role = any(load_staff_hospital_ids.roles))
        )::text
    )::uuid[];
end;
$$;

-- security definer: reads the caller's doctor rows and memberships whatever their policies.
create function private.load_own_doctor_ids()
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return private.access_cache_put(
        'own_doctor_ids',
        (
            select coalesce(array_agg(d.id), '{}')
            from public.doctors as d
            join public.staff_memberships as m
                on m.user_id = d.user_id and m.hospital_id = d.hospital_id and m.role = 'doctor'
            join public.hospitals as h on h.id = d.hospital_id
            where d.user_id = (select auth.uid())
                and m.is_active
                and h.is_active
        )::text
    )::uuid[];
end;
$$;

-- security definer: reads the caller's pharmacist rows and memberships whatever their policies.
create function private.load_own_pharmacy_ids()
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return private.access_cache_put(
        'own_pharmacy_ids',
        (
            select coalesce(array_agg(distinct ph.pharmacy_id), '{}')
            from public.pharmacists as ph
            join public.staff_memberships as m
                on m.user_id = ph.user_id and m.hospital_id = ph.hospital_id and m.role = 'pharmacist'
            join public.hospitals as h on h.id = ph.hospital_id
            where ph.user_id = (select auth.uid())
                and ph.is_active
                and m.is_active
                and h.is_active
        )::text
    )::uuid[];
end;
$$;

-- security definer: reads the caller's registrations whatever their policies.
create function private.load_patient_hospital_ids()
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return private.access_cache_put(
        'patient_hospital_ids',
        (
            select coalesce(array_agg(r.hospital_id), '{}')
            from public.patient_registrations as r
            join public.patients as p on p.id = r.patient_id
            join public.hospitals as h on h.id = r.hospital_id
            where p.user_id = (select auth.uid())
                and p.deleted_at is null
                and r.deleted_at is null
                and h.is_active
        )::text
    )::uuid[];
end;
$$;

grant execute on function private.load_staff_hospital_ids(public.app_role[]) to authenticated;
grant execute on function private.load_own_doctor_ids() to authenticated;
grant execute on function private.load_own_pharmacy_ids() to authenticated;
grant execute on function private.load_patient_hospital_ids() to authenticated;

-- The helpers, now inlined -------------------------------------------------------------------------

create or replace function private.staff_hospital_ids(roles public.app_role[] default null)
returns uuid[]
language sql
stable
security invoker
as $$
    select coalesce(
        private.access_cache_get(private.staff_access_item(roles))::pg_catalog.uuid[],
        private.load_staff_hospital_ids(roles)
    )
$$;

create or replace function private.own_doctor_ids()
returns uuid[]
language sql
stable
security invoker
as $$
    select coalesce(
        private.access_cache_get('own_doctor_ids')::pg_catalog.uuid[],
        private.load_own_doctor_ids()
    )
$$;

create or replace function private.own_pharmacy_ids()
returns uuid[]
language sql
stable
security invoker
as $$
    select coalesce(
        private.access_cache_get('own_pharmacy_ids')::pg_catalog.uuid[],
        private.load_own_pharmacy_ids()
    )
$$;

create or replace function private.patient_hospital_ids()
returns uuid[]
language sql
stable
security invoker
as $$
    select coalesce(
        private.access_cache_get('patient_hospital_ids')::pg_catalog.uuid[],
        private.load_patient_hospital_ids()
    )
$$;

comment on function private.staff_hospital_ids(public.app_role[]) is
'Inlined into the caller''s query. The active hospitals where the caller holds one of these '
'roles (any role when null).';
comment on function private.own_doctor_ids() is
'Inlined into the caller''s query. The caller''s doctor rows with an active membership at an active hospital.';
comment on function private.own_pharmacy_ids() is
'Inlined into the caller''s query. The pharmacies of the caller''s active pharmacist rows.';
comment on function private.patient_hospital_ids() is
'Inlined into the caller''s query. The active hospitals where the caller is a registered patient.';

-- The policies call them directly ---------------------------------------------------------------
-- Each policy that wrapped one of these helpers in a scalar subquery gets the same expression
-- without the subquery: a mechanical rewrite of the catalog's own text, whose result is in
-- supabase/schema.sql; tests/test_schema_conventions.py keeps new policies from wrapping them.

do $$
declare
    wrapped constant text :=
        '\( SELECT (private\.(staff_hospital_ids|own_doctor_ids|own_pharmacy_ids|patient_hospital_ids)\([^()]*\)) AS \2\)';
    p record;
begin
    perform set_config('search_path', '', true);  -- so pg_get_expr qualifies every name
    for p in
        select
            n.nspname, c.relname, pol.polname,
            pg_get_expr(pol.polqual, pol.polrelid) as using_expression,
            pg_get_expr(pol.polwithcheck, pol.polrelid) as check_expression
        from pg_policy as pol
        join pg_class as c on c.oid = pol.polrelid
        join pg_namespace as n on n.oid = c.relnamespace
        where concat(pg_get_expr(pol.polqual, pol.polrelid), pg_get_expr(pol.polwithcheck, pol.polrelid))
            ~ wrapped
    loop
        if p.using_expression ~ wrapped then
            execute format(
                'alter policy %I on %I.%I using (%s)', p.polname, p.nspname, p.relname,
                regexp_replace(p.using_expression, wrapped, '\1', 'g')
            );
        end if;
        if p.check_expression ~ wrapped then
            execute format(
                'alter policy %I on %I.%I with check (%s)', p.polname, p.nspname, p.relname,
                regexp_replace(p.check_expression, wrapped, '\1', 'g')
            );
        end if;
    end loop;
end;
$$;
