-- Conflict answers reveal only what the caller may see (issue 10, findings 5 and 12).
-- A caller learns that a time is taken, and on what (the doctor, the patient, the room), but
-- an appointment they cannot read keeps its id, patient, status and times to itself, in
-- check_conflicts, in the 409 of book_appointment / reschedule_appointment and in a direct
-- INSERT or UPDATE of appointments. check_conflicts answers only for a doctor whose schedule
-- the caller may know and a patient they may book there; a direct booking of a patient the
-- caller cannot reach is refused the same way whether or not that patient is busy.
-- TSTA and TSTB are in Asia/Kolkata (+05:30); 2030-04-01 is a Monday.
begin;
select plan(28);

select tests.create_world();

-- a_doctor also practises at TSTB, under a second doctor profile.
insert into public.staff_memberships (user_id, hospital_id, role)
values (tests.user_id('a_doctor'), tests.id_of('hospitals', 'TSTB'), 'doctor');
insert into public.doctors (user_id, hospital_id, specialty, licence_number)
values (tests.user_id('a_doctor'), tests.id_of('hospitals', 'TSTB'), 'General Medicine', 'PMC-A-1001');
insert into tests.world (kind, name, id)
select
    'doctors',
    'a_doctor_at_b',
    id
from public.doctors
where user_id = tests.user_id('a_doctor') and hospital_id = tests.id_of('hospitals', 'TSTB');
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)
values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 1, '09:00', '17:00', 30);

-- The appointments in the way (written by the system, as a sync would):
--   at_b     a_doctor at TSTB with b_patient3, 04:10-04:50: the doctor is busy elsewhere
--   ab_at_b  b_doctor with ab_patient4 at TSTB, 05:10-05:50: the patient is busy elsewhere
--   a2       a_doctor at TSTA with a_patient2, 06:10-06:50: another patient of TSTA
--   room     a_doctor2 at TSTA with ab_patient4 in Room 9, 07:10-07:50
-- Odd minutes, so that a leaked time is easy to spot in a message.
insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at, resource, status)
values
(
    tests.id_of('hospitals', 'TSTB'), tests.id_of('doctors', 'a_doctor_at_b'), tests.id_of('patients', 'b_patient3'),
    '2030-04-01 04:10Z', '2030-04-01 04:50Z', null, 'requested'
),
(
    tests.id_of('hospitals', 'TSTB'), tests.id_of('doctors', 'b_doctor'), tests.id_of('patients', 'ab_patient4'),
    '2030-04-01 05:10Z', '2030-04-01 05:50Z', null, 'requested'
),
(
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'a_patient2'),
    '2030-04-01 06:10Z', '2030-04-01 06:50Z', null, 'requested'
),
(
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor2'), tests.id_of('patients', 'ab_patient4'),
    '2030-04-01 07:10Z', '2030-04-01 07:50Z', 'Room 9', 'requested'
);
insert into tests.world (kind, name, id)
select
    'appointments',
    case extract(hour from a.starts_at)::integer
        when 4 then 'at_b' when 5 then 'ab_at_b' when 6 then 'a2' else 'room'
    end,
    a.id
from public.appointments as a
where a.starts_at >= '2030-04-01 04:00Z' and a.starts_at < '2030-04-01 08:00Z';
-- An appointment of a_patient1 with a_doctor at TSTA, which the front desk and the patient move.
insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)
values (
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'a_patient1'),
    '2030-04-01 09:00Z', '2030-04-01 09:30Z'
);
insert into tests.world (kind, name, id)
select
    'appointments',
    'mine',
    a.id
from public.appointments as a
where a.patient_id = tests.id_of('patients', 'a_patient1') and a.starts_at = '2030-04-01 09:00Z';

