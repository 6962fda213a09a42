-- The disclosure test (issue 10): every API path that reveals clinical content leaves an audit
-- entry naming the patient, or is refused. Generated from the catalog, so that a new clinical
-- table, view or RPC without logging fails here:
--   tables   every public table naming a patient (a patient_id column) or referencing a
--            clinical table is either clinical (in private.audited_resources) or registered
--            as holding none (private.non_clinical_patient_tables, with the reason); every
--            clinical table is checked row by row;
--   views    every clinical view read in a read-write request names the patient;
--   RPCs     every public function an API user may call that reaches a clinical relation or
--            decrypts (pgcrypto's pgp_*_decrypt; found through the function bodies,
--            transitively) is either registered as rpc/<name> and called below, or listed as
--            returning no clinical content;
--   requests every clinical resource refuses the request shapes that can roll back after rows
--            were read (tx=rollback, max-affected, plan output, singular on several rows).
-- Staff act with aal2 (MFA done), so that these checks stay about logging.
begin;
select plan(22);

select tests.create_world();

-- Helpers ----------------------------------------------------------------------------------------

-- The clinical tables and views: the relations of private.audited_resources.
create view tests.clinical_relations as
select
    r.resource,
    c.oid,
    c.relkind,
    format('public.%I', c.relname) as qualified
from private.audited_resources as r
inner join pg_catalog.pg_class as c on r.resource = c.relname and c.relnamespace = 'public'::regnamespace;

-- One row of a clinical table for a patient at a hospital, written by the given clinician; a
-- clinical table without a fixture here fails the test (add one).
create function tests.clinical_fixture(resource text, patient text, hospital text, clinician text)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
    p uuid := tests.id_of('patients', patient);
    h uuid := tests.id_of('hospitals', hospital);
    by_whom uuid := tests.user_id(clinician);
    note uuid;
    made uuid;
begin
    case resource
        when 'medical_profiles' then
            insert into public.medical_profiles (patient_id, hospital_id, blood_group, updated_by)
            values (p, h, 'O+', by_whom) returning id into made;
        when 'encounters' then
            insert into public.encounters (patient_id, hospital_id, clinician_id, chief_complaint)
            values (p, h, by_whom, 'cough') returning id into made;
        when 'clinical_notes' then
            insert into public.clinical_notes (patient_id, hospital_id, author_id, soap_encrypted)
            values (p, h, by_whom, private.encrypt_field('{"plan": "rest"}')) returning id into made;
        when 'clinical_note_addenda' then
            insert into public.clinical_notes (patient_id, hospital_id, author_id, soap_encrypted)
            values (p, h, by_whom, private.encrypt_field('{"plan": "fluids"}')) returning id into note;
            update public.clinical_notes set status = 'signed' where id = note;
            insert into public.clinical_note_addenda (note_id, patient_id, hospital_id, author_id, body_encrypted)
            values (note, p, h, by_whom, private.encrypt_field('seen again')) returning id into made;
        when 'vital_signs' then
            insert into public.vital_signs (patient_id, hospital_id, recorded_by, heart_rate_bpm)
            values (p, h, by_whom, 72) returning id into made;
        when 'diagnoses' then
            insert into public.diagnoses (patient_id, hospital_id, diagnosed_by, icd10_code, description)
            values (p, h, by_whom, 'I10', 'Hypertension') returning id into made;
        when 'patient_documents' then
            insert into public.patient_documents (
                patient_id, hospital_id, name, document_type, storage_path, uploaded_by
            )
            values (p, h, 'ECG', 'lab_report', 'patients/' || p || '/' || gen_random_uuid() || '/ecg.pdf', by_whom)
            returning id into made;
        when 'lab_results' then
            insert into public.lab_results (patient_id, hospital_id, recorded_by, test_name, result_value, status)
            values (p, h, by_whom, 'HbA1c', '6.1', 'normal') returning id into made;
        when 'radiology_scans' then
            insert into public.radiology_scans (patient_id, hospital_id, ordered_by, modality, study_type)
            values (p, h, by_whom, 'ECG', 'Resting ECG') returning id into made;
        when 'cdss_analyses' then
            insert into public.radiology_scans (patient_id, hospital_id, ordered_by, modality, study_type)
            values (p, h, by_whom, 'ECG', 'Resting ECG') returning id into note;
            insert into public.cdss_analyses (scan_id, patient_id, hospital_id, requested_by, analysis_type)
            values (note, p, h, by_whom, 'ecg_arrhythmia') returning id into made;
        when 'dicom_studies', 'dicom_series', 'dicom_instances', 'dicom_uploads' then
            insert into public.radiology_scans (patient_id, hospital_id, ordered_by, modality, study_type)
            values (p, h, by_whom, 'CT', 'Coronary CT angiography') returning id into note;
            if resource = 'dicom_uploads' then
                insert into public.dicom_uploads (scan_id, patient_id, hospital_id, storage_path, uploaded_by)
                values (note, p, h, 'scans/' || note || '/ct.dcm', by_whom) returning id into made;
                return made;
            end if;
            insert into public.dicom_studies (scan_id, patient_id, hospital_id, study_instance_uid)
            values (note, p, h, '2.25.' || (random() * 1e15)::bigint) returning id into made;
            if resource = 'dicom_studies' then
                return made;
            end if;
            insert into public.dicom_series (study_id, patient_id, hospital_id, series_instance_uid)
            values (made, p, h, '2.25.' || (random() * 1e15)::bigint) returning id into made;
            if resource = 'dicom_series' then
                return made;
            end if;
            insert into public.dicom_instances (series_id, patient_id, hospital_id, sop_instance_uid, storage_path)
            values (made, p, h, '2.25.' || (random() * 1e15)::bigint, 'scans/' || note || '/ct.dcm') returning id into made;
        else
            raise exception 'the disclosure test has no fixture row for public.%: add one', resource;
    end case;
    return made;
