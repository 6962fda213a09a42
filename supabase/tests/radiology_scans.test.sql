-- Radiology (issue 20, item 1): scan orders on their state machine, DICOM uploads to the
-- dicom bucket only by the care team, and what the ingestion decides on a header: the study,
-- series and instance rows; the same SOP instance refused; a PatientID that is not the MRN
-- flagged and never attached; who reads orders, images and uploads. The worker's part (pydicom
-- reading a real file uploaded through Storage) is tests/test_radiology_ingestion.py.
begin;
select plan(39);

select tests.create_world();

create function pg_temp.order_for(patient text, hospital text)
returns uuid
language sql
as $$
    select (public.order_scan(
        tests.id_of('patients', patient), tests.id_of('hospitals', hospital), 'US', 'Echocardiogram', 'urgent',
        'breathless on exertion'
    ) ->> 'id')::uuid;
$$;

-- A file put in the bucket as `actor` (what Storage inserts, under the caller's policies).
create function pg_temp.upload(actor text, scan uuid, file text)
returns text
language plpgsql
as $$
begin
    perform tests.act_as(actor, 'aal2');
    insert into storage.objects (bucket_id, name, owner, metadata)
    values ('dicom', 'scans/' || scan || '/' || file, tests.user_id(actor), '{"size": 2048}');
    perform tests.clear_authentication();
    return 'uploaded';
exception when others then
    perform tests.clear_authentication();
    return sqlstate;
end;
$$;

-- The worker: lease the upload of this file and hand over its header -> the outcome.
create function pg_temp.ingest(scan uuid, file text, header jsonb)
returns text
language plpgsql
as $$
declare
    lease record;
    outcome text;
begin
    perform tests.act_as_service_role();
    select c.* into lease from public.claim_dicom_uploads(500) as c
    where c.storage_path = 'scans/' || scan || '/' || file;
    -- The other files leased with it go back to the queue.
    update public.dicom_uploads set lease_until = null, claim_token = null
    where status = 'pending' and id <> lease.upload_id;
    outcome := public.record_dicom_header(lease.upload_id, lease.claim_token, header) ->> 'outcome';
    perform tests.clear_authentication();
    return outcome;
end;
$$;

create function pg_temp.header(sop text, patient_id text default 'TSTA-T0001')
returns jsonb
language sql
as $$
    select jsonb_build_object(
        'dicm', true, 'sop_instance_uid', sop, 'sop_class_uid', '1.2.840.10008.5.1.4.1.1.6.1',
        'study_instance_uid', '2.25.100', 'series_instance_uid', '2.25.100.1', 'modality', 'US',
        'study_date', '20261201', 'series_number', '1', 'instance_number', right(sop, 1), 'rows', '480',
        'columns', '640', 'patient_id', patient_id, 'patient_name', 'SINGH^GURMEET'
    );
$$;

grant execute on function pg_temp.order_for(text, text) to authenticated;

-- Ordering ------------------------------------------------------------------------------------------
select tests.act_as('a_doctor', 'aal2');
select tests.remember('scan', pg_temp.order_for('a_patient1', 'TSTA'));
select results_eq(
    $$ select status::text, ordered_by from public.radiology_scans where id = tests.recall('scan') $$,
    $$ values ('ordered', tests.user_id('a_doctor')) $$,
    'a care-team doctor orders a scan: ordered, by them'
);
select isnt(
    (
        select indication_encrypted from public.radiology_scans
        where id = tests.recall('scan')
    ),
    convert_to('breathless on exertion', 'UTF8'),
    'the clinical indication is stored encrypted'
);
select is(
    (tests.error_of($$ select pg_temp.order_for('b_patient3', 'TSTB') $$)) ->> 'details', 'not_on_care_team',
    'not for a patient of another hospital'
);
select tests.act_as('a_nurse', 'aal2');
select is(
    (tests.error_of($$ select pg_temp.order_for('a_patient1', 'TSTA') $$)) ->> 'code', '42501',
    'a nurse does not order scans (the machine: doctors create them)'
);
select tests.act_as('a_front_desk', 'aal2');
select is(
    (tests.error_of($$ select pg_temp.order_for('a_patient1', 'TSTA') $$)) ->> 'details', 'not_on_care_team',
    'nor does the front desk'
);
select tests.act_as('a_doctor', 'aal1');
select is(
    (tests.error_of($$ select pg_temp.order_for('a_patient1', 'TSTA') $$)) ->> 'details', 'insufficient_aal',
    'staff order at aal2 only'
);

-- The machine -----------------------------------------------------------------------------------------
select tests.act_as('a_nurse', 'aal2');
select lives_ok(
    $$ update public.radiology_scans set status = 'scheduled', scheduled_at = now() + interval '1 day'
        where id = tests.recall('scan') $$,
    'a nurse of the care team schedules it'
);
select is(
    (tests.error_of($$ update public.radiology_scans set status = 'reported' where id = tests.recall('scan') $$))
    ->> 'code',
    'PT409',
    'a scan is not reported before its images are taken'
);
select tests.act_as('a_doctor', 'aal2');
select is(
    (tests.error_of($$ update public.radiology_scans set status = 'cancelled' where id = tests.recall('scan') $$))
    ->> 'code',
    '22023',
    'cancelling needs a reason'
);
select results_eq(
    $$ select t.from_state, t.to_state from private.state_transitions as t
        where t.machine = 'radiology_scan' order by t.from_state nulls first, t.to_state $$,
    $$ values (null, 'ordered'), ('acquired', 'reported'), ('ordered', 'acquired'), ('ordered', 'cancelled'),
        ('ordered', 'scheduled'), ('scheduled', 'acquired'), ('scheduled', 'cancelled') $$,
    'the machine: ordered -> scheduled -> acquired -> reported, cancelled before acquisition'
);
select is(
    (
        select array_agg(state order by position)::text from private.state_machine_states
        where machine = 'radiology_scan'
    ),
    (
        select array_agg(e.enumlabel order by e.enumsortorder)::text from pg_enum as e
        where e.enumtypid = 'public.radiology_scan_status'::regtype
    ),
    'its states are exactly the radiology_scan_status labels'
);

-- Uploads ---------------------------------------------------------------------------------------------
select tests.clear_authentication();
select is(pg_temp.upload('a_doctor', tests.recall('scan'), 'echo-1.dcm'), 'uploaded', 'the care team uploads a file');
select is(pg_temp.upload('a_nurse', tests.recall('scan'), 'echo-2.dcm'), 'uploaded', 'so does its nurse');
select is(
    pg_temp.upload('a_front_desk', tests.recall('scan'), 'x.dcm'), '42501', 'the front desk does not'
);
select is(pg_temp.upload('b_doctor', tests.recall('scan'), 'x.dcm'), '42501', 'nor another hospital''s doctor');
select is(
    (
        select count(*)::integer from public.dicom_uploads
        where scan_id = tests.recall('scan') and status = 'pending'
    ),
    2,
    'each upload is queued for ingestion'
);

-- Ingestion -------------------------------------------------------------------------------------------
select is(
    pg_temp.ingest(tests.recall('scan'), 'echo-1.dcm', pg_temp.header('2.25.100.1.1')), 'ingested',
    'a header naming the patient''s MRN is ingested'
);
select results_eq(
    $$ select st.study_instance_uid, se.series_instance_uid, i.sop_instance_uid, i.rows_count, st.study_date
        from public.dicom_instances as i
        join public.dicom_series as se on se.id = i.series_id
        join public.dicom_studies as st on st.id = se.study_id
        where st.scan_id = tests.recall('scan') $$,
    $$ values ('2.25.100', '2.25.100.1', '2.25.100.1.1', 480, date '2026-12-01') $$,
    'into one study, one series and one instance'
);
select is(
    (
        select status::text from public.radiology_scans
        where id = tests.recall('scan')
    ), 'acquired',
    'and the scan is acquired'
);
select is(
    pg_temp.upload('a_doctor', tests.recall('scan'), 'echo-1-again.dcm'), 'uploaded', 'the same file again'
);
select is(
    pg_temp.ingest(tests.recall('scan'), 'echo-1-again.dcm', pg_temp.header('2.25.100.1.1')), 'duplicate',
    'the same SOP instance is refused'
);
select is(
    (
        select count(*)::integer from public.dicom_instances
        where sop_instance_uid = '2.25.100.1.1'
    ), 1,
    'and stored once'
);
select is(
    pg_temp.ingest(tests.recall('scan'), 'echo-2.dcm', pg_temp.header('2.25.100.1.2', 'TSTB-T0003')),
    'patient_mismatch',
    'a PatientID that is not the patient''s MRN is flagged'
);
select results_eq(
    $$ select status::text, header_patient_id, instance_id is null from public.dicom_uploads
        where storage_path like '%/echo-2.dcm' $$,
    $$ values ('patient_mismatch', 'TSTB-T0003', true) $$,
    'with what the file said, and never attached'
);
select is(
    pg_temp.upload('a_doctor', tests.recall('scan'), 'notes.txt'), 'uploaded', 'a file that is not DICOM'
);
select is(
    pg_temp.ingest(tests.recall('scan'), 'notes.txt', '{"dicm": false}'), 'not_dicom', 'is recorded as not DICOM'
);
select pg_temp.upload('a_doctor', tests.recall('scan'), 'broken.dcm');
select tests.act_as_service_role();
create temporary table lease on commit drop as
select * from public.claim_dicom_uploads(500)
where storage_path like '%/broken.dcm';
select is(
    public.fail_dicom_upload((select upload_id from lease), (select claim_token from lease), 'download failed', 2),
    'pending',
    'an unreadable file is retried'
);
select is(
    public.record_dicom_header((select upload_id from lease), (select claim_token from lease), '{}') ->> 'outcome',
    'lost',
    'an answer without the current lease records nothing'
);
update public.dicom_uploads set lease_until = null
where storage_path like '%/broken.dcm';
select is(
    (
        select public.fail_dicom_upload(c.upload_id, c.claim_token, 'download failed', 2)
        from public.claim_dicom_uploads(500) as c
        where c.storage_path like '%/broken.dcm'
    ),
    'failed',
    'and failed after its attempts'
);
select tests.clear_authentication();

-- Who reads what --------------------------------------------------------------------------------------
select tests.act_as('a_doctor', 'aal2');
select is(
    (select s ->> 'clinical_indication' from public.scan_orders(scan_id => tests.recall('scan')) as s),
    'breathless on exertion',
    'the care team reads the order with its indication'
);
select is(
    jsonb_array_length(public.scan_images(tests.recall('scan')) -> 'uploads'), 5,
    'and every upload with its outcome'
);
select tests.act_as('a_patient1');
select is(
    public.scan_images(tests.recall('scan')) #>> '{studies,0,series,0,instances,0,sop_instance_uid}', '2.25.100.1.1',
    'the patient reads their own images'
);
select is(
    jsonb_array_length(public.scan_images(tests.recall('scan')) -> 'uploads'), 0,
    'not the uploads (a wrong file names someone else)'
);
select ok(
    private.may_read_scan_image('scans/' || tests.recall('scan') || '/echo-1.dcm')
    and not private.may_read_scan_image('scans/' || tests.recall('scan') || '/echo-2.dcm'),
    'Storage lets them download the ingested file, nobody the flagged one'
);
select tests.act_as('a_front_desk', 'aal2');
select is(
    (tests.error_of(format('select public.scan_images(%L)', tests.recall('scan')))) ->> 'details', 'scan_not_found',
    'the front desk reads no images'
);
select is_empty($$ select from public.scan_orders() $$, 'nor orders');
select tests.act_as('b_doctor', 'aal2');
select is(
    (tests.error_of(format('select public.scan_images(%L)', tests.recall('scan')))) ->> 'details', 'scan_not_found',
    'another hospital''s doctor reads nothing'
);
select ok(
    not private.may_read_scan_image('scans/' || tests.recall('scan') || '/echo-1.dcm'),
    'nor downloads the file'
);
select tests.act_as('a_admin', 'aal2');
select is(
    (select s ->> 'clinical_indication' from public.scan_orders(scan_id => tests.recall('scan')) as s), null,
    'the admin reads the order, not its indication'
);

select * from finish();
rollback;
