-- Supabase Auth hooks, as Postgres functions (enabled in supabase/config.toml).
-- Both run as supabase_auth_admin, which gets exactly what they read and write.

grant usage on schema private to supabase_auth_admin;
grant usage on schema public to supabase_auth_admin;
grant select (user_id, hospital_id, role, is_active, created_at)
on public.staff_memberships to supabase_auth_admin;
grant select (id, is_active) on public.hospitals to supabase_auth_admin;
grant select (id, user_id, deleted_at) on public.patients to supabase_auth_admin;
grant select (patient_id, hospital_id, registered_at, deleted_at)
on public.patient_registrations to supabase_auth_admin;

create policy staff_memberships_read_by_auth_hook on public.staff_memberships
for select to supabase_auth_admin using (true);
create policy hospitals_read_by_auth_hook on public.hospitals
for select to supabase_auth_admin using (true);
create policy patients_read_by_auth_hook on public.patients
for select to supabase_auth_admin using (true);
create policy patient_registrations_read_by_auth_hook on public.patient_registrations
for select to supabase_auth_admin using (true);

-- Custom access token hook: adds the user's role and hospital to the JWT for clients.
-- Claims: user_role, hospital_id (the primary one), memberships [{hospital_id, role}] and,
-- for patients, patient_id. Policies never trust these; they consult the tables.
create function private.custom_access_token_hook(event jsonb)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    subject uuid := (event ->> 'user_id')::uuid;
    claims jsonb := event -> 'claims';
    memberships jsonb;
    primary_role public.app_role;
    primary_hospital uuid;
    patient uuid;
begin
    select
        coalesce(jsonb_agg(jsonb_build_object('hospital_id', m.hospital_id, 'role', m.role)
            order by m.hospital_id, m.role), '[]'::jsonb)
    into memberships
    from public.staff_memberships as m
    join public.hospitals as h on h.id = m.hospital_id
    where m.user_id = subject and m.is_active and h.is_active;

    -- The most privileged active membership is the one clients show by default.
    select m.role, m.hospital_id into primary_role, primary_hospital
    from public.staff_memberships as m
    join public.hospitals as h on h.id = m.hospital_id
    where m.user_id = subject and m.is_active and h.is_active
    order by array_position(
        '{hospital_admin,doctor,nurse,pharmacist,front_desk,cro}'::public.app_role[], m.role
    ), m.created_at
    limit 1;

    select p.id into patient
    from public.patients as p
    where p.user_id = subject and p.deleted_at is null;

    if primary_role is null and patient is not null then
        primary_role := 'patient';
        select r.hospital_id into primary_hospital
        from public.patient_registrations as r
        where r.patient_id = patient and r.deleted_at is null
        order by r.registered_at
        limit 1;
    end if;

    claims := claims
        || jsonb_build_object(
            'user_role', primary_role,
            'hospital_id', primary_hospital,
            'memberships', memberships
        )
        || case when patient is null then '{}'::jsonb
            else jsonb_build_object('patient_id', patient) end;
    return jsonb_build_object('claims', claims);
end;
$$;

-- Failed password attempts per user, for the lockout (seed 003: lock after 5 failures).
create table private.login_attempts (
    user_id uuid primary key references auth.users (id) on delete cascade,
    failed_count integer not null default 0,
    last_failed_at timestamptz,
    locked_until timestamptz
);

grant select, insert, update, delete on private.login_attempts to supabase_auth_admin;

-- Password verification hook: Supabase Auth calls it after checking a password, with
-- {user_id, valid}. Five consecutive failures lock the sign-in for 15 minutes; while locked
-- even the right password is rejected. A success resets the count; an admin unlocks with
-- rpc/unlock_login. The lockout keeps existing sessions (else anyone knowing a staff email
-- could sign them out everywhere), and a locked account gets Supabase Auth's own answer for
-- a wrong password ("Invalid login credentials"), so a stranger learns nothing.
create function private.password_verification_hook(event jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    max_failures constant integer := 5;
    lock_for constant interval := interval '15 minutes';
    subject uuid := (event ->> 'user_id')::uuid;
    attempt private.login_attempts;
    -- Supabase Auth's message for a wrong password: a lockout must not read differently.
    refusal constant jsonb := jsonb_build_object(
        'decision', 'reject',
        'message', 'Invalid login credentials',
        'should_logout_user', false
    );
begin
    insert into private.login_attempts as a (user_id) values (subject)
    on conflict on constraint login_attempts_pkey do update set user_id = a.user_id
    returning * into attempt;

    if attempt.locked_until > now() then
        return refusal;
    end if;

    if (event ->> 'valid')::boolean then
        update private.login_attempts as a
        set failed_count = 0, last_failed_at = null, locked_until = null
        where a.user_id = subject;
        return jsonb_build_object('decision', 'continue');
    end if;

    update private.login_attempts as a
    set failed_count = case when a.locked_until is not null then 1 else a.failed_count + 1 end,
        last_failed_at = now(),
        locked_until = null
    where a.user_id = subject
    returning * into attempt;

    if attempt.failed_count >= max_failures then
        update private.login_attempts as a
        set locked_until = now() + lock_for, failed_count = 0
        where a.user_id = subject;
        return refusal;
    end if;
    -- Supabase Auth answers the wrong password itself.
    return jsonb_build_object('decision', 'continue');
end;
$$;

comment on function private.password_verification_hook(jsonb) is
'Supabase Auth password verification hook: 5 consecutive failures lock the password sign-in for 15 minutes '
'(refused as "Invalid login credentials", like a wrong password); existing sessions are never ended.';

grant execute on function private.custom_access_token_hook(jsonb) to supabase_auth_admin;
grant execute on function private.password_verification_hook(jsonb) to supabase_auth_admin;

-- An admin unlocks a locked staff login of their hospital. Security definer: the attempts
-- table is private; the function itself checks that the caller administers the user.
create function private.unlock_login(target uuid)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
    was_locked boolean;
begin
    if not target = any(private.staff_user_ids(private.staff_hospital_ids('{hospital_admin}'))) then
        perform private.raise_forbidden(
            'only a hospital admin of this user''s hospital can unlock their login'
        );
    end if;
    delete from private.login_attempts as a where a.user_id = target
    returning a.locked_until > now() into was_locked;
    return coalesce(was_locked, false);
end;
$$;

grant execute on function private.unlock_login(uuid) to authenticated;

-- RPC: POST /rest/v1/rpc/unlock_login {"user_id": ...} -> true when it was locked.
create function public.unlock_login(user_id uuid)
returns boolean
language sql
volatile
set search_path = ''
as $$
    select private.unlock_login(unlock_login.user_id);
$$;

grant execute on function public.unlock_login(uuid) to authenticated;
