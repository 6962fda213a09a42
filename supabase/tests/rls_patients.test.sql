-- RLS matrix for public.patients (the person: demographics, phone, emergency contact).
-- A patient reads and edits only their own record, never their phone (it is their sign-in) and
-- never its archiving; a doctor or nurse reads only the patients of their care team; front desk
-- and CRO read the patients registered at their hospital, and front desk corrects them; the
-- admin reads and edits all of them, archived ones included (archived patients are visible to
-- admins only). Registering staff create people (public.register_patient adds the
-- registration in the same transaction). Patients are archived, never deleted.

begin;
select plan(76);

select tests.create_world();

-- select ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.patients $$,
    '42501',
    'permission denied for table patients',
    'anon cannot read patients (no table privilege)'
);
select tests.act_as('a_patient1');
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_patient1'],
    'a patient sees their own record only'
);
select tests.act_as('a_patient2');
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_patient2'],
    'another patient sees their own record only, not a_patient1''s'
);
select tests.act_as('b_patient3');
select set_eq(
    $$ select tests.seen('patients') $$,
    array['b_patient3'],
    'a patient of B sees their own record only'
);
select tests.act_as('a_archived');
select set_eq(
    $$ select tests.seen('patients') $$,
    '{}'::text[],
    'an archived patient no longer sees their record'
);
select tests.act_as('a_doctor');
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_patient1'],
    'a doctor sees the patient of their care team only'
);
select tests.act_as('a_doctor2');
select set_eq(
    $$ select tests.seen('patients') $$,
    '{}'::text[],
    'a doctor with no patients sees no patient, though the hospital has some'
);
select tests.act_as('a_nurse');
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_patient1', 'ab_patient4'],
    'a nurse sees the patients of their care team only'
);
select tests.act_as('a_pharmacist');
select set_eq(
    $$ select tests.seen('patients') $$,
    '{}'::text[],
    'the pharmacist of A sees no patient record'
);
select tests.act_as('a_front_desk');
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_patient1', 'a_patient2', 'ab_patient4'],
    'front desk of A sees the patients registered at A, not the archived one, not the patients of B'
);
select tests.act_as('a_cro');
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_patient1', 'a_patient2', 'ab_patient4'],
    'the CRO of A sees the patients registered at A, not the archived one, not the patients of B'
);
select tests.act_as('a_admin');
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_archived', 'a_patient1', 'a_patient2', 'ab_patient4'],
    'the admin of A sees every patient registered at A, the archived one included, none of B'
);
select tests.act_as('b_admin');
select set_eq(
    $$ select tests.seen('patients') $$,
    array['ab_patient4', 'b_patient3'],
    'the admin of B sees the patients registered at B only'
);
select tests.act_as('b_doctor');
select set_eq(
    $$ select tests.seen('patients') $$,
    array['ab_patient4', 'b_patient3'],
    'a doctor of B sees the patients of their care team at B only'
);
select tests.act_as('a_revoked_doctor');
select set_eq(
    $$ select tests.seen('patients') $$,
    '{}'::text[],
    'a revoked doctor no longer sees the patient of the care team they are still on'
);
select tests.act_as('nobody');
select set_eq(
    $$ select tests.seen('patients') $$,
    '{}'::text[],
    'a user with no role sees no patient'
);
select tests.act_as_service_role();
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_archived', 'a_patient1', 'a_patient2', 'ab_patient4', 'b_patient3'],
    'the service role sees every patient'
);

-- insert ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ insert into public.patients (full_name) values ('Walk-in by anon') $$,
    '42501',
    'permission denied for table patients',
    'anon cannot create a patient (no insert privilege)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ insert into public.patients (full_name) values ('Walk-in by a_patient1') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'a patient (a_patient1) cannot create a patient record'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ insert into public.patients (full_name) values ('Walk-in by a_patient2') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'another patient (a_patient2) cannot create a patient record'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ insert into public.patients (full_name) values ('Walk-in by a_doctor') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'a doctor on the care team (a_doctor) cannot create a patient record'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ insert into public.patients (full_name) values ('Walk-in by a_doctor2') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'a doctor of A not on the care team (a_doctor2) cannot create a patient record'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ insert into public.patients (full_name) values ('Walk-in by a_nurse') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'a nurse on the care team (a_nurse) cannot create a patient record'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ insert into public.patients (full_name) values ('Walk-in by a_pharmacist') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'the pharmacist of A cannot create a patient record'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ insert into public.patients (full_name) values ('Walk-in by a_revoked_doctor') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'a revoked doctor of A cannot create a patient record'
);
select tests.act_as('nobody');
select throws_ok(
    $$ insert into public.patients (full_name) values ('Walk-in by nobody') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'a user with no role cannot create a patient record'
);
select tests.act_as('a_front_desk');
select lives_ok(
    $$ insert into public.patients (full_name) values ('Walk-in by a_front_desk') $$,
    'front desk of A can create a patient record (to register them)'
);
select tests.act_as('a_cro');
select lives_ok(
    $$ insert into public.patients (full_name) values ('Walk-in by a_cro') $$,
    'the CRO of A can create a patient record (to register them)'
);
select tests.act_as('a_admin');
select lives_ok(
    $$ insert into public.patients (full_name) values ('Walk-in by a_admin') $$,
    'the admin of A can create a patient record (to register them)'
);
select tests.act_as('b_admin');
select lives_ok(
    $$ insert into public.patients (full_name) values ('Walk-in by b_admin') $$,
    'the admin of B can create a patient record (to register them)'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.patients (full_name, user_id) values ('Claimed', tests.user_id('nobody')) $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'front desk cannot create a patient already linked to a login'
);
select throws_ok(
    $$ insert into public.patients (full_name, deleted_at) values ('Archived at birth', now()) $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'front desk cannot create an archived patient'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ insert into public.patients (full_name) values ('Walk-in by service_role') returning 1 $$,
    'the service role can create a patient record'
);
select tests.clear_authentication();
select results_eq(
    $$ select full_name from public.patients where full_name like 'Walk-in by %' order by full_name $$,
    $$ values ('Walk-in by a_admin'), ('Walk-in by a_cro'), ('Walk-in by a_front_desk'),
        ('Walk-in by b_admin'),
        ('Walk-in by service_role') $$,
    'only registering staff and the service role created patients'
);

