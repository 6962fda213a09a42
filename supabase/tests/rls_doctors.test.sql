-- RLS matrix for public.doctors (a doctor's professional profile at a hospital). The staff of a
-- hospital read all its doctors; its patients read the doctors who still work there and are
-- active (to choose one); nobody reads another hospital's doctors. The admin creates, edits and
-- removes them; a doctor edits their own profile, except the licence and the active flag.
-- Outcomes as in tests.check_matrix: the doctors seen, 'done', 'none' (the row is hidden),
-- 'denied' (no table or column privilege), 'refused' (a policy refused the new row).

begin;
select plan(73);

select tests.create_world();
-- A new doctor of both hospitals, whose doctor profiles the admins are to create.
select tests.create_user('new_doctor');
insert into public.staff_memberships (user_id, hospital_id, role)
values
(tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'doctor'),
(tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTB'), 'doctor');

-- Reads: patients see the doctors still working at their hospital, staff all of theirs ---------
select tests.action('read', $$ select tests.seen('doctors') $$);

select tests.expect('anon', 'denied');
select tests.expect('a_patient1', 'a_doctor, a_doctor2');
select tests.expect('a_patient2', 'a_doctor, a_doctor2');
select tests.expect('a_archived', 'none');
select tests.expect('b_patient3', 'b_doctor, b_doctor2');
select tests.expect('a_doctor', 'a_doctor, a_doctor2, a_revoked_doctor');
select tests.expect('a_doctor2', 'a_doctor, a_doctor2, a_revoked_doctor');
select tests.expect('a_nurse', 'a_doctor, a_doctor2, a_revoked_doctor');
select tests.expect('a_pharmacist', 'a_doctor, a_doctor2, a_revoked_doctor');
select tests.expect('a_front_desk', 'a_doctor, a_doctor2, a_revoked_doctor');
select tests.expect('a_cro', 'a_doctor, a_doctor2, a_revoked_doctor');
select tests.expect('a_admin', 'a_doctor, a_doctor2, a_revoked_doctor');
-- Their own profile included.
select tests.expect('a_revoked_doctor', 'none');
select tests.expect('b_doctor', 'b_doctor, b_doctor2');
select tests.expect('b_doctor2', 'b_doctor, b_doctor2');
select tests.expect('b_nurse', 'b_doctor, b_doctor2');
select tests.expect('b_pharmacist', 'b_doctor, b_doctor2');
select tests.expect('b_front_desk', 'b_doctor, b_doctor2');
select tests.expect('b_cro', 'b_doctor, b_doctor2');
select tests.expect('b_admin', 'b_doctor, b_doctor2');
select tests.expect('nobody', 'none');
select tests.expect('service_role', 'a_doctor, a_doctor2, a_revoked_doctor, b_doctor, b_doctor2');
select * from tests.check_matrix('doctors');

-- Creating a doctor profile: the admin of the hospital -----------------------------------------
select tests.action('create new_doctor at TSTA', $$
    insert into public.doctors (user_id, hospital_id, specialty, licence_number)
    values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-9001') returning 'done'
$$);
select tests.action('create new_doctor at TSTB', $$
    insert into public.doctors (user_id, hospital_id, specialty, licence_number)
    values (tests.user_id('new_doctor'), tests.id_of('hospitals', 'TSTB'), 'Surgery', 'PMC-B-9001') returning 'done'
$$);

-- actor, create new_doctor at TSTA, create new_doctor at TSTB
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
select * from tests.check_matrix('doctors');

-- Editing: a doctor their own bio, never their licence, active flag or hospital; the admin
-- their hospital's doctors; the service role any (staff provisioning) ---------------------------
select tests.action('a_doctor''s bio', $$
    update public.doctors set bio = 'Bio by ' || current_setting('tests.actor')
    where id = tests.id_of('doctors', 'a_doctor') returning 'done'
$$);
select tests.action('own bio', $$
    update public.doctors set bio = 'Bio by ' || current_setting('tests.actor') where user_id = auth.uid()
    returning 'done'
$$);
select tests.action('a_doctor''s licence', $$
    update public.doctors set licence_number = 'PMC-A-1001-R' where id = tests.id_of('doctors', 'a_doctor')
    returning 'done'
$$);
select tests.action('deactivate a_doctor', $$
    update public.doctors set is_active = false where id = tests.id_of('doctors', 'a_doctor') returning 'done'
$$);
select tests.action('a_doctor2''s bio', $$
    update public.doctors set bio = 'Bio by ' || current_setting('tests.actor')
    where id = tests.id_of('doctors', 'a_doctor2') returning 'done'
$$);
select tests.action('move a_doctor to TSTB', $$
    update public.doctors set hospital_id = tests.id_of('hospitals', 'TSTB') where id = tests.id_of('doctors', 'a_doctor')
    returning 'done'
$$);
select tests.action('b_doctor''s bio', $$
    update public.doctors set bio = 'Bio by ' || current_setting('tests.actor')
    where id = tests.id_of('doctors', 'b_doctor') returning 'done'
$$);
select tests.action('b_doctor''s licence', $$
    update public.doctors set licence_number = 'PMC-B-2001-S' where id = tests.id_of('doctors', 'b_doctor')
    returning 'done'
$$);

-- actor, a_doctor's bio, own bio, a_doctor's licence, deactivate a_doctor, a_doctor2's bio,
-- move a_doctor to TSTB, b_doctor's bio, b_doctor's licence
select tests.expect('anon', 'denied', null, null, null, null, null, null, null);
select tests.expect('a_patient1', 'none', null, null, null, null, null, null, null);
select tests.expect('a_patient2', 'none', null, null, null, null, null, null, null);
select tests.expect(
    'a_doctor', null, 'done',
    '42501: only a hospital admin can change a doctor''s licence or active status',
    '42501: only a hospital admin can change a doctor''s licence or active status',
    'none', 'denied', null, null
);
select tests.expect('a_doctor2', 'none', null, null, null, null, null, null, null);
select tests.expect('a_nurse', 'none', null, null, null, null, null, null, null);
select tests.expect('a_pharmacist', 'none', null, null, null, null, null, null, null);
select tests.expect('a_front_desk', 'none', null, null, null, null, null, null, null);
select tests.expect('a_cro', 'none', null, null, null, null, null, null, null);
select tests.expect('nobody', 'none', null, null, null, null, null, null, null);
select tests.expect('a_revoked_doctor', null, 'none', null, null, null, null, null, null);
select tests.expect('b_admin', 'none', null, null, null, null, null, null, null);
select tests.expect('a_admin', null, null, 'done', null, null, null, 'none', null);
select tests.expect('service_role', null, null, null, null, null, null, 'done', 'done');
select * from tests.check_matrix('doctors');

select results_eq(
    $$ select w.name, d.bio, d.licence_number from public.doctors as d
        join tests.world as w on w.kind = 'doctors' and w.id = d.id
        where w.name in ('a_doctor', 'a_doctor2', 'a_revoked_doctor', 'b_doctor') order by w.name $$,
    $$ values ('a_doctor', 'Bio by a_doctor', 'PMC-A-1001-R'), ('a_doctor2', 'Children', 'PMC-A-1002'),
        ('a_revoked_doctor', 'Heart', 'PMC-A-1003'), ('b_doctor', 'Bio by service_role', 'PMC-B-2001-S') $$,
    'only the allowed edits reached the doctor profiles'
);

-- Removing a doctor profile: the admin of the hospital, the service role ------------------------
select tests.action('remove a_doctor2', $$
    delete from public.doctors where id = tests.id_of('doctors', 'a_doctor2') returning 'done'
$$);
select tests.action('remove b_doctor2', $$
    delete from public.doctors where id = tests.id_of('doctors', 'b_doctor2') returning 'done'
$$);

-- actor, remove a_doctor2, remove b_doctor2
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
select * from tests.check_matrix('doctors');

select * from finish();
rollback;