end;
$$;

-- What PostgREST's next request starts from: a new transaction, without this one's
-- transaction-local flags of what was logged (carebase.disclosed.<table>, and
-- carebase.read_logged.<table> of the request-level logger).
create function tests.fresh_request()
returns void
language plpgsql
set search_path = ''
as $$
declare
    resource text;
begin
    for resource in select r.resource from tests.clinical_relations as r loop
        perform set_config('carebase.disclosed.' || resource, '', true);
        perform set_config('carebase.read_logged.' || resource, '', true);
    end loop;
end;
$$;

-- One API request as PostgREST runs it (read-write, a fresh transaction's state: nothing
-- logged yet), and the READ entries it appended: (table, patient named).
create function tests.logged_reads(actor text, method text, path text, statement text)
returns table (table_name text, patient text)
language plpgsql
set search_path = ''
as $$
declare
    mark bigint;
begin
    select coalesce(max(l.seq), 0) into mark from audit.log as l;
    perform tests.fresh_request();
    perform tests.act_as(actor, 'aal2');
    perform set_config('request.method', method, true);
    perform set_config('request.path', path, true);
    execute statement;
    perform tests.clear_authentication();
    perform set_config('request.method', '', true);
    perform set_config('request.path', '', true);
    return query
    select l.table_name, coalesce(w.name, l.patient_id::text)
    from audit.log as l
    left join tests.world as w on w.kind = 'patients' and w.id = l.patient_id
    where l.seq > mark and l.action = 'READ'
    order by l.seq;
end;
$$;

-- What a read-only request (GET) answers: the count the statement returns, or the SQLSTATE it
-- raises. Everything it did is undone.
create function tests.read_only_answer(actor text, statement text)
returns text
language plpgsql
set search_path = ''
as $$
declare
    answer text;