-- update ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ update public.patients set city = 'Set by anon' where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'anon cannot edit a patient (no update privilege)'
);
select tests.act_as('a_patient1');
select isnt_empty(
    $$ update public.patients
        set emergency_contact_name = 'Set by a_patient1', emergency_contact_phone = '+919900000001'
        where id = tests.id_of('patients', 'a_patient1') returning 1 $$,
    'a patient can change their emergency contact'
);
select throws_ok(
    $$ update public.patients set phone = '+919811111111' where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'patients cannot change their phone number on their record',
    'a patient cannot change their own phone number'
);
select throws_ok(
    $$ update public.patients set deleted_at = now() where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'a patient cannot erase their own record through the API'
);
select throws_ok(
    $$ update public.patients set user_id = tests.user_id('nobody')
        where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'a patient cannot hand their record to another login (no column privilege)'
);
select is_empty(
    $$ update public.patients set city = 'Set by a_patient1'
        where id = tests.id_of('patients', 'a_patient2') returning 1 $$,
    'a patient cannot edit another patient''s record'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ update public.patients set city = 'Set by a_patient2'
        where id = tests.id_of('patients', 'a_patient1') returning 1 $$,
    'another patient cannot edit a_patient1''s record'
);
select tests.act_as('a_doctor');
select is_empty(
    $$ update public.patients set city = 'Set by a_doctor'
        where id = tests.id_of('patients', 'a_patient1') returning 1 $$,
    'a doctor on the care team (a_doctor) cannot edit the record of a_patient1'
);
select tests.act_as('a_doctor2');
select is_empty(
    $$ update public.patients set city = 'Set by a_doctor2'
        where id = tests.id_of('patients', 'a_patient1') returning 1 $$,
    'a doctor of A not on the care team (a_doctor2) cannot edit the record of a_patient1'
);
select tests.act_as('a_nurse');
select is_empty(
    $$ update public.patients set city = 'Set by a_nurse' where id = tests.id_of('patients', 'a_patient1')
        returning 1 $$,
    'a nurse on the care team (a_nurse) cannot edit the record of a_patient1'
);
select tests.act_as('a_pharmacist');
select is_empty(
    $$ update public.patients set city = 'Set by a_pharmacist'
        where id = tests.id_of('patients', 'a_patient1') returning 1 $$,
    'the pharmacist of A cannot edit the record of a_patient1'
);
select tests.act_as('a_cro');
select is_empty(
    $$ update public.patients set city = 'Set by a_cro' where id = tests.id_of('patients', 'a_patient1')
        returning 1 $$,
    'the CRO of A cannot edit the record of a_patient1'
);
select tests.act_as('a_revoked_doctor');
select is_empty(
    $$ update public.patients set city = 'Set by a_revoked_doctor'
        where id = tests.id_of('patients', 'a_patient1') returning 1 $$,
    'a revoked doctor of A cannot edit the record of a_patient1'
);
select tests.act_as('nobody');
select is_empty(
    $$ update public.patients set city = 'Set by nobody' where id = tests.id_of('patients', 'a_patient1')
        returning 1 $$,
    'a user with no role cannot edit the record of a_patient1'
);
select tests.act_as('b_admin');
select is_empty(
    $$ update public.patients set city = 'Set by b_admin' where id = tests.id_of('patients', 'a_patient1')
        returning 1 $$,
    'the admin of B cannot edit a patient registered only at A'
);
select isnt_empty(
    $$ update public.patients set city = 'Set by b_admin'
        where id = tests.id_of('patients', 'ab_patient4') returning 1 $$,
    'the admin of B can edit a patient registered at B'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ update public.patients set city = 'Set by a_front_desk'
        where id = tests.id_of('patients', 'b_patient3') returning 1 $$,
    'front desk of A cannot edit a patient of B'
);
select is_empty(
    $$ update public.patients set city = 'Set by a_front_desk'
        where id = tests.id_of('patients', 'a_archived') returning 1 $$,
    'front desk of A cannot edit an archived patient'
);
select throws_ok(
    $$ update public.patients set deleted_at = now() where id = tests.id_of('patients', 'a_patient2') $$,
    '42501',
    'permission denied for table patients',
    'front desk of A cannot erase a patient'
);
select isnt_empty(
    $$ update public.patients set phone = '+919800010099' where id = tests.id_of('patients', 'a_patient1')
        returning 1 $$,
    'front desk of A can correct the phone number of a patient of A'
);
select tests.act_as('a_admin');
select is_empty(
    $$ update public.patients set city = 'Set by a_admin' where id = tests.id_of('patients', 'b_patient3')
        returning 1 $$,
    'the admin of A cannot edit a patient of B'
);
select throws_ok(
    $$ update public.patients set deleted_at = now() where id = tests.id_of('patients', 'a_patient2') $$,
    '42501',
    'permission denied for table patients',
    'the admin of A cannot erase a person (archiving is per hospital registration)'
);
select isnt_empty(
    $$ update public.patient_registrations set deleted_at = now()
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') returning 1 $$,
    'the admin of A can archive the registration of a patient of A'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ select 1 from public.patients where id = tests.id_of('patients', 'a_patient2') $$,
    'once archived at A, the patient disappears for the front desk of A'
);
select tests.act_as('a_admin');
select isnt_empty(
    $$ update public.patient_registrations set deleted_at = null
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') returning 1 $$,
    'the admin of A can restore the archived registration'
);
select tests.act_as('a_front_desk');
select isnt_empty(
    $$ select 1 from public.patients where id = tests.id_of('patients', 'a_patient2') $$,
    'once restored, the front desk of A sees the patient again'
);
select tests.act_as('a_admin');
select tests.act_as_service_role();
select lives_ok(
    $$ update public.patients set phone = '+919800020099' where id = tests.id_of('patients', 'b_patient3') $$,
    'the service role can edit any patient, phone included (system work: the sign-in bridge)'
);
select tests.clear_authentication();
select results_eq(
    $$ select w.name, p.phone::text, p.emergency_contact_name, p.city, p.deleted_at is not null
        from public.patients as p join tests.world as w on w.kind = 'patients' and w.id = p.id
        order by w.name $$,
    $$ values
        ('a_archived', '+919800010009', 'Relative of Old Record', null, true),
        ('a_patient1', '+919800010099', 'Set by a_patient1', null, false),
        ('a_patient2', '+919800010002', 'Relative of Baljit Kaur', null, false),
        ('ab_patient4', '+919800030004', 'Relative of Sukhdev Singh', 'Set by b_admin', false),
        ('b_patient3', '+919800020099', 'Relative of Paramjit Kaur', null, false) $$,
    'only the allowed edits reached the patient records'
);

