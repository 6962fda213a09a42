-- The clinical record: the RLS matrix of every clinical table (care-team doctor and nurse vs
-- another doctor, the patient's own vs another's, front desk / CRO / pharmacist denied,
-- another hospital denied, archived rows for admins only), note signing and immutability,
-- addenda, decrypted reads logged, critical lab results to the outbox, plausible vitals,
-- ICD-10 codes, documents in Storage and the timeline.
begin;
select plan(48);

select tests.create_world();

-- One row of each table for a_patient1 at TSTA, written by the care team ----------------------
select tests.act_as('a_doctor');
create temporary table made (kind text, name text, id uuid) on commit drop;
grant select, insert on made to authenticated;
insert into made
select
    'clinical_notes',
    'draft',
    public.write_clinical_note(
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
        '{"chief_complaint": "Chest pain", "subjective": "Pain on exertion", "objective": "BP 150/95",
      "assessment": "Suspected angina", "plan": "ECG, follow-up in 1 week"}'
    );
insert into made
select
    'clinical_notes',
    'signed',
    public.write_clinical_note(
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"assessment": "Stable angina"}'
    );
select public.sign_clinical_note((
    select id from made
    where name = 'signed'
)) is not null as signed;
with i as (
    insert into public.encounters (patient_id, hospital_id, chief_complaint)
    values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'chest pain') returning id
)

insert into made select
    'encounters',
    'visit',
    id
from i;
with i as (
    insert into public.diagnoses (patient_id, hospital_id, encounter_id, icd10_code, description, is_primary)
    values (
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
        (
            select id from made
            where name = 'visit'
        ), 'I20.9', 'Angina pectoris', true
    ) returning id
)

insert into made select
    'diagnoses',
    'angina',
    id
from i;
with i as (
    insert into public.lab_results (
        patient_id, hospital_id, ordered_by, test_name, result_value, unit, reference_range, status, finalised_at
    )
    values (
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), tests.user_id('a_doctor'),
        'Troponin I', '2.4', 'ng/mL', '< 0.04', 'critical', now()
    ) returning id
)

insert into made select
    'lab_results',
    'troponin',
    id
from i;
with i as (
    insert into public.lab_results (patient_id, hospital_id, test_name, result_value, status)
    values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'LDL', '190', 'abnormal')
    returning id
)

insert into made select
    'lab_results',
    'pending_lipids',
    id
from i;
with i as (
    insert into public.medical_profiles (patient_id, hospital_id, blood_group, details_encrypted)
    values (
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'B+',
        private.encrypt_field('{"allergies": ["penicillin"]}')
    ) returning id
)

insert into made select
    'medical_profiles',
    'profile',
    id
from i;
with i as (
    insert into public.patient_documents (patient_id, hospital_id, name, document_type, storage_path)
    values (
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'ECG', 'lab_report',
        'patients/' || tests.id_of('patients', 'a_patient1') || '/ecg.pdf'
    ) returning id
)

insert into made select
    'patient_documents',
    'ecg',
    id
from i;
select tests.act_as('a_nurse');
with i as (
    insert into public.vital_signs (
        patient_id, hospital_id, systolic_mmhg, diastolic_mmhg, heart_rate_bpm, temperature_c
    )
    values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 150, 95, 88, 37.0) returning id
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
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'Insurance card', 'insurance',
        'patients/' || tests.id_of('patients', 'a_patient1') || '/insurance.pdf'
    ) returning id
)

insert into made select
    'patient_documents',
    'insurance',
    id
from i;
select tests.act_as('b_doctor');
insert into made
select
    'clinical_notes',
    'b_note',
    public.write_clinical_note(
        tests.id_of('patients', 'b_patient3'), tests.id_of('hospitals', 'TSTB'), '{"plan": "rest"}'
    );
select tests.clear_authentication();
insert into tests.world (kind, name, id) select
    kind,
    name,
    id
from made;

-- The RLS matrix --------------------------------------------------------------------------------
select tests.act_as('a_doctor');
select
    set_eq(
        $$ select tests.seen('clinical_notes') $$, array['draft', 'signed'], 'care-team doctor: own patient''s notes'
    );
select set_eq(
    $$ select tests.seen('lab_results') $$, array['troponin', 'pending_lipids'], 'care-team doctor: all lab results'
);
select set_eq($$ select tests.seen('vital_signs') $$, array['vitals'], 'care-team doctor: vitals');
select set_eq(
    $$ select tests.seen('patient_documents') $$, array['ecg', 'insurance'], 'care-team doctor: documents'
);
select tests.act_as('a_nurse');
select set_eq($$ select tests.seen('clinical_notes') $$, array['draft', 'signed'], 'care-team nurse: notes');
select set_eq($$ select tests.seen('diagnoses') $$, array['angina'], 'care-team nurse: diagnoses');
select set_eq($$ select tests.seen('medical_profiles') $$, array['profile'], 'care-team nurse: medical profile');

