-- Prescriptions: issuing by a care-team doctor, routing to the default pharmacy, contents
-- encrypted in the column and readable in clear only by the patient, the issuing doctor and
-- the pharmacy it was sent to, partial fulfilment never exceeding what was prescribed,
-- verification codes, expiry, the outbox and the RLS of every table, view and RPC.
begin;
select plan(39);

select tests.create_world();

-- Issuing ---------------------------------------------------------------------------------
select tests.act_as('a_doctor');
select tests.remember('first', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'),
    '[{"name": "Amoxicillin", "strength": "500 mg", "dosage": "1 capsule", "frequency": "three times a day",
       "duration": "5 days", "quantity": 15, "instructions": "after food"},
      {"medicine": "Paracetamol", "strength": "650 mg", "quantity": 10}]',
    notes => 'drink water'
);
select results_eq(
    $$ select status::text, status_code, pharmacy_id, jsonb_array_length(medications), notes, length(verification_code)
        from public.read_prescriptions(array[tests.recall('first')]) $$,
    $$ values ('pending', 'PENDING', tests.id_of('pharmacies', 'a_central'), 2, 'drink water', 8) $$,
    'a care-team doctor issues a pending prescription, routed to the hospital''s default pharmacy'
);
select is(
    (
        select medications -> 0 ->> 'medicine'
        from public.read_prescriptions(array[tests.recall('first')])
    ),
    'Amoxicillin', 'the issuing doctor reads the medication in clear through the logged RPC'
);
select results_eq(
    $$ select medications -> 0 ? 'medicine', medications -> 0 ->> 'quantity', notes from public.prescription_details
        where id = tests.recall('first') $$,
    $$ values (false, '15.00', null::text) $$,
    'the prescription_details view (a GET, which cannot be logged) shows the lines without their contents'
);
select throws_ok(
    $$ select public.issue_prescription(tests.id_of('patients', 'a_patient1'),
        '[{"name": "Ibuprofen", "quantity": 10}]',
        pharmacy_id => tests.id_of('pharmacies', 'a_old')) $$,
    'PT422', null, 'an inactive pharmacy cannot receive prescriptions'
);
select throws_ok(
    $$ select public.issue_prescription(tests.id_of('patients', 'a_patient1'), '[{"name": "Ibuprofen"}]') $$,
    '22023', 'medication 1 needs a medicine name and a positive quantity', 'every medication needs a quantity'
);
select throws_ok(
    $$ select public.issue_prescription(tests.id_of('patients', 'a_patient1'), '[]') $$,
    '22023', 'medications must be a non-empty array', 'a prescription needs medications'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ select public.issue_prescription(tests.id_of('patients', 'a_patient1'),
        '[{"name": "Ibuprofen", "quantity": 10}]') $$,
    '42501', 'only a doctor of the patient''s care team can prescribe for them',
    'a doctor outside the care team cannot prescribe'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ select public.issue_prescription(tests.id_of('patients', 'a_patient1'),
        '[{"name": "Ibuprofen", "quantity": 10}]') $$,
    '42501', null, 'a revoked doctor still on the care team cannot prescribe'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ insert into public.prescriptions (hospital_id, patient_id, doctor_id, pharmacy_id)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'), tests.id_of('doctors', 'a_doctor'),
        tests.id_of('pharmacies', 'a_central')) $$,
    '42501', null, 'a nurse cannot write a prescription in a doctor''s name'
);

-- Encryption ----------------------------------------------------------------------------------
select tests.clear_authentication();
select is_empty(
    $$ select 1 from public.prescription_items
        where position(convert_to('Amoxicillin', 'utf8') in details) > 0 $$,
    'the medication is not stored in clear'
);
select is_empty(
    $$ select 1 from public.prescription_items
        where private.field_key_version(details) is distinct from private.active_field_key_version() $$,
    'the contents are encrypted under the active field key (Vault), which key rotation covers'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ select private.decrypt_field(details) from public.prescription_items $$, '42501', null,
    'no API role can decrypt the column directly'
);
select tests.act_as('a_admin');
select results_eq(
    $$ select status_code, jsonb_path_exists(medications, '$[*].medicine'), notes from public.prescription_details
        where id = tests.recall('first') $$,
    $$ values ('PENDING', false, null::text) $$,
    'the hospital admin oversees the prescription without reading its contents'
);
select is_empty(
    $$ select 1 from public.read_prescriptions(array[tests.recall('first')]) $$,
    'nor through the RPC'
);
select tests.act_as('a_patient1');
select is(
    (
        select medications -> 1 ->> 'medicine'
        from public.read_prescriptions(array[tests.recall('first')])
    ),
    'Paracetamol', 'the patient reads their prescription in clear'
);
select tests.act_as('a_pharmacist');
select is(
    (
        select medications -> 0 ->> 'frequency'
        from public.read_prescriptions(array[tests.recall('first')])
    ),
    'three times a day', 'the pharmacy it was sent to reads it in clear'
);
select tests.act_as('b_pharmacist');
select is_empty($$ select 1 from public.prescription_details $$, 'another pharmacy sees nothing');
select is_empty(
    $$ select 1 from public.read_prescriptions(array[tests.recall('first')]) $$,
    'nor reads the contents through the RPC'
);
select tests.act_as('a_patient1');
select results_eq(
    $$ select actor_name, count(*)::integer from public.record_disclosures
        where action = 'READ' and table_name = 'public.prescriptions'
        and row_id = tests.recall('first')::text
        group by actor_name order by actor_name $$,
    $$ values ('A Doctor', 3), ('A Patient1', 1), ('A Pharmacist', 1) $$,
    'each read in clear is in the patient''s accounting of disclosures (issuing returns it in clear, then two reads); '
    || 'refused readers read nothing and leave nothing'
);
select tests.act_as('a_admin');
select ok(
    exists (
        select from public.audit_trail
        where
            action = 'READ' and table_name = 'public.prescriptions'
            and row_id = tests.recall('first')::text
            and 'pharmacist' = any(actor_roles)
    ),
    'and in the hospital admin''s audit trail, with the reader''s role'
);
select tests.act_as('a_nurse');
select is_empty($$ select 1 from public.prescriptions $$, 'a nurse sees no prescription');
select tests.act_as('a_patient2');
select is_empty($$ select 1 from public.prescription_items $$, 'another patient sees no item');
select tests.act_as_anon();
select throws_ok($$ select 1 from public.prescription_details $$, '42501', null, 'anon reads nothing');

