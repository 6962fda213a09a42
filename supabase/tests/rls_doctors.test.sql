-- RLS matrix for public.doctors (a doctor's professional profile at a hospital). The staff of a
-- hospital read all its doctors; its patients read the doctors who still work there and are
-- active (to choose one); nobody reads another hospital's doctors. The admin creates, edits and
-- removes them; a doctor edits their own profile, except the licence and the active flag.

begin;
select plan(66);

select tests.create_world();
-- A new doctor of both hospitals, whose doctor profiles the admins are to create.
select tests.create_user('new_doctor');
insert into public.staff_memberships (user_id, hospital_id, role)
values
(tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'doctor'),
(tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTB'), 'doctor');

-- select ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.doctors $$,
    '42501',
    'permission denied for table doctors',
    'anon cannot read doctors (no table privilege)'
);
select tests.act_as('a_patient1');
select set_eq(
    $$ select tests.seen('doctors') $$,
    array['a_doctor', 'a_doctor2'],
    'a patient (a_patient1) sees the doctors working at A, not the revoked one, not those of B'
);
select tests.act_as('a_patient2');
select set_eq(
    $$ select tests.seen('doctors') $$,
    array['a_doctor', 'a_doctor2'],
    'another patient (a_patient2) sees the doctors working at A, not the revoked one, not those of B'
);
select tests.act_as('b_patient3');
select set_eq(
    $$ select tests.seen('doctors') $$,
    array['b_doctor', 'b_doctor2'],
    'a patient of B sees the doctors of B only'
);
select tests.act_as('a_doctor');
select set_eq(
    $$ select tests.seen('doctors') $$,
    array['a_doctor', 'a_doctor2', 'a_revoked_doctor'],
    'a doctor on the care team (a_doctor) sees every doctor of A and none of B'
);
select tests.act_as('a_doctor2');
select set_eq(
    $$ select tests.seen('doctors') $$,
    array['a_doctor', 'a_doctor2', 'a_revoked_doctor'],
    'a doctor of A not on the care team (a_doctor2) sees every doctor of A and none of B'
);
select tests.act_as('a_nurse');
select set_eq(
    $$ select tests.seen('doctors') $$,
    array['a_doctor', 'a_doctor2', 'a_revoked_doctor'],
    'a nurse on the care team (a_nurse) sees every doctor of A and none of B'
);
select tests.act_as('a_pharmacist');
select set_eq(
    $$ select tests.seen('doctors') $$,
    array['a_doctor', 'a_doctor2', 'a_revoked_doctor'],
    'the pharmacist of A sees every doctor of A and none of B'
);
select tests.act_as('a_front_desk');
select set_eq(
    $$ select tests.seen('doctors') $$,
    array['a_doctor', 'a_doctor2', 'a_revoked_doctor'],
    'front desk of A sees every doctor of A and none of B'
);
select tests.act_as('a_cro');
select set_eq(
    $$ select tests.seen('doctors') $$,
    array['a_doctor', 'a_doctor2', 'a_revoked_doctor'],
    'the CRO of A sees every doctor of A and none of B'
);
select tests.act_as('a_admin');
select set_eq(
    $$ select tests.seen('doctors') $$,
    array['a_doctor', 'a_doctor2', 'a_revoked_doctor'],
    'the admin of A sees every doctor of A and none of B'
);
select tests.act_as('b_admin');
select set_eq(
    $$ select tests.seen('doctors') $$,
    array['b_doctor', 'b_doctor2'],
    'the admin of B sees the doctors of B and none of A'
);
select tests.act_as('a_revoked_doctor');
select set_eq(
    $$ select tests.seen('doctors') $$,
    '{}'::text[],
    'a revoked doctor sees no doctor of A, their own profile included'
);
select tests.act_as('nobody');
select set_eq(
    $$ select tests.seen('doctors') $$,
    '{}'::text[],
    'a user with no role sees no doctor'
);
select tests.act_as_service_role();
select set_eq(
    $$ select tests.seen('doctors') $$,
    array['a_doctor', 'a_doctor2', 'a_revoked_doctor', 'b_doctor', 'b_doctor2'],
    'the service role sees every doctor'
);

-- insert ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-9001') $$,
    '42501',
    'permission denied for table doctors',
    'anon cannot create a doctor profile (no insert privilege)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-9001') $$,
    '42501',
    'new row violates row-level security policy for table "doctors"',
    'a patient (a_patient1) cannot create a doctor profile at A'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-9001') $$,
    '42501',
    'new row violates row-level security policy for table "doctors"',
    'another patient (a_patient2) cannot create a doctor profile at A'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-9001') $$,
    '42501',
    'new row violates row-level security policy for table "doctors"',
    'a doctor on the care team (a_doctor) cannot create a doctor profile at A'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-9001') $$,
    '42501',
    'new row violates row-level security policy for table "doctors"',
    'a doctor of A not on the care team (a_doctor2) cannot create a doctor profile at A'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-9001') $$,
    '42501',
    'new row violates row-level security policy for table "doctors"',
    'a nurse on the care team (a_nurse) cannot create a doctor profile at A'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-9001') $$,
    '42501',
    'new row violates row-level security policy for table "doctors"',
    'the pharmacist of A cannot create a doctor profile at A'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-9001') $$,
    '42501',
    'new row violates row-level security policy for table "doctors"',
    'front desk of A cannot create a doctor profile at A'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-9001') $$,
    '42501',
    'new row violates row-level security policy for table "doctors"',
    'the CRO of A cannot create a doctor profile at A'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-9001') $$,
    '42501',
    'new row violates row-level security policy for table "doctors"',
    'a revoked doctor of A cannot create a doctor profile at A'
);
select tests.act_as('nobody');
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-9001') $$,
    '42501',
    'new row violates row-level security policy for table "doctors"',
    'a user with no role cannot create a doctor profile at A'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-9001') $$,
    '42501',
    'new row violates row-level security policy for table "doctors"',
    'the admin of B cannot create a doctor profile at A'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTB'), 'Surgery', 'PMC-B-9001') $$,
    '42501',
    'new row violates row-level security policy for table "doctors"',
    'the admin of A cannot create a doctor profile at B'
);
select isnt_empty(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-9001')
        returning 1 $$,
    'the admin of A can create the profile of a doctor of A'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTB'), 'Surgery', 'PMC-B-9001')
        returning 1 $$,
    'the service role can create a doctor profile anywhere'
);