begin
    begin
        perform tests.fresh_request();
        perform set_config('transaction_read_only', 'on', true);
        perform tests.act_as(actor, 'aal2');
        perform set_config('request.method', 'GET', true);
        begin
            execute statement into answer;
        exception when others then
            answer := sqlstate;
        end;
        raise exception using errcode = 'TT001';
    exception when sqlstate 'TT001' then
        null;
    end;
    return answer;
end;
$$;

-- What the pre-request function answers to a request: 'ok' or the SQLSTATE it raises.
-- Everything it did is undone.
create function tests.pre_request_answer(actor text, method text, path text, headers jsonb)
returns text
language plpgsql
set search_path = ''
as $$
declare
    answer text := 'ok';
begin
    begin
        perform tests.act_as(actor, 'aal2');
        perform set_config('request.method', method, true);
        perform set_config('request.path', path, true);
        perform set_config('request.headers', headers::text, true);
        begin
            perform public.db_pre_request();
        exception when others then
            answer := sqlstate;
        end;
        raise exception using errcode = 'TT001';
    exception when sqlstate 'TT001' then
        null;
    end;
    return answer;
end;
$$;

-- Tables: every table naming a patient is classified --------------------------------------------
select is_empty(
    $$ select c.relname::text
        from pg_catalog.pg_class as c
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
            and (
                exists (
                    select from pg_catalog.pg_attribute as a
                    where a.attrelid = c.oid and a.attname = 'patient_id' and not a.attisdropped
                )
                or exists (
                    select from pg_catalog.pg_constraint as k
                    join tests.clinical_relations as r on k.confrelid = r.oid
                    where k.conrelid = c.oid and k.contype = 'f'
                )
            )
            and c.relname not in (select r.resource from tests.clinical_relations as r)
            and not exists (
                select from private.non_clinical_patient_tables as n where n.table_name = c.oid
            ) $$,
    'every table naming a patient is either clinical (private.audited_resources) or registered as holding '
    || 'no clinical content (private.non_clinical_patient_tables)'
);
select is_empty(
    $$ select r.resource from tests.clinical_relations as r
        where r.relkind in ('r', 'p')
            and (
                select count(*) from pg_catalog.pg_attribute as a
                where a.attrelid = r.oid and not a.attisdropped
                    and a.attname in ('id', 'patient_id', 'hospital_id')
            ) <> 3 $$,
    'every clinical table has id, patient_id and hospital_id (what its disclosures name)'
);
select is_empty(
    $$ select r.resource from tests.clinical_relations as r
        where r.relkind in ('r', 'p')
            and (
                not exists (
                    select from pg_catalog.pg_policy as p
                    where p.polrelid = r.oid and p.polname = r.resource || '_disclosed'
                        and not p.polpermissive and p.polcmd = 'r'
                        and pg_catalog.pg_get_expr(p.polqual, p.polrelid) like '%disclose_' || r.resource || '_row(%'
                )
                or not exists (
                    select from pg_catalog.pg_trigger as t
                    where t.tgrelid = r.oid and t.tgname = r.resource || '_update_disclosed'
                        and t.tgfoid::regproc::text = 'private.log_clinical_update_disclosure' and t.tgenabled = 'O'
                )
            ) $$,
    'every clinical table has its restrictive <table>_disclosed policy and its <table>_update_disclosed trigger'
);
select is_empty(
    $$ select r.resource from private.audited_resources as r
        where r.resource not in (select c.resource from tests.clinical_relations as c)
            and not exists (
                select from pg_catalog.pg_proc as p
                where p.pronamespace = 'public'::regnamespace and 'rpc/' || p.proname = r.resource
            ) $$,
    'every clinical resource names an existing table, view or RPC'
);

select is_empty(
    $$ select distinct v.relname::text
        from pg_catalog.pg_class as v
        inner join pg_catalog.pg_rewrite as w on v.oid = w.ev_class
        inner join pg_catalog.pg_depend as d on w.oid = d.objid
        inner join tests.clinical_relations as r on d.refobjid = r.oid
        where
            v.relnamespace = 'public'::regnamespace and v.relkind = 'v' and v.oid <> r.oid
            and not coalesce(v.reloptions @> array['security_invoker=true'], false) $$,
    'every view over a clinical table reads it as the caller (security_invoker), so its policies log or refuse'
);