-- Whether a text names any of the appointments at_b, ab_at_b, a2 and room: an id, a patient
-- id or name, the status or an exact time (UTC or local), in any usual spelling. Security
-- definer: it reads what the caller may not.
create function tests.names_a_hidden_appointment(answer text, among text[])
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (
        select
        from public.appointments as a
        join public.patients as p on p.id = a.patient_id
        join tests.world as w on w.kind = 'appointments' and w.id = a.id
        cross join lateral unnest(array[
            a.id::text, a.patient_id::text, p.full_name, a.status::text,
            to_char(a.starts_at at time zone 'UTC', 'HH24:MI'), to_char(a.ends_at at time zone 'UTC', 'HH24:MI'),
            to_char(a.starts_at at time zone 'Asia/Kolkata', 'HH24:MI'),
            to_char(a.ends_at at time zone 'Asia/Kolkata', 'HH24:MI')
        ]) as secret
        where w.name = any(names_a_hidden_appointment.among)
            and position(lower(secret) in lower(names_a_hidden_appointment.answer)) > 0
    );
$$;
grant execute on all functions in schema tests to authenticated;

-- check_conflicts: whose patient -------------------------------------------------------------
select tests.act_as('a_patient1');
select throws_ok(
    $$ select public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 03:00Z', '2030-04-01 08:00Z',
        patient_id => tests.id_of('patients', 'ab_patient4')) $$,
    '42501', null, 'a patient cannot list another patient''s appointments'
);
select throws_ok(
    $$ select public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 03:00Z', '2030-04-01 08:00Z',
        patient_id => tests.id_of('patients', 'b_patient3')) $$,
    '42501', null, 'nor those of another hospital''s patient'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 03:00Z', '2030-04-01 08:00Z',
        patient_id => tests.id_of('patients', 'b_patient3')) $$,
    '42501', null, 'the front desk cannot list the appointments of a patient not registered at its hospital'
);
select is(
    tests.error_of($$ select public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 03:00Z',
        '2030-04-01 08:00Z', patient_id => tests.id_of('patients', 'b_patient3')) $$),
    tests.error_of($$ select public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 03:00Z',
        '2030-04-01 08:00Z', patient_id => gen_random_uuid()) $$),
    'and is told exactly what it would be told of a patient who does not exist'
);
select throws_ok(
    $$ select public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 03:00Z', '2030-04-01 08:00Z',
        exclude_appointment_id => tests.id_of('appointments', 'at_b')) $$,
    'PT404', null, 'nor leave out an appointment it cannot see (which would confirm its time)'
);
select tests.act_as('nobody');
select throws_ok(
    $$ select public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 03:00Z', '2030-04-01 08:00Z') $$,
    'PT404', null, 'a user with no role learns nothing of a doctor''s schedule'
);
select tests.act_as('b_front_desk');
select throws_ok(
    $$ select public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 03:00Z', '2030-04-01 08:00Z') $$,
    'PT404', null, 'nor another hospital''s front desk'
);

