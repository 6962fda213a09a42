-- Seed 003's medical records and medical profile (issue 20, item 4): the combined create
-- (encounter, vitals, SOAP note, diagnoses in one transaction; bad input writes nothing), edits
-- once signed only as addenda with a reason, attachments in Storage linked to the record with
-- their limits, the record and the profile read in clear by those who may, each read logged.
begin;
select plan(41);

select tests.create_world();

create temporary table counts_before on commit drop as
select
    (select count(*) from public.encounters) as encounters,
    (select count(*) from public.vital_signs) as vitals,
    (select count(*) from public.clinical_notes) as notes,
    (select count(*) from public.diagnoses) as diagnoses;
grant select on counts_before to authenticated;

create function pg_temp.written()
returns bigint
language sql
as $$
    select (select count(*) from public.encounters) + (select count(*) from public.vital_signs)
        + (select count(*) from public.clinical_notes) + (select count(*) from public.diagnoses)
        - (select encounters + vitals + notes + diagnoses from counts_before);
$$;

create function pg_temp.create_as(actor text, content jsonb, sign boolean default false)
returns jsonb
language plpgsql
as $$
begin
    perform tests.act_as(actor);
    return public.create_medical_record(
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), content, null, sign
    );
end;
$$;

create function pg_temp.refusal(actor text, content jsonb)
returns text
language plpgsql
as $$
declare
    e jsonb;
begin
    e := tests.error_of(format('select pg_temp.create_as(%L, %L::jsonb)', actor, content));
    perform tests.clear_authentication();
    return e ->> 'code' || ' ' || coalesce(e ->> 'details', '');
end;
$$;

-- The seed's request, in carebase's names -----------------------------------------------------------
create temporary table seed_record (content jsonb) on commit drop;
insert into seed_record (content) values (
    '{"record_type": "consultation", "chief_complaint": "Chest pain",
      "vital_signs": {"systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 72,
                      "temperature_f": 98.6, "spo2_percent": 98, "respiratory_rate_per_min": 16},
      "subjective": "Patient reports pain on exertion", "objective": "Physical examination reveals...",
      "assessment": "Suspected angina", "plan": "ECG ordered, follow-up in 1 week",
      "diagnoses": [{"icd10_code": "I20.9", "description": "Angina pectoris", "is_primary": true},
                    {"icd10_code": "i10"}]}'
);
grant select on seed_record to authenticated;

-- Refusals first: each answers its code and writes nothing -------------------------------------------
select is(
    pg_temp.refusal('a_doctor2', (select content from seed_record)), '42501 not_on_care_team',
    'a doctor outside the patient''s care team is refused'
);
select is(
    pg_temp.refusal('b_doctor', (select content from seed_record)), '42501 not_on_care_team',
    'so is another hospital''s doctor'
);
select is(
    pg_temp.refusal('a_patient1', (select content from seed_record)), '42501 not_on_care_team',
    'and the patient'
);
select is(
    pg_temp.refusal('a_doctor', jsonb_set((select content from seed_record), '{diagnoses,1,icd10_code}', '"I99.99"')),
    'PT422 unknown_diagnosis_code', 'an unknown ICD-10 code is refused'
);
select is(
    pg_temp.refusal('a_doctor', jsonb_set((select content from seed_record), '{vital_signs,systolic_mmhg}', '400')),
    '22023 invalid_vital_signs', 'an implausible blood pressure is refused'
);
select is(
    pg_temp.refusal('a_doctor', jsonb_set((select content from seed_record), '{vital_signs,pulse}', '72')),
    '22023 invalid_vital_signs', 'so is a vital sign of no known kind'
);
select is(
    pg_temp.refusal('a_doctor', jsonb_set((select content from seed_record), '{vital_signs,heart_rate_bpm}', '"fast"')),
    '22023 invalid_vital_signs', 'and one that is not a number'
);
select is(
    pg_temp.refusal('a_doctor', jsonb_set((select content from seed_record), '{diagnoses,1,is_primary}', 'true')),
    '22023 several_primary_diagnoses', 'a record has one primary diagnosis'
);
select is(
    pg_temp.refusal('a_doctor', (select content from seed_record) || '{"doctor_id": "x"}'),
    '22023 invalid_medical_record', 'an unknown field is refused, not ignored'
);
select is(
    pg_temp.refusal('a_doctor', (select content from seed_record) || '{"record_type": "gossip"}'),
    '22023 invalid_medical_record', 'as is an unknown record type'
);
select tests.clear_authentication();
select is(pg_temp.written(), 0::bigint, 'none of the refused records wrote anything');

