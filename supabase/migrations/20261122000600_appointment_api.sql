-- The appointment API: booking, rescheduling and cancelling as RPCs that turn a clash into
-- a clear error, the conflict pre-flight check, and the today / upcoming / stats views
-- (seed 001). All security invoker: the appointments' RLS and state machine decide.

-- Active appointments clashing with a proposed time, on the doctor (as a person: any of their
-- doctor profiles), the patient or the resource. Security definer: a patient must learn that
-- a time is taken without seeing whose it is; it returns no name, only ids, times and status,
-- for hospitals whose schedules the caller may know.
create function private.appointment_clashes(
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

-- Raises the 23P01 a booking met, naming the clashing appointment(s) in the caller's terms
-- (private.clash_report).
create function private.raise_booking_clash(
    doctor_id uuid,
    starts_at timestamptz,
    ends_at timestamptz,
    patient_id uuid,
    resource text,
    exclude_id uuid
)
returns void
language plpgsql
stable
set search_path = ''
as $$
declare
    first_clash record;
    clashes jsonb;
begin
    select
        coalesce(
            jsonb_agg(
                jsonb_build_object(
                    'appointment_id', c.appointment_id, 'clash_on', c.clash_on, 'clash_status', c.clash_status,
                    'clash_starts_at', c.clash_starts_at, 'clash_ends_at', c.clash_ends_at
                )
            ),
            '[]'
        )
    into clashes
    from private.clash_report(doctor_id, starts_at, ends_at, patient_id, resource, exclude_id) as c;
    select c.* into first_clash
    from private.clash_report(doctor_id, starts_at, ends_at, patient_id, resource, exclude_id) as c
    limit 1;
    raise exception using
        errcode = '23P01',
        message = case
            when first_clash.clash_on is null then 'this time clashes with another appointment'
            when first_clash.appointment_id is null then format('the %s is already booked at this time', first_clash.clash_on)
            else format(
                'the %s is already booked from %s to %s (appointment %s)',
                first_clash.clash_on, first_clash.clash_starts_at, first_clash.clash_ends_at, first_clash.appointment_id
            )
        end,
        detail = clashes::text,
        hint = 'choose another time; find_slots lists the free ones';
end;
$$;

-- RPC: POST /rest/v1/rpc/book_appointment. A patient books for themself (patient_id may be
-- omitted); front desk, admin and CRO book anyone registered at the doctor's hospital, or a
-- lead / walk-in by name (patient_name, patient_phone, ...). ends_at defaults to one slot of
-- the doctor's working hours then (30 minutes outside them). A clash is a 409 (23P01)
-- naming the appointment in the way; a doctor the caller cannot see is a 404 (PT404).
create function public.book_appointment(
    doctor_id uuid,
    starts_at timestamptz,
    ends_at timestamptz default null,
    patient_id uuid default null,
    appointment_type public.appointment_type default 'consultation',
    mode public.consultation_mode default 'in_person',
    reason text default null,
    resource text default null,
    source public.appointment_source default 'app',
    status public.appointment_status default 'scheduled',
    patient_name text default null,
    patient_phone text default null,
    patient_dob date default null,
    patient_sex public.sex default null,
    lead_id uuid default null
)
returns public.appointments
language plpgsql
volatile
set search_path = ''
as $$
declare
    doctor_hospital uuid;
    booked public.appointments;
    for_patient uuid := book_appointment.patient_id;
    new_end timestamptz := book_appointment.ends_at;
begin
    select d.hospital_id into doctor_hospital
    from public.doctors as d
    where d.id = book_appointment.doctor_id;
    if doctor_hospital is null then
        perform private.raise_not_found('no such doctor', hint => 'list doctors with GET /rest/v1/doctors');
    end if;

    if for_patient is null and book_appointment.patient_name is null then
        for_patient := private.own_patient_id();
        if for_patient is null then
            raise exception using
                errcode = '22023', message = 'say who the appointment is for',
                hint = 'give patient_id, or patient_name for a lead or walk-in';
        end if;
    end if;

    if new_end is null then
        select book_appointment.starts_at + make_interval(mins => w.slot_minutes) into new_end
        from private.availability_windows(
            array[book_appointment.doctor_id], book_appointment.starts_at, book_appointment.starts_at + interval '1 minute'
        ) as w
        where w.span @> book_appointment.starts_at
        limit 1;
        new_end := coalesce(new_end, book_appointment.starts_at + interval '30 minutes');
    end if;

    begin
        insert into public.appointments (
            hospital_id, doctor_id, patient_id, patient_name_snapshot, phone_snapshot, dob_snapshot,
            sex_snapshot, lead_id, starts_at, ends_at, appointment_type, mode, reason, resource, source, status
        )
        values (
            doctor_hospital, book_appointment.doctor_id, for_patient, book_appointment.patient_name,
            book_appointment.patient_phone, book_appointment.patient_dob, book_appointment.patient_sex,
            book_appointment.lead_id, book_appointment.starts_at, new_end, book_appointment.appointment_type,
            book_appointment.mode, book_appointment.reason, book_appointment.resource, book_appointment.source,
            book_appointment.status
        )
        returning * into booked;
    exception when exclusion_violation then
        perform private.raise_booking_clash(
            book_appointment.doctor_id, book_appointment.starts_at, new_end, for_patient,
            book_appointment.resource, null
        );
    end;
    return booked;
end;
$$;

-- RPC: POST /rest/v1/rpc/reschedule_appointment. Keeps the appointment (and its id); the
-- old and new times are recorded in status_history. ends_at defaults to the same length.
create function public.reschedule_appointment(
    appointment_id uuid,
    starts_at timestamptz,
    ends_at timestamptz default null,
    reason text default null
)
returns public.appointments
language plpgsql
volatile
set search_path = ''
as $$
declare
    before_move public.appointments;
    moved public.appointments;
    new_end timestamptz;
begin
    select a.* into before_move from public.appointments as a where a.id = reschedule_appointment.appointment_id;
    if before_move.id is null then
        perform private.raise_not_found('appointment not found');
    end if;
    new_end := coalesce(
        reschedule_appointment.ends_at, reschedule_appointment.starts_at + (before_move.ends_at - before_move.starts_at)
    );
    begin
        update public.appointments as a
        set starts_at = reschedule_appointment.starts_at,
            ends_at = new_end,
            status_reason = coalesce(reschedule_appointment.reason, a.status_reason)
        where a.id = reschedule_appointment.appointment_id
        returning a.* into moved;
    exception when exclusion_violation then
        perform private.raise_booking_clash(
            before_move.doctor_id, reschedule_appointment.starts_at, new_end, before_move.patient_id, before_move.resource, before_move.id
        );
    end;
    if moved.id is null then
        perform private.raise_forbidden('you may not reschedule this appointment');
    end if;
    return moved;
end;
$$;

-- RPC: POST /rest/v1/rpc/cancel_appointment {"appointment_id", "reason"}. The state
-- machine decides who may cancel from which state; a reason is required.
create function public.cancel_appointment(appointment_id uuid, reason text)
returns public.appointments
language plpgsql
volatile
set search_path = ''
as $$
declare
    cancelled public.appointments;
begin
    if not exists (select from public.appointments as a where a.id = cancel_appointment.appointment_id) then
        perform private.raise_not_found('appointment not found');
    end if;
    update public.appointments as a
    set status = 'cancelled', status_reason = cancel_appointment.reason
    where a.id = cancel_appointment.appointment_id
    returning a.* into cancelled;
    if cancelled.id is null then
        perform private.raise_forbidden('you may not cancel this appointment');
    end if;
    return cancelled;
end;
$$;

-- RPC: GET /rest/v1/rpc/check_conflicts?doctor_id=&starts_at=&ends_at= (seed 001
-- GET /appointments/conflicts): every active appointment in the way, not only the first.
-- A clash the caller may not see has only conflict_on; the others' fields are null.
create function public.check_conflicts(
    doctor_id uuid,
    starts_at timestamptz,
    ends_at timestamptz,
    exclude_appointment_id uuid default null,
    patient_id uuid default null,
    resource text default null
)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    doctor_hospital uuid;
begin
    select d.hospital_id into doctor_hospital
    from public.doctors as d
    where d.id = check_conflicts.doctor_id;
    if doctor_hospital is null or not private.can_see_schedules(doctor_hospital) then
        perform private.raise_not_found('no such doctor', hint => 'list doctors with GET /rest/v1/doctors');
    end if;
    if check_conflicts.patient_id is not null and not exists (
        select from public.patient_registrations as r
        where r.patient_id = check_conflicts.patient_id and r.hospital_id = doctor_hospital
    ) then
        perform private.raise_forbidden(
            'this patient is not yours to book at this hospital',
            hint => 'give a patient registered at the doctor''s hospital whom you may see'
        );
    end if;
    if check_conflicts.exclude_appointment_id is not null and not exists (
        select from public.appointments as a
        where a.id = check_conflicts.exclude_appointment_id
    ) then
        perform private.raise_not_found('appointment not found');
    end if;

    return (
        select jsonb_build_object(
            'has_conflict', count(*) > 0,
            'conflict_count', count(*),
            'conflicting_appointments', coalesce(
                jsonb_agg(
                    jsonb_build_object(
                        'appointment_id', c.appointment_id,
                        'patient_id', c.clash_patient_id,
                        'status', c.clash_status,
                        'start_time', c.clash_starts_at,
                        'end_time', c.clash_ends_at,
                        'conflict_on', c.clash_on
                    ) order by c.clash_starts_at nulls last, c.appointment_id, c.clash_on
                ),
                '[]'
            )
        )
        from private.clash_report(
            check_conflicts.doctor_id, check_conflicts.starts_at, check_conflicts.ends_at,
            check_conflicts.patient_id, check_conflicts.resource, check_conflicts.exclude_appointment_id
        ) as c
    );
end;
$$;

comment on function public.check_conflicts(uuid, timestamptz, timestamptz, uuid, uuid, text) is
'Active appointments in the way of a proposed time (doctor, patient or room). An appointment '
'the caller may read is listed in full; any other only as what is taken (conflict_on), once '
'per kind. For a doctor whose schedule the caller may know and a patient they may book there.';

-- Appointments with who and when in the hospital's local time (seed 001
-- AppointmentDetailResponse, seed 003 doctor view). Names come through their own RLS.
create view public.appointment_details
with (security_invoker = true) as
select
    a.id,
    a.hospital_id,
    a.doctor_id,
    dp.full_name as doctor_name,
    d.specialty as doctor_specialty,
    d.calendar_color,
    a.patient_id,
    a.starts_at,
    a.ends_at,
    h.time_zone,
    a.appointment_type,
    a.mode,
    a.video_room,
    a.reason,
    a.resource,
    a.source,
    a.status,
    a.status_reason,
    a.status_changed_at,
    a.external_ref,
    a.sync_state,
    a.created_at,
    coalesce(p.full_name, a.patient_name_snapshot) as patient_name,
    (a.starts_at at time zone h.time_zone)::date as local_date,
    (a.starts_at at time zone h.time_zone)::time as local_start_time,
    extract(epoch from a.ends_at - a.starts_at)::integer / 60 as duration_minutes
