-- A stored value that cannot be decrypted (raw bytes or plain text stored before the write
-- check existed, damaged, or under a missing key) is a clear error for its own record, never a
-- failure of the whole read: rpc/read_prescriptions returns the other prescriptions and marks
-- that one; the single-record readers answer PT409 (detail undecryptable_field); the timeline
-- still answers; key rotation goes on around such values, which operators can list.
begin;
select plan(17);

select tests.create_world();

select tests.act_as('a_doctor', 'aal2');
select tests.remember('good rx', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'), '[{"name": "Amlodipine", "quantity": 30}]', notes => 'check BP'
);
select tests.remember('bad rx', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'),
    '[{"name": "Aspirin", "quantity": 10}, {"name": "Atorvastatin", "quantity": 30}]',
    notes => 'after meals'
);
select tests.remember(
    'good note',
    public.write_clinical_note(
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"assessment": "Stable angina"}'
    )
);
select tests.remember(
    'bad note',
    public.write_clinical_note(
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"assessment": "Hypertension"}'
    )
);
select tests.remember(
    'keyless note',
    public.write_clinical_note(
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"plan": "ECG"}'
    )
);
select public.sign_clinical_note(tests.recall('bad note')) is not null as signed;
select tests.act_as('a_front_desk', 'aal2');
select
    (public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'aadhaar', '234567891234')).id is not null
        as identified;
select tests.clear_authentication();

-- Values no reader can decrypt, planted as the table owner with the tables' triggers off (as
-- they could be stored before migration 20261202130001): a line damaged under the active
-- key, notes and a national number in plain text, a note of raw bytes, and a real ciphertext
-- naming a key version that does not exist.
alter table public.prescription_items disable trigger user;
alter table public.prescriptions disable trigger user;
alter table public.clinical_notes disable trigger user;
alter table public.patient_identifiers disable trigger user;
update public.prescription_items
set details = int2send(private.active_field_key_version()::smallint) || '\xdeadbeef0102030405'::bytea
where prescription_id = tests.recall('bad rx') and line_no = 2;
update public.prescriptions set notes = convert_to('{"notes": "after meals"}', 'UTF8')
where id = tests.recall('bad rx');
update public.clinical_notes set soap_encrypted = '\xdeadbeef'
where id = tests.recall('bad note');
update public.clinical_notes set soap_encrypted = int2send(999::smallint) || substring(soap_encrypted from 3)
where id = tests.recall('keyless note');
update public.patient_identifiers set value_encrypted = convert_to('234567891234', 'UTF8')
where patient_id = tests.id_of('patients', 'a_patient1');
alter table public.prescription_items enable trigger user;
alter table public.prescriptions enable trigger user;
alter table public.clinical_notes enable trigger user;
alter table public.patient_identifiers enable trigger user;

-- Several prescriptions in one read ------------------------------------------------------------
select tests.act_as('a_doctor', 'aal2');
create temporary table read_back on commit drop as
select * from public.read_prescriptions(array[tests.recall('good rx'), tests.recall('bad rx')]);
select is(
    (select count(*)::integer from read_back), 2,
    'reading two prescriptions, one of them undecryptable, returns both'
);
select results_eq(
    $$ select notes, medications -> 0 ->> 'medicine', undecryptable from read_back
        where id = tests.recall('good rx') $$,
    $$ values ('check BP', 'Amlodipine', '{}'::text []) $$,
    'the readable one comes in clear, nothing marked'
);
select results_eq(
    $$ select notes, undecryptable, medications -> 0 ->> 'medicine', medications -> 1 ? 'medicine',
            medications -> 1 ->> 'undecryptable', (medications -> 1 ->> 'line_no')::integer,
            (medications -> 1 ->> 'quantity')::numeric
        from read_back where id = tests.recall('bad rx') $$,
    $$ values (null::text, '{notes,medications}'::text [], 'Aspirin', false, 'true', 2, 30::numeric) $$,
    'the other comes back with what could be read; its notes and the damaged line are marked undecryptable'
);
select tests.clear_authentication();
select is(
    (
        select count(*)::integer from audit.log
        where
            action = 'READ' and table_name = 'public.prescriptions'
            and row_id = tests.recall('bad rx')::text
            and patient_id = tests.id_of('patients', 'a_patient1')
    ),
    2,
    'the marked prescription''s read is in the audit trail (after the one at issue), naming the patient'
);

