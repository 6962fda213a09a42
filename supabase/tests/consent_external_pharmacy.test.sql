-- Consent where a prescription leaves the hospital: it goes to another hospital's pharmacy
-- (the doctor's pick or the patient's standing choice) only while the patient's
-- external_pharmacy consent at the issuing hospital stands, and the outside pharmacy reads and
-- works it only while that consent stands, checked on every query. The hospital's own
-- pharmacies are unaffected.
begin;
select plan(31);

select tests.create_world();

select tests.act_as('a_admin');
insert into public.consent_documents (hospital_id, purpose, version, title, body)
values (
    tests.id_of('hospitals', 'TSTA'), 'external_pharmacy', 1, 'Outside pharmacies',
    'You may send my prescriptions to a pharmacy outside the hospital.'
);

-- What the current role sees of the outside prescription, one word per table or view.
create function pg_temp.outside_seen()
returns setof text
language sql
as $$
    select 'prescription' from public.prescriptions
    where id = tests.recall('outside')
    union all
    select distinct 'items' from public.prescription_items
    where prescription_id = tests.recall('outside')
    union all
    select distinct 'dispensings' from public.prescription_dispensings as d
    join public.prescription_items as i on i.id = d.prescription_item_id
    where i.prescription_id = tests.recall('outside')
    union all
    select 'details' from public.prescription_details
    where id = tests.recall('outside')
    union all
    select distinct 'history' from public.status_history
    where subject_id = tests.recall('outside');
$$;
grant execute on function pg_temp.outside_seen() to authenticated;

-- Routing without consent: refused -------------------------------------------------------------
select tests.act_as('a_doctor');
select throws_ok(
    $$ select public.issue_prescription(tests.id_of('patients', 'a_patient1'),
        '[{"name": "Atorvastatin", "quantity": 30}]',
        pharmacy_id => tests.id_of('pharmacies', 'b_central')) $$,
    '42501', 'the patient has not consented to sending prescriptions to an outside pharmacy',
    'without consent, the doctor cannot send a prescription to another hospital''s pharmacy'
);
select throws_ok(
    $$ insert into public.prescriptions (hospital_id, patient_id, doctor_id, pharmacy_id)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'),
        tests.id_of('doctors', 'a_doctor'),
        tests.id_of('pharmacies', 'b_central')) $$,
    '42501', 'the patient has not consented to sending prescriptions to an outside pharmacy',
    'nor by writing the row directly'
);
select tests.act_as('a_patient1');
select lives_ok(
    $$ insert into public.patient_pharmacy_choices (patient_id, hospital_id, pharmacy_id)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
        tests.id_of('pharmacies', 'b_central')) $$,
    'the patient may choose a pharmacy of another hospital as their standing choice'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ select public.issue_prescription(tests.id_of('patients', 'a_patient1'),
        '[{"name": "Atorvastatin", "quantity": 30}]') $$,
    '42501', 'the patient has not consented to sending prescriptions to an outside pharmacy',
    'but a prescription is not routed by that choice without consent'
);
select tests.clear_authentication();
select is_empty(
    $$ select 1 from public.prescriptions where pharmacy_id = tests.id_of('pharmacies', 'b_central')
        and hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    'nothing was sent'
);

-- With consent: routed, and the outside pharmacy reads and works it ----------------------------
select tests.act_as('a_patient1');
select lives_ok(
    $$ select public.grant_consent(
        (select d.id from public.consent_documents as d where d.purpose = 'external_pharmacy')) $$,
    'the patient grants the external_pharmacy consent'
);
select tests.act_as('a_doctor');
select tests.remember('outside', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'),
    '[{"name": "Atorvastatin", "strength": "10 mg", "frequency": "at night", "quantity": 30}]'
);
select is(
    (
        select pharmacy_id from public.prescriptions
        where id = tests.recall('outside')
    ),
    tests.id_of('pharmacies', 'b_central'),
    'with consent, the prescription goes to the patient''s chosen outside pharmacy'
);
select tests.clear_authentication();
select tests.remember('outside line', i.id)
from public.prescription_items as i
where i.prescription_id = tests.recall('outside');
select tests.act_as('b_pharmacist');
select set_eq(
    'select pg_temp.outside_seen()', array['prescription', 'items', 'details', 'history'],
    'the outside pharmacist sees the prescription, its lines, the view and its history'
);
select is(
    (
        select medications -> 0 ->> 'medicine'
        from public.read_prescriptions(array[tests.recall('outside')])
    ),
    'Atorvastatin', 'and reads its contents in clear'
);
select lives_ok(
    $$ update public.prescriptions set status = 'approved'
        where id = tests.recall('outside') $$,
    'the outside pharmacist approves it'
);
select is(
    (
        select actor_role::text from public.status_history
        where subject_id = tests.recall('outside') and to_state = 'approved'
    ),
    'pharmacist', 'as the pharmacist, in the history'
);
select lives_ok(
    $$ insert into public.prescription_dispensings (prescription_item_id, quantity)
        values (tests.recall('outside line'), 10) $$,
    'and records a partial dispensing'
);
select set_eq(
    'select pg_temp.outside_seen()', array['prescription', 'items', 'dispensings', 'details', 'history'],
    'which it then sees'
);
select tests.act_as('a_pharmacist');
select is_empty('select pg_temp.outside_seen()', 'the hospital''s own pharmacy, not sent it, sees nothing of it');
select tests.act_as('b_admin');
select is_empty('select pg_temp.outside_seen()', 'nor does the outside hospital''s admin');
select tests.act_as('b_doctor');
select is_empty('select pg_temp.outside_seen()', 'nor its doctors');
select tests.act_as('a_patient1');
select ok(
    exists (
        select from public.record_disclosures
        where
            action = 'READ'
            and table_name = 'public.prescriptions'
            and actor_id = tests.id_of('profiles', 'b_pharmacist')
            and actor_roles = '{pharmacist}'
            and row_id = tests.recall('outside')::text
    ),
    'the outside pharmacist''s read is in the patient''s accounting of disclosures, as a pharmacist'
);

