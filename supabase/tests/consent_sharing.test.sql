-- Consent: versioned documents per hospital, grants and withdrawals kept as history, checked
-- where data crosses a boundary: a record shared with another hospital is readable there only
-- while the patient's consent stands (withdrawal cuts access on the next query), and messages
-- on a channel the patient withdrew are never sent.
begin;
select plan(14);

select tests.create_world();

-- ab_patient4 is treated at TSTA (a_nurse) and TSTB (b_doctor).
select tests.act_as('a_nurse');
create temporary table note_of (id uuid) on commit drop;
grant select, insert on note_of to authenticated;
insert into note_of
select id from (
    select public.write_clinical_note(
        tests.id_of('patients', 'ab_patient4'), tests.id_of('hospitals', 'TSTA'), '{"assessment": "Diabetes type 2"}'
    ) as id
) as n;
select public.sign_clinical_note((select id from note_of)) is not null as signed;

select tests.act_as('a_admin');
select lives_ok(
    $$ insert into public.consent_documents (hospital_id, purpose, version, title, body)
        values (tests.id_of('hospitals', 'TSTA'), 'record_sharing', 1, 'Sharing', 'I agree to share my record.'),
        (tests.id_of('hospitals', 'TSTA'), 'record_sharing', 2, 'Sharing v2', 'I agree, version 2.'),
        (tests.id_of('hospitals', 'TSTA'), 'contact_sms', 1, 'SMS', 'You may text me.') $$,
    'an admin publishes versioned consent documents'
);
select throws_ok(
    $$ insert into public.consent_documents (hospital_id, purpose, version, title, body)
        values (tests.id_of('hospitals', 'TSTA'), 'record_sharing', 2, 'Again', 'Again') $$,
    '23505', null, 'a version is published once'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ insert into public.consent_documents (hospital_id, purpose, version, title, body)
        values (tests.id_of('hospitals', 'TSTA'), 'contact_email', 1, 'x', 'x') $$,
    '42501', null, 'another hospital''s admin cannot publish for TSTA'
);

-- The share, without consent: nothing crosses ------------------------------------------------
select tests.act_as('a_admin');
insert into public.record_shares (patient_id, hospital_id, target_hospital_id, reason)
values (
    tests.id_of('patients', 'ab_patient4'),
    tests.id_of('hospitals', 'TSTA'),
    tests.id_of('hospitals', 'TSTB'),
    'referral'
);
select tests.act_as('b_doctor');
select is_empty(
    $$ select 1 from public.clinical_notes where id = (select id from note_of) $$,
    'a shared record is not readable at the other hospital without the patient''s consent'
);

-- Consent granted (front desk records the paper form): the share opens -------------------------
select tests.act_as('a_front_desk');
select lives_ok(
    $$ select public.grant_consent(
        (select id from public.consent_documents where purpose = 'record_sharing' and version = 2),
        tests.id_of('patients', 'ab_patient4')) $$,
    'front desk records the patient''s consent'
);
select tests.act_as('b_doctor');
select is(
    (
        select count(*)::integer from public.clinical_notes
        where id = (select n.id from note_of as n)
    ), 1,
    'with consent, the other hospital''s care team reads the shared record'
);
select is(
    public.clinical_note((select id from note_of)) -> 'soap' ->> 'assessment', 'Diabetes type 2',
    'including the note in clear'
);
select tests.act_as('b_doctor2');
select is_empty(
    $$ select 1 from public.clinical_notes where id = (select id from note_of) $$,
    'but only the patient''s care team there'
);

-- Withdrawal: a new row, effective on the next query -------------------------------------------
select tests.act_as('a_front_desk');
select lives_ok(
    $$ select public.withdraw_consent(
        tests.id_of('hospitals', 'TSTA'), 'record_sharing', tests.id_of('patients', 'ab_patient4')) $$,
    'the patient withdraws'
);
select tests.act_as('b_doctor');
select is_empty(
    $$ select 1 from public.clinical_notes where id = (select id from note_of) $$,
    'withdrawal cuts access on the next query'
);
select throws_ok(
    $$ select public.clinical_note((select id from note_of)) $$, 'PT404', null, 'and through the RPC'
);
select tests.act_as('a_front_desk');
select results_eq(
    $$ select action::text from public.consent_events
        where patient_id = tests.id_of('patients', 'ab_patient4') order by recorded_at $$,
    array['granted', 'withdrawn'],
    'the history is kept'
);
select results_eq(
    $$ select granted, version from public.patient_consents
        where patient_id = tests.id_of('patients', 'ab_patient4') and purpose = 'record_sharing' $$,
    $$ values (false, 2) $$,
    'the current state is the latest decision'
);

-- Contact by SMS -----------------------------------------------------------------------------------
select tests.clear_authentication();
select private.enqueue(
    'reminder', 'appointment', gen_random_uuid(), tests.id_of('hospitals', 'TSTA'),
    'patient', tests.id_of('patients', 'ab_patient4'), 'sms'
);
select tests.act_as('a_front_desk');
select
    public.withdraw_consent(tests.id_of('hospitals', 'TSTA'), 'contact_sms', tests.id_of('patients', 'ab_patient4'))
    is not null as withdrawn;
select tests.clear_authentication();
select private.enqueue(
    'reminder', 'appointment', gen_random_uuid(), tests.id_of('hospitals', 'TSTA'),
    'patient', tests.id_of('patients', 'ab_patient4'), 'sms'
);
select results_eq(
    $$ select state, count(*)::integer from private.outbox
        where recipient_id = tests.id_of('patients', 'ab_patient4') and channel = 'sms' group by state $$,
    $$ values ('cancelled', 2) $$,
    'withdrawing SMS consent cancels what waits and refuses what comes'
);

select * from finish();
rollback;
