-- RLS matrix for public.hospitals: who reads, creates, renames and deletes which hospital.
-- Staff and patients see only the hospitals they work at or are registered at; only a hospital's
-- admin renames it (and never its code); nobody but the service role creates or deletes one.

begin;
select plan(63);

select tests.create_world();

-- select ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.hospitals $$,
    '42501',
    'permission denied for table hospitals',
    'anon cannot read hospitals (no table privilege)'
);
select tests.act_as('a_patient1');
select set_eq(
    $$ select tests.seen('hospitals') $$,
    array['TSTA'],
    'a patient (a_patient1) sees hospital A and not hospital B'
);
select tests.act_as('a_patient2');
select set_eq(
    $$ select tests.seen('hospitals') $$,
    array['TSTA'],
    'another patient (a_patient2) sees hospital A and not hospital B'
);
select tests.act_as('a_doctor');
select set_eq(
    $$ select tests.seen('hospitals') $$,
    array['TSTA'],
    'a doctor on the care team (a_doctor) sees hospital A and not hospital B'
);
select tests.act_as('a_doctor2');
select set_eq(
    $$ select tests.seen('hospitals') $$,
    array['TSTA'],
    'a doctor of A not on the care team (a_doctor2) sees hospital A and not hospital B'
);
select tests.act_as('a_nurse');
select set_eq(
    $$ select tests.seen('hospitals') $$,
    array['TSTA'],
    'a nurse on the care team (a_nurse) sees hospital A and not hospital B'
);
select tests.act_as('a_pharmacist');
select set_eq(
    $$ select tests.seen('hospitals') $$,
    array['TSTA'],
    'the pharmacist of A sees hospital A and not hospital B'
);
select tests.act_as('a_front_desk');
select set_eq(
    $$ select tests.seen('hospitals') $$,
    array['TSTA'],
    'front desk of A sees hospital A and not hospital B'
);
select tests.act_as('a_cro');
select set_eq(
    $$ select tests.seen('hospitals') $$,
    array['TSTA'],
    'the CRO of A sees hospital A and not hospital B'
);
select tests.act_as('a_admin');
select set_eq(
    $$ select tests.seen('hospitals') $$,
    array['TSTA'],
    'the admin of A sees hospital A and not hospital B'
);
select tests.act_as('b_admin');
select set_eq(
    $$ select tests.seen('hospitals') $$,
    array['TSTB'],
    'the admin of B sees hospital B and not hospital A'
);
select tests.act_as('b_patient3');
select set_eq(
    $$ select tests.seen('hospitals') $$,
    array['TSTB'],
    'a patient of B sees hospital B and not hospital A'
);
select tests.act_as('a_revoked_doctor');
select set_eq(
    $$ select tests.seen('hospitals') $$,
    '{}'::text[],
    'a revoked doctor no longer sees hospital A'
);
select tests.act_as('a_archived');
select set_eq(
    $$ select tests.seen('hospitals') $$,
    '{}'::text[],
    'an archived patient no longer sees hospital A'
);
select tests.act_as('nobody');
select set_eq(
    $$ select tests.seen('hospitals') $$,
    '{}'::text[],
    'a user with no role sees no hospital'
);
select tests.act_as_service_role();
select set_eq(
    $$ select tests.seen('hospitals') $$,
    array['TSTA', 'TSTB'],
    'the service role sees every hospital'
);

-- insert ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') $$,
    '42501',
    'permission denied for table hospitals',
    'anon cannot create a hospital (no insert privilege)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') $$,
    '42501',
    'permission denied for table hospitals',
    'a patient (a_patient1) cannot create a hospital (no insert privilege)'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') $$,
    '42501',
    'permission denied for table hospitals',
    'another patient (a_patient2) cannot create a hospital (no insert privilege)'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') $$,
    '42501',
    'permission denied for table hospitals',
    'a doctor on the care team (a_doctor) cannot create a hospital (no insert privilege)'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') $$,
    '42501',
    'permission denied for table hospitals',
    'a doctor of A not on the care team (a_doctor2) cannot create a hospital (no insert privilege)'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') $$,
    '42501',
    'permission denied for table hospitals',
    'a nurse on the care team (a_nurse) cannot create a hospital (no insert privilege)'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') $$,
    '42501',
    'permission denied for table hospitals',
    'the pharmacist of A cannot create a hospital (no insert privilege)'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') $$,
    '42501',
    'permission denied for table hospitals',
    'front desk of A cannot create a hospital (no insert privilege)'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') $$,
    '42501',
    'permission denied for table hospitals',
    'the CRO of A cannot create a hospital (no insert privilege)'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') $$,
    '42501',
    'permission denied for table hospitals',
    'a revoked doctor of A cannot create a hospital (no insert privilege)'
);
select tests.act_as('nobody');
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') $$,
    '42501',
    'permission denied for table hospitals',
    'a user with no role cannot create a hospital (no insert privilege)'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') $$,
    '42501',
    'permission denied for table hospitals',
    'the admin of A cannot create a hospital (no insert privilege)'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') $$,
    '42501',
    'permission denied for table hospitals',
    'the admin of B cannot create a hospital (no insert privilege)'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') returning 1 $$,
    'the service role can create a hospital'
);