-- update ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ update public.doctors set bio = 'Bio by anon' where id = tests.id_of('doctors', 'a_doctor') $$,
    '42501',
    'permission denied for table doctors',
    'anon cannot edit a doctor profile (no update privilege)'
);
select tests.act_as('a_doctor');
select isnt_empty(
    $$ update public.doctors set bio = 'Bio by a_doctor' where id = tests.id_of('doctors', 'a_doctor')
        returning 1 $$,
    'a doctor can update their own bio'
);
select throws_ok(
    $$ update public.doctors set licence_number = 'FORGED-1' where id = tests.id_of('doctors', 'a_doctor') $$,
    '42501',
    'only a hospital admin can change a doctor''s licence or active status',
    'a doctor cannot change their own licence number'
);
select throws_ok(
    $$ update public.doctors set is_active = false where id = tests.id_of('doctors', 'a_doctor') $$,
    '42501',
    'only a hospital admin can change a doctor''s licence or active status',
    'a doctor cannot change their own active status'
);
select is_empty(
    $$ update public.doctors set bio = 'Bio by a_doctor' where id = tests.id_of('doctors', 'a_doctor2')
        returning 1 $$,
    'a doctor cannot edit another doctor''s profile'
);
select throws_ok(
    $$ update public.doctors set hospital_id = tests.id_of('hospitals', 'TSTB')
        where id = tests.id_of('doctors', 'a_doctor') $$,
    '42501',
    'permission denied for table doctors',
    'a doctor cannot move their profile to another hospital (no column privilege)'
);
select tests.act_as('a_patient1');
select is_empty(
    $$ update public.doctors set bio = 'Bio by a_patient1' where id = tests.id_of('doctors', 'a_doctor')
        returning 1 $$,
    'a patient (a_patient1) cannot edit the profile of a_doctor'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ update public.doctors set bio = 'Bio by a_patient2' where id = tests.id_of('doctors', 'a_doctor')
        returning 1 $$,
    'another patient (a_patient2) cannot edit the profile of a_doctor'
);
select tests.act_as('a_doctor2');
select is_empty(
    $$ update public.doctors set bio = 'Bio by a_doctor2' where id = tests.id_of('doctors', 'a_doctor')
        returning 1 $$,
    'a doctor of A not on the care team (a_doctor2) cannot edit the profile of a_doctor'
);
select tests.act_as('a_nurse');
select is_empty(
    $$ update public.doctors set bio = 'Bio by a_nurse' where id = tests.id_of('doctors', 'a_doctor')
        returning 1 $$,
    'a nurse on the care team (a_nurse) cannot edit the profile of a_doctor'
);
select tests.act_as('a_pharmacist');
select is_empty(
    $$ update public.doctors set bio = 'Bio by a_pharmacist' where id = tests.id_of('doctors', 'a_doctor')
        returning 1 $$,
    'the pharmacist of A cannot edit the profile of a_doctor'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ update public.doctors set bio = 'Bio by a_front_desk' where id = tests.id_of('doctors', 'a_doctor')
        returning 1 $$,
    'front desk of A cannot edit the profile of a_doctor'
);
select tests.act_as('a_cro');
select is_empty(
    $$ update public.doctors set bio = 'Bio by a_cro' where id = tests.id_of('doctors', 'a_doctor')
        returning 1 $$,
    'the CRO of A cannot edit the profile of a_doctor'
);
select tests.act_as('nobody');
select is_empty(
    $$ update public.doctors set bio = 'Bio by nobody' where id = tests.id_of('doctors', 'a_doctor')
        returning 1 $$,
    'a user with no role cannot edit the profile of a_doctor'
);
select tests.act_as('a_revoked_doctor');
select is_empty(
    $$ update public.doctors set bio = 'Bio by a_revoked_doctor'
        where id = tests.id_of('doctors', 'a_revoked_doctor') returning 1 $$,
    'a revoked doctor can no longer edit their own profile'
);
select tests.act_as('b_admin');
select is_empty(
    $$ update public.doctors set bio = 'Bio by b_admin' where id = tests.id_of('doctors', 'a_doctor')
        returning 1 $$,
    'the admin of B cannot edit a doctor of A'
);
select tests.act_as('a_admin');
select is_empty(
    $$ update public.doctors set bio = 'Bio by a_admin' where id = tests.id_of('doctors', 'b_doctor')
        returning 1 $$,
    'the admin of A cannot edit a doctor of B'
);
select isnt_empty(
    $$ update public.doctors set licence_number = 'PMC-A-1001-R'
        where id = tests.id_of('doctors', 'a_doctor') returning 1 $$,
    'the admin of A can correct the licence of a doctor of A'
);
select tests.act_as_service_role();
select lives_ok(
    $$ update public.doctors set bio = 'Bio by service_role' where id = tests.id_of('doctors', 'b_doctor') $$,
    'the service role can edit any doctor profile (system work)'
);
select lives_ok(
    $$ update public.doctors set licence_number = 'PMC-B-2001-S'
        where id = tests.id_of('doctors', 'b_doctor') $$,
    'the service role can correct a doctor''s licence (system work: staff provisioning)'
);
select tests.clear_authentication();
select results_eq(
    $$ select w.name, d.bio, d.licence_number from public.doctors as d
        join tests.world as w on w.kind = 'doctors' and w.id = d.id
        where w.name in ('a_doctor', 'a_doctor2', 'a_revoked_doctor', 'b_doctor') order by w.name $$,
    $$ values ('a_doctor', 'Bio by a_doctor', 'PMC-A-1001-R'), ('a_doctor2', 'Children', 'PMC-A-1002'),
        ('a_revoked_doctor', 'Heart', 'PMC-A-1003'), ('b_doctor', 'Bio by service_role', 'PMC-B-2001-S') $$,
    'only the allowed edits reached the doctor profiles'
);