-- Dispensing ---------------------------------------------------------------------------------
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ insert into public.prescription_dispensings (prescription_item_id, quantity)
        select id, 5 from public.prescription_items where line_no = 1 $$,
    'PT409', 'a pending prescription cannot be dispensed', 'nothing is dispensed before approval'
);
update public.prescriptions set status = 'approved'
where id = tests.recall('first');
select lives_ok(
    $$ insert into public.prescription_dispensings (prescription_item_id, quantity)
        select id, 10 from public.prescription_items where line_no = 1 $$,
    'a partial fulfilment is recorded'
);
select throws_ok(
    $$ insert into public.prescription_dispensings (prescription_item_id, quantity)
        select id, 6 from public.prescription_items where line_no = 1 $$,
    '23514', 'cannot dispense 6.00: only 5.00 of 15.00 remain on line 1',
    'dispensing more than remains is refused'
);
select lives_ok(
    $$ insert into public.prescription_dispensings (prescription_item_id, quantity)
        select id, 5 from public.prescription_items where line_no = 1 $$,
    'the remainder can be dispensed'
);
select is(
    (
        select medications -> 0 ->> 'dispensed_quantity' from public.prescription_details
        where id = tests.recall('first')
    ),
    '15.00', 'the item shows what was dispensed'
);
select tests.clear_authentication();
select throws_ok(
    $$ update public.prescription_items set dispensed_quantity = quantity + 1 $$,
    '23514', null, 'the constraint holds whatever path writes the total'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ insert into public.prescription_dispensings (prescription_item_id, quantity)
        select id, 1 from public.prescription_items where line_no = 2 $$,
    '42501', null, 'a patient cannot record a dispensing'
);

-- Verification -------------------------------------------------------------------------------
select tests.clear_authentication();
-- The first prescription's code, as printed on it.
select set_config('tests.first_code', p.verification_code, true) is not null as kept
from public.prescriptions as p
where p.id = tests.recall('first');
select tests.act_as('b_pharmacist');
select results_eq(
    $$ select v ->> 'valid', v ->> 'status', v ->> 'doctor_name', v ->> 'issued_on', v ? 'medications'
        from public.verify_prescription(lower(current_setting('tests.first_code'))) as v $$,
    $$ values ('true', 'APPROVED', 'A Doctor', (now() at time zone 'UTC')::date::text, false) $$,
    'any pharmacist checks a code: valid, status, doctor, date and nothing more'
);
select is(
    public.verify_prescription('NOPE2345') ->> 'valid', 'false', 'an unknown code is not valid'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ select public.verify_prescription('NOPE2345') $$, '42501', 'only pharmacists can verify prescriptions',
    'only pharmacists verify codes'
);

-- Expiry ------------------------------------------------------------------------------------
-- Whatever else in the database is already past its validity (demo data loaded hours ago)
-- expires first, so the count below is this test's own.
select tests.act_as_service_role();
select public.expire_prescriptions();
select tests.act_as('a_doctor');
select tests.remember('short', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'), '[{"name": "Cetirizine", "quantity": 5}]', valid_days => 1
);
select tests.clear_authentication();
update public.prescriptions set issued_at = now() - interval '3 days', valid_until = now() - interval '1 day'
where id = tests.recall('short');
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ update public.prescriptions set status = 'approved'
        where id = tests.recall('short') $$,
    'PT409', null, 'an expired prescription cannot be approved'
);
select throws_ok($$ select public.expire_prescriptions() $$, '42501', null, 'people do not run the expiry');
select tests.act_as_service_role();
select is(public.expire_prescriptions(), 1, 'the system expires prescriptions past their validity');
select tests.act_as('a_pharmacist');
select results_eq(
    $$ select v ->> 'valid', v ->> 'status' from public.verify_prescription((select p.verification_code
        from public.prescriptions as p where p.id = tests.recall('short'))) as v $$,
    $$ values ('false', 'EXPIRED') $$,
    'an expired prescription''s code is no longer valid'
);

-- Outbox and history -------------------------------------------------------------------------
select tests.clear_authentication();
select set_eq(
    $$ select kind, recipient_kind from private.outbox
        where subject_id = tests.recall('first') $$,
    $$ values ('prescription_issued', 'patient'), ('prescription_issued', 'pharmacy'),
        ('prescription_approved', 'patient') $$,
    'issuing tells the patient and the pharmacy; approval tells the patient'
);
select tests.act_as('a_pharmacist');
select results_eq(
    $$ select from_state, to_state, actor_role::text from public.status_history
        where subject_id = tests.recall('first') order by occurred_at $$,
    $$ values (null, 'pending', 'doctor'), ('pending', 'approved', 'pharmacist') $$,
    'the pharmacy reads the prescription''s history'
);

select * from finish();
rollback;