-- update ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ update public.hospitals set name = 'Renamed by anon' where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'anon cannot rename a hospital (no update privilege)'
);
select tests.act_as('a_patient1');
select is_empty(
    $$ update public.hospitals set name = 'Renamed by a_patient1'
        where id = tests.id_of('hospitals', 'TSTA') returning 1 $$,
    'a patient (a_patient1) cannot rename hospital A'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ update public.hospitals set name = 'Renamed by a_patient2'
        where id = tests.id_of('hospitals', 'TSTA') returning 1 $$,
    'another patient (a_patient2) cannot rename hospital A'
);
select tests.act_as('a_doctor');
select is_empty(
    $$ update public.hospitals set name = 'Renamed by a_doctor'
        where id = tests.id_of('hospitals', 'TSTA') returning 1 $$,
    'a doctor on the care team (a_doctor) cannot rename hospital A'
);
select tests.act_as('a_doctor2');
select is_empty(
    $$ update public.hospitals set name = 'Renamed by a_doctor2'
        where id = tests.id_of('hospitals', 'TSTA') returning 1 $$,
    'a doctor of A not on the care team (a_doctor2) cannot rename hospital A'
);
select tests.act_as('a_nurse');
select is_empty(
    $$ update public.hospitals set name = 'Renamed by a_nurse' where id = tests.id_of('hospitals', 'TSTA')
        returning 1 $$,
    'a nurse on the care team (a_nurse) cannot rename hospital A'
);
select tests.act_as('a_pharmacist');
select is_empty(
    $$ update public.hospitals set name = 'Renamed by a_pharmacist'
        where id = tests.id_of('hospitals', 'TSTA') returning 1 $$,
    'the pharmacist of A cannot rename hospital A'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ update public.hospitals set name = 'Renamed by a_front_desk'
        where id = tests.id_of('hospitals', 'TSTA') returning 1 $$,
    'front desk of A cannot rename hospital A'
);
select tests.act_as('a_cro');
select is_empty(
    $$ update public.hospitals set name = 'Renamed by a_cro' where id = tests.id_of('hospitals', 'TSTA')
        returning 1 $$,
    'the CRO of A cannot rename hospital A'
);
select tests.act_as('a_revoked_doctor');
select is_empty(
    $$ update public.hospitals set name = 'Renamed by a_revoked_doctor'
        where id = tests.id_of('hospitals', 'TSTA') returning 1 $$,
    'a revoked doctor of A cannot rename hospital A'
);
select tests.act_as('nobody');
select is_empty(
    $$ update public.hospitals set name = 'Renamed by nobody' where id = tests.id_of('hospitals', 'TSTA')
        returning 1 $$,
    'a user with no role cannot rename hospital A'
);
select tests.act_as('b_admin');
select is_empty(
    $$ update public.hospitals set name = 'Renamed by b_admin' where id = tests.id_of('hospitals', 'TSTA')
        returning 1 $$,
    'the admin of B cannot rename hospital A'
);
select isnt_empty(
    $$ update public.hospitals set name = 'Renamed by b_admin' where id = tests.id_of('hospitals', 'TSTB')
        returning 1 $$,
    'the admin of B can rename hospital B'
);
select tests.act_as('a_admin');
select is_empty(
    $$ update public.hospitals set name = 'Renamed by a_admin' where id = tests.id_of('hospitals', 'TSTB')
        returning 1 $$,
    'the admin of A cannot rename hospital B'
);
select throws_ok(
    $$ update public.hospitals set code = 'TSTZ' where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'the admin of A cannot change the hospital code, which prefixes its MRNs (no column privilege)'
);
select throws_ok(
    $$ update public.hospitals set is_active = false where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'the admin of A cannot deactivate their hospital (no column privilege)'
);
select isnt_empty(
    $$ update public.hospitals set name = 'Renamed by a_admin' where id = tests.id_of('hospitals', 'TSTA')
        returning 1 $$,
    'the admin of A can rename hospital A'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ update public.hospitals set is_active = false where code = 'TSTX' returning 1 $$,
    'the service role can deactivate a hospital'
);
select tests.clear_authentication();
select results_eq(
    $$ select code, name from public.hospitals where code in ('TSTA', 'TSTB') order by code $$,
    $$ values ('TSTA', 'Renamed by a_admin'), ('TSTB', 'Renamed by b_admin') $$,
    'only each hospital''s own admin renamed it'
);

-- delete ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ delete from public.hospitals where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'anon cannot delete hospital A (no delete privilege)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ delete from public.hospitals where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'a patient (a_patient1) cannot delete hospital A (no delete privilege)'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ delete from public.hospitals where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'another patient (a_patient2) cannot delete hospital A (no delete privilege)'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ delete from public.hospitals where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'a doctor on the care team (a_doctor) cannot delete hospital A (no delete privilege)'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ delete from public.hospitals where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'a doctor of A not on the care team (a_doctor2) cannot delete hospital A (no delete privilege)'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ delete from public.hospitals where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'a nurse on the care team (a_nurse) cannot delete hospital A (no delete privilege)'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ delete from public.hospitals where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'the pharmacist of A cannot delete hospital A (no delete privilege)'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ delete from public.hospitals where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'front desk of A cannot delete hospital A (no delete privilege)'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ delete from public.hospitals where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'the CRO of A cannot delete hospital A (no delete privilege)'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ delete from public.hospitals where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'a revoked doctor of A cannot delete hospital A (no delete privilege)'
);
select tests.act_as('nobody');
select throws_ok(
    $$ delete from public.hospitals where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'a user with no role cannot delete hospital A (no delete privilege)'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ delete from public.hospitals where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'the admin of A cannot delete hospital A (no delete privilege)'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ delete from public.hospitals where id = tests.id_of('hospitals', 'TSTA') $$,
    '42501',
    'permission denied for table hospitals',
    'the admin of B cannot delete hospital A (no delete privilege)'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ delete from public.hospitals where code = 'TSTX' returning 1 $$,
    'the service role can delete a hospital'
);

select * from finish();
rollback;
