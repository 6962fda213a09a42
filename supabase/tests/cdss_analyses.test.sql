-- Clinical decision support (issue 20, item 2): a doctor of the care team asks for an analysis
-- of an acquired scan; the worker (service role) runs it on de-identified inputs and records the
-- model's answer or its failure; a completed result waits for a doctor's review (accept, or
-- override with a reason), and the patient sees nothing before it; a failed analysis shows as
-- failed, never with findings. The worker and the model server: tests/test_cdss_worker.py.
begin;
select plan(31);

select tests.create_world();

-- An acquired scan of a_patient1 at TSTA, and one still ordered.
select tests.act_as('a_doctor', 'aal2');
select tests.remember(
    'scan',
    (
        public.order_scan(tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'ECG', 'Resting ECG')
        ->> 'id'
    )::uuid
);
select tests.remember(
    'ordered',
    (
        public.order_scan(tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'CT', 'Coronary CTA')
        ->> 'id'
    )::uuid
);
update public.radiology_scans set status = 'acquired'
where id = tests.recall('scan');

create function pg_temp.answer(severity text default 'moderate')
returns jsonb
language sql
as $$
    select jsonb_build_object(
        'model_name', 'ecg-arrhythmia', 'model_version', '2.1.0', 'inputs_sha256', repeat('ab', 32),
        'findings', jsonb_build_array('Atrial fibrillation with rapid ventricular response'),
        'confidence', 87, 'severity', severity, 'recommendations', jsonb_build_array('Rate control')
    );
$$;

-- Requesting ----------------------------------------------------------------------------------------
select is(
    public.request_cdss_analysis(tests.recall('scan'), 'ecg_arrhythmia') ->> 'status', 'queued',
    'a care-team doctor asks for an analysis of an acquired scan: queued'
);
select is(
    (tests.error_of(format('select public.request_cdss_analysis(%L, ''ecg_arrhythmia'')', tests.recall('scan'))))
    ->> 'details',
    'analysis_open',
    'one open request per scan and type'
);
select is(
    (tests.error_of(format('select public.request_cdss_analysis(%L, ''cad_detection'')', tests.recall('ordered'))))
    ->> 'details',
    'scan_not_acquired',
    'not before the scan has its images'
);
select is(
    (tests.error_of(format('select public.request_cdss_analysis(%L, ''mood'')', tests.recall('scan')))) ->> 'details',
    'unknown_analysis_type',
    'an unknown analysis type is refused'
);
select tests.act_as('a_nurse', 'aal2');
select is(
    (tests.error_of(format('select public.request_cdss_analysis(%L, ''risk_stratification'')', tests.recall('scan'))))
    ->> 'code',
    '42501',
    'a nurse does not ask for one (the machine: doctors do)'
);
select tests.act_as('b_doctor', 'aal2');
select is(
    (tests.error_of(format('select public.request_cdss_analysis(%L, ''risk_stratification'')', tests.recall('scan'))))
    ->> 'details',
    'scan_not_found',
    'another hospital''s doctor finds no such scan'
);
select tests.act_as('a_patient1');
select is(
    (tests.error_of(format('select public.request_cdss_analysis(%L, ''risk_stratification'')', tests.recall('scan'))))
    ->> 'details',
    'scan_not_found',
    'nor does the patient ask'
);

-- The worker ----------------------------------------------------------------------------------------
select tests.act_as_service_role();
create temporary table lease on commit drop as select * from public.claim_cdss_analyses(100);
grant select on lease to authenticated;
select is((select count(*)::integer from lease), 1, 'the worker leases the queued analysis');
select ok(
    (select inputs from lease) @> '{"analysis_type": "ecg_arrhythmia", "modality": "ECG", "sex": "male"}'
    and (select inputs from lease) ? 'age_years',
    'with the inputs the model needs'
);
select ok(
    not exists (
        select from lease as l
        where
            l.inputs::text ~* 'Gurmeet|Singh|TSTA-T0001|9800010001' or l.inputs ? 'patient_id'
            or l.inputs::text like '%' || tests.id_of('patients', 'a_patient1') || '%'
    ),
    'and nothing that names the patient (no name, MRN, phone or id)'
);
select is(
    (
        select c.status::text from public.cdss_analyses as c
        where c.id = (select l.analysis_id from lease as l)
    ), 'running',
    'it runs'
);
select is(
    public.complete_cdss_analysis((select analysis_id from lease), gen_random_uuid(), pg_temp.answer()), 'lost',
    'an answer without the lease records nothing'
);
select is(
    (tests.error_of(format(
        'select public.complete_cdss_analysis(%L, %L, ''{"findings": []}'')',
        (select analysis_id from lease), (select claim_token from lease)
    ))) ->> 'details',
    'invalid_result',
    'an answer without model, inputs hash, confidence and severity is refused'
);
select is(
    public.complete_cdss_analysis((select analysis_id from lease), (select claim_token from lease), pg_temp.answer()),
    'completed',
    'the model''s answer is recorded'
);
select results_eq(
    $$ select status::text, model_name, model_version, inputs_sha256, confidence, severity::text
        from public.cdss_analyses where id = (select analysis_id from lease) $$,
    $$ values ('completed', 'ecg-arrhythmia', '2.1.0', repeat('ab', 32), 0.8700::numeric(5, 4), 'moderate') $$,
    'with the model''s name and version, the hash of the inputs, the confidence and the severity'
);
select results_eq(
    $$ select kind, recipient_id from private.outbox where subject_id = (select analysis_id from lease) $$,
    $$ values ('cdss_complete', tests.user_id('a_doctor')) $$,
    'the requesting doctor is told'
);
select tests.clear_authentication();