-- delete ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'a_doctor2') $$,
    '42501',
    'permission denied for table doctors',
    'anon cannot remove a doctor profile (no delete privilege)'
);
select tests.act_as('a_patient1');
select is_empty(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'a_doctor2') returning 1 $$,
    'a patient (a_patient1) cannot remove the profile of a_doctor2'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'a_doctor2') returning 1 $$,
    'another patient (a_patient2) cannot remove the profile of a_doctor2'
);
select tests.act_as('a_doctor');
select is_empty(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'a_doctor2') returning 1 $$,
    'a doctor on the care team (a_doctor) cannot remove the profile of a_doctor2'
);
select tests.act_as('a_doctor2');
select is_empty(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'a_doctor2') returning 1 $$,
    'a doctor of A not on the care team (a_doctor2) cannot remove the profile of a_doctor2'
);
select tests.act_as('a_nurse');
select is_empty(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'a_doctor2') returning 1 $$,
    'a nurse on the care team (a_nurse) cannot remove the profile of a_doctor2'
);
select tests.act_as('a_pharmacist');
select is_empty(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'a_doctor2') returning 1 $$,
    'the pharmacist of A cannot remove the profile of a_doctor2'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'a_doctor2') returning 1 $$,
    'front desk of A cannot remove the profile of a_doctor2'
);
select tests.act_as('a_cro');
select is_empty(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'a_doctor2') returning 1 $$,
    'the CRO of A cannot remove the profile of a_doctor2'
);
select tests.act_as('a_revoked_doctor');
select is_empty(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'a_doctor2') returning 1 $$,
    'a revoked doctor of A cannot remove the profile of a_doctor2'
);
select tests.act_as('nobody');
select is_empty(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'a_doctor2') returning 1 $$,
    'a user with no role cannot remove the profile of a_doctor2'
);
select tests.act_as('b_admin');
select is_empty(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'a_doctor2') returning 1 $$,
    'the admin of B cannot remove the profile of a_doctor2'
);
select tests.act_as('a_admin');
select is_empty(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'b_doctor2') returning 1 $$,
    'the admin of A cannot remove a doctor of B'
);
select isnt_empty(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'a_doctor2') returning 1 $$,
    'the admin of A can remove the profile of a doctor of A'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ delete from public.doctors where id = tests.id_of('doctors', 'b_doctor2') returning 1 $$,
    'the service role can remove any doctor profile'
);

select * from finish();
rollback;