-- Withdrawal cuts the outside pharmacy off on the next query -----------------------------------
select tests.act_as('a_patient1');
select lives_ok(
    $$ select public.withdraw_consent(tests.id_of('hospitals', 'TSTA'), 'external_pharmacy') $$,
    'the patient withdraws the consent'
);
select tests.act_as('b_pharmacist');
select
    is_empty(
        'select pg_temp.outside_seen()', 'the outside pharmacist no longer sees the prescription, lines, dispensings'
    );
select is_empty(
    $$ select 1 from public.read_prescriptions(array[tests.recall('outside')]) $$,
    'nor reads its contents'
);
select is_empty(
    $$ update public.prescriptions set status = 'ready_for_pickup'
        where id = tests.recall('outside') returning 1 $$,
    'nor moves it on'
);
select throws_ok(
    $$ insert into public.prescription_dispensings (prescription_item_id, quantity)
        values (tests.recall('outside line'), 1) $$,
    '42501', null, 'nor dispenses from it'
);
select tests.act_as('a_patient1');
select is(
    (
        select medications -> 0 ->> 'dispensed_quantity'
        from public.read_prescriptions(array[tests.recall('outside')])
    ),
    '10.00', 'the patient still reads their prescription and what was dispensed'
);
select tests.act_as('a_doctor');
select is(
    (
        select count(*)::integer from public.prescription_details
        where id = tests.recall('outside')
    ),
    1, 'and so does the issuing doctor'
);
select throws_ok(
    $$ select public.issue_prescription(tests.id_of('patients', 'a_patient1'),
        '[{"name": "Atorvastatin", "quantity": 30}]',
        pharmacy_id => tests.id_of('pharmacies', 'b_central')) $$,
    '42501', 'the patient has not consented to sending prescriptions to an outside pharmacy',
    'and nothing more can be sent outside'
);

-- The hospital's own pharmacy needs no such consent -------------------------------------------
select tests.remember('inside', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'), '[{"name": "Metformin", "quantity": 60}]',
    pharmacy_id => tests.id_of('pharmacies', 'a_central')
);
select is(
    (
        select pharmacy_id from public.prescriptions
        where id = tests.recall('inside')
    ),
    tests.id_of('pharmacies', 'a_central'), 'after the withdrawal, the doctor still sends to the hospital''s pharmacy'
);
select tests.act_as('a_pharmacist');
select is(
    (
        select medications -> 0 ->> 'medicine'
        from public.read_prescriptions(array[tests.recall('inside')])
    ),
    'Metformin', 'which reads it in clear'
);
select lives_ok(
    $$ update public.prescriptions set status = 'approved'
        where id = tests.recall('inside') $$,
    'and approves it'
);

-- Consent granted again: the outside pharmacy sees it again ------------------------------------
select tests.act_as('a_patient1');
select lives_ok(
    $$ select public.grant_consent(
        (select d.id from public.consent_documents as d where d.purpose = 'external_pharmacy')) $$,
    'the patient grants the consent again'
);
select tests.act_as('b_pharmacist');
select set_eq(
    'select pg_temp.outside_seen()', array['prescription', 'items', 'dispensings', 'details', 'history'],
    'and the outside pharmacy sees the prescription again on the next query'
);

-- Another hospital's consent does not count -----------------------------------------------------
select tests.act_as('b_admin');
insert into public.consent_documents (hospital_id, purpose, version, title, body)
values (tests.id_of('hospitals', 'TSTB'), 'external_pharmacy', 1, 'Outside pharmacies', 'Yes.');
select tests.clear_authentication();
insert into public.consent_events (patient_id, hospital_id, document_id, action)
select
    tests.id_of('patients', 'ab_patient4'),
    tests.id_of('hospitals', 'TSTB'),
    d.id,
    'granted'
from public.consent_documents as d
where d.hospital_id = tests.id_of('hospitals', 'TSTB');
insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
values (
    tests.id_of('patients', 'ab_patient4'),
    tests.id_of('hospitals', 'TSTA'),
    tests.id_of('profiles', 'a_doctor'),
    'doctor'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ select public.issue_prescription(tests.id_of('patients', 'ab_patient4'), '[{"name": "Aspirin", "quantity": 10}]',
        pharmacy_id => tests.id_of('pharmacies', 'b_central'), hospital_id => tests.id_of('hospitals', 'TSTA')) $$,
    '42501', 'the patient has not consented to sending prescriptions to an outside pharmacy',
    'a consent given at the pharmacy''s hospital does not cover prescriptions of the issuing hospital'
);

select * from finish();
rollback;
