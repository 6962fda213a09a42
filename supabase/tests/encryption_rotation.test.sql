-- Key rotation without downtime, end to end: a new key encrypts new writes at once; batches
-- re-encrypt every encrypted column (signed notes included, whose content must not change)
-- while reads keep working under either key; an old key retires only once nothing uses it.
begin;
select plan(13);

select tests.create_world();

-- Encrypted values under the current key: a signed note, a draft, an addendum, a medical
-- profile, a lab interpretation and a national number.
select tests.act_as('a_doctor');
select tests.remember(
    'signed',
    public.write_clinical_note(
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"assessment": "Stable angina"}'
    )
);
select tests.remember(
    'draft',
    public.write_clinical_note(
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"plan": "ECG"}'
    )
);
select public.sign_clinical_note(tests.recall('signed')) is not null as signed;
select public.add_note_addendum(tests.recall('signed'), 'BP 145/90') is not null as added;
insert into public.medical_profiles (patient_id, hospital_id, details_encrypted)
values (
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
    private.encrypt_field('{"allergies": ["penicillin"]}')
);
insert into public.lab_results (patient_id, hospital_id, test_name, result_value, status, notes_encrypted)
values (
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'LDL', '190', 'abnormal',
    private.encrypt_field('statin advised')
);
select tests.act_as('a_front_desk');
select public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'aadhaar', '234567891234') is not null;
select tests.clear_authentication();

-- Every ciphertext of every registered column, with its key version.
create temporary view ciphertexts as
select
    'clinical_notes' as tbl,
    private.field_key_version(soap_encrypted) as version
from public.clinical_notes
union all
select
    'clinical_note_addenda',
    private.field_key_version(body_encrypted)
from public.clinical_note_addenda
union all
select
    'medical_profiles',
    private.field_key_version(details_encrypted)
from public.medical_profiles
where details_encrypted is not null
union all
select
    'lab_results',
    private.field_key_version(notes_encrypted)
from public.lab_results
where notes_encrypted is not null
union all
select
    'patient_identifiers',
    private.field_key_version(value_encrypted)
from public.patient_identifiers;

create temporary table old_key on commit drop as
select private.active_field_key_version() as version;
grant select on old_key to service_role, authenticated;

-- Rotation --------------------------------------------------------------------------------------------
select tests.act_as_service_role();
select is(
    public.rotate_field_key(), (select version + 1 from old_key), 'a new key version is created and made active'
);
select tests.clear_authentication();
select is(
    private.field_key_version(private.encrypt_field('new')), (select version + 1 from old_key),
    'new writes are encrypted under the new key at once'
);
select tests.act_as_service_role();
select is(public.retire_field_keys(), 0, 'the old key does not retire while values still use it');
create temporary table first_batch on commit drop as
select public.rotate_field_encryption(1) as done;
select tests.clear_authentication();
select ok(
    (select done between 1 and (select count(*) from private.encrypted_columns) from first_batch)
    and not exists (
        select from ciphertexts
        where version = private.active_field_key_version()
        group by tbl
        having count(*) > 1
    ),
    'a batch re-encrypts at most batch_size values per encrypted column'
);

-- Mid-rotation: some values under each key, every read works.
select tests.act_as('a_doctor');
select is(
    public.clinical_note(tests.recall('signed')) #>> '{soap,assessment}',
    'Stable angina', 'mid-rotation, the care team reads the signed note'
);
select is(
    public.clinical_note(tests.recall('draft')) #>> '{soap,plan}',
    'ECG', 'and the draft'
);

select tests.act_as_service_role();
select is(tests.rotate_until_done(1000), 0, 'repeated batches finish (0 left to re-encrypt)');
select tests.clear_authentication();
select is_empty(
    $$ select tbl from ciphertexts where version <> private.active_field_key_version() $$,
    'every value of every encrypted column is under the new key'
);
select tests.act_as_service_role();
select is(public.retire_field_keys(), 1, 'then the old key retires');

-- After rotation: content unchanged, notes still signed, reads work under the new key -------------
select tests.act_as('a_doctor');
select results_eq(
    $$ select n.status::text, public.clinical_note(n.id) #>> '{soap,assessment}',
        public.clinical_note(n.id) #>> '{addenda,0,body}'
        from public.clinical_notes as n where n.id = tests.recall('signed') $$,
    $$ values ('signed', 'Stable angina', 'BP 145/90') $$,
    'the signed note is still signed, with the same text and addendum'
);
select tests.act_as('a_front_desk');
select is(
    public.reveal_patient_identifier((select id from public.patient_identifiers)), '234567891234',
    'the national number reads the same'
);
select tests.clear_authentication();
select throws_ok(
    format('select private.field_key(%s)', (select version from old_key)), '55000', null,
    'a retired key can no longer decrypt'
);
select ok(
    exists (
        select from audit.log
        where
            table_name = 'public.clinical_notes' and action = 'UPDATE' and changed_fields = '{soap_encrypted}'
            and new_values ->> 'soap_encrypted' = '[encrypted]'
    ),
    're-encryption is in the audit trail, values redacted'
);

select * from finish();
rollback;
