-- Staff read and write the clinical record and prescription contents only at aal2 (a session
-- verified with a TOTP factor). A staff member signed in with a password alone (aal1) is
-- refused with PT403 and details 'insufficient_aal' on every path: plain selects, inserts and
-- updates, and the RPCs (clinical_note, patient_timeline, write_clinical_note,
-- update_clinical_note, sign_clinical_note, add_note_addendum, read_prescriptions,
-- issue_prescription), the pharmacy's work and the audit trail's clinical entries. Exempt:
-- the patient reading their own record at aal1, callers who are not staff, the service role
-- and sessions without claims.
begin;
select plan(42);

select tests.create_world();

-- The refusal's details and hint, or what happened instead (security invoker: runs as the
-- role the test acts as).
create function pg_temp.refusal(statement text)
returns text
language plpgsql
as $$
declare
    detail text;
    hint text;
begin
    execute statement;
    return 'no error';
exception
    when sqlstate 'PT403' then
        get stacked diagnostics detail = pg_exception_detail, hint = pg_exception_hint;
        return detail || ' | ' || hint;
    when others then
        return 'other error: ' || sqlstate || ' ' || sqlerrm;
end;
$$;

-- Functions are executable only where granted (see the foundation migration).
grant execute on function pg_temp.refusal(text) to authenticated;

-- A signed note, a draft, vitals, a prescription (approved) and an insurance card for
-- a_patient1 at TSTA, written at aal2 ------------------------------------------------------
select tests.act_as('a_doctor', 'aal2');
select tests.remember(m.name, m.id)
from (values (
    'signed',
    public.write_clinical_note(
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"assessment": "Stable angina"}'
    )
), (
    'draft',
    public.write_clinical_note(
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"plan": "ECG"}'
    )
)) as m (name, id);
select public.sign_clinical_note(tests.recall('signed')) is not null as signed;
with v as (
    insert into public.vital_signs (patient_id, hospital_id, heart_rate_bpm)
    values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 72) returning id
)

select tests.remember('vitals', id) from v;
select tests.remember('rx', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'), '[{"name": "Amlodipine", "strength": "5 mg", "quantity": 30}]'
);
select tests.act_as('a_pharmacist', 'aal2');
update public.prescriptions set status = 'approved'
where id = tests.recall('rx');
select tests.act_as('a_front_desk', 'aal2');
with d as (
    insert into public.patient_documents (patient_id, hospital_id, name, document_type, storage_path)
    values (
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'Insurance card', 'insurance',
        'patients/' || tests.id_of('patients', 'a_patient1') || '/mfa-insurance.pdf'
    ) returning id
)

select tests.remember('insurance', id) from d;
select tests.clear_authentication();

-- Every clinical table and every table holding prescription contents carries the check -----
select set_eq(
    $$ select tablename::text from pg_catalog.pg_policies
        where schemaname = 'public' and permissive = 'RESTRICTIVE' and cmd = 'ALL'
            and qual like '%require_phi_aal2%' and with_check like '%require_phi_aal2%' $$,
    -- the clinical tables (those of private.audited_resources), prescriptions and every public
    -- table under it by foreign key (its items, their dispensings)
    $$ with recursive prescription_tables (oid) as (
            select 'public.prescriptions'::regclass::oid
            union
            select k.conrelid from pg_catalog.pg_constraint as k
            inner join prescription_tables as p on k.confrelid = p.oid
            inner join pg_catalog.pg_class as t on k.conrelid = t.oid
            where k.contype = 'f' and k.conrelid <> p.oid and t.relnamespace = 'public'::regnamespace
        )
        select c.relname::text from pg_catalog.pg_class as c
        where c.relkind in ('r', 'p')
            and (
                c.oid in (select p.oid from prescription_tables as p)
                or (
                    c.relnamespace = 'public'::regnamespace
                    and c.relname in (select r.resource from private.audited_resources as r)
                )
            ) $$,
    'a restrictive aal2 policy for every command on every clinical and prescription table'
);

