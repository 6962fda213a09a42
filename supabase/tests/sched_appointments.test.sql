-- Appointments: booking per role, no double booking whatever the path (doctor, patient,
-- resource), clear conflicts, reschedule and cancel, the care team, the outbox, the
-- today / upcoming / stats views and the RLS of the table, views and RPCs.
-- TSTA is in Asia/Kolkata (+05:30): a_doctor works Mondays 09:00-17:00 local = 03:30-11:30 UTC.
begin;
select plan(44);

select tests.create_world();
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)
values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 1, '09:00', '17:00', 30);

-- Booking -----------------------------------------------------------------------------------
select tests.act_as('a_patient2');
select tests.remember('p2_first', id)
from public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-01 04:00Z', mode => 'video');
select results_eq(
    $$ select a.patient_id, a.status::text, a.ends_at, a.video_room is not null
        from public.appointments as a where a.id = tests.recall('p2_first') $$,
    $$ values (tests.id_of('patients', 'a_patient2'), 'scheduled', '2030-04-01 04:30Z'::timestamptz, true) $$,
    'a patient books for themself: one slot long by default, with a video room'
);
select throws_ok(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-01 15:00Z') $$,
    'PT422', null,
    'a patient cannot book outside the doctor''s hours'
);
select throws_ok(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-01 05:00Z',
        patient_id => tests.id_of('patients', 'a_patient1')) $$,
    '42501', null,
    'a patient cannot book for another patient'
);
select tests.clear_authentication();
select is(
    (
        select count(*)::integer from public.care_team_members
        where
            patient_id = tests.id_of('patients', 'a_patient2')
            and member_id = tests.user_id('a_doctor')
            and ended_at is null
    ),
    1, 'booking put the doctor on the patient''s care team'
);
select results_eq(
    $$ select kind, recipient_kind, state from private.outbox
        where subject_id = tests.recall('p2_first') order by kind, recipient_kind $$,
    $$ values ('appointment_booked', 'patient', 'pending'), ('appointment_booked', 'user', 'pending'),
        ('appointment_reminder', 'patient', 'pending') $$,
    'booking tells the patient and the doctor and queues a reminder, in the same transaction'
);
select is(
    (
        select deliver_after from private.outbox
        where subject_id = tests.recall('p2_first') and kind = 'appointment_reminder'
    ),
    '2030-03-31 04:00Z'::timestamptz, 'the reminder is due a day before'
);

-- No double booking -------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select throws_like(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-01 04:15Z',
        patient_id => tests.id_of('patients', 'a_patient1')) $$,
    'the doctor is already booked from % (appointment ' || tests.recall('p2_first') || ')',
    'an overlapping booking of the doctor is refused, naming the appointment in the way'
);
select throws_ok(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-01 04:15Z',
        patient_id => tests.id_of('patients', 'a_patient1')) $$,
    '23P01', null, 'with SQLSTATE 23P01 (HTTP 409)'
);
select throws_ok(
    $$ insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'a_patient1'),
        '2030-04-01 04:29Z', '2030-04-01 05:00Z') $$,
    '23P01', null, 'a direct insert past the RPC is refused by the constraint too'
);
select lives_ok(
    $$ select tests.remember('p1_adjacent', id) from public.book_appointment(tests.id_of('doctors', 'a_doctor'),
        '2030-04-01 04:30Z', patient_id => tests.id_of('patients', 'a_patient1'), resource => 'Room 1') $$,
    'back-to-back appointments (end = start) are fine'
);
select throws_like(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor2'), '2030-04-01 04:45Z',
        patient_id => tests.id_of('patients', 'a_patient1')) $$,
    'the patient is already booked%',
    'a patient cannot hold two overlapping appointments, even with different doctors'
);
select throws_like(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor2'), '2030-04-01 04:45Z',
        patient_id => tests.id_of('patients', 'a_patient2'), resource => 'Room 1') $$,
    'the resource is already booked%',
    'a room or machine cannot be booked twice at once'
);
select lives_ok(
    $$ select tests.remember('walk_in', id) from public.book_appointment(tests.id_of('doctors', 'a_doctor2'),
        '2030-04-01 04:45Z', patient_name => 'Walk-in Person', patient_phone => '+919811111111', source => 'front_desk',
        resource => 'Room 2') $$,
    'the front desk books a walk-in by name, outside any working hours'
);
select results_eq(
    $$ select (public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 03:00Z', '2030-04-01 06:00Z')
        ->> 'conflict_count')::integer $$,
    array[2],
    'check_conflicts lists every conflict, not only the first'
);
select is(
    public.check_conflicts(
        tests.id_of('doctors', 'a_doctor'), '2030-04-01 03:00Z', '2030-04-01 04:10Z',
        exclude_appointment_id => tests.recall('p2_first')
    ) ->> 'has_conflict',
    'false', 'check_conflicts can leave out the appointment being moved'
);