-- The combined create ---------------------------------------------------------------------------------
select tests.remember('made', (pg_temp.create_as('a_doctor', (select content from seed_record), true) ->> 'id')::uuid);
select tests.clear_authentication();
select is(pg_temp.written(), 5::bigint, 'one call wrote the encounter, its vitals, its note and two diagnoses');
select results_eq(
    $$ select e.record_type, e.chief_complaint, e.clinician_id from public.encounters as e
        where e.id = tests.recall('made') $$,
    $$ values ('consultation', 'Chest pain', tests.user_id('a_doctor')) $$,
    'the record is the doctor''s consultation'
);
select results_eq(
    $$ select v.systolic_mmhg, v.diastolic_mmhg, v.heart_rate_bpm, v.temperature_c, v.spo2_percent
        from public.vital_signs as v where v.encounter_id = tests.recall('made') $$,
    $$ values (120, 80, 72, 37.0::numeric(4, 1), 98) $$,
    'the vitals are the record''s, 98.6 F stored as 37.0 C'
);
select results_eq(
    $$ select d.icd10_code, d.description, d.is_primary, d.code_system from public.diagnoses as d
        where d.encounter_id = tests.recall('made') order by d.icd10_code $$,
    $$ values ('I10', 'Essential (primary) hypertension', false, 'ICD-10-CM'),
        ('I20.9', 'Angina pectoris', true, 'ICD-10-CM') $$,
    'diagnoses are checked against the code table (a lower-case code normalised, its description filled in)'
);
select results_eq(
    $$ select n.status::text, position(convert_to('angina', 'UTF8') in n.soap_encrypted) = 0
        from public.clinical_notes as n where n.encounter_id = tests.recall('made') $$,
    $$ values ('signed', true) $$,
    'the note is signed and stored encrypted'
);
select ok(
    exists (
        select from audit.log as l
        where
            l.action = 'INSERT'
            and l.table_name = 'public.diagnoses'
            and l.patient_id = tests.id_of('patients', 'a_patient1')
    ),
    'the writes are in the audit trail'
);

-- Once signed: addenda only ------------------------------------------------------------------------------
select tests.act_as('a_doctor');
select
    tests.remember('note', (
        select n.id from public.clinical_notes as n
        where n.encounter_id = tests.recall('made')
    ));
select is(
    tests.error_of(format(
        'select public.update_clinical_note(%L, ''{"assessment": "Stable angina"}'')', tests.recall('note')
    )) ->> 'code',
    'PT409', 'the signed note cannot be edited'
);
select is(
    tests.error_of(format(
        'update public.encounters set chief_complaint = ''Palpitations'' where id = %L', tests.recall('made')
    )) ->> 'details',
    'record_signed', 'nor the signed record''s chief complaint'
);
select is(
    tests.error_of(format('select public.add_note_addendum(%L, ''x'', ''whim'')', tests.recall('note'))) ->> 'details',
    'invalid_addendum_reason', 'an addendum says why, from a known list'
);
select tests.remember(
    'addendum', public.add_note_addendum(tests.recall('note'), 'Troponin negative: stable angina', 'correction')
);
select tests.clear_authentication();
select results_eq(
    $$ select a.author_id, a.reason, a.hospital_id from public.clinical_note_addenda as a
        where a.id = tests.recall('addendum') $$,
    $$ values (tests.user_id('a_doctor'), 'correction', tests.id_of('hospitals', 'TSTA')) $$,
    'the correction is an addendum by its author, linked to the note'
);
select tests.act_as('a_doctor');
select is(
    tests.error_of(format(
        'update public.clinical_note_addenda set reason = ''addition'' where id = %L', tests.recall('addendum')
    )) ->> 'code',
    '42501', 'an addendum is final as written'
);

-- Reading the record ---------------------------------------------------------------------------------------
select tests.act_as('a_nurse');
select results_eq(
    $$ select r ->> 'record_type', r -> 'notes' -> 0 -> 'soap' ->> 'assessment',
            r -> 'notes' -> 0 -> 'addenda' -> 0 ->> 'reason', r -> 'notes' -> 0 -> 'addenda' -> 0 ->> 'body',
            jsonb_array_length(r -> 'diagnoses'), (r -> 'vital_signs' -> 0 ->> 'heart_rate_bpm')::integer
        from public.medical_record(tests.recall('made')) as r $$,
    $$ values ('consultation', 'Suspected angina', 'correction', 'Troponin negative: stable angina', 2, 72) $$,
    'the care team reads the record in clear, its note with the addendum'
);
select tests.clear_authentication();
select ok(
    exists (
        select from audit.log as l
        where
            l.action = 'READ' and l.table_name = 'public.encounters' and l.row_id = tests.recall('made')::text
            and l.actor_id = tests.user_id('a_nurse') and l.patient_id = tests.id_of('patients', 'a_patient1')
    ),
    'and the read is logged, naming the patient'
);
select tests.act_as('a_patient1');
select is(
    (public.medical_record(tests.recall('made')) -> 'notes' -> 0 -> 'addenda' -> 0 ->> 'reason'),
    'correction', 'the patient reads their own signed record with its addenda'
);
select is(
    (select count(*)::integer from public.medical_records(tests.id_of('patients', 'a_patient1'))), 1,
    'and finds it in their list of records'
);
select tests.act_as('a_doctor2');
select is(
    tests.error_of(format('select public.medical_record(%L)', tests.recall('made'))) ->> 'details',
    'medical_record_not_found', 'another doctor of the hospital reads nothing'
);
select tests.act_as('a_front_desk');
select is(
    tests.error_of(format('select public.medical_record(%L)', tests.recall('made'))) ->> 'details',
    'medical_record_not_found', 'nor does the front desk'
);
select tests.act_as('a_doctor', 'aal1');
select is(
    tests.error_of(format('select public.medical_record(%L)', tests.recall('made'))) ->> 'details',
    'insufficient_aal', 'staff read records only at aal2'
);

