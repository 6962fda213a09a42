-- A deactivated hospital, seen by its patients. The patient keeps reading their own record
-- there (right of access): registration, appointments, lab results, prescriptions, consent
-- history, and the hospital's name; and may still withdraw a consent. What serves new care
-- goes: the doctors, pharmacies and staff directories, working hours, slots and booking.
begin;
select plan(13);

select tests.create_world();

-- Before the hospital closes: an appointment, a final lab result, a prescription, a consent.
select tests.act_as('a_admin');
insert into public.consent_documents (hospital_id, purpose, version, title, body)
values (tests.id_of('hospitals', 'TSTA'), 'contact_sms', 1, 'SMS', 'You may text me.');
select tests.act_as('a_patient1');
select public.grant_consent((
    select d.id from public.consent_documents as d
    where d.purpose = 'contact_sms'
));
select tests.act_as('a_front_desk');
select public.book_appointment(
    tests.id_of('doctors', 'a_doctor'), now() + interval '3 days', now() + interval '3 days 30 minutes',
    patient_id => tests.id_of('patients', 'a_patient1')
) is not null as booked;
select tests.act_as('a_doctor');
insert into public.lab_results (patient_id, hospital_id, test_name, result_value, status, finalised_at)
values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'HbA1c', '6.1', 'normal', now());
select public.issue_prescription(
    tests.id_of('patients', 'a_patient1'), '[{"name": "Metformin", "quantity": 30}]'
) is not null as issued;
select tests.clear_authentication();
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at)
select
    tests.id_of('doctors', 'a_doctor'),
    tests.id_of('hospitals', 'TSTA'),
    d,
    '09:00',
    '17:00'
from generate_series(1, 7) as d;

-- The platform deactivates TSTA.
update public.hospitals set is_active = false
where id = tests.id_of('hospitals', 'TSTA');

select tests.act_as('a_patient1');
-- What stays: the patient's own record.
select results_eq(
    $$ select name from public.hospitals where id = tests.id_of('hospitals', 'TSTA') $$,
    $$ select name from public.hospitals where id = tests.id_of('hospitals', 'TSTA') and not is_active $$,
    'the patient still sees the hospital their record is from, marked inactive'
);
select isnt_empty(
    $$ select 1 from public.patient_registrations where hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    'and their registration there'
);
select isnt_empty(
    $$ select 1 from public.appointments where hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    'and their appointments there'
);
select isnt_empty(
    $$ select 1 from public.lab_results where hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    'and their lab results there'
);
select isnt_empty(
    $$ select 1 from public.prescriptions where hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    'and their prescriptions there'
);
select isnt_empty(
    $$ select 1 from public.consent_documents where hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    'and the consent documents they signed there'
);
select lives_ok(
    $$ select public.withdraw_consent(tests.id_of('hospitals', 'TSTA'), 'contact_sms') $$,
    'and may still withdraw a consent given there'
);

-- What goes: the directories and booking.
select is_empty(
    $$ select 1 from public.doctors where hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    'the hospital''s doctors are no longer listed to the patient'
);
select is_empty(
    $$ select 1 from public.pharmacies where hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    'nor its pharmacies'
);
select is_empty(
    $$ select 1 from public.profiles where id in (tests.user_id('a_doctor2'), tests.user_id('a_front_desk')) $$,
    'nor its staff directory'
);
select is_empty(
    $$ select 1 from public.doctor_working_hours where hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    'nor its doctors'' working hours'
);
select is_empty(
    $$ select 1 from public.find_slots(doctor_id => tests.id_of('doctors', 'a_doctor'),
        from_time => now() + interval '1 day', to_time => now() + interval '2 days') $$,
    'nor any free slot (find_slots already offered none)'
);
select throws_ok(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'),
        (select (current_date + 5 + time '10:00') at time zone h.time_zone
            from public.hospitals as h where h.id = tests.id_of('hospitals', 'TSTA'))) $$,
    'PT404', 'no such doctor',
    'and the patient can no longer book there'
);

select * from finish();
rollback;