-- Who books ---------------------------------------------------------------------------------
select tests.act_as('a_cro');
select lives_ok(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor2'), '2030-04-02 04:00Z',
        patient_id => tests.id_of('patients', 'ab_patient4')) $$,
    'a CRO books any patient of their hospital'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor2'), '2030-04-03 04:00Z',
        patient_id => tests.id_of('patients', 'a_patient1')) $$,
    '42501', null, 'a nurse does not book'
);
select tests.act_as('a_doctor');
select lives_ok(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-08 04:00Z',
        patient_id => tests.id_of('patients', 'a_patient1'), appointment_type => 'follow_up') $$,
    'a doctor books a follow-up for a patient of their care team'
);
select throws_ok(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-08 05:00Z',
        patient_id => tests.id_of('patients', 'ab_patient4')) $$,
    '42501', null, 'but not for a patient outside it'
);
select tests.act_as('b_front_desk');
select throws_ok(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-08 06:00Z',
        patient_id => tests.id_of('patients', 'ab_patient4')) $$,
    'PT404', 'no such doctor', 'another hospital''s front desk cannot see the doctor'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_revoked_doctor'), '2030-04-08 06:00Z',
        patient_id => tests.id_of('patients', 'a_patient2')) $$,
    'PT422', 'this doctor is not taking appointments', 'a doctor whose membership was revoked cannot be booked'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ update public.appointments set external_ref = 'cal-1' $$,
    '42501', null, 'the Cal.com reference is the system''s to set'
);

-- Reschedule and cancel ---------------------------------------------------------------------
select tests.act_as('a_patient2');
select results_eq(
    $$ select id, starts_at, ends_at from public.reschedule_appointment(
        tests.recall('p2_first'), '2030-04-01 06:00Z', reason => 'traffic') $$,
    $$ select tests.recall('p2_first'), '2030-04-01 06:00Z'::timestamptz,
        '2030-04-01 06:30Z'::timestamptz $$,
    'rescheduling keeps the appointment and its length'
);
select results_eq(
    $$ select details ->> 'event', (details ->> 'previous_starts_at')::timestamptz,
        (details ->> 'starts_at')::timestamptz,
        actor_role::text, reason
        from public.status_history
        where subject_id = tests.recall('p2_first') and details <> '{}' $$,
    $$ values ('rescheduled', '2030-04-01 04:00Z'::timestamptz, '2030-04-01 06:00Z'::timestamptz, 'patient',
        'traffic') $$,
    'the history records the old and new times, who moved it and why'
);
select throws_ok(
    $$ select public.reschedule_appointment(
        tests.recall('p2_first'), '2030-04-01 04:30Z') $$,
    '23P01', null, 'rescheduling onto a taken time is a conflict'
);
select tests.clear_authentication();
select results_eq(
    $$ select state, deliver_after from private.outbox
        where subject_id = tests.recall('p2_first') and kind = 'appointment_reminder'
        order by created_at, state $$,
    $$ values ('cancelled', '2030-03-31 04:00Z'::timestamptz), ('pending', '2030-03-31 06:00Z'::timestamptz) $$,
    'a reschedule cancels the old reminder and queues a new one'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ select public.cancel_appointment(tests.recall('p2_first'), null) $$,
    '22023', null, 'cancelling needs a reason'
);
select results_eq(
    $$ select status::text, status_reason from public.cancel_appointment(
        tests.recall('p2_first'), 'feeling better') $$,
    $$ values ('cancelled', 'feeling better') $$,
    'a patient cancels their own appointment with a reason'
);
select throws_ok(
    $$ select public.reschedule_appointment(
        tests.recall('p2_first'), '2030-04-01 07:00Z') $$,
    'PT409', 'a cancelled appointment cannot be rescheduled', 'a cancelled appointment does not move'
);
select tests.clear_authentication();
select is(
    (
        select count(*)::integer from private.outbox
        where
            subject_id = tests.recall('p2_first')
            and kind = 'appointment_cancelled'
    ),
    2, 'cancelling tells the patient and the doctor'
);
select is_empty(
    $$ select 1 from private.outbox where subject_id = tests.recall('p2_first')
        and kind = 'appointment_reminder' and state = 'pending' $$,
    'and withdraws the reminder'
);

