-- Care-team access follows the (patient, hospital) pair, a live hospital and a live membership
-- (issue 10, findings 2 and 3).
--
-- private.on_care_team did not look at the hospital: a deactivated hospital's care team kept
-- reading and writing the clinical record, although its staff lose everything else at once.
-- holds_active_role, which decides who may join a care team, had the same gap.
--
-- A doctor with profiles at two hospitals could book, at hospital B, a patient whose care
-- team they were on at hospital A (the doctor insert policy asked for the patient only), and
-- the booking trigger then put them on B's care team, opening B's record. Now a doctor books
-- only patients whose care team they are on at that hospital, and booking adds the doctor to
-- the care team only when the booker may decide who treats the patient there: the patient,
-- the hospital's front office (front desk, CRO, admin), or the system (voice agent, Cal.com).

create or replace function private.on_care_team(patient uuid, hospital uuid)
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

create or replace function private.holds_active_role(member uuid, hospital uuid, role public.app_role)
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

drop policy appointments_insert_doctor on public.appointments;
create policy appointments_insert_doctor on public.appointments
for insert to authenticated
with check (
    doctor_id = any((select private.own_doctor_ids())::uuid[])
    and private.on_care_team(patient_id, hospital_id)
);

-- Security definer: patients and CROs book but may not write care_team_members.
create or replace function private.add_booked_doctor_to_care_team()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if new.patient_id is null then
        return null;
    end if;
    if not (
        private.acting_as_system()
        or new.patient_id = private.own_patient_id()
        or new.hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}'))
    ) then
        return null;
    end if;
    insert into public.care_team_members (patient_id, hospital_id, member_id, member_role, assigned_by)
    select new.patient_id, new.hospital_id, d.user_id, 'doctor', (select auth.uid())
    from public.doctors as d
    where d.id = new.doctor_id and d.hospital_id = new.hospital_id
    on conflict (patient_id, hospital_id, member_id) where ended_at is null do nothing;
    return null;
end;
$$;

comment on function private.on_care_team(uuid, uuid) is
'Whether the caller is on the patient''s care team at this hospital, with an active membership '
'at an active hospital and a live registration.';
comment on function private.add_booked_doctor_to_care_team() is
'Booking adds the doctor to the care team only when the patient, the hospital''s front office '
'or the system booked.';