-- Attachments -------------------------------------------------------------------------------------------------
select tests.act_as('a_doctor');
select tests.remember(
    'attachment',
    (public.attach_medical_record_file(tests.recall('made'), 'ECG strip 1.pdf', 'application/pdf', 2048) ->> 'id')::uuid
);
select is(
    (
        select d.storage_path from public.patient_documents as d
        where d.id = tests.recall('attachment')
    ),
    format(
        'patients/%s/records/%s/%s/ECG_strip_1.pdf', tests.id_of('patients', 'a_patient1'), tests.recall('made'),
        tests.recall('attachment')
    ),
    'an attachment''s row places its file under the record'
);
select is(
    tests.error_of(format(
        'select public.attach_medical_record_file(%L, ''x.exe'', ''application/x-msdownload'', 10)',
        tests.recall('made')
    )) ->> 'details',
    'attachment_type_not_allowed', 'an executable is not attached'
);
select is(
    tests.error_of(format(
        'select public.attach_medical_record_file(%L, ''big.pdf'', ''application/pdf'', 30000000)', tests.recall('made')
    )) ->> 'details',
    'attachment_too_large', 'nor a file over 25 MiB'
);
select is(
    tests.error_of(format(
        $$ insert into storage.objects (bucket_id, name, metadata) values ('patient-documents', %L,
            '{"mimetype": "text/html", "size": 100}') $$,
        (
            select d.storage_path from public.patient_documents as d
            where d.id = tests.recall('attachment')
        )
    )) ->> 'code',
    '42501', 'Storage refuses a file of another type than its row says'
);
select is(
    tests.error_of(format(
        $$ insert into storage.objects (bucket_id, name, metadata) values ('patient-documents', %L,
            '{"mimetype": "application/pdf", "size": 4096}') $$,
        (
            select d.storage_path from public.patient_documents as d
            where d.id = tests.recall('attachment')
        )
    )) ->> 'code',
    '42501', 'or larger'
);
select is(
    tests.error_of(format(
        $$ insert into storage.objects (bucket_id, name, metadata) values ('patient-documents', %L,
            '{"mimetype": "application/pdf", "size": 2048}') $$,
        (
            select d.storage_path from public.patient_documents as d
            where d.id = tests.recall('attachment')
        )
    )),
    null, 'the care team uploads the file the row announced'
);
select tests.act_as('b_doctor');
select is(
    tests.error_of(format(
        'select public.attach_medical_record_file(%L, ''x.pdf'', ''application/pdf'', 10)', tests.recall('made')
    )) ->> 'details',
    'medical_record_not_found', 'another hospital''s doctor attaches nothing to the record'
);
select tests.act_as('a_patient1');
select is(
    (public.medical_record(tests.recall('made')) -> 'attachments' -> 0 ->> 'name'), 'ECG strip 1.pdf',
    'the record lists its attachment'
);

-- The medical profile -----------------------------------------------------------------------------------------
select tests.act_as('a_doctor');
select public.set_medical_profile(
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'B+', '["penicillin"]',
    '["hypertension"]', '["amlodipine 5 mg daily"]'
);
select is(
    tests.error_of(format(
        'select public.set_medical_profile(%L, %L, ''C+'')', tests.id_of('patients', 'a_patient1'),
        tests.id_of('hospitals', 'TSTA')
    )) ->> 'details',
    'invalid_blood_group', 'a blood group is one of the eight'
);
select tests.act_as('a_patient1');
select results_eq(
    $$ select p ->> 'blood_group', p -> 'allergies', p -> 'current_medications',
            jsonb_array_length(p -> 'active_diagnoses') >= 2, (p -> 'last_vital_signs' ->> 'systolic_mmhg')::integer
        from public.medical_profile(tests.id_of('patients', 'a_patient1')) as p $$,
    $$ values ('B+', '["penicillin"]'::jsonb, '["amlodipine 5 mg daily"]'::jsonb, true, 120) $$,
    'the patient reads their profile: blood group, allergies, medications, active diagnoses, last vitals'
);
select tests.act_as('a_doctor2');
select is(
    tests.error_of(format('select public.medical_profile(%L)', tests.id_of('patients', 'a_patient1'))) ->> 'details',
    'patient_not_found', 'another doctor reads no profile'
);
select tests.clear_authentication();
select ok(
    exists (
        select from audit.log as l
        where
            l.action = 'READ' and l.table_name = 'public.medical_profiles'
            and l.actor_id = tests.user_id('a_patient1') and l.patient_id = tests.id_of('patients', 'a_patient1')
    ),
    'the profile''s read is logged'
);

select * from finish();
rollback;
