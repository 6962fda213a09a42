-- RLS matrix for public.profiles (one per login). Everyone reads their own profile; staff read
-- the profiles of the active staff of their hospitals; patients read the staff directory of the
-- hospitals they are registered at; nobody reads another patient's profile. A person edits their
-- own name, avatar and language; a hospital admin edits the profiles of their own staff; email
-- and phone follow the login and cannot be edited here. Profiles are created and removed with
-- the login, never through the API.

begin;
select plan(71);

select tests.create_world();
-- A login whose profile is missing, for the service role to create.
select tests.create_user('profile_probe');
delete from public.profiles
where id = tests.user_id('profile_probe');

-- select ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.profiles $$,
    '42501',
    'permission denied for table profiles',
    'anon cannot read profiles (no table privilege)'
);
select tests.act_as('a_patient1');
select set_eq(
    $$ select tests.seen('profiles') $$,
    array[
        'a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_patient1',
        'a_pharmacist'
    ],
    'a patient (a_patient1) sees their own profile and the active staff of A, no other patient, nobody of B'
);
select tests.act_as('a_patient2');
select set_eq(
    $$ select tests.seen('profiles') $$,
    array[
        'a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_patient2',
        'a_pharmacist'
    ],
    'another patient (a_patient2) sees their own profile and the active staff of A, no other patient, nobody of B'
);
select tests.act_as('b_patient3');
select set_eq(
    $$ select tests.seen('profiles') $$,
    array[
        'b_admin', 'b_cro', 'b_doctor', 'b_doctor2', 'b_front_desk', 'b_nurse', 'b_patient3',
        'b_pharmacist'
    ],
    'a patient of B sees their own profile and the active staff of B only'
);
select tests.act_as('a_doctor');
select set_eq(
    $$ select tests.seen('profiles') $$,
    array['a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist'],
    'a doctor on the care team (a_doctor) sees the active staff of A only: no patient, no revoked colleague, '
    || 'nobody of B'
);
select tests.act_as('a_doctor2');
select set_eq(
    $$ select tests.seen('profiles') $$,
    array['a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist'],
    'a doctor of A not on the care team (a_doctor2) sees the active staff of A only: no patient, no revoked '
    || 'colleague, nobody of B'
);
select tests.act_as('a_nurse');
select set_eq(
    $$ select tests.seen('profiles') $$,
    array['a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist'],
    'a nurse on the care team (a_nurse) sees the active staff of A only: no patient, no revoked colleague, '
    || 'nobody of B'
);
select tests.act_as('a_pharmacist');
select set_eq(
    $$ select tests.seen('profiles') $$,
    array['a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist'],
    'the pharmacist of A sees the active staff of A only: no patient, no revoked colleague, nobody of B'
);
select tests.act_as('a_front_desk');
select set_eq(
    $$ select tests.seen('profiles') $$,
    array['a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist'],
    'front desk of A sees the active staff of A only: no patient, no revoked colleague, nobody of B'
);
select tests.act_as('a_cro');
select set_eq(
    $$ select tests.seen('profiles') $$,
    array['a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist'],
    'the CRO of A sees the active staff of A only: no patient, no revoked colleague, nobody of B'
);
select tests.act_as('a_admin');
select set_eq(
    $$ select tests.seen('profiles') $$,
    array['a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist'],
    'the admin of A sees the active staff of A only: no patient, no revoked colleague, nobody of B'
);
select tests.act_as('b_admin');
select set_eq(
    $$ select tests.seen('profiles') $$,
    array['b_admin', 'b_cro', 'b_doctor', 'b_doctor2', 'b_front_desk', 'b_nurse', 'b_pharmacist'],
    'the admin of B sees the active staff of B only'
);
select tests.act_as('a_revoked_doctor');
select set_eq(
    $$ select tests.seen('profiles') $$,
    array['a_revoked_doctor'],
    'a revoked doctor sees only their own profile'
);
select tests.act_as('nobody');
select set_eq(
    $$ select tests.seen('profiles') $$,
    array['nobody'],
    'a user with no role sees only their own profile'
);
select tests.act_as_service_role();
select set_eq(
    $$ select tests.seen('profiles') $$,
    array[
        'a_admin', 'a_archived', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse',
        'a_patient1', 'a_patient2', 'a_pharmacist', 'a_revoked_doctor', 'b_admin', 'b_cro', 'b_doctor',
        'b_doctor2', 'b_front_desk', 'b_nurse', 'b_patient3', 'b_pharmacist', 'nobody'
    ],
    'the service role sees every profile'
);

