-- Who may see a patient, decided without running patient_registrations' own policies once per
-- patient (issue 12, item 3).
--
-- The front office and admins reach a patient through a registration at their hospital. The
-- policies asked that with an EXISTS over public.patient_registrations, so every patient row
-- also ran the registrations' policies (four branches, a care-team call) on its registration:
-- a name search over 100,000 patients made 150,000 such checks (858 ms, 593,000 buffers), one
-- index probe each, never the hashed lookup Postgres can make of a plain correlated EXISTS.
--
-- The policies now ask a view of the registrations that reads them as its owner (the table's
-- owner, so without their policies): it gives the (patient, hospital) pairs and nothing else,
-- in the private schema that the API does not serve. Postgres plans each EXISTS both ways and
-- picks by the rows it expects: a hashed set of the hospital's patients for a scan of all
-- patients, an index probe per row for a page of 50. The rules are the same: the policies name
-- the same registrations with the same conditions.

-- security definer view (the default, on purpose): policies read it to learn where a patient is
-- registered whatever the registrations' own policies would show the caller.
create view private.patient_hospitals as
select
    r.patient_id,
    r.hospital_id,
    r.deleted_at
from public.patient_registrations as r;

comment on view private.patient_hospitals is
'Where each patient is registered (live when deleted_at is null), read as the owner: for the '
'patients policies only. Not served by the API; select is granted to authenticated because '
'policies are checked with the querying role''s privileges on the views they name.';

grant select on private.patient_hospitals to authenticated;

-- The registrations of a hospital, live ones only: the hashed set built once per statement.
create index patient_registrations_live_by_hospital_idx
on public.patient_registrations (hospital_id, patient_id)
where deleted_at is null;

alter policy patients_select_self_office_care_team_or_admin on public.patients
using (
    (user_id = (select auth.uid()) and deleted_at is null)
    or (
        deleted_at is null
        and exists (
            select 1
            from private.patient_hospitals as r
            where
                r.patient_id = patients.id
                and r.deleted_at is null
                and r.hospital_id = any(private.staff_hospital_ids('{front_desk,cro}'))
        )
    )
    or (deleted_at is null and id = any((select private.care_team_patient_ids())::uuid[]))
    or exists (
        select 1
        from private.patient_hospitals as r
        where
            r.patient_id = patients.id
            and r.hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
    )
);

alter policy patients_update_self_or_hospital_staff on public.patients
using (
    (user_id = (select auth.uid()) and deleted_at is null)
    or (
        deleted_at is null
        and exists (
            select 1
            from private.patient_hospitals as r
            where
                r.patient_id = patients.id
                and r.deleted_at is null
                and r.hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
        )
    )
)
with check (
    (user_id = (select auth.uid()) and deleted_at is null)
    or (
        deleted_at is null
        and exists (
            select 1
            from private.patient_hospitals as r
            where
                r.patient_id = patients.id
                and r.deleted_at is null
                and r.hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
        )
    )
);
