-- public.register_patient: front desk, CRO and admin register a new person at their own
-- hospital in one call (person + registration in one transaction) and get an MRN generated per
-- hospital and year (TSTA-<year>-000001, ...). Registering at another hospital, or by anyone
-- else, is refused with 42501 and leaves nothing behind: no person, no MRN number used up.

begin;
select plan(26);

select tests.create_world();

-- front desk registers at their own hospital ----------------------------------------------
select tests.act_as('a_front_desk');
select results_eq(
    $$ select mrn, hospital_id, registered_by, referral_source
        from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Harjit Singh', phone => '+919811100001', date_of_birth => '1980-01-01', sex => 'male') $$,
    $$ select ('TSTA-' || to_char(now() at time zone 'UTC', 'YYYY') || '-000001'), tests.id_of('hospitals',
        'TSTA'), tests.user_id('a_front_desk'), null::text $$,
    'front desk of A registers a new patient at A and gets the first MRN of A for this year, signed as registrar'
);
select results_eq(
    $$ select p.full_name, p.phone::text, p.date_of_birth, p.sex::text from public.patients as p
        join public.patient_registrations as r on r.patient_id = p.id where r.mrn like 'TSTA-2___-000001' $$,
    $$ values ('Harjit Singh', '+919811100001', date '1980-01-01', 'male') $$,
    'front desk of A sees the new person with the details given'
);
select results_eq(
    $$ select mrn, referral_source
        from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Kulwant Kaur', referral_source => 'camp') $$,
    $$ select ('TSTA-' || to_char(now() at time zone 'UTC', 'YYYY') || '-000002'), 'camp' $$,
    'the next registration at A gets the next MRN'
);
select results_eq(
    $$ select mrn from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Gurdev Singh', mrn => 'TSTA-PAPER-77') $$,
    $$ values ('TSTA-PAPER-77') $$,
    'an MRN given (from a paper record) is kept'
);

-- front desk cannot register at the other hospital; nothing is left behind ----------------
select throws_ok(
    $$ select * from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTB'),
        full_name => 'Refused Person', phone => '+919811100009') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'front desk of A cannot register a patient at B'
);
select tests.clear_authentication();
select results_eq(
    $$ select count(*)::integer from public.patients where full_name = 'Refused Person' $$,
    array[0],
    'the refused registration left no person behind'
);
select tests.act_as('b_front_desk');
select results_eq(
    $$ select mrn from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTB'),
        full_name => 'Amarjit Kaur') $$,
    $$ select 'TSTB-' || to_char(now() at time zone 'UTC', 'YYYY') || '-000001' $$,
    'B numbers its own MRNs, and the refused attempt used up none of them'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ select * from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Refused By B') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'the admin of B cannot register a patient at A'
);
select tests.clear_authentication();
select results_eq(
    $$ select count(*)::integer from public.patients where full_name = 'Refused By B' $$,
    array[0],
    'the refused registration by the admin of B left no person behind'
);

-- who else may register -------------------------------------------------------------------
select tests.act_as('a_cro');
select results_eq(
    $$ select mrn from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Lead Converted') $$,
    $$ select 'TSTA-' || to_char(now() at time zone 'UTC', 'YYYY') || '-000003' $$,
    'the CRO of A can register a patient at A (a converted lead)'
);
select tests.act_as('a_admin');
select results_eq(
    $$ select mrn from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Registered By Admin') $$,
    $$ select 'TSTA-' || to_char(now() at time zone 'UTC', 'YYYY') || '-000004' $$,
    'the admin of A can register a patient at A'
);
select tests.act_as_service_role();
select results_eq(
    $$ select mrn, registered_by
        from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTB'),
        full_name => 'Voice Caller') $$,
    $$ select ('TSTB-' || to_char(now() at time zone 'UTC', 'YYYY') || '-000002'), null::uuid $$,
    'the service role can register a patient (system work, e.g. the voice agent), with no registrar'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ select * from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Refused Person') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'a patient (a_patient1) cannot register a patient'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ select * from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Refused Person') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'a doctor on the care team (a_doctor) cannot register a patient'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ select * from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Refused Person') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'a nurse on the care team (a_nurse) cannot register a patient'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ select * from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Refused Person') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'the pharmacist of A cannot register a patient'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ select * from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Refused Person') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'a revoked doctor of A cannot register a patient'
);
select tests.act_as('nobody');
select throws_ok(
    $$ select * from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Refused Person') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'a user with no role cannot register a patient'
);
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Refused Person') $$,
    '42501',
    'permission denied for function register_patient',
    'anon cannot call register_patient'
);
select tests.clear_authentication();
select results_eq(
    $$ select count(*)::integer from public.patients where full_name = 'Refused Person' $$,
    array[0],
    'none of the refused registrations left a person behind'
);

-- bad input is refused as a whole ---------------------------------------------------------
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select * from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Bad Phone', phone => '98765') $$,
    '23514',
    null,
    'a phone number not in E.164 is refused'
);
select throws_ok(
    $$ select * from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'Duplicate Mrn', mrn => 'TSTA-PAPER-77') $$,
    '23505',
    null,
    'an MRN already used at A is refused'
);
select tests.clear_authentication();
select results_eq(
    $$ select count(*)::integer from public.patients where full_name in ('Bad Phone', 'Duplicate Mrn') $$,
    array[0],
    'the refused registrations left no person behind'
);
select tests.act_as('a_front_desk');
select results_eq(
    $$ select mrn from public.register_patient(hospital_id => tests.id_of('hospitals', 'TSTA'),
        full_name => 'After Refusals') $$,
    $$ select 'TSTA-' || to_char(now() at time zone 'UTC', 'YYYY') || '-000005' $$,
    'a failed registration does not use up an MRN number'
);

-- who sees the newly registered patient ---------------------------------------------------
select tests.act_as('a_front_desk');
select results_eq(
    $$ select count(*)::integer from public.patients where full_name in ('Harjit Singh', 'Amarjit Kaur') $$,
    array[1],
    'front desk of A sees the patient registered at A, not the one registered at B'
);
select tests.act_as('a_doctor');
select results_eq(
    $$ select count(*)::integer from public.patients where full_name = 'Harjit Singh' $$,
    array[0],
    'a doctor does not see the new patient until assigned to their care team'
);

select * from finish();
rollback;
