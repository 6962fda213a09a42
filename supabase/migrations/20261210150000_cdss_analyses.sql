-- Clinical decision support (issue 20, item 2; seed 003 /cdss/analysis): a doctor asks for an
-- AI analysis of a scan; the sidecar's worker sends de-identified inputs to the model service
-- and records its answer; a doctor reviews it (accepts, or overrides with a reason) before the
-- patient may see it.
--
--   * rpc/request_cdss_analysis(scan_id, analysis_type): a doctor of the patient's care team,
--     for an acquired or reported scan; one open request per scan and type. The row is the
--     queue (written in the request's transaction, as an outbox row): queued.
--   * The worker (service role) leases queued analyses with rpc/claim_cdss_analyses (running),
--     gets the de-identified inputs (analysis type, modality, study type, age in years, sex, the
--     images' technical facts: no name, MRN, UID or date), calls the model service, and records
--     rpc/complete_cdss_analysis (model name and version, the SHA-256 of the inputs it sent,
--     findings, confidence, severity, recommendations: completed) or rpc/fail_cdss_analysis
--     (queued again with backoff while retryable, then failed with the error).
--   * Completion tells the requesting doctor (outbox kind cdss_complete: push, and the in-app
--     notification live event); a high or critical severity alerts as a critical lab result
--     does (kind cdss_critical: the requesting doctor while an active doctor there, else a
--     care-team doctor, else its nurses, else the admins; private.critical_result_recipients).
--   * rpc/review_cdss_analysis(analysis_id, decision, reason): a doctor of the care team accepts
--     it or overrides it with a reason (CDS Hooks feedback: accepted, overridden with an
--     override reason), completed -> accepted | overridden.
--   * rpc/cdss_analyses(scan_id, patient_id): the analyses the caller may read, logged: the care
--     team sees every one, marked reviewed or not, with the findings once completed and the error
--     of a failed one; the patient only reviewed ones; the admin the rows without their content.
--     A queued, running or failed analysis has no findings and no severity (constraints): it is
--     never shown as "normal".
--
-- The machine cdss_analysis: queued -> running -> completed -> accepted | overridden, running ->
-- failed | queued (retry). A failed analysis stays as it is; asking again is a new request.
-- Every step is in status_history and the audit trail.
--
-- Errors (DETAIL): 22023 unknown_analysis_type, unknown_decision, reason_required, invalid_result;
-- PT404 scan_not_found, analysis_not_found; 42501 not_on_care_team; PT409 scan_not_acquired,
-- analysis_open, not_reviewable.

create type public.cdss_analysis_status as enum ('queued', 'running', 'completed', 'failed', 'accepted', 'overridden');
create type public.cdss_analysis_type as enum ('ecg_arrhythmia', 'cad_detection', 'risk_stratification');
create type public.cdss_severity as enum ('low', 'moderate', 'high', 'critical');

insert into private.state_machine_states (machine, state, label, position, is_terminal)
values
('cdss_analysis', 'queued', 'Queued', 1, false),
('cdss_analysis', 'running', 'Running', 2, false),
('cdss_analysis', 'completed', 'Awaiting review', 3, false),
('cdss_analysis', 'failed', 'Failed', 4, true),
('cdss_analysis', 'accepted', 'Accepted', 5, true),
('cdss_analysis', 'overridden', 'Overridden', 6, true);

insert into private.state_transitions (machine, from_state, to_state, roles, requires_reason, description)
values
('cdss_analysis', null, 'queued', '{doctor}', false, 'A doctor of the care team asks for an analysis'),
('cdss_analysis', 'queued', 'running', '{}', false, 'The worker sends it to the model service'),
('cdss_analysis', 'running', 'completed', '{}', false, 'The model answered: waiting for a doctor''s review'),
('cdss_analysis', 'running', 'failed', '{}', false, 'The model service failed for good'),
('cdss_analysis', 'running', 'queued', '{}', false, 'A transient failure: tried again later'),
('cdss_analysis', 'completed', 'accepted', '{doctor}', false, 'A doctor accepts the result'),
(
    'cdss_analysis', 'completed', 'overridden', '{doctor}', false,
    'A doctor overrides the result, with the reason (kept encrypted)'
);

create table public.cdss_analyses (
    id uuid primary key default gen_random_uuid(),
    scan_id uuid not null,
    patient_id uuid not null,
    hospital_id uuid not null,
    requested_by uuid not null references public.profiles (id) on delete restrict,
    analysis_type public.cdss_analysis_type not null,
    status public.cdss_analysis_status not null default 'queued',
    status_reason text,
    status_changed_at timestamptz not null default now(),
    model_name text,
    model_version text,
    inputs_sha256 text constraint cdss_analyses_inputs_sha256_hex check (inputs_sha256 ~ '^[0-9a-f]{64}$'),
    -- Encrypted {findings: [...], recommendations: [...]} as the model answered.
    result_encrypted bytea,
    confidence numeric(5, 4) constraint cdss_analyses_confidence_range check (confidence between 0 and 1),
    severity public.cdss_severity,
    error text,
    attempts integer not null default 0,
    lease_until timestamptz,
    claim_token uuid,
    completed_at timestamptz,
    reviewed_by uuid references public.profiles (id) on delete restrict,
    reviewed_at timestamptz,
    -- Encrypted free text: why the doctor overrode the result.
    review_reason_encrypted bytea,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    deleted_at timestamptz,
    -- A result exists exactly when the model answered: nothing else is ever shown as a finding.
    constraint cdss_analyses_result_when_answered check (
        (status in ('completed', 'accepted', 'overridden')) = (
            result_encrypted is not null and severity is not null and model_name is not null
            and inputs_sha256 is not null and completed_at is not null
        )
    ),
    constraint cdss_analyses_error_when_failed check (status <> 'failed' or error is not null),
    constraint cdss_analyses_reviewed_when_decided check (
        (status in ('accepted', 'overridden')) = (reviewed_by is not null and reviewed_at is not null)
    ),
    constraint cdss_analyses_override_has_reason check (
        (status = 'overridden') = (review_reason_encrypted is not null)
    ),
    constraint cdss_analyses_scan_fkey foreign key (scan_id, patient_id, hospital_id)
    references public.radiology_scans (id, patient_id, hospital_id) on delete restrict,
    constraint cdss_analyses_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict
);

create index cdss_analyses_scan_idx on public.cdss_analyses (scan_id, patient_id, hospital_id);
create index cdss_analyses_registration_idx on public.cdss_analyses (patient_id, hospital_id, created_at);
create index cdss_analyses_hospital_idx on public.cdss_analyses (hospital_id, status);
create index cdss_analyses_requested_by_idx on public.cdss_analyses (requested_by);
create index cdss_analyses_reviewed_by_idx on public.cdss_analyses (reviewed_by);
create index cdss_analyses_queue_idx on public.cdss_analyses (created_at) where status in ('queued', 'running');
create unique index cdss_analyses_one_open_per_scan_and_type on public.cdss_analyses (scan_id, analysis_type)
where status in ('queued', 'running') and deleted_at is null;

insert into private.encrypted_columns (table_name, column_name)
values ('public.cdss_analyses', 'result_encrypted'), ('public.cdss_analyses', 'review_reason_encrypted');

insert into private.audited_resources (resource, read_with)
values
('cdss_analyses', 'POST /rest/v1/rpc/cdss_analyses'),
('rpc/cdss_analyses', 'POST /rest/v1/rpc/cdss_analyses');

create trigger cdss_analyses_set_updated_at before update on public.cdss_analyses
for each row execute function private.set_updated_at();
create trigger cdss_analyses_state_machine before insert or update of status on public.cdss_analyses
for each row execute function private.enforce_state_machine('cdss_analysis');
create trigger audit_row_change after insert or update or delete on public.cdss_analyses
for each row execute function private.audit_row_change('patient_id', 'result_encrypted', 'review_reason_encrypted');
create trigger cdss_analyses_guard before update on public.cdss_analyses
for each row execute function private.guard_clinical_update();
create trigger cdss_analyses_never_deleted before delete on public.cdss_analyses
for each row execute function private.refuse_clinical_delete();
create trigger cdss_analyses_never_truncated before truncate on public.cdss_analyses
for each statement execute function private.refuse_clinical_delete();
create trigger refuse_merged_patient before insert or update on public.cdss_analyses
for each row execute function private.refuse_merged_patient('patient_id');

alter table public.cdss_analyses enable row level security;
revoke all on public.cdss_analyses from anon, authenticated;
grant all on public.cdss_analyses to service_role;
grant select on public.cdss_analyses to authenticated;
-- Requests and reviews go through their RPCs; the admin archives (guard_clinical_update).
grant update (deleted_at) on public.cdss_analyses to authenticated;

create policy cdss_analyses_staff_need_aal2 on public.cdss_analyses as restrictive for all to authenticated
using ((select private.phi_aal2_cleared()) or private.require_phi_aal2(patient_id))
with check ((select private.phi_aal2_cleared()) or private.require_phi_aal2(patient_id));

-- The care team reads every analysis; the patient only the reviewed ones; the admin the rows.
create policy cdss_analyses_select on public.cdss_analyses
for select to authenticated
using (
    (deleted_at is null and private.can_read_clinical(patient_id, hospital_id))
    or (
        deleted_at is null and patient_id = (select private.own_patient_id())
        and status in ('accepted', 'overridden')
    )
    or hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
);

create policy cdss_analyses_update on public.cdss_analyses
for update to authenticated
using (
    private.on_care_team(patient_id, hospital_id)
    or hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
)
with check (
    private.on_care_team(patient_id, hospital_id)
    or hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
);

select private.install_clinical_disclosure('cdss_analyses');
alter policy cdss_analyses_disclosed on public.cdss_analyses
using (
    coalesce((select current_setting('request.method', true)), '') = ''
    or strpos(coalesce(current_setting('carebase.disclosed.cdss_analyses', true), ''), patient_id::text) > 0
    or private.disclose_cdss_analyses_row(id, patient_id, hospital_id)
);

drop policy status_history_select_of_visible_subjects on public.status_history;
create policy status_history_select_of_visible_subjects on public.status_history
for select to authenticated
using (
    (machine = 'prescription' and exists (
        select from public.prescriptions as p
        where p.id = status_history.subject_id
    ))
    or (
        machine = 'appointment' and exists (
            select from public.appointments as a
            where a.id = status_history.subject_id
        )
    )
    or (
        machine = 'radiology_scan'
        and exists (
            select from public.radiology_scans as s
            where s.id = status_history.subject_id
        )
    )
    or (
        machine = 'cdss_analysis'
        and exists (
            select from public.cdss_analyses as c
            where c.id = status_history.subject_id
        )
    )
);

-- The audit trail's entries about the scan, image and analysis tables need aal2, as those about
-- the rest of the clinical record (20261202140001).
drop policy log_clinical_entries_need_aal2 on audit.log;
create policy log_clinical_entries_need_aal2 on audit.log
as restrictive for select to authenticated
using (
    (select private.phi_aal2_cleared())
    or not (table_name = any(array[
        'public.medical_profiles', 'public.encounters', 'public.clinical_notes', 'public.clinical_note_addenda',
        'public.vital_signs', 'public.diagnoses', 'public.patient_documents', 'public.lab_results',
        'public.prescriptions', 'public.prescription_items', 'public.prescription_dispensings',
        'public.radiology_scans', 'public.dicom_studies', 'public.dicom_series', 'public.dicom_instances',
        'public.dicom_uploads', 'public.cdss_analyses'
    ]))
    or private.require_phi_aal2(patient_id)
);

-- Who hears about a result that needs attention, first match wins (as for critical lab
-- results): the preferred user while an active doctor at the hospital; else one doctor of the
-- patient's care team there (the primary first); else its nurses; else the hospital's admins.
-- Security definer: reads memberships and care teams whatever the caller may read.
create function private.critical_result_recipients(patient uuid, hospital uuid, preferred uuid)
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    recipients uuid [];
begin
    if preferred is not null and private.holds_active_role(preferred, hospital, 'doctor') then
        return array[preferred];
    end if;
    select array[c.member_id] into recipients
    from public.care_team_members as c
    where c.patient_id = patient and c.hospital_id = hospital and c.member_role = 'doctor' and c.ended_at is null
        and private.holds_active_role(c.member_id, c.hospital_id, 'doctor')
    order by c.is_primary desc, c.assigned_at
    limit 1;
    if recipients is not null then
        return recipients;
    end if;
    select array_agg(distinct c.member_id) into recipients
    from public.care_team_members as c
    where c.patient_id = patient and c.hospital_id = hospital and c.member_role = 'nurse' and c.ended_at is null
        and private.holds_active_role(c.member_id, c.hospital_id, 'nurse');
    if recipients is not null then
        return recipients;
    end if;
    select array_agg(distinct m.user_id) into recipients
    from public.staff_memberships as m
    where m.hospital_id = hospital and m.role = 'hospital_admin' and m.is_active;
    return coalesce(recipients, '{}');
end;
$$;

-- The critical lab result's notice, as in 20261123000500, with its recipients from the shared
-- private.critical_result_recipients (which CDSS alerts use too).
create or replace function private.notify_critical_lab_result()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    recipient uuid;
begin
    if new.status <> 'critical' or (tg_op = 'UPDATE' and old.status = 'critical') then
        return null;
    end if;
    foreach recipient in array private.critical_result_recipients(new.patient_id, new.hospital_id, new.ordered_by) loop
        perform private.enqueue(
            'lab_result_critical', 'lab_result', new.id, new.hospital_id, 'user', recipient, 'push',
            jsonb_build_object('lab_result_id', new.id, 'patient_id', new.patient_id)
        );
    end loop;
    return null;
end;
$$;

-- Requesting and reviewing -------------------------------------------------------------------------
-- Security definer: the table takes no insert from the API (its content columns are the model's
-- and the reviewer's); the caller is checked here: a doctor of the care team (the machine: only
-- doctors create), at aal2, for an acquired or reported scan of a patient they treat.
create function private.request_cdss_analysis(scan_id uuid, analysis_type text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    scan public.radiology_scans;
    kind public.cdss_analysis_type;
    made public.cdss_analyses;
begin
    if analysis_type is null or analysis_type not in (select unnest(enum_range(null::public.cdss_analysis_type))::text) then
        perform private.raise_invalid(
            'analysis_type is ecg_arrhythmia, cad_detection or risk_stratification', 'unknown_analysis_type'
        );
    end if;
    kind := analysis_type::public.cdss_analysis_type;
    select s.* into scan from public.radiology_scans as s where s.id = request_cdss_analysis.scan_id and s.deleted_at is null;
    if scan.id is null or not private.can_read_clinical(scan.patient_id, scan.hospital_id) then
        perform private.raise_not_found('no such scan', 'scan_not_found');
    end if;
    perform private.require_phi_aal2(scan.patient_id);
    if not private.on_care_team(scan.patient_id, scan.hospital_id) then
        perform private.raise_forbidden('only the patient''s care team asks for an analysis', 'not_on_care_team');
    end if;
    if scan.status not in ('acquired', 'reported') then
        perform private.raise_conflict(
            format('the scan is %s: an analysis needs its images', scan.status), 'scan_not_acquired'
        );
    end if;
    insert into public.cdss_analyses as c (scan_id, patient_id, hospital_id, requested_by, analysis_type)
    values (scan.id, scan.patient_id, scan.hospital_id, (select auth.uid()), kind)
    returning c.* into made;
    return jsonb_build_object(
        'id', made.id, 'scan_id', made.scan_id, 'analysis_type', made.analysis_type, 'status', made.status,
        'created_at', made.created_at
    );
exception
    when unique_violation then
        perform private.raise_conflict(
            'an analysis of this type is already queued or running for this scan', 'analysis_open'
        );
end;
$$;

-- Security definer: the review columns are the reviewer's alone (no column privilege); the caller
-- is checked here (a doctor of the care team: the machine; at aal2) and recorded as the reviewer.
create function private.review_cdss_analysis(analysis_id uuid, decision text, reason text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    analysis public.cdss_analyses;
    why constant text := nullif(btrim(reason), '');
begin
    if decision is null or decision not in ('accept', 'override') then
        perform private.raise_invalid('decision is accept or override', 'unknown_decision');
    end if;
    if decision = 'override' and why is null then
        perform private.raise_invalid(
            'overriding a result needs the reason', 'reason_required', 'say why the result does not hold'
        );
    end if;
    select c.* into analysis from public.cdss_analyses as c
    where c.id = review_cdss_analysis.analysis_id and c.deleted_at is null
    for update;
    if analysis.id is null or not private.can_read_clinical(analysis.patient_id, analysis.hospital_id) then
        perform private.raise_not_found('no such analysis', 'analysis_not_found');
    end if;
    perform private.require_phi_aal2(analysis.patient_id);
    if not private.on_care_team(analysis.patient_id, analysis.hospital_id) then
        perform private.raise_forbidden('only the patient''s care team reviews an analysis', 'not_on_care_team');
    end if;
    if analysis.status <> 'completed' then
        perform private.raise_conflict(
            format('the analysis is %s: only a completed one awaits review', analysis.status), 'not_reviewable'
        );
    end if;
    update public.cdss_analyses as c
    set status = case decision when 'accept' then 'accepted' else 'overridden' end::public.cdss_analysis_status,
        status_reason = case decision when 'accept' then 'accepted' else 'overridden' end,
        review_reason_encrypted = case when decision = 'override' then private.encrypt_field(why) end,
        reviewed_by = (select auth.uid()),
        reviewed_at = now()
    where c.id = analysis.id
    returning c.* into analysis;
    return jsonb_build_object(
        'id', analysis.id, 'status', analysis.status, 'reviewed_by', analysis.reviewed_by,
        'reviewed_at', analysis.reviewed_at
    );
end;
$$;

-- RPC (seed 003 POST /cdss/analysis) -> {id, scan_id, analysis_type, status: queued, created_at}.
create function public.request_cdss_analysis(scan_id uuid, analysis_type text)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.request_cdss_analysis(request_cdss_analysis.scan_id, request_cdss_analysis.analysis_type);
$$;

-- RPC (seed 003 PATCH /cdss/analysis/:id/review) -> {id, status, reviewed_by, reviewed_at}.
create function public.review_cdss_analysis(analysis_id uuid, decision text, reason text default null)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.review_cdss_analysis(
        review_cdss_analysis.analysis_id, review_cdss_analysis.decision, review_cdss_analysis.reason
    );
$$;

-- The worker (service role) ------------------------------------------------------------------------
-- De-identified inputs of an analysis: what the model needs, nothing that names the patient
-- (no name, MRN, identifier, UID, date or free text; the age in whole years).
create function private.cdss_inputs(analysis public.cdss_analyses)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select jsonb_build_object(
        'analysis_type', analysis.analysis_type,
        'modality', s.modality,
        'study_type', s.study_type,
        'age_years', extract(year from age(current_date, p.date_of_birth))::integer,
        'sex', p.sex,
        'images', coalesce((
            select jsonb_agg(
                jsonb_build_object(
                    'modality', se.modality, 'body_part', se.body_part, 'sop_class_uid', i.sop_class_uid,
                    'rows', i.rows_count, 'columns', i.columns_count, 'frames', i.frames
                ) order by se.series_number nulls last, i.instance_number nulls last
            )
            from public.dicom_studies as st
            join public.dicom_series as se on se.study_id = st.id and se.deleted_at is null
            join public.dicom_instances as i on i.series_id = se.id and i.deleted_at is null
            where st.scan_id = s.id and st.deleted_at is null
        ), '[]')
    )
    from public.radiology_scans as s
    join public.patients as p on p.id = s.patient_id
    where s.id = analysis.scan_id;
$$;

-- Leases up to `batch` analyses waiting to run (queued and due, or running with an expired
-- lease) -> analysis_id, claim_token, attempts, inputs.
create function public.claim_cdss_analyses(batch integer default 10, lease_seconds integer default 300)
returns table (analysis_id uuid, claim_token uuid, attempts integer, inputs jsonb)
language plpgsql
volatile
set search_path = ''
as $$
begin
    if batch not between 1 and 100 or lease_seconds not between 5 and 3600 then
        perform private.raise_invalid('batch 1..100, lease_seconds 5..3600', 'invalid_claim');
    end if;
    return query
    with picked as (
        select c.id from public.cdss_analyses as c
        where c.deleted_at is null
            and (c.status = 'queued' or c.status = 'running')
            and (c.lease_until is null or c.lease_until < now())
        order by c.created_at
        limit batch
        for update skip locked
    ),
    leased as (
        update public.cdss_analyses as c
        set status = 'running', lease_until = now() + make_interval(secs => lease_seconds),
            claim_token = gen_random_uuid(), attempts = c.attempts + 1
        from picked
        where c.id = picked.id
        returning c.*
    )
    select l.id, l.claim_token, l.attempts, private.cdss_inputs(l) from leased as l;
end;
$$;

-- The analysis under its lease, locked; null when the lease was lost.
create function private.leased_analysis(analysis_id uuid, claim_token uuid)
returns public.cdss_analyses
language sql
volatile
set search_path = ''
as $$
    select c.* from public.cdss_analyses as c
    where c.id = leased_analysis.analysis_id and c.claim_token = leased_analysis.claim_token
        and c.status = 'running'
    for update;
$$;

-- Records the model's answer -> completed, or lost. result: {model_name, model_version,
-- inputs_sha256, findings: [text], confidence (0..1, or 0..100 as a percentage), severity (low,
-- moderate, high, critical), recommendations: [text]}. Tells the requesting doctor; a high or
-- critical severity alerts as a critical lab result does.
create function public.complete_cdss_analysis(analysis_id uuid, claim_token uuid, result jsonb)
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
    analysis public.cdss_analyses := private.leased_analysis(complete_cdss_analysis.analysis_id, complete_cdss_analysis.claim_token);
    given_confidence numeric;
    given_severity public.cdss_severity;
begin
    if analysis.id is null then
        return 'lost';
    end if;
    if jsonb_typeof(result -> 'findings') is distinct from 'array'
        or jsonb_typeof(coalesce(result -> 'recommendations', '[]')) <> 'array'
        or coalesce(result ->> 'model_name', '') = ''
        or coalesce(result ->> 'inputs_sha256', '') !~ '^[0-9a-f]{64}$'
        or coalesce(result ->> 'severity', '') not in ('low', 'moderate', 'high', 'critical')
        or coalesce(result ->> 'confidence', '') !~ '^\d+(\.\d+)?$' then
        perform private.raise_invalid(
            'the result needs model_name, inputs_sha256, findings, confidence and severity', 'invalid_result'
        );
    end if;
    given_confidence := (result ->> 'confidence')::numeric;
    if given_confidence > 1 then
        given_confidence := given_confidence / 100;
    end if;
    if given_confidence > 1 then
        perform private.raise_invalid('confidence is 0..1 or a percentage', 'invalid_result');
    end if;
    given_severity := (result ->> 'severity')::public.cdss_severity;
    update public.cdss_analyses as c
    set status = 'completed', status_reason = null, model_name = left(result ->> 'model_name', 200),
        model_version = left(result ->> 'model_version', 100), inputs_sha256 = result ->> 'inputs_sha256',
        result_encrypted = private.encrypt_field(
            jsonb_build_object(
                'findings', result -> 'findings', 'recommendations', coalesce(result -> 'recommendations', '[]')
            )::text
        ),
        confidence = given_confidence, severity = given_severity,
        completed_at = now(), error = null, lease_until = null, claim_token = null
    where c.id = analysis.id;
    return 'completed';
end;
$$;

-- A completed analysis tells the requesting doctor (cdss_complete); a high or critical one alerts
-- as a critical lab result does (cdss_critical). Ids and the severity only: no finding. Security
-- definer: writes the private outbox.
create function private.notify_cdss_result()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    alert constant boolean := new.severity in ('high', 'critical');
    recipient uuid;
begin
    foreach recipient in array case
        when alert then private.critical_result_recipients(new.patient_id, new.hospital_id, new.requested_by)
        else array[new.requested_by]
    end loop
        perform private.enqueue(
            case when alert then 'cdss_critical' else 'cdss_complete' end, 'cdss_analysis', new.id,
            new.hospital_id, 'user', recipient, 'push',
            jsonb_build_object(
                'analysis_id', new.id, 'scan_id', new.scan_id, 'patient_id', new.patient_id, 'severity', new.severity
            )
        );
    end loop;
    return null;
end;
$$;

create trigger cdss_analyses_notify_result
after update of status on public.cdss_analyses
for each row when (new.status = 'completed' and old.status is distinct from 'completed')
execute function private.notify_cdss_result();

-- The model service failed -> queued (retryable, before `max_attempts`: tried again after a
-- backoff of 30 s doubling, at most an hour), failed (with the error), or lost.
create function public.fail_cdss_analysis(
    analysis_id uuid, claim_token uuid, error text, retryable boolean default true, max_attempts integer default 5
)
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
    analysis public.cdss_analyses := private.leased_analysis(fail_cdss_analysis.analysis_id, fail_cdss_analysis.claim_token);
begin
    if analysis.id is null then
        return 'lost';
    end if;
    if retryable and analysis.attempts < max_attempts then
        update public.cdss_analyses as c
        set status = 'queued', status_reason = 'retry', claim_token = null, error = left(fail_cdss_analysis.error, 500),
            lease_until = now() + make_interval(secs => least(3600, 30 * power(2, analysis.attempts - 1)))
        where c.id = analysis.id;
        return 'queued';
    end if;
    update public.cdss_analyses as c
    set status = 'failed', status_reason = 'model service failed', error = left(coalesce(nullif(fail_cdss_analysis.error, ''), 'failed'), 500),
        lease_until = null, claim_token = null
    where c.id = analysis.id;
    return 'failed';
end;
$$;

-- Reading -------------------------------------------------------------------------------------------
-- An analysis's findings and recommendations in clear, and the override reason: for its care team
-- (or a consented share), and for the patient once reviewed (not the override reason); null for
-- anyone else. Security definer: decrypts; it reads the row by id itself.
create function private.cdss_result(analysis_id uuid)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select private.decrypt_field(c.result_encrypted)::jsonb || case
        when private.can_read_clinical(c.patient_id, c.hospital_id)
            then jsonb_build_object('override_reason', private.decrypt_field(c.review_reason_encrypted))
        else '{}'::jsonb
    end
    from public.cdss_analyses as c
    where c.id = cdss_result.analysis_id and c.deleted_at is null and c.result_encrypted is not null
        and (
            private.can_read_clinical(c.patient_id, c.hospital_id)
            or (c.patient_id = private.own_patient_id() and c.status in ('accepted', 'overridden'))
        )
        and private.require_phi_aal2(c.patient_id);
$$;

-- RPC (seed 003 GET /cdss/analysis, /analysis/:id): the analyses the caller may read, newest
-- first, of one scan or one patient; each patient's read logged. Security invoker: the table's
-- policies choose (the patient: reviewed ones only).
create function public.cdss_analyses(scan_id uuid default null, patient_id uuid default null)
returns setof jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    analysis public.cdss_analyses;
begin
    for analysis in
        select c.* from public.cdss_analyses as c
        where (cdss_analyses.scan_id is null or c.scan_id = cdss_analyses.scan_id)
            and (cdss_analyses.patient_id is null or c.patient_id = cdss_analyses.patient_id)
        order by c.created_at desc
        limit 500
    loop
        perform private.log_clinical_disclosure('cdss_analyses', analysis.patient_id, analysis.hospital_id);
        return next jsonb_build_object(
            'id', analysis.id, 'scan_id', analysis.scan_id, 'patient_id', analysis.patient_id,
            'hospital_id', analysis.hospital_id, 'analysis_type', analysis.analysis_type,
            'status', analysis.status, 'reviewed', analysis.status in ('accepted', 'overridden'),
            'requested_by', analysis.requested_by, 'created_at', analysis.created_at,
            'model_name', analysis.model_name, 'model_version', analysis.model_version,
            'inputs_sha256', analysis.inputs_sha256, 'confidence', analysis.confidence,
            'severity', analysis.severity, 'completed_at', analysis.completed_at,
            'error', case when analysis.status = 'failed' then analysis.error end,
            'reviewed_by', analysis.reviewed_by, 'reviewed_at', analysis.reviewed_at
        ) || coalesce(private.cdss_result(analysis.id), '{}'::jsonb);
    end loop;
end;
$$;

grant execute on function private.critical_result_recipients(uuid, uuid, uuid) to authenticated, service_role;
grant execute on function private.request_cdss_analysis(uuid, text) to authenticated;
grant execute on function private.review_cdss_analysis(uuid, text, text) to authenticated;
grant execute on function private.cdss_inputs(public.cdss_analyses) to service_role;
grant execute on function private.leased_analysis(uuid, uuid) to service_role;
grant execute on function private.cdss_result(uuid) to authenticated;
grant execute on function public.request_cdss_analysis(uuid, text) to authenticated;
grant execute on function public.review_cdss_analysis(uuid, text, text) to authenticated;
grant execute on function public.cdss_analyses(uuid, uuid) to authenticated;
grant execute on function public.claim_cdss_analyses(integer, integer) to service_role;
grant execute on function public.complete_cdss_analysis(uuid, uuid, jsonb) to service_role;
grant execute on function public.fail_cdss_analysis(uuid, uuid, text, boolean, integer) to service_role;
-- The model service's side is the worker's (service role) alone.
revoke execute on function public.claim_cdss_analyses(integer, integer) from authenticated;
revoke execute on function public.complete_cdss_analysis(uuid, uuid, jsonb) from authenticated;
revoke execute on function public.fail_cdss_analysis(uuid, uuid, text, boolean, integer) from authenticated;

comment on type public.cdss_analysis_status is
'The cdss_analysis machine''s states: queued, running, completed (awaiting review), failed,
accepted, overridden.';
comment on type public.cdss_analysis_type is
'What the model looks for: ecg_arrhythmia, cad_detection, risk_stratification.';
comment on type public.cdss_severity is 'The model''s severity: low, moderate, high, critical.';
comment on table public.cdss_analyses is
'AI analyses of scans (seed 003 /cdss/analysis): requested by a doctor of the care team
(rpc/request_cdss_analysis), run by the worker against the model service, reviewed by a doctor
(rpc/review_cdss_analysis: accepted, or overridden with a reason). The patient sees one only once
reviewed. Read with rpc/cdss_analyses (a GET is refused, PT405: reads are logged).';
comment on column public.cdss_analyses.status is
'queued -> running -> completed (awaiting review) -> accepted | overridden; running -> failed, or
queued again after a transient failure (machine cdss_analysis). A failed analysis stays failed:
asking again is a new request.';
comment on column public.cdss_analyses.result_encrypted is
'The model''s findings and recommendations, encrypted; present exactly when it answered.';
comment on column public.cdss_analyses.review_reason_encrypted is
'Why the reviewing doctor overrode the result, encrypted; present exactly when overridden.';
comment on column public.cdss_analyses.inputs_sha256 is
'SHA-256 (hex) of the de-identified inputs the worker sent to the model.';
comment on function public.request_cdss_analysis(uuid, text) is
'Ask for an AI analysis of a scan (seed 003 POST /cdss/analysis; a doctor of the care team, aal2):
analysis_type ecg_arrhythmia, cad_detection or risk_stratification -> {id, scan_id, analysis_type,
status: queued, created_at}. Errors: 22023 unknown_analysis_type; PT404 scan_not_found; 42501
not_on_care_team; PT409 scan_not_acquired, analysis_open.';
comment on function public.review_cdss_analysis(uuid, text, text) is
'Review a completed analysis (seed 003 PATCH /cdss/analysis/:id/review; a doctor of the care
team, aal2): decision accept, or override with a reason -> {id, status, reviewed_by,
reviewed_at}. Only then may the patient see it. Errors: 22023 unknown_decision, reason_required;
PT404 analysis_not_found; 42501 not_on_care_team; PT409 not_reviewable.';
comment on function public.cdss_analyses(uuid, uuid) is
'The analyses the caller may read (seed 003 GET /cdss/analysis), of one scan or one patient,
newest first: status, reviewed or not, model, inputs hash, confidence, severity, findings and
recommendations once completed (the care team; the patient once reviewed), the error of a failed
one, the override reason (care team). Each patient''s read is logged.';
comment on function public.claim_cdss_analyses(integer, integer) is
'CDSS worker (service role): leases analyses to run -> analysis_id, claim_token, attempts and the
de-identified inputs.';
comment on function public.complete_cdss_analysis(uuid, uuid, jsonb) is
'CDSS worker (service role): records the model''s answer -> completed or lost; tells the
requesting doctor, and alerts as for a critical lab result when the severity is high or critical.';
comment on function public.fail_cdss_analysis(uuid, uuid, text, boolean, integer) is
'CDSS worker (service role): the model service failed -> queued (retried with backoff), failed,
or lost.';