from public.appointments as a
inner join public.hospitals as h on a.hospital_id = h.id
left join public.doctors as d on a.doctor_id = d.id
left join public.profiles as dp on d.user_id = dp.id
left join public.patients as p on a.patient_id = p.id;

-- Today in the hospital's own time zone.
create view public.appointments_today
with (security_invoker = true) as
select ad.*
from public.appointment_details as ad
where ad.local_date = (now() at time zone ad.time_zone)::date;

-- Not yet started and still expected.
create view public.appointments_upcoming
with (security_invoker = true) as
select ad.*
from public.appointment_details as ad
where ad.starts_at >= now() and ad.status in ('requested', 'scheduled');

revoke all on public.appointment_details, public.appointments_today, public.appointments_upcoming
from anon, authenticated;
grant select on public.appointment_details, public.appointments_today, public.appointments_upcoming
to authenticated, service_role;

-- RPC: GET /rest/v1/rpc/appointment_stats?start_date=&end_date=&hospital_id= (seed 001
-- GET /appointments/stats), over the appointments the caller may see.
create function public.appointment_stats(
    start_date date default null,
    end_date date default null,
    hospital_id uuid default null
)
returns jsonb
language sql
stable
set search_path = ''
as $$
    with scoped as (
        select ad.*
        from public.appointment_details as ad
        where (appointment_stats.hospital_id is null or ad.hospital_id = appointment_stats.hospital_id)
            and (appointment_stats.start_date is null or ad.local_date >= appointment_stats.start_date)
            and (appointment_stats.end_date is null or ad.local_date <= appointment_stats.end_date)
    )

    select jsonb_build_object(
        'total', (select count(*) from scoped),
        'today', (select count(*) from scoped as s where s.local_date = (now() at time zone s.time_zone)::date),
        'upcoming', (
            select count(*) from scoped as s where s.starts_at >= now() and s.status in ('requested', 'scheduled')
        ),
        'completed', (select count(*) from scoped as s where s.status = 'completed'),
        'cancelled', (select count(*) from scoped as s where s.status = 'cancelled'),
        'no_show', (select count(*) from scoped as s where s.status = 'no_show'),
        'by_status', (
            select coalesce(jsonb_object_agg(g.status, g.n), '{}')
            from (select s.status, count(*) as n from scoped as s group by s.status) as g
        ),
        'by_type', (
            select coalesce(jsonb_object_agg(g.appointment_type, g.n), '{}')
            from (select s.appointment_type, count(*) as n from scoped as s group by s.appointment_type) as g
        )
    );
$$;

grant execute on function public.book_appointment(
    uuid, timestamptz, timestamptz, uuid, public.appointment_type, public.consultation_mode, text, text,
    public.appointment_source, public.appointment_status, text, text, date, public.sex, uuid
) to authenticated, service_role;
grant execute on function public.reschedule_appointment(uuid, timestamptz, timestamptz, text)
to authenticated, service_role;
grant execute on function public.cancel_appointment(uuid, text) to authenticated, service_role;
grant execute on function public.check_conflicts(uuid, timestamptz, timestamptz, uuid, uuid, text)
to authenticated, service_role;
grant execute on function public.appointment_stats(date, date, uuid) to authenticated, service_role;

grant execute on function private.appointment_clashes(uuid, timestamptz, timestamptz, uuid, text, uuid)
to authenticated, service_role;
grant execute on function private.raise_booking_clash(uuid, timestamptz, timestamptz, uuid, text, uuid)
to authenticated, service_role;
