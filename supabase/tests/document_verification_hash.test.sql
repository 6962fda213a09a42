-- A prescription's verification hash (20261213161000) covers its clear content: re-encrypting
-- it (a key rotation) keeps the hash, so printouts stay valid; another medication or quantity
-- changes it. A token printed before (version 1, the sealed bytes' hash) still matches through
-- the hash recorded for it while the clear content is unchanged.
begin;
select plan(7);

select tests.create_world();

select tests.act_as('a_doctor', 'aal2');
select tests.remember(
    'rx',
    (
        public.issue_prescription(
            tests.id_of('patients', 'a_patient1'),
            '[{"medicine": "Metformin", "strength": "500 mg", "frequency": "twice a day", "quantity": 60}]'::jsonb,
            hospital_id => tests.id_of('hospitals', 'TSTA')
        )
    ).id
);
select tests.clear_authentication();

select private.record_prescription_sealed_hashes() >= 1 as recorded;
create temporary table rx_hashes as
select
    private.document_content_hash('prescription', tests.recall('rx')) as clear,
    private.prescription_sealed_hash(tests.recall('rx')) as sealed;

-- A key rotation re-encrypts the lines under a new key.
select private.create_field_key() is not null as rotated;
update public.prescription_items set details = private.encrypt_field(private.decrypt_field(details))
where prescription_id = tests.recall('rx');

select isnt(
    private.prescription_sealed_hash(tests.recall('rx')), (select h.sealed from rx_hashes as h),
    'the sealed bytes changed (what made printouts look changed before)'
);
select is(
    private.document_content_hash('prescription', tests.recall('rx')), (select h.clear from rx_hashes as h),
    'the content hash is the same after re-encryption'
);
select is(
    public.document_verification('prescription', tests.recall('rx')) -> 'content_hash',
    to_jsonb((select h.clear from rx_hashes as h)),
    'rpc/document_verification answers it'
);
select ok(
    public.document_verification('prescription', tests.recall('rx')) -> 'content_hashes_v1'
    ? (select h.sealed from rx_hashes as h),
    'a token printed before with the sealed hash still matches'
);

update public.prescription_items
set details = private.encrypt_field(replace(private.decrypt_field(details), 'Metformin', 'Glimepiride'))
where prescription_id = tests.recall('rx');
select isnt(
    private.document_content_hash('prescription', tests.recall('rx')), (select h.clear from rx_hashes as h),
    'another medication changes the content hash'
);
select ok(
    not public.document_verification('prescription', tests.recall('rx')) -> 'content_hashes_v1'
    ? (select h.sealed from rx_hashes as h),
    'and the token printed before no longer matches'
);
update public.prescription_items
set
    details = private.encrypt_field(replace(private.decrypt_field(details), 'Glimepiride', 'Metformin')),
    quantity = quantity + 1
where prescription_id = tests.recall('rx');
select isnt(
    private.document_content_hash('prescription', tests.recall('rx')), (select h.clear from rx_hashes as h),
    'so does another quantity'
);

select * from finish();
rollback;
