-- Appointments: what people hear (one reminder per confirmed appointment, the reschedule
-- notice with old and new times, nothing from a refused booking), one doctor working at two
-- hospitals (busy as a person in find_slots, conflicts and the 409), and the views as each
-- role sees them. TSTA and TSTB are in Asia/Kolkata (+05:30); 2030-04-01 is a Monday.
begin;
select plan(19);

select tests.create_world();

-- a_doctor also practises at TSTB, under a second doctor profile.
insert into public.staff_memberships (user_id, hospital_id, role)
values (tests.user_id('a_doctor'), tests.id_of('hospitals', 'TSTB'), 'doctor');
insert into public.doctors (user_id, hospital_id, specialty, licence_number)
values (tests.user_id('a_doctor'), tests.id_of('hospitals', 'TSTB'), 'General Medicine', 'PMC-A-1001');
create temporary table a_doctor_at_b as
select id from public.doctors
where user_id = tests.user_id('a_doctor') and hospital_id = tests.id_of('hospitals', 'TSTB');
grant select on a_doctor_at_b to authenticated;
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)
values
(tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 1, '09:00', '17:00', 30),
((select id from a_doctor_at_b), tests.id_of('hospitals', 'TSTB'), 1, '09:00', '17:00', 30);

-- One reminder, for a confirmed appointment --------------------------------------------
select tests.act_as('a_front_desk');
select tests.remember('request', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor'), '2030-04-01 05:00Z',
    patient_id => tests.id_of('patients', 'a_patient2'), status => 'requested'
);
select tests.clear_authentication();
select set_eq(
    $$ select kind || ':' || recipient_kind from private.outbox
        where subject_id = tests.recall('request') $$,
    array['appointment_booked:patient', 'appointment_booked:user'],
    'a request tells the patient and the doctor, with no reminder yet'
);
select tests.act_as('a_front_desk');
update public.appointments set status = 'scheduled'
where id = tests.recall('request');
select tests.clear_authentication();
select results_eq(
    $$ select kind, state, deliver_after from private.outbox
        where subject_id = tests.recall('request')
            and kind in ('appointment_confirmed', 'appointment_reminder') order by kind $$,
    $$ values ('appointment_confirmed', 'pending', now()),
        ('appointment_reminder', 'pending', '2030-03-31 05:00Z'::timestamptz) $$,
    'its confirmation tells the patient and queues the one reminder, due a day before'
);
select tests.act_as('a_front_desk');
update public.appointments set status = 'arrived'
where id = tests.recall('request');
select tests.clear_authentication();
select is_empty(
    $$ select 1 from private.outbox where subject_id = tests.recall('request')
        and kind = 'appointment_reminder' and state = 'pending' $$,
    'a patient who has arrived is not reminded'
);

-- The reschedule notice -------------------------------------------------------------------
select tests.act_as('a_front_desk');
select tests.remember('moved', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor'), '2030-04-01 06:00Z', patient_id => tests.id_of('patients', 'ab_patient4')
);
do $$
begin
    perform public.reschedule_appointment(
        tests.recall('moved'), '2030-04-01 07:00Z', reason => 'doctor in surgery'
    );
end;
$$;
select tests.clear_authentication();
select set_eq(
    $$ select recipient_kind, (payload ->> 'previous_starts_at')::timestamptz as previous_starts_at,
        (payload ->> 'starts_at')::timestamptz as starts_at
        from private.outbox
        where subject_id = tests.recall('moved') and kind = 'appointment_rescheduled' $$,
    $$ values ('patient', '2030-04-01 06:00Z'::timestamptz, '2030-04-01 07:00Z'::timestamptz),
        ('user', '2030-04-01 06:00Z'::timestamptz, '2030-04-01 07:00Z'::timestamptz) $$,
    'a reschedule tells the patient and the doctor the old and the new time'
);
select results_eq(
    $$ select deliver_after from private.outbox
        where subject_id = tests.recall('moved')
        and kind = 'appointment_reminder' and state = 'pending' $$,
    $$ values ('2030-03-31 07:00Z'::timestamptz) $$,
    'and leaves exactly one reminder, for the new time'
);
select is(
    (
        select count(*)::integer from public.appointments
        where id = tests.recall('moved')
    ),
    1, 'the appointment is the same row, moved'
);