select tests.act_as('a_doctor2');
select is_empty(
    $$ select tests.seen('clinical_notes') union all select tests.seen('lab_results')
    union all select tests.seen('vital_signs') union all select tests.seen('diagnoses')
    union all select tests.seen('encounters') union all select tests.seen('medical_profiles')
    union all select tests.seen('patient_documents') $$,
    'a doctor outside the care team sees no clinical row'
);
select throws_ok(
    $$ select public.write_clinical_note(tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
        '{"plan": "x"}') $$,
    '42501', null, 'nor writes a note for that patient'
);
select tests.act_as('a_revoked_doctor');
select is_empty($$ select tests.seen('clinical_notes') $$, 'a revoked doctor still on the care team sees nothing');

select tests.act_as('a_patient1');
select set_eq($$ select tests.seen('clinical_notes') $$, array['signed'], 'the patient reads their signed notes only');
select set_eq($$ select tests.seen('lab_results') $$, array['troponin'], 'and their final lab results only');
select set_eq($$ select tests.seen('vital_signs') $$, array['vitals'], 'and their vitals');
select throws_ok(
    $$ insert into public.vital_signs (patient_id, hospital_id, heart_rate_bpm)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 70) $$,
    '42501', null, 'a patient does not write clinical rows'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ select tests.seen('clinical_notes') union all select tests.seen('lab_results')
    union all select tests.seen('vital_signs') union all select tests.seen('patient_documents') $$,
    'another patient sees nothing of it'
);

select tests.act_as('a_front_desk');
select is_empty(
    $$ select tests.seen('clinical_notes') union all select tests.seen('lab_results')
    union all select tests.seen('vital_signs') union all select tests.seen('diagnoses')
    union all select tests.seen('medical_profiles') $$,
    'front desk sees no clinical content'
);
select
    set_eq(
        $$ select tests.seen('patient_documents') $$, array['insurance'], 'front desk sees the insurance paperwork only'
    );
select tests.act_as('a_cro');
select is_empty(
    $$ select tests.seen('clinical_notes') union all select tests.seen('lab_results')
    union all select tests.seen('patient_documents') union all select tests.seen('vital_signs') $$,
    'CRO sees no clinical content'
);
select tests.act_as('a_pharmacist');
select is_empty(
    $$ select tests.seen('clinical_notes') union all select tests.seen('lab_results')
    union all select tests.seen('diagnoses') union all select tests.seen('vital_signs') $$,
    'a pharmacist sees no clinical content'
);
select tests.act_as('b_doctor');
select
    set_eq(
        $$ select tests.seen('clinical_notes') $$,
        array['b_note'],
        'another hospital''s doctor sees only their own patient''s notes'
    );
select tests.act_as('b_admin');
select
    set_eq(
        $$ select tests.seen('clinical_notes') $$, array['b_note'], 'another hospital''s admin sees nothing of TSTA'
    );
select tests.act_as_anon();
select throws_ok($$ select 1 from public.clinical_notes $$, '42501', null, 'anon holds no privilege');

-- Reading a note in clear ------------------------------------------------------------------------
select tests.act_as('a_doctor');
select is(
    public.clinical_note(tests.id_of('clinical_notes', 'draft')) -> 'soap' ->> 'assessment',
    'Suspected angina', 'the care team reads the note in clear through the RPC'
);
select tests.clear_authentication();
select results_eq(
    $$ select action, actor_id from audit.log where table_name = 'public.clinical_notes' and action = 'READ'
        and row_id = tests.id_of('clinical_notes', 'draft')::text $$,
    $$ values ('READ', tests.user_id('a_doctor')) $$,
    'and the read is in the audit trail'
);
select is_empty(
    $$ select 1 from public.clinical_notes where position(convert_to('angina', 'utf8') in soap_encrypted) > 0 $$,
    'the note text is not stored in clear'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ select public.clinical_note(tests.id_of('clinical_notes', 'draft')) $$, 'PT404', null,
    'the patient cannot read a draft in clear'
);
select is(
    public.clinical_note(tests.id_of('clinical_notes', 'signed')) -> 'soap' ->> 'assessment',
    'Stable angina', 'but reads a signed note'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ select public.clinical_note(tests.id_of('clinical_notes', 'signed')) $$, 'PT404', null,
    'an admin sees that a note exists but not its text'
);

