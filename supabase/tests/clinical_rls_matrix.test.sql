-- The RLS matrix of every clinical table, role by role: which of a patient's rows each role
-- reads (select), into which tables it may write a new row (insert), and the same for the
-- files of the patient-documents bucket (storage.objects). The record: a_patient1 at TSTA.
--   care team (a_doctor, a_nurse)  reads and writes everything;
--   the hospital's admin           reads everything (encrypted text stays encrypted), writes nothing;
--   the patient                    reads their record, notes only signed, lab results only final;
--   front desk                     the insurance paperwork only;
--   another doctor, a revoked doctor, CRO, pharmacist, another patient, another hospital's
--   staff, a user with no role     nothing.
begin;
select plan(36);

select tests.create_world();

-- a_patient1's record at TSTA --------------------------------------------------------------------
select tests.act_as('a_doctor');
create temporary table made (kind text, name text, id uuid) on commit drop;
grant select, insert on made to authenticated;
insert into made
select
    'clinical_notes',
    'draft',
    public.write_clinical_note(
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"plan": "ECG"}'
    );
insert into made
select
    'clinical_notes',
    'signed',
    public.write_clinical_note(
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"assessment": "Stable angina"}'
    );
select public.sign_clinical_note((
    select m.id from made as m
    where m.name = 'signed'
)) is not null as signed;
insert into made
select
    'clinical_note_addenda',
    'addendum',
    public.add_note_addendum((
        select m.id from made as m
        where m.name = 'signed'
    ), 'BP 145/90');
with i as (
    insert into public.encounters (patient_id, hospital_id, chief_complaint)
    values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'chest pain')
    returning id
)

insert into made select
    'encounters',
    'visit',
    id
from i;
with i as (
    insert into public.diagnoses (patient_id, hospital_id, icd10_code, description, is_primary)
    values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'I20.9', 'Angina', true)
    returning id
)

insert into made select
    'diagnoses',
    'angina',
    id
from i;
with i as (
    insert into public.lab_results (patient_id, hospital_id, test_name, result_value, status, finalised_at)
    values
    (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'LDL', '190', 'abnormal', now()),
    (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'HbA1c', '6.1', 'normal', null)
    returning id, test_name
)

insert into made select
    'lab_results',
    case test_name when 'LDL' then 'final' else 'pending' end,
    id
from i;
with i as (
    insert into public.medical_profiles (patient_id, hospital_id, blood_group)
    values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'B+')
    returning id
)

insert into made select
    'medical_profiles',
    'profile',
    id
from i;
with i as (
    insert into public.patient_documents (patient_id, hospital_id, name, document_type, storage_path)
    values
    (
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'ECG', 'lab_report',
        'patients/' || tests.id_of('patients', 'a_patient1') || '/ecg.pdf'
    ),
    (
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'Echo', 'imaging',
        'patients/' || tests.id_of('patients', 'a_patient1') || '/echo.pdf'
    )
    returning id, name
)

insert into made select
    'patient_documents',
    lower(name),
    id
from i;
insert into storage.objects (bucket_id, name)
values ('patient-documents', 'patients/' || tests.id_of('patients', 'a_patient1') || '/ecg.pdf');
select tests.act_as('a_nurse');
with i as (
    insert into public.vital_signs (patient_id, hospital_id, heart_rate_bpm)
    values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 88)
    returning id
)

insert into made select
    'vital_signs',
    'vitals',
    id
from i;
select tests.act_as('a_front_desk');
with i as (
    insert into public.patient_documents (patient_id, hospital_id, name, document_type, storage_path)
    values (
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'Insurance', 'insurance',
        'patients/' || tests.id_of('patients', 'a_patient1') || '/insurance.pdf'
    )
    returning id
)

insert into made select
    'patient_documents',
    'insurance',
    id
from i;
insert into storage.objects (bucket_id, name)
values ('patient-documents', 'patients/' || tests.id_of('patients', 'a_patient1') || '/insurance.pdf');
select tests.clear_authentication();
insert into tests.world (kind, name, id) select
    kind,
    name,
    id
from made;

-- What the current role reads: 'table:row' for every fixture row of the clinical tables, and
-- 'file:name' for the bucket's objects of a_patient1.
create function pg_temp.read_by_me()
returns setof text
language sql
as $$
    select t.kind || ':' || s.name
    from unnest(array[
        'medical_profiles', 'encounters', 'clinical_notes', 'clinical_note_addenda', 'vital_signs', 'diagnoses',
        'patient_documents', 'lab_results'
    ]) as t (kind)
    cross join lateral tests.seen(t.kind) as s (name)
    union all
    select 'file:' || storage.filename(o.name)
    from storage.objects as o
    where o.bucket_id = 'patient-documents' and o.name like 'patients/' || tests.id_of('patients', 'a_patient1') || '/%';
$$;

