-- Radiology (issue 20, item 1; seed 003 /radiology/scans): scan orders moving through a state
-- machine, DICOM files uploaded straight to Storage, their headers read by the sidecar's worker
-- into study, series and instance rows.
--
--   * rpc/order_scan: a doctor of the patient's care team orders a scan (modality, study type,
--     priority, clinical indication, encrypted). The order moves along the radiology_scan
--     machine (data): ordered -> scheduled -> acquired -> reported, or cancelled (with a reason)
--     before acquisition; PATCH /rest/v1/radiology_scans {status, status_reason, scheduled_at}.
--   * Upload: the care team puts DICOM files in the Storage bucket `dicom` at
--     scans/<scan id>/<file name> (standard or resumable TUS upload) while the scan is ordered,
--     scheduled or acquired. The new object queues a dicom_uploads row (a trigger on
--     storage.objects, in the upload's transaction).
--   * Ingestion (sidecar worker, service role): rpc/claim_dicom_uploads leases pending uploads;
--     the worker reads the header of each (pydicom, stop_before_pixels, from the first bytes of
--     the object) and hands it to rpc/record_dicom_header, which decides: no DICM preamble ->
--     not_dicom; a SOPInstanceUID already stored -> duplicate (refused); a PatientID that is not
--     the patient's MRN at the scan's hospital -> patient_mismatch (flagged, never attached);
--     otherwise the study, series and instance rows (the first instance moves an ordered or
--     scheduled scan to acquired, as the system). rpc/fail_dicom_upload records one the worker
--     could not read (retried, then failed).
--   * Reading: rpc/scan_orders (the orders, indication in clear for the care team) and
--     rpc/scan_images (study -> series -> instances with their Storage paths, and the uploads
--     with their outcome), both logged per patient; GET on these tables is refused (PT405).
--
-- Access as for every clinical table: the patient's care team at the row's hospital reads and
-- writes (consented shares read), the patient reads their own scans and images, the hospital's
-- admin reads rows (encrypted text stays encrypted) and archives; staff at aal2. Uploads (which
-- may carry another person's name from a wrong file) are the care team's and the admin's only.
--
-- Errors (DETAIL): 22023 invalid_modality, study_type_required, invalid_priority, invalid_header;
-- PT404 scan_not_found, upload_not_found; 42501 not_on_care_team; PT409 scan_closed.

create type public.radiology_scan_status as enum ('ordered', 'scheduled', 'acquired', 'reported', 'cancelled');
-- DICOM modality codes: ECG, US (echocardiography), CT, MR, XA (angiography), DX, NM.
create type public.scan_modality as enum ('ECG', 'US', 'CT', 'MR', 'XA', 'DX', 'NM');
create type public.scan_priority as enum ('routine', 'urgent', 'stat');
create type public.dicom_upload_status as enum (
    'pending', 'ingested', 'duplicate', 'patient_mismatch', 'not_dicom', 'failed'
);

-- The machine -------------------------------------------------------------------------------------
insert into private.state_machine_states (machine, state, label, position, is_terminal)
values
('radiology_scan', 'ordered', 'Ordered', 1, false),
('radiology_scan', 'scheduled', 'Scheduled', 2, false),
('radiology_scan', 'acquired', 'Acquired', 3, false),
('radiology_scan', 'reported', 'Reported', 4, true),
('radiology_scan', 'cancelled', 'Cancelled', 5, true);

insert into private.state_transitions (machine, from_state, to_state, roles, requires_reason, description)
values
('radiology_scan', null, 'ordered', '{doctor}', false, 'A doctor of the care team orders the scan'),
('radiology_scan', 'ordered', 'scheduled', '{doctor,nurse}', false, 'A time is set'),
(
    'radiology_scan', 'ordered', 'acquired', '{doctor,nurse}', false,
    'Images taken (the first DICOM instance ingested moves it as the system)'
),
(
    'radiology_scan', 'scheduled', 'acquired', '{doctor,nurse}', false,
    'Images taken (the first DICOM instance ingested moves it as the system)'
),
('radiology_scan', 'acquired', 'reported', '{doctor}', false, 'A doctor has reported on the images'),
('radiology_scan', 'ordered', 'cancelled', '{doctor}', true, 'Cancelled before acquisition'),
('radiology_scan', 'scheduled', 'cancelled', '{doctor}', true, 'Cancelled before acquisition');

-- Tables --------------------------------------------------------------------------------------------
create table public.radiology_scans (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    hospital_id uuid not null,
    ordered_by uuid not null references public.profiles (id) on delete restrict default auth.uid(),
    modality public.scan_modality not null,
    study_type text not null constraint radiology_scans_study_type_present check (
        length(btrim(study_type)) between 1 and 120
    ),
    priority public.scan_priority not null default 'routine',
    -- Encrypted free text: why the scan is asked for.
    indication_encrypted bytea,
    status public.radiology_scan_status not null default 'ordered',
    status_reason text,
    status_changed_at timestamptz not null default now(),
    scheduled_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    deleted_at timestamptz,
    constraint radiology_scans_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict,
    constraint radiology_scans_of_patient unique (id, patient_id, hospital_id)
);

create index radiology_scans_registration_idx on public.radiology_scans (patient_id, hospital_id, created_at);
create index radiology_scans_hospital_idx on public.radiology_scans (hospital_id, status);
create index radiology_scans_ordered_by_idx on public.radiology_scans (ordered_by);

create table public.dicom_studies (
    id uuid primary key default gen_random_uuid(),
    scan_id uuid not null,
    patient_id uuid not null,
    hospital_id uuid not null,
    study_instance_uid text not null constraint dicom_studies_uid_unique unique,
    accession_number text,
    study_date date,
    study_time text,
    study_description text,
    modality text,
    created_at timestamptz not null default now(),
    deleted_at timestamptz,
    constraint dicom_studies_scan_fkey foreign key (scan_id, patient_id, hospital_id)
    references public.radiology_scans (id, patient_id, hospital_id) on delete restrict,
    constraint dicom_studies_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict,
    constraint dicom_studies_of_patient unique (id, patient_id, hospital_id)
);

create index dicom_studies_scan_idx on public.dicom_studies (scan_id, patient_id, hospital_id);
create index dicom_studies_registration_idx on public.dicom_studies (patient_id, hospital_id);
create index dicom_studies_hospital_idx on public.dicom_studies (hospital_id);

create table public.dicom_series (
    id uuid primary key default gen_random_uuid(),
    study_id uuid not null,
    patient_id uuid not null,
    hospital_id uuid not null,
    series_instance_uid text not null constraint dicom_series_uid_unique unique,
    series_number integer,
    modality text,
    body_part text,
    series_description text,
    created_at timestamptz not null default now(),
    deleted_at timestamptz,
    constraint dicom_series_study_fkey foreign key (study_id, patient_id, hospital_id)
    references public.dicom_studies (id, patient_id, hospital_id) on delete restrict,
    constraint dicom_series_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict,
    constraint dicom_series_of_patient unique (id, patient_id, hospital_id)
);

create index dicom_series_study_idx on public.dicom_series (study_id, patient_id, hospital_id);
create index dicom_series_registration_idx on public.dicom_series (patient_id, hospital_id);
create index dicom_series_hospital_idx on public.dicom_series (hospital_id);

create table public.dicom_instances (
    id uuid primary key default gen_random_uuid(),
    series_id uuid not null,
    patient_id uuid not null,
    hospital_id uuid not null,
    -- A SOP instance is stored once: the same file uploaded again is refused.
    sop_instance_uid text not null constraint dicom_instances_sop_unique unique,
    sop_class_uid text,
    instance_number integer,
    transfer_syntax_uid text,
    rows_count integer,
    columns_count integer,
    frames integer,
    -- What the file's header says of the patient (checked against the MRN before attaching).
    dicom_patient_id text,
    dicom_patient_name text,
    storage_path text not null constraint dicom_instances_storage_path_unique unique,
    size_bytes bigint,
    created_at timestamptz not null default now(),
    deleted_at timestamptz,
    constraint dicom_instances_series_fkey foreign key (series_id, patient_id, hospital_id)
    references public.dicom_series (id, patient_id, hospital_id) on delete restrict,
    constraint dicom_instances_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict
);

create index dicom_instances_series_idx on public.dicom_instances (series_id, patient_id, hospital_id);
create index dicom_instances_registration_idx on public.dicom_instances (patient_id, hospital_id);
create index dicom_instances_hospital_idx on public.dicom_instances (hospital_id);

create table public.dicom_uploads (
    id uuid primary key default gen_random_uuid(),
    scan_id uuid not null,
    patient_id uuid not null,
    hospital_id uuid not null,
    storage_path text not null constraint dicom_uploads_storage_path_unique unique,
    size_bytes bigint,
    uploaded_by uuid references public.profiles (id) on delete set null,
    status public.dicom_upload_status not null default 'pending',
    -- Why it was not attached (duplicate of which instance, what the header said...).
    reason text,
    -- The header's PatientID when it did not match the MRN.
    header_patient_id text,
    instance_id uuid references public.dicom_instances (id) on delete set null,
    attempts integer not null default 0,
    lease_until timestamptz,
    claim_token uuid,
    created_at timestamptz not null default now(),
    processed_at timestamptz,
    deleted_at timestamptz,
    constraint dicom_uploads_scan_fkey foreign key (scan_id, patient_id, hospital_id)
    references public.radiology_scans (id, patient_id, hospital_id) on delete restrict,
    constraint dicom_uploads_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict,
    constraint dicom_uploads_path_of_scan check (storage_path like 'scans/' || scan_id::text || '/%')
);

create index dicom_uploads_scan_idx on public.dicom_uploads (scan_id, patient_id, hospital_id);
create index dicom_uploads_registration_idx on public.dicom_uploads (patient_id, hospital_id);
create index dicom_uploads_hospital_idx on public.dicom_uploads (hospital_id);
create index dicom_uploads_instance_idx on public.dicom_uploads (instance_id);
create index dicom_uploads_uploaded_by_idx on public.dicom_uploads (uploaded_by);
create index dicom_uploads_pending_idx on public.dicom_uploads (created_at) where status = 'pending';

insert into private.encrypted_columns (table_name, column_name)
values ('public.radiology_scans', 'indication_encrypted');

create trigger radiology_scans_set_updated_at before update on public.radiology_scans
for each row execute function private.set_updated_at();
create trigger radiology_scans_state_machine before insert or update of status on public.radiology_scans
for each row execute function private.enforce_state_machine('radiology_scan');

-- What every clinical table carries: the audit trail, the archive-only update guard, never
-- deleted, nothing new for a merged patient, staff at aal2, reads logged per patient.
insert into private.audited_resources (resource, read_with)
values
('radiology_scans', 'POST /rest/v1/rpc/scan_orders'),
('dicom_studies', 'POST /rest/v1/rpc/scan_images'),
('dicom_series', 'POST /rest/v1/rpc/scan_images'),
('dicom_instances', 'POST /rest/v1/rpc/scan_images'),
('dicom_uploads', 'POST /rest/v1/rpc/scan_images'),
('rpc/order_scan', 'POST /rest/v1/rpc/order_scan'),
('rpc/scan_orders', 'POST /rest/v1/rpc/scan_orders'),
('rpc/scan_images', 'POST /rest/v1/rpc/scan_images');

create trigger audit_row_change after insert or update or delete on public.radiology_scans
for each row execute function private.audit_row_change('patient_id', 'indication_encrypted');

do $$
declare
    t text;
begin
    foreach t in array array['radiology_scans', 'dicom_studies', 'dicom_series', 'dicom_instances', 'dicom_uploads'] loop
        if t <> 'radiology_scans' then
            execute format(
                'create trigger audit_row_change after insert or update or delete on public.%I
                 for each row execute function private.audit_row_change(''patient_id'')',
                t
            );
        end if;
        execute format(
            'create trigger %1$s_guard before update on public.%1$I
             for each row execute function private.guard_clinical_update()',
            t
        );
        execute format(
            'create trigger %1$s_never_deleted before delete on public.%1$I
             for each row execute function private.refuse_clinical_delete()',
            t
        );
        execute format(
            'create trigger %1$s_never_truncated before truncate on public.%1$I
             for each statement execute function private.refuse_clinical_delete()',
            t
        );
        execute format(
            'create trigger refuse_merged_patient before insert or update on public.%I
             for each row execute function private.refuse_merged_patient(''patient_id'')',
            t
        );
        execute format('alter table public.%I enable row level security', t);
        execute format('revoke all on public.%I from anon, authenticated', t);
        execute format('grant all on public.%I to service_role', t);
        execute format('grant select on public.%I to authenticated', t);
        execute format(
            'create policy %1$s_staff_need_aal2 on public.%1$I as restrictive for all to authenticated
             using ((select private.phi_aal2_cleared()) or private.require_phi_aal2(patient_id))
             with check ((select private.phi_aal2_cleared()) or private.require_phi_aal2(patient_id))',
            t
        );
        -- Uploads are the care team's and the admin's: a wrong file may name another person.
        execute format(
            'create policy %1$s_select on public.%1$I for select to authenticated
             using (
                 (deleted_at is null and private.can_read_clinical(patient_id, hospital_id))
                 %2$s
                 or hospital_id = any(private.staff_hospital_ids(''{hospital_admin}''))
             )',
            t,
            case when t = 'dicom_uploads' then '' else
                'or (deleted_at is null and patient_id = (select private.own_patient_id()))' end
        );
        perform private.install_clinical_disclosure(t);
        -- Archiving and restoring is the admin's (guard_clinical_update); rows are written by the
        -- ingestion alone.
        if t <> 'radiology_scans' then
            execute format('grant update (deleted_at) on public.%I to authenticated', t);
            execute format(
                'create policy %1$s_update on public.%1$I for update to authenticated
                 using (
                     private.on_care_team(patient_id, hospital_id)
                     or hospital_id = any(private.staff_hospital_ids(''{hospital_admin}''))
                 )
                 with check (
                     private.on_care_team(patient_id, hospital_id)
                     or hospital_id = any(private.staff_hospital_ids(''{hospital_admin}''))
                 )',
                t
            );
        end if;
    end loop;
end;
$$;

-- The disclosure policies in the form 20261203000200 gave the others (the request method read
-- once per statement).
do $$
declare
    t text;
begin
    foreach t in array array['radiology_scans', 'dicom_studies', 'dicom_series', 'dicom_instances', 'dicom_uploads'] loop
        execute format(
            'alter policy %2$I on public.%1$I
             using (
                 coalesce((select current_setting(''request.method'', true)), '''') = ''''
                 or strpos(coalesce(current_setting(%3$L, true), ''''), patient_id::text) > 0
                 or %4$s(id, patient_id, hospital_id)
             )',
            t, t || '_disclosed', 'carebase.disclosed.' || t, format('private.%I', 'disclose_' || t || '_row')
        );
    end loop;
end;
$$;

-- The orders: written by the care team (rpc/order_scan), moved along the machine, archived by
-- the admin.
grant insert (
    id, patient_id, hospital_id, modality, study_type, priority, indication_encrypted, status,
    scheduled_at
) on public.radiology_scans to authenticated;
grant update (status, status_reason, scheduled_at, deleted_at) on public.radiology_scans to authenticated;

create policy radiology_scans_insert_care_team on public.radiology_scans
for insert to authenticated
with check (deleted_at is null and private.on_care_team(patient_id, hospital_id));

create policy radiology_scans_update on public.radiology_scans
for update to authenticated
using (
    private.on_care_team(patient_id, hospital_id)
    or hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
)
with check (
    private.on_care_team(patient_id, hospital_id)
    or hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
);

-- Transitions are read under the order's RLS, as the other machines' (20261203000200).
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
);

-- Ordering ----------------------------------------------------------------------------------------
-- RPC (seed 003 POST /radiology/scans) -> the order (indication in clear). Security invoker: the
-- care team's insert policy and the machine decide.
create function public.order_scan(
    patient_id uuid,
    hospital_id uuid,
    modality public.scan_modality,
    study_type text,
    priority public.scan_priority default 'routine',
    clinical_indication text default null,
    scheduled_at timestamptz default null
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    made public.radiology_scans;
begin
    if coalesce(btrim(order_scan.study_type), '') = '' then
        perform private.raise_invalid('the study type is required (e.g. "Echocardiogram")', 'study_type_required');
    end if;
    perform private.require_phi_aal2(order_scan.patient_id);
    if not private.on_care_team(order_scan.patient_id, order_scan.hospital_id) then
        perform private.raise_forbidden(
            'only the patient''s care team orders scans', 'not_on_care_team',
            'a doctor of the patient''s care team at this hospital orders it'
        );
    end if;
    insert into public.radiology_scans as s (
        patient_id, hospital_id, modality, study_type, priority, indication_encrypted, scheduled_at
    )
    values (
        order_scan.patient_id, order_scan.hospital_id, order_scan.modality, btrim(order_scan.study_type),
        coalesce(order_scan.priority, 'routine'),
        case when nullif(btrim(order_scan.clinical_indication), '') is not null
            then private.encrypt_field(btrim(order_scan.clinical_indication)) end,
        order_scan.scheduled_at
    )
    returning s.* into made;
    perform private.log_clinical_disclosure('radiology_scans', made.patient_id, made.hospital_id);
    return (to_jsonb(made) - 'indication_encrypted')
        || jsonb_build_object('clinical_indication', nullif(btrim(order_scan.clinical_indication), ''));
end;
$$;

-- Storage -------------------------------------------------------------------------------------------
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('dicom', 'dicom', false, 536870912, array['application/dicom', 'application/octet-stream'])
on conflict (id) do nothing;

-- The scan a path scans/<scan id>/<file> names, when it is well formed.
create function private.scan_of_path(object_name text)
returns uuid
language sql
immutable
set search_path = ''
as $$
    select case
        when object_name ~ '^scans/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/[^/]+$'
            and object_name !~ '(^|/)\.\.(/|$)'
            then split_part(object_name, '/', 2)::uuid
    end;
$$;

-- Whether the caller may upload images of this scan: its care team, at aal2, while the scan
-- takes images (ordered, scheduled, acquired). Security definer: reads the order whatever the
-- caller's policies (no clinical content is answered).
create function private.may_upload_scan_images(object_name text)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce((
        select private.on_care_team(s.patient_id, s.hospital_id) and private.phi_aal2_cleared()
        from public.radiology_scans as s
        where s.id = private.scan_of_path(object_name) and s.deleted_at is null
            and s.status in ('ordered', 'scheduled', 'acquired')
    ), false);
$$;

-- Whether the caller may download this image: an ingested instance they may read (the
-- viewer's signed URLs are made with their token). Security definer: the same check as the
-- instances' policies, without their read logging (the listing that named the path logged it).
create function private.may_read_scan_image(object_name text)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce((
        select (
            private.can_read_clinical(i.patient_id, i.hospital_id)
            or i.patient_id = private.own_patient_id()
            or i.hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
        ) and private.phi_aal2_cleared()
        from public.dicom_instances as i
        where i.storage_path = object_name and i.deleted_at is null
    ), false);
$$;

create policy dicom_objects_insert on storage.objects
for insert to authenticated
with check (bucket_id = 'dicom' and private.may_upload_scan_images(name));

create policy dicom_objects_select on storage.objects
for select to authenticated
using (bucket_id = 'dicom' and private.may_read_scan_image(name));

-- A new object of the bucket queues its ingestion, in the upload's transaction. Security
-- definer: writes dicom_uploads, which nobody writes through the API.
create function private.queue_dicom_upload()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    scan public.radiology_scans;
begin
    select s.* into scan from public.radiology_scans as s where s.id = private.scan_of_path(new.name);
    if scan.id is null then
        -- Only the service role can put an object elsewhere; it is not a scan's image.
        return null;
    end if;
    insert into public.dicom_uploads (scan_id, patient_id, hospital_id, storage_path, size_bytes, uploaded_by)
    values (
        scan.id, scan.patient_id, scan.hospital_id, new.name, nullif(new.metadata ->> 'size', '')::bigint,
        coalesce(new.owner, auth.uid())
    )
    on conflict (storage_path) do update
    set status = 'pending', reason = null, header_patient_id = null, attempts = 0, lease_until = null,
        claim_token = null, processed_at = null, size_bytes = excluded.size_bytes;
    return null;
end;
$$;

create trigger dicom_objects_queue_ingestion
after insert on storage.objects
for each row when (new.bucket_id = 'dicom')
execute function private.queue_dicom_upload();

-- Ingestion (service role) ------------------------------------------------------------------------
-- Leases up to `batch` pending uploads for `lease_seconds` (for update skip locked): each with a
-- claim token the answer must carry.
create function public.claim_dicom_uploads(batch integer default 20, lease_seconds integer default 120)
returns table (upload_id uuid, storage_path text, scan_id uuid, claim_token uuid, attempts integer)
language plpgsql
volatile
set search_path = ''
as $$
begin
    if batch not between 1 and 500 or lease_seconds not between 5 and 3600 then
        perform private.raise_invalid('batch 1..500, lease_seconds 5..3600', 'invalid_claim');
    end if;
    return query
    with picked as (
        select u.id from public.dicom_uploads as u
        where u.status = 'pending' and (u.lease_until is null or u.lease_until < now())
        order by u.created_at
        limit batch
        for update skip locked
    )
    update public.dicom_uploads as u
    set lease_until = now() + make_interval(secs => lease_seconds), claim_token = gen_random_uuid(),
        attempts = u.attempts + 1
    from picked
    where u.id = picked.id
    returning u.id, u.storage_path, u.scan_id, u.claim_token, u.attempts;
end;
$$;

-- The upload under its lease, locked; null when the lease was lost.
create function private.leased_upload(upload_id uuid, claim_token uuid)
returns public.dicom_uploads
language sql
volatile
set search_path = ''
as $$
    select u.* from public.dicom_uploads as u
    where u.id = leased_upload.upload_id and u.claim_token = leased_upload.claim_token and u.status = 'pending'
    for update;
$$;

-- Decides on a header the worker read -> {outcome, reason, instance_id}: outcome is ingested,
-- duplicate, patient_mismatch, not_dicom, or lost (the lease was taken by another worker).
-- header: {dicm (the DICM preamble was there), sop_instance_uid, sop_class_uid,
-- study_instance_uid, series_instance_uid, modality, study_date (YYYYMMDD), study_time,
-- accession_number, study_description, series_number, series_description, body_part,
-- instance_number, transfer_syntax_uid, rows, columns, frames, patient_id, patient_name}.
create function public.record_dicom_header(upload_id uuid, claim_token uuid, header jsonb)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    upload public.dicom_uploads := private.leased_upload(record_dicom_header.upload_id, record_dicom_header.claim_token);
    scan public.radiology_scans;
    mrn text;
    study public.dicom_studies;
    series public.dicom_series;
    instance public.dicom_instances;
    existing public.dicom_instances;
    outcome public.dicom_upload_status;
    why text;
begin
    if upload.id is null then
        return jsonb_build_object('outcome', 'lost');
    end if;
    if jsonb_typeof(header) is distinct from 'object' then
        perform private.raise_invalid('the header is a JSON object', 'invalid_header');
    end if;
    select s.* into scan from public.radiology_scans as s where s.id = upload.scan_id;
    select r.mrn into mrn from public.patient_registrations as r
    where r.patient_id = scan.patient_id and r.hospital_id = scan.hospital_id;
    select i.* into existing from public.dicom_instances as i where i.sop_instance_uid = header ->> 'sop_instance_uid';

    if not coalesce((header ->> 'dicm')::boolean, false) then
        outcome := 'not_dicom';
        why := 'no DICM preamble: not a DICOM Part 10 file';
    elsif coalesce(header ->> 'sop_instance_uid', '') = '' or coalesce(header ->> 'study_instance_uid', '') = ''
        or coalesce(header ->> 'series_instance_uid', '') = '' then
        outcome := 'not_dicom';
        why := 'the header lacks the SOP instance, study or series UID';
    elsif existing.id is not null then
        outcome := 'duplicate';
        why := format('SOP instance %s is stored already (instance %s)', header ->> 'sop_instance_uid', existing.id);
    elsif btrim(coalesce(header ->> 'patient_id', '')) is distinct from mrn then
        outcome := 'patient_mismatch';
        why := 'the file''s PatientID is not the patient''s MRN at this hospital: not attached';
    end if;
    if outcome is not null then
        update public.dicom_uploads as u
        set status = outcome, reason = why, processed_at = now(), lease_until = null, claim_token = null,
            header_patient_id = case when outcome = 'patient_mismatch' then left(header ->> 'patient_id', 64) end
        where u.id = upload.id;
        return jsonb_build_object('outcome', outcome, 'reason', why);
    end if;

    select st.* into study from public.dicom_studies as st where st.study_instance_uid = header ->> 'study_instance_uid';
    if study.id is not null and study.scan_id <> scan.id then
        update public.dicom_uploads as u
        set status = 'patient_mismatch', processed_at = now(), lease_until = null, claim_token = null,
            reason = 'the study belongs to another scan order: not attached'
        where u.id = upload.id;
        return jsonb_build_object('outcome', 'patient_mismatch', 'reason', 'study of another scan');
    end if;
    if study.id is null then
        insert into public.dicom_studies as st (
            scan_id, patient_id, hospital_id, study_instance_uid, accession_number, study_date, study_time,
            study_description, modality
        )
        values (
            scan.id, scan.patient_id, scan.hospital_id, header ->> 'study_instance_uid',
            nullif(header ->> 'accession_number', ''),
            case when header ->> 'study_date' ~ '^\d{8}$' then to_date(header ->> 'study_date', 'YYYYMMDD') end,
            nullif(header ->> 'study_time', ''), nullif(header ->> 'study_description', ''),
            nullif(header ->> 'modality', '')
        )
        returning st.* into study;
    end if;
    select se.* into series from public.dicom_series as se where se.series_instance_uid = header ->> 'series_instance_uid';
    if series.id is null then
        insert into public.dicom_series as se (
            study_id, patient_id, hospital_id, series_instance_uid, series_number, modality, body_part,
            series_description
        )
        values (
            study.id, scan.patient_id, scan.hospital_id, header ->> 'series_instance_uid',
            case when header ->> 'series_number' ~ '^-?\d{1,9}$' then (header ->> 'series_number')::integer end,
            nullif(header ->> 'modality', ''), nullif(header ->> 'body_part', ''),
            nullif(header ->> 'series_description', '')
        )
        returning se.* into series;
    elsif series.study_id <> study.id then
        update public.dicom_uploads as u
        set status = 'patient_mismatch', processed_at = now(), lease_until = null, claim_token = null,
            reason = 'the series belongs to another study: not attached'
        where u.id = upload.id;
        return jsonb_build_object('outcome', 'patient_mismatch', 'reason', 'series of another study');
    end if;
    insert into public.dicom_instances as i (
        series_id, patient_id, hospital_id, sop_instance_uid, sop_class_uid, instance_number, transfer_syntax_uid,
        rows_count, columns_count, frames, dicom_patient_id, dicom_patient_name, storage_path, size_bytes
    )
    values (
        series.id, scan.patient_id, scan.hospital_id, header ->> 'sop_instance_uid', nullif(header ->> 'sop_class_uid', ''),
        case when header ->> 'instance_number' ~ '^-?\d{1,9}$' then (header ->> 'instance_number')::integer end,
        nullif(header ->> 'transfer_syntax_uid', ''),
        case when header ->> 'rows' ~ '^\d{1,9}$' then (header ->> 'rows')::integer end,
        case when header ->> 'columns' ~ '^\d{1,9}$' then (header ->> 'columns')::integer end,
        case when header ->> 'frames' ~ '^\d{1,9}$' then (header ->> 'frames')::integer end,
        nullif(header ->> 'patient_id', ''), nullif(header ->> 'patient_name', ''), upload.storage_path,
        upload.size_bytes
    )
    returning i.* into instance;
    update public.dicom_uploads as u
    set status = 'ingested', instance_id = instance.id, processed_at = now(), lease_until = null,
        claim_token = null, reason = null
    where u.id = upload.id;
    if scan.status in ('ordered', 'scheduled') then
        update public.radiology_scans as s set status = 'acquired' where s.id = scan.id;
    end if;
    return jsonb_build_object('outcome', 'ingested', 'instance_id', instance.id);
exception
    when unique_violation then
        -- Two workers raced on one SOP instance: the other stored it.
        update public.dicom_uploads as u
        set status = 'duplicate', processed_at = now(), lease_until = null, claim_token = null,
            reason = format('SOP instance %s is stored already', header ->> 'sop_instance_uid')
        where u.id = upload.id;
        return jsonb_build_object('outcome', 'duplicate');
end;
$$;

-- A file the worker could not read (the object is gone, the download failed): retried under
-- a new lease until `max_attempts`, then failed with the error -> pending, failed or lost.
create function public.fail_dicom_upload(upload_id uuid, claim_token uuid, error text, max_attempts integer default 5)
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
    upload public.dicom_uploads := private.leased_upload(fail_dicom_upload.upload_id, fail_dicom_upload.claim_token);
begin
    if upload.id is null then
        return 'lost';
    end if;
    if upload.attempts >= max_attempts then
        update public.dicom_uploads as u
        set status = 'failed', reason = left(error, 500), processed_at = now(), lease_until = null, claim_token = null
        where u.id = upload.id;
        return 'failed';
    end if;
    update public.dicom_uploads as u
    set reason = left(error, 500), claim_token = null,
        lease_until = now() + make_interval(secs => least(3600, 30 * power(2, upload.attempts - 1)))
    where u.id = upload.id;
    return 'pending';
end;
$$;

-- Reading -------------------------------------------------------------------------------------------
-- A scan's clinical indication in clear, for its care team (or a consented share) and its
-- patient; null for anyone else (the admin reads the order, not the text). Security definer:
-- decrypts; it reads the row by id itself, so no forged row value is ever decrypted.
create function private.scan_indication(scan_id uuid)
returns text
language sql
stable
security definer
set search_path = ''
as $$
    select private.decrypt_field(s.indication_encrypted)
    from public.radiology_scans as s
    where s.id = scan_indication.scan_id and s.deleted_at is null
        and (private.can_read_clinical(s.patient_id, s.hospital_id) or s.patient_id = private.own_patient_id())
        and private.require_phi_aal2(s.patient_id);
$$;

-- RPC (seed 003 GET /radiology/scans, /scans/:id): the scan orders the caller may read, newest
-- first (of one patient, or one scan), the indication in clear for the care team and the
-- patient; each patient's read logged. Security invoker: the orders' policies choose.
create function public.scan_orders(patient_id uuid default null, scan_id uuid default null)
returns setof jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    scan public.radiology_scans;
begin
    for scan in
        select s.* from public.radiology_scans as s
        where (scan_orders.patient_id is null or s.patient_id = scan_orders.patient_id)
            and (scan_orders.scan_id is null or s.id = scan_orders.scan_id)
        order by s.created_at desc
        limit 500
    loop
        perform private.require_phi_aal2(scan.patient_id);
        perform private.log_clinical_disclosure('radiology_scans', scan.patient_id, scan.hospital_id);
        return next (to_jsonb(scan) - 'indication_encrypted') || jsonb_build_object(
            'clinical_indication', private.scan_indication(scan.id)
        );
    end loop;
end;
$$;

-- One scan's images as study -> series -> instances with their Storage paths (bucket dicom),
-- and, for the care team and the admin, its uploads with their outcome; the read is logged once
-- (naming the patient). Security definer, as private.read_clinical_note: it checks who may read
-- the scan itself (care team or consented share, the patient, the hospital's admin), then reads
-- the tree whatever the tables' own policies would log table by table.
create function private.read_scan_images(scan_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    scan public.radiology_scans;
    clinician boolean;
    admin boolean;
begin
    select s.* into scan from public.radiology_scans as s where s.id = read_scan_images.scan_id and s.deleted_at is null;
    clinician := coalesce(private.can_read_clinical(scan.patient_id, scan.hospital_id), false);
    admin := coalesce(scan.hospital_id = any(private.staff_hospital_ids('{hospital_admin}')), false);
    if scan.id is null or not (clinician or admin or scan.patient_id is not distinct from private.own_patient_id()) then
        perform private.raise_not_found('no such scan', 'scan_not_found');
    end if;
    perform private.require_phi_aal2(scan.patient_id);
    perform private.log_clinical_disclosure('dicom_instances', scan.patient_id, scan.hospital_id);
    return jsonb_build_object(
        'scan_id', scan.id, 'patient_id', scan.patient_id, 'hospital_id', scan.hospital_id, 'status', scan.status,
        'modality', scan.modality, 'study_type', scan.study_type,
        'studies', coalesce((
            select jsonb_agg(
                jsonb_build_object(
                    'id', st.id, 'study_instance_uid', st.study_instance_uid, 'study_date', st.study_date,
                    'study_description', st.study_description, 'modality', st.modality,
                    'accession_number', st.accession_number,
                    'series', coalesce((
                        select jsonb_agg(
                            jsonb_build_object(
                                'id', se.id, 'series_instance_uid', se.series_instance_uid,
                                'series_number', se.series_number, 'modality', se.modality, 'body_part', se.body_part,
                                'series_description', se.series_description,
                                'instances', coalesce((
                                    select jsonb_agg(
                                        jsonb_build_object(
                                            'id', i.id, 'sop_instance_uid', i.sop_instance_uid,
                                            'sop_class_uid', i.sop_class_uid, 'instance_number', i.instance_number,
                                            'rows', i.rows_count, 'columns', i.columns_count, 'frames', i.frames,
                                            'storage_path', i.storage_path, 'size_bytes', i.size_bytes
                                        ) order by i.instance_number nulls last, i.created_at
                                    )
                                    from public.dicom_instances as i where i.series_id = se.id and i.deleted_at is null
                                ), '[]')
                            ) order by se.series_number nulls last, se.created_at
                        )
                        from public.dicom_series as se where se.study_id = st.id and se.deleted_at is null
                    ), '[]')
                ) order by st.created_at
            )
            from public.dicom_studies as st where st.scan_id = scan.id and st.deleted_at is null
        ), '[]'),
        'uploads', case when clinician or admin then coalesce((
            select jsonb_agg(
                jsonb_build_object(
                    'id', u.id, 'storage_path', u.storage_path, 'status', u.status, 'reason', u.reason,
                    'header_patient_id', u.header_patient_id, 'instance_id', u.instance_id,
                    'created_at', u.created_at, 'processed_at', u.processed_at
                ) order by u.created_at
            )
            from public.dicom_uploads as u where u.scan_id = scan.id
        ), '[]') else '[]'::jsonb end
    );
end;
$$;

-- RPC (seed 003 GET /scans/:id/dicom, before the sidecar signs the URLs): private.read_scan_images.
create function public.scan_images(scan_id uuid)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.read_scan_images(scan_images.scan_id);
$$;

grant execute on function private.scan_of_path(text) to authenticated, service_role;
grant execute on function private.may_upload_scan_images(text) to authenticated;
grant execute on function private.may_read_scan_image(text) to authenticated;
grant execute on function private.leased_upload(uuid, uuid) to service_role;
grant execute on function private.scan_indication(uuid) to authenticated;
grant execute on function private.read_scan_images(uuid) to authenticated;
grant execute on function public.order_scan(
    uuid, uuid, public.scan_modality, text, public.scan_priority, text, timestamptz
) to authenticated;
grant execute on function public.claim_dicom_uploads(integer, integer) to service_role;
grant execute on function public.record_dicom_header(uuid, uuid, jsonb) to service_role;
grant execute on function public.fail_dicom_upload(uuid, uuid, text, integer) to service_role;
-- The ingestion is the worker's (service role) alone.
revoke execute on function public.claim_dicom_uploads(integer, integer) from authenticated;
revoke execute on function public.record_dicom_header(uuid, uuid, jsonb) from authenticated;
revoke execute on function public.fail_dicom_upload(uuid, uuid, text, integer) from authenticated;
grant execute on function public.scan_orders(uuid, uuid) to authenticated;
grant execute on function public.scan_images(uuid) to authenticated;

comment on table public.radiology_scans is
'Scan orders (seed 003 /radiology/scans): patient, modality, study type, ordering doctor,
priority, clinical indication (encrypted), moving ordered -> scheduled -> acquired -> reported, or
cancelled with a reason (machine radiology_scan). Ordered with rpc/order_scan by the care team;
status, status_reason and scheduled_at changed with PATCH; read with rpc/scan_orders (a GET is
refused, PT405: reads are logged).';
comment on column public.radiology_scans.modality is 'DICOM modality: ECG, US (echo), CT, MR, XA, DX, NM.';
comment on column public.radiology_scans.indication_encrypted is
'Why the scan is asked for, encrypted (rpc/order_scan writes it, rpc/scan_orders reads it).';
comment on table public.dicom_studies is
'DICOM studies of a scan (one per StudyInstanceUID), made by the ingestion of uploaded files.
Read with rpc/scan_images.';
comment on table public.dicom_series is
'DICOM series of a study (one per SeriesInstanceUID). Read with rpc/scan_images.';
comment on table public.dicom_instances is
'DICOM instances (one per SOPInstanceUID, stored once), with the header''s facts and the
Storage path of the file (bucket dicom). Read with rpc/scan_images.';
comment on table public.dicom_uploads is
'Files put in the dicom bucket for a scan and what their ingestion decided: pending, ingested,
duplicate (the SOP instance was stored already), patient_mismatch (the PatientID is not the
patient''s MRN here: never attached), not_dicom, failed. The care team''s and the admin''s.';
comment on function public.order_scan(
    uuid, uuid, public.scan_modality, text, public.scan_priority, text, timestamptz
) is
'Order a scan (seed 003 POST /radiology/scans; a doctor of the patient''s care team, aal2) -> the
order with its clinical_indication in clear. Upload its DICOM files to Storage bucket dicom at
scans/<scan id>/<file name>. Errors: 22023 study_type_required; 42501 not_on_care_team; PT403
insufficient_aal.';
comment on function public.claim_dicom_uploads(integer, integer) is
'Ingestion worker (service role): leases pending uploads -> upload_id, storage_path, scan_id,
claim_token, attempts.';
comment on function public.record_dicom_header(uuid, uuid, jsonb) is
'Ingestion worker (service role): the header read from an upload -> {outcome: ingested,
duplicate, patient_mismatch, not_dicom or lost, reason, instance_id}.';
comment on function public.fail_dicom_upload(uuid, uuid, text, integer) is
'Ingestion worker (service role): an upload that could not be read; retried with backoff, then
failed -> pending, failed or lost.';
comment on function public.scan_orders(uuid, uuid) is
'The scan orders the caller may read (seed 003 GET /radiology/scans, /scans/:id), of one patient
or one scan, newest first, with the clinical indication in clear for the care team and the
patient; each patient''s read is logged.';
comment on function public.scan_images(uuid) is
'One scan''s images (seed 003 GET /scans/:id/dicom; the sidecar adds signed URLs): studies ->
series -> instances with their Storage paths, and the uploads with their outcome (care team and
admin). The read is logged. Errors: PT404 scan_not_found; PT403 insufficient_aal.';
comment on type public.radiology_scan_status is
'The radiology_scan machine''s states: ordered, scheduled, acquired, reported, cancelled.';
comment on type public.scan_modality is 'DICOM modality codes of a scan order: ECG, US, CT, MR, XA, DX, NM.';
comment on type public.scan_priority is 'How soon a scan is wanted: routine, urgent, stat.';
comment on type public.dicom_upload_status is
'What the ingestion decided on an uploaded file: pending, ingested, duplicate, patient_mismatch,
not_dicom, failed.';
comment on column public.radiology_scans.status is
'ordered -> scheduled -> acquired -> reported, or cancelled (with status_reason) before
acquisition; machine radiology_scan (PT409 for a move it does not allow, 42501 for a role that may
not take it). The first ingested image moves it to acquired.';
comment on column public.dicom_uploads.status is
'pending (waiting for the worker), ingested, duplicate (the SOP instance is stored already),
patient_mismatch (the PatientID is not the MRN: never attached), not_dicom, failed (unreadable
after its attempts).';
