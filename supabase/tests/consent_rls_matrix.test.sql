-- The RLS matrix of the consent tables, the record shares, the national identifiers and the
-- audit views, role by role (reads and writes). Fixtures: TSTA's record_sharing document,
-- a_patient1's grant, a share of a_patient1's TSTA record with TSTB, an Aadhaar number.
begin;
select plan(31);

select tests.create_world();

select tests.act_as('a_admin');
insert into public.consent_documents (hospital_id, purpose, version, title, body)
values (tests.id_of('hospitals', 'TSTA'), 'record_sharing', 1, 'Sharing', 'I agree to share my record.');
select tests.act_as('a_patient1');
select public.grant_consent((select id from public.consent_documents)) is not null as granted;
select tests.act_as('a_doctor');
insert into public.record_shares (patient_id, hospital_id, target_hospital_id, reason)
values (
    tests.id_of('patients', 'a_patient1'),
    tests.id_of('hospitals', 'TSTA'),
    tests.id_of('hospitals', 'TSTB'),
    'referral'
);
select tests.act_as('a_front_desk');
select public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'aadhaar', '2345 6789 1234') is not null;

-- What the current role reads of the fixtures, one word per table.
create function pg_temp.read_by_me()
returns setof text
language sql
as $$
    select 'document' from public.consent_documents
    union all
    select 'consent' from public.consent_events where patient_id = tests.id_of('patients', 'a_patient1')
    union all
    select 'share' from public.record_shares where patient_id = tests.id_of('patients', 'a_patient1')
    union all
    select 'identifier' from public.patient_identifiers where patient_id = tests.id_of('patients', 'a_patient1')
    union all
    select distinct 'audit_trail' from public.audit_trail where patient_id = tests.id_of('patients', 'a_patient1')
    union all
    select distinct 'disclosures' from public.record_disclosures
    where table_name = 'public.patient_identifiers';
$$;

-- Where the current role may write for a_patient1 at TSTA (tried and undone; 42501 and PT404
-- are refusals, any other error is listed with its code).
create function pg_temp.writable_by_me()
returns setof text
language plpgsql
as $$
declare
    attempt text;
begin
    foreach attempt in array array['document', 'consent', 'share', 'revoke share', 'identifier'] loop
        begin
            case attempt
                when 'document' then
                    insert into public.consent_documents (hospital_id, purpose, version, title, body)
                    values (tests.id_of('hospitals', 'TSTA'), 'contact_sms', 1, 'SMS', 'You may text me.');
                when 'consent' then
                    perform public.withdraw_consent(
                        tests.id_of('hospitals', 'TSTA'), 'record_sharing', tests.id_of('patients', 'a_patient1')
                    );
                when 'share' then
                    insert into public.record_shares (patient_id, hospital_id, target_hospital_id)
                    values (
                        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
                        tests.id_of('hospitals', 'TSTB')
                    );
                when 'revoke share' then
                    update public.record_shares set revoked_at = now()
                    where patient_id = tests.id_of('patients', 'a_patient1');
                    if not found then
                        raise insufficient_privilege;
                    end if;
                when 'identifier' then
                    perform public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'ssn', '123-45-6789');
            end case;
            raise exception using errcode = 'PX001';
        exception
            when sqlstate 'PX001' then
                return next attempt;
            -- PT404: the caller does not even see the hospital's consent document.
            when insufficient_privilege or sqlstate 'PT404' then
                null;
            when others then
                return next attempt || ' failed with ' || sqlstate;
        end;
    end loop;
end;
$$;

grant execute on function pg_temp.read_by_me(), pg_temp.writable_by_me() to authenticated;