-- check_conflicts: what is said of a clash ---------------------------------------------------
select tests.act_as('a_front_desk');
select set_eq(
    $$ select c ->> 'appointment_id' as appointment_id, c ->> 'conflict_on' as conflict_on, c ->> 'status' as status,
        (c ->> 'start_time')::timestamptz as start_time, c ->> 'patient_id' as patient_id
        from jsonb_array_elements(public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 03:00Z',
        '2030-04-01 08:00Z') -> 'conflicting_appointments') as c $$,
    $$ values
        (tests.id_of('appointments', 'a2')::text, 'doctor', 'requested', '2030-04-01 06:10Z'::timestamptz,
            tests.id_of('patients', 'a_patient2')::text),
        (null, 'doctor', null, null, null) $$,
    'the front desk sees its own hospital''s clash in full, and only that the doctor is busy elsewhere'
);
select ok(
    not tests.names_a_hidden_appointment(
        public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 03:00Z', '2030-04-01 06:00Z')::text,
        array['at_b']
    ),
    'nothing of the other hospital''s appointment: no id, patient, status or time'
);
select is(
    public.check_conflicts(
        tests.id_of('doctors', 'a_doctor'), '2030-04-01 05:00Z', '2030-04-01 05:30Z',
        patient_id => tests.id_of('patients', 'ab_patient4')
    ),
    jsonb_build_object(
        'has_conflict', true, 'conflict_count', 1, 'conflicting_appointments', jsonb_build_array(
            jsonb_build_object(
                'appointment_id', null, 'patient_id', null, 'status', null, 'start_time', null, 'end_time', null,
                'conflict_on', 'patient'
            )
        )
    ),
    'a patient of its own busy at the other hospital: that the patient is busy, no more'
);
select tests.act_as('a_patient1');
select is(
    public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 06:00Z', '2030-04-01 06:30Z')
    -> 'conflicting_appointments',
    jsonb_build_array(
        jsonb_build_object(
            'appointment_id', null, 'patient_id', null, 'status', null, 'start_time', null, 'end_time', null,
            'conflict_on', 'doctor'
        )
    ),
    'a patient learns that the doctor is busy, not with whom, since when or in what state'
);
select tests.act_as('a_doctor2');
select ok(
    not tests.names_a_hidden_appointment(
        public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 06:00Z', '2030-04-01 06:30Z')::text,
        array['a2']
    ),
    'a colleague does not see the doctor''s appointment either'
);
select tests.act_as('a_doctor');
select is(
    public.check_conflicts(tests.id_of('doctors', 'a_doctor'), '2030-04-01 04:00Z', '2030-04-01 04:30Z')
    #>> '{conflicting_appointments,0,appointment_id}',
    tests.id_of('appointments', 'at_b')::text,
    'the doctor sees their own appointment at the other hospital'
);
select tests.act_as('b_front_desk');
select is(
    public.check_conflicts(tests.id_of('doctors', 'a_doctor_at_b'), '2030-04-01 06:00Z', '2030-04-01 06:30Z')
    -> 'conflicting_appointments',
    jsonb_build_array(
        jsonb_build_object(
            'appointment_id', null, 'patient_id', null, 'status', null, 'start_time', null, 'end_time', null,
            'conflict_on', 'doctor'
        )
    ),
    'the other hospital''s front desk hears that the doctor is busy at TSTA, nothing more'
);

