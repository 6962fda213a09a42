-- Constraints that hold whoever writes (they are checked here as the table owner, with RLS out
-- of the way): E.164 phones, MRNs unique per hospital and generated in sequence per hospital,
-- one default pharmacy per hospital, staff rows tied to a membership of the right role at the
-- same hospital, care teams tied to a registration and a clinical membership at that hospital,
-- and real time zones.

begin;
select plan(47);

select tests.create_world();
-- Three people registered nowhere yet, and a new pharmacist of A.
with inserted as (
    insert into public.patients (full_name)
    values ('Person One'), ('Person Two'), ('Person Three')
    returning id, full_name
)

insert into tests.world (kind, name, id)
select
    'patients',
    lower(replace(i.full_name, ' ', '_')),
    i.id
from inserted as i;

select tests.create_user('new_pharmacist');
insert into public.staff_memberships (user_id, hospital_id, role)
values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), 'pharmacist');

-- phone numbers are E.164 -----------------------------------------------------------------
select results_eq(
    $$ select '+919876543210'::public.phone_e164::text $$,
    $$ values ('+919876543210') $$,
    'an E.164 number is accepted'
);
select throws_ok(
    $$ select '98765'::public.phone_e164 $$,
    '23514',
    'value for domain phone_e164 violates check constraint "phone_e164_format"',
    'a short local number is refused'
);
select throws_ok(
    $$ select '919876543210'::public.phone_e164 $$,
    '23514',
    'value for domain phone_e164 violates check constraint "phone_e164_format"',
    'a number without the + is refused'
);
select throws_ok(
    $$ select '+91 98765 43210'::public.phone_e164 $$,
    '23514',
    'value for domain phone_e164 violates check constraint "phone_e164_format"',
    'a number with spaces is refused'
);
select throws_ok(
    $$ update public.patients set phone = '98765' where id = tests.id_of('patients', 'a_patient1') $$,
    '23514',
    'value for domain phone_e164 violates check constraint "phone_e164_format"',
    'a patient''s phone must be E.164'
);
select throws_ok(
    $$ update public.patients set emergency_contact_phone = '0098765'
        where id = tests.id_of('patients', 'a_patient1') $$,
    '23514',
    'value for domain phone_e164 violates check constraint "phone_e164_format"',
    'an emergency contact''s phone must be E.164'
);

-- MRNs ------------------------------------------------------------------------------------
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'b_patient3'), tests.id_of('hospitals', 'TSTA'), 'TSTA-T0001') $$,
    '23505',
    'duplicate key value violates unique constraint "patient_registrations_mrn_unique_per_hospital"',
    'an MRN is unique within a hospital'
);
select lives_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTB'), 'TSTA-T0001') $$,
    'the same MRN may be used by another hospital'
);
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'), 'TSTA-AGAIN') $$,
    '23505',
    'duplicate key value violates unique constraint "patient_registrations_once_per_hospital"',
    'a patient is registered at most once per hospital'
);
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'person_one'), tests.id_of('hospitals', 'TSTA'), 'x') $$,
    '23514',
    'new row for relation "patient_registrations" violates check constraint "patient_registrations_mrn_format"',
    'an MRN has a sensible format'
);
-- MRNs generated when none is given: per hospital and year, in sequence.
select lives_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id)
        values (tests.id_of('patients', 'person_one'), tests.id_of('hospitals', 'TSTA')) $$,
    'person_one is registered at TSTA without an MRN'
);
select results_eq(
    $$ select mrn from public.patient_registrations
        where patient_id = tests.id_of('patients', 'person_one')
        and hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    $$ select 'TSTA-' || to_char(now() at time zone 'UTC', 'YYYY') || '-000001' $$,
    'the first generated MRN of A is TSTA-<year>-000001'
);
select lives_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id)
        values (tests.id_of('patients', 'person_two'), tests.id_of('hospitals', 'TSTA')) $$,
    'person_two is registered at TSTA without an MRN'
);
select results_eq(
    $$ select mrn from public.patient_registrations
        where patient_id = tests.id_of('patients', 'person_two')
        and hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    $$ select 'TSTA-' || to_char(now() at time zone 'UTC', 'YYYY') || '-000002' $$,
    'the next one at A is TSTA-<year>-000002'
);
select lives_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id)
        values (tests.id_of('patients', 'person_three'), tests.id_of('hospitals', 'TSTB')) $$,
    'person_three is registered at TSTB without an MRN'
);
select results_eq(
    $$ select mrn from public.patient_registrations
        where patient_id = tests.id_of('patients', 'person_three')
        and hospital_id = tests.id_of('hospitals', 'TSTB') $$,
    $$ select 'TSTB-' || to_char(now() at time zone 'UTC', 'YYYY') || '-000001' $$,
    'B counts on its own: TSTB-<year>-000001'
);
select lives_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id)
        values (tests.id_of('patients', 'person_three'), tests.id_of('hospitals', 'TSTA')) $$,
    'person_three is registered at TSTA without an MRN'
);
select results_eq(
    $$ select mrn from public.patient_registrations
        where patient_id = tests.id_of('patients', 'person_three')
        and hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    $$ select 'TSTA-' || to_char(now() at time zone 'UTC', 'YYYY') || '-000003' $$,
    'and A goes on with TSTA-<year>-000003'
);