-- A doctor of the care team at aal1 ------------------------------------------------------------
select tests.act_as('a_doctor', 'aal1');
select throws_ok(
    $$ select public.clinical_note(tests.recall('signed')) $$,
    'PT403', null, 'aal1 doctor: rpc/clinical_note is refused'
);
select is(
    pg_temp.refusal($$ select public.clinical_note(tests.recall('signed')) $$),
    'insufficient_aal | verify a TOTP factor (POST /auth/v1/factors/{factor_id}/challenge, then '
    || 'POST /auth/v1/factors/{factor_id}/verify with the code) and retry with the new access token',
    'the refusal carries the stable code insufficient_aal in its details and says how to step up'
);
select throws_ok(
    $$ select public.clinical_note(tests.recall('signed')) $$,
    'PT403',
    'multi-factor authentication required: staff read and write clinical records only in a session '
    || 'verified with a second factor (aal2)',
    'and its message names multi-factor authentication'
);
select throws_ok(
    $$ select * from public.patient_timeline(tests.id_of('patients', 'a_patient1')) $$,
    'PT403', null, 'aal1 doctor: rpc/patient_timeline is refused'
);
select throws_ok(
    $$ select * from public.patient_timeline(tests.id_of('patients', 'a_patient2')) $$,
    'PT403', null, 'before anything is read, whatever the patient (no hint of what the record holds)'
);
select throws_ok(
    $$ select public.write_clinical_note(tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
        '{"plan": "x"}') $$,
    'PT403', null, 'aal1 doctor: rpc/write_clinical_note is refused'
);
select throws_ok(
    $$ select public.update_clinical_note(tests.recall('draft'), '{"plan": "y"}') $$,
    'PT403', null, 'aal1 doctor: rpc/update_clinical_note is refused'
);
select throws_ok(
    $$ select public.sign_clinical_note(tests.recall('draft')) $$,
    'PT403', null, 'aal1 doctor: rpc/sign_clinical_note is refused'
);
select throws_ok(
    $$ select public.add_note_addendum(tests.recall('signed'), 'more') $$,
    'PT403', null, 'aal1 doctor: rpc/add_note_addendum is refused'
);
select throws_ok(
    $$ select count(*) from public.clinical_notes $$, 'PT403', null, 'aal1 doctor: select clinical_notes is refused'
);
select throws_ok(
    $$ select count(*) from public.vital_signs $$, 'PT403', null, 'aal1 doctor: select vital_signs is refused'
);
select throws_ok(
    $$ insert into public.vital_signs (patient_id, hospital_id, heart_rate_bpm)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 80) $$,
    'PT403', null, 'aal1 doctor: insert into vital_signs is refused'
);
select throws_ok(
    $$ insert into public.encounters (patient_id, hospital_id, chief_complaint)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'cough') $$,
    'PT403', null, 'aal1 doctor: insert into encounters is refused'
);
select throws_ok(
    $$ update public.vital_signs set deleted_at = now()
        where id = tests.recall('vitals') $$,
    'PT403', null, 'aal1 doctor: an update of vital_signs is refused'
);
select throws_ok(
    $$ select * from public.read_prescriptions(array[tests.recall('rx')]) $$,
    'PT403', null, 'aal1 doctor: rpc/read_prescriptions is refused'
);
select throws_ok(
    $$ select * from public.issue_prescription(tests.id_of('patients', 'a_patient1'),
        '[{"name": "Ibuprofen", "quantity": 10}]') $$,
    'PT403', null, 'aal1 doctor: rpc/issue_prescription is refused'
);
select throws_ok(
    $$ select count(*) from public.prescription_details $$,
    'PT403', null, 'aal1 doctor: the prescription_details view is refused'
);
select is(
    pg_temp.refusal($$ select public.clinical_note(gen_random_uuid()) $$),
    'other error: PT404 no such note',
    'a note the doctor may not read stays a 404 at aal1 (the refusal reveals nothing new)'
);

-- The same doctor at aal2 -------------------------------------------------------------------
select tests.act_as('a_doctor', 'aal2');
select is(
    public.clinical_note(tests.recall('signed')) -> 'soap' ->> 'assessment',
    'Stable angina', 'aal2 doctor: rpc/clinical_note answers'
);
select ok(
    (select count(*) from public.patient_timeline(tests.id_of('patients', 'a_patient1'))) >= 3,
    'aal2 doctor: rpc/patient_timeline answers'
);
select lives_ok(
    $$ insert into public.vital_signs (patient_id, hospital_id, heart_rate_bpm)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 80) $$,
    'aal2 doctor: insert into vital_signs works'
);
select is(
    (
        select medications -> 0 ->> 'medicine'
        from public.read_prescriptions(array[tests.recall('rx')])
    ),
    'Amlodipine', 'aal2 doctor: rpc/read_prescriptions answers'
);

