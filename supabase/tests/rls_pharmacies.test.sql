-- RLS matrix for public.pharmacies. The staff of a hospital read all its pharmacies; its patients
-- read the active ones (to choose where prescriptions go); nobody reads another hospital's. Only
-- the hospital's admin creates, edits and removes them, and never moves one to another hospital.

begin;
select plan(62);

select tests.create_world();

-- select ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.pharmacies $$,
    '42501',
    'permission denied for table pharmacies',
    'anon cannot read pharmacies (no table privilege)'
);
select tests.act_as('a_patient1');
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    array['a_central'],
    'a patient (a_patient1) sees the active pharmacy of A only (not the closed one, none of B)'
);
select tests.act_as('a_patient2');
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    array['a_central'],
    'another patient (a_patient2) sees the active pharmacy of A only (not the closed one, none of B)'
);
select tests.act_as('b_patient3');
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    array['b_central'],
    'a patient of B sees the pharmacy of B only'
);
select tests.act_as('a_doctor');
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    array['a_central', 'a_old'],
    'a doctor on the care team (a_doctor) sees every pharmacy of A and none of B'
);
select tests.act_as('a_doctor2');
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    array['a_central', 'a_old'],
    'a doctor of A not on the care team (a_doctor2) sees every pharmacy of A and none of B'
);
select tests.act_as('a_nurse');
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    array['a_central', 'a_old'],
    'a nurse on the care team (a_nurse) sees every pharmacy of A and none of B'
);
select tests.act_as('a_pharmacist');
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    array['a_central', 'a_old'],
    'the pharmacist of A sees every pharmacy of A and none of B'
);
select tests.act_as('a_front_desk');
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    array['a_central', 'a_old'],
    'front desk of A sees every pharmacy of A and none of B'
);
select tests.act_as('a_cro');
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    array['a_central', 'a_old'],
    'the CRO of A sees every pharmacy of A and none of B'
);
select tests.act_as('a_admin');
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    array['a_central', 'a_old'],
    'the admin of A sees every pharmacy of A and none of B'
);
select tests.act_as('b_admin');
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    array['b_central'],
    'the admin of B sees the pharmacy of B and none of A'
);
select tests.act_as('a_revoked_doctor');
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    '{}'::text[],
    'a revoked doctor sees no pharmacy'
);
select tests.act_as('nobody');
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    '{}'::text[],
    'a user with no role sees no pharmacy'
);
select tests.act_as_service_role();
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    array['a_central', 'a_old', 'b_central'],
    'the service role sees every pharmacy'
);

-- insert ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTA'), 'Probe Pharmacy') $$,
    '42501',
    'permission denied for table pharmacies',
    'anon cannot create a pharmacy (no insert privilege)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTA'), 'Probe Pharmacy') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacies"',
    'a patient (a_patient1) cannot create a pharmacy at A'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTA'), 'Probe Pharmacy') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacies"',
    'another patient (a_patient2) cannot create a pharmacy at A'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTA'), 'Probe Pharmacy') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacies"',
    'a doctor on the care team (a_doctor) cannot create a pharmacy at A'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTA'), 'Probe Pharmacy') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacies"',
    'a doctor of A not on the care team (a_doctor2) cannot create a pharmacy at A'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTA'), 'Probe Pharmacy') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacies"',
    'a nurse on the care team (a_nurse) cannot create a pharmacy at A'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTA'), 'Probe Pharmacy') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacies"',
    'the pharmacist of A cannot create a pharmacy at A'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTA'), 'Probe Pharmacy') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacies"',
    'front desk of A cannot create a pharmacy at A'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTA'), 'Probe Pharmacy') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacies"',
    'the CRO of A cannot create a pharmacy at A'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTA'), 'Probe Pharmacy') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacies"',
    'a revoked doctor of A cannot create a pharmacy at A'
);
select tests.act_as('nobody');
select throws_ok(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTA'), 'Probe Pharmacy') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacies"',
    'a user with no role cannot create a pharmacy at A'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTA'), 'Probe Pharmacy') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacies"',
    'the admin of B cannot create a pharmacy at A'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTB'), 'Probe Pharmacy') $$,
    '42501',
    'new row violates row-level security policy for table "pharmacies"',
    'the admin of A cannot create a pharmacy at B'
);
select isnt_empty(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTA'), 'Probe Pharmacy') returning 1 $$,
    'the admin of A can create a pharmacy at A'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ insert into public.pharmacies (hospital_id, name)
        values (tests.id_of('hospitals', 'TSTB'), 'Probe Pharmacy') returning 1 $$,
    'the service role can create a pharmacy anywhere'
);

