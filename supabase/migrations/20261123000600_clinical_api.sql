-- The clinical API: writing notes (encrypting on the way in), signing, addenda, reading a note
-- in clear (logged in the audit trail), and the patient's chronological timeline (seed 004
-- section 3.4). Reads that decrypt are VOLATILE RPCs called with POST: PostgREST runs GET in
-- a read-only transaction, where the audit entry could not be written.

-- RPC: POST /rest/v1/rpc/write_clinical_note. Security invoker: the insert policy decides
-- (the patient's care team at that hospital). soap: {chief_complaint, subjective, objective,
-- assessment, plan}. Returns the note's id.
create function public.write_clinical_note(
    patient_id uuid,
    hospital_id uuid,
    soap jsonb,
    appointment_id uuid default null,
    encounter_id uuid default null
)
returns uuid
language plpgsql
volatile
set search_path = ''
as $$
declare
    new_id uuid := gen_random_uuid();
begin
    if jsonb_typeof(soap) is distinct from 'object'
        or not soap ?| array['subjective', 'objective', 'assessment', 'plan'] then
        raise exception using
            errcode = '22023', message = 'soap must be an object with subjective, objective, assessment or plan';
    end if;
    insert into public.clinical_notes (id, patient_id, hospital_id, appointment_id, encounter_id, soap_encrypted)
    values (
        new_id, write_clinical_note.patient_id, write_clinical_note.hospital_id, write_clinical_note.appointment_id,
        write_clinical_note.encounter_id, private.encrypt_field(soap::text)
    );
    return new_id;
end;
$$;

-- RPC: replace a draft's content (the author only; a signed note refuses).
create function public.update_clinical_note(note_id uuid, soap jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    update public.clinical_notes as n
    set soap_encrypted = private.encrypt_field(update_clinical_note.soap::text)
    where n.id = update_clinical_note.note_id;
    if not found then
        perform private.raise_not_found('no such note');
    end if;
end;
$$;

-- RPC: sign (finalise) a draft; from then on the note is immutable.
create function public.sign_clinical_note(note_id uuid)
returns timestamptz
language plpgsql
volatile
set search_path = ''
as $$
declare
    signed timestamptz;
begin
    update public.clinical_notes as n
    set status = 'signed'
    where n.id = sign_clinical_note.note_id
    returning n.signed_at into signed;
    if signed is null then
        perform private.raise_not_found('no such note');
    end if;
    return signed;
end;
$$;

-- RPC: a correction or addition to a signed note. Returns the addendum's id.
create function public.add_note_addendum(note_id uuid, body text)
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
    insert into public.clinical_note_addenda (id, note_id, patient_id, hospital_id, body_encrypted)
    values (new_id, note.id, note.patient_id, note.hospital_id, private.encrypt_field(add_note_addendum.body));
    return new_id;
end;
$$;

-- A note in clear, with its addenda, for those who may read it: the care team (or a
-- consented share), the patient once signed; staff need aal2 first. Each read is a READ entry
-- in the audit trail. Security definer: decrypts and appends to the audit trail; it checks
-- access itself.
create function private.read_clinical_note(note_id uuid)
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
        'addenda', coalesce((
            select jsonb_agg(
                jsonb_build_object(
                    'id', a.id, 'author_id', a.author_id, 'created_at', a.created_at,
                    'body', private.decrypt_field(a.body_encrypted)
                ) order by a.created_at
            )
            from public.clinical_note_addenda as a
            where a.note_id = note.id and a.deleted_at is null
        ), '[]')
    );
end;
$$;

-- RPC: POST /rest/v1/rpc/clinical_note {"note_id": ...}.
create function public.clinical_note(note_id uuid)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.read_clinical_note(clinical_note.note_id);
$$;

-- The timeline: appointments, notes, lab results, prescriptions and documents of a patient,
-- newest first, each part under its own table's RLS (security invoker): the front desk sees
-- the appointments, the care team everything, the patient signed notes and final results.
create view public.patient_timeline
with (security_invoker = true) as
select
    a.patient_id,
    a.hospital_id,
    'appointment' as kind,
    a.id as item_id,
    a.starts_at as occurred_at,
    a.appointment_type::text || ' (' || a.status::text || ')' as summary
from public.appointments as a
where a.patient_id is not null
union all
select
    n.patient_id,
    n.hospital_id,
    'clinical_note',
    n.id,
    coalesce(n.signed_at, n.created_at),
    'SOAP note (' || n.status::text || ')'
from public.clinical_notes as n
union all
select
    l.patient_id,
    l.hospital_id,
    'lab_result',
    l.id,
    l.test_date::timestamptz,
    l.test_name || ': ' || l.result_value || coalesce(' ' || l.unit, '') || ' (' || l.status::text || ')'
from public.lab_results as l
union all
select
    p.patient_id,
    p.hospital_id,
    'prescription',
    p.id,
    p.issued_at,
    'prescription (' || p.status::text || ')'
from public.prescriptions as p
union all
select
    d.patient_id,
    d.hospital_id,
    'document',
    d.id,
    d.uploaded_at,
    d.document_type::text || ': ' || d.name
from public.patient_documents as d;

revoke all on public.patient_timeline from anon, authenticated;
grant select on public.patient_timeline to authenticated, service_role;

-- The timeline RPC's logger: one READ entry naming the patient, and the patient marked as
-- logged for the clinical tables the timeline reads, so that the per-row policies do not log
-- them again (the rows themselves are read by the invoker below, under RLS). Security
-- definer: appends to the audit trail.
create function private.log_timeline_read(patient_id uuid)
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
    perform private.audit_append('READ', 'public.patient_timeline', null, null, log_timeline_read.patient_id);
    foreach resource in array array['clinical_notes', 'lab_results', 'patient_documents'] loop
        flag := 'carebase.disclosed.' || resource;
        perform set_config(
            flag, coalesce(current_setting(flag, true), '') || log_timeline_read.patient_id::text || ' ', true
        );
    end loop;
end;
$$;

-- RPC: POST /rest/v1/rpc/patient_timeline {"patient_id": ...}: the timeline, newest first,
-- its read logged in the audit trail. Staff need aal2 before anything is read, whatever the
-- record holds (the tables' own check would refuse only once it met a row).
create function public.patient_timeline(patient_id uuid)
returns setof public.patient_timeline
language plpgsql
volatile
set search_path = ''
as $$
begin
    perform private.require_phi_aal2(patient_timeline.patient_id);
    perform private.log_timeline_read(patient_timeline.patient_id);
    return query
    select t.* from public.patient_timeline as t
    where t.patient_id = patient_timeline.patient_id
    order by t.occurred_at desc;
end;
$$;

grant execute on function private.read_clinical_note(uuid) to authenticated, service_role;
grant execute on function private.log_timeline_read(uuid) to authenticated, service_role;
grant execute on function public.write_clinical_note(uuid, uuid, jsonb, uuid, uuid) to authenticated, service_role;
grant execute on function public.update_clinical_note(uuid, jsonb) to authenticated, service_role;
grant execute on function public.sign_clinical_note(uuid) to authenticated, service_role;
grant execute on function public.add_note_addendum(uuid, text) to authenticated, service_role;
grant execute on function public.clinical_note(uuid) to authenticated, service_role;
grant execute on function public.patient_timeline(uuid) to authenticated, service_role;
