-- Diagnosis codes (issue 20, item 3): the ICD-10-CM tables `carebase up` loads, search by
-- code and by text, one code with its place in the classification, and diagnoses checked
-- against the table (an unknown code refused; older diagnoses versioned, or reported and kept).
begin;
select plan(31);

select tests.create_world();

-- The tables ---------------------------------------------------------------------------------------
select ok(
    exists (
        select from public.code_systems
        where
            system = 'ICD-10-CM' and is_current and code_count > 90000
            and attribution like '%public domain%' and attribution like '%simple-icd-10-cm%'
    ),
    'ICD-10-CM is loaded and current, with its attribution (CDC public domain, the package)'
);
select results_eq(
    $$ select code, billable, chapter, block, parent_code from public.diagnosis_codes
        where system = 'ICD-10-CM' and version = private.current_code_version('ICD-10-CM') and code in ('I21', 'I21.9')
        order by code $$,
    $$ values ('I21', false, '9', 'I20-I25', null::text), ('I21.9', true, '9', 'I20-I25', 'I21') $$,
    'codes carry their chapter, block, parent and billable flag (a category with subcategories is not billable)'
);

-- Search, as any signed-in user ----------------------------------------------------------------------
select tests.act_as('a_front_desk');
select is(
    (
        select s.code from public.search_diagnosis_codes('hypertension') with ordinality as s
        order by s.ordinality limit 1
    ),
    'I10',
    'hypertension: I10 first'
);
select is(
    (
        select s.code from public.search_diagnosis_codes('essential (primary) hypertension') with ordinality as s
        order by s.ordinality limit 1
    ),
    'I10',
    'its description: I10 first'
);
select is(
    (
        select s.code from public.search_diagnosis_codes('heart attack') with ordinality as s
        order by s.ordinality limit 1
    ),
    'I21',
    'a synonym: heart attack finds I21 (acute myocardial infarction)'
);
select is(
    (
        select s.code from public.search_diagnosis_codes('high blood pressure') with ordinality as s
        order by s.ordinality limit 1
    ),
    'I10',
    'an inclusion term of the classification: high blood pressure finds I10'
);
select ok(
    'I10' in (select code from public.search_diagnosis_codes('hyperten', max_results => 5)),
    'the last word as a prefix (type-ahead)'
);
select ok(
    'I10' in (select code from public.search_diagnosis_codes('hypertnsion', max_results => 5)),
    'a misspelling finds it by similarity'
);
select is(
    (
        select matched_by from public.search_diagnosis_codes('hypertnsion')
        where code = 'I10'
    ), 'similar',
    'and says so'
);
select results_eq(
    $$ select code, matched_by from public.search_diagnosis_codes('I10') $$,
    $$ values ('I10', 'code') $$,
    'a code finds itself'
);
select results_eq(
    $$ select code from public.search_diagnosis_codes('i219') $$,
    $$ values ('I21.9') $$,
    'in any case, without its dot'
);
select results_eq(
    $$ select code from public.search_diagnosis_codes('I21', max_results => 3) $$,
    $$ values ('I21'), ('I21.0'), ('I21.01') $$,
    'a prefix lists the codes under it in the classification''s order'
);
select is_empty(
    $$ select from public.search_diagnosis_codes('I21', billable_only => true) where not billable $$,
    'billable_only leaves out the codes a claim cannot carry'
);
select ok(
    (
        select count(*) from public.search_diagnosis_codes('S72.001', max_results => 100)
        where code like 'S72.001_'
    ) >= 3,
    'seventh-character codes are found by their code'
);
select is_empty(
    $$ select from public.search_diagnosis_codes('initial encounter for closed fracture', max_results => 100) as s
        inner join public.diagnosis_codes as c on c.system = 'ICD-10-CM' and c.version = s.code_version and c.code = s.code
        where c.extended $$,
    'and not by text (their parent is)'
);
select is(
    (tests.error_of($$ select * from public.search_diagnosis_codes('h') $$)) ->> 'details', 'query_too_short',
    'a one-character query is refused'
);
select is(
    (tests.error_of($$ select * from public.search_diagnosis_codes('fever', max_results => 500) $$)) ->> 'details',
    'max_results_out_of_range',
    'so is an unbounded page'
);
select is(
    (tests.error_of($$ select * from public.search_diagnosis_codes('fever', code_system => 'ICD-11') $$)) ->> 'code',
    'PT404',
    'a code system that is not loaded is 404'
);

-- One code -------------------------------------------------------------------------------------------
select is(
    (
        select
            jsonb_build_object(
                'code', c ->> 'code', 'block', c -> 'block' ->> 'code', 'chapter', c -> 'chapter' ->> 'code',
                'has_child', c -> 'children' @> '[{"code": "I21.9", "billable": true}]'
            )
        from public.diagnosis_code('i21') as c
    ),
    '{"code": "I21", "block": "I20-I25", "chapter": "9", "has_child": true}'::jsonb,
    'one code with its block, chapter and children'
);
select is(
    (tests.error_of($$ select public.diagnosis_code('I10.9') $$)) ->> 'details', 'unknown_diagnosis_code',
    'an unknown code is 404 unknown_diagnosis_code'
);
select tests.act_as_anon();
select is(
    (tests.error_of($$ select * from public.search_diagnosis_codes('fever') $$)) ->> 'code', '42501',
    'anonymous callers search nothing'
);
select tests.clear_authentication();