-- one default pharmacy per hospital -------------------------------------------------------
select throws_ok(
    $$ insert into public.pharmacies (hospital_id, name, is_default)
        values (tests.id_of('hospitals', 'TSTA'), 'Second', true) $$,
    '23505',
    'duplicate key value violates unique constraint "pharmacies_one_default_per_hospital"',
    'a hospital cannot have a second default pharmacy'
);
select throws_ok(
    $$ update public.pharmacies set is_default = true where id = tests.id_of('pharmacies', 'a_old') $$,
    '23505',
    'duplicate key value violates unique constraint "pharmacies_one_default_per_hospital"',
    'nor can another pharmacy of A be made the default too'
);
select lives_ok(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTA'), 'Second') $$,
    'a hospital can have more pharmacies that are not the default'
);

-- staff rows need a membership of the right role at the same hospital ---------------------
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'b_central'), 'PCI-N') $$,
    '23503',
    'insert or update on table "pharmacists" violates foreign key constraint '
    || '"pharmacists_pharmacy_same_hospital_fkey"',
    'a pharmacist of A cannot work at a pharmacy of B'
);
select lives_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'a_central'), 'PCI-N') $$,
    'a pharmacist of A can work at a pharmacy of A'
);
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('a_nurse'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-N-1') $$,
    '23503',
    'insert or update on table "doctors" violates foreign key constraint "doctors_membership_fkey"',
    'a nurse cannot have a doctor profile'
);
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('b_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-N-2') $$,
    '23503',
    'insert or update on table "doctors" violates foreign key constraint "doctors_membership_fkey"',
    'a doctor of B cannot have a doctor profile at A'
);
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-N-3') $$,
    '23503',
    'insert or update on table "doctors" violates foreign key constraint "doctors_membership_fkey"',
    'a user with no membership cannot have a doctor profile'
);
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTA'), 'patient') $$,
    '23514',
    'new row for relation "staff_memberships" violates check constraint "staff_memberships_not_patient"',
    'patient is not a staff role'
);
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-N-4') $$,
    '23503',
    'insert or update on table "doctors" violates foreign key constraint "doctors_membership_fkey"',
    'a pharmacist cannot have a doctor profile either'
);
select throws_ok(
    $$ update public.doctors set licence_number = 'PMC-A-1001'
        where id = tests.id_of('doctors', 'a_doctor2') $$,
    '23505',
    'duplicate key value violates unique constraint "doctors_licence_unique_per_hospital"',
    'two doctors of a hospital cannot share a licence number'
);

