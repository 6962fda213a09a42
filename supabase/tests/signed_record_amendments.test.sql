-- A signed medical record changes only by amendment (issue 20, item 4): its vital signs and
-- diagnoses are frozen for every role once its note is signed; an amendment (an addendum with
-- its reason) may add diagnoses and vital signs and mark rows entered in error, which stay
-- readable and stop counting.
begin;
select plan(31);

select tests.create_world();

create function pg_temp.refusal(actor text, statement text)
returns text
language plpgsql
as $$
declare
    e jsonb;
begin
    if actor = 'service_role' then
        perform tests.act_as_service_role();
    elsif actor = 'postgres' then
        perform tests.clear_authentication();
    else
        perform tests.act_as(actor);
    end if;
    e := tests.error_of(statement);
    perform tests.clear_authentication();
    return e ->> 'code' || ' ' || coalesce(e ->> 'details', '');
end;
$$;

-- A signed record, made in one call (it signs after writing the diagnoses) ------------------------
select tests.act_as('a_doctor');
select tests.remember('made', (public.create_medical_record(
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
    '{"chief_complaint": "Chest pain", "vital_signs": {"systolic_mmhg": 210, "diastolic_mmhg": 80},
      "assessment": "Suspected angina", "diagnoses": [{"icd10_code": "I20.9", "is_primary": true},
      {"icd10_code": "I10"}]}',
    sign => true
) ->> 'id')::uuid);
select tests.clear_authentication();
select results_eq(
    $$ select (select count(*)::integer from public.diagnoses where encounter_id = tests.recall('made')),
        (select status::text from public.clinical_notes where encounter_id = tests.recall('made')) $$,
    $$ values (2, 'signed') $$,
    'rpc/create_medical_record with sign writes its diagnoses and signs the record'
);
select tests.remember('angina', (
    select id from public.diagnoses
    where encounter_id = tests.recall('made') and icd10_code = 'I20.9'
));
select tests.remember('hypertension', (
    select id from public.diagnoses
    where encounter_id = tests.recall('made') and icd10_code = 'I10'
));
select tests.remember('vitals', (
    select id from public.vital_signs
    where encounter_id = tests.recall('made')
));

-- Frozen for every role -------------------------------------------------------------------------------
-- The same new diagnosis, as the doctor would write it (diagnosed_by is theirs) and as the system.
create temporary table new_diagnosis on commit drop as
select
    format(
        'insert into public.diagnoses (patient_id, hospital_id, encounter_id, icd10_code, description)'
        || ' values (%L, %L, %L, ''I50.9'', ''Heart failure'')',
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), tests.recall('made')
    ) as statement,
    format(
        'insert into public.diagnoses (patient_id, hospital_id, encounter_id, icd10_code, description, diagnosed_by)'
        || ' values (%L, %L, %L, ''I50.9'', ''Heart failure'', %L)',
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), tests.recall('made'),
        tests.user_id('a_doctor')
    ) as system_statement;
select is(
    pg_temp.refusal('a_doctor', (select statement from new_diagnosis)), 'PT409 record_signed',
    'the doctor adds no diagnosis to the signed record'
);
select is(
    pg_temp.refusal('service_role', (select system_statement from new_diagnosis)), 'PT409 record_signed',
    'nor does the service role'
);
select is(
    pg_temp.refusal('postgres', (select system_statement from new_diagnosis)), 'PT409 record_signed',
    'nor a session without claims (jobs, SQL)'
);
select is(
    pg_temp.refusal('a_nurse', format(
        'insert into public.vital_signs (patient_id, hospital_id, encounter_id, heart_rate_bpm)'
        || ' values (%L, %L, %L, 70)',
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), tests.recall('made')
    )),
    'PT409 record_signed', 'the nurse adds no vital signs to it'
);
select is(
    pg_temp.refusal('a_doctor', format(
        'update public.diagnoses set is_primary = false where id = %L', tests.recall('angina')
    )),
    'PT409 record_signed', 'a diagnosis of the signed record does not change'
);
select is(
    pg_temp.refusal('service_role', format(
        'update public.vital_signs set systolic_mmhg = 120 where id = %L', tests.recall('vitals')
    )),
    'PT409 record_signed', 'nor its vital signs, even for the service role'
);
select is(
    pg_temp.refusal('postgres', format(
        'update public.diagnoses set icd10_code = ''I20.0'' where id = %L', tests.recall('angina')
    )),
    'PT409 record_signed', 'nor for a session without claims'
);
select is(
    pg_temp.refusal('service_role', format('delete from public.diagnoses where id = %L', tests.recall('hypertension'))),
    '42501 ', 'and nothing of it is deleted'
);
select is(
    pg_temp.refusal('a_doctor', format(
        'update public.diagnoses set entered_in_error_by = %L where id = %L',
        gen_random_uuid(), tests.recall('hypertension')
    )),
    '42501 ', 'nobody marks a row entered in error directly'
);
select is(
    pg_temp.refusal('a_doctor', format(
        'update public.diagnoses set resolved_at = now() where id = %L', tests.recall('hypertension')
    )),
    null, 'a diagnosis is still resolved (the problem list), which is no edit of the record'
);
select is(
    pg_temp.refusal(
        'a_admin', format('update public.vital_signs set deleted_at = now() where id = %L', tests.recall('vitals'))
    ),
    null, 'and the hospital''s admin still archives'
);
update public.vital_signs set deleted_at = null
where id = tests.recall('vitals');
update public.diagnoses set resolved_at = null
where id = tests.recall('hypertension');