-- insert ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe') $$,
    '42501',
    'permission denied for table profiles',
    'anon cannot create a profile (no insert privilege)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe') $$,
    '42501',
    'permission denied for table profiles',
    'a patient (a_patient1) cannot create a profile (no insert privilege)'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe') $$,
    '42501',
    'permission denied for table profiles',
    'another patient (a_patient2) cannot create a profile (no insert privilege)'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe') $$,
    '42501',
    'permission denied for table profiles',
    'a doctor on the care team (a_doctor) cannot create a profile (no insert privilege)'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe') $$,
    '42501',
    'permission denied for table profiles',
    'a doctor of A not on the care team (a_doctor2) cannot create a profile (no insert privilege)'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe') $$,
    '42501',
    'permission denied for table profiles',
    'a nurse on the care team (a_nurse) cannot create a profile (no insert privilege)'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe') $$,
    '42501',
    'permission denied for table profiles',
    'the pharmacist of A cannot create a profile (no insert privilege)'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe') $$,
    '42501',
    'permission denied for table profiles',
    'front desk of A cannot create a profile (no insert privilege)'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe') $$,
    '42501',
    'permission denied for table profiles',
    'the CRO of A cannot create a profile (no insert privilege)'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe') $$,
    '42501',
    'permission denied for table profiles',
    'the admin of A cannot create a profile (no insert privilege)'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe') $$,
    '42501',
    'permission denied for table profiles',
    'the admin of B cannot create a profile (no insert privilege)'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe') $$,
    '42501',
    'permission denied for table profiles',
    'a revoked doctor of A cannot create a profile (no insert privilege)'
);
select tests.act_as('nobody');
select throws_ok(
    $$ insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe') $$,
    '42501',
    'permission denied for table profiles',
    'a user with no role cannot create a profile (no insert privilege)'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe')
        returning 1 $$,
    'the service role can create a missing profile'
);

