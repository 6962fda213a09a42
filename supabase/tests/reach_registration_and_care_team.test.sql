-- Issue 10, findings 1 to 3: registering another hospital's patient, a two-hospital doctor
-- booking into hospital B's care team, and a deactivated hospital's care team.
begin;
select plan(29);

select tests.create_world();

-- 1. Registering another hospital's patient ------------------------------------------------
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id)
        values (tests.id_of('patients', 'b_patient3'), tests.id_of('hospitals', 'TSTA')) $$,
    '42501', null,
    'front desk of A cannot register B''s patient by knowing their id'
);
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, registered_by)
        values (tests.id_of('patients', 'b_patient3'), tests.id_of('hospitals', 'TSTA'), tests.user_id('a_front_desk')) $$,
    '42501', null,
    'not even naming themselves as the registrar'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id)
        values (tests.id_of('patients', 'b_patient3'), tests.id_of('hospitals', 'TSTA')) $$,
    '42501', null,
    'nor can A''s admin'
);
select is_empty(
    $$ select 1 from public.patients where id = tests.id_of('patients', 'b_patient3') $$,
    'A still does not see B''s patient'
);

-- A new person is registered in one call, as before.
select tests.act_as('a_front_desk');
select isnt(
    (public.register_patient(tests.id_of('hospitals', 'TSTA'), 'Harpreet Gill', '+919811100001')).mrn, null,
    'register_patient still creates and registers a new person'
);
-- The patient proves presence with a code from their app.
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.register_existing_patient(tests.id_of('hospitals', 'TSTA'), 'ABCDEFGH') $$,
    'PT404', 'no such registration code',
    'a made-up code registers nobody'
);
select tests.act_as('b_patient3');
create temporary table issued on commit drop as select public.issue_registration_code() as answer;
select matches(
    (select answer ->> 'code' from issued), '^[A-Z2-9]{8}$', 'the patient gets an 8-character code'
);
select tests.act_as('a_nurse');
select throws_ok(
    format(
        $$ select public.register_existing_patient(%L, %L) $$,
        tests.id_of('hospitals', 'TSTA'), (select answer ->> 'code' from issued)
    ),
    '42501', null,
    'a nurse does not register patients, code or not'
);
select tests.act_as('a_front_desk');
select is(
    (public.register_existing_patient(
        tests.id_of('hospitals', 'TSTA'), lower((select answer ->> 'code' from issued))
    )).patient_id,
    tests.id_of('patients', 'b_patient3'),
    'with the code, A''s front desk registers B''s patient (case does not matter)'
);
select throws_ok(
    format(
        $$ select public.register_existing_patient(%L, %L) $$,
        tests.id_of('hospitals', 'TSTA'), (select answer ->> 'code' from issued)
    ),
    'PT404', 'no such registration code',
    'a code works once'
);

-- What the new registration does not open: B's identifiers, B's audit entries, the phone.
-- Registered at A after B (in this one test transaction, both read now()).
select tests.clear_authentication();
update public.patient_registrations set registered_at = now() + interval '1 minute'
where patient_id = tests.id_of('patients', 'b_patient3') and hospital_id = tests.id_of('hospitals', 'TSTA');
select tests.act_as('b_front_desk');
select public.set_patient_identifier(tests.id_of('patients', 'b_patient3'), 'aadhaar', '2345 6789 0123');
select tests.act_as('a_front_desk');
select is_empty(
    $$ select 1 from public.patient_identifiers where patient_id = tests.id_of('patients', 'b_patient3') $$,
    'A does not see the identifier B recorded'
);
select throws_ok(
    $$ select public.reveal_patient_identifier(gen_random_uuid()) $$,
    '42501', null,
    'an unknown identifier is refused like one of another hospital'
);
reset role;
create temporary table b_identifier on commit drop as
select i.id from public.patient_identifiers as i
where i.patient_id = tests.id_of('patients', 'b_patient3');
grant select on b_identifier to authenticated;
select tests.act_as('a_front_desk');
select throws_ok(
    format($$ select public.reveal_patient_identifier(%L) $$, (select id from b_identifier)),
    '42501', null,
    'A cannot reveal the number B recorded'
);
select is_empty(
    $$ select private.find_patients_by_identifier('aadhaar', '234567890123') $$,
    'nor find the patient by it'
);
select tests.act_as('b_front_desk');
select isnt(
    public.reveal_patient_identifier((select id from b_identifier)), null,
    'B still reveals it'
);
select tests.act_as('a_admin');
select is_empty(
    $$ select 1 from public.audit_trail
        where patient_id = tests.id_of('patients', 'b_patient3') and hospital_id = tests.id_of('hospitals', 'TSTB') $$,
    'A''s admin reads none of B''s audit entries about the shared patient'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ update public.patients set phone = '+919899999999' where id = tests.id_of('patients', 'b_patient3') $$,
    '42501', null,
    'A cannot change the sign-in phone of a patient whose home hospital is B'
);
select tests.act_as('b_front_desk');
select lives_ok(
    $$ update public.patients set phone = '+919800020033' where id = tests.id_of('patients', 'b_patient3') $$,
    'the home hospital can'
);
select tests.act_as('a_front_desk');
select lives_ok(
    $$ update public.patients set phone = '+919800010011' where id = tests.id_of('patients', 'a_patient1') $$,
    'and A changes its own patients'' phones'
);

