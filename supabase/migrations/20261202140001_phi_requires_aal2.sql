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
--
-- The changed functions are defined once, in final form, in the migration that created them:
-- private.read_clinical_note (20261123000600), public.patient_timeline (20261123000600),
-- private.read_prescriptions (20261201090002).

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