-- The 409 of the RPCs -------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select is(
    tests.error_of($$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-01 04:00Z',
        '2030-04-01 04:30Z', patient_id => tests.id_of('patients', 'a_patient1')) $$),
    jsonb_build_object(
        'code', '23P01', 'message', 'the doctor is already booked at this time',
        'details', '[{"clash_on": "doctor", "clash_status": null, "clash_ends_at": null, "appointment_id": null, '
        || '"clash_starts_at": null}]',
        'hint', 'choose another time; find_slots lists the free ones'
    ),
    'booking the doctor when busy at the other hospital: a 409 that names nothing of it'
);
select ok(
    not tests.names_a_hidden_appointment(
        tests.error_of($$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-01 05:00Z',
            '2030-04-01 05:30Z', patient_id => tests.id_of('patients', 'ab_patient4')) $$)::text,
        array['ab_at_b']
    ),
    'booking a patient busy at the other hospital names nothing of that appointment'
);
select is(
    tests.error_of($$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-01 05:00Z',
        '2030-04-01 05:30Z', patient_id => tests.id_of('patients', 'ab_patient4')) $$) ->> 'message',
    'the patient is already booked at this time',
    'but says that the patient is busy'
);
select ok(
    not tests.names_a_hidden_appointment(
        tests.error_of($$ select public.reschedule_appointment(tests.id_of('appointments', 'mine'),
            '2030-04-01 04:20Z') $$)::text,
        array['at_b']
    ),
    'nor does moving an appointment onto that time'
);
select alike(
    tests.error_of($$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-01 06:00Z',
        '2030-04-01 06:30Z', patient_id => tests.id_of('patients', 'a_patient1')) $$) ->> 'message',
    'the doctor is already booked from % (appointment ' || tests.id_of('appointments', 'a2') || ')',
    'a clash the front desk may see is still named in full'
);
select tests.act_as('a_patient1');
select is(
    tests.error_of($$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-01 06:00Z') $$)
    ->> 'message',
    'the doctor is already booked at this time',
    'a patient booking a taken time is not told whose it is'
);
select ok(
    not tests.names_a_hidden_appointment(
        tests.error_of($$ select public.reschedule_appointment(tests.id_of('appointments', 'mine'),
            '2030-04-01 06:20Z') $$)::text,
        array['a2']
    ),
    'nor when moving their own appointment onto it'
);

-- Direct writes of the table ----------------------------------------------------------------
select tests.act_as('a_front_desk');
select is(
    tests.error_of($$ insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'),
        tests.id_of('patients', 'a_patient1'), '2030-04-01 04:00Z', '2030-04-01 04:30Z') $$) - 'details',
    jsonb_build_object(
        'code', '23P01', 'message', 'the doctor is already booked at this time',
        'hint', 'choose another time; find_slots lists the free ones'
    ),
    'a direct insert gets the same answer as the RPC'
);
select ok(
    not tests.names_a_hidden_appointment(
        tests.error_of($$ update public.appointments set starts_at = '2030-04-01 04:20Z', ends_at = '2030-04-01 04:40Z'
            where id = tests.id_of('appointments', 'mine') $$)::text,
        array['at_b']
    ),
    'and so does a direct update of the time'
);
select is(
    tests.error_of($$ insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor2'),
        tests.id_of('patients', 'b_patient3'), '2030-04-01 04:00Z', '2030-04-01 04:30Z') $$),
    tests.error_of($$ insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor2'),
        tests.id_of('patients', 'b_patient3'), '2030-04-02 04:00Z', '2030-04-02 04:30Z') $$),
    'booking another hospital''s patient is refused alike whether or not they are busy then'
);
select is(
    tests.error_of($$ insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor2'),
        tests.id_of('patients', 'b_patient3'), '2030-04-01 04:00Z', '2030-04-01 04:30Z') $$),
    tests.error_of($$ insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor2'),
        gen_random_uuid(), '2030-04-01 04:00Z', '2030-04-01 04:30Z') $$),
    'and alike a patient who does not exist'
);
select is(
    tests.error_of($$ insert into public.appointments
        (hospital_id, doctor_id, starts_at, ends_at, patient_name_snapshot) values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'b_doctor'),
        '2030-04-01 05:00Z', '2030-04-01 05:30Z', 'Walk-in') $$),
    tests.error_of($$ insert into public.appointments
        (hospital_id, doctor_id, starts_at, ends_at, patient_name_snapshot) values (tests.id_of('hospitals', 'TSTA'), gen_random_uuid(),
        '2030-04-01 05:00Z', '2030-04-01 05:30Z', 'Walk-in') $$),
    'a doctor of another hospital is refused like one who does not exist, busy or not'
);
select is(
    tests.error_of($$ insert into public.appointments
        (hospital_id, doctor_id, starts_at, ends_at, patient_name_snapshot) values (tests.id_of('hospitals', 'TSTB'), tests.id_of('doctors', 'b_doctor'),
        '2030-04-01 05:00Z', '2030-04-01 05:30Z', 'Walk-in') $$),
    tests.error_of($$ insert into public.appointments
        (hospital_id, doctor_id, starts_at, ends_at, patient_name_snapshot) values (tests.id_of('hospitals', 'TSTB'), tests.id_of('doctors', 'b_doctor'),
        '2030-04-02 05:00Z', '2030-04-02 05:30Z', 'Walk-in') $$),
    'and a walk-in at another hospital says nothing of that hospital''s schedule'
);

select tests.act_as('a_patient1');
select ok(
    not tests.names_a_hidden_appointment(
        tests.error_of($$ update public.appointments set starts_at = '2030-04-01 06:20Z', ends_at = '2030-04-01 06:40Z'
            where id = tests.id_of('appointments', 'mine') $$)::text,
        array['a2']
    ),
    'a patient moving their appointment by PATCH learns nothing of the other patient'' appointment'
);

select * from finish();
rollback;