-- Reads ---------------------------------------------------------------------------------------------
select tests.act_as('a_patient1');
select set_eq(
    'select pg_temp.read_by_me()', array['document', 'consent', 'share', 'identifier', 'disclosures'],
    'the patient: their hospital''s documents, their consents, shares, masked number and who accessed it'
);
select tests.act_as('a_patient2');
select set_eq('select pg_temp.read_by_me()', array['document'], 'another patient: only the hospital''s documents');
select tests.act_as('a_admin');
select set_eq(
    'select pg_temp.read_by_me()', array['document', 'consent', 'share', 'identifier', 'audit_trail'],
    'the admin: everything, and the hospital''s audit trail'
);
select tests.act_as('a_front_desk');
select set_eq(
    'select pg_temp.read_by_me()', array['document', 'consent', 'identifier'],
    'front desk: documents, consents (paper forms) and the masked number'
);
select tests.act_as('a_doctor');
select set_eq(
    'select pg_temp.read_by_me()', array['document', 'share'],
    'care-team doctor: documents and the shares, no consents, no national number, no audit'
);
select tests.act_as('a_nurse');
select set_eq('select pg_temp.read_by_me()', array['document', 'share'], 'care-team nurse: the same');
select tests.act_as('a_doctor2');
select set_eq('select pg_temp.read_by_me()', array['document'], 'a doctor outside the care team: documents only');
select tests.act_as('a_cro');
select set_eq('select pg_temp.read_by_me()', array['document'], 'CRO: documents only');
select tests.act_as('a_pharmacist');
select set_eq('select pg_temp.read_by_me()', array['document'], 'pharmacist: documents only');
select tests.act_as('b_doctor');
select is_empty(
    'select pg_temp.read_by_me()',
    'a doctor of the target hospital, not treating the patient there: nothing (consent_record_shares_visibility)'
);
select tests.act_as('b_front_desk');
select is_empty('select pg_temp.read_by_me()', 'the target hospital''s front desk: nothing, not even the share');
select tests.act_as('b_admin');
select set_eq('select pg_temp.read_by_me()', array['share'], 'the target hospital''s admin: the share, no TSTA audit');
select tests.act_as('b_patient3');
select is_empty('select pg_temp.read_by_me()', 'a patient of another hospital: nothing');
select tests.act_as('nobody');
select is_empty('select pg_temp.read_by_me()', 'a user with no role: nothing');
select tests.act_as_anon();
select throws_ok('select pg_temp.read_by_me()', '42501', null, 'anon: no privilege');

-- Writes --------------------------------------------------------------------------------------------
select tests.act_as('a_patient1');
select set_eq(
    'select pg_temp.writable_by_me()', array['consent', 'share', 'revoke share', 'identifier'],
    'the patient: their consents, shares and numbers'
);
select tests.act_as('a_patient2');
select is_empty('select pg_temp.writable_by_me()', 'another patient: nothing of a_patient1''s');
select tests.act_as('a_admin');
select set_eq(
    'select pg_temp.writable_by_me()', array['document', 'consent', 'share', 'revoke share', 'identifier'],
    'the admin: publishes documents, records consents, shares, numbers'
);
select tests.act_as('a_front_desk');
select set_eq(
    'select pg_temp.writable_by_me()', array['consent', 'identifier'],
    'front desk: records paper consents and numbers, publishes and shares nothing'
);
select tests.act_as('a_doctor');
select set_eq(
    'select pg_temp.writable_by_me()', array['share', 'revoke share'], 'care-team doctor: shares the record'
);
select tests.act_as('a_nurse');
select is_empty('select pg_temp.writable_by_me()', 'care-team nurse: does not share the record');
select tests.act_as('a_doctor2');
select is_empty('select pg_temp.writable_by_me()', 'a doctor outside the care team: nothing');
select tests.act_as('a_cro');
select is_empty('select pg_temp.writable_by_me()', 'CRO: nothing');
select tests.act_as('a_pharmacist');
select is_empty('select pg_temp.writable_by_me()', 'pharmacist: nothing');
select tests.act_as('b_doctor');
select is_empty('select pg_temp.writable_by_me()', 'the target hospital''s doctor: nothing at TSTA');
select tests.act_as('b_admin');
select is_empty('select pg_temp.writable_by_me()', 'another hospital''s admin: nothing at TSTA');

-- Consent history is never rewritten ---------------------------------------------------------------
select tests.act_as('a_patient1');
select throws_ok(
    $$ update public.consent_events set action = 'withdrawn' $$, '42501', null,
    'a consent event is never updated: withdrawal is a new row'
);
select throws_ok($$ delete from public.consent_events $$, '42501', null, 'nor deleted');
select tests.act_as('a_admin');
select throws_ok(
    $$ update public.consent_documents set body = 'changed' $$, '42501', null,
    'a published consent document is never edited: a new version is published'
);

-- The patient withdraws on their own ----------------------------------------------------------------
select tests.act_as('a_patient1');
select public.withdraw_consent(tests.id_of('hospitals', 'TSTA'), 'record_sharing') is not null as withdrawn;
select results_eq(
    $$ select granted from public.patient_consents where purpose = 'record_sharing' $$, array[false],
    'the patient withdraws themselves; the current state is withdrawn'
);
select results_eq(
    $$ select count(*)::integer from public.consent_events where purpose = 'record_sharing' $$, array[2],
    'and the grant is still in the history'
);

select * from finish();
rollback;
