-- RLS matrix for public.pharmacists (a pharmacist's record at a pharmacy of their hospital).
-- Seed 000: the pharmacist list is for hospital admins; a pharmacist reads their own record.
-- Only the hospital's admin creates, edits and removes them.
-- Outcomes as in tests.check_matrix: the pharmacists seen, 'done', 'none' (the row is hidden),
-- 'denied' (no table or column privilege), 'refused' (a policy refused the new row).

begin;
select plan(70);

select tests.create_world();
-- A new pharmacist of both hospitals, whose records the admins are to create.
select tests.create_user('new_pharmacist');
insert into public.staff_memberships (user_id, hospital_id, role)
values
(tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), 'pharmacist'),
(tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTB'), 'pharmacist');

-- Reads: the admin reads their hospital's pharmacists, a pharmacist their own record ----------
select tests.action('read', $$ select tests.seen('pharmacists') $$);

select tests.expect('anon', 'denied');
select tests.expect('a_patient1', 'none');
select tests.expect('a_patient2', 'none');
select tests.expect('a_archived', 'none');
select tests.expect('b_patient3', 'none');
select tests.expect('a_doctor', 'none');
select tests.expect('a_doctor2', 'none');
select tests.expect('a_nurse', 'none');
select tests.expect('a_pharmacist', 'a_pharmacist');
select tests.expect('a_front_desk', 'none');
select tests.expect('a_cro', 'none');
select tests.expect('a_admin', 'a_pharmacist');
select tests.expect('a_revoked_doctor', 'none');
select tests.expect('b_doctor', 'none');
select tests.expect('b_doctor2', 'none');
select tests.expect('b_nurse', 'none');
select tests.expect('b_pharmacist', 'b_pharmacist');
select tests.expect('b_front_desk', 'none');
select tests.expect('b_cro', 'none');
select tests.expect('b_admin', 'b_pharmacist');
select tests.expect('nobody', 'none');
select tests.expect('service_role', 'a_pharmacist, b_pharmacist');
select * from tests.check_matrix('pharmacists');

-- Creating: the admin of the hospital --------------------------------------------------------
select tests.action('create new_pharmacist at TSTA', $$
    insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
    values (
        tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies', 'a_central'),
        'PCI-NEW'
    ) returning 'done'
$$);
select tests.action('create new_pharmacist at TSTB', $$
    insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
    values (
        tests.user_id('new_pharmacist'), tests.id_of('hospitals', 'TSTB'), tests.id_of('pharmacies', 'b_central'),
        'PCI-NEW'
    ) returning 'done'
$$);

-- actor, create new_pharmacist at TSTA, create new_pharmacist at TSTB
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
select * from tests.check_matrix('pharmacists');

-- Editing: the admin of the hospital (not the pharmacist), never across hospitals --------------
select tests.action('edit a_pharmacist', $$
    update public.pharmacists set licence_number = 'PCI by ' || current_setting('tests.actor')
    where id = tests.id_of('pharmacists', 'a_pharmacist') returning 'done'
$$);
select tests.action('edit b_pharmacist', $$
    update public.pharmacists set licence_number = 'PCI by ' || current_setting('tests.actor')
    where id = tests.id_of('pharmacists', 'b_pharmacist') returning 'done'
$$);
select tests.action('post a_pharmacist to b_central', $$
    update public.pharmacists set pharmacy_id = tests.id_of('pharmacies', 'b_central')
    where id = tests.id_of('pharmacists', 'a_pharmacist') returning 'done'
$$);
select tests.action('move a_pharmacist to TSTB', $$
    update public.pharmacists set hospital_id = tests.id_of('hospitals', 'TSTB')
    where id = tests.id_of('pharmacists', 'a_pharmacist') returning 'done'
$$);

-- actor, edit a_pharmacist, edit b_pharmacist, post a_pharmacist to b_central, move a_pharmacist to TSTB
select tests.expect('anon', 'denied', null, null, null);
select tests.expect('a_patient1', 'none', null, null, null);
select tests.expect('a_patient2', 'none', null, null, null);
select tests.expect('a_doctor', 'none', null, null, null);
select tests.expect('a_doctor2', 'none', null, null, null);
select tests.expect('a_nurse', 'none', null, null, null);
-- Not even their own record.
select tests.expect('a_pharmacist', 'none', null, null, null);
select tests.expect('a_front_desk', 'none', null, null, null);
select tests.expect('a_cro', 'none', null, null, null);
select tests.expect('a_revoked_doctor', 'none', null, null, null);
select tests.expect('nobody', 'none', null, null, null);
select tests.expect('b_admin', 'none', null, null, null);
select tests.expect(
    'a_admin', 'done', 'none',
    '23503: insert or update on table "pharmacists" violates foreign key constraint '
    || '"pharmacists_pharmacy_same_hospital_fkey"',
    'denied'
);
select tests.expect('service_role', null, 'done', null, null);
select * from tests.check_matrix('pharmacists');

select results_eq(
    $$ select w.name, p.licence_number from public.pharmacists as p
        join tests.world as w on w.kind = 'pharmacists' and w.id = p.id order by w.name $$,
    $$ values ('a_pharmacist', 'PCI by a_admin'), ('b_pharmacist', 'PCI by service_role') $$,
    'only the allowed edits reached the pharmacists'
);

-- Removing: the admin of the hospital, the service role ---------------------------------------
select tests.action('remove a_pharmacist', $$
    delete from public.pharmacists where id = tests.id_of('pharmacists', 'a_pharmacist') returning 'done'
$$);
select tests.action('remove b_pharmacist', $$
    delete from public.pharmacists where id = tests.id_of('pharmacists', 'b_pharmacist') returning 'done'
$$);

-- actor, remove a_pharmacist, remove b_pharmacist
select tests.expect('anon', 'denied', null);
select tests.expect('a_patient1', 'none', null);
select tests.expect('a_patient2', 'none', null);
select tests.expect('a_doctor', 'none', null);
select tests.expect('a_doctor2', 'none', null);
select tests.expect('a_nurse', 'none', null);
select tests.expect('a_pharmacist', 'none', null);
select tests.expect('a_front_desk', 'none', null);
select tests.expect('a_cro', 'none', null);
select tests.expect('a_revoked_doctor', 'none', null);
select tests.expect('nobody', 'none', null);
select tests.expect('b_admin', 'none', null);
select tests.expect('a_admin', 'done', 'none');
select tests.expect('service_role', null, 'done');
select * from tests.check_matrix('pharmacists');

select * from finish();
rollback;