-- Review --------------------------------------------------------------------------------------------
select tests.act_as('a_patient1');
select is_empty($$ select from public.cdss_analyses() $$, 'the patient sees nothing of an unreviewed result');
select is_empty(
    $$ select from public.cdss_analyses where id = (select analysis_id from lease) $$,
    'not even the row'
);
select tests.act_as('a_doctor', 'aal2');
select results_eq(
    $$ select c ->> 'status', (c ->> 'reviewed')::boolean, c -> 'findings' ->> 0 from public.cdss_analyses() as c $$,
    $$ values ('completed', false, 'Atrial fibrillation with rapid ventricular response') $$,
    'the care team sees it, marked unreviewed'
);
select is(
    (tests.error_of(format('select public.review_cdss_analysis(%L, ''override'')', (select analysis_id from lease))))
    ->> 'details',
    'reason_required',
    'an override without a reason is refused'
);
select is(
    (tests.error_of(format('select public.review_cdss_analysis(%L, ''ignore'')', (select analysis_id from lease))))
    ->> 'details',
    'unknown_decision',
    'so is a decision other than accept or override'
);
select tests.act_as('a_nurse', 'aal2');
select is(
    (tests.error_of(format('select public.review_cdss_analysis(%L, ''accept'')', (select analysis_id from lease))))
    ->> 'code',
    '42501',
    'a nurse does not review'
);
select tests.act_as('a_doctor', 'aal2');
select is(
    public.review_cdss_analysis((select analysis_id from lease), 'override', 'rhythm is sinus with artefact')
    ->> 'status',
    'overridden',
    'the doctor overrides it with the reason'
);
select is(
    (select c ->> 'override_reason' from public.cdss_analyses() as c), 'rhythm is sinus with artefact',
    'which the care team reads'
);
select tests.clear_authentication();
select isnt(
    (
        select c.review_reason_encrypted from public.cdss_analyses as c
        where c.id = (select l.analysis_id from lease as l)
    ),
    convert_to('rhythm is sinus with artefact', 'UTF8'),
    'and which is stored encrypted'
);
select tests.act_as('a_patient1');
select results_eq(
    $$ select c ->> 'status', c -> 'findings' ->> 0, c ? 'override_reason' from public.cdss_analyses() as c $$,
    $$ values ('overridden', 'Atrial fibrillation with rapid ventricular response', false) $$,
    'once reviewed the patient sees it (not the reviewer''s reasoning)'
);

-- Failure, and a severe result ----------------------------------------------------------------------
select tests.act_as('a_doctor', 'aal2');
select public.request_cdss_analysis(tests.recall('scan'), 'risk_stratification') ->> 'status' as requested;
select tests.act_as_service_role();
create temporary table second_lease on commit drop as select * from public.claim_cdss_analyses(100);
grant select on second_lease to authenticated;
select is(
    public.fail_cdss_analysis(
        (select analysis_id from second_lease), (select claim_token from second_lease), 'model service: 500', false
    ),
    'failed',
    'a permanent failure of the model service fails the analysis'
);
select tests.act_as('a_doctor', 'aal2');
select results_eq(
    $$ select c ->> 'status', c ->> 'error', c ? 'findings', c ->> 'severity'
        from public.cdss_analyses() as c where c ->> 'analysis_type' = 'risk_stratification' $$,
    $$ values ('failed', 'model service: 500', false, null) $$,
    'a failed analysis shows as failed, with no finding or severity (never as normal)'
);
select is(
    public.request_cdss_analysis(tests.recall('scan'), 'risk_stratification') ->> 'status', 'queued',
    'the doctor asks again: a new request'
);
select tests.act_as_service_role();
select is(
    (
        select public.complete_cdss_analysis(l.analysis_id, l.claim_token, pg_temp.answer('critical'))
        from public.claim_cdss_analyses(100) as l
    ),
    'completed',
    'a critical result'
);
select results_eq(
    $$ select o.kind, o.recipient_id from private.outbox as o
        join public.cdss_analyses as c on c.id = o.subject_id
        where c.severity = 'critical' and c.patient_id = tests.id_of('patients', 'a_patient1') $$,
    $$ values ('cdss_critical', tests.user_id('a_doctor')) $$,
    'alerts as a critical lab result does (the requesting doctor first)'
);

select * from finish();
rollback;
