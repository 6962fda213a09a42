-- A signed medical record changes only by amendment (issue 20, item 4: "edits only as addenda
-- once signed"). Since 20261212200000 a signed record's SOAP text and chief complaint were
-- frozen, but its vital signs and diagnoses could still be added, changed or archived-and-
-- replaced by anyone on the care team (and anything by the service role). Now, as an EHR
-- amends a signed chart (appended, the original stays readable, who/when/why recorded):
--
-- 1. The vital signs and diagnoses of a record whose note is signed are frozen for every role
--    (service role and SQL too): an insert or an update answers PT409 record_signed, as the
--    chief complaint does; deletes were refused already (20261201050003). What still changes,
--    because it is not the record's content: archiving and restoring (deleted_at, the
--    hospital's admin), a diagnosis being resolved (resolved_at: the problem list), the code
--    version stamped on a diagnosis recorded before codes were checked (code_version, once,
--    by `carebase codes load`), and a patient merge re-pointing rows.
-- 2. rpc/amend_medical_record writes an amendment: an addendum to the signed note with its
--    reason (the who/when/why), which may carry added diagnoses and vital signs (rows with
--    addendum_id = the addendum) and mark rows of the record entered in error
--    (entered_in_error_by = the addendum; FHIR's verificationStatus / status
--    entered-in-error). Nothing is overwritten: an erroneous row stays, readable, pointing at
--    the amendment that retracted it, and stops counting (the one primary diagnosis, the
--    record list's primary, the profile's active diagnoses and last vital signs).
--    The rule the triggers hold to: a row joins or leaves a signed record only with an
--    addendum of that record the same user wrote in the same transaction.
-- 3. rpc/create_medical_record signs last, after the diagnoses (it signed before writing them).
--
-- Re-created with one change each: public.create_medical_record (signs last; its diagnoses go
-- through the shared private.insert_record_diagnoses), private.read_medical_record (diagnoses
-- say addendum_id and entered_in_error_by), public.medical_records (the primary diagnosis is
-- not one entered in error), private.read_medical_profile (entered-in-error rows are neither
-- active diagnoses nor the last vital signs).

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

-- The combined create, as in 20261212200000, signing last.
create or replace function public.create_medical_record(
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

-- Reads, as in 20261212200000: a diagnosis says which amendment added it and which retracted
-- it (vital signs say it as columns of their rows already).
create or replace function private.read_medical_record(encounter_id uuid)
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

-- The records list, as in 20261212200000: the primary diagnosis is not one entered in error.
create or replace function public.medical_records(patient_id uuid, hospital_id uuid default null)
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

-- The profile, as in 20261212200000: rows entered in error are neither active diagnoses nor the
-- last vital signs.
create or replace function private.read_medical_profile(patient_id uuid, hospital_id uuid)
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

grant execute on function private.record_signed(uuid) to authenticated, service_role;
grant execute on function private.amending_addendum(uuid) to authenticated, service_role;
grant execute on function private.guard_signed_record_row() to authenticated, service_role;
grant execute on function private.check_record_diagnoses(jsonb) to authenticated;
grant execute on function private.insert_record_diagnoses(uuid, uuid, uuid, jsonb) to authenticated;
grant execute on function private.mark_entered_in_error(uuid, uuid, uuid[]) to authenticated;
grant execute on function public.amend_medical_record(uuid, text, text, jsonb, jsonb, uuid[]) to authenticated;

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
