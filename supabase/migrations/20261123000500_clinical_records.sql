-- The clinical record (seed 003 medical records, seed 004 sections 2 and 3.4): medical
-- profile, encounters, SOAP notes with addenda, vital signs, ICD-10 diagnoses, lab results
-- and document metadata. Free text is encrypted in the column (private.encrypt_field).
--
-- Who sees what (RLS, every table the same way):
--   doctors and nurses of the patient's care team at the row's hospital: read and write;
--   another hospital's care team: read, through a record share while the patient's
--     record_sharing consent at the row's hospital stands;
--   the patient: reads their own rows, notes only once signed, lab results once final;
--   the hospital's admin: reads rows (encrypted text stays encrypted), archives and restores;
--   front desk, CRO, pharmacists, other doctors, other hospitals: nothing (the front desk
--     sees insurance and consent documents only).
-- Archived rows (deleted_at) disappear for everyone but the hospital's admins.
-- Notes are signed and then immutable; corrections are addenda.

create type public.clinical_note_status as enum ('draft', 'signed');
create type public.lab_result_status as enum ('normal', 'abnormal', 'critical');
create type public.document_type as enum (
    'insurance', 'consent', 'lab_report', 'previous_history', 'imaging', 'prescription', 'other'
);

-- Whether the caller treats this patient at this hospital, or reads the record through a
-- consented share. Security definer, like the access helpers.
create function private.can_read_clinical(patient uuid, hospital uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return private.on_care_team(can_read_clinical.patient, can_read_clinical.hospital)
        or private.shared_with_caller(can_read_clinical.patient, can_read_clinical.hospital);
end;
$$;

create table public.medical_profiles (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    hospital_id uuid not null,
    blood_group text constraint medical_profiles_blood_group_known check (
        blood_group in ('A+', 'A-', 'B+', 'B-', 'AB+', 'AB-', 'O+', 'O-')
    ),
    -- Encrypted {allergies: [...], chronic_conditions: [...], current_medications: [...]}.
    -- The emergency contact is the patient's (public.patients.emergency_contact_*).
    details_encrypted bytea,
    updated_by uuid references public.profiles (id) on delete set null default auth.uid(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    deleted_at timestamptz,
    constraint medical_profiles_one_per_registration unique (patient_id, hospital_id),
    constraint medical_profiles_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict
);

create index medical_profiles_hospital_idx on public.medical_profiles (hospital_id);
create index medical_profiles_updated_by_idx on public.medical_profiles (updated_by);

create table public.encounters (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    hospital_id uuid not null,
    appointment_id uuid constraint encounters_one_per_appointment unique references public.appointments (
        id
    ) on delete restrict,
    clinician_id uuid not null references public.profiles (id) on delete restrict default auth.uid(),
    chief_complaint text,
    started_at timestamptz not null default now(),
    ended_at timestamptz,
    created_at timestamptz not null default now(),
    deleted_at timestamptz,
    constraint encounters_end_after_start check (ended_at is null or ended_at >= started_at),
    constraint encounters_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict
);

create index encounters_registration_idx on public.encounters (patient_id, hospital_id, started_at);
create index encounters_hospital_idx on public.encounters (hospital_id);
create index encounters_clinician_idx on public.encounters (clinician_id);

create table public.clinical_notes (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    hospital_id uuid not null,
    encounter_id uuid references public.encounters (id) on delete restrict,
    appointment_id uuid references public.appointments (id) on delete restrict,
    author_id uuid not null references public.profiles (id) on delete restrict default auth.uid(),
    status public.clinical_note_status not null default 'draft',
    -- Encrypted {chief_complaint, subjective, objective, assessment, plan}.
    soap_encrypted bytea not null,
    signed_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    deleted_at timestamptz,
    constraint clinical_notes_signed_when_signed check ((status = 'signed') = (signed_at is not null)),
    constraint clinical_notes_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict
);

create index clinical_notes_registration_idx on public.clinical_notes (patient_id, hospital_id, created_at);
create index clinical_notes_hospital_idx on public.clinical_notes (hospital_id);
create index clinical_notes_encounter_idx on public.clinical_notes (encounter_id);
create index clinical_notes_appointment_idx on public.clinical_notes (appointment_id);
create index clinical_notes_author_idx on public.clinical_notes (author_id);

create table public.clinical_note_addenda (
    id uuid primary key default gen_random_uuid(),
    note_id uuid not null references public.clinical_notes (id) on delete restrict,
    patient_id uuid not null,
    hospital_id uuid not null,
    author_id uuid not null references public.profiles (id) on delete restrict default auth.uid(),
    body_encrypted bytea not null,
    created_at timestamptz not null default now(),
    deleted_at timestamptz,
    constraint clinical_note_addenda_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict
);

create index clinical_note_addenda_note_idx on public.clinical_note_addenda (note_id, created_at);
create index clinical_note_addenda_registration_idx on public.clinical_note_addenda (patient_id, hospital_id);
create index clinical_note_addenda_hospital_idx on public.clinical_note_addenda (hospital_id);
create index clinical_note_addenda_author_idx on public.clinical_note_addenda (author_id);

-- Vital signs with their units in the column names and plausible ranges (seed 003).
create table public.vital_signs (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    hospital_id uuid not null,
    encounter_id uuid references public.encounters (id) on delete restrict,
    recorded_by uuid not null references public.profiles (id) on delete restrict default auth.uid(),
    recorded_at timestamptz not null default now(),
    systolic_mmhg integer constraint vital_signs_systolic_plausible check (systolic_mmhg between 50 and 260),
    diastolic_mmhg integer constraint vital_signs_diastolic_plausible check (diastolic_mmhg between 20 and 160),
    heart_rate_bpm integer constraint vital_signs_heart_rate_plausible check (heart_rate_bpm between 20 and 250),
    temperature_c numeric(4, 1) constraint vital_signs_temperature_plausible check (temperature_c between 30 and 45),
    spo2_percent integer constraint vital_signs_spo2_plausible check (spo2_percent between 50 and 100),
    respiratory_rate_per_min integer
    constraint vital_signs_respiratory_rate_plausible check (respiratory_rate_per_min between 4 and 60),
    weight_kg numeric(5, 1) constraint vital_signs_weight_plausible check (weight_kg between 0.3 and 400),
    height_cm numeric(4, 1) constraint vital_signs_height_plausible check (height_cm between 20 and 260),
    deleted_at timestamptz,
    constraint vital_signs_blood_pressure_pair check ((systolic_mmhg is null) = (diastolic_mmhg is null)),
    constraint vital_signs_systolic_above_diastolic check (systolic_mmhg > diastolic_mmhg),
    constraint vital_signs_something_measured check (
        coalesce(systolic_mmhg, heart_rate_bpm, spo2_percent, respiratory_rate_per_min) is not null
        or coalesce(temperature_c, weight_kg, height_cm) is not null
    ),
    constraint vital_signs_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict
);

create index vital_signs_registration_idx on public.vital_signs (patient_id, hospital_id, recorded_at);
create index vital_signs_hospital_idx on public.vital_signs (hospital_id);
create index vital_signs_encounter_idx on public.vital_signs (encounter_id);
create index vital_signs_recorded_by_idx on public.vital_signs (recorded_by);

-- ICD-10 diagnoses, one primary per encounter.
create table public.diagnoses (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    hospital_id uuid not null,
    encounter_id uuid references public.encounters (id) on delete restrict,
    icd10_code text not null constraint diagnoses_icd10_format check (
        icd10_code ~ '^[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?$'
    ),
    description text not null constraint diagnoses_description_present check (length(btrim(description)) > 0),
    is_primary boolean not null default false,
    diagnosed_by uuid not null references public.profiles (id) on delete restrict default auth.uid(),
    diagnosed_at timestamptz not null default now(),
    resolved_at timestamptz,
    deleted_at timestamptz,
    constraint diagnoses_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict
);

create unique index diagnoses_one_primary_per_encounter
on public.diagnoses (encounter_id) where is_primary and deleted_at is null;
create index diagnoses_registration_idx on public.diagnoses (patient_id, hospital_id, diagnosed_at);
create index diagnoses_hospital_idx on public.diagnoses (hospital_id);
create index diagnoses_encounter_idx on public.diagnoses (encounter_id);
create index diagnoses_diagnosed_by_idx on public.diagnoses (diagnosed_by);
create index diagnoses_code_idx on public.diagnoses (icd10_code);

-- Documents: metadata here, the file in Storage (bucket patient-documents) at
-- patients/{patient_id}/{document id}/{file name}.
create table public.patient_documents (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    hospital_id uuid not null,
    name text not null constraint patient_documents_name_present check (length(btrim(name)) > 0),
    document_type public.document_type not null,
    storage_path text not null constraint patient_documents_storage_path_unique unique,
    mime_type text,
    size_bytes bigint constraint patient_documents_size_positive check (size_bytes > 0),
    uploaded_by uuid references public.profiles (id) on delete set null default auth.uid(),
    uploaded_at timestamptz not null default now(),
    deleted_at timestamptz,
    constraint patient_documents_path_of_patient check (
        storage_path like 'patients/' || patient_id::text || '/%' and storage_path !~ '(^|/)\.\.(/|$)'
    ),
    constraint patient_documents_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict
);

create index patient_documents_registration_idx on public.patient_documents (patient_id, hospital_id, uploaded_at);
create index patient_documents_hospital_idx on public.patient_documents (hospital_id, document_type);
create index patient_documents_uploaded_by_idx on public.patient_documents (uploaded_by);

create table public.lab_results (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    hospital_id uuid not null,
    encounter_id uuid references public.encounters (id) on delete restrict,
    -- The doctor who ordered it hears about a critical result.
    ordered_by uuid references public.profiles (id) on delete set null,
    recorded_by uuid not null references public.profiles (id) on delete restrict default auth.uid(),
    test_name text not null constraint lab_results_test_name_present check (length(btrim(test_name)) > 0),
    test_date date not null default current_date,
    result_value text not null,
    unit text,
    reference_range text,
    status public.lab_result_status not null,
    -- Encrypted free-text interpretation.
    notes_encrypted bytea,
    attachment_id uuid references public.patient_documents (id) on delete set null,
    -- Final results are visible to the patient and never change; corrections are new results.
    finalised_at timestamptz,
    created_at timestamptz not null default now(),
    deleted_at timestamptz,
    constraint lab_results_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict
);

create index lab_results_registration_idx on public.lab_results (patient_id, hospital_id, test_date);
create index lab_results_hospital_idx on public.lab_results (hospital_id, status);
create index lab_results_encounter_idx on public.lab_results (encounter_id);
create index lab_results_ordered_by_idx on public.lab_results (ordered_by);
create index lab_results_recorded_by_idx on public.lab_results (recorded_by);
create index lab_results_attachment_idx on public.lab_results (attachment_id);

insert into private.encrypted_columns (table_name, column_name)
values
('public.medical_profiles', 'details_encrypted'),
('public.clinical_notes', 'soap_encrypted'),
('public.clinical_note_addenda', 'body_encrypted'),
('public.lab_results', 'notes_encrypted');

create trigger medical_profiles_set_updated_at
before update on public.medical_profiles
for each row execute function private.set_updated_at();

create trigger clinical_notes_set_updated_at
before update on public.clinical_notes
for each row execute function private.set_updated_at();

-- Field rules on every clinical table (BEFORE UPDATE): archiving and restoring (deleted_at)
-- is the hospital admin's, and nothing else changes in the same update; everything else is
-- the care team's.
create function private.guard_clinical_update()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    old_row jsonb := to_jsonb(old) - 'deleted_at' - 'updated_at';
    new_row jsonb := to_jsonb(new) - 'deleted_at' - 'updated_at';
begin
    if private.acting_as_system() then
        return new;
    end if;
    if new.deleted_at is distinct from old.deleted_at then
        if not new.hospital_id = any(private.staff_hospital_ids('{hospital_admin}')) or old_row <> new_row then
            raise exception using
                errcode = '42501', message = 'only the hospital''s admin archives or restores clinical records',
                hint = 'archive or restore alone, without other changes';
        end if;
        return new;
    end if;
    if old.deleted_at is not null then
        raise exception using
            errcode = 'PT409', message = 'an archived clinical record cannot be changed', hint = 'restore it first';
    end if;
    if not private.on_care_team(new.patient_id, new.hospital_id) then
        perform private.raise_forbidden('only the patient''s care team changes clinical records');
    end if;
    return new;
end;
$$;

create trigger medical_profiles_guard before update on public.medical_profiles
for each row execute function private.guard_clinical_update();
create trigger encounters_guard before update on public.encounters
for each row execute function private.guard_clinical_update();
create trigger vital_signs_guard before update on public.vital_signs
for each row execute function private.guard_clinical_update();
create trigger diagnoses_guard before update on public.diagnoses
for each row execute function private.guard_clinical_update();
create trigger patient_documents_guard before update on public.patient_documents
for each row execute function private.guard_clinical_update();
create trigger lab_results_guard before update on public.lab_results
for each row execute function private.guard_clinical_update();
create trigger clinical_notes_guard before update on public.clinical_notes
for each row execute function private.guard_clinical_update();
create trigger clinical_note_addenda_guard before update on public.clinical_note_addenda
for each row execute function private.guard_clinical_update();

-- Notes: only the author edits a draft and signs it; a signed note never changes (but for
-- archiving and re-encryption under a new key, which leaves its content as it was). The
-- ciphertexts of a signed note are compared before decrypting them, so a note whose content
-- cannot be decrypted can still be archived; the appointment is checked by the composite key
-- (after row-level security), not here. Security definer: decrypts on re-encryption.
create function private.guard_clinical_note()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op = 'INSERT' then
        if new.status <> 'draft' then
            perform private.raise_invalid('a note is written as a draft, then signed');
        end if;
        return new;
    end if;
    if old.status = 'signed' then
        if (to_jsonb(new) - 'deleted_at' - 'updated_at' - 'soap_encrypted')
            = (to_jsonb(old) - 'deleted_at' - 'updated_at' - 'soap_encrypted') then
            if new.soap_encrypted = old.soap_encrypted then
                return new;
            end if;
            if private.decrypt_field(new.soap_encrypted) = private.decrypt_field(old.soap_encrypted) then
                return new;
            end if;
        end if;
        perform private.raise_conflict(
            'a signed note cannot be changed', hint => 'add an addendum (rpc/add_note_addendum)'
        );
    end if;
    if not private.acting_as_system() and old.author_id <> (select auth.uid())
        and new.deleted_at is not distinct from old.deleted_at then
        perform private.raise_forbidden('only the author edits or signs a draft note');
    end if;
    if new.status = 'signed' then
        new.signed_at := clock_timestamp();
    end if;
    return new;
end;
$$;

create trigger clinical_notes_guard_note
before insert or update on public.clinical_notes
for each row execute function private.guard_clinical_note();

-- Addenda go on signed notes only, for the note's patient and hospital. Security definer:
-- reads the note whatever the caller's RLS, and says nothing of it to a caller who may not
-- add to it.
create function private.guard_note_addendum()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    note public.clinical_notes;
begin
    select n.* into note from public.clinical_notes as n where n.id = new.note_id;
    if not private.acting_as_system()
        and (note.id is null or not private.on_care_team(note.patient_id, note.hospital_id)) then
        perform private.raise_forbidden(
            'new row violates row-level security policy for table "clinical_note_addenda"'
        );
    end if;
    if note.status is distinct from 'signed' then
        perform private.raise_conflict('addenda are for signed notes', hint => 'edit the draft instead');
    end if;
    new.patient_id := note.patient_id;
    new.hospital_id := note.hospital_id;
    return new;
end;
$$;

create trigger clinical_note_addenda_guard_insert
before insert on public.clinical_note_addenda
for each row execute function private.guard_note_addendum();

-- Lab results: final ones never change; a critical result tells the ordering doctor (or the
-- patient's primary doctor) through the outbox. Security definer: writes the outbox.
create function private.guard_lab_result()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if old.finalised_at is not null
        and (to_jsonb(new) - 'deleted_at') <> (to_jsonb(old) - 'deleted_at')
        and not private.acting_as_system() then
        perform private.raise_conflict(
            'a final lab result cannot be changed', hint => 'record a corrected result'
        );
    end if;
    return new;
end;
$$;

create trigger lab_results_guard_final
before update on public.lab_results
for each row execute function private.guard_lab_result();

-- A critical lab result always reaches someone who can act on it; first match wins:
--   1. the ordering doctor, while they hold an active doctor membership at the hospital;
--   2. else one doctor of the patient's care team there (the primary first), same condition;
--   3. else every nurse of the care team there with an active nurse membership (doctors and
--      nurses read lab results);
--   4. else every active admin of the hospital, who can read the result row and find a doctor.
-- The message is kind lab_result_critical, ids only, no test or value. Security definer:
-- writes the private outbox and reads memberships and care teams whatever the writer of the
-- result may read.
create function private.notify_critical_lab_result()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    recipients uuid[];
    recipient uuid;
begin
    if new.status <> 'critical' or (tg_op = 'UPDATE' and old.status = 'critical') then
        return null;
    end if;

    if new.ordered_by is not null and private.holds_active_role(new.ordered_by, new.hospital_id, 'doctor') then
        recipients := array[new.ordered_by];
    end if;
    if recipients is null then
        select array[c.member_id] into recipients
        from public.care_team_members as c
        where c.patient_id = new.patient_id and c.hospital_id = new.hospital_id
            and c.member_role = 'doctor' and c.ended_at is null
            and private.holds_active_role(c.member_id, c.hospital_id, 'doctor')
        order by c.is_primary desc, c.assigned_at
        limit 1;
    end if;
    if recipients is null then
        select array_agg(distinct c.member_id) into recipients
        from public.care_team_members as c
        where c.patient_id = new.patient_id and c.hospital_id = new.hospital_id
            and c.member_role = 'nurse' and c.ended_at is null
            and private.holds_active_role(c.member_id, c.hospital_id, 'nurse');
    end if;
    if recipients is null then
        select array_agg(distinct m.user_id) into recipients
        from public.staff_memberships as m
        where m.hospital_id = new.hospital_id and m.role = 'hospital_admin' and m.is_active;
    end if;

    foreach recipient in array coalesce(recipients, '{}') loop
        perform private.enqueue(
            'lab_result_critical', 'lab_result', new.id, new.hospital_id, 'user', recipient, 'push',
            jsonb_build_object('lab_result_id', new.id, 'patient_id', new.patient_id)
        );
    end loop;
    return null;
end;
$$;

create trigger lab_results_notify_critical
after insert or update of status on public.lab_results
for each row execute function private.notify_critical_lab_result();

-- Row-level security -------------------------------------------------------------------------
alter table public.medical_profiles enable row level security;
alter table public.encounters enable row level security;
alter table public.clinical_notes enable row level security;
alter table public.clinical_note_addenda enable row level security;
alter table public.vital_signs enable row level security;
alter table public.diagnoses enable row level security;
alter table public.patient_documents enable row level security;
alter table public.lab_results enable row level security;

revoke all on public.medical_profiles, public.encounters, public.clinical_notes, public.clinical_note_addenda,
public.vital_signs, public.diagnoses, public.patient_documents, public.lab_results from anon, authenticated;
grant all on public.medical_profiles, public.encounters, public.clinical_notes, public.clinical_note_addenda,
public.vital_signs, public.diagnoses, public.patient_documents, public.lab_results to service_role;

grant select, insert on public.medical_profiles to authenticated;
grant update (blood_group, details_encrypted, deleted_at) on public.medical_profiles to authenticated;
grant select, insert on public.encounters to authenticated;
grant update (chief_complaint, ended_at, deleted_at) on public.encounters to authenticated;
grant select on public.clinical_notes to authenticated;
grant insert (id, patient_id, hospital_id, encounter_id, appointment_id, soap_encrypted)
on public.clinical_notes to authenticated;
grant update (soap_encrypted, status, deleted_at) on public.clinical_notes to authenticated;
grant select on public.clinical_note_addenda to authenticated;
grant insert (id, note_id, patient_id, hospital_id, body_encrypted) on public.clinical_note_addenda to authenticated;
grant update (deleted_at) on public.clinical_note_addenda to authenticated;
grant select, insert on public.vital_signs to authenticated;
grant update (deleted_at) on public.vital_signs to authenticated;
grant select, insert on public.diagnoses to authenticated;
grant update (is_primary, resolved_at, deleted_at) on public.diagnoses to authenticated;
grant select, insert on public.patient_documents to authenticated;
grant update (name, document_type, deleted_at) on public.patient_documents to authenticated;
grant select, insert on public.lab_results to authenticated;
grant update (result_value, unit, reference_range, status, notes_encrypted, finalised_at, deleted_at)
on public.lab_results to authenticated;

-- The same four read policies and two write policies on every table. Patients see notes once
-- signed and lab results once final; the rest of their record as it is written.
do $$
declare
    t text;
    patient_condition text;
begin
    foreach t in array array[
        'medical_profiles', 'encounters', 'clinical_notes', 'clinical_note_addenda', 'vital_signs', 'diagnoses',
        'patient_documents', 'lab_results'
    ] loop
        patient_condition := case t
            when 'clinical_notes' then ' and status = ''signed'''
            when 'lab_results' then ' and finalised_at is not null'
            else ''
        end;
        execute format(
            'create policy %1$s_select_clinical on public.%1$I for select to authenticated
             using (deleted_at is null and private.can_read_clinical(patient_id, hospital_id))',
            t
        );
        execute format(
            'create policy %1$s_select_patient on public.%1$I for select to authenticated
             using (deleted_at is null and patient_id = (select private.own_patient_id())%2$s)',
            t, patient_condition
        );
        execute format(
            'create policy %1$s_select_admin on public.%1$I for select to authenticated
             using (hospital_id = any((select private.staff_hospital_ids(''{hospital_admin}''))::uuid []))',
            t
        );
        execute format(
            'create policy %1$s_insert_care_team on public.%1$I for insert to authenticated
             with check (deleted_at is null and private.on_care_team(patient_id, hospital_id))',
            t
        );
        execute format(
            'create policy %1$s_update on public.%1$I for update to authenticated
             using (
                 private.on_care_team(patient_id, hospital_id)
                 or hospital_id = any((select private.staff_hospital_ids(''{hospital_admin}''))::uuid [])
             )
             with check (true)',
            t
        );
    end loop;
end;
$$;

-- Front desk handles insurance and consent paperwork (not clinical content).
create policy patient_documents_select_front_desk on public.patient_documents
for select to authenticated
using (
    deleted_at is null
    and document_type in ('insurance', 'consent')
    and hospital_id = any((select private.staff_hospital_ids('{front_desk}'))::uuid[])
);

create policy patient_documents_insert_front_desk on public.patient_documents
for insert to authenticated
with check (
    deleted_at is null
    and document_type in ('insurance', 'consent')
    and hospital_id = any((select private.staff_hospital_ids('{front_desk}'))::uuid[])
);

-- Storage: the bucket and object policies mirror the documents' RLS. An object can be read
-- only at the path of a document row the caller can see, and uploaded only by those who may
-- write the row (its care team; the front desk for insurance and consent paperwork), not by
-- everyone who reads it (metadata first, then the upload); objects are never changed or
-- removed through the API (archive the row).
insert into storage.buckets (id, name, public, file_size_limit)
values ('patient-documents', 'patient-documents', false, 52428800)
on conflict (id) do nothing;

create policy patient_documents_objects_select on storage.objects
for select to authenticated
using (
    bucket_id = 'patient-documents'
    and exists (
        select from public.patient_documents as d
        where d.storage_path = objects.name
    )
);

create policy patient_documents_objects_insert on storage.objects
for insert to authenticated
with check (
    bucket_id = 'patient-documents'
    and (storage.foldername(name))[1] = 'patients'
    and exists (
        select from public.patient_documents as d
        where
            d.storage_path = objects.name
            and d.patient_id::text = (storage.foldername(objects.name))[2]
            and (
                private.on_care_team(d.patient_id, d.hospital_id)
                or (
                    d.document_type in ('insurance', 'consent')
                    and d.hospital_id = any((select private.staff_hospital_ids('{front_desk}'))::uuid[])
                )
            )
    )
);

grant execute on function private.can_read_clinical(uuid, uuid) to authenticated, service_role;