-- 2. A doctor of two hospitals ---------------------------------------------------------------
-- a_doctor also works at TSTB and is on ab_patient4's care team at TSTA only.
select tests.clear_authentication();
insert into public.staff_memberships (user_id, hospital_id, role)
values (tests.user_id('a_doctor'), tests.id_of('hospitals', 'TSTB'), 'doctor');
insert into public.doctors (user_id, hospital_id, specialty, licence_number)
values (tests.user_id('a_doctor'), tests.id_of('hospitals', 'TSTB'), 'General Medicine', 'PMC-B-9001');
insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
values (tests.id_of('patients', 'ab_patient4'), tests.id_of('hospitals', 'TSTA'), tests.user_id('a_doctor'), 'doctor');
select tests.act_as('b_doctor');
select public.write_clinical_note(
    tests.id_of('patients', 'ab_patient4'), tests.id_of('hospitals', 'TSTB'), '{"assessment": "B only"}'
);

select tests.act_as('a_doctor');
select throws_ok(
    $$ insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)
        select tests.id_of('hospitals', 'TSTB'), d.id, tests.id_of('patients', 'ab_patient4'),
            now() + interval '2 days', now() + interval '2 days 20 minutes'
        from public.doctors as d
        where d.user_id = tests.user_id('a_doctor') and d.hospital_id = tests.id_of('hospitals', 'TSTB') $$,
    '42501', null,
    'the doctor cannot book B''s patient at B through their care of the patient at A'
);
select is_empty(
    $$ select 1 from public.care_team_members
        where member_id = tests.user_id('a_doctor') and hospital_id = tests.id_of('hospitals', 'TSTB') $$,
    'and is not on B''s care team'
);
select is(
    private.can_read_clinical(tests.id_of('patients', 'ab_patient4'), tests.id_of('hospitals', 'TSTB')), false,
    'nor reads B''s record'
);

-- Booked by B's front desk, the doctor joins B's care team: the hospital decided it.
select tests.act_as('b_front_desk');
insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)
select
    tests.id_of('hospitals', 'TSTB'),
    d.id,
    tests.id_of('patients', 'ab_patient4'),
    now() + interval '3 days',
    now() + interval '3 days 20 minutes'
from public.doctors as d
where d.user_id = tests.user_id('a_doctor') and d.hospital_id = tests.id_of('hospitals', 'TSTB');
select tests.act_as('a_doctor');
select is(
    private.can_read_clinical(tests.id_of('patients', 'ab_patient4'), tests.id_of('hospitals', 'TSTB')), true,
    'booked by B''s front desk, the doctor is on B''s care team'
);

-- A doctor booking a follow-up for their own patient still works, and adds nobody.
select lives_ok(
    $$ insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'a_patient1'),
            now() + interval '4 days', now() + interval '4 days 20 minutes') $$,
    'a doctor books a follow-up for a patient of their care team'
);

-- 3. A deactivated hospital's care team -----------------------------------------------------
select tests.act_as('a_doctor');
create temporary table a_note on commit drop as
select public.write_clinical_note(
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"assessment": "before"}'
) as id;
grant select on a_note to authenticated;
select tests.clear_authentication();
update public.hospitals set is_active = false
where id = tests.id_of('hospitals', 'TSTA');

select tests.act_as('a_doctor');
select throws_ok(
    format($$ select public.clinical_note(%L) $$, (select id from a_note)),
    'PT404', null,
    'a deactivated hospital''s doctor no longer reads its notes'
);
select throws_ok(
    $$ select public.write_clinical_note(
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"assessment": "after"}') $$,
    '42501', null,
    'nor writes new ones'
);
select is_empty(
    $$ update public.clinical_notes set status = status
        where hospital_id = tests.id_of('hospitals', 'TSTA') returning 1 $$,
    'nor changes the old ones'
);
select is_empty(
    $$ select 1 from public.patient_timeline(tests.id_of('patients', 'a_patient1')) where kind = 'clinical_note' $$,
    'nor sees them on the timeline'
);
select is(
    private.holds_active_role(tests.user_id('a_doctor'), tests.id_of('hospitals', 'TSTA'), 'doctor'), false,
    'and holds no active role there to join a care team with'
);

select * from finish();
rollback;
