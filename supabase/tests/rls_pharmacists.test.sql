-- RLS matrix for public.pharmacists (a pharmacist's record at a pharmacy of their hospital).
-- Seed 000: the pharmacist list is for hospital admins; a pharmacist reads their own record.
-- Only the hospital's admin creates, edits and removes them.

begin;
select plan(62);

select tests.create_world();
-- A new pharmacist of both hospitals, whose records the admins are to create.
select tests.create_user('new_pharmacist');
insert into public.staff_memberships (user_id, hospital_id, role)
values
(tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), 'pharmacist'),
(tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTB'), 'pharmacist');

-- select ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.pharmacists $$,
    '42501',
    'permission denied for table pharmacists',
    'anon cannot read pharmacists (no table privilege)'
);
select tests.act_as('a_pharmacist');
select set_eq(
    $$ select tests.seen('pharmacists') $$,
    array['a_pharmacist'],
    'the pharmacist of A sees their own record only'
);
select tests.act_as('a_admin');
select set_eq(
    $$ select tests.seen('pharmacists') $$,
    array['a_pharmacist'],
    'the admin of A sees the pharmacists of A and none of B'
);
select tests.act_as('b_admin');
select set_eq(
    $$ select tests.seen('pharmacists') $$,
    array['b_pharmacist'],
    'the admin of B sees the pharmacists of B and none of A'
);
select tests.act_as('a_patient1');
select set_eq(
    $$ select tests.seen('pharmacists') $$,
    '{}'::text[],
    'a patient (a_patient1) sees no pharmacist record'
);
select tests.act_as('a_patient2');
select set_eq(
    $$ select tests.seen('pharmacists') $$,
    '{}'::text[],
    'another patient (a_patient2) sees no pharmacist record'
);
select tests.act_as('a_doctor');
select set_eq(
    $$ select tests.seen('pharmacists') $$,
    '{}'::text[],
    'a doctor on the care team (a_doctor) sees no pharmacist record'
);
select tests.act_as('a_doctor2');
select set_eq(
    $$ select tests.seen('pharmacists') $$,
    '{}'::text[],
    'a doctor of A not on the care team (a_doctor2) sees no pharmacist record'
);
select tests.act_as('a_nurse');
select set_eq(
    $$ select tests.seen('pharmacists') $$,
    '{}'::text[],
    'a nurse on the care team (a_nurse) sees no pharmacist record'
);
select tests.act_as('a_front_desk');
select set_eq(
    $$ select tests.seen('pharmacists') $$,
    '{}'::text[],
    'front desk of A sees no pharmacist record'
);
select tests.act_as('a_cro');
select set_eq(
    $$ select tests.seen('pharmacists') $$,
    '{}'::text[],
    'the CRO of A sees no pharmacist record'
);
select tests.act_as('a_revoked_doctor');
select set_eq(
    $$ select tests.seen('pharmacists') $$,
    '{}'::text[],
    'a revoked doctor of A sees no pharmacist record'
);
select tests.act_as('nobody');
select set_eq(
    $$ select tests.seen('pharmacists') $$,
    '{}'::text[],
    'a user with no role sees no pharmacist record'
);
select tests.act_as_service_role();
select set_eq(
    $$ select tests.seen('pharmacists') $$,
    array['a_pharmacist', 'b_pharmacist'],
    'the service role sees every pharmacist'
);

-- insert ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'a_central'), 'PCI-NEW') $$,
    '42501',
    'permission denied for table pharmacists',
    'anon cannot create a pharmacist (no insert privilege)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'a_central'), 'PCI-NEW') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacists"',
    'a patient (a_patient1) cannot create a pharmacist at A'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'a_central'), 'PCI-NEW') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacists"',
    'another patient (a_patient2) cannot create a pharmacist at A'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'a_central'), 'PCI-NEW') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacists"',
    'a doctor on the care team (a_doctor) cannot create a pharmacist at A'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'a_central'), 'PCI-NEW') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacists"',
    'a doctor of A not on the care team (a_doctor2) cannot create a pharmacist at A'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'a_central'), 'PCI-NEW') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacists"',
    'a nurse on the care team (a_nurse) cannot create a pharmacist at A'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'a_central'), 'PCI-NEW') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacists"',
    'the pharmacist of A cannot create a pharmacist at A'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'a_central'), 'PCI-NEW') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacists"',
    'front desk of A cannot create a pharmacist at A'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'a_central'), 'PCI-NEW') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacists"',
    'the CRO of A cannot create a pharmacist at A'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'a_central'), 'PCI-NEW') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacists"',
    'a revoked doctor of A cannot create a pharmacist at A'
);
select tests.act_as('nobody');
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'a_central'), 'PCI-NEW') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacists"',
    'a user with no role cannot create a pharmacist at A'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'a_central'), 'PCI-NEW') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacists"',
    'the admin of B cannot create a pharmacist at A'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTB'), tests.id_of('pharmacies',
        'b_central'), 'PCI-NEW') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacists"',
    'the admin of A cannot create a pharmacist at B'
);
select isnt_empty(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies',
        'a_central'), 'PCI-NEW') returning 1 $$,
    'the admin of A can create a pharmacist at A'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTB'), tests.id_of('pharmacies',
        'b_central'), 'PCI-NEW') returning 1 $$,
    'the service role can create a pharmacist anywhere'
);

