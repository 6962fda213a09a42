-- find_slots computes the doctors' busy time once per request, not once per slot (issue 12,
-- item 3). Same slots, same order, same columns; the same doctors are visible.
--
-- The old body joined each candidate slot to a `busy` CTE that Postgres inlined, so
-- private.busy_times (a query and a can_see_schedules check) ran for every candidate slot:
-- hundreds of times for one doctor's week, over a thousand for a specialty's ten doctors (50 ms
-- and 330 ms on the large data set). Now one call of private.busy_times_by_doctor
-- returns each visible doctor's busy time as a multirange (appointments through the partial gist
-- index of the exclusion constraint appointments_no_doctor_overlap, time off through
-- doctor_availability_exceptions_doctor_idx), checking the schedule's visibility once per
-- doctor, and each slot is tested against it with a range operator.

-- When the doctors are not free between from_time and to_time: time off and active
-- appointments. A doctor is busy as a person: appointments of all their doctor profiles count
-- (the exclusion constraint keys on doctor_user_id), whatever the hospital; only times cross.
-- One row per doctor whose schedule the caller may know, '{}' when free throughout.
-- Security definer: reads other patients' appointments and private time off, returning only the
-- busy times.
create function private.busy_times_by_doctor(doctor_ids uuid[], from_time timestamptz, to_time timestamptz)
returns table (doctor_id uuid, times tstzmultirange)
language sql
stable
security definer
rows 10
set search_path = ''
as $$
    select d.id, coalesce(range_agg(b.span), '{}'::tstzmultirange)
    from public.doctors as d
    left join lateral (
        select tstzrange(a.starts_at, a.ends_at) as span
        from public.appointments as a
        where a.doctor_user_id = d.user_id
            and a.status not in ('cancelled', 'no_show')
            and tstzrange(a.starts_at, a.ends_at)
            && tstzrange(busy_times_by_doctor.from_time, busy_times_by_doctor.to_time)
        union all
        select tstzrange(e.starts_at, e.ends_at)
        from public.doctor_availability_exceptions as e
        where e.doctor_id = d.id
            and e.kind = 'time_off'
            and tstzrange(e.starts_at, e.ends_at)
            && tstzrange(busy_times_by_doctor.from_time, busy_times_by_doctor.to_time)
    ) as b on true
    where d.id = any(busy_times_by_doctor.doctor_ids)
        and private.can_see_schedules(d.hospital_id)
    group by d.id;
$$;

grant execute on function private.busy_times_by_doctor(uuid[], timestamptz, timestamptz)
to authenticated, service_role;

-- The windows of a request are a few per doctor and day, not the default guess of 1,000 rows for
-- a set-returning function, which made find_slots' plan look costly enough to JIT-compile.
alter function private.availability_windows(uuid[], timestamptz, timestamptz) rows 50;

create or replace function public.find_slots(
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
    -- Materialized: computed once, before any slot is looked at.
    with busy as materialized (
        select b.doctor_id, b.times
        from private.busy_times_by_doctor(doctor_ids, find_slots.from_time, find_slots.to_time) as b
    ),

    window_slot as (
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

-- private.busy_times (one doctor per call) had no other caller.
drop function private.busy_times(uuid, timestamptz, timestamptz, uuid);
