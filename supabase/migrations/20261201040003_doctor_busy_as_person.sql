-- A doctor is busy as a person, not per profile. The exclusion constraint already keys on
-- doctor_user_id (one person with doctor profiles at two hospitals cannot be in two places
-- at once), but find_slots' busy times and the clash report (check_conflicts, the 409 of
-- book_appointment / reschedule_appointment) looked only at the asked profile: they offered
-- a slot the doctor had taken at their other hospital, and a booking of it failed with a
-- conflict that named no appointment. Both now look at every profile of the person.
-- Only times, statuses and ids cross hospitals, never who the other patient is; the
-- caller must still be allowed to know the asked doctor's schedule.

-- Same signature and contract as in 20261122000500. Security definer: reads appointments
-- and time off the caller cannot read, returning only busy times.
create or replace function private.busy_times(
    doctor_id uuid, from_time timestamptz, to_time timestamptz, exclude_id uuid default null
)
returns tstzmultirange
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(range_agg(b.span), '{}'::tstzmultirange)
    from public.doctors as d
    cross join lateral (
        select tstzrange(a.starts_at, a.ends_at) as span
        from public.appointments as a
        where a.doctor_user_id = d.user_id
            and a.status not in ('cancelled', 'no_show')
            and a.id is distinct from busy_times.exclude_id
            and tstzrange(a.starts_at, a.ends_at) && tstzrange(busy_times.from_time, busy_times.to_time)
        union all
        select tstzrange(e.starts_at, e.ends_at)
        from public.doctor_availability_exceptions as e
        where e.doctor_id = d.id
            and e.kind = 'time_off'
            and tstzrange(e.starts_at, e.ends_at) && tstzrange(busy_times.from_time, busy_times.to_time)
    ) as b
    where d.id = busy_times.doctor_id
        and private.can_see_schedules(d.hospital_id);
$$;

-- Same signature and columns as in 20261122000600. Security definer: a caller learns that a
-- time is taken, and by which appointment id, without seeing whose it is.
create or replace function private.appointment_clashes(
    doctor_id uuid,
    starts_at timestamptz,
    ends_at timestamptz,
    patient_id uuid default null,
    resource text default null,
    exclude_id uuid default null
)
returns table (
    appointment_id uuid,
    clash_on text,
    clash_patient_id uuid,
    clash_status public.appointment_status,
    clash_starts_at timestamptz,
    clash_ends_at timestamptz
)
language sql
stable
security definer
set search_path = ''
as $$
    select
        a.id,
        case
            when a.doctor_user_id = d.user_id then 'doctor'
            when a.patient_id = appointment_clashes.patient_id then 'patient'
            else 'resource'
        end,
        a.patient_id,
        a.status,
        a.starts_at,
        a.ends_at
    from public.appointments as a
    join public.doctors as d on d.id = appointment_clashes.doctor_id
    where a.status not in ('cancelled', 'no_show')
        and a.id is distinct from appointment_clashes.exclude_id
        and tstzrange(a.starts_at, a.ends_at) && tstzrange(appointment_clashes.starts_at, appointment_clashes.ends_at)
        and (
            a.doctor_user_id = d.user_id
            or a.patient_id = appointment_clashes.patient_id
            or (a.hospital_id = d.hospital_id and a.resource = appointment_clashes.resource)
        )
        and private.can_see_schedules(d.hospital_id)
    order by a.starts_at, a.id;
$$;

revoke execute on function private.busy_times(uuid, timestamptz, timestamptz, uuid) from public;
revoke execute on function private.appointment_clashes(uuid, timestamptz, timestamptz, uuid, text, uuid) from public;