-- update ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ update public.pharmacists set licence_number = 'PCI by anon'
        where id = tests.id_of('pharmacists', 'a_pharmacist') $$,
    '42501',
    'permission denied for table pharmacists',
    'anon cannot edit a pharmacist (no update privilege)'
);
select tests.act_as('a_patient1');
select is_empty(
    $$ update public.pharmacists set licence_number = 'PCI by a_patient1'
        where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'a patient (a_patient1) cannot edit the pharmacist of A'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ update public.pharmacists set licence_number = 'PCI by a_patient2'
        where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'another patient (a_patient2) cannot edit the pharmacist of A'
);
select tests.act_as('a_doctor');
select is_empty(
    $$ update public.pharmacists set licence_number = 'PCI by a_doctor'
        where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'a doctor on the care team (a_doctor) cannot edit the pharmacist of A'
);
select tests.act_as('a_doctor2');
select is_empty(
    $$ update public.pharmacists set licence_number = 'PCI by a_doctor2'
        where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'a doctor of A not on the care team (a_doctor2) cannot edit the pharmacist of A'
);
select tests.act_as('a_nurse');
select is_empty(
    $$ update public.pharmacists set licence_number = 'PCI by a_nurse'
        where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'a nurse on the care team (a_nurse) cannot edit the pharmacist of A'
);
select tests.act_as('a_pharmacist');
select is_empty(
    $$ update public.pharmacists set licence_number = 'PCI by a_pharmacist'
        where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'the pharmacist of A cannot edit their own record'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ update public.pharmacists set licence_number = 'PCI by a_front_desk'
        where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'front desk of A cannot edit the pharmacist of A'
);
select tests.act_as('a_cro');
select is_empty(
    $$ update public.pharmacists set licence_number = 'PCI by a_cro'
        where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'the CRO of A cannot edit the pharmacist of A'
);
select tests.act_as('a_revoked_doctor');
select is_empty(
    $$ update public.pharmacists set licence_number = 'PCI by a_revoked_doctor'
        where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'a revoked doctor of A cannot edit the pharmacist of A'
);
select tests.act_as('nobody');
select is_empty(
    $$ update public.pharmacists set licence_number = 'PCI by nobody'
        where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'a user with no role cannot edit the pharmacist of A'
);
select tests.act_as('b_admin');
select is_empty(
    $$ update public.pharmacists set licence_number = 'PCI by b_admin'
        where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'the admin of B cannot edit the pharmacist of A'
);
select tests.act_as('a_admin');
select is_empty(
    $$ update public.pharmacists set licence_number = 'PCI by a_admin'
        where id = tests.id_of('pharmacists', 'b_pharmacist') returning 1 $$,
    'the admin of A cannot edit the pharmacist of B'
);
select throws_ok(
    $$ update public.pharmacists set pharmacy_id = tests.id_of('pharmacies', 'b_central')
        where id = tests.id_of('pharmacists', 'a_pharmacist') $$,
    '23503',
    null,
    'the admin of A cannot post the pharmacist of A to a pharmacy of B'
);
select throws_ok(
    $$ update public.pharmacists set hospital_id = tests.id_of('hospitals', 'TSTB')
        where id = tests.id_of('pharmacists', 'a_pharmacist') $$,
    '42501',
    'permission denied for table pharmacists',
    'the admin of A cannot move a pharmacist to B (no column privilege)'
);
select isnt_empty(
    $$ update public.pharmacists set licence_number = 'PCI by a_admin'
        where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'the admin of A can edit the pharmacist of A'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ update public.pharmacists set licence_number = 'PCI by service_role'
        where id = tests.id_of('pharmacists', 'b_pharmacist') returning 1 $$,
    'the service role can edit any pharmacist'
);
select tests.clear_authentication();
select results_eq(
    $$ select w.name, p.licence_number from public.pharmacists as p
        join tests.world as w on w.kind = 'pharmacists' and w.id = p.id
        order by w.name $$,
    $$ values ('a_pharmacist', 'PCI by a_admin'), ('b_pharmacist', 'PCI by service_role') $$,
    'only the allowed edits reached the pharmacists'
);

-- delete ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'a_pharmacist') $$,
    '42501',
    'permission denied for table pharmacists',
    'anon cannot remove a pharmacist (no delete privilege)'
);
select tests.act_as('a_patient1');
select is_empty(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'a patient (a_patient1) cannot remove the pharmacist of A'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'another patient (a_patient2) cannot remove the pharmacist of A'
);
select tests.act_as('a_doctor');
select is_empty(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'a doctor on the care team (a_doctor) cannot remove the pharmacist of A'
);
select tests.act_as('a_doctor2');
select is_empty(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'a doctor of A not on the care team (a_doctor2) cannot remove the pharmacist of A'
);
select tests.act_as('a_nurse');
select is_empty(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'a nurse on the care team (a_nurse) cannot remove the pharmacist of A'
);
select tests.act_as('a_pharmacist');
select is_empty(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'the pharmacist of A cannot remove the pharmacist of A'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'front desk of A cannot remove the pharmacist of A'
);
select tests.act_as('a_cro');
select is_empty(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'the CRO of A cannot remove the pharmacist of A'
);
select tests.act_as('a_revoked_doctor');
select is_empty(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'a revoked doctor of A cannot remove the pharmacist of A'
);
select tests.act_as('nobody');
select is_empty(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'a user with no role cannot remove the pharmacist of A'
);
select tests.act_as('b_admin');
select is_empty(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'the admin of B cannot remove the pharmacist of A'
);
select tests.act_as('a_admin');
select is_empty(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'b_pharmacist') returning 1 $$,
    'the admin of A cannot remove the pharmacist of B'
);
select isnt_empty(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'a_pharmacist') returning 1 $$,
    'the admin of A can remove the pharmacist of A'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ delete from public.pharmacists where id = tests.id_of('pharmacists', 'b_pharmacist') returning 1 $$,
    'the service role can remove any pharmacist'
);

select * from finish();
rollback;