-- care teams: a registered patient and a clinical member of that hospital -----------------
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_pharmacist'), 'doctor') $$,
    '23503',
    'insert or update on table "care_team_members" violates foreign key constraint '
    || '"care_team_members_membership_fkey"',
    'a pharmacist cannot join a care team as a doctor'
);
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_nurse'), 'doctor') $$,
    '23503',
    'insert or update on table "care_team_members" violates foreign key constraint '
    || '"care_team_members_membership_fkey"',
    'a nurse cannot join a care team as a doctor'
);
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('b_doctor'), 'doctor') $$,
    '23503',
    'insert or update on table "care_team_members" violates foreign key constraint '
    || '"care_team_members_membership_fkey"',
    'a doctor of B cannot join a care team at A'
);
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'b_patient3'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_doctor'), 'doctor') $$,
    '23503',
    'insert or update on table "care_team_members" violates foreign key constraint '
    || '"care_team_members_registration_fkey"',
    'a care team at A is only for a patient registered at A'
);
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_pharmacist'), 'pharmacist') $$,
    '23514',
    'new row for relation "care_team_members" violates check constraint "care_team_members_clinical_role"',
    'only doctors and nurses join care teams'
);
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_doctor'), 'doctor') $$,
    '23505',
    'duplicate key value violates unique constraint "care_team_members_one_active_assignment"',
    'a member is on a patient''s care team once at a time'
);
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role, is_primary)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_doctor2'), 'doctor', true) $$,
    '23505',
    'duplicate key value violates unique constraint "care_team_members_one_primary_doctor"',
    'a patient has one primary doctor per hospital'
);
select lives_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_doctor2'), 'doctor') $$,
    'a doctor of A can join the care team of a patient of A'
);

-- membership deactivation is stamped ------------------------------------------------------
select results_eq(
    $$ select is_active, deactivated_at from public.staff_memberships
        where id = tests.id_of('staff_memberships', 'a_cro') $$,
    $$ values (true, null::timestamptz) $$,
    'an active membership has no deactivation time'
);
update public.staff_memberships
set is_active = false
where id = tests.id_of('staff_memberships', 'a_cro');
select results_eq(
    $$ select is_active, deactivated_at = now() from public.staff_memberships
        where id = tests.id_of('staff_memberships', 'a_cro') $$,
    $$ values (false, true) $$,
    'deactivating a membership records when'
);
update public.staff_memberships
set is_active = true
where id = tests.id_of('staff_memberships', 'a_cro');
select results_eq(
    $$ select is_active, deactivated_at from public.staff_memberships
        where id = tests.id_of('staff_memberships', 'a_cro') $$,
    $$ values (true, null::timestamptz) $$,
    'reactivating it clears the deactivation time'
);

-- hospitals -------------------------------------------------------------------------------
select throws_ok(
    $$ update public.hospitals set time_zone = 'Mars/Olympus_Mons'
        where id = tests.id_of('hospitals', 'TSTA') $$,
    '23514',
    'new row for relation "hospitals" violates check constraint "hospitals_time_zone_known"',
    'a hospital''s time zone must be a real one'
);
select lives_ok(
    $$ update public.hospitals set time_zone = 'Asia/Kathmandu' where id = tests.id_of('hospitals', 'TSTA') $$,
    'a real time zone is accepted'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ update public.hospitals set time_zone = 'Asia/Nowhere' where id = tests.id_of('hospitals', 'TSTA') $$,
    '23514',
    'new row for relation "hospitals" violates check constraint "hospitals_time_zone_known"',
    'the time-zone check also holds for an admin through the API'
);
select tests.clear_authentication();
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('tst', 'Lower Case') $$,
    '23514',
    'new row for relation "hospitals" violates check constraint "hospitals_code_format"',
    'a hospital code is upper case (it prefixes MRNs)'
);
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('TSTA', 'Same Code') $$,
    '23505',
    'duplicate key value violates unique constraint "hospitals_code_key"',
    'hospital codes are unique'
);

-- patients --------------------------------------------------------------------------------
select throws_ok(
    $$ update public.patients set date_of_birth = current_date + 1
        where id = tests.id_of('patients', 'a_patient1') $$,
    '23514',
    'new row for relation "patients" violates check constraint "patients_date_of_birth_plausible"',
    'a date of birth cannot be in the future'
);
select throws_ok(
    $$ insert into public.patients (full_name) values ('   ') $$,
    '23514',
    'new row for relation "patients" violates check constraint "patients_full_name_present"',
    'a patient has a name'
);

select * from finish();
rollback;
