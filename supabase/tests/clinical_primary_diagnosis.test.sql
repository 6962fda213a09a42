-- One primary diagnosis: per encounter (as before), and, among diagnoses recorded without an
-- encounter (the patient's problem list at a hospital), at most one current primary per
-- patient per hospital. Archived or resolved primaries do not count; other hospitals keep
-- their own.
begin;
select plan(9);

select tests.create_world();

select tests.act_as('a_doctor');
select lives_ok(
    $$ insert into public.diagnoses (patient_id, hospital_id, icd10_code, description, is_primary)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'I20.9', 'Angina', true) $$,
    'a care-team doctor records a primary diagnosis without an encounter'
);
select throws_ok(
    $$ insert into public.diagnoses (patient_id, hospital_id, icd10_code, description, is_primary)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'E11.9', 'Diabetes', true) $$,
    '23505', null,
    'a second current primary diagnosis without an encounter is refused'
);
select lives_ok(
    $$ insert into public.diagnoses (patient_id, hospital_id, icd10_code, description)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'E11.9', 'Diabetes') $$,
    'a secondary diagnosis beside it is fine'
);
select lives_ok(
    $$ with e as (
        insert into public.encounters (patient_id, hospital_id)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA')) returning id
    )
    insert into public.diagnoses (patient_id, hospital_id, encounter_id, icd10_code, description, is_primary)
        select tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), e.id, 'J45.9', 'Asthma', true
        from e $$,
    'an encounter''s own primary diagnosis is not affected'
);
select throws_ok(
    $$ update public.diagnoses set is_primary = true where icd10_code = 'E11.9'
        and patient_id = tests.id_of('patients', 'a_patient1') $$,
    '23505', null,
    'promoting the secondary to primary is refused while the first is primary'
);
select lives_ok(
    $$ update public.diagnoses set resolved_at = now() where icd10_code = 'I20.9'
        and patient_id = tests.id_of('patients', 'a_patient1') $$,
    'the first primary is resolved'
);
select lives_ok(
    $$ update public.diagnoses set is_primary = true where icd10_code = 'E11.9'
        and patient_id = tests.id_of('patients', 'a_patient1') $$,
    'then another diagnosis becomes the current primary'
);

-- Archived primaries do not count.
select tests.act_as('a_admin');
update public.diagnoses set deleted_at = now()
where icd10_code = 'E11.9' and patient_id = tests.id_of('patients', 'a_patient1');
select tests.act_as('a_doctor');
select lives_ok(
    $$ insert into public.diagnoses (patient_id, hospital_id, icd10_code, description, is_primary)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'I10', 'Hypertension', true) $$,
    'once the primary is archived, a new primary can be recorded'
);

-- Each hospital keeps its own problem list.
select tests.act_as('b_doctor');
select lives_ok(
    $$ insert into public.diagnoses (patient_id, hospital_id, icd10_code, description, is_primary)
        values (tests.id_of('patients', 'ab_patient4'), tests.id_of('hospitals', 'TSTB'), 'I10', 'Hypertension', true) $$,
    'another hospital records its own primary for a patient treated at both'
);

select * from finish();
rollback;