-- Row-level security ----------------------------------------------------------------------
select tests.act_as('a_patient1');
select set_eq(
    $$ select patient_id from public.appointments $$,
    array[tests.id_of('patients', 'a_patient1')],
    'a patient sees only their own appointments'
);
select tests.act_as('a_doctor2');
select set_eq(
    $$ select doctor_id from public.appointments $$,
    array[tests.id_of('doctors', 'a_doctor2')],
    'a doctor sees only their own appointments'
);
select tests.act_as('a_front_desk');
select is((select count(*)::integer from public.appointments), 5, 'the front desk sees all of its hospital''s');
select tests.act_as('a_pharmacist');
select is_empty($$ select 1 from public.appointments $$, 'a pharmacist sees none');
select tests.act_as('b_admin');
select is_empty($$ select 1 from public.appointment_details $$, 'another hospital''s admin sees none');
select tests.act_as('nobody');
select is_empty($$ select 1 from public.appointments $$, 'a user with no role sees none');
select throws_ok(
    $$ select public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 03:00Z', '2030-04-01 06:00Z') $$,
    'PT404', 'no such doctor', 'nor learns of conflicts of a hospital they do not belong to'
);
select tests.act_as_anon();
select throws_ok($$ select 1 from public.appointments $$, '42501', null, 'anon reads no appointment');
select throws_ok(
    $$ select public.book_appointment(gen_random_uuid(), now()) $$, '42501', null, 'anon may not book'
);

-- Views and stats -------------------------------------------------------------------------
select tests.clear_authentication();
insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)
values (
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor2'), tests.id_of('patients', 'a_patient2'),
    date_trunc('hour', now()) + interval '2 hours', date_trunc('hour', now()) + interval '150 minutes'
);
select tests.act_as('a_front_desk');
select is(
    (
        select count(*)::integer from public.appointments_today
        where starts_at between now() and now() + interval '1 day'
    ),
    (
        select count(*)::integer from public.appointments
        where
            (starts_at at time zone 'Asia/Kolkata')::date = (now() at time zone 'Asia/Kolkata')::date
            and starts_at between now() and now() + interval '1 day'
    ),
    'appointments_today is today in the hospital''s time zone'
);
select is(
    (select count(*)::integer from public.appointments_upcoming),
    5, 'appointments_upcoming lists the expected ones still to come (not the cancelled)'
);
select results_eq(
    $$ select (s ->> 'total')::integer, (s ->> 'cancelled')::integer, (s -> 'by_type' ->> 'follow_up')::integer,
        (s -> 'by_status' ->> 'scheduled')::integer
        from public.appointment_stats(hospital_id => tests.id_of('hospitals', 'TSTA')) as s $$,
    $$ values (6, 1, 1, 5) $$,
    'appointment_stats counts totals, by status and by type'
);
select tests.act_as('a_patient1');
select is(
    (public.appointment_stats() ->> 'total')::integer, 2, 'a patient''s stats cover only their own appointments'
);

select * from finish();
rollback;