-- Where the current role may write a new row of a_patient1's record at TSTA: each insert is
-- tried and undone; allowed ones are listed, refusals (42501) are not, any other error is
-- listed with its code so that a broken fixture cannot pass for a refusal.
create function pg_temp.writable_by_me()
returns setof text
language plpgsql
as $$
declare
    patient uuid := tests.id_of('patients', 'a_patient1');
    hospital uuid := tests.id_of('hospitals', 'TSTA');
    attempt text;
begin
    foreach attempt in array array[
        'medical_profiles', 'encounters', 'clinical_notes', 'clinical_note_addenda', 'vital_signs', 'diagnoses',
        'patient_documents', 'patient_documents:insurance', 'lab_results', 'file:echo.pdf'
    ] loop
        begin
            case attempt
                when 'medical_profiles' then
                    -- The profile exists: the care team updates it (a new one would be a duplicate).
                    update public.medical_profiles set blood_group = 'O+'
                    where patient_id = patient and hospital_id = hospital;
                    if not found then
                        raise insufficient_privilege;
                    end if;
                when 'encounters' then
                    insert into public.encounters (patient_id, hospital_id) values (patient, hospital);
                when 'clinical_notes' then
                    perform public.write_clinical_note(patient, hospital, '{"plan": "x"}');
                when 'clinical_note_addenda' then
                    insert into public.clinical_note_addenda (note_id, patient_id, hospital_id, body_encrypted)
                    values (tests.id_of('clinical_notes', 'signed'), patient, hospital, private.encrypt_field('x'));
                when 'vital_signs' then
                    insert into public.vital_signs (patient_id, hospital_id, spo2_percent) values (patient, hospital, 97);
                when 'diagnoses' then
                    insert into public.diagnoses (patient_id, hospital_id, icd10_code, description)
                    values (patient, hospital, 'E11.9', 'Type 2 diabetes');
                when 'patient_documents' then
                    insert into public.patient_documents (patient_id, hospital_id, name, document_type, storage_path)
                    values (patient, hospital, 'X-ray', 'imaging', 'patients/' || patient || '/xray.png');
                when 'patient_documents:insurance' then
                    insert into public.patient_documents (patient_id, hospital_id, name, document_type, storage_path)
                    values (patient, hospital, 'Card', 'insurance', 'patients/' || patient || '/card.png');
                when 'lab_results' then
                    insert into public.lab_results (patient_id, hospital_id, test_name, result_value, status)
                    values (patient, hospital, 'TSH', '2.1', 'normal');
                when 'file:echo.pdf' then
                    -- The echo's row exists, its file is not uploaded yet.
                    insert into storage.objects (bucket_id, name)
                    values ('patient-documents', 'patients/' || patient || '/echo.pdf');
            end case;
            raise exception using errcode = 'PX001';
        exception
            when sqlstate 'PX001' then
                return next attempt;
            when insufficient_privilege then
                null;
            when others then
                return next attempt || ' failed with ' || sqlstate;
        end;
    end loop;
end;
$$;

grant execute on function pg_temp.read_by_me(), pg_temp.writable_by_me() to authenticated;

-- Reads -------------------------------------------------------------------------------------------
create temporary table everything (item text) on commit drop;
insert into everything
values
('medical_profiles:profile'), ('encounters:visit'), ('clinical_notes:draft'), ('clinical_notes:signed'),
('clinical_note_addenda:addendum'), ('vital_signs:vitals'), ('diagnoses:angina'), ('patient_documents:ecg'),
('patient_documents:echo'), ('patient_documents:insurance'), ('lab_results:final'), ('lab_results:pending'),
('file:ecg.pdf'), ('file:insurance.pdf');
grant select on everything to authenticated;

select tests.act_as('a_doctor');
select set_eq('select pg_temp.read_by_me()', 'select item from everything', 'care-team doctor reads the whole record');
select tests.act_as('a_nurse');
select set_eq('select pg_temp.read_by_me()', 'select item from everything', 'care-team nurse reads the whole record');
select tests.act_as('a_admin');
select set_eq(
    'select pg_temp.read_by_me()', 'select item from everything',
    'the hospital''s admin reads every row (to archive and restore; note text stays encrypted)'
);
select tests.act_as('a_patient1');
select set_eq(
    'select pg_temp.read_by_me()',
    'select item from everything where item not in (''clinical_notes:draft'', ''lab_results:pending'')',
    'the patient reads their own record: signed notes and final results only'
);
select tests.act_as('a_front_desk');
select set_eq(
    'select pg_temp.read_by_me()', array['patient_documents:insurance', 'file:insurance.pdf'],
    'front desk reads the insurance paperwork and its file only'
);
select tests.act_as('a_doctor2');
select is_empty('select pg_temp.read_by_me()', 'a doctor outside the care team reads nothing');
select tests.act_as('a_revoked_doctor');
select is_empty('select pg_temp.read_by_me()', 'a revoked doctor still listed on the care team reads nothing');
select tests.act_as('a_cro');
select is_empty('select pg_temp.read_by_me()', 'CRO reads nothing');
select tests.act_as('a_pharmacist');
select is_empty('select pg_temp.read_by_me()', 'a pharmacist reads nothing');
select tests.act_as('a_patient2');
select is_empty('select pg_temp.read_by_me()', 'another patient reads nothing');
select tests.act_as('b_doctor');
select is_empty('select pg_temp.read_by_me()', 'another hospital''s doctor reads nothing');
select tests.act_as('b_nurse');
select is_empty('select pg_temp.read_by_me()', 'another hospital''s nurse reads nothing');
select tests.act_as('b_admin');
select is_empty('select pg_temp.read_by_me()', 'another hospital''s admin reads nothing');
select tests.act_as('b_front_desk');
select is_empty('select pg_temp.read_by_me()', 'another hospital''s front desk reads nothing');
select tests.act_as('nobody');
select is_empty('select pg_temp.read_by_me()', 'a user with no role reads nothing');

