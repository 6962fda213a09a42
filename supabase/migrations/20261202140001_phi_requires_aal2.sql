-- Staff read and write the clinical record and prescription contents only in a session
-- verified with a second factor (aal2), as DESIGN requires. No policy read the JWT's `aal`
-- claim before: a doctor signed in with a password alone read SOAP notes.
--
-- Who needs aal2: a caller with an active staff membership, in an API request (claims with
-- the role `authenticated`). Who does not: the patient reading or changing their own record
-- (patients sign in with a phone OTP, aal1), callers who are not staff (their RLS decides),
-- the service role and sessions without claims (jobs, migrations, SQL).
--
-- The refusal: SQLSTATE PT403 (HTTP 403), details `insufficient_aal` (the code Supabase Auth
-- uses for the same condition) for clients to match, a hint naming the step-up: challenge and
-- verify a TOTP factor (POST /auth/v1/factors/{id}/challenge, then /verify), then retry with
-- the new access token. Insurance and consent paperwork (patient_documents read by the front
-- desk) is PHI too: every staff read of a clinical table needs aal2.
--
-- How: one more RESTRICTIVE policy for every command on each clinical and prescription table
-- (the permissive policies are unchanged), whose statement-level part (the aal claim and
-- staff-ness) is an init plan evaluated once per statement; the per-row part only runs when
-- that fails, and refuses at the first row that is not the caller's own. The security
-- definer readers that bypass RLS (private.read_clinical_note, private.read_prescriptions)
-- call the check themselves once access is established, so that a record the caller may not
-- read stays a 404 at aal1. The timeline checks before it reads anything, so that an aal1
-- refusal never depends on what the record holds. The audit trail carries clinical values
-- (vital signs, diagnoses, lab results) in old_values / new_values: its entries about
-- clinical tables need aal2 too.

-- Whether the caller may touch PHI without a second factor: not a signed-in user's API
-- request, already aal2, or not staff. Security definer: reads the caller's own active
-- memberships whatever the memberships' policies say.
create function private.phi_aal2_cleared()
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(
        (select auth.jwt()) ->> 'role' is distinct from 'authenticated'
        or (select auth.jwt()) ->> 'aal' = 'aal2'
        or not exists (
            select from public.staff_memberships as m
            where m.user_id = (select auth.uid()) and m.is_active
        ),
        false
    );
$$;

-- True when the caller may touch this patient's PHI at their assurance level (the patient's
-- own record, or cleared above); otherwise refuses with PT403 / insufficient_aal. The
-- shared raise helper of this refusal: policies and RPCs call it, never raise it themselves.
create function private.require_phi_aal2(patient uuid)
returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
    if private.phi_aal2_cleared()
        or (require_phi_aal2.patient is not null and require_phi_aal2.patient = private.own_patient_id()) then
        return true;
    end if;
    raise exception using
        errcode = 'PT403',
        message = 'multi-factor authentication required: staff read and write clinical records only in a '
        || 'session verified with a second factor (aal2)',
        detail = 'insufficient_aal',
        hint = 'verify a TOTP factor (POST /auth/v1/factors/{factor_id}/challenge, then '
        || 'POST /auth/v1/factors/{factor_id}/verify with the code) and retry with the new access token';
end;
$$;

revoke execute on function private.phi_aal2_cleared() from public;
revoke execute on function private.require_phi_aal2(uuid) from public;
grant execute on function private.phi_aal2_cleared() to authenticated, service_role;
grant execute on function private.require_phi_aal2(uuid) to authenticated, service_role;

