-- Who may see what: helpers the row-level security policies call.
--
-- They read the membership and care-team tables on every statement (not the JWT claims), so
-- a deactivated membership or an ended care-team assignment loses access on the next query.
-- Security definer: policies must read these tables whatever the caller may read of them,
-- and reading them under their own policies would recurse. Each returns only ids tied to
-- the caller (auth.uid()), never another user's.
--
-- PL/pgSQL, not SQL: a SQL function that is security definer or sets its own search_path is
-- never inlined and is planned again on every call, and policies call some of these once per
-- row; PL/pgSQL keeps each statement's plan for the session (bench: one on_care_team call
-- 0.21 -> 0.02 ms). Single-row lookups rely on the uniqueness noted beside them.

-- Hospitals where the caller holds an active membership, in any of `roles` (null: any role).
create function private.staff_hospital_ids(roles public.app_role[] default null)
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select coalesce(array_agg(distinct m.hospital_id), '{}')
        from public.staff_memberships as m
        join public.hospitals as h on h.id = m.hospital_id
        where m.user_id = (select auth.uid())
            and m.is_active
            and h.is_active
            and (staff_hospital_ids.roles is null or m.role = any(staff_hospital_ids.roles))
    );
end;
$$;

-- The patient record of the caller (null for staff); patients.user_id is unique.
create function private.own_patient_id()
returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select p.id from public.patients as p
        where p.user_id = (select auth.uid()) and p.deleted_at is null
    );
end;
$$;

-- What a patient keeps of a deactivated hospital. Their own record there stays readable (it
-- is guarded by own_patient_id, not by the hospital: a right of access to their own data),
-- and so do the hospital's row, its consent documents (what they agreed to) and recording a
-- consent event there (withdrawing must always be possible): those policies use
-- patient_registered_hospital_ids. What serves new care (doctors, pharmacies, staff
-- directory, working hours, slots, booking) ends with the hospital: patient_hospital_ids.

-- Active hospitals where the calling patient holds an active registration: where they are
-- offered care.
create function private.patient_hospital_ids()
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select coalesce(array_agg(r.hospital_id), '{}')
        from public.patient_registrations as r
        join public.patients as p on p.id = r.patient_id
        join public.hospitals as h on h.id = r.hospital_id
        where p.user_id = (select auth.uid())
            and p.deleted_at is null
            and r.deleted_at is null
            and h.is_active
    );
end;
$$;

-- Hospitals where the caller is a (non-archived) patient, active or not: their own record.
create function private.patient_registered_hospital_ids()
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select coalesce(array_agg(r.hospital_id), '{}')
        from public.patient_registrations as r
        join public.patients as p on p.id = r.patient_id
        where p.user_id = (select auth.uid())
            and p.deleted_at is null
            and r.deleted_at is null
    );
end;
$$;

-- Patients whose care team the caller is on, while they still hold that clinical
-- membership at that hospital and the patient's registration there is not archived.
create function private.care_team_patient_ids()
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select coalesce(array_agg(distinct c.patient_id), '{}')
        from public.care_team_members as c
        join public.staff_memberships as m
            on m.user_id = c.member_id and m.hospital_id = c.hospital_id and m.role = c.member_role
        join public.hospitals as h on h.id = c.hospital_id
        join public.patient_registrations as r
            on r.patient_id = c.patient_id and r.hospital_id = c.hospital_id
        where c.member_id = (select auth.uid())
            and c.ended_at is null
            and m.is_active
            and h.is_active
            and r.deleted_at is null
    );
end;
$$;

-- Whether the caller is on this patient's care team at this hospital (the exact pair: a
-- clinician of two hospitals sees a patient's rows only where they treat them), with an
-- active membership at an active hospital: a deactivated hospital's care team loses the
-- record at once, as its staff lose everything else.
create function private.on_care_team(patient uuid, hospital uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return exists (
        select 1
        from public.care_team_members as c
        join public.staff_memberships as m
            on m.user_id = c.member_id and m.hospital_id = c.hospital_id and m.role = c.member_role
        join public.hospitals as h on h.id = c.hospital_id
        join public.patient_registrations as r
            on r.patient_id = c.patient_id and r.hospital_id = c.hospital_id
        where c.member_id = (select auth.uid())
            and c.patient_id = on_care_team.patient
            and c.hospital_id = on_care_team.hospital
            and c.ended_at is null
            and m.is_active
            and h.is_active
            and r.deleted_at is null
    );
end;
$$;

comment on function private.on_care_team(uuid, uuid) is
'Whether the caller is on the patient''s care team at this hospital, with an active membership '
'at an active hospital and a live registration.';

-- Whether a user holds an active membership in this role at this hospital, while the
-- hospital is active (it decides who may join a care team).
create function private.holds_active_role(member uuid, hospital uuid, role public.app_role)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return exists (
        select 1
        from public.staff_memberships as m
        join public.hospitals as h on h.id = m.hospital_id
        where m.user_id = holds_active_role.member
            and m.hospital_id = holds_active_role.hospital
            and m.role = holds_active_role.role
            and m.is_active
            and h.is_active
    );
end;
$$;

-- Users holding an active membership in any of the given hospitals (the staff directory).
create function private.staff_user_ids(hospital_ids uuid[])
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select coalesce(array_agg(distinct m.user_id), '{}')
        from public.staff_memberships as m
        where m.hospital_id = any(staff_user_ids.hospital_ids) and m.is_active
    );
end;
$$;

grant execute on function private.staff_hospital_ids(public.app_role[]) to authenticated;
grant execute on function private.own_patient_id() to authenticated;
grant execute on function private.patient_hospital_ids() to authenticated;
grant execute on function private.patient_registered_hospital_ids() to authenticated;
grant execute on function private.care_team_patient_ids() to authenticated;
grant execute on function private.on_care_team(uuid, uuid) to authenticated;
grant execute on function private.holds_active_role(uuid, uuid, public.app_role) to authenticated;
grant execute on function private.staff_user_ids(uuid[]) to authenticated;
-- Called by check constraints and triggers while API roles write.
grant execute on function private.is_time_zone(text) to authenticated, service_role;
grant execute on function private.next_mrn(uuid) to authenticated, service_role;
