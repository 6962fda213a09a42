-- Prescription contents under the versioned field keys: registered for rotation, re-encrypted
-- by the documented procedure in batches, readable throughout by the patient, the issuing
-- doctor and the pharmacy, and unchanged after the old key retires.
begin;
select plan(12);

select tests.create_world();

select tests.clear_authentication();
select set_eq(
    $$ select table_name::text || '.' || column_name from private.encrypted_columns
        where table_name in ('public.prescriptions'::regclass, 'public.prescription_items'::regclass) $$,
    array['prescriptions.notes', 'prescription_items.details'],
    'the prescription notes and lines are registered for key rotation'
);

select tests.act_as('a_doctor');
select tests.remember('before', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'),
    '[{"name": "Amlodipine", "strength": "5 mg", "quantity": 30}, {"name": "Aspirin", "quantity": 30}]',
    notes => 'check BP in a week'
);

select tests.clear_authentication();
create temporary table old_key on commit drop as
select private.active_field_key_version() as version;
grant select on old_key to service_role, authenticated;
select is_empty(
    $$ select 1 from public.prescription_items
        where prescription_id = tests.recall('before')
        and private.field_key_version(details) <> (select version from old_key)
        union all
        select 1 from public.prescriptions where id = tests.recall('before')
        and private.field_key_version(notes) <> (select version from old_key) $$,
    'a prescription is written under the active field key'
);

-- Rotation ------------------------------------------------------------------------------------------
select tests.act_as_service_role();
select is(public.rotate_field_key(), (select version + 1 from old_key), 'a new key version is made active');
select tests.act_as('a_doctor');
select tests.remember('during', id)
from public.issue_prescription(tests.id_of('patients', 'a_patient1'), '[{"name": "Losartan", "quantity": 30}]');
select tests.clear_authentication();
select is(
    (
        select private.field_key_version(details) from public.prescription_items
        where prescription_id = tests.recall('during')
    ),
    (select version + 1 from old_key), 'a prescription issued mid-rotation is under the new key at once'
);
select tests.act_as_service_role();
select is(public.retire_field_keys(), 0, 'the old key does not retire while prescriptions still use it');
select ok(public.rotate_field_encryption(1) >= 1, 'a bounded batch re-encrypts');
select tests.act_as('a_pharmacist');
select is(
    (
        select medications -> 1 ->> 'medicine'
        from public.read_prescriptions(array[tests.recall('before')])
    ),
    'Aspirin', 'mid-rotation, the pharmacy reads the prescription'
);
select tests.act_as_service_role();
select is(tests.rotate_until_done(1000), 0, 'repeated batches finish');
select tests.clear_authentication();
select is_empty(
    $$ select 1 from public.prescription_items
        where private.field_key_version(details) <> private.active_field_key_version()
        union all
        select 1 from public.prescriptions where notes is not null
        and private.field_key_version(notes) <> private.active_field_key_version() $$,
    'every prescription line and note is under the new key'
);
select tests.act_as_service_role();
select is(public.retire_field_keys(), 1, 'the old key retires');

-- After rotation: the same contents, for the same readers -----------------------------------------
select tests.act_as('a_patient1');
select results_eq(
    $$ select notes, medications -> 0 ->> 'medicine', medications -> 0 ->> 'strength', medications -> 0 ->> 'quantity'
        from public.read_prescriptions(array[tests.recall('before')]) $$,
    $$ values ('check BP in a week', 'Amlodipine', '5 mg', '30.00') $$,
    'after rotation and retirement, the patient reads the same prescription'
);
select tests.clear_authentication();
select throws_ok(
    format('select private.field_key(%s)', (select version from old_key)), '55000', null,
    'and the retired key decrypts nothing any more'
);

select * from finish();
rollback;