-- A refused booking leaves nothing behind -----------------------------------------------
create temporary table before_refusal as
select
    (select count(*) from private.outbox) as outbox,
    (select count(*) from public.status_history) as history,
    (select count(*) from public.appointments) as appointments;
grant select on before_refusal to authenticated;
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-01 07:15Z',
        patient_id => tests.id_of('patients', 'a_patient1')) $$,
    '23P01', null, 'a clashing booking is refused'
);
select tests.clear_authentication();
select results_eq(
    $$ select (select count(*) from private.outbox), (select count(*) from public.status_history),
        (select count(*) from public.appointments) $$,
    $$ select outbox, history, appointments from before_refusal $$,
    'and leaves no notification, history or appointment: they share its transaction'
);

-- One doctor, two hospitals ----------------------------------------------------------------
select tests.act_as('a_front_desk');
select tests.remember('at_a', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor'), '2030-04-01 04:00Z', patient_id => tests.id_of('patients', 'a_patient1')
);
select tests.act_as('b_patient3');
select is(
    (
        select count(*)::integer from public.find_slots(
            '2030-04-01 03:30Z', '2030-04-01 05:00Z', (select id from a_doctor_at_b)
        )
    ),
    2, 'TSTB''s patient is not offered the slot the doctor spends at TSTA'
);
select results_eq(
    $$ select s.starts_at
        from public.find_slots('2030-04-01 03:30Z', '2030-04-01 05:00Z', (select id from a_doctor_at_b)) as s $$,
    $$ values ('2030-04-01 03:30Z'::timestamptz), ('2030-04-01 04:30Z') $$,
    'the free slots are the ones around it'
);
select tests.act_as('b_front_desk');
select throws_ok(
    $$ select public.book_appointment((select id from a_doctor_at_b), '2030-04-01 04:00Z',
        patient_id => tests.id_of('patients', 'b_patient3')) $$,
    '23P01', 'the doctor is already booked at this time',
    'booking the doctor at TSTB then is a conflict that names nothing of the TSTA appointment'
);
select is(
    public.check_conflicts((select id from a_doctor_at_b), '2030-04-01 03:00Z', '2030-04-01 06:00Z')
    -> 'conflicting_appointments',
    jsonb_build_array(
        jsonb_build_object(
            'appointment_id', null, 'patient_id', null, 'status', null, 'start_time', null, 'end_time', null,
            'conflict_on', 'doctor'
        )
    ),
    'check_conflicts reports that the doctor is busy, not which appointment, whose, when or in what state'
);
select is_empty(
    $$ select 1 from public.appointments where id = tests.recall('at_a') $$,
    'while TSTB''s front desk still cannot read it'
);

-- The views as each role sees them ----------------------------------------------------------
select tests.act_as('a_patient1');
select set_eq(
    $$ select patient_id from public.appointments_upcoming $$,
    array[tests.id_of('patients', 'a_patient1')],
    'a patient''s upcoming list holds only their own'
);
select is(
    (
        select doctor_name from public.appointment_details
        where id = tests.recall('at_a')
    ),
    'A Doctor', 'with the doctor''s name'
);
select tests.act_as('a_doctor2');
select is_empty($$ select 1 from public.appointments_upcoming $$, 'a doctor with no appointments sees none');
select tests.act_as('a_doctor');
select is(
    (select count(*)::integer from public.appointments_upcoming),
    2, 'a doctor sees their own upcoming ones (the arrived one is no longer upcoming)'
);
select tests.act_as('b_front_desk');
select is_empty(
    $$ select 1 from public.appointment_details where hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    'another hospital''s front desk sees none of TSTA''s'
);
select is(
    (public.appointment_stats(hospital_id => tests.id_of('hospitals', 'TSTA')) ->> 'total')::integer,
    0, 'nor counts them in the stats'
);

select * from finish();
rollback;