-- update ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by anon'
        where id = tests.id_of('pharmacies', 'a_central') $$,
    '42501',
    'permission denied for table pharmacies',
    'anon cannot edit a pharmacy (no update privilege)'
);
select tests.act_as('a_patient1');
select is_empty(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by a_patient1'
        where id = tests.id_of('pharmacies', 'a_central') returning 1 $$,
    'a patient (a_patient1) cannot edit a pharmacy of A'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by a_patient2'
        where id = tests.id_of('pharmacies', 'a_central') returning 1 $$,
    'another patient (a_patient2) cannot edit a pharmacy of A'
);
select tests.act_as('a_doctor');
select is_empty(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by a_doctor'
        where id = tests.id_of('pharmacies', 'a_central') returning 1 $$,
    'a doctor on the care team (a_doctor) cannot edit a pharmacy of A'
);
select tests.act_as('a_doctor2');
select is_empty(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by a_doctor2'
        where id = tests.id_of('pharmacies', 'a_central') returning 1 $$,
    'a doctor of A not on the care team (a_doctor2) cannot edit a pharmacy of A'
);
select tests.act_as('a_nurse');
select is_empty(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by a_nurse'
        where id = tests.id_of('pharmacies', 'a_central') returning 1 $$,
    'a nurse on the care team (a_nurse) cannot edit a pharmacy of A'
);
select tests.act_as('a_pharmacist');
select is_empty(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by a_pharmacist'
        where id = tests.id_of('pharmacies', 'a_central') returning 1 $$,
    'the pharmacist of A cannot edit a pharmacy of A'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by a_front_desk'
        where id = tests.id_of('pharmacies', 'a_central') returning 1 $$,
    'front desk of A cannot edit a pharmacy of A'
);
select tests.act_as('a_cro');
select is_empty(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by a_cro'
        where id = tests.id_of('pharmacies', 'a_central') returning 1 $$,
    'the CRO of A cannot edit a pharmacy of A'
);
select tests.act_as('a_revoked_doctor');
select is_empty(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by a_revoked_doctor'
        where id = tests.id_of('pharmacies', 'a_central') returning 1 $$,
    'a revoked doctor of A cannot edit a pharmacy of A'
);
select tests.act_as('nobody');
select is_empty(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by nobody'
        where id = tests.id_of('pharmacies', 'a_central') returning 1 $$,
    'a user with no role cannot edit a pharmacy of A'
);
select tests.act_as('b_admin');
select is_empty(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by b_admin'
        where id = tests.id_of('pharmacies', 'a_central') returning 1 $$,
    'the admin of B cannot edit a pharmacy of A'
);
select tests.act_as('a_admin');
select is_empty(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by a_admin'
        where id = tests.id_of('pharmacies', 'b_central') returning 1 $$,
    'the admin of A cannot edit a pharmacy of B'
);
select throws_ok(
    $$ update public.pharmacies set hospital_id = tests.id_of('hospitals', 'TSTB')
        where id = tests.id_of('pharmacies', 'a_old') $$,
    '42501',
    'permission denied for table pharmacies',
    'the admin of A cannot move a pharmacy to B (no column privilege)'
);
select isnt_empty(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by a_admin'
        where id = tests.id_of('pharmacies', 'a_central') returning 1 $$,
    'the admin of A can edit a pharmacy of A'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ update public.pharmacies set phone = '+911750000099', name = 'Renamed by service_role'
        where id = tests.id_of('pharmacies', 'b_central') returning 1 $$,
    'the service role can edit any pharmacy'
);
select tests.clear_authentication();
select results_eq(
    $$ select w.name, p.name from public.pharmacies as p join tests.world as w on w.kind = 'pharmacies'
        and w.id = p.id
        order by w.name $$,
    $$ values ('a_central', 'Renamed by a_admin'), ('a_old', 'TSTA Old Pharmacy'), ('b_central',
        'Renamed by service_role') $$,
    'only the allowed edits reached the pharmacies'
);

