-- Free slots, computed (never stored) from working hours, exceptions and appointments, and
-- the rule that a patient books only inside the doctor's available hours.
--
-- Algorithm: for each local calendar day of the hospital's time zone touching the asked
-- interval, each weekly range valid that day becomes an absolute window
-- ((day + local time) at time zone tz), so a range keeps its wall-clock hours across a
-- daylight-saving change (and a range crossing the change is shorter or longer that day);
-- extra-hours exceptions add windows. Each window is cut into slots of its slot length on
-- a grid starting at the window's start; a slot that would run past the window's end is
-- not offered. A slot is free when it overlaps neither time off nor an active appointment
-- of the doctor, starts no earlier than now and lies inside the asked interval.

-- Whether the caller may know this hospital's doctors' schedules: its staff and patients,
-- and the system.
create function private.can_see_schedules(hospital_id uuid)
returns boolean
language sql
stable
set search_path = ''
as $$
    select private.acting_as_system()
        or can_see_schedules.hospital_id = any(private.staff_hospital_ids())
        or can_see_schedules.hospital_id = any(private.patient_hospital_ids());
$$;

-- Windows in which the doctors work between from_time and to_time. Security definer: it
-- reads extra-hours exceptions, which patients may not read; it answers only for doctors
-- whose schedules the caller may know, and only with times and modes.
create function private.availability_windows(doctor_ids uuid[], from_time timestamptz, to_time timestamptz)
returns table (
    doctor_id uuid,
    hospital_id uuid,
    span tstzrange,
    modes public.consultation_mode[],
    slot_minutes integer
)
language sql
stable
security definer
set search_path = ''
as $$
    with doctor as (
        select d.id, d.hospital_id, h.time_zone
        from public.doctors as d
        join public.hospitals as h on h.id = d.hospital_id
        where d.id = any(availability_windows.doctor_ids)
            and d.is_active
            and h.is_active
            and private.can_see_schedules(d.hospital_id)
    ),

    day as (
        select doctor.id as doctor_id, doctor.hospital_id, doctor.time_zone, local_day::date as local_day
        from doctor
        cross join lateral generate_series(
            (availability_windows.from_time at time zone doctor.time_zone)::date - 1,
            (availability_windows.to_time at time zone doctor.time_zone)::date,
            interval '1 day'
        ) as local_day
    )

    select
        day.doctor_id,
        day.hospital_id,
        tstzrange(
            (day.local_day + w.starts_at) at time zone day.time_zone,
            (day.local_day + w.ends_at) at time zone day.time_zone
        ),
        w.consultation_modes,
        w.slot_minutes
    from day
    join public.doctor_working_hours as w
        on w.doctor_id = day.doctor_id
        and w.weekday = extract(isodow from day.local_day)
        and day.local_day >= coalesce(w.valid_from, '-infinity'::date)
        and day.local_day <= coalesce(w.valid_until, 'infinity'::date)
    where tstzrange(
        (day.local_day + w.starts_at) at time zone day.time_zone,
        (day.local_day + w.ends_at) at time zone day.time_zone
    ) && tstzrange(availability_windows.from_time, availability_windows.to_time)
    union all
    select e.doctor_id, e.hospital_id, tstzrange(e.starts_at, e.ends_at), e.consultation_modes, e.slot_minutes
    from public.doctor_availability_exceptions as e
    join doctor on doctor.id = e.doctor_id
    where e.kind = 'extra_hours'
        and tstzrange(e.starts_at, e.ends_at) && tstzrange(availability_windows.from_time, availability_windows.to_time);
$$;

