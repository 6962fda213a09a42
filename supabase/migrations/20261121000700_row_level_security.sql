-- Row-level security for identity, tenancy and staff (seed 000 section 2).
--
-- anon sees nothing; a patient reads and updates only their own record; a doctor or nurse
-- reads only the patients of their care team; front desk registers and reads patients of
-- their hospital; a hospital admin reads everything of their hospital and manages its staff;
-- nobody sees another hospital's rows. service_role bypasses RLS (system work only).
--
-- Archiving is per hospital: an admin archives (and restores) the hospital's registration;
-- archived rows disappear for everyone but that hospital's admins. A person's own
-- deleted_at (erasure of the person) is platform work for the service role.

-- Privileges first: nothing for anon, exactly the commands the policies allow for
-- authenticated. Column lists keep ids, owners and MRNs out of reach of UPDATE.
revoke all on public.hospitals, public.profiles, public.staff_memberships, public.doctors,
public.pharmacies, public.pharmacists, public.patients, public.patient_registrations,
public.care_team_members from anon, authenticated;
grant all on public.hospitals, public.profiles, public.staff_memberships, public.doctors,
public.pharmacies, public.pharmacists, public.patients, public.patient_registrations,
public.care_team_members to service_role;

grant select on public.hospitals to authenticated;
grant update (name, address, city, state, time_zone, phone, email) on public.hospitals to authenticated;

grant select on public.profiles to authenticated;
grant update (full_name, avatar_url, preferred_language) on public.profiles to authenticated;

-- Memberships are inserted by the service role and by the provisioning and invitation
-- functions only (20261202160001): no API role inserts them.
grant select on public.staff_memberships to authenticated;
grant update (is_active) on public.staff_memberships to authenticated;

grant select, insert, delete on public.doctors to authenticated;
grant update (
    specialty, qualification, licence_number, licence_council, calendar_color,
    consultation_modes, languages, bio, is_active
) on public.doctors to authenticated;

grant select, insert, delete on public.pharmacies to authenticated;
grant update (name, licence_number, phone, email, address, is_default, is_active)
on public.pharmacies to authenticated;

grant select, insert, delete on public.pharmacists to authenticated;
grant update (pharmacy_id, licence_number, is_active) on public.pharmacists to authenticated;

grant select, insert on public.patients to authenticated;
grant update (
    full_name, date_of_birth, sex, phone, email, preferred_language, address_line, city,
    district, state, postal_code, emergency_contact_name, emergency_contact_phone,
    emergency_contact_relation
) on public.patients to authenticated;

grant select, insert on public.patient_registrations to authenticated;
grant update (referral_source, deleted_at) on public.patient_registrations to authenticated;

grant select, insert on public.care_team_members to authenticated;
grant update (is_primary, ended_at) on public.care_team_members to authenticated;

-- hospitals ------------------------------------------------------------------------------
create policy hospitals_select_staff_and_patients on public.hospitals
for select to authenticated
using (
    id = any((select private.staff_hospital_ids())::uuid[])
    or id = any((select private.patient_registered_hospital_ids())::uuid[])
);

create policy hospitals_update_admin on public.hospitals
for update to authenticated
using (id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]))
with check (id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]));

-- profiles -------------------------------------------------------------------------------
-- Own profile; colleagues at the caller's hospitals; for patients, the staff directory of
-- the hospitals they are registered at (to choose a doctor).
create policy profiles_select_self_colleagues_directory on public.profiles
for select to authenticated
using (
    id = (select auth.uid())
    or id = any((select private.staff_user_ids(private.staff_hospital_ids()))::uuid[])
    or id = any((select private.staff_user_ids(private.patient_hospital_ids()))::uuid[])
);

create policy profiles_update_self_or_admin on public.profiles
for update to authenticated
using (
    id = (select auth.uid())
    or id = any((select private.staff_user_ids(private.staff_hospital_ids('{hospital_admin}')))::uuid[])
)
with check (
    id = (select auth.uid())
    or id = any((select private.staff_user_ids(private.staff_hospital_ids('{hospital_admin}')))::uuid[])
);

-- staff_memberships ----------------------------------------------------------------------
-- The roster of a hospital is visible to its staff; a user always sees their own rows.
create policy staff_memberships_select_own_and_roster on public.staff_memberships
for select to authenticated
using (
    user_id = (select auth.uid())
    or hospital_id = any((select private.staff_hospital_ids())::uuid[])
);

create policy staff_memberships_update_admin on public.staff_memberships
for update to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]))
with check (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]));

-- doctors --------------------------------------------------------------------------------
create policy doctors_select_hospital_staff_and_patients on public.doctors
for select to authenticated
using (
    hospital_id = any((select private.staff_hospital_ids())::uuid[])
    or (
        is_active
        and hospital_id = any((select private.patient_hospital_ids())::uuid[])
        and private.holds_active_role(user_id, hospital_id, 'doctor')
    )
);

create policy doctors_insert_admin on public.doctors
for insert to authenticated
with check (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]));

-- A doctor edits their own profile (a trigger keeps licence and status for the admin).
create policy doctors_update_admin_or_self on public.doctors
for update to authenticated
using (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[])
    or (user_id = (select auth.uid()) and hospital_id = any((select private.staff_hospital_ids('{doctor}'))::uuid[]))
)
with check (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[])
    or (user_id = (select auth.uid()) and hospital_id = any((select private.staff_hospital_ids('{doctor}'))::uuid[]))
);