-- Other staff at aal1 -------------------------------------------------------------------------
select tests.act_as('a_nurse', 'aal1');
select throws_ok(
    $$ select count(*) from public.vital_signs $$, 'PT403', null, 'aal1 nurse: select vital_signs is refused'
);
select tests.act_as('a_pharmacist', 'aal1');
select throws_ok(
    $$ select * from public.read_prescriptions(array[tests.recall('rx')]) $$,
    'PT403', null, 'aal1 pharmacist: rpc/read_prescriptions is refused'
);
select throws_ok(
    $$ select count(*) from public.prescription_details $$,
    'PT403', null, 'aal1 pharmacist: listing prescriptions is refused'
);
select throws_ok(
    $$ insert into public.prescription_dispensings (prescription_item_id, quantity)
        select i.id, 1 from public.prescription_items as i
        where i.prescription_id = tests.recall('rx') $$,
    'PT403', null, 'aal1 pharmacist: recording a dispensing is refused'
);
select throws_ok(
    $$ update public.prescriptions set status = 'ready_for_pickup'
        where id = tests.recall('rx') $$,
    'PT403', null, 'aal1 pharmacist: moving a prescription on is refused'
);
select tests.act_as('a_pharmacist', 'aal2');
select is(
    (
        select count(*) from public.prescription_details
        where id = tests.recall('rx')
    ),
    1::bigint, 'aal2 pharmacist: lists the prescription'
);
select tests.act_as('a_front_desk', 'aal1');
select throws_ok(
    $$ select count(*) from public.patient_documents $$,
    'PT403', null, 'aal1 front desk: insurance and consent paperwork is PHI too, refused'
);
select tests.act_as('a_front_desk', 'aal2');
select is(
    (
        select count(*) from public.patient_documents
        where id = tests.recall('insurance')
    ),
    1::bigint, 'aal2 front desk: reads the insurance card'
);
select tests.act_as('a_admin', 'aal1');
select throws_ok(
    $$ select count(*) from public.audit_trail where table_name = 'public.vital_signs' $$,
    'PT403', null, 'aal1 admin: the audit trail''s clinical entries (values in clear) are refused'
);
select lives_ok(
    $$ select count(*) from public.staff_memberships $$, 'aal1 admin: staff administration needs no second factor'
);
select tests.act_as('a_admin', 'aal2');
select ok(
    (
        select count(*) from public.audit_trail
        where table_name = 'public.vital_signs'
    ) > 0,
    'aal2 admin: reads them'
);

-- The patient at aal1, callers who are not staff, the service role ----------------------------
select tests.act_as('a_patient1', 'aal1');
select ok(
    tests.recall('signed') in (
        select t.item_id from public.patient_timeline(tests.id_of('patients', 'a_patient1')) as t
    ),
    'aal1 patient: reads their own timeline'
);
select is(
    public.clinical_note(tests.recall('signed')) -> 'soap' ->> 'assessment',
    'Stable angina', 'aal1 patient: reads their own signed note'
);
select is(
    (
        select medications -> 0 ->> 'medicine'
        from public.read_prescriptions(array[tests.recall('rx')])
    ),
    'Amlodipine', 'aal1 patient: reads their own prescription'
);
select is(
    (
        select count(*) from public.vital_signs
        where id = tests.recall('vitals')
    ),
    1::bigint, 'aal1 patient: reads their own vitals'
);
select tests.act_as('a_patient2', 'aal1');
select is_empty(
    $$ select 1 from public.clinical_notes $$, 'aal1 patient: another''s record is simply not there (no refusal)'
);
select tests.act_as('a_revoked_doctor', 'aal1');
select is_empty(
    $$ select 1 from public.clinical_notes $$, 'a revoked member is not staff any more: RLS decides (nothing)'
);
select tests.act_as_service_role();
select ok(
    (
        select count(*) from public.clinical_notes
        where patient_id = tests.id_of('patients', 'a_patient1')
    ) >= 2,
    'the service role is unaffected'
);
select tests.clear_authentication();
select ok(private.require_phi_aal2(null), 'a session without claims (jobs, SQL) is unaffected');

select * from finish();
rollback;