-- update ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ update public.profiles set full_name = 'Renamed by anon' where id = tests.user_id('a_doctor') $$,
    '42501',
    'permission denied for table profiles',
    'anon cannot edit a profile (no update privilege)'
);
select tests.act_as('a_patient1');
select isnt_empty(
    $$ update public.profiles set full_name = 'Renamed by a_patient1'
        where id = tests.user_id('a_patient1') returning 1 $$,
    'a patient can change their own name'
);
select is_empty(
    $$ update public.profiles set full_name = 'Renamed by a_patient1' where id = tests.user_id('a_doctor')
        returning 1 $$,
    'a patient cannot edit the profile of a doctor they can see'
);
select throws_ok(
    $$ update public.profiles set phone = '+919811111111' where id = tests.user_id('a_patient1') $$,
    '42501',
    'permission denied for table profiles',
    'a patient cannot change the phone on their profile: it follows the login (no column privilege)'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ update public.profiles set full_name = 'Renamed by a_patient2'
        where id = tests.user_id('a_patient1') returning 1 $$,
    'another patient cannot edit a_patient1''s profile'
);
select tests.act_as('a_doctor');
select isnt_empty(
    $$ update public.profiles set full_name = 'Renamed by a_doctor' where id = tests.user_id('a_doctor')
        returning 1 $$,
    'a doctor on the care team (a_doctor) can change their own name'
);
select is_empty(
    $$ update public.profiles set full_name = 'Renamed by a_doctor' where id = tests.user_id('a_nurse')
        returning 1 $$,
    'a doctor on the care team (a_doctor) cannot edit the profile of a_nurse'
);
select tests.act_as('a_doctor2');
select isnt_empty(
    $$ update public.profiles set full_name = 'Renamed by a_doctor2' where id = tests.user_id('a_doctor2')
        returning 1 $$,
    'a doctor of A not on the care team (a_doctor2) can change their own name'
);
select is_empty(
    $$ update public.profiles set full_name = 'Renamed by a_doctor2' where id = tests.user_id('a_doctor')
        returning 1 $$,
    'a doctor of A not on the care team (a_doctor2) cannot edit the profile of a_doctor'
);
select tests.act_as('a_nurse');
select isnt_empty(
    $$ update public.profiles set full_name = 'Renamed by a_nurse' where id = tests.user_id('a_nurse')
        returning 1 $$,
    'a nurse on the care team (a_nurse) can change their own name'
);
select is_empty(
    $$ update public.profiles set full_name = 'Renamed by a_nurse' where id = tests.user_id('a_doctor')
        returning 1 $$,
    'a nurse on the care team (a_nurse) cannot edit the profile of a_doctor'
);
select tests.act_as('a_pharmacist');
select isnt_empty(
    $$ update public.profiles set full_name = 'Renamed by a_pharmacist'
        where id = tests.user_id('a_pharmacist') returning 1 $$,
    'the pharmacist of A can change their own name'
);
select is_empty(
    $$ update public.profiles set full_name = 'Renamed by a_pharmacist'
        where id = tests.user_id('a_doctor') returning 1 $$,
    'the pharmacist of A cannot edit the profile of a_doctor'
);
select tests.act_as('a_front_desk');
select isnt_empty(
    $$ update public.profiles set full_name = 'Renamed by a_front_desk'
        where id = tests.user_id('a_front_desk') returning 1 $$,
    'front desk of A can change their own name'
);
select is_empty(
    $$ update public.profiles set full_name = 'Renamed by a_front_desk'
        where id = tests.user_id('a_patient1') returning 1 $$,
    'front desk of A cannot edit the profile of a_patient1'
);
select tests.act_as('a_cro');
select isnt_empty(
    $$ update public.profiles set full_name = 'Renamed by a_cro' where id = tests.user_id('a_cro')
        returning 1 $$,
    'the CRO of A can change their own name'
);
select is_empty(
    $$ update public.profiles set full_name = 'Renamed by a_cro' where id = tests.user_id('a_patient1')
        returning 1 $$,
    'the CRO of A cannot edit the profile of a_patient1'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ update public.profiles set email = 'someone@else.test' where id = tests.user_id('a_doctor') $$,
    '42501',
    'permission denied for table profiles',
    'a doctor cannot change the email on their profile: it follows the login (no column privilege)'
);
select tests.act_as('a_admin');
select isnt_empty(
    $$ update public.profiles set full_name = 'Renamed by a_admin' where id = tests.user_id('a_nurse')
        returning 1 $$,
    'the admin of A can correct the name of a staff member of A'
);
select is_empty(
    $$ update public.profiles set full_name = 'Renamed by a_admin' where id = tests.user_id('b_nurse')
        returning 1 $$,
    'the admin of A cannot edit the profile of a staff member of B'
);
select is_empty(
    $$ update public.profiles set full_name = 'Renamed by a_admin' where id = tests.user_id('a_patient2')
        returning 1 $$,
    'the admin of A cannot edit a patient''s profile'
);
select tests.act_as('b_admin');
select is_empty(
    $$ update public.profiles set full_name = 'Renamed by b_admin' where id = tests.user_id('a_doctor2')
        returning 1 $$,
    'the admin of B cannot edit the profile of a staff member of A'
);
select tests.act_as('a_revoked_doctor');
select isnt_empty(
    $$ update public.profiles set full_name = 'Renamed by a_revoked_doctor'
        where id = tests.user_id('a_revoked_doctor') returning 1 $$,
    'a revoked doctor can still change their own name'
);
select is_empty(
    $$ update public.profiles set full_name = 'Renamed by a_revoked_doctor'
        where id = tests.user_id('a_doctor') returning 1 $$,
    'a revoked doctor cannot edit a former colleague''s profile'
);
select tests.act_as('nobody');
select isnt_empty(
    $$ update public.profiles set full_name = 'Renamed by nobody' where id = tests.user_id('nobody')
        returning 1 $$,
    'a user with no role can change their own name'
);
select is_empty(
    $$ update public.profiles set full_name = 'Renamed by nobody' where id = tests.user_id('a_doctor')
        returning 1 $$,
    'a user with no role cannot edit anyone else''s profile'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ update public.profiles set full_name = 'Renamed by service_role'
        where id = tests.user_id('b_doctor') returning 1 $$,
    'the service role can edit any profile'
);
select tests.clear_authentication();
select results_eq(
    $$ select w.name, p.full_name from public.profiles as p join tests.world as w on w.kind = 'profiles'
        and w.id = p.id
        where w.name in ('a_patient1', 'a_doctor', 'a_nurse', 'b_nurse', 'a_patient2', 'a_doctor2',
        'b_doctor')
        order by w.name $$,
    $$ values ('a_doctor', 'Renamed by a_doctor'), ('a_doctor2', 'Renamed by a_doctor2'), ('a_nurse',
        'Renamed by a_admin'),
        ('a_patient1', 'Renamed by a_patient1'), ('a_patient2', 'A Patient2'), ('b_doctor',
        'Renamed by service_role'),
        ('b_nurse', 'B Nurse') $$,
    'each profile was changed only by its owner or its hospital''s admin'
);

