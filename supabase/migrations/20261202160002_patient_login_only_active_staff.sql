-- Patient phone login and staff (issue 10, finding 11). Before, any membership, even one
-- deactivated years ago, made a phone a "staff phone" refused a patient session: a former
-- staff member could not be a patient. Now only an active membership at an active hospital
-- does (the login is staff now, and an OTP must never open a staff login).
--
-- The other way round: a login that becomes staff again (reactivation, an accepted
-- invitation: its first active membership at an active hospital) ends the sessions it had,
-- since they may come from the phone login; staff sign in with email and password (and MFA).

-- Whether the login is staff now. Security definer: it looks at every hospital's roster and
-- answers only this yes or no; the service role's phone login functions call it.
create function private.is_active_staff(member uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (
        select from public.staff_memberships as m
        join public.hospitals as h on h.id = m.hospital_id
        where m.user_id = member and m.is_active and h.is_active
    );
$$;

-- As in 20261124000200_patient_phone_login.sql, refusing only an active staff login's phone.
create or replace function private.begin_patient_login(phone public.phone_e164)
returns uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    found uuid;
begin
    -- Supabase Auth stores phone numbers without the '+'.
    select u.id into found
    from auth.users as u
    where u.phone = ltrim(begin_patient_login.phone, '+') and u.deleted_at is null;

    if private.is_active_staff(found) then
        raise exception using
            errcode = 'PT409',
            message = 'this phone number belongs to a staff account',
            detail = 'staff_phone',
            hint = 'staff sign in with email and password';
    end if;
    delete from private.login_attempts as a where a.user_id = found;
    return found;
end;
$$;

-- As in 20261124000200_patient_phone_login.sql, refusing only an active staff login.
create or replace function private.link_patient_login(
    user_id uuid, phone public.phone_e164, full_name text default null
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    login_phone text;
    patient_id uuid;
    archived_at timestamptz;
    outcome text;
    candidates uuid[];
begin
    -- Concurrent logins for one phone take turns, so that they agree on one patient.
    perform pg_advisory_xact_lock(hashtextextended('patient_phone_login:' || link_patient_login.phone, 0));

    select u.phone into login_phone
    from auth.users as u
    where u.id = link_patient_login.user_id and u.deleted_at is null;
    if login_phone is distinct from ltrim(link_patient_login.phone, '+') then
        raise exception using
            errcode = 'PT422',
            message = 'this login does not sign in with this phone number',
            detail = 'login_phone_mismatch';
    end if;
    if private.is_active_staff(link_patient_login.user_id) then
        raise exception using
            errcode = 'PT409',
            message = 'this phone number belongs to a staff account',
            detail = 'staff_phone',
            hint = 'staff sign in with email and password';
    end if;

    select p.id, p.deleted_at into patient_id, archived_at
    from public.patients as p
    where p.user_id = link_patient_login.user_id;

    if patient_id is not null then
        if archived_at is not null then
            raise exception using
                errcode = 'PT409',
                message = 'the patient record of this login is archived',
                detail = 'patient_archived',
                hint = 'ask the hospital to restore the record';
        end if;
        outcome := 'existing';
    else
        select array_agg(p.id) into candidates
        from public.patients as p
        where p.phone = link_patient_login.phone;

        if cardinality(candidates) = 1 then
            update public.patients as p
            set user_id = link_patient_login.user_id
            where p.id = candidates[1] and p.user_id is null and p.deleted_at is null
            returning p.id into patient_id;
        end if;

        if patient_id is not null then
            outcome := 'linked';
        else
            -- The name is asked for at sign-up; until then the phone stands in for it.
            insert into public.patients (user_id, full_name, phone)
            values (
                link_patient_login.user_id,
                coalesce(nullif(btrim(link_patient_login.full_name), ''), link_patient_login.phone),
                link_patient_login.phone
            )
            returning id into patient_id;
            outcome := 'created';
        end if;
    end if;

    return jsonb_build_object(
        'user_id', link_patient_login.user_id, 'patient_id', patient_id, 'outcome', outcome
    );
end;
$$;

-- A login that becomes staff ends the sessions it had (see the top of this file). Security
-- definer: only the owner deletes from auth.sessions; it acts only on the login whose first
-- active membership this row is.
create function private.end_sessions_of_new_staff()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    if tg_op = 'UPDATE' and old.is_active then
        return null;
    end if;
    if exists (
        select from public.staff_memberships as m
        join public.hospitals as h on h.id = m.hospital_id
        where m.user_id = new.user_id and m.id <> new.id and m.is_active and h.is_active
    ) then
        return null;
    end if;
    delete from auth.refresh_tokens as t where t.user_id = new.user_id::text and t.session_id is null;
    delete from auth.sessions as s where s.user_id = new.user_id;
    return null;
end;
$$;

create trigger staff_memberships_new_staff_signs_in_again
after insert or update of is_active on public.staff_memberships
for each row when (new.is_active) execute function private.end_sessions_of_new_staff();

revoke execute on function private.is_active_staff(uuid) from public;
revoke execute on function private.end_sessions_of_new_staff() from public;