-- Amendments ---------------------------------------------------------------------------------------------
select is(
    pg_temp.refusal('a_doctor2', format(
        'select public.amend_medical_record(%L, ''x'', ''correction'')', tests.recall('made')
    )),
    'PT404 medical_record_not_found', 'a doctor outside the care team does not amend it'
);
select tests.act_as('a_doctor');
select tests.remember('draft', (public.create_medical_record(
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
    '{"assessment": "Cough", "diagnoses": [{"icd10_code": "R05.9"}]}'
) ->> 'id')::uuid);
select tests.clear_authentication();
select is(
    pg_temp.refusal('postgres', format(
        'update public.diagnoses set encounter_id = %L where encounter_id = %L',
        tests.recall('made'), tests.recall('draft')
    )),
    'PT409 record_signed', 'nor does a diagnosis of another record move into it'
);
select is(
    pg_temp.refusal('a_doctor', format(
        'select public.amend_medical_record(%L, ''x'', ''correction'')', tests.recall('draft')
    )),
    'PT409 record_not_signed', 'a draft record is edited, not amended'
);
select is(
    pg_temp.refusal('a_doctor', format(
        'select public.amend_medical_record(%L, ''x'', ''correction'', entered_in_error_ids => array[%L]::uuid[])',
        tests.recall('made'),
        (
            select id from public.diagnoses
            where encounter_id = tests.recall('draft')
        )
    )),
    '22023 not_in_record', 'an amendment retracts only rows of its record'
);
select is(
    pg_temp.refusal('a_doctor', format(
        'select public.amend_medical_record(%L, ''x'', ''correction'', diagnoses => %L)',
        tests.recall('made'), '[{"icd10_code": "I21.9", "is_primary": true}]'
    )),
    '22023 several_primary_diagnoses', 'a second primary needs the first retracted'
);
select is(
    (
        select count(*)::integer from public.clinical_note_addenda as a
        inner join public.clinical_notes as n on a.note_id = n.id
        where n.encounter_id = tests.recall('made')
    ),
    0, 'refused amendments leave no addendum'
);

