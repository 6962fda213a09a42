-- Prescriptions, the rest of the lifecycle: routing to the patient's chosen pharmacy, the
-- outbox for denial, readiness and cancellation, and expiry by the scheduled job (pg_cron,
-- running as the system).
begin;
select plan(20);

select tests.create_world();

insert into public.pharmacies (hospital_id, name, is_default, is_active)
values (tests.id_of('hospitals', 'TSTA'), 'TSTA Annex Pharmacy', false, true);
create temporary table annex as
select id from public.pharmacies
where name = 'TSTA Annex Pharmacy';
grant select on annex to authenticated, service_role;

-- Routing: the doctor's pick, else the patient's choice, else the hospital's default ------
select tests.act_as('a_patient1');
select lives_ok(
    $$ insert into public.patient_pharmacy_choices (patient_id, hospital_id, pharmacy_id)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), (select id from annex)) $$,
    'a patient chooses a pharmacy of their hospital'
);
select throws_ok(
    $$ insert into public.patient_pharmacy_choices (patient_id, hospital_id, pharmacy_id)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'), (select id from annex)) $$,
    '42501', null, 'but not for another patient'
);
select throws_ok(
    $$ update public.patient_pharmacy_choices set pharmacy_id = tests.id_of('pharmacies', 'a_old') $$,
    '42501', null, 'nor an inactive pharmacy'
);
select throws_ok(
    $$ update public.patient_pharmacy_choices set pharmacy_id = gen_random_uuid() $$,
    '42501', null, 'nor a pharmacy that does not exist (another hospital''s: see consent_external_pharmacy)'
);
select tests.act_as('a_front_desk');
select lives_ok(
    $$ insert into public.patient_pharmacy_choices (patient_id, hospital_id, pharmacy_id)
        values (tests.id_of('patients', 'ab_patient4'), tests.id_of('hospitals', 'TSTA'), (select id from annex)) $$,
    'the front desk records the choice of a patient without the app'
);
select tests.act_as('a_patient2');
select is_empty($$ select 1 from public.patient_pharmacy_choices $$, 'another patient sees no one''s choice');
select tests.act_as('a_pharmacist');
select is_empty($$ select 1 from public.patient_pharmacy_choices $$, 'nor does a pharmacist');
select tests.act_as('b_admin');
select is_empty($$ select 1 from public.patient_pharmacy_choices $$, 'nor another hospital''s admin');

select tests.act_as('a_doctor');
select tests.remember('chosen', id)
from public.issue_prescription(tests.id_of('patients', 'a_patient1'), '[{"name": "Metformin", "quantity": 60}]');
select tests.remember('picked', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'), '[{"name": "Metformin", "quantity": 60}]',
    pharmacy_id => tests.id_of('pharmacies', 'a_central')
);
select results_eq(
    $$ select r.name, p.pharmacy_id from tests.remembered() as r join public.prescriptions as p on p.id = r.id
        order by r.name $$,
    $$ values ('chosen', (select id from annex)), ('picked', tests.id_of('pharmacies', 'a_central')) $$,
    'a prescription goes to the patient''s chosen pharmacy unless the doctor names one'
);
select tests.clear_authentication();
update public.pharmacies set is_active = false
where id = (select id from annex);
select tests.act_as('a_doctor');
select is(
    (
        select p.pharmacy_id
        from public.issue_prescription(tests.id_of('patients', 'a_patient1'), '[{"name": "Metformin", "quantity": 60}]')
            as p
    ),
    tests.id_of('pharmacies', 'a_central'),
    'a chosen pharmacy that has closed falls back to the hospital''s default'
);