-- Diagnoses checked against the table ------------------------------------------------------------------
select tests.act_as('a_doctor');
select is(
    (
        tests.error_of($$ insert into public.diagnoses (patient_id, hospital_id, icd10_code, description)
            values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'I10.9', 'Hypertension') $$)
    ) - 'message',
    jsonb_build_object(
        'code', 'PT422', 'details', 'unknown_diagnosis_code', 'hint', 'find the code with rpc/search_diagnosis_codes'
    ),
    'an unknown code is refused with PT422 unknown_diagnosis_code'
);
select is(
    (
        tests.error_of($$ insert into public.diagnoses (patient_id, hospital_id, icd10_code, code_version, description)
            values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'I10', '1999', 'x') $$)
    ) ->> 'details',
    'unknown_code_version',
    'so is a version that is not loaded'
);
insert into public.diagnoses (patient_id, hospital_id, icd10_code)
values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'i219');
insert into public.diagnoses (patient_id, hospital_id, icd10_code, description)
values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'U07.1', 'COVID-19');
select tests.clear_authentication();
select results_eq(
    $$ select icd10_code, code_system, code_version = private.current_code_version('ICD-10-CM'), description
        from public.diagnoses where patient_id = tests.id_of('patients', 'a_patient1') order by icd10_code $$,
    $$ values ('I21.9', 'ICD-10-CM', true, 'Acute myocardial infarction, unspecified'),
        ('U07.1', 'ICD-10-CM', true, 'COVID-19') $$,
    'a known code is stored normalised with its system and the current version; the description defaults to the code''s'
);

-- Older diagnoses: versioned when the code is known, reported (and kept) when not -----------------------
alter table public.diagnoses disable trigger diagnoses_check_code;
insert into public.diagnoses (patient_id, hospital_id, icd10_code, description, diagnosed_by)
values
(
    tests.id_of('patients', 'a_patient2'),
    tests.id_of('hospitals', 'TSTA'),
    'E11.9',
    'Diabetes',
    tests.user_id('a_doctor')
),
(
    tests.id_of('patients', 'a_patient2'),
    tests.id_of('hospitals', 'TSTA'),
    'Q99.99',
    'Made up',
    tests.user_id('a_doctor')
),
(
    tests.id_of('patients', 'b_patient3'), tests.id_of('hospitals', 'TSTB'), 'Z99.999', 'Made up too',
    tests.user_id('b_doctor')
);
alter table public.diagnoses enable trigger diagnoses_check_code;
select ok(
    private.check_diagnosis_codes('ICD-10-CM') >= 2, 'the check counts the diagnoses it could not version'
);
select results_eq(
    $$ select d.icd10_code, d.code_version is not null, f.reason
        from public.diagnoses as d left join public.diagnosis_code_findings as f on f.diagnosis_id = d.id
        where d.patient_id in (tests.id_of('patients', 'a_patient2'), tests.id_of('patients', 'b_patient3'))
        order by d.icd10_code $$,
    $$ values ('E11.9', true, null), ('Q99.99', false, 'unknown_diagnosis_code'),
        ('Z99.999', false, 'unknown_diagnosis_code') $$,
    'a known code gets the version; an unknown one is reported and kept as it was'
);
select tests.act_as('a_admin');
select results_eq(
    $$ select f.reason from public.diagnosis_code_findings as f
        where f.hospital_id in (tests.id_of('hospitals', 'TSTA'), tests.id_of('hospitals', 'TSTB')) $$,
    $$ values ('unknown_diagnosis_code') $$,
    'the hospital''s admin sees its own finding, not another hospital''s'
);
select tests.act_as('a_doctor');
select is_empty(
    $$ select from public.diagnosis_code_findings $$,
    'a doctor does not read the findings'
);
select tests.act_as('a_doctor');
select lives_ok(
    $$ insert into public.diagnoses (patient_id, hospital_id, icd10_code, description)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'E11.9', 'Diabetes') $$,
    'a clinician records the corrected diagnosis'
);
select tests.clear_authentication();
update public.diagnoses set icd10_code = 'E11.65'
where patient_id = tests.id_of('patients', 'a_patient2') and icd10_code = 'Q99.99';
create temporary table checked as select private.check_diagnosis_codes('ICD-10-CM') as open_findings;
select is(
    (select open_findings from checked),
    (
        select count(*)::integer from public.diagnosis_code_findings
        where code_system = 'ICD-10-CM'
    ),
    'a corrected code is versioned at once, and the next check closes its finding and counts the rest'
);
select ok(
    not exists (
        select from public.diagnosis_code_findings as f
        inner join public.diagnoses as d on f.diagnosis_id = d.id
        where d.patient_id = tests.id_of('patients', 'a_patient2')
    ),
    'no finding remains for the corrected diagnosis'
);

select * from finish();
rollback;