-- When the doctor is not free: time off and active appointments (other than `exclude_id`).
-- A doctor is busy as a person: appointments of all their doctor profiles count (the
-- exclusion constraint keys on doctor_user_id), whatever the hospital; only times cross.
-- Security definer: reads other patients' appointments and private time off, returning
-- only the busy times, for doctors whose schedules the caller may know.
create function private.busy_times(
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

-- One bookable slot.
create type public.free_slot as (
    doctor_id uuid,
    hospital_id uuid,
    starts_at timestamptz,
    ends_at timestamptz,
    modes public.consultation_mode []
);

-- RPC: POST /rest/v1/rpc/find_slots {"from_time", "to_time", "doctor_id" | "specialty",
-- "mode", "hospital_id"} -> free slots of the doctors the caller may see (seed 001
-- find-slots, seed 003 GET /doctors/:id/availability). At most 31 days per call.
create function public.find_slots(
    from_time timestamptz,
    to_time timestamptz,
    doctor_id uuid default null,
    specialty text default null,
    mode public.consultation_mode default null,
    hospital_id uuid default null
)
returns setof public.free_slot
language plpgsql
stable
set search_path = ''
as $$
declare
    doctor_ids uuid[];
begin
    if from_time is null or to_time is null or to_time <= from_time then
        perform private.raise_invalid('find_slots needs from_time before to_time');
    end if;
    if to_time - from_time > interval '31 days' then
        perform private.raise_invalid(
            'find_slots searches at most 31 days at a time', hint => 'narrow from_time .. to_time'
        );
    end if;
    if find_slots.doctor_id is null and find_slots.specialty is null then
        perform private.raise_invalid('find_slots needs a doctor_id or a specialty');
    end if;

    -- The doctors the caller may see (their RLS applies).
    select coalesce(array_agg(d.id), '{}') into doctor_ids
    from public.doctors as d
    where d.is_active
        and (find_slots.doctor_id is null or d.id = find_slots.doctor_id)
        and (find_slots.specialty is null or lower(d.specialty) = lower(btrim(find_slots.specialty)))
        and (find_slots.hospital_id is null or d.hospital_id = find_slots.hospital_id);

    return query
    with window_slot as (
        select
            w.doctor_id,
            w.hospital_id,
            slot_start,
            slot_start + make_interval(mins => w.slot_minutes) as slot_end,
            w.modes
        from private.availability_windows(doctor_ids, find_slots.from_time, find_slots.to_time) as w
        cross join lateral generate_series(
            lower(w.span), upper(w.span) - make_interval(mins => w.slot_minutes),
            make_interval(mins => w.slot_minutes)
        ) as slot_start
        where find_slots.mode is null or find_slots.mode = any(w.modes)
    ),

    busy as (
        select d.id as doctor_id, private.busy_times(d.id, find_slots.from_time, find_slots.to_time) as times
        from unnest(doctor_ids) as d (id)
    )

    select distinct on (s.doctor_id, s.slot_start)
        s.doctor_id, s.hospital_id, s.slot_start, s.slot_end, s.modes
    from window_slot as s
    join busy as b on b.doctor_id = s.doctor_id
    where s.slot_start >= greatest(find_slots.from_time, now())
        and s.slot_end <= find_slots.to_time
        and not b.times && tstzrange(s.slot_start, s.slot_end)
    order by s.doctor_id, s.slot_start, s.slot_end;
end;
$$;

grant execute on function public.find_slots(
    timestamptz, timestamptz, uuid, text, public.consultation_mode, uuid
) to authenticated, service_role;

-- A patient booking (or moving) their own appointment must pick a time inside the doctor's
-- available hours, not in the past, in a mode the doctor offers then; staff may book
-- outside them (walk-ins, overtime). Security definer: reads the private time off.
create function private.check_patient_booking_time()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    roles public.app_role[];
    inside boolean;
begin
    if private.acting_as_system() then
        return new;
    end if;
    roles := private.actor_roles(new.hospital_id, new.patient_id);
    if not 'patient' = any(roles) or cardinality(array_remove(roles, 'patient')) > 0 then
        return new;
    end if;
    if tg_op = 'UPDATE'
        and (new.starts_at, new.ends_at, new.mode) is not distinct from (old.starts_at, old.ends_at, old.mode) then
        return new;
    end if;

    select coalesce(range_agg(w.span) @> tstzrange(new.starts_at, new.ends_at), false) into inside
    from private.availability_windows(array[new.doctor_id], new.starts_at, new.ends_at) as w
    where new.mode = any(w.modes);

    -- Overlaps with other appointments are the exclusion constraints' to refuse.
    if not inside
        or new.starts_at < now()
        or exists (
            select from public.doctor_availability_exceptions as e
            where e.doctor_id = new.doctor_id and e.kind = 'time_off'
                and tstzrange(e.starts_at, e.ends_at) && tstzrange(new.starts_at, new.ends_at)
        ) then
        raise exception using
            errcode = 'PT422',
            message = format(
                'the doctor is not available for a %s consult from %s to %s', new.mode, new.starts_at, new.ends_at
            ),
            hint = 'pick one of the slots find_slots offers';
    end if;
    return new;
end;
$$;

create trigger appointments_time_available_for_patient
before insert or update of starts_at, ends_at, mode on public.appointments
for each row execute function private.check_patient_booking_time();

grant execute on function private.can_see_schedules(uuid) to authenticated, service_role;
grant execute on function private.availability_windows(uuid[], timestamptz, timestamptz) to authenticated, service_role;
grant execute on function private.busy_times(uuid, timestamptz, timestamptz, uuid) to authenticated, service_role;
