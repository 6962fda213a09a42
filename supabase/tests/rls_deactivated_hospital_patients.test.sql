-- A deactivated hospital, seen by its patients. The patient keeps reading their own record
-- there (right of access): registration, appointments, lab results, prescriptions, consent
-- history, and the hospital's name; and may still withdraw a consent. What serves new care
-- goes: the doctors, pharmacies and staff directories, working hours, slots and booking.
-- Outcomes as in tests.check_matrix: 'seen' (some of its rows there), 'none', 'done', or the
-- error's code and message.
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

-- Whether the current role sees any row of public.<kind> at TSTA.
create function pg_temp.any_at_tsta(kind text)
returns text
language sql
as $$
    select format(
        'select ''seen'' where exists (select from public.%I where hospital_id = tests.id_of(''hospitals'', ''TSTA''))',
        kind
    );
$$;

-- What stays: the patient's own record, and the hospital's name, marked inactive.
select tests.action('the hospital', $$
    select case when is_active then 'active' else 'inactive' end from public.hospitals
    where id = tests.id_of('hospitals', 'TSTA')
$$);
select tests.action('their registration', pg_temp.any_at_tsta('patient_registrations'));
select tests.action('their appointments', pg_temp.any_at_tsta('appointments'));
select tests.action('their lab results', pg_temp.any_at_tsta('lab_results'));
select tests.action('their prescriptions', pg_temp.any_at_tsta('prescriptions'));
select tests.action('the consent documents they signed', pg_temp.any_at_tsta('consent_documents'));
select tests.action('withdraw a consent given there', $$
    select 'done' from public.withdraw_consent(tests.id_of('hospitals', 'TSTA'), 'contact_sms')
$$);
-- What goes: the directories and booking.
select tests.action('the doctors', pg_temp.any_at_tsta('doctors'));
select tests.action('the pharmacies', pg_temp.any_at_tsta('pharmacies'));
select tests.action('the staff directory', $$
    select 'seen' from public.profiles where id in (tests.user_id('a_doctor2'), tests.user_id('a_front_desk'))
$$);
select tests.action('the doctors'' working hours', pg_temp.any_at_tsta('doctor_working_hours'));
select tests.action('free slots (find_slots already offered none)', $$
    select 'slot' from public.find_slots(
        doctor_id => tests.id_of('doctors', 'a_doctor'), from_time => now() + interval '1 day',
        to_time => now() + interval '2 days'
    )
$$);
select tests.action('book', $$
    select 'booked' from public.book_appointment(
        tests.id_of('doctors', 'a_doctor'),
        (
            select (current_date + 5 + time '10:00') at time zone h.time_zone
            from public.hospitals as h where h.id = tests.id_of('hospitals', 'TSTA')
        )
    )
$$);

select tests.expect(
    'a_patient1',
    'inactive', 'seen', 'seen', 'seen', 'seen', 'seen', 'done',
    'none', 'none', 'none', 'none', 'none', 'PT404: no such doctor'
);
select * from tests.check_matrix(null);

select * from finish();
rollback;