-- Single-record readers: a clear error with a stable code ------------------------------------------
select tests.act_as('a_doctor', 'aal2');
select throws_ok(
    $$ select public.clinical_note(tests.recall('bad note')) $$,
    'PT409', 'the encrypted content of this record cannot be decrypted',
    'a note of raw bytes: PT409 (HTTP 409), not a server error'
);
select throws_ok(
    $$ select public.clinical_note(tests.recall('keyless note')) $$,
    'PT409', 'the encrypted content of this record cannot be decrypted',
    'a note under a key that does not exist: the same'
);
select is(
    public.clinical_note(tests.recall('good note')) #>> '{soap,assessment}',
    'Stable angina', 'the patient''s other notes read as before'
);
select ok(
    (
        select count(*) from public.patient_timeline(tests.id_of('patients', 'a_patient1')) as t
        where t.item_id in (select r.id from tests.remembered() as r)
    ) = 5,
    'the timeline lists every note and prescription, readable or not'
);
select tests.act_as('a_front_desk', 'aal2');
select throws_ok(
    $$ select public.reveal_patient_identifier(
        (select id from public.patient_identifiers where patient_id = tests.id_of('patients', 'a_patient1'))) $$,
    'PT409', 'the encrypted content of this record cannot be decrypted',
    'a national number stored in plain text is not revealed: PT409'
);
select tests.clear_authentication();
select is(
    (
        select d.problem from private.try_decrypt_field('\xdeadbeef') as d
    ) || ' ' || (
        select d.problem
        from private.try_decrypt_field(int2send(private.active_field_key_version()::smallint) || '\x00') as d
    ) || ' ' || coalesce((select d.problem from private.try_decrypt_field(private.encrypt_field('ok')) as d), 'none'),
    'key_missing corrupt none',
    'the one decision: a key version that does not exist, a value its key cannot open, a good value'
);

-- Operators: the values are listed; rotation goes on around them; the note can be archived -------
select bag_eq(
    $$ select table_name::text, problem from private.undecryptable_fields() $$,
    $$ values ('prescription_items', 'corrupt'), ('prescriptions', 'key_missing'), ('clinical_notes', 'key_missing'),
        ('clinical_notes', 'key_missing'), ('patient_identifiers', 'key_missing') $$,
    'private.undecryptable_fields lists each planted value'
);
select tests.act_as_service_role();
select ok(public.rotate_field_key() > 0, 'a rotation starts');
select ok(
    public.rotate_field_encryption(1000) > 0 and tests.rotate_until_done(1000) = 0,
    'and finishes: the undecryptable values are skipped, not retried for ever'
);
select tests.clear_authentication();
select is_empty(
    $$ select 1 from public.prescription_items
        where prescription_id = tests.recall('good rx')
            and private.field_key_version(details) <> private.active_field_key_version() $$,
    'the readable values are under the new key'
);
select is(
    (select count(*)::integer from private.undecryptable_fields()), 5, 'the undecryptable ones are left as they were'
);
select tests.act_as('a_admin', 'aal2');
select lives_ok(
    $$ update public.clinical_notes set deleted_at = now()
        where id = tests.recall('bad note') $$,
    'the hospital admin archives the signed note whose content cannot be decrypted'
);
select tests.act_as('a_doctor', 'aal2');
select is(
    (
        select count(*)::integer from
            public.read_prescriptions(array[tests.recall('bad rx')])
        where undecryptable = '{notes,medications}'
    ),
    1,
    'after rotation the damaged prescription still reads, marked'
);

select * from finish();
rollback;