-- The clinical tables name their patient; the prescription tables reach it through the
-- prescription (read under the caller's RLS, and only when the statement-level part fails).
do $$
declare
    t text;
    patient text;
begin
    foreach t in array array[
        'medical_profiles', 'encounters', 'clinical_notes', 'clinical_note_addenda', 'vital_signs', 'diagnoses',
        'patient_documents', 'lab_results', 'prescriptions', 'prescription_items', 'prescription_dispensings'
    ] loop
        patient := case t
            when 'prescription_items' then
                '(select p.patient_id from public.prescriptions as p where p.id = prescription_id)'
            when 'prescription_dispensings' then
                '(select p.patient_id from public.prescription_items as i
                  join public.prescriptions as p on p.id = i.prescription_id where i.id = prescription_item_id)'
            else 'patient_id'
        end;
        execute format(
            'create policy %1$s_staff_need_aal2 on public.%1$I as restrictive for all to authenticated
             using ((select private.phi_aal2_cleared()) or private.require_phi_aal2(%2$s))
             with check ((select private.phi_aal2_cleared()) or private.require_phi_aal2(%2$s))',
            t, patient
        );
    end loop;
end;
$$;

create policy log_clinical_entries_need_aal2 on audit.log
as restrictive for select to authenticated
using (
    (select private.phi_aal2_cleared())
    or not (table_name = any(array[
        'public.medical_profiles', 'public.encounters', 'public.clinical_notes', 'public.clinical_note_addenda',
        'public.vital_signs', 'public.diagnoses', 'public.patient_documents', 'public.lab_results',
        'public.prescriptions', 'public.prescription_items', 'public.prescription_dispensings'
    ]))
    or private.require_phi_aal2(patient_id)
);

-- The readers that bypass RLS, as in 20261123000600 and 20261201090002 but for the aal2
-- check once access is established.

-- A note in clear, with its addenda, for those who may read it: the care team (or a
-- consented share), the patient once signed. Each read is a READ entry in the audit trail.
-- Security definer: decrypts and appends to the audit trail; it checks access itself.
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

-- Prescriptions in clear, for those who may read them (private.can_read_prescription: the
-- patient, the issuing doctor, the pharmacy it was sent to), each read a READ entry. Ids the
-- caller may not read are left out, as RLS would. Security definer: decrypts and appends to
-- the audit trail; it checks access itself.
create or replace function private.read_prescriptions(prescription_ids uuid[])
returns setof public.prescription_details
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    rx public.prescription_details;
    opened record;
    lines_unreadable boolean;
begin
    if cardinality(read_prescriptions.prescription_ids) > 100 then
        raise exception using
            errcode = '22023', message = 'at most 100 prescriptions per call',
            hint = 'list prescriptions with GET /rest/v1/prescription_details, then read the ones you need';
    end if;
    for rx in
        select pd.* from public.prescription_details as pd
        where pd.id = any(read_prescriptions.prescription_ids) and private.can_read_prescription(pd.id)
        order by pd.issued_at desc, pd.id
    loop
        perform private.require_phi_aal2(rx.patient_id);
        perform private.audit_append(
            'READ', 'public.prescriptions', rx.id::text, rx.hospital_id, rx.patient_id, '{medications,notes}'
        );
        rx.undecryptable := '{}';
        select d.content, d.problem into opened
        from public.prescriptions as p
        cross join lateral private.try_decrypt_object(p.notes) as d
        where p.id = rx.id;
        rx.notes := opened.content ->> 'notes';
        if opened.problem is not null then
            rx.undecryptable := rx.undecryptable || 'notes'::text;
        end if;
        select
            coalesce(jsonb_agg(
                coalesce(d.content, jsonb_build_object('undecryptable', true))
                || jsonb_build_object(
                    'item_id', i.id, 'line_no', i.line_no, 'quantity', i.quantity,
                    'dispensed_quantity', i.dispensed_quantity
                )
                order by i.line_no
            ), '[]'),
            coalesce(bool_or(d.problem is not null), false)
        into rx.medications, lines_unreadable
        from public.prescription_items as i
        cross join lateral private.try_decrypt_object(i.details) as d
        where i.prescription_id = rx.id;
        if lines_unreadable then
            rx.undecryptable := rx.undecryptable || 'medications'::text;
        end if;
        return next rx;
    end loop;
end;
$$;

-- RPC: POST /rest/v1/rpc/patient_timeline {"patient_id": ...}: the timeline, newest first,
-- its read logged in the audit trail. Staff need aal2 before anything is read, whatever the
-- record holds (the tables' own check would refuse only once it met a row).
create or replace function public.patient_timeline(patient_id uuid)
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
