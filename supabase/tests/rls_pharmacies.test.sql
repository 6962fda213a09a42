-- RLS matrix for public.pharmacies. The staff of a hospital read all its pharmacies; its patients
-- read the active ones (to choose where prescriptions go); nobody reads another hospital's. Only
-- the hospital's admin creates, edits and removes them, and never moves one to another hospital.
-- Outcomes as in tests.check_matrix: the pharmacies seen (a_central, a_old which is closed,
-- b_central), 'done', 'none' (the row is hidden), 'denied' (no table or column privilege),
-- 'refused' (a policy refused the new row).

begin;
select plan(69);

select tests.create_world();

-- Reads: patients see the active pharmacies of their hospital, staff all of theirs --------------
select tests.action('read', $$ select tests.seen('pharmacies') $$);

select tests.expect('anon', 'denied');
select tests.expect('a_patient1', 'a_central');
select tests.expect('a_patient2', 'a_central');
select tests.expect('a_archived', 'none');
select tests.expect('b_patient3', 'b_central');
select tests.expect('a_doctor', 'a_central, a_old');
select tests.expect('a_doctor2', 'a_central, a_old');
select tests.expect('a_nurse', 'a_central, a_old');
select tests.expect('a_pharmacist', 'a_central, a_old');
select tests.expect('a_front_desk', 'a_central, a_old');
select tests.expect('a_cro', 'a_central, a_old');
select tests.expect('a_admin', 'a_central, a_old');
select tests.expect('a_revoked_doctor', 'none');
select tests.expect('b_doctor', 'b_central');
select tests.expect('b_doctor2', 'b_central');
select tests.expect('b_nurse', 'b_central');
select tests.expect('b_pharmacist', 'b_central');
select tests.expect('b_front_desk', 'b_central');
select tests.expect('b_cro', 'b_central');
select tests.expect('b_admin', 'b_central');
select tests.expect('nobody', 'none');
select tests.expect('service_role', 'a_central, a_old, b_central');
select * from tests.check_matrix('pharmacies');

-- Creating: the admin of the hospital ------------------------------------------------------
select tests.action('create at TSTA', $$
    insert into public.pharmacies (hospital_id, name) values (tests.id_of('hospitals', 'TSTA'), 'Probe Pharmacy')
    returning 'done'
$$);
select tests.action('create at TSTB', $$
    insert into public.pharmacies (hospital_id, name) values (tests.id_of('hospitals', 'TSTB'), 'Probe Pharmacy')
    returning 'done'
$$);

-- actor, create at TSTA, create at TSTB
select tests.expect('anon', 'denied', null);
select tests.expect('a_patient1', 'refused', null);
select tests.expect('a_patient2', 'refused', null);
select tests.expect('a_doctor', 'refused', null);
select tests.expect('a_doctor2', 'refused', null);
select tests.expect('a_nurse', 'refused', null);
select tests.expect('a_pharmacist', 'refused', null);
select tests.expect('a_front_desk', 'refused', null);
select tests.expect('a_cro', 'refused', null);
select tests.expect('a_revoked_doctor', 'refused', null);
select tests.expect('nobody', 'refused', null);
select tests.expect('b_admin', 'refused', null);
select tests.expect('a_admin', 'done', 'refused');
select tests.expect('service_role', null, 'done');
select * from tests.check_matrix('pharmacies');

-- Editing: the admin of the hospital, never moving one to another hospital -------------------
select tests.action('edit a_central', $$
    update public.pharmacies set phone = '+911750000099', name = 'Renamed by ' || current_setting('tests.actor')
    where id = tests.id_of('pharmacies', 'a_central') returning 'done'
$$);
select tests.action('edit b_central', $$
    update public.pharmacies set phone = '+911750000099', name = 'Renamed by ' || current_setting('tests.actor')
    where id = tests.id_of('pharmacies', 'b_central') returning 'done'
$$);
select tests.action('move a_old to TSTB', $$
    update public.pharmacies set hospital_id = tests.id_of('hospitals', 'TSTB')
    where id = tests.id_of('pharmacies', 'a_old') returning 'done'
$$);

-- actor, edit a_central, edit b_central, move a_old to TSTB
select tests.expect('anon', 'denied', null, null);
select tests.expect('a_patient1', 'none', null, null);
select tests.expect('a_patient2', 'none', null, null);
select tests.expect('a_doctor', 'none', null, null);
select tests.expect('a_doctor2', 'none', null, null);
select tests.expect('a_nurse', 'none', null, null);
select tests.expect('a_pharmacist', 'none', null, null);
select tests.expect('a_front_desk', 'none', null, null);
select tests.expect('a_cro', 'none', null, null);
select tests.expect('a_revoked_doctor', 'none', null, null);
select tests.expect('nobody', 'none', null, null);
select tests.expect('b_admin', 'none', null, null);
select tests.expect('a_admin', 'done', 'none', 'denied');
select tests.expect('service_role', null, 'done', null);
select * from tests.check_matrix('pharmacies');

select results_eq(
    $$ select w.name, p.name from public.pharmacies as p
        join tests.world as w on w.kind = 'pharmacies' and w.id = p.id order by w.name $$,
    $$ values ('a_central', 'Renamed by a_admin'), ('a_old', 'TSTA Old Pharmacy'),
        ('b_central', 'Renamed by service_role') $$,
    'only the allowed edits reached the pharmacies'
);

-- Removing: the admin of the hospital, the service role -----------------------------------------
select tests.action('remove a_old', $$
    delete from public.pharmacies where id = tests.id_of('pharmacies', 'a_old') returning 'done'
$$);
select tests.action('remove those of TSTB', $$
    delete from public.pharmacies where hospital_id = tests.id_of('hospitals', 'TSTB') returning 'done'
$$);
select tests.action('remove the probe at TSTB', $$
    delete from public.pharmacies where name = 'Probe Pharmacy' and hospital_id = tests.id_of('hospitals', 'TSTB')
    returning 'done'
$$);

-- actor, remove a_old, remove those of TSTB, remove the probe at TSTB
select tests.expect('anon', 'denied', null, null);
select tests.expect('a_patient1', 'none', null, null);
select tests.expect('a_patient2', 'none', null, null);
select tests.expect('a_doctor', 'none', null, null);
select tests.expect('a_doctor2', 'none', null, null);
select tests.expect('a_nurse', 'none', null, null);
select tests.expect('a_pharmacist', 'none', null, null);
select tests.expect('a_front_desk', 'none', null, null);
select tests.expect('a_cro', 'none', null, null);
select tests.expect('a_revoked_doctor', 'none', null, null);
select tests.expect('nobody', 'none', null, null);
select tests.expect('b_admin', 'none', null, null);
select tests.expect('a_admin', 'done', 'none', null);
select tests.expect('service_role', null, null, 'done');
select * from tests.check_matrix('pharmacies');

select * from finish();
rollback;
