-- Conflict answers reveal only what the caller may see (issue 10, findings 5 and 12).
--
-- check_conflicts listed any patient's appointments in any hospital (id, times, status) to a
-- patient or any front desk: it took any patient_id, and its clash list, like the 409 of
-- book_appointment and reschedule_appointment, named every appointment in the way with its
-- id and exact times, whoever's it was. A direct POST of an appointment for a patient the
-- caller cannot reach answered "the patient is busy then" (23P01) or "not registered here"
-- (23503): a yes/no oracle on another hospital's schedule.
--
-- Now:
-- * A clash is reported in full (id, patient, status, times) only when the caller can read
--   that appointment (its RLS, checked as the caller). Any other is reported as what is
--   taken (the doctor, the patient, the room) and nothing else, once per kind however many
--   there are: a caller needs to know that a time is taken to book, never whose it is.
-- * check_conflicts answers only for a doctor whose schedule the caller may know (else the
--   PT404 of book_appointment), for a patient whose registration at the doctor's hospital
--   the caller can read (else 42501, the same for a patient who does not exist), and leaves
--   out only an appointment the caller can read (else PT404).
-- * Every write of appointments, the RPCs' and direct POST / PATCH alike, passes two more
--   before triggers, after the others (which look at nothing but the caller and the doctor):
--   appointments_verify_reach (on insert) refuses a hospital whose schedule the caller may
--   not know, a doctor not of that hospital (as the guard answers a doctor who does not
--   exist) and a patient whose registration there the caller cannot read, whether or not
--   anyone is busy then; appointments_want_free_time raises the clash as above before the
--   exclusion constraints meet the row, so a client reads the same 409 whichever path it
--   took. The constraints stay the rule; the booking locks of 20261124000100 (taken by an
--   earlier trigger) make a concurrent booker wait and then see the committed row.
--
-- The changed functions are defined once, in final form, in the migration that created them:
-- private.raise_booking_clash (20261122000600), public.check_conflicts (20261122000600).

-- The clashes as the caller may be told of them. Security invoker: the appointments' RLS
-- decides which clashes the caller sees in full; private.appointment_clashes (security
-- definer) finds them all. Seen clashes first, by time; then one row per kind of unseen one.
create function private.clash_report(
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
set search_path = ''
as $$
    with clash as (
        select
            c.clash_on,
            v.id,
            v.patient_id,
            v.status,
            v.starts_at,
            v.ends_at
        from private.appointment_clashes(
            clash_report.doctor_id, clash_report.starts_at, clash_report.ends_at,
            clash_report.patient_id, clash_report.resource, clash_report.exclude_id
        ) as c
        left join public.appointments as v on c.appointment_id = v.id
    ),

    reported as (
        select
            clash.id,
            clash.clash_on,
            clash.patient_id,
            clash.status,
            clash.starts_at,
            clash.ends_at
        from clash
        where clash.id is not null
        union
        select
            null::uuid,
            clash.clash_on,
            null::uuid,
            null::public.appointment_status,
            null::timestamptz,
            null::timestamptz
        from clash
        where clash.id is null
    )

    select
        reported.id,
        reported.clash_on,
        reported.patient_id,
        reported.status,
        reported.starts_at,
        reported.ends_at
    from reported
    order by reported.starts_at nulls last, reported.id, reported.clash_on;
$$;

-- Who may book what, checked before anything looks for clashes, so that an unreachable
-- hospital, doctor or patient gets one answer whether or not anyone is busy then. Security
-- invoker: the caller's own RLS on doctors and patient_registrations is the reach.
create function private.check_appointment_reach()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if private.acting_as_system() then
        return new;
    end if;
    if not private.can_see_schedules(new.hospital_id) then
        perform private.raise_forbidden(
            'you may not book appointments at this hospital',
            hint => 'book at a hospital where you work or are registered'
        );
    end if;
    if not exists (
        select from public.doctors as d
        where d.id = new.doctor_id and d.hospital_id = new.hospital_id
    ) then
        -- As private.guard_appointment answers a doctor who does not exist.
        perform private.raise_unprocessable(
            'this doctor is not taking appointments', hint => 'choose an active doctor of the hospital'
        );
    end if;
    if new.patient_id is not null and not exists (
        select from public.patient_registrations as r
        where r.patient_id = new.patient_id and r.hospital_id = new.hospital_id
    ) then
        perform private.raise_forbidden(
            'this patient is not yours to book at this hospital',
            hint => 'give a patient registered at the doctor''s hospital whom you may see'
        );
    end if;
    return new;
end;
$$;

-- Named to run after the guard, the locks, the state machine and the patient's hours check
-- (each answers the caller about their own request), and before appointments_want_free_time.
create trigger appointments_verify_reach
before insert on public.appointments
for each row execute function private.check_appointment_reach();

-- A clash as the caller may be told of it, before the exclusion constraints meet the row.
-- Security invoker (see private.clash_report). The system (service role, jobs) may read
-- every appointment: the constraint's own error tells it as much.
create function private.refuse_appointment_clash()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if private.acting_as_system() or new.status in ('cancelled', 'no_show') then
        return new;
    end if;
    if tg_op = 'UPDATE' and (new.starts_at, new.ends_at, new.resource, new.status, new.doctor_user_id)
        is not distinct from (old.starts_at, old.ends_at, old.resource, old.status, old.doctor_user_id) then
        return new;
    end if;
    if exists (
        select from private.clash_report(
            new.doctor_id, new.starts_at, new.ends_at, new.patient_id, new.resource, new.id
        )
    ) then
        perform private.raise_booking_clash(
            new.doctor_id, new.starts_at, new.ends_at, new.patient_id, new.resource, new.id
        );
    end if;
    return new;
end;
$$;

-- Named to run last of the before triggers: after appointments_lock_booking_keys (which
-- makes a concurrent booker of the same keys wait for the first to commit) and after the
-- checks of who may book what and when.
create trigger appointments_want_free_time
before insert or update of starts_at, ends_at, resource, status on public.appointments
for each row execute function private.refuse_appointment_clash();

grant execute on function private.clash_report(uuid, timestamptz, timestamptz, uuid, text, uuid)
to authenticated, service_role;