-- RPCs: every function reaching clinical content is classified ------------------------------------
create view tests.rpcs_reaching_clinical_content as
with recursive functions as (
    select
        p.oid,
        n.nspname::text as schema,
        p.proname::text as name,
        p.prosrc
    from pg_catalog.pg_proc as p
    inner join pg_catalog.pg_namespace as n on p.pronamespace = n.oid
    where n.nspname in ('public', 'private') and p.prokind = 'f'
),

reaching (oid) as (
    select f.oid from functions as f
    where
        f.prosrc ~ (
            'public\.(' || (select string_agg(r.resource, '|') from tests.clinical_relations as r) || ')\M'
        )
        or f.prosrc ~ 'pgp_(sym|pub)_decrypt'
    union
    select f.oid
    from reaching as r
    inner join functions as g on r.oid = g.oid
    inner join functions as f on f.prosrc ~ (g.schema || '\.' || g.name || '\s*\(')
)

select p.proname::text as name
from reaching as r
inner join pg_catalog.pg_proc as p on r.oid = p.oid
where
    p.pronamespace = 'public'::regnamespace
    and has_function_privilege('authenticated', p.oid, 'execute')
    and p.prorettype not in ('pg_catalog.void'::regtype, 'pg_catalog.trigger'::regtype);

select is_empty(
    $$ select f.name from tests.rpcs_reaching_clinical_content as f
        where not exists (select from private.audited_resources as r where r.resource = 'rpc/' || f.name)
            and f.name not in (
                -- RPCs that reach clinical tables but return no clinical content (reason each):
                'add_note_addendum',   -- the new addendum's id
                'amend_medical_record', -- the new rows' ids and those it marked entered in error
                'attach_medical_record_file', -- the new attachment's id and Storage path
                'create_medical_record', -- the new rows' ids and the note's status
                'request_cdss_analysis', -- the new request's id, type and status
                'review_cdss_analysis', -- the decision, the reviewer and when
                'sign_clinical_note',  -- the signing time
                'write_clinical_note'  -- the new note's id
            ) $$,
    'every RPC reaching clinical content is registered as rpc/<name> or listed as returning none'
);
select ok(
    (select count(*) from tests.rpcs_reaching_clinical_content) >= 7,
    'the RPC scan finds the clinical RPCs (notes, timeline, prescriptions, identifiers)'
);

