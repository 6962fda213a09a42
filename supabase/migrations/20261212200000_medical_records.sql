-- Seed 003's medical records and medical profile (issue 20, item 4) on the existing clinical
-- record (20261123000500): a medical record is an encounter with its vital signs, SOAP note,
-- ICD-10 diagnoses and attached files.
--
-- 1. The combined create (seed 003 POST /medical-records): rpc/create_medical_record writes
--    the encounter, its vital signs, its SOAP note (encrypted, draft or signed) and its
--    diagnoses (checked against the code table) in one transaction, as the caller (security
--    invoker: the tables' policies and triggers decide), after an explicit reach check; bad
--    input answers a stable machine code and writes nothing.
-- 2. Edits once signed are addenda: an addendum says why it was written (reason), is final as
--    it is written (its author and time are its signature; nothing updates it but archiving),
--    and is read with its note. As an EHR amends a signed chart (appended, the original stays
--    readable, who/when/why recorded):
--    - a signed record is frozen for every role (service role and SQL too; PT409
--      record_signed): its encounter (complaint, times; an end not yet set may be set once),
--      vital signs and diagnoses. What still changes, because it is not the record's content:
--      archiving and restoring (deleted_at), a diagnosis being resolved (resolved_at: the
--      problem list), the code version stamped once on a diagnosis recorded before codes were
--      checked (`carebase codes load`), and a patient merge re-pointing rows;
--    - rpc/amend_medical_record writes an amendment: an addendum with its reason, which may
--      carry added diagnoses and vital signs (rows with addendum_id = the addendum) and mark
--      rows of the record entered in error (entered_in_error_by = the addendum; FHIR's
--      entered-in-error). Nothing is overwritten: an erroneous row stays, readable, and stops
--      counting (the one primary diagnosis, the list's primary, the profile's active diagnoses
--      and last vital signs). The rule the triggers hold to: a row joins or leaves a signed
--      record only with an addendum of that record the same user wrote in the same
--      transaction;
--    - rpc/create_medical_record signs last, after writing the diagnoses.
-- 3. Attachments (seed 003 POST /medical-records/:id/attachments): patient_documents rows
--    linked to the encounter, files in the existing private bucket patient-documents at
--    patients/<patient>/records/<encounter>/<document>/<file>, under the documents' Storage
--    policies (read: whoever reads the row; upload: the care team, metadata first), plus the
--    record's limits (types and size) checked on the row and again on the uploaded object.
-- 4. Reads: rpc/medical_record (one record in clear), rpc/medical_records (a patient's list)
--    and rpc/medical_profile (seed 003 GET /patients/:id/medical-profile), each logged;
--    rpc/set_medical_profile (PUT) writes the profile encrypted.

-- Records have a type (seed 003 recordType) -----------------------------------------------------
alter table public.encounters
add column record_type text not null default 'consultation'
constraint encounters_record_type_known check (
    record_type in ('consultation', 'follow_up', 'emergency', 'procedure', 'telemedicine', 'other')
);
grant insert (record_type) on public.encounters to authenticated;

-- Addenda say why --------------------------------------------------------------------------------
alter table public.clinical_note_addenda
add column reason text not null default 'addition'
constraint clinical_note_addenda_reason_known check (
    reason in ('correction', 'clarification', 'late_entry', 'addition')
);
grant insert (reason) on public.clinical_note_addenda to authenticated;

-- Attachments --------------------------------------------------------------------------------------
alter table public.patient_documents add column encounter_id uuid;
alter table public.patient_documents add constraint patient_documents_encounter_same_patient_fkey
foreign key (encounter_id, patient_id, hospital_id)
references public.encounters (id, patient_id, hospital_id) on delete restrict;
create index patient_documents_encounter_idx on public.patient_documents (encounter_id, patient_id, hospital_id);
grant insert (encounter_id) on public.patient_documents to authenticated;

-- What a record's attachment may be: the care team's, of these types, at most 25 MiB, at the
-- record's path.
create function private.attachment_types()
returns text[]
language sql
immutable
set search_path = ''
as $$
    select array['application/pdf', 'image/jpeg', 'image/png', 'image/webp', 'text/plain'];
$$;

create function private.check_record_attachment()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if not private.acting_as_system() and not private.on_care_team(new.patient_id, new.hospital_id) then
        perform private.raise_forbidden(
            'only the patient''s care team attaches files to a medical record', 'not_on_care_team'
        );
    end if;
    if new.mime_type is null or not new.mime_type = any(private.attachment_types()) then
        perform private.raise_invalid(
            format('%s files are not attached to medical records', coalesce(new.mime_type, 'untyped')),
            'attachment_type_not_allowed', array_to_string(private.attachment_types(), ', ')
        );
    end if;
    if new.size_bytes is null or new.size_bytes > 26214400 then
        perform private.raise_invalid(
            'an attachment states its size, at most 25 MiB', 'attachment_too_large'
        );
    end if;
    if new.storage_path not like 'patients/' || new.patient_id::text || '/records/' || new.encounter_id::text || '/%' then
        perform private.raise_invalid(
            'a record''s attachment lives under its record', 'attachment_path_outside_record',
            'patients/<patient id>/records/<record id>/<document id>/<file name>'
        );
    end if;
    return new;
end;
$$;

create trigger patient_documents_check_record_attachment
before insert or update of encounter_id on public.patient_documents
for each row when (new.encounter_id is not null)
execute function private.check_record_attachment();

-- The uploaded object of a record's attachment is what its row says: the same type, no larger.
-- Storage fills the object's metadata (mimetype, size or the declared contentLength) before
-- the row is written, so the insert policy sees it.
create policy patient_documents_objects_record_limits on storage.objects
as restrictive for insert to authenticated
with check (
    bucket_id <> 'patient-documents'
    or (storage.foldername(name))[3] is distinct from 'records'
    or exists (
        select from public.patient_documents as d
        where
            d.storage_path = objects.name
            and d.encounter_id is not null
            and d.mime_type = objects.metadata ->> 'mimetype'
            and coalesce((objects.metadata ->> 'size')::bigint, (objects.metadata ->> 'contentLength')::bigint, 0)
            <= d.size_bytes
    )
);

-- RPC (seed 003 POST /medical-records/:id/attachments): the attachment's row, before the file.
-- Security invoker: the record must be visible to the caller, the documents' insert policy and
-- the attachment trigger decide the rest.
create function public.attach_medical_record_file(
    encounter_id uuid,
    name text,
    mime_type text,
    size_bytes bigint,
    document_type public.document_type default 'other'
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    enc public.encounters;
    document uuid := gen_random_uuid();
    path text;
begin
    select e.* into enc from public.encounters as e where e.id = attach_medical_record_file.encounter_id;
    if enc.id is null then
        perform private.raise_not_found('no such medical record', 'medical_record_not_found');
    end if;
    if length(btrim(coalesce(name, ''))) = 0 then
        perform private.raise_invalid('an attachment needs a file name', 'attachment_name_required');
    end if;
    path := format(
        'patients/%s/records/%s/%s/%s', enc.patient_id, enc.id, document,
        left(regexp_replace(btrim(name), '[^A-Za-z0-9._-]+', '_', 'g'), 120)
    );
    insert into public.patient_documents (
        id, patient_id, hospital_id, encounter_id, name, document_type, storage_path, mime_type, size_bytes
    )
    values (
        document, enc.patient_id, enc.hospital_id, enc.id, btrim(name),
        attach_medical_record_file.document_type, path, attach_medical_record_file.mime_type,
        attach_medical_record_file.size_bytes
    );
    return jsonb_build_object('id', document, 'bucket', 'patient-documents', 'storage_path', path);
end;
$$;

-- Addenda ---------------------------------------------------------------------------------------------
-- RPC: a correction or addition to a signed note, with its reason (correction, clarification,
-- late_entry, addition); final as written. Returns the addendum's id.
drop function public.add_note_addendum(uuid, text);
create function public.add_note_addendum(note_id uuid, body text, reason text default 'correction')
returns uuid
language plpgsql
volatile
set search_path = ''
as $$
declare
    new_id uuid := gen_random_uuid();
    note public.clinical_notes;
begin
    select n.* into note from public.clinical_notes as n where n.id = add_note_addendum.note_id;
    if note.id is null then
        perform private.raise_not_found('no such note');
    end if;
    if length(btrim(coalesce(body, ''))) = 0 then
        perform private.raise_invalid('an addendum needs a text');
    end if;
    if reason is null or reason not in ('correction', 'clarification', 'late_entry', 'addition') then
        perform private.raise_invalid(
            'an addendum''s reason is correction, clarification, late_entry or addition', 'invalid_addendum_reason'
        );
    end if;
    insert into public.clinical_note_addenda (id, note_id, patient_id, hospital_id, body_encrypted, reason)
    values (
        new_id, note.id, note.patient_id, note.hospital_id, private.encrypt_field(add_note_addendum.body),
        add_note_addendum.reason
    );
    return new_id;
end;
$$;

-- A note's addenda in clear, oldest first, each signed as written (its author and time). For
-- readers that checked access and logged the read. Security definer: decrypts.
create function private.note_addenda(note_id uuid)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(jsonb_agg(
        jsonb_build_object(
            'id', a.id, 'author_id', a.author_id, 'created_at', a.created_at, 'signed_at', a.created_at,
            'reason', a.reason, 'body', private.decrypt_field(a.body_encrypted)
        ) order by a.created_at, a.id
    ), '[]')
    from public.clinical_note_addenda as a
    where a.note_id = note_addenda.note_id and a.deleted_at is null;
$$;

-- A note in clear with its addenda (now with their reason), as in 20261123000600.
create or replace function private.read_clinical_note(note_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    note public.clinical_notes;
begin
    select n.* into note from public.clinical_notes as n where n.id = read_clinical_note.note_id and n.deleted_at is null;
    if note.id is null or not coalesce(
        private.can_read_clinical(note.patient_id, note.hospital_id)
        or (note.patient_id = private.own_patient_id() and note.status = 'signed'),
        false
    ) then
        raise exception using
            errcode = 'PT404', message = 'no such note',
            hint = 'notes are read by the patient''s care team, and by the patient once signed';
    end if;
    perform private.require_phi_aal2(note.patient_id);
    perform private.audit_append(
        'READ', 'public.clinical_notes', note.id::text, note.hospital_id, note.patient_id, '{soap_encrypted}'
    );
    return jsonb_build_object(
        'id', note.id, 'patient_id', note.patient_id, 'hospital_id', note.hospital_id,
        'appointment_id', note.appointment_id, 'encounter_id', note.encounter_id, 'author_id', note.author_id,
        'status', note.status, 'signed_at', note.signed_at, 'created_at', note.created_at,
        'soap', private.decrypt_field(note.soap_encrypted)::jsonb,
        'addenda', private.note_addenda(note.id)
    );
end;
$$;

-- The combined create -----------------------------------------------------------------------------
-- Vital signs from the record's JSON, validated: known keys, numbers, plausible ranges
-- (the table's checks), temperature in Celsius or Fahrenheit. Nothing written on a refusal.
create function private.insert_record_vitals(patient uuid, hospital uuid, encounter uuid, vitals jsonb)
returns uuid
language plpgsql
volatile
set search_path = ''
as $$
declare
    new_id uuid := gen_random_uuid();
    unknown text;
    problem text;
    temperature numeric;
begin
    if jsonb_typeof(vitals) is distinct from 'object' then
        perform private.raise_invalid('vital_signs must be an object', 'invalid_vital_signs');
    end if;
    select string_agg(k, ', ' order by k) into unknown
    from jsonb_each(vitals) as v (k, value)
    where
        k not in (
            'systolic_mmhg', 'diastolic_mmhg', 'heart_rate_bpm', 'temperature_c', 'temperature_f', 'spo2_percent',
            'respiratory_rate_per_min', 'weight_kg', 'height_cm'
        )
        or jsonb_typeof(value) not in ('number', 'null');
    if unknown is not null then
        perform private.raise_invalid(
            format('vital signs are numbers of known kinds: %s is not', unknown), 'invalid_vital_signs'
        );
    end if;
    temperature := coalesce(
        (vitals ->> 'temperature_c')::numeric, round(((vitals ->> 'temperature_f')::numeric - 32) * 5 / 9, 1)
    );
    begin
        insert into public.vital_signs (
            id, patient_id, hospital_id, encounter_id, systolic_mmhg, diastolic_mmhg, heart_rate_bpm,
            temperature_c, spo2_percent, respiratory_rate_per_min, weight_kg, height_cm
        )
        values (
            new_id, patient, hospital, encounter, (vitals ->> 'systolic_mmhg')::integer,
            (vitals ->> 'diastolic_mmhg')::integer, (vitals ->> 'heart_rate_bpm')::integer, temperature,
            (vitals ->> 'spo2_percent')::integer, (vitals ->> 'respiratory_rate_per_min')::integer,
            (vitals ->> 'weight_kg')::numeric, (vitals ->> 'height_cm')::numeric
        );
    exception
        when check_violation or invalid_text_representation or numeric_value_out_of_range then
            get stacked diagnostics problem = constraint_name;
            perform private.raise_invalid(
                'implausible vital signs', 'invalid_vital_signs',
                coalesce(problem, 'whole numbers for pressures, rates and saturation')
            );
    end;
    return new_id;
end;
$$;

alter table public.vital_signs
add column addendum_id uuid references public.clinical_note_addenda (id) on delete restrict,
add column entered_in_error_by uuid references public.clinical_note_addenda (id) on delete restrict;
alter table public.diagnoses
add column addendum_id uuid references public.clinical_note_addenda (id) on delete restrict,
add column entered_in_error_by uuid references public.clinical_note_addenda (id) on delete restrict;
create index vital_signs_addendum_idx on public.vital_signs (addendum_id);
create index vital_signs_entered_in_error_by_idx on public.vital_signs (entered_in_error_by);
create index diagnoses_addendum_idx on public.diagnoses (addendum_id);
create index diagnoses_entered_in_error_by_idx on public.diagnoses (entered_in_error_by);

-- One primary diagnosis per encounter among those not entered in error (a correction retracts
-- the wrong primary and adds the right one).
drop index public.diagnoses_one_primary_per_encounter;
create unique index diagnoses_one_primary_per_encounter
on public.diagnoses (encounter_id) where is_primary and deleted_at is null and entered_in_error_by is null;

-- Whether an encounter's note is signed (and not archived). Security definer: looks whatever
-- the caller's RLS, without logging a read.
create function private.record_signed(encounter uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (
        select from public.clinical_notes as n
        where n.encounter_id = record_signed.encounter and n.status = 'signed' and n.deleted_at is null
    );
$$;

-- The addendum of an encounter's signed note written in this transaction by the caller (by
-- anyone, for the system), the latest first; null when there is none. Security definer, as
-- private.record_signed.
create function private.amending_addendum(encounter uuid)
returns uuid
language sql
stable
security definer
set search_path = ''
as $$
    select a.id
    from public.clinical_note_addenda as a
    join public.clinical_notes as n on n.id = a.note_id
    where
        n.encounter_id = amending_addendum.encounter and n.status = 'signed' and n.deleted_at is null
        and a.deleted_at is null and a.created_at = now()
        and (private.acting_as_system() or a.author_id = (select auth.uid()))
    order by a.created_at desc, a.id desc
    limit 1;
$$;

-- The guard on vital_signs and diagnoses (BEFORE INSERT OR UPDATE). Security definer, as
-- private.record_signed.
create function private.guard_signed_record_row()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    old_row jsonb;
    new_row jsonb;
    amending uuid;
    free_keys text[] := array['deleted_at', 'resolved_at', 'code_version', 'entered_in_error_by'];
begin
    if tg_op = 'INSERT' then
        if new.entered_in_error_by is not null
            or (new.addendum_id is not null and not private.record_signed(new.encounter_id)) then
            perform private.raise_invalid(
                'addendum_id and entered_in_error_by are set by an amendment', 'set_by_amendment',
                'amend a signed record with rpc/amend_medical_record'
            );
        end if;
        if not private.record_signed(new.encounter_id) then
            return new;
        end if;
        amending := private.amending_addendum(new.encounter_id);
        if amending is null then
            perform private.raise_conflict(
                'a signed medical record cannot be changed', 'record_signed',
                'amend it: rpc/amend_medical_record (an addendum with its reason, corrections included)'
            );
        end if;
        if new.addendum_id is not null and new.addendum_id <> amending then
            perform private.raise_invalid(
                'addendum_id and entered_in_error_by are set by an amendment', 'set_by_amendment',
                'amend a signed record with rpc/amend_medical_record'
            );
        end if;
        new.addendum_id := amending;
        return new;
    end if;
    -- A row moved into a signed record counts as changing it too (encounter_id is in the diff).
    if private.merge_running()
        or not (private.record_signed(old.encounter_id) or private.record_signed(new.encounter_id)) then
        return new;
    end if;
    old_row := to_jsonb(old);
    new_row := to_jsonb(new);
    if (new_row - free_keys) is distinct from (old_row - free_keys)
        or (old_row ->> 'code_version' is not null and new_row -> 'code_version' is distinct from old_row -> 'code_version')
        or (
            new.entered_in_error_by is distinct from old.entered_in_error_by
            and (old.entered_in_error_by is not null or new.entered_in_error_by is distinct from private.amending_addendum(old.encounter_id))
        ) then
        perform private.raise_conflict(
            'a signed medical record cannot be changed', 'record_signed',
            'amend it: rpc/amend_medical_record (an addendum with its reason, corrections included)'
        );
    end if;
    return new;
end;
$$;

create trigger vital_signs_guard_signed_record
before insert or update on public.vital_signs
for each row execute function private.guard_signed_record_row();
create trigger diagnoses_guard_signed_record
before insert or update on public.diagnoses
for each row execute function private.guard_signed_record_row();

-- The encounter of a signed record is part of it: its complaint and times stay as signed; a
-- visit signed before it was closed may still be given its end, once. Archiving (deleted_at)
-- and a patient merge's re-pointing stay open. Security definer, as private.record_signed.
create function private.guard_signed_encounter()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if private.merge_running() or not private.record_signed(old.id) then
        return new;
    end if;
    if (to_jsonb(new) - array['deleted_at', 'ended_at']) is distinct from (to_jsonb(old) - array['deleted_at', 'ended_at'])
        or (old.ended_at is not null and new.ended_at is distinct from old.ended_at) then
        perform private.raise_conflict(
            'a signed medical record cannot be changed', 'record_signed',
            'amend it: rpc/amend_medical_record (an addendum with its reason, corrections included)'
        );
    end if;
    return new;
end;
$$;

create trigger encounters_guard_signed
before update on public.encounters
for each row execute function private.guard_signed_encounter();

-- Diagnoses from a record's JSON ([{icd10_code, description, is_primary, code_system,
-- code_version}]): checked, then written as the caller (the table's policies and triggers: the
-- code table, the signed-record guard). Their ids, in order.
create function private.check_record_diagnoses(diagnoses jsonb)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
    if diagnoses is not null and (
        jsonb_typeof(diagnoses) <> 'array'
        or exists (
            select from jsonb_array_elements(diagnoses) as d
            where jsonb_typeof(d) <> 'object' or jsonb_typeof(d -> 'icd10_code') is distinct from 'string'
        )
    ) then
        perform private.raise_invalid(
            'diagnoses is an array of {icd10_code, description, is_primary}', 'invalid_diagnoses'
        );
    end if;
    if (
        select count(*) from jsonb_array_elements(coalesce(diagnoses, '[]')) as d
        where d ->> 'is_primary' = 'true'
    ) > 1 then
        perform private.raise_invalid('one primary diagnosis per record', 'several_primary_diagnoses');
    end if;
end;
$$;

create function private.insert_record_diagnoses(patient uuid, hospital uuid, encounter uuid, diagnoses jsonb)
returns uuid[]
language plpgsql
volatile
set search_path = ''
as $$
declare
    diagnosis jsonb;
    ids uuid [] := '{}';
    new_id uuid;
begin
    perform private.check_record_diagnoses(diagnoses);
    for diagnosis in select d from jsonb_array_elements(coalesce(diagnoses, '[]')) as d loop
        new_id := gen_random_uuid();
        begin
            insert into public.diagnoses (
                id, patient_id, hospital_id, encounter_id, icd10_code, description, is_primary, code_system,
                code_version
            )
            values (
                new_id, patient, hospital, encounter, diagnosis ->> 'icd10_code', coalesce(diagnosis ->> 'description', ''),
                coalesce((diagnosis ->> 'is_primary')::boolean, false), coalesce(diagnosis ->> 'code_system', 'ICD-10-CM'),
                diagnosis ->> 'code_version'
            );
        exception
            when unique_violation then
                perform private.raise_invalid(
                    'one primary diagnosis per record', 'several_primary_diagnoses',
                    'mark the current primary diagnosis entered in error first'
                );
        end;
        ids := ids || new_id;
    end loop;
    return ids;
end;
$$;

-- RPC (seed 003 POST /medical-records): one record in one transaction.
--   content: {record_type, chief_complaint, vital_signs: {systolic_mmhg, diastolic_mmhg,
--   heart_rate_bpm, temperature_c | temperature_f, spo2_percent, respiratory_rate_per_min,
--   weight_kg, height_cm}, subjective, objective, assessment, plan,
--   diagnoses: [{icd10_code, description, is_primary, code_system, code_version}]}
--   sign: sign the note at once (it is a draft otherwise).
-- Security invoker: every row is written under the tables' policies and triggers (care team,
-- code table, encryption, audit); the reach check comes first so that another patient's record
-- answers one code whatever the input.
create function public.create_medical_record(
    patient_id uuid,
    hospital_id uuid,
    content jsonb,
    appointment_id uuid default null,
    sign boolean default false
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    encounter uuid := gen_random_uuid();
    note uuid;
    vitals uuid;
    soap jsonb;
    diagnosis_ids uuid [];
    unknown text;
    problem text;
begin
    if not coalesce(private.on_care_team(create_medical_record.patient_id, create_medical_record.hospital_id), false) then
        perform private.raise_forbidden(
            'only the patient''s care team writes medical records', 'not_on_care_team'
        );
    end if;
    perform private.require_phi_aal2(create_medical_record.patient_id);
    if jsonb_typeof(content) is distinct from 'object' then
        perform private.raise_invalid('content must be a JSON object', 'invalid_medical_record');
    end if;
    select string_agg(k, ', ' order by k) into unknown
    from jsonb_object_keys(content) as k
    where k not in (
        'record_type', 'chief_complaint', 'vital_signs', 'subjective', 'objective', 'assessment', 'plan', 'diagnoses'
    );
    if unknown is not null then
        perform private.raise_invalid(format('unknown fields: %s', unknown), 'invalid_medical_record');
    end if;
    perform private.check_record_diagnoses(content -> 'diagnoses');

    begin
        insert into public.encounters (id, patient_id, hospital_id, appointment_id, chief_complaint, record_type)
        values (
            encounter, create_medical_record.patient_id, create_medical_record.hospital_id,
            create_medical_record.appointment_id, nullif(btrim(content ->> 'chief_complaint'), ''),
            coalesce(content ->> 'record_type', 'consultation')
        );
    exception
        when foreign_key_violation then
            perform private.raise_invalid(
                'the appointment is not this patient''s at this hospital', 'appointment_not_of_patient'
            );
        when unique_violation then
            perform private.raise_conflict('the appointment has its medical record already', 'appointment_has_record');
        when check_violation then
            get stacked diagnostics problem = constraint_name;
            perform private.raise_invalid(
                'record_type is consultation, follow_up, emergency, procedure, telemedicine or other',
                'invalid_medical_record', problem
            );
    end;

    if content ? 'vital_signs' and jsonb_typeof(content -> 'vital_signs') <> 'null' then
        vitals := private.insert_record_vitals(
            create_medical_record.patient_id, create_medical_record.hospital_id, encounter, content -> 'vital_signs'
        );
    end if;

    soap := jsonb_strip_nulls(jsonb_build_object(
        'chief_complaint', content -> 'chief_complaint', 'subjective', content -> 'subjective',
        'objective', content -> 'objective', 'assessment', content -> 'assessment', 'plan', content -> 'plan'
    ));
    if soap ?| array['subjective', 'objective', 'assessment', 'plan'] then
        note := public.write_clinical_note(
            create_medical_record.patient_id, create_medical_record.hospital_id, soap,
            create_medical_record.appointment_id, encounter
        );
    elsif sign then
        perform private.raise_invalid('a record is signed with its note: give its SOAP text', 'nothing_to_sign');
    end if;

    diagnosis_ids := private.insert_record_diagnoses(
        create_medical_record.patient_id, create_medical_record.hospital_id, encounter, content -> 'diagnoses'
    );
    if sign then
        perform public.sign_clinical_note(note);
    end if;

    return jsonb_build_object(
        'id', encounter, 'note_id', note, 'vital_signs_id', vitals, 'diagnosis_ids', to_jsonb(diagnosis_ids),
        'status', case when note is null then null when sign then 'signed' else 'draft' end
    );
end;
$$;

-- Marks rows of a signed record entered in error by the amendment the caller just wrote (the
-- guard checks that). Security definer: nobody updates entered_in_error_by directly.
create function private.mark_entered_in_error(encounter uuid, addendum uuid, row_ids uuid[])
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    marked integer;
    also_marked integer;
begin
    update public.diagnoses as d set entered_in_error_by = mark_entered_in_error.addendum
    where d.id = any(row_ids) and d.encounter_id = mark_entered_in_error.encounter and d.entered_in_error_by is null
        and d.deleted_at is null;
    get diagnostics marked = row_count;
    update public.vital_signs as v set entered_in_error_by = mark_entered_in_error.addendum
    where v.id = any(row_ids) and v.encounter_id = mark_entered_in_error.encounter and v.entered_in_error_by is null
        and v.deleted_at is null;
    get diagnostics also_marked = row_count;
    if marked + also_marked <> cardinality(array(select distinct r from unnest(row_ids) as r)) then
        perform private.raise_invalid(
            'entered_in_error_ids names diagnoses and vital signs of this record, not entered in error yet',
            'not_in_record'
        );
    end if;
end;
$$;

-- RPC (seed 003 PUT /medical-records/:id once signed): an amendment.
create function public.amend_medical_record(
    encounter_id uuid,
    body text,
    reason text default 'correction',
    diagnoses jsonb default null,
    vital_signs jsonb default null,
    entered_in_error_ids uuid[] default null
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    enc public.encounters;
    note uuid;
    addendum uuid;
    vitals uuid;
    diagnosis_ids uuid [];
begin
    select e.* into enc from public.encounters as e
    where e.id = amend_medical_record.encounter_id and e.deleted_at is null;
    if enc.id is null then
        perform private.raise_not_found('no such medical record', 'medical_record_not_found');
    end if;
    perform private.require_phi_aal2(enc.patient_id);
    select n.id into note from public.clinical_notes as n
    where n.encounter_id = enc.id and n.status = 'signed' and n.deleted_at is null
    order by n.signed_at desc
    limit 1;
    if note is null then
        perform private.raise_conflict(
            'the record is not signed: edit it instead', 'record_not_signed',
            'rpc/update_clinical_note, and vital signs and diagnoses as rows'
        );
    end if;
    perform private.check_record_diagnoses(diagnoses);
    addendum := public.add_note_addendum(note, body, reason);
    if coalesce(cardinality(entered_in_error_ids), 0) > 0 then
        perform private.mark_entered_in_error(enc.id, addendum, entered_in_error_ids);
    end if;
    if vital_signs is not null and jsonb_typeof(vital_signs) <> 'null' then
        vitals := private.insert_record_vitals(enc.patient_id, enc.hospital_id, enc.id, vital_signs);
    end if;
    diagnosis_ids := private.insert_record_diagnoses(enc.patient_id, enc.hospital_id, enc.id, diagnoses);
    return jsonb_build_object(
        'id', enc.id, 'addendum_id', addendum, 'vital_signs_id', vitals, 'diagnosis_ids', to_jsonb(diagnosis_ids),
        'entered_in_error_ids', to_jsonb(coalesce(entered_in_error_ids, '{}'))
    );
end;
$$;

-- Reads -------------------------------------------------------------------------------------------------
-- One record in clear for those who may read it: the care team (or a consented share) all of
-- it, the patient their own with signed notes only; staff at aal2. One READ entry naming the
-- patient. Security definer: decrypts and appends to the audit trail; it checks access itself.
create function private.read_medical_record(encounter_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    enc public.encounters;
    clinical boolean;
begin
    select e.* into enc from public.encounters as e
    where e.id = read_medical_record.encounter_id and e.deleted_at is null;
    clinical := coalesce(private.can_read_clinical(enc.patient_id, enc.hospital_id), false);
    if enc.id is null or not (clinical or enc.patient_id is not distinct from private.own_patient_id()) then
        perform private.raise_not_found(
            'no such medical record', 'medical_record_not_found',
            'records are read by the patient''s care team and by the patient'
        );
    end if;
    perform private.require_phi_aal2(enc.patient_id);
    perform private.audit_append(
        'READ', 'public.encounters', enc.id::text, enc.hospital_id, enc.patient_id, '{}', null, null,
        jsonb_build_object('via', 'rpc/medical_record')
    );
    return jsonb_build_object(
        'id', enc.id, 'patient_id', enc.patient_id, 'hospital_id', enc.hospital_id,
        'appointment_id', enc.appointment_id, 'clinician_id', enc.clinician_id,
        'record_type', enc.record_type, 'chief_complaint', enc.chief_complaint,
        'started_at', enc.started_at, 'ended_at', enc.ended_at,
        'vital_signs', coalesce((
            select jsonb_agg(to_jsonb(v) - 'deleted_at' - 'patient_id' - 'hospital_id' order by v.recorded_at)
            from public.vital_signs as v
            where v.encounter_id = enc.id and v.deleted_at is null
        ), '[]'),
        'notes', coalesce((
            select jsonb_agg(
                jsonb_build_object(
                    'id', n.id, 'author_id', n.author_id, 'status', n.status, 'signed_at', n.signed_at,
                    'created_at', n.created_at, 'soap', private.decrypt_field(n.soap_encrypted)::jsonb,
                    'addenda', private.note_addenda(n.id)
                ) order by n.created_at
            )
            from public.clinical_notes as n
            where n.encounter_id = enc.id and n.deleted_at is null and (clinical or n.status = 'signed')
        ), '[]'),
        'diagnoses', coalesce((
            select jsonb_agg(
                jsonb_build_object(
                    'id', d.id, 'icd10_code', d.icd10_code, 'code_system', d.code_system,
                    'code_version', d.code_version, 'description', d.description, 'is_primary', d.is_primary,
                    'diagnosed_by', d.diagnosed_by, 'diagnosed_at', d.diagnosed_at, 'resolved_at', d.resolved_at,
                    'addendum_id', d.addendum_id, 'entered_in_error_by', d.entered_in_error_by
                ) order by d.is_primary desc, d.diagnosed_at
            )
            from public.diagnoses as d
            where d.encounter_id = enc.id and d.deleted_at is null
        ), '[]'),
        'attachments', coalesce((
            select jsonb_agg(
                jsonb_build_object(
                    'id', a.id, 'name', a.name, 'document_type', a.document_type, 'mime_type', a.mime_type,
                    'size_bytes', a.size_bytes, 'bucket', 'patient-documents', 'storage_path', a.storage_path,
                    'uploaded_by', a.uploaded_by, 'uploaded_at', a.uploaded_at
                ) order by a.uploaded_at
            )
            from public.patient_documents as a
            where a.encounter_id = enc.id and a.deleted_at is null
        ), '[]')
    );
end;
$$;

-- RPC (seed 003 GET /medical-records/:id).
create function public.medical_record(encounter_id uuid)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.read_medical_record(medical_record.encounter_id);
$$;

-- The records list's logger, as the timeline's (20261123000600): one READ entry naming the
-- patient, and the patient marked as logged for the tables the list reads, so that their per-row
-- policies do not log them again. Security definer: appends to the audit trail.
create function private.log_records_read(patient_id uuid)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    resource text;
    flag text;
begin
    perform private.audit_append(
        'READ', 'public.encounters', null, null, log_records_read.patient_id, '{}', null, null,
        jsonb_build_object('via', 'rpc/medical_records')
    );
    foreach resource in array array['encounters', 'clinical_notes', 'diagnoses', 'patient_documents'] loop
        flag := 'carebase.disclosed.' || resource;
        perform set_config(
            flag, coalesce(current_setting(flag, true), '') || log_records_read.patient_id::text || ' ', true
        );
    end loop;
end;
$$;

-- RPC (seed 003 GET /medical-records, GET /patients/:id/medical-records): a patient's records,
-- newest first, with what a list shows (no SOAP text), one JSON object each. Security invoker: each table's RLS
-- decides (the patient sees signed notes only); the read is logged once, naming the patient;
-- staff need aal2 first.
create function public.medical_records(patient_id uuid, hospital_id uuid default null)
returns setof jsonb
language plpgsql
volatile
set search_path = ''
as $$
begin
    perform private.require_phi_aal2(medical_records.patient_id);
    perform private.log_records_read(medical_records.patient_id);
    return query
    select jsonb_build_object(
        'id', e.id, 'patient_id', e.patient_id, 'hospital_id', e.hospital_id, 'appointment_id', e.appointment_id,
        'record_type', e.record_type, 'chief_complaint', e.chief_complaint, 'clinician_id', e.clinician_id,
        'started_at', e.started_at, 'ended_at', e.ended_at,
        'note_status', (
            select n.status from public.clinical_notes as n
            where n.encounter_id = e.id order by n.status desc, n.created_at desc limit 1
        ),
        'primary_diagnosis', (
            select d.icd10_code || ' ' || d.description from public.diagnoses as d
            where d.encounter_id = e.id and d.is_primary and d.entered_in_error_by is null limit 1
        ),
        'attachments', (select count(*) from public.patient_documents as a where a.encounter_id = e.id)
    )
    from public.encounters as e
    where
        e.patient_id = medical_records.patient_id
        and (medical_records.hospital_id is null or e.hospital_id = medical_records.hospital_id)
    order by e.started_at desc, e.id;
end;
$$;

-- Medical profile --------------------------------------------------------------------------------
-- The one hospital a profile request means: the named one, else the only one where the caller
-- may read the patient's record.
create function private.profile_hospital(patient uuid, hospital uuid)
returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    found uuid [];
begin
    select array_agg(r.hospital_id order by r.hospital_id) into found
    from public.patient_registrations as r
    where
        r.patient_id = patient
        and (hospital is null or r.hospital_id = hospital)
        and (r.patient_id = private.own_patient_id() or private.can_read_clinical(r.patient_id, r.hospital_id));
    if cardinality(found) > 1 then
        perform private.raise_invalid('the patient is registered at several hospitals: name one', 'hospital_required');
    end if;
    return found[1];
end;
$$;

-- The profile in clear (seed 003 GET /patients/:id/medical-profile): blood group, allergies,
-- chronic conditions, current medications, the active diagnoses, the last vital signs; the
-- care team's (or a consented share's) and the patient's own; staff at aal2. One READ entry
-- naming the patient. Security definer: decrypts and appends to the audit trail; it checks
-- access itself.
create function private.read_medical_profile(patient_id uuid, hospital_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    hospital uuid := private.profile_hospital(read_medical_profile.patient_id, read_medical_profile.hospital_id);
    profile public.medical_profiles;
    details jsonb;
begin
    if hospital is null then
        perform private.raise_not_found(
            'no such patient', 'patient_not_found',
            'a profile is read by the patient''s care team and by the patient'
        );
    end if;
    perform private.require_phi_aal2(read_medical_profile.patient_id);
    select p.* into profile from public.medical_profiles as p
    where p.patient_id = read_medical_profile.patient_id and p.hospital_id = hospital and p.deleted_at is null;
    perform private.audit_append(
        'READ', 'public.medical_profiles', profile.id::text, hospital, read_medical_profile.patient_id,
        '{details_encrypted}', null, null, jsonb_build_object('via', 'rpc/medical_profile')
    );
    details := coalesce(private.decrypt_field(profile.details_encrypted)::jsonb, '{}');
    return jsonb_build_object(
        'patient_id', read_medical_profile.patient_id, 'hospital_id', hospital,
        'blood_group', profile.blood_group,
        'allergies', coalesce(details -> 'allergies', '[]'),
        'chronic_conditions', coalesce(details -> 'chronic_conditions', '[]'),
        'current_medications', coalesce(details -> 'current_medications', '[]'),
        'updated_at', profile.updated_at, 'updated_by', profile.updated_by,
        'active_diagnoses', coalesce((
            select jsonb_agg(
                jsonb_build_object(
                    'id', d.id, 'icd10_code', d.icd10_code, 'description', d.description,
                    'is_primary', d.is_primary, 'diagnosed_at', d.diagnosed_at, 'encounter_id', d.encounter_id
                ) order by d.diagnosed_at desc
            )
            from public.diagnoses as d
            where
                d.patient_id = read_medical_profile.patient_id and d.hospital_id = hospital
                and d.resolved_at is null and d.deleted_at is null and d.entered_in_error_by is null
        ), '[]'),
        'last_vital_signs', (
            select to_jsonb(v) - 'deleted_at' - 'patient_id' - 'hospital_id'
            from public.vital_signs as v
            where
                v.patient_id = read_medical_profile.patient_id and v.hospital_id = hospital and v.deleted_at is null
                and v.entered_in_error_by is null
            order by v.recorded_at desc
            limit 1
        )
    );
end;
$$;

-- RPC (seed 003 GET /patients/:id/medical-profile).
create function public.medical_profile(patient_id uuid, hospital_id uuid default null)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.read_medical_profile(medical_profile.patient_id, medical_profile.hospital_id);
$$;

-- RPC (seed 003 PUT /patients/:id/medical-profile): the care team writes the profile (blood
-- group; allergies, chronic conditions and current medications as arrays, encrypted).
-- Security invoker: the profiles' policies and the clinical update guard decide.
create function public.set_medical_profile(
    patient_id uuid,
    hospital_id uuid,
    blood_group text default null,
    allergies jsonb default '[]',
    chronic_conditions jsonb default '[]',
    current_medications jsonb default '[]'
)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    details bytea;
begin
    if not coalesce(private.on_care_team(set_medical_profile.patient_id, set_medical_profile.hospital_id), false) then
        perform private.raise_forbidden('only the patient''s care team writes the medical profile', 'not_on_care_team');
    end if;
    perform private.require_phi_aal2(set_medical_profile.patient_id);
    if jsonb_typeof(allergies) is distinct from 'array' or jsonb_typeof(chronic_conditions) is distinct from 'array'
        or jsonb_typeof(current_medications) is distinct from 'array' then
        perform private.raise_invalid(
            'allergies, chronic_conditions and current_medications are arrays', 'invalid_medical_profile'
        );
    end if;
    if blood_group is not null and blood_group not in ('A+', 'A-', 'B+', 'B-', 'AB+', 'AB-', 'O+', 'O-') then
        perform private.raise_invalid('blood_group is one of A+ A- B+ B- AB+ AB- O+ O-', 'invalid_blood_group');
    end if;
    details := private.encrypt_field(jsonb_build_object(
        'allergies', allergies, 'chronic_conditions', chronic_conditions, 'current_medications', current_medications
    )::text);
    update public.medical_profiles as p
    set blood_group = set_medical_profile.blood_group, details_encrypted = details
    where p.patient_id = set_medical_profile.patient_id and p.hospital_id = set_medical_profile.hospital_id
        and p.deleted_at is null;
    if not found then
        insert into public.medical_profiles (patient_id, hospital_id, blood_group, details_encrypted)
        values (set_medical_profile.patient_id, set_medical_profile.hospital_id, set_medical_profile.blood_group, details);
    end if;
end;
$$;

insert into private.audited_resources (resource, read_with)
values
('rpc/medical_record', 'POST /rest/v1/rpc/medical_record'),
('rpc/medical_records', 'POST /rest/v1/rpc/medical_records'),
('rpc/medical_profile', 'POST /rest/v1/rpc/medical_profile');

insert into private.personal_data_columns (table_name, column_name, kind, note) values
('public.encounters', 'record_type', 'none', 'the kind of visit (consultation, follow_up...)'),
('public.clinical_note_addenda', 'reason', 'none', 'why an addendum was written (correction...)');

grant execute on function private.guard_signed_encounter() to authenticated;
grant execute on function private.attachment_types() to authenticated;
grant execute on function private.check_record_attachment() to authenticated;
grant execute on function private.note_addenda(uuid) to authenticated;
grant execute on function private.insert_record_vitals(uuid, uuid, uuid, jsonb) to authenticated;
grant execute on function private.read_medical_record(uuid) to authenticated;
grant execute on function private.log_records_read(uuid) to authenticated;
grant execute on function private.profile_hospital(uuid, uuid) to authenticated;
grant execute on function private.read_medical_profile(uuid, uuid) to authenticated;
grant execute on function public.add_note_addendum(uuid, text, text) to authenticated, service_role;
grant execute on function public.attach_medical_record_file(uuid, text, text, bigint, public.document_type)
to authenticated;
grant execute on function private.record_signed(uuid) to authenticated, service_role;
grant execute on function private.amending_addendum(uuid) to authenticated, service_role;
grant execute on function private.guard_signed_record_row() to authenticated, service_role;
grant execute on function private.check_record_diagnoses(jsonb) to authenticated;
grant execute on function private.insert_record_diagnoses(uuid, uuid, uuid, jsonb) to authenticated;
grant execute on function private.mark_entered_in_error(uuid, uuid, uuid[]) to authenticated;
grant execute on function public.amend_medical_record(uuid, text, text, jsonb, jsonb, uuid[]) to authenticated;
grant execute on function public.create_medical_record(uuid, uuid, jsonb, uuid, boolean) to authenticated;
grant execute on function public.medical_record(uuid) to authenticated;
grant execute on function public.medical_records(uuid, uuid) to authenticated;
grant execute on function public.medical_profile(uuid, uuid) to authenticated;
grant execute on function public.set_medical_profile(uuid, uuid, text, jsonb, jsonb, jsonb) to authenticated;

comment on column public.encounters.record_type is
'The kind of medical record (seed 003 recordType): consultation, follow_up, emergency, procedure,
telemedicine, other.';
comment on column public.clinical_note_addenda.reason is
'Why the addendum was written: correction, clarification, late_entry or addition.';
comment on column public.patient_documents.encounter_id is
'The medical record (encounter) a file is attached to (rpc/attach_medical_record_file), if any.';
comment on function public.add_note_addendum(uuid, text, text) is
'A correction or addition to a signed note (care team, aal2) -> the addendum''s id; final as written
(its author and time sign it), read with the note (rpc/clinical_note, rpc/medical_record). reason:
correction (default), clarification, late_entry, addition. Errors: PT404 (no such note); 22023
invalid_addendum_reason; PT409 (the note is a draft: edit it instead).';
comment on function public.attach_medical_record_file(uuid, text, text, bigint, public.document_type) is
'Seed 003 POST /medical-records/:id/attachments, step 1 (care team, aal2): the attachment''s row ->
{id, bucket, storage_path}; then upload the file to Storage bucket patient-documents at storage_path
with the same content type and at most size_bytes. Types: PDF, JPEG, PNG, WebP, plain text; at most
25 MiB. Errors: PT404 medical_record_not_found; 42501 not_on_care_team; 22023
attachment_type_not_allowed, attachment_too_large, attachment_name_required.';
comment on function public.create_medical_record(uuid, uuid, jsonb, uuid, boolean) is
'Seed 003 POST /medical-records (care team, aal2): the encounter, its vital signs, SOAP note
(draft, or signed with sign=true) and ICD-10 diagnoses in one transaction -> {id, note_id,
vital_signs_id, diagnosis_ids, status}. content: {record_type, chief_complaint, vital_signs:
{systolic_mmhg, diastolic_mmhg, heart_rate_bpm, temperature_c or temperature_f, spo2_percent,
respiratory_rate_per_min, weight_kg, height_cm}, subjective, objective, assessment, plan, diagnoses:
[{icd10_code, description, is_primary}]}. Errors (nothing written): 42501 not_on_care_team; PT403
insufficient_aal; 22023 invalid_medical_record, invalid_vital_signs, invalid_diagnoses,
several_primary_diagnoses, appointment_not_of_patient, nothing_to_sign; PT422
unknown_diagnosis_code; PT409 appointment_has_record.';
comment on function public.medical_record(uuid) is
'Seed 003 GET /medical-records/:id: one record in clear (vital signs, notes with their addenda,
diagnoses, attachments with their Storage paths); the care team''s, the patient''s own (signed
notes only). The read is logged. Errors: PT404 medical_record_not_found; PT403 insufficient_aal.';
comment on function public.medical_records(uuid, uuid) is
'Seed 003 GET /medical-records, GET /patients/:id/medical-records: a patient''s records (of one
hospital, or every one the caller reads), newest first, without SOAP text; each patient''s read is
logged. Errors: PT403 insufficient_aal.';
comment on function public.medical_profile(uuid, uuid) is
'Seed 003 GET /patients/:id/medical-profile: blood group, allergies, chronic conditions, current
medications, active diagnoses and the last vital signs; the care team''s and the patient''s own.
The read is logged. Errors: PT404 patient_not_found; 22023 hospital_required (registered at
several hospitals: name one); PT403 insufficient_aal.';
comment on function public.set_medical_profile(uuid, uuid, text, jsonb, jsonb, jsonb) is
'Seed 003 PUT /patients/:id/medical-profile (care team, aal2): blood group and the allergies,
chronic conditions and current medications (arrays, stored encrypted) replace the profile.
Errors: 42501 not_on_care_team; 22023 invalid_medical_profile, invalid_blood_group.';
comment on column public.vital_signs.addendum_id is
'The amendment (clinical_note_addenda) that added these vital signs to a signed record; null for
those recorded before it was signed. Set by the database (rpc/amend_medical_record).';
comment on column public.vital_signs.entered_in_error_by is
'The amendment that marked these vital signs entered in error (they stay, readable, and no longer
count as the last vital signs). Set by rpc/amend_medical_record only.';
comment on column public.diagnoses.addendum_id is
'The amendment (clinical_note_addenda) that added this diagnosis to a signed record; null for those
recorded before it was signed. Set by the database (rpc/amend_medical_record).';
comment on column public.diagnoses.entered_in_error_by is
'The amendment that marked this diagnosis entered in error (it stays, readable, and no longer counts:
not the primary, not active). Set by rpc/amend_medical_record only.';
comment on function private.record_signed(uuid) is
'Whether an encounter''s note is signed (and not archived): its vital signs and diagnoses are frozen.';
comment on function private.amending_addendum(uuid) is
'The addendum to an encounter''s signed note the caller wrote in this transaction (the amendment that
may add or retract its rows), or null.';
comment on function private.guard_signed_record_row() is
'Trigger on vital_signs and diagnoses: a signed record''s rows are frozen for every role (PT409
record_signed) but for archiving, resolving a diagnosis, stamping a code version once, a merge, and
what an amendment written in the same transaction by the same user adds or retracts.';
comment on function private.check_record_diagnoses(jsonb) is
'Checks a record''s diagnoses JSON (an array of {icd10_code, ...}, one primary at most).';
comment on function private.insert_record_diagnoses(uuid, uuid, uuid, jsonb) is
'Writes a record''s diagnoses from its JSON as the caller -> their ids.';
comment on function private.mark_entered_in_error(uuid, uuid, uuid[]) is
'Marks diagnoses and vital signs of a record entered in error by the caller''s amendment.';
comment on function public.amend_medical_record(uuid, text, text, jsonb, jsonb, uuid[]) is
'Seed 003 PUT /medical-records/:id once the record is signed (care team, aal2): an amendment, i.e.
an addendum to the signed note (body, reason: correction (default), clarification, late_entry,
addition; its author and time sign it) that may add diagnoses ([{icd10_code, description,
is_primary}]) and vital_signs (as in rpc/create_medical_record) and mark diagnoses and vital signs
of the record entered in error (entered_in_error_ids); nothing is overwritten, retracted rows stay
readable with entered_in_error_by. One transaction -> {id, addendum_id, vital_signs_id,
diagnosis_ids, entered_in_error_ids}. Errors (nothing written): PT404 medical_record_not_found;
PT403 insufficient_aal;
PT409 record_not_signed (edit the draft instead); 42501 (not on the care team); 22023
invalid_addendum_reason, invalid_diagnoses, several_primary_diagnoses (retract the current primary
first), invalid_vital_signs, not_in_record; PT422 unknown_diagnosis_code.';
