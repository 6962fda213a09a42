-- Appointments: one row per booking, from any path (app, web, front desk, voice agent,
-- Cal.com). No double booking by construction: exclusion constraints keep any doctor,
-- patient or resource (room / machine) from holding two overlapping active appointments,
-- whichever path wrote them; a violation is SQLSTATE 23P01, which PostgREST answers with 409.

create type public.appointment_status as enum (
    'requested', 'scheduled', 'arrived', 'checked_in', 'in_consultation', 'completed', 'cancelled', 'no_show'
);
create type public.appointment_type as enum (
    'consultation', 'follow_up', 'procedure', 'scan', 'ivf_consult', 'iui_procedure'
);
create type public.appointment_source as enum ('app', 'web', 'front_desk', 'voice_agent', 'calcom');
-- Mirror state towards Cal.com: local (nothing to sync), pending, synced, failed.
create type public.sync_state as enum ('local', 'pending', 'synced', 'failed');

-- Target of the appointments' (doctor, person) foreign key.
alter table public.doctors add constraint doctors_id_user_key unique (id, user_id);

create table public.appointments (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete restrict,
    doctor_id uuid not null,
    -- The doctor as a person (filled from doctors.user_id): one doctor working at two
    -- hospitals has two doctor profiles but cannot be in two places at once.
    doctor_user_id uuid not null,
    -- Null for leads and walk-ins not yet registered: the snapshot fields say who comes.
    patient_id uuid,
    patient_name_snapshot text,
    phone_snapshot public.phone_e164,
    dob_snapshot date,
    sex_snapshot public.sex,
    lead_id uuid,
    starts_at timestamptz not null,
    ends_at timestamptz not null,
    appointment_type public.appointment_type not null default 'consultation',
    mode public.consultation_mode not null default 'in_person',
    -- Video/audio room reference (the call provider's room name).
    video_room text,
    reason text,
    -- Room or machine booked with the appointment (seed 004 resource_id).
    resource text,
    source public.appointment_source not null default 'app',
    -- Cal.com booking uid (or another scheduler's reference).
    external_ref text constraint appointments_external_ref_unique unique,
    sync_state public.sync_state not null default 'local',
    status public.appointment_status not null default 'scheduled',
    status_reason text,
    status_changed_at timestamptz not null default now(),
    booked_by uuid references public.profiles (id) on delete set null default auth.uid(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint appointments_time_order check (ends_at > starts_at),
    constraint appointments_length_plausible check (ends_at - starts_at <= interval '12 hours'),
    constraint appointments_someone_comes check (
        patient_id is not null or length(btrim(patient_name_snapshot)) > 0
    ),
    constraint appointments_doctor_same_hospital_fkey foreign key (doctor_id, hospital_id)
    references public.doctors (id, hospital_id) on delete restrict,
    -- A patient is booked only where they are registered.
    constraint appointments_patient_registered_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict,
    constraint appointments_doctor_person_fkey foreign key (doctor_id, doctor_user_id)
    references public.doctors (id, user_id) on delete restrict on update cascade,
    constraint appointments_no_doctor_overlap exclude using gist (
        doctor_user_id with =, tstzrange(starts_at, ends_at) with &&
    ) where (status not in ('cancelled', 'no_show')),
    constraint appointments_no_patient_overlap exclude using gist (
        patient_id with =, tstzrange(starts_at, ends_at) with &&
    ) where (patient_id is not null and status not in ('cancelled', 'no_show')),
    constraint appointments_no_resource_overlap exclude using gist (
        hospital_id with =, resource with =, tstzrange(starts_at, ends_at) with &&
    ) where (resource is not null and status not in ('cancelled', 'no_show'))
);

create index appointments_doctor_idx on public.appointments (doctor_id, hospital_id, starts_at);
create index appointments_patient_idx on public.appointments (patient_id, hospital_id, starts_at);
create index appointments_hospital_starts_idx on public.appointments (hospital_id, starts_at);
create index appointments_booked_by_idx on public.appointments (booked_by);
create index appointments_doctor_person_idx on public.appointments (doctor_id, doctor_user_id);

create function private.fill_appointment_doctor_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    -- Security definer: the doctor's profile row may be invisible to a booking patient.
    select d.user_id into new.doctor_user_id from public.doctors as d where d.id = new.doctor_id;
    return new;
end;
$$;

create trigger appointments_fill_doctor_user
before insert or update of doctor_id on public.appointments
for each row execute function private.fill_appointment_doctor_user();

create trigger appointments_set_updated_at
before update on public.appointments
for each row execute function private.set_updated_at();

-- The appointment machine ---------------------------------------------------------------
insert into private.state_machine_states (machine, state, label, position, is_terminal)
values
('appointment', 'requested', 'Requested', 1, false),
('appointment', 'scheduled', 'Scheduled', 2, false),
('appointment', 'arrived', 'Arrived', 3, false),
('appointment', 'checked_in', 'Checked in', 4, false),
('appointment', 'in_consultation', 'In consultation', 5, false),
('appointment', 'completed', 'Completed', 6, true),
('appointment', 'cancelled', 'Cancelled', 7, true),
('appointment', 'no_show', 'No show', 8, true);

insert into private.state_transitions (machine, from_state, to_state, roles, requires_reason, description)
values
(
    'appointment', null, 'requested', '{patient,front_desk,hospital_admin,cro,doctor}', false,
    'a request waiting for the hospital to confirm'
),
(
    'appointment', null, 'scheduled', '{patient,front_desk,hospital_admin,cro,doctor}', false,
    'a confirmed booking'
),
('appointment', 'requested', 'scheduled', '{front_desk,hospital_admin,cro,doctor}', false, 'confirmed'),
('appointment', 'scheduled', 'arrived', '{front_desk,hospital_admin,nurse}', false, 'the patient entered the clinic'),
(
    'appointment', 'arrived', 'checked_in', '{front_desk,nurse,hospital_admin}', false,
    'vitals taken, waiting for the doctor'
),
('appointment', 'checked_in', 'in_consultation', '{doctor}', false, 'the doctor started the consultation'),
(
    'appointment', 'scheduled', 'in_consultation', '{doctor}', false,
    'a video or audio consult starts without an arrival'
),
('appointment', 'in_consultation', 'completed', '{doctor}', false, 'the doctor finished the consultation'),
(
    'appointment', 'requested', 'cancelled', '{patient,doctor,front_desk,hospital_admin,cro}', true,
    'withdrawn or declined'
),
('appointment', 'scheduled', 'cancelled', '{patient,doctor,front_desk,hospital_admin,cro}', true, 'cancelled'),
('appointment', 'arrived', 'cancelled', '{doctor,front_desk,hospital_admin}', true, 'cancelled at the clinic'),
('appointment', 'checked_in', 'cancelled', '{doctor,front_desk,hospital_admin}', true, 'cancelled at the clinic'),
('appointment', 'scheduled', 'no_show', '{doctor,front_desk,hospital_admin}', false, 'the patient did not come');

create trigger appointments_state_machine
before insert or update of status on public.appointments
for each row execute function private.enforce_state_machine('appointment');

-- Field rules: who may change what, when. Security definer: reads the doctor's membership
-- and records reschedules in status_history.
create function private.guard_appointment()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    roles public.app_role[];
    staff_here boolean;
begin
    if not private.acting_as_system() then
        roles := private.actor_roles(new.hospital_id, new.patient_id);
        staff_here := cardinality(array_remove(roles, 'patient')) > 0;
    end if;

    if tg_op = 'INSERT' then
        if not exists (
            select from public.doctors as d
            join public.staff_memberships as m
                on m.user_id = d.user_id and m.hospital_id = d.hospital_id and m.role = 'doctor'
            where d.id = new.doctor_id and d.is_active and m.is_active
        ) then
            perform private.raise_unprocessable(
                'this doctor is not taking appointments', hint => 'choose an active doctor of the hospital'
            );
        end if;
        if new.mode in ('video', 'audio') and new.video_room is null then
            new.video_room := 'cb-' || replace(new.id::text, '-', '');
        end if;
        return new;
    end if;

    if (new.starts_at, new.ends_at) is distinct from (old.starts_at, old.ends_at) then
        if old.status not in ('requested', 'scheduled') or new.status is distinct from old.status then
            perform private.raise_conflict(
                format('a %s appointment cannot be rescheduled', old.status),
                hint => 'only requested or scheduled appointments can move; change the time and nothing else'
            );
        end if;
        perform private.record_transition(
            'appointment', new.id, new.hospital_id, old.status::text, new.status::text, roles[1],
            nullif(btrim(new.status_reason), ''),
            jsonb_build_object(
                'event', 'rescheduled',
                'previous_starts_at', old.starts_at, 'previous_ends_at', old.ends_at,
                'starts_at', new.starts_at, 'ends_at', new.ends_at
            )
        );
    end if;

    -- A patient (who is not also staff here) changes only the time, mode, reason and status.
    if not private.acting_as_system() and not staff_here
        and (
            new.appointment_type, new.video_room, new.resource, new.sync_state
        ) is distinct from (
            old.appointment_type, old.video_room, old.resource, old.sync_state
        ) then
        perform private.raise_forbidden(
            'patients may change only the time, mode, reason and status of their appointment',
            hint => 'ask the front desk'
        );
    end if;
    return new;
end;
$$;

create trigger appointments_guard
before insert or update on public.appointments
for each row execute function private.guard_appointment();

-- Booking puts the doctor on the patient's care team only when the booker may decide who
-- treats the patient there: the patient, the hospital's front office (front desk, CRO,
-- admin) or the system (voice agent, Cal.com). Security definer: patients and CROs book but
-- may not write care_team_members.
create function private.add_booked_doctor_to_care_team()
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

comment on function private.add_booked_doctor_to_care_team() is
'Booking adds the doctor to the care team only when the patient, the hospital''s front office '
'or the system booked.';

create trigger appointments_add_doctor_to_care_team
after insert on public.appointments
for each row execute function private.add_booked_doctor_to_care_team();

-- Notifications (private.outbox). One reminder per appointment, and only for a confirmed
-- (scheduled) one: queued when it becomes or is booked as scheduled, or is moved while
-- scheduled (due at private.appointment_reminder_due), and withdrawn on any move or as soon as
-- it leaves `scheduled`. Security definer: reads the patient's and doctor's contact facts
-- whatever the actor may read, and writes the private outbox.
create function private.notify_appointment_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    doctor_user uuid;
    kind text;
    reminder_due timestamptz;
    payload jsonb := jsonb_build_object(
        'appointment_id', new.id, 'doctor_id', new.doctor_id, 'starts_at', new.starts_at,
        'ends_at', new.ends_at, 'mode', new.mode, 'status', new.status
    );
begin
    select d.user_id into doctor_user from public.doctors as d where d.id = new.doctor_id;

    if tg_op = 'INSERT' then
        kind := 'appointment_booked';
    elsif new.status is distinct from old.status and new.status = 'cancelled' then
        kind := 'appointment_cancelled';
        payload := payload || jsonb_build_object('reason', new.status_reason);
    elsif new.status is distinct from old.status and new.status = 'scheduled' then
        kind := 'appointment_confirmed';
    elsif (new.starts_at, new.ends_at) is distinct from (old.starts_at, old.ends_at) then
        kind := 'appointment_rescheduled';
        payload := payload || jsonb_build_object(
            'previous_starts_at', old.starts_at, 'previous_ends_at', old.ends_at
        );
    end if;

    -- A reminder waits for its time; any change of time, confirmation or leaving
    -- `scheduled` withdraws the one waiting (a new one is queued below when due).
    if tg_op = 'UPDATE' and (
        (new.starts_at, new.ends_at) is distinct from (old.starts_at, old.ends_at)
        or new.status is distinct from old.status
    ) then
        update private.outbox as o
        set state = 'cancelled'
        where o.subject_id = new.id and o.kind = 'appointment_reminder' and o.state = 'pending';
    end if;

    if kind is null then
        return null;
    end if;

    if new.patient_id is not null then
        perform private.enqueue(
            kind, 'appointment', new.id, new.hospital_id, 'patient', new.patient_id,
            private.patient_channel(new.patient_id), payload
        );
        reminder_due := private.appointment_reminder_due(new.starts_at);
        if kind in ('appointment_booked', 'appointment_rescheduled', 'appointment_confirmed')
            and new.status = 'scheduled' and reminder_due is not null then
            perform private.enqueue(
                'appointment_reminder', 'appointment', new.id, new.hospital_id, 'patient', new.patient_id,
                private.patient_channel(new.patient_id), payload, reminder_due
            );
        end if;
    end if;
    if kind <> 'appointment_confirmed' then
        perform private.enqueue(kind, 'appointment', new.id, new.hospital_id, 'user', doctor_user, 'push', payload);
    end if;
    return null;
end;
$$;

create trigger appointments_notify
after insert or update on public.appointments
for each row execute function private.notify_appointment_change();

-- Row-level security ----------------------------------------------------------------------
alter table public.appointments enable row level security;

revoke all on public.appointments from anon, authenticated;
grant all on public.appointments to service_role;
grant select on public.appointments to authenticated;
grant insert (
    id, hospital_id, doctor_id, patient_id, patient_name_snapshot, phone_snapshot, dob_snapshot, sex_snapshot,
    lead_id, starts_at, ends_at, appointment_type, mode, video_room, reason, resource, source, status,
    status_reason
) on public.appointments to authenticated;
grant update (
    starts_at, ends_at, appointment_type, mode, video_room, reason, resource, status, status_reason
) on public.appointments to authenticated;

-- Patients see their own, doctors theirs, hospital staff their hospital's.
create policy appointments_select_patient on public.appointments
for select to authenticated
using (patient_id = (select private.own_patient_id()));

create policy appointments_select_doctor on public.appointments
for select to authenticated
using (doctor_id = any((select private.own_doctor_ids())::uuid[]));

create policy appointments_select_staff on public.appointments
for select to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk,cro,nurse}'))::uuid[]));

-- A patient books for themself where registered; front desk, admin and CRO book anyone of
-- their hospital; a doctor books their own patients (follow-ups): those whose care team
-- they are on at that hospital.
create policy appointments_insert_patient on public.appointments
for insert to authenticated
with check (
    patient_id = (select private.own_patient_id())
    and hospital_id = any((select private.patient_hospital_ids())::uuid[])
);

create policy appointments_insert_staff on public.appointments
for insert to authenticated
with check (hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk,cro}'))::uuid[]));

create policy appointments_insert_doctor on public.appointments
for insert to authenticated
with check (
    doctor_id = any((select private.own_doctor_ids())::uuid[])
    and private.on_care_team(patient_id, hospital_id)
);

-- Status changes are further limited per role by the state machine.
create policy appointments_update_patient on public.appointments
for update to authenticated
using (patient_id = (select private.own_patient_id()))
with check (patient_id = (select private.own_patient_id()));

create policy appointments_update_doctor on public.appointments
for update to authenticated
using (doctor_id = any((select private.own_doctor_ids())::uuid[]))
with check (doctor_id = any((select private.own_doctor_ids())::uuid[]));

create policy appointments_update_staff on public.appointments
for update to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk,cro,nurse}'))::uuid[]))
with check (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk,cro,nurse}'))::uuid[])
);

-- The history of an appointment is visible to whoever sees the appointment.
create policy status_history_select_appointment on public.status_history
for select to authenticated
using (
    machine = 'appointment'
    and exists (
        select from public.appointments as a
        where a.id = status_history.subject_id
    )
);
