-- Doctor availability: weekly working hours in the hospital's local time (several ranges a
-- day, each with its consult modes and slot length) and dated exceptions (time off, extra
-- hours) as absolute times. Slots are computed from these (public.find_slots), never stored.

-- Target of same-hospital foreign keys (availability, appointments, prescriptions).
alter table public.doctors add constraint doctors_id_hospital_key unique (id, hospital_id);

-- Doctor profiles of the caller whose doctor membership is active. Security definer, like
-- the other access helpers: policies call it; it returns only the caller's own ids.
create function private.own_doctor_ids()
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select coalesce(array_agg(d.id), '{}')
        from public.doctors as d
        join public.staff_memberships as m
            on m.user_id = d.user_id and m.hospital_id = d.hospital_id and m.role = 'doctor'
        join public.hospitals as h on h.id = d.hospital_id
        where d.user_id = (select auth.uid())
            and m.is_active
            and h.is_active
    );
end;
$$;

create table public.doctor_working_hours (
    id uuid primary key default gen_random_uuid(),
    doctor_id uuid not null,
    hospital_id uuid not null,
    -- ISO weekday: 1 = Monday ... 7 = Sunday.
    weekday smallint not null constraint doctor_working_hours_weekday_iso check (weekday between 1 and 7),
    -- Local wall-clock times in the hospital's time zone; ends_at may be 24:00 (midnight).
    starts_at time not null,
    ends_at time not null,
    consultation_modes public.consultation_mode[] not null default '{video,audio,in_person}'
    constraint doctor_working_hours_modes_present check (cardinality(consultation_modes) > 0),
    slot_minutes integer not null default 15
    constraint doctor_working_hours_slot_length check (slot_minutes between 5 and 480),
    -- Optional validity (a new timetable from next month); null: open-ended.
    valid_from date,
    valid_until date,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint doctor_working_hours_range_order check (ends_at > starts_at),
    constraint doctor_working_hours_validity_order check (valid_until >= valid_from),
    constraint doctor_working_hours_doctor_fkey foreign key (doctor_id, hospital_id)
    references public.doctors (id, hospital_id) on delete cascade,
    -- Ranges of one doctor on one weekday never overlap while both are valid.
    constraint doctor_working_hours_no_overlap exclude using gist (
        doctor_id with =,
        weekday with =,
        daterange(valid_from, valid_until, '[]') with &&,
        tsrange(date '2000-01-01' + starts_at, date '2000-01-01' + ends_at) with &&
    )
);

create index doctor_working_hours_doctor_idx on public.doctor_working_hours (doctor_id, hospital_id, weekday);
create index doctor_working_hours_hospital_idx on public.doctor_working_hours (hospital_id);

create trigger doctor_working_hours_set_updated_at
before update on public.doctor_working_hours
for each row execute function private.set_updated_at();

create type public.availability_exception_kind as enum ('time_off', 'extra_hours');

create table public.doctor_availability_exceptions (
    id uuid primary key default gen_random_uuid(),
    doctor_id uuid not null,
    hospital_id uuid not null,
    kind public.availability_exception_kind not null,
    starts_at timestamptz not null,
    ends_at timestamptz not null,
    -- For extra hours: how they are offered.
    consultation_modes public.consultation_mode[] not null default '{video,audio,in_person}'
    constraint doctor_availability_exceptions_modes_present check (cardinality(consultation_modes) > 0),
    slot_minutes integer not null default 15
    constraint doctor_availability_exceptions_slot_length check (slot_minutes between 5 and 480),
    reason text,
    created_by uuid references public.profiles (id) on delete set null default auth.uid(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint doctor_availability_exceptions_range_order check (ends_at > starts_at),
    constraint doctor_availability_exceptions_doctor_fkey foreign key (doctor_id, hospital_id)
    references public.doctors (id, hospital_id) on delete cascade
);

create index doctor_availability_exceptions_doctor_idx
on public.doctor_availability_exceptions (doctor_id, hospital_id, starts_at);
create index doctor_availability_exceptions_hospital_idx on public.doctor_availability_exceptions (hospital_id);
create index doctor_availability_exceptions_created_by_idx on public.doctor_availability_exceptions (created_by);

create trigger doctor_availability_exceptions_set_updated_at
before update on public.doctor_availability_exceptions
for each row execute function private.set_updated_at();

alter table public.doctor_working_hours enable row level security;
alter table public.doctor_availability_exceptions enable row level security;

revoke all on public.doctor_working_hours, public.doctor_availability_exceptions from anon, authenticated;
grant all on public.doctor_working_hours, public.doctor_availability_exceptions to service_role;
grant select, insert, delete on public.doctor_working_hours to authenticated;
grant update (weekday, starts_at, ends_at, consultation_modes, slot_minutes, valid_from, valid_until)
on public.doctor_working_hours to authenticated;
grant select, insert, delete on public.doctor_availability_exceptions to authenticated;
grant update (kind, starts_at, ends_at, consultation_modes, slot_minutes, reason)
on public.doctor_availability_exceptions to authenticated;

-- Working hours are public within the hospital: its staff and its patients (to choose a time).
create policy doctor_working_hours_select on public.doctor_working_hours
for select to authenticated
using (
    hospital_id = any((select private.staff_hospital_ids())::uuid[])
    or hospital_id = any((select private.patient_hospital_ids())::uuid[])
);

-- A doctor edits their own; the hospital's admin and front desk edit any of its doctors'.
create policy doctor_working_hours_insert on public.doctor_working_hours
for insert to authenticated
with check (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
    or doctor_id = any((select private.own_doctor_ids())::uuid[])
);

create policy doctor_working_hours_update on public.doctor_working_hours
for update to authenticated
using (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
    or doctor_id = any((select private.own_doctor_ids())::uuid[])
)
with check (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
    or doctor_id = any((select private.own_doctor_ids())::uuid[])
);

create policy doctor_working_hours_delete on public.doctor_working_hours
for delete to authenticated
using (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
    or doctor_id = any((select private.own_doctor_ids())::uuid[])
);

-- Exceptions may say why a doctor is away: staff of the hospital only. Patients see their
-- effect through find_slots.
create policy doctor_availability_exceptions_select on public.doctor_availability_exceptions
for select to authenticated
using (hospital_id = any((select private.staff_hospital_ids())::uuid[]));

create policy doctor_availability_exceptions_insert on public.doctor_availability_exceptions
for insert to authenticated
with check (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
    or doctor_id = any((select private.own_doctor_ids())::uuid[])
);

create policy doctor_availability_exceptions_update on public.doctor_availability_exceptions
for update to authenticated
using (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
    or doctor_id = any((select private.own_doctor_ids())::uuid[])
)
with check (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
    or doctor_id = any((select private.own_doctor_ids())::uuid[])
);

create policy doctor_availability_exceptions_delete on public.doctor_availability_exceptions
for delete to authenticated
using (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
    or doctor_id = any((select private.own_doctor_ids())::uuid[])
);

grant execute on function private.own_doctor_ids() to authenticated;