-- Signing and immutability ------------------------------------------------------------------------
select tests.act_as('a_nurse');
select throws_ok(
    $$ select public.sign_clinical_note(tests.id_of('clinical_notes', 'draft')) $$, '42501',
    'only the author edits or signs a draft note', 'only the author signs a draft'
);
select tests.act_as('a_doctor');
select lives_ok(
    $$ select public.update_clinical_note(tests.id_of('clinical_notes', 'draft'), '{"plan": "ECG today"}') $$,
    'the author edits a draft'
);
select throws_ok(
    $$ select public.update_clinical_note(tests.id_of('clinical_notes', 'signed'), '{"plan": "changed"}') $$,
    'PT409', 'a signed note cannot be changed', 'a signed note is immutable'
);
select throws_ok(
    $$ update public.clinical_notes set status = 'draft' where id = tests.id_of('clinical_notes', 'signed') $$,
    'PT409', 'a signed note cannot be changed', 'and cannot be unsigned'
);
select throws_ok(
    $$ select public.add_note_addendum(tests.id_of('clinical_notes', 'draft'), 'x') $$,
    'PT409', 'addenda are for signed notes', 'a draft takes no addendum'
);
select lives_ok(
    $$ select public.add_note_addendum(tests.id_of('clinical_notes', 'signed'), 'Correction: BP 145/90') $$,
    'a signed note is corrected by an addendum'
);
select is(
    public.clinical_note(tests.id_of('clinical_notes', 'signed')) -> 'addenda' -> 0 ->> 'body',
    'Correction: BP 145/90', 'which is read with the note'
);

-- Vitals, ICD-10, lab results ------------------------------------------------------------------
select throws_ok(
    $$ insert into public.vital_signs (patient_id, hospital_id, heart_rate_bpm)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 400) $$,
    '23514', null, 'an implausible heart rate is refused'
);
select throws_ok(
    $$ insert into public.diagnoses (patient_id, hospital_id, icd10_code, description)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'angina', 'x') $$,
    'PT422', null, 'a diagnosis needs an ICD-10 code (diagnosis_codes.test.sql: the code table decides)'
);
select throws_ok(
    $$ insert into public.diagnoses (patient_id, hospital_id, encounter_id, icd10_code, description, is_primary)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
        tests.id_of('encounters', 'visit'), 'I10', 'Hypertension', true) $$,
    '23505', null, 'an encounter has one primary diagnosis'
);
select throws_ok(
    $$ update public.lab_results set result_value = '0.01' where id = tests.id_of('lab_results', 'troponin') $$,
    'PT409', 'a final lab result cannot be changed', 'a final lab result is immutable'
);
select tests.clear_authentication();
select results_eq(
    $$ select kind, recipient_kind, recipient_id from private.outbox
        where subject_id = tests.id_of('lab_results', 'troponin') $$,
    $$ values ('lab_result_critical', 'user', tests.user_id('a_doctor')) $$,
    'a critical result tells the ordering doctor through the outbox'
);

-- Documents in Storage -----------------------------------------------------------------------------
select tests.act_as('a_doctor');
select lives_ok(
    $$ insert into storage.objects (bucket_id, name) values ('patient-documents',
        'patients/' || tests.id_of('patients', 'a_patient1') || '/ecg.pdf') $$,
    'the care team uploads the file of a document row'
);
select throws_ok(
    $$ insert into storage.objects (bucket_id, name) values ('patient-documents',
        'patients/' || tests.id_of('patients', 'a_patient1') || '/unregistered.pdf') $$,
    '42501', null, 'but no file without its metadata row'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ select 1 from storage.objects where bucket_id = 'patient-documents' $$,
    'object policies mirror the record: front desk cannot see the ECG file'
);

-- Timeline ---------------------------------------------------------------------------------------
select tests.act_as('a_patient1');
select set_eq(
    $$ select kind from public.patient_timeline(tests.id_of('patients', 'a_patient1')) $$,
    array['clinical_note', 'lab_result', 'document'],
    'the patient''s timeline aggregates what they may see'
);

-- Archive and restore ------------------------------------------------------------------------------
select tests.act_as('a_doctor');
select throws_ok(
    $$ update public.vital_signs set deleted_at = now() where id = tests.id_of('vital_signs', 'vitals') $$,
    '42501', null, 'clinicians do not archive'
);
select tests.act_as('a_admin');
update public.vital_signs set deleted_at = now()
where id = tests.id_of('vital_signs', 'vitals');
select set_eq($$ select tests.seen('vital_signs') $$, array['vitals'], 'the admin archives and still sees the row');
select tests.act_as('a_nurse');
select is_empty($$ select tests.seen('vital_signs') $$, 'archived rows disappear for everyone else');
select tests.act_as('a_admin');
update public.vital_signs set deleted_at = null
where id = tests.id_of('vital_signs', 'vitals');
select tests.act_as('a_nurse');
select set_eq($$ select tests.seen('vital_signs') $$, array['vitals'], 'and an admin restores it');

select * from finish();
rollback;