-- delete ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ delete from public.patients where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'anon cannot delete a patient (no delete privilege: patients are archived)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ delete from public.patients where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'a patient (a_patient1) cannot delete a patient (no delete privilege: patients are archived)'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ delete from public.patients where id = tests.id_of('patients', 'a_patient2') $$,
    '42501',
    'permission denied for table patients',
    'another patient (a_patient2) cannot delete a patient (no delete privilege: patients are archived)'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ delete from public.patients where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'a doctor on the care team (a_doctor) cannot delete a patient (no delete privilege: patients are archived)'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ delete from public.patients where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'a doctor of A not on the care team (a_doctor2) cannot delete a patient (no delete privilege: patients '
    || 'are archived)'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ delete from public.patients where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'a nurse on the care team (a_nurse) cannot delete a patient (no delete privilege: patients are archived)'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ delete from public.patients where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'the pharmacist of A cannot delete a patient (no delete privilege: patients are archived)'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ delete from public.patients where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'front desk of A cannot delete a patient (no delete privilege: patients are archived)'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ delete from public.patients where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'the CRO of A cannot delete a patient (no delete privilege: patients are archived)'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ delete from public.patients where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'the admin of A cannot delete a patient (no delete privilege: patients are archived)'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ delete from public.patients where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'the admin of B cannot delete a patient (no delete privilege: patients are archived)'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ delete from public.patients where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'a revoked doctor of A cannot delete a patient (no delete privilege: patients are archived)'
);
select tests.act_as('nobody');
select throws_ok(
    $$ delete from public.patients where id = tests.id_of('patients', 'a_patient1') $$,
    '42501',
    'permission denied for table patients',
    'a user with no role cannot delete a patient (no delete privilege: patients are archived)'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ delete from public.patients where full_name = 'Walk-in by service_role' returning 1 $$,
    'the service role can delete a patient'
);

select * from finish();
rollback;