-- delete ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ delete from public.pharmacies where id = tests.id_of('pharmacies', 'a_old') $$,
    '42501',
    'permission denied for table pharmacies',
    'anon cannot remove a pharmacy (no delete privilege)'
);
select tests.act_as('a_patient1');
select is_empty(
    $$ delete from public.pharmacies where id = tests.id_of('pharmacies', 'a_old') returning 1 $$,
    'a patient (a_patient1) cannot remove a pharmacy of A'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ delete from public.pharmacies where id = tests.id_of('pharmacies', 'a_old') returning 1 $$,
    'another patient (a_patient2) cannot remove a pharmacy of A'
);
select tests.act_as('a_doctor');
select is_empty(
    $$ delete from public.pharmacies where id = tests.id_of('pharmacies', 'a_old') returning 1 $$,
    'a doctor on the care team (a_doctor) cannot remove a pharmacy of A'
);
select tests.act_as('a_doctor2');
select is_empty(
    $$ delete from public.pharmacies where id = tests.id_of('pharmacies', 'a_old') returning 1 $$,
    'a doctor of A not on the care team (a_doctor2) cannot remove a pharmacy of A'
);
select tests.act_as('a_nurse');
select is_empty(
    $$ delete from public.pharmacies where id = tests.id_of('pharmacies', 'a_old') returning 1 $$,
    'a nurse on the care team (a_nurse) cannot remove a pharmacy of A'
);
select tests.act_as('a_pharmacist');
select is_empty(
    $$ delete from public.pharmacies where id = tests.id_of('pharmacies', 'a_old') returning 1 $$,
    'the pharmacist of A cannot remove a pharmacy of A'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ delete from public.pharmacies where id = tests.id_of('pharmacies', 'a_old') returning 1 $$,
    'front desk of A cannot remove a pharmacy of A'
);
select tests.act_as('a_cro');
select is_empty(
    $$ delete from public.pharmacies where id = tests.id_of('pharmacies', 'a_old') returning 1 $$,
    'the CRO of A cannot remove a pharmacy of A'
);
select tests.act_as('a_revoked_doctor');
select is_empty(
    $$ delete from public.pharmacies where id = tests.id_of('pharmacies', 'a_old') returning 1 $$,
    'a revoked doctor of A cannot remove a pharmacy of A'
);
select tests.act_as('nobody');
select is_empty(
    $$ delete from public.pharmacies where id = tests.id_of('pharmacies', 'a_old') returning 1 $$,
    'a user with no role cannot remove a pharmacy of A'
);
select tests.act_as('b_admin');
select is_empty(
    $$ delete from public.pharmacies where id = tests.id_of('pharmacies', 'a_old') returning 1 $$,
    'the admin of B cannot remove a pharmacy of A'
);
select tests.act_as('a_admin');
select is_empty(
    $$ delete from public.pharmacies where hospital_id = tests.id_of('hospitals', 'TSTB') returning 1 $$,
    'the admin of A cannot remove a pharmacy of B'
);
select isnt_empty(
    $$ delete from public.pharmacies where id = tests.id_of('pharmacies', 'a_old') returning 1 $$,
    'the admin of A can remove a pharmacy of A'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ delete from public.pharmacies where name = 'Probe Pharmacy'
        and hospital_id = tests.id_of('hospitals', 'TSTB') returning 1 $$,
    'the service role can remove any pharmacy'
);

select * from finish();
rollback;