-- delete ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ delete from public.profiles where id = tests.user_id('a_doctor') $$,
    '42501',
    'permission denied for table profiles',
    'anon cannot delete a profile (no delete privilege)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ delete from public.profiles where id = tests.user_id('a_patient1') $$,
    '42501',
    'permission denied for table profiles',
    'a patient (a_patient1) cannot delete a profile (no delete privilege)'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ delete from public.profiles where id = tests.user_id('a_patient2') $$,
    '42501',
    'permission denied for table profiles',
    'another patient (a_patient2) cannot delete a profile (no delete privilege)'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ delete from public.profiles where id = tests.user_id('a_doctor') $$,
    '42501',
    'permission denied for table profiles',
    'a doctor on the care team (a_doctor) cannot delete a profile (no delete privilege)'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ delete from public.profiles where id = tests.user_id('a_doctor2') $$,
    '42501',
    'permission denied for table profiles',
    'a doctor of A not on the care team (a_doctor2) cannot delete a profile (no delete privilege)'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ delete from public.profiles where id = tests.user_id('a_nurse') $$,
    '42501',
    'permission denied for table profiles',
    'a nurse on the care team (a_nurse) cannot delete a profile (no delete privilege)'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ delete from public.profiles where id = tests.user_id('a_pharmacist') $$,
    '42501',
    'permission denied for table profiles',
    'the pharmacist of A cannot delete a profile (no delete privilege)'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ delete from public.profiles where id = tests.user_id('a_front_desk') $$,
    '42501',
    'permission denied for table profiles',
    'front desk of A cannot delete a profile (no delete privilege)'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ delete from public.profiles where id = tests.user_id('a_cro') $$,
    '42501',
    'permission denied for table profiles',
    'the CRO of A cannot delete a profile (no delete privilege)'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ delete from public.profiles where id = tests.user_id('a_admin') $$,
    '42501',
    'permission denied for table profiles',
    'the admin of A cannot delete a profile (no delete privilege)'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ delete from public.profiles where id = tests.user_id('b_admin') $$,
    '42501',
    'permission denied for table profiles',
    'the admin of B cannot delete a profile (no delete privilege)'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ delete from public.profiles where id = tests.user_id('a_revoked_doctor') $$,
    '42501',
    'permission denied for table profiles',
    'a revoked doctor of A cannot delete a profile (no delete privilege)'
);
select tests.act_as('nobody');
select throws_ok(
    $$ delete from public.profiles where id = tests.user_id('nobody') $$,
    '42501',
    'permission denied for table profiles',
    'a user with no role cannot delete a profile (no delete privilege)'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ delete from public.profiles where id = tests.user_id('profile_probe') returning 1 $$,
    'the service role can delete a profile'
);

select * from finish();
rollback;
