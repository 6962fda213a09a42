-- Field encryption: national identifiers encrypted in the column under a Vault key, found by
-- a keyed blind index, shown masked, revealed (and logged) only to those allowed; key
-- rotation re-encrypts in batches while reads keep working.
begin;
select plan(13);

select tests.create_world();

select tests.act_as('a_front_desk');
select results_eq(
    $$ select masked, value_encrypted, blind_index from public.set_patient_identifier(
        tests.id_of('patients', 'a_patient1'), 'aadhaar', '2345 6789 1234') $$,
    $$ values ('XXXX-XXXX-1234', null::bytea, null::bytea) $$,
    'front desk stores an Aadhaar number; lists show XXXX-XXXX-1234'
);
select results_eq(
    $$ select masked from public.set_patient_identifier(tests.id_of('patients', 'a_patient2'), 'ssn', '123-45-6789') $$,
    array['***-**-6789'], 'an SSN shows ***-**-6789'
);
select throws_ok(
    $$ select public.set_patient_identifier(tests.id_of('patients', 'a_patient2'), 'aadhaar', '1234') $$,
    '22023', 'not a valid aadhaar number', 'a malformed number is refused'
);
select throws_ok(
    $$ select value_encrypted from public.patient_identifiers $$, '42501', null,
    'the ciphertext column is not selectable by API roles'
);
select results_eq(
    $$ select id from public.find_patient_by_identifier('aadhaar', '234567891234') $$,
    array[tests.id_of('patients', 'a_patient1')],
    'exact lookup through the blind index, whatever the formatting'
);
select is(
    public.reveal_patient_identifier((
        select id from public.patient_identifiers
        where kind = 'aadhaar'
    )),
    '234567891234', 'front desk reveals the number'
);

select tests.act_as('a_doctor');
select is_empty($$ select 1 from public.patient_identifiers $$, 'clinical staff do not see national numbers');
select throws_ok(
    $$ select private.decrypt_field('\x0001'::bytea) $$, '42501', null, 'API roles cannot call the decryptor'
);
select tests.act_as('b_front_desk');
select is_empty(
    $$ select 1 from public.find_patient_by_identifier('aadhaar', '234567891234') $$,
    'another hospital cannot find the patient by number'
);

select tests.clear_authentication();
select is_empty(
    $$ select 1 from public.patient_identifiers
        where position(convert_to('234567891234', 'utf8') in value_encrypted) > 0 $$,
    'the number is not stored in clear'
);
select ok(
    exists (
        select from
            audit.log
        where
            action = 'READ' and table_name = 'public.patient_identifiers'
            and actor_id = tests.user_id('a_front_desk')
    ),
    'revealing is logged in the audit trail'
);

-- Rotation --------------------------------------------------------------------------------------
select tests.act_as_service_role();
select public.rotate_field_key() > 1 as new_key;
select is(public.rotate_field_encryption(1) >= 1, true, 'a batch re-encrypts under the new key');
select tests.act_as('a_front_desk');
select is(
    public.reveal_patient_identifier((
        select id from public.patient_identifiers
        where kind = 'ssn'
    )),
    '123456789', 'reads keep working during rotation, whichever key a value is under'
);

select * from finish();
rollback;
