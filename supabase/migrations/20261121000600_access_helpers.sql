-- Who may see what: helpers the row-level security policies call.
--
-- They read the membership and care-team tables on every statement (not the JWT claims), so
-- a deactivated membership or an ended care-team assignment loses access on the next query.
-- Security definer: policies must read these tables whatever the caller may read of them,
-- and reading them under their own policies would recurse. Each returns only ids tied to
-- the caller (auth.uid()), never another user's.

-- Hospitals where the caller holds an active membership, in any of `roles` (null: any role).
create function private.staff_hospital_ids(roles public.app_role[] default null)
returns uuid[]
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(array_agg(distinct m.hospital_id), '{}')
    from public.staff_memberships as m
    join public.hospitals as h on h.id = m.hospital_id
    where m.user_id = (select auth.uid())
        and m.is_active
        and h.is_active
        and (roles is null or m.role = any(roles));
$$;

-- The patient record of the caller (null for staff).
create function private.own_patient_id()
returns uuid
language sql
stable
security definer
set search_path = ''
as $$
    select p.id from public.patients as p
    where p.user_id = (select auth.uid()) and p.deleted_at is null;
$$;

-- Hospitals where the calling patient holds an active registration.
create function private.patient_hospital_ids()
returns uuid[]
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(array_agg(r.hospital_id), '{}')
    from public.patient_registrations as r
    join public.patients as p on p.id = r.patient_id
    where p.user_id = (select auth.uid())
        and p.deleted_at is null
        and r.deleted_at is null;
$$;

-- Patients whose care team the caller is on, while they still hold that clinical
-- membership at that hospital.
create function private.care_team_patient_ids()
returns uuid[]
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(array_agg(distinct c.patient_id), '{}')
    from public.care_team_members as c
    join public.staff_memberships as m
        on m.user_id = c.member_id and m.hospital_id = c.hospital_id and m.role = c.member_role
    join public.hospitals as h on h.id = c.hospital_id
    where c.member_id = (select auth.uid())
        and c.ended_at is null
        and m.is_active
        and h.is_active;
$$;

-- Patients with an active registration at any of the caller's hospitals in `roles`.
create function private.registered_patient_ids(roles public.app_role[], include_archived boolean default false)
returns uuid[]
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(array_agg(distinct r.patient_id), '{}')
    from public.patient_registrations as r
    where r.hospital_id = any(private.staff_hospital_ids(roles))
        and (include_archived or r.deleted_at is null);
$$;

-- Users holding an active membership in any of the given hospitals (the staff directory).
create function private.staff_user_ids(hospital_ids uuid[])
returns uuid[]
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(array_agg(distinct m.user_id), '{}')
    from public.staff_memberships as m
    where m.hospital_id = any(hospital_ids) and m.is_active;
$$;

revoke execute on all functions in schema private from public;
grant execute on function private.staff_hospital_ids(public.app_role[]) to authenticated;
grant execute on function private.own_patient_id() to authenticated;
grant execute on function private.patient_hospital_ids() to authenticated;
grant execute on function private.care_team_patient_ids() to authenticated;
grant execute on function private.registered_patient_ids(public.app_role[], boolean) to authenticated;
grant execute on function private.staff_user_ids(uuid[]) to authenticated;
-- Called by check constraints and triggers while API roles write.
grant execute on function private.is_time_zone(text) to authenticated, service_role;
grant execute on function private.next_mrn(uuid) to authenticated, service_role;