-- Writes ------------------------------------------------------------------------------------------
create temporary table all_writes (item text) on commit drop;
insert into all_writes
values
('medical_profiles'), ('encounters'), ('clinical_notes'), ('clinical_note_addenda'), ('vital_signs'), ('diagnoses'),
('patient_documents'), ('patient_documents:insurance'), ('lab_results'), ('file:echo.pdf');
grant select on all_writes to authenticated;

select tests.act_as('a_doctor');
select set_eq('select pg_temp.writable_by_me()', 'select item from all_writes', 'care-team doctor writes every table');
select tests.act_as('a_nurse');
select set_eq('select pg_temp.writable_by_me()', 'select item from all_writes', 'care-team nurse writes every table');
select tests.act_as('a_front_desk');
select set_eq(
    'select pg_temp.writable_by_me()', array['patient_documents:insurance'],
    'front desk registers insurance paperwork only (and uploads no clinical file)'
);
select tests.act_as('a_admin');
select is_empty('select pg_temp.writable_by_me()', 'the admin writes no clinical content');
select tests.act_as('a_patient1');
select is_empty('select pg_temp.writable_by_me()', 'the patient writes nothing, not even their document''s file');
select tests.act_as('a_doctor2');
select is_empty('select pg_temp.writable_by_me()', 'a doctor outside the care team writes nothing');
select tests.act_as('a_revoked_doctor');
select is_empty('select pg_temp.writable_by_me()', 'a revoked doctor writes nothing');
select tests.act_as('a_cro');
select is_empty('select pg_temp.writable_by_me()', 'CRO writes nothing');
select tests.act_as('a_pharmacist');
select is_empty('select pg_temp.writable_by_me()', 'a pharmacist writes nothing');
select tests.act_as('b_doctor');
select is_empty('select pg_temp.writable_by_me()', 'another hospital''s doctor writes nothing');
select tests.act_as('b_admin');
select is_empty('select pg_temp.writable_by_me()', 'another hospital''s admin writes nothing');

-- Files are never changed or removed through the API; rows are never deleted by anyone -------------
select tests.act_as('a_doctor');
select is_empty(
    $$ delete from storage.objects where bucket_id = 'patient-documents' returning name $$,
    'the care team cannot remove a file (archive the document row instead)'
);
select throws_ok(
    $$ delete from public.vital_signs where id = tests.id_of('vital_signs', 'vitals') $$, '42501', null,
    'API roles hold no DELETE on clinical tables'
);
select tests.act_as_service_role();
select throws_ok(
    $$ delete from public.clinical_notes where id = tests.id_of('clinical_notes', 'signed') $$,
    '42501', 'clinical_notes rows are archived, never deleted', 'not even the service role deletes a signed note'
);
select throws_ok(
    $$ delete from public.lab_results where id = tests.id_of('lab_results', 'final') $$,
    '42501', 'lab_results rows are archived, never deleted', 'or a final lab result'
);
select tests.clear_authentication();
select throws_ok(
    $$ truncate public.diagnoses cascade $$, '42501', 'diagnoses rows are archived, never deleted',
    'nor does the owner truncate a clinical table'
);

-- Archived rows: gone for everyone but the admin, who restores them --------------------------------
select tests.act_as('a_admin');
update public.clinical_notes set deleted_at = now()
where id = tests.id_of('clinical_notes', 'signed');
select tests.act_as('a_patient1');
select ok(
    'clinical_notes:signed' not in (select pg_temp.read_by_me()), 'an archived note disappears for the patient'
);
select tests.act_as('a_doctor');
select ok(
    'clinical_notes:signed' not in (select pg_temp.read_by_me()), 'and for the care team'
);
select throws_ok(
    $$ select public.clinical_note(tests.id_of('clinical_notes', 'signed')) $$, 'PT404', null,
    'and cannot be read in clear'
);
select tests.act_as('a_admin');
select ok('clinical_notes:signed' in (select pg_temp.read_by_me()), 'the admin still sees it');
update public.clinical_notes set deleted_at = null
where id = tests.id_of('clinical_notes', 'signed');
select tests.act_as('a_patient1');
select ok('clinical_notes:signed' in (select pg_temp.read_by_me()), 'and restores it for everyone');

select * from finish();
rollback;
