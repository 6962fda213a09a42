-- Deactivating a doctor or a pharmacist ends every session of their login (issue 6: the
-- deactivation "bans the login and ends its sessions"), unless the login still serves another
-- role (private.login_keeps_access), whose sessions it then needs.
--
-- Why in SQL: Supabase Auth has no admin endpoint that signs a user out by id (POST /logout
-- signs out the holder of the access token it is given), and a ban refuses new sign-ins and
-- refreshes but leaves the sessions in place, so lifting it would bring every refresh token
-- back. Deleting the login's rows from auth.sessions is what Supabase Auth itself does for a
-- global sign-out; their refresh tokens go with them (refresh_tokens.session_id cascades).
-- Done inside the deactivating RPC's transaction: the records and the sessions change
-- together or not at all, the same on Supabase and on devstack.

-- Security definer: only the table owner and postgres may delete from auth.sessions. It does
-- only what the deactivation it serves allows: the caller administers the hospital, the
-- login's membership there in that role is inactive, and the login serves nothing else.
create function private.end_deactivated_staff_sessions(member uuid, hospital uuid, staff_role public.app_role)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    perform private.require_hospital_admin(hospital);
    if not exists (
        select from public.staff_memberships as m
        where m.user_id = member and m.hospital_id = hospital and m.role = staff_role and not m.is_active
    ) or private.login_keeps_access(member) then
        return;
    end if;
    -- Refresh tokens older than sessions have none to cascade from.
    delete from auth.refresh_tokens as t where t.user_id = member::text and t.session_id is null;
    delete from auth.sessions as s where s.user_id = member;
end;
$$;

revoke execute on function private.end_deactivated_staff_sessions(uuid, uuid, public.app_role) from public;
grant execute on function private.end_deactivated_staff_sessions(uuid, uuid, public.app_role) to authenticated;

-- As in 20261124000300_staff_provisioning.sql, plus ending the sessions on deactivation; an
-- unknown id is PT404 (HTTP 404; P0002 there is a 500 on PostgREST).
create or replace function public.set_doctor_active(doctor_id uuid, active boolean)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    doctor public.doctors;
    person public.profiles;
begin
    select d.* into doctor from public.doctors as d where d.id = set_doctor_active.doctor_id;
    if not found then
        raise exception using
            errcode = 'PT404', message = 'no doctor with this id', detail = 'doctor_not_found';
    end if;
    perform private.require_hospital_admin(doctor.hospital_id);
    -- Read while the person is still on the staff directory the caller sees (deactivating).
    select p.* into person from public.profiles as p where p.id = doctor.user_id;
    update public.doctors as d set is_active = set_doctor_active.active
    where d.id = doctor.id
    returning d.* into doctor;
    update public.staff_memberships as m set is_active = set_doctor_active.active
    where m.user_id = doctor.user_id and m.hospital_id = doctor.hospital_id and m.role = 'doctor';
    if not set_doctor_active.active then
        perform private.end_deactivated_staff_sessions(doctor.user_id, doctor.hospital_id, 'doctor');
    end if;
    if person.id is null then
        -- Reactivated: back on the directory only now.
        select p.* into person from public.profiles as p where p.id = doctor.user_id;
    end if;
    return private.staff_record(to_jsonb(doctor), person.full_name, person.email::text)
        || jsonb_build_object('login_keeps_access', private.login_keeps_access(doctor.user_id));
end;
$$;

create or replace function public.set_pharmacist_active(pharmacist_id uuid, active boolean)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    pharmacist public.pharmacists;
    person public.profiles;
begin
    select ph.* into pharmacist from public.pharmacists as ph where ph.id = set_pharmacist_active.pharmacist_id;
    if not found then
        raise exception using
            errcode = 'PT404', message = 'no pharmacist with this id', detail = 'pharmacist_not_found';
    end if;
    perform private.require_hospital_admin(pharmacist.hospital_id);
    select p.* into person from public.profiles as p where p.id = pharmacist.user_id;
    update public.pharmacists as ph set is_active = set_pharmacist_active.active
    where ph.id = pharmacist.id
    returning ph.* into pharmacist;
    update public.staff_memberships as m set is_active = set_pharmacist_active.active
    where m.user_id = pharmacist.user_id and m.hospital_id = pharmacist.hospital_id and m.role = 'pharmacist';
    if not set_pharmacist_active.active then
        perform private.end_deactivated_staff_sessions(pharmacist.user_id, pharmacist.hospital_id, 'pharmacist');
    end if;
    if person.id is null then
        -- Reactivated: back on the directory only now.
        select p.* into person from public.profiles as p where p.id = pharmacist.user_id;
    end if;
    return private.staff_record(to_jsonb(pharmacist), person.full_name, person.email::text)
        || jsonb_build_object('login_keeps_access', private.login_keeps_access(pharmacist.user_id));
end;
$$;