create policy doctors_delete_admin on public.doctors
for delete to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]));

-- pharmacies -----------------------------------------------------------------------------
create policy pharmacies_select_hospital_staff_and_patients on public.pharmacies
for select to authenticated
using (
    hospital_id = any((select private.staff_hospital_ids())::uuid[])
    or (is_active and hospital_id = any((select private.patient_hospital_ids())::uuid[]))
);

create policy pharmacies_insert_admin on public.pharmacies
for insert to authenticated
with check (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]));

create policy pharmacies_update_admin on public.pharmacies
for update to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]))
with check (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]));

create policy pharmacies_delete_admin on public.pharmacies
for delete to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]));

-- pharmacists ----------------------------------------------------------------------------
-- Seed 000: the pharmacist list is for hospital admins; a pharmacist sees their own row.
create policy pharmacists_select_admin_or_self on public.pharmacists
for select to authenticated
using (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[])
    or user_id = (select auth.uid())
);

create policy pharmacists_insert_admin on public.pharmacists
for insert to authenticated
with check (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]));

create policy pharmacists_update_admin on public.pharmacists
for update to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]))
with check (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]));

create policy pharmacists_delete_admin on public.pharmacists
for delete to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]));

-- patients -------------------------------------------------------------------------------
-- Hospitals see a person through their registration there: these policies ask the
-- registrations table (under its own policies) instead of listing every patient id.
create policy patients_select_self on public.patients
for select to authenticated
using (user_id = (select auth.uid()) and deleted_at is null);

create policy patients_select_care_team on public.patients
for select to authenticated
using (deleted_at is null and id = any((select private.care_team_patient_ids())::uuid[]));

create policy patients_select_front_office on public.patients
for select to authenticated
using (
    deleted_at is null
    and exists (
        select 1 from public.patient_registrations as r
        where
            r.patient_id = patients.id
            and r.deleted_at is null
            and r.hospital_id = any((select private.staff_hospital_ids('{front_desk,cro}'))::uuid[])
    )
);

-- Admins also see patients whose registration is archived, so that they can restore it.
create policy patients_select_admin on public.patients
for select to authenticated
using (
    exists (
        select 1 from public.patient_registrations as r
        where
            r.patient_id = patients.id
            and r.hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[])
    )
);

-- A new person is created by registering staff; the registration must follow in the same
-- transaction (public.register_patient does both; a deferred trigger enforces it).
create policy patients_insert_registering_staff on public.patients
for insert to authenticated
with check (
    user_id is null
    and deleted_at is null
    and cardinality((select private.staff_hospital_ids('{front_desk,hospital_admin,cro}'))) > 0
);

create policy patients_update_self on public.patients
for update to authenticated
using (user_id = (select auth.uid()) and deleted_at is null)
with check (user_id = (select auth.uid()) and deleted_at is null);

create policy patients_update_hospital_staff on public.patients
for update to authenticated
using (
    deleted_at is null
    and exists (
        select 1 from public.patient_registrations as r
        where
            r.patient_id = patients.id
            and r.deleted_at is null
            and r.hospital_id = any((select private.staff_hospital_ids('{front_desk,hospital_admin}'))::uuid[])
    )
)
with check (deleted_at is null);

-- patient_registrations ------------------------------------------------------------------
create policy patient_registrations_select_own on public.patient_registrations
for select to authenticated
using (patient_id = (select private.own_patient_id()) and deleted_at is null);

create policy patient_registrations_select_care_team on public.patient_registrations
for select to authenticated
using (
    deleted_at is null
    and patient_id = any((select private.care_team_patient_ids())::uuid[])
    and private.on_care_team(patient_id, hospital_id)
);

create policy patient_registrations_select_front_office on public.patient_registrations
for select to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{front_desk,cro}'))::uuid[]) and deleted_at is null);

create policy patient_registrations_select_admin on public.patient_registrations
for select to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]));

create policy patient_registrations_insert_registering_staff on public.patient_registrations
for insert to authenticated
with check (
    hospital_id = any((select private.staff_hospital_ids('{front_desk,hospital_admin,cro}'))::uuid[])
    and deleted_at is null
    and registered_by = (select auth.uid())
);

-- Archive and restore (deleted_at) are for admins; front desk may fix the referral source.
create policy patient_registrations_update_admin on public.patient_registrations
for update to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]))
with check (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]));

create policy patient_registrations_update_front_desk on public.patient_registrations
for update to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{front_desk}'))::uuid[]) and deleted_at is null)
with check (hospital_id = any((select private.staff_hospital_ids('{front_desk}'))::uuid[]) and deleted_at is null);

-- care_team_members ----------------------------------------------------------------------
create policy care_team_members_select on public.care_team_members
for select to authenticated
using (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
    or (
        patient_id = any((select private.care_team_patient_ids())::uuid[])
        and private.on_care_team(patient_id, hospital_id)
    )
    or patient_id = (select private.own_patient_id())
);

-- Only someone who currently holds that clinical role at the hospital joins a care team.
create policy care_team_members_insert_staff on public.care_team_members
for insert to authenticated
with check (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
    and assigned_by = (select auth.uid())
    and private.holds_active_role(member_id, hospital_id, member_role)
);

create policy care_team_members_update_staff on public.care_team_members
for update to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[]))
with check (hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[]));
