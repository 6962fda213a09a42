-- A patient's accounting of disclosures names every reader of their record, including readers
-- the patient may not see in `profiles` (here an outside pharmacist of another hospital), and
-- nothing more: the patient still cannot read that profile, and no name is given for an
-- audit entry about someone else's record.
begin;
select plan(5);

select tests.create_world();

-- a_patient1 (TSTA) sends a prescription to TSTB's pharmacy, whose pharmacist reads it.
select tests.act_as('a_admin');
insert into public.consent_documents (hospital_id, purpose, version, title, body)
values (tests.id_of('hospitals', 'TSTA'), 'external_pharmacy', 1, 'Outside pharmacies', 'You may.');
select tests.act_as('a_patient1');
select public.grant_consent((
    select d.id from public.consent_documents as d
    where d.purpose = 'external_pharmacy'
));
select tests.act_as('a_doctor');
create temporary table rx on commit drop as
select id from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'), '[{"name": "Atorvastatin", "quantity": 30}]',
    pharmacy_id => tests.id_of('pharmacies', 'b_central')
);
grant select on rx to authenticated;
select tests.act_as('b_pharmacist');
select count(*) as read_back from public.read_prescriptions(array[(select id from rx)]);

select tests.act_as('a_patient1');
select is_empty(
    $$ select 1 from public.profiles where id = tests.user_id('b_pharmacist') $$,
    'the patient cannot read the outside pharmacist''s profile'
);
select results_eq(
    $$ select distinct actor_name from public.record_disclosures
        where action = 'READ' and actor_id = tests.user_id('b_pharmacist') $$,
    $$ values ('B Pharmacist') $$,
    'yet their accounting of disclosures names the outside pharmacist who read the prescription'
);
select results_eq(
    $$ select distinct actor_name from public.record_disclosures where actor_id = tests.user_id('a_doctor') $$,
    $$ values ('A Doctor') $$,
    'and still names their own hospital''s doctor'
);

-- The helper the view uses answers only for entries about the caller's own record.
select tests.clear_authentication();
create temporary table entry on commit drop as
select
    seq,
    occurred_at
from audit.log
where
    actor_id = tests.user_id('b_pharmacist') and action = 'READ'
    and patient_id = tests.id_of('patients', 'a_patient1')
order by seq
limit 1;
grant select on entry to authenticated;
select tests.act_as('b_patient3');
select is(
    (select private.disclosure_actor_name(e.seq, e.occurred_at) from entry as e), null,
    'another patient gets no name for an entry about a_patient1''s record'
);
select tests.act_as('a_patient1');
select is(
    (select private.disclosure_actor_name(e.seq, e.occurred_at) from entry as e), 'B Pharmacist',
    'the patient gets it for their own'
);

select * from finish();
rollback;