-- The outbox: denied, ready, cancelled ---------------------------------------------------
select tests.clear_authentication();
update public.pharmacies set is_active = true
where id = (select id from annex);
select tests.act_as('a_doctor');
select tests.remember('denied', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'), '[{"name": "Codeine", "quantity": 10}]',
    pharmacy_id => tests.id_of('pharmacies', 'a_central')
);
select tests.remember('ready', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'), '[{"name": "Insulin", "quantity": 2}]',
    pharmacy_id => tests.id_of('pharmacies', 'a_central')
);
select tests.remember('withdrawn', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'), '[{"name": "Aspirin", "quantity": 20}]',
    pharmacy_id => tests.id_of('pharmacies', 'a_central')
);
update public.prescriptions set status = 'cancelled', status_reason = 'wrong dose'
where id = tests.recall('withdrawn');
select tests.act_as('a_pharmacist');
update public.prescriptions set status = 'denied', status_reason = 'needs a narcotics form'
where id = tests.recall('denied');
update public.prescriptions set status = 'approved'
where id = tests.recall('ready');
update public.prescriptions set status = 'ready_for_pickup'
where id = tests.recall('ready');
select tests.clear_authentication();
select set_eq(
    $$ select o.kind, o.recipient_kind, o.payload ->> 'reason' from private.outbox as o
        where o.subject_id = tests.recall('denied') $$,
    $$ values ('prescription_issued', 'patient', null), ('prescription_issued', 'pharmacy', null),
        ('prescription_denied', 'patient', 'needs a narcotics form') $$,
    'a denial tells the patient why'
);
select set_eq(
    $$ select o.kind from private.outbox as o
        where o.subject_id = tests.recall('ready') and o.recipient_kind = 'patient' $$,
    $$ values ('prescription_issued'), ('prescription_approved'), ('prescription_ready') $$,
    'the patient hears when it is approved and when it is ready for pickup'
);
select set_eq(
    $$ select o.kind || ':' || o.recipient_kind from private.outbox as o
        where o.subject_id = tests.recall('withdrawn') $$,
    array[
        'prescription_issued:patient', 'prescription_issued:pharmacy', 'prescription_cancelled:patient',
        'prescription_cancelled:pharmacy'
    ],
    'a cancellation tells the patient and the pharmacy that stops preparing it'
);
select tests.act_as('a_patient1');
update public.prescriptions set status = 'completed'
where id = tests.recall('ready');
select tests.act_as('a_pharmacist');
select is(
    (
        select status_code from public.prescription_details
        where id = tests.recall('ready')
    ),
    'COMPLETED', 'the patient confirms the pickup: COMPLETED, as seed 000 names it'
);

-- Expiry by the scheduled job ------------------------------------------------------------
select tests.clear_authentication();
select results_eq(
    $$ select schedule, command, active from cron.job where jobname = 'carebase-expire-prescriptions' $$,
    $$ values ('*/15 * * * *'::text, 'select public.expire_prescriptions()'::text, true) $$,
    'a pg_cron job expires prescriptions every 15 minutes'
);
update public.prescriptions set issued_at = now() - interval '40 days', valid_until = now() - interval '10 days'
where id in (
    select r.id from tests.remembered() as r
    where r.name in ('chosen', 'picked', 'denied')
);
-- What pg_cron runs: the job's own command, with no JWT, as the job's owner.
select lives_ok(
    (
        select command from cron.job
        where jobname = 'carebase-expire-prescriptions'
    ),
    'the job''s command runs as the system'
);
select results_eq(
    $$ select r.name, p.status::text from tests.remembered() as r join public.prescriptions as p on p.id = r.id
        where r.name in ('chosen', 'picked', 'denied', 'ready') order by r.name $$,
    $$ values ('chosen', 'expired'), ('denied', 'denied'), ('picked', 'expired'), ('ready', 'completed') $$,
    'it expires the open prescriptions past their validity and leaves final ones alone'
);
select results_eq(
    $$ select h.from_state, h.to_state, h.actor_id, h.actor_role::text from public.status_history as h
        where h.subject_id = tests.recall('chosen') and h.to_state = 'expired' $$,
    $$ values ('pending'::text, 'expired'::text, null::uuid, null::text) $$,
    'the expiry is in the history as done by the system'
);
select is(
    (
        select count(*)::integer from private.outbox
        where
            subject_id = tests.recall('chosen')
            and kind = 'prescription_expired' and recipient_kind = 'patient'
    ),
    1, 'and tells the patient'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ insert into public.prescription_dispensings (prescription_item_id, quantity)
        select i.id, 1 from public.prescription_items as i
        where i.prescription_id = tests.recall('picked') $$,
    'PT409', null, 'nothing is dispensed on an expired prescription'
);

select * from finish();
rollback;