select tests.act_as('a_doctor');
select tests.remember('amendment', (public.amend_medical_record(
    tests.recall('made'), 'Troponin raised: myocardial infarction, not angina; BP misread', 'correction',
    diagnoses => '[{"icd10_code": "I21.9", "is_primary": true}]',
    vital_signs => '{"systolic_mmhg": 120, "diastolic_mmhg": 80}',
    entered_in_error_ids => array[tests.recall('angina'), tests.recall('vitals')]
) ->> 'addendum_id')::uuid);
select tests.clear_authentication();
select results_eq(
    $$ select a.author_id, a.reason from public.clinical_note_addenda as a where a.id = tests.recall('amendment') $$,
    $$ values (tests.user_id('a_doctor'), 'correction') $$,
    'the amendment is an addendum with its author and reason'
);
select results_eq(
    $$ select icd10_code, is_primary, addendum_id, entered_in_error_by from public.diagnoses
        where encounter_id = tests.recall('made') order by icd10_code $$,
    $$ values ('I10', false, null::uuid, null::uuid), ('I20.9', true, null, tests.recall('amendment')),
        ('I21.9', true, tests.recall('amendment'), null) $$,
    'the wrong diagnosis stays, marked entered in error by the amendment, which added the right one'
);
select results_eq(
    $$ select systolic_mmhg, addendum_id, entered_in_error_by from public.vital_signs
        where encounter_id = tests.recall('made') order by systolic_mmhg $$,
    $$ values (120, tests.recall('amendment'), null::uuid), (210, null, tests.recall('amendment')) $$,
    'so do the misread vital signs, beside the corrected ones'
);
select ok(
    exists (
        select from audit.log as l
        where
            l.action = 'UPDATE' and l.table_name = 'public.diagnoses' and l.row_id = tests.recall('angina')::text
            and l.actor_id = tests.user_id('a_doctor') and 'entered_in_error_by' = any(l.changed_fields)
    ),
    'the retraction is in the audit trail, by its author'
);

select tests.act_as('a_nurse');
select results_eq(
    $$ select jsonb_array_length(r -> 'diagnoses'), jsonb_array_length(r -> 'vital_signs'),
            (select d ->> 'entered_in_error_by' from jsonb_array_elements(r -> 'diagnoses') as d
                where d ->> 'icd10_code' = 'I20.9'),
            r -> 'notes' -> 0 -> 'addenda' -> 0 ->> 'body'
        from public.medical_record(tests.recall('made')) as r $$,
    $$ values (
        3, 2, tests.recall('amendment')::text, 'Troponin raised: myocardial infarction, not angina; BP misread'
    ) $$,
    'the care team reads the record whole: the originals, the amendment and what it changed'
);
select is(
    (
        select r ->> 'primary_diagnosis' from public.medical_records(tests.id_of('patients', 'a_patient1')) as r
        where (r ->> 'id')::uuid = tests.recall('made')
    ),
    'I21.9 Acute myocardial infarction, unspecified', 'the records list shows the corrected primary diagnosis'
);
select results_eq(
    $$ select (p -> 'last_vital_signs' ->> 'systolic_mmhg')::integer,
            (select count(*)::integer from jsonb_array_elements(p -> 'active_diagnoses') as d
                where d ->> 'icd10_code' = 'I20.9')
        from public.medical_profile(tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA')) as p $$,
    $$ values (120, 0) $$,
    'the profile counts neither the retracted diagnosis nor the misread vital signs'
);
select tests.clear_authentication();
select is(
    pg_temp.refusal('a_nurse', format(
        'insert into public.vital_signs (patient_id, hospital_id, encounter_id, heart_rate_bpm)'
        || ' values (%L, %L, %L, 70)',
        tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), tests.recall('made')
    )),
    'PT409 record_signed', 'another user''s amendment lets nobody else in'
);
select is(
    pg_temp.refusal('a_doctor', format(
        'select public.amend_medical_record(%L, ''again'', ''correction'', entered_in_error_ids => array[%L]::uuid[])',
        tests.recall('made'), tests.recall('angina')
    )),
    '22023 not_in_record', 'a row is retracted once'
);

-- The encounter of a signed record -------------------------------------------------------------------
select is(
    pg_temp.refusal('a_doctor', format(
        'update public.encounters set chief_complaint = %L where id = %L', 'Indigestion', tests.recall('made')
    )),
    'PT409 record_signed', 'the complaint of a signed record is frozen with it'
);
select is(
    pg_temp.refusal('postgres', format(
        'update public.encounters set started_at = started_at - interval ''1 day'' where id = %L', tests.recall('made')
    )),
    'PT409 record_signed', 'and its start, whoever writes'
);
select tests.act_as('a_doctor');
select lives_ok(
    format('update public.encounters set ended_at = now() where id = %L', tests.recall('made')),
    'a visit signed before it was closed is given its end'
);
select tests.clear_authentication();
select is(
    pg_temp.refusal('a_doctor', format(
        'update public.encounters set ended_at = ended_at + interval ''2 hours'' where id = %L', tests.recall('made')
    )),
    'PT409 record_signed', 'once: the end of a signed record does not move'
);

select * from finish();
rollback;