-- Fixtures: a row of every clinical table for a_patient1 at TSTA (a_doctor's patient) and for
-- b_patient3 at TSTB (not a_doctor's), remembered as resource:patient -------------------------
select
    tests.remember(
        r.resource || ':' || f.patient, tests.clinical_fixture(r.resource, f.patient, f.hospital, f.clinician)
    )
from tests.clinical_relations as r
cross join
    (values ('a_patient1', 'TSTA', 'a_doctor'), ('b_patient3', 'TSTB', 'b_doctor')) as f (patient, hospital, clinician)
where r.relkind in ('r', 'p');

-- Every clinical table, row by row -----------------------------------------------------------------
select set_eq(
    $$ select r.resource, l.table_name, l.patient
        from tests.clinical_relations as r
        cross join lateral tests.logged_reads(
            'a_doctor', 'POST', '/' || r.resource, format('select count(*) from %s', r.qualified)
        ) as l
        where r.relkind in ('r', 'p') $$,
    $$ select r.resource, 'public.' || r.resource as table_name, 'a_patient1' as patient
        from tests.clinical_relations as r where r.relkind in ('r', 'p') $$,
    'a read-write request reaching every clinical table logs one READ naming the patient it may read, '
    || 'none for the rows it may not'
);
select set_eq(
    $$ select r.resource, l.table_name, l.patient
        from tests.clinical_relations as r
        join tests.remembered() as c on c.name = r.resource || ':a_patient1'
        cross join lateral tests.logged_reads(
            'a_doctor', 'PATCH', '/' || r.resource,
            format('update %s set deleted_at = deleted_at where id = %L returning *', r.qualified, c.id)
        ) as l $$,
    $$ select r.resource, 'public.' || r.resource as table_name, 'a_patient1' as patient
        from tests.clinical_relations as r where r.relkind in ('r', 'p') $$,
    'a PATCH matching a row with return=representation names the patient, on every clinical table '
    || '(even when nothing changed, so no UPDATE entry)'
);
select set_eq(
    $$ select r.resource, l.table_name, l.patient
        from tests.clinical_relations as r
        cross join lateral tests.logged_reads(
            'a_doctor', 'PATCH', '/' || r.resource, format('update %s set deleted_at = null', r.qualified)
        ) as l
        where r.relkind in ('r', 'p') $$,
    $$ select r.resource, 'public.' || r.resource as table_name, 'a_patient1' as patient
        from tests.clinical_relations as r where r.relkind in ('r', 'p') $$,
    'a PATCH without a filter (its row count is the answer) names the patients of the rows it changed'
);
select is_empty(
    $$ select r.resource, a.answer
        from tests.clinical_relations as r
        cross join lateral (
            select tests.read_only_answer(
                'a_front_desk',
                format('select count(*) from %s where patient_id = %L', r.qualified, tests.id_of('patients', 'a_patient1'))
            ) as answer
        ) as a
        where r.relkind in ('r', 'p') and a.answer <> '0' $$,
    'a read-only request (a GET embedding a clinical table) of someone who may not read the rows answers '
    || 'as if there were none: no 405 telling that the patient has such rows'
);
select is_empty(
    $$ select r.resource, a.answer
        from tests.clinical_relations as r
        cross join lateral (
            select tests.read_only_answer(
                'a_doctor',
                format('select count(*) from %s where patient_id = %L', r.qualified, tests.id_of('patients', 'a_patient1'))
            ) as answer
        ) as a
        where r.relkind in ('r', 'p') and a.answer <> 'PT405' $$,
    'a read-only request reaching rows the caller may read is refused (PT405): it could not be logged'
);

-- Every clinical view ---------------------------------------------------------------------------
select is_empty(
    $$ select r.resource from tests.clinical_relations as r
        where r.relkind = 'v'
            and not exists (
                select from tests.logged_reads(
                    'a_doctor', 'POST', '/' || r.resource,
                    format('select count(*) from %s where patient_id = %L', r.qualified, tests.id_of('patients', 'a_patient1'))
                ) as l
                where l.patient = 'a_patient1'
            ) $$,
    'a read-write request reading every clinical view names the patient'
);

-- Every registered RPC, called by someone who may --------------------------------------------------
select tests.act_as('a_doctor', 'aal2');
create temporary table rx on commit drop as
select id
from public.issue_prescription(tests.id_of('patients', 'a_patient1'), '[{"name": "Amlodipine", "quantity": 30}]');
select tests.act_as('a_front_desk', 'aal2');
create temporary table identifier on commit drop as
select id from public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'aadhaar', '2345 6789 1234');
select tests.act_as_service_role();
insert into public.voice_lines (hospital_id, vapi_phone_number_id, phone)
values (tests.id_of('hospitals', 'TSTA'), 'pn-disclosure', '+911765500100');
create temporary table voice on commit drop as
select (public.record_voice_call(
    jsonb_build_object(
        'type', 'end-of-call-report',
        'call', jsonb_build_object(
            'id', 'disclosure-call', 'phoneNumberId', 'pn-disclosure',
            'customer', jsonb_build_object('number', '+919800010001')
        ),
        'artifact', jsonb_build_object('transcript', 'my chest hurts')
    )
) ->> 'session_id')::uuid as id;
select tests.act_as('a_patient1');
create temporary table copilot on commit drop as
select (public.copilot_open_session() ->> 'id')::uuid as id;
select public.copilot_record_turn((select id from copilot), 'move my visit to Friday', 'Shall I move it?') is not null;
create temporary table copilot_action on commit drop as
select (public.copilot_propose_action(
    (select id from copilot),
    'reschedule_appointment',
    '{"starts_at": "2026-12-11T10:00:00Z"}',
    'Move the visit to Friday'
) ->> 'id')::uuid as id;
select tests.clear_authentication();
grant select on rx, identifier, voice, copilot, copilot_action to authenticated;

create temporary table rpc_calls (name text primary key, actor text, statement text, logged_table text) on commit drop;
insert into rpc_calls
values
(
    'clinical_note', 'a_doctor',
    format(
        'select public.clinical_note(%L)',
        tests.recall('clinical_notes:a_patient1')
    ),
    'public.clinical_notes'
),
(
    'patient_timeline', 'a_doctor',
    format('select count(*) from public.patient_timeline(%L)', tests.id_of('patients', 'a_patient1')),
    'public.patient_timeline'
),
(
    'issue_prescription', 'a_doctor',
    format(
        'select count(*) from public.issue_prescription(%L, ''[{"name": "Metformin", "quantity": 60}]'')',
        tests.id_of('patients', 'a_patient1')
    ),
    'public.prescriptions'
),
(
    'read_prescriptions', 'a_doctor',
    'select count(*) from public.read_prescriptions(array(select id from rx))', 'public.prescriptions'
),
(
    'reveal_patient_identifier', 'a_front_desk',
    'select public.reveal_patient_identifier((select id from identifier))', 'public.patient_identifiers'
),
('voice_session', 'a_front_desk', 'select public.voice_session((select id from voice))', 'public.ai_sessions'),
(
    'copilot_session_history', 'a_patient1', 'select public.copilot_session_history((select id from copilot))',
    'public.ai_messages'
),
(
    'cdss_analyses', 'a_doctor',
    format('select count(*) from public.cdss_analyses(patient_id => %L)', tests.id_of('patients', 'a_patient1')),
    'public.cdss_analyses'
),
(
    'order_scan', 'a_doctor',
    format(
        'select public.order_scan(%L, %L, ''US'', ''Echocardiogram'')', tests.id_of('patients', 'a_patient1'),
        tests.id_of('hospitals', 'TSTA')
    ),
    'public.radiology_scans'
),
(
    'scan_orders', 'a_doctor',
    format('select count(*) from public.scan_orders(%L)', tests.id_of('patients', 'a_patient1')),
    'public.radiology_scans'
),
(
    'scan_images', 'a_doctor',
    format('select public.scan_images(%L)', tests.recall('radiology_scans:a_patient1')),
    'public.dicom_instances'
),
(
    'copilot_decide_action', 'a_patient1',
    'select public.copilot_decide_action((select id from copilot_action), ''confirm'')', 'public.ai_pending_actions'
),
(
    'copilot_session_summary', 'a_patient1', 'select public.copilot_session_summary((select id from copilot))',
    'public.ai_sessions'
),
(
    'medical_record', 'a_doctor', format('select public.medical_record(%L)', tests.recall('encounters:a_patient1')),
    'public.encounters'
),
(
    'medical_records', 'a_doctor',
    format('select count(*) from public.medical_records(%L)', tests.id_of('patients', 'a_patient1')),
    'public.encounters'
),
(
    'medical_profile', 'a_doctor', format('select public.medical_profile(%L)', tests.id_of('patients', 'a_patient1')),
    'public.medical_profiles'
);

select is_empty(
    $$ select r.resource from private.audited_resources as r
        where r.resource like 'rpc/%' and substr(r.resource, 5) not in (select c.name from rpc_calls as c) $$,
    'every registered RPC has a call in this test'
);
select set_eq(
    $$ select c.name, l.table_name, l.patient
        from rpc_calls as c
        cross join lateral tests.logged_reads(c.actor, 'POST', '/rpc/' || c.name, c.statement) as l
        where l.patient = 'a_patient1' $$,
    $$ select c.name, c.logged_table, 'a_patient1' as patient from rpc_calls as c $$,
    'every registered RPC logs a READ naming the patient, once per call and table'
);

-- Writes with return=representation ---------------------------------------------------------------
select set_eq(
    $$ select * from tests.logged_reads(
        'a_doctor', 'POST', '/vital_signs',
        format(
            'insert into public.vital_signs (patient_id, hospital_id, heart_rate_bpm) values (%L, %L, 88) returning *',
            tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA')
        )
    ) $$,
    $$ values ('public.vital_signs', 'a_patient1') $$,
    'an insert with return=representation logs a READ naming the patient'
);
select tests.act_as('a_patient1');
select ok(
    exists (
        select from public.record_disclosures as d
        where
            d.action = 'READ' and d.table_name = 'public.vital_signs' and d.actor_id = tests.user_id('a_doctor')
            and d.actor_name is not null
    ),
    'and the patient sees it in record_disclosures, with the doctor''s name'
);
select tests.clear_authentication();

-- System work through the API (the service role re-encrypting, say) is not a disclosure --------------
create temporary table mark on commit drop as select coalesce(max(l.seq), 0) as seq from audit.log as l;
select tests.fresh_request();
select tests.act_as_service_role();
select set_config('request.method', 'POST', true);
update public.lab_results set unit = 'mmol/L'
where id = tests.recall('lab_results:a_patient1');
select set_config('request.method', '', true);
select tests.clear_authentication();
select is_empty(
    $$ select l.seq from audit.log as l where l.seq > (select m.seq from mark as m) and l.action = 'READ' $$,
    'an update by the service role through the API is logged as a change, not as a read of the record'
);

-- Request shapes that could roll back after reading, refused before anything is read -------------
select is_empty(
    $$ select r.resource, s.shape, a.answer
        from private.audited_resources as r
        cross join (
            values
            ('tx', '{"prefer": "return=representation, tx=rollback"}'::jsonb),
            ('max-affected', '{"prefer": "handling=strict, max-affected=0"}'),
            ('plan', '{"accept": "application/vnd.pgrst.plan+json; options=analyze"}')
        ) as s (shape, headers)
        cross join lateral (
            select tests.pre_request_answer(
                'a_doctor', case when r.resource like 'rpc/%' then 'POST' else 'PATCH' end, '/' || r.resource, s.headers
            ) as answer
        ) as a
        where a.answer <> 'PT400' $$,
    'every clinical resource refuses tx=rollback, max-affected and plan output (PT400)'
);
select results_eq(
    $$ select tests.pre_request_answer('a_doctor', m.method, m.path, '{"accept": "application/vnd.pgrst.object+json"}')
        from (
            values
            (1, 'PATCH', '/lab_results'), (2, 'DELETE', '/lab_results'), (3, 'POST', '/rpc/patient_timeline'),
            (4, 'POST', '/vital_signs'), (5, 'POST', '/rpc/clinical_note')
        ) as m (n, method, path)
        order by m.n $$,
    $$ values ('PT400'), ('PT400'), ('PT400'), ('ok'), ('ok') $$,
    'a singular Accept is refused where several rows could be counted and rolled back, allowed on one row'
);
select results_eq(
    $$ select tests.pre_request_answer('a_doctor', m.method, m.path, '{"prefer": "tx=rollback, max-affected=0"}')
        from (values (1, 'PATCH', '/patients'), (2, 'POST', '/rpc/book_appointment')) as m (n, method, path)
        order by m.n $$,
    $$ values ('ok'), ('ok') $$,
    'other resources keep every preference'
);
select is(
    tests.pre_request_answer('a_doctor', 'PATCH', '/lab_results', '{"prefer": "return=representation, count=exact"}'),
    'ok',
    'ordinary preferences are accepted on clinical resources'
);

select * from finish();
rollback;
