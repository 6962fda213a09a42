-- What a patient keeps of a deactivated hospital.
--
-- Staff lose a deactivated hospital at once (private.staff_hospital_ids checks
-- hospitals.is_active); for its patients, private.patient_hospital_ids ignored it, so the
-- hospital went on offering its doctors, pharmacies, staff directory, working hours and
-- booking to them. The decision:
--   - the patient's own record there stays readable: registration, appointments, clinical
--     record, prescriptions and consent history are guarded by private.own_patient_id, not by
--     the hospital (a patient has a right of access to their own data, whatever happens to
--     the hospital); so do the hospital's row (which hospital a record is from) and its
--     consent documents (what the patient agreed to), and the patient may still record a
--     consent event there (withdrawing must always be possible; granting, e.g. record
--     sharing, lets a patient take their record to another hospital);
--   - what serves new care goes: private.patient_hospital_ids now lists active hospitals only
--     (like staff_hospital_ids), so the doctors, pharmacies and staff directories, working
--     hours, slots and the patient's own booking end with the hospital.
--
-- The changed function is defined once, in final form, in the migration that created it:
-- private.patient_hospital_ids (20261121000600).

-- Hospitals where the caller is a (non-archived) patient, active or not: their own record.
-- Security definer, like the other access helpers.
create function private.patient_registered_hospital_ids()
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select coalesce(array_agg(r.hospital_id), '{}')
        from public.patient_registrations as r
        join public.patients as p on p.id = r.patient_id
        where p.user_id = (select auth.uid())
            and p.deleted_at is null
            and r.deleted_at is null
    );
end;
$$;

revoke execute on function private.patient_registered_hospital_ids() from public, anon;
grant execute on function private.patient_registered_hospital_ids() to authenticated;

-- The policies that serve the patient's own record keep every hospital they are registered at.
alter policy hospitals_select_staff_and_patients on public.hospitals
using (
    id = any((select private.staff_hospital_ids())::uuid[])
    or id = any((select private.patient_registered_hospital_ids())::uuid[])
);

alter policy consent_documents_select on public.consent_documents
using (
    hospital_id = any((select private.staff_hospital_ids())::uuid[])
    or hospital_id = any((select private.patient_registered_hospital_ids())::uuid[])
);

alter policy consent_events_insert on public.consent_events
with check (
    recorded_by = (select auth.uid())
    and (
        (
            patient_id = (select private.own_patient_id())
            and hospital_id = any((select private.patient_registered_hospital_ids())::uuid[])
        )
        or hospital_id = any((select private.staff_hospital_ids('{front_desk,hospital_admin}'))::uuid[])
    )
);
