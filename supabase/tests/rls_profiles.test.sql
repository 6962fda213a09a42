-- RLS matrix for public.profiles (one per login). Everyone reads their own profile; staff read
-- the profiles of the active staff of their hospitals; patients read the staff directory of the
-- hospitals they are registered at; nobody reads another patient's profile. A person edits their
-- own name, avatar and language; a hospital admin edits the profiles of their own staff; email
-- and phone follow the login and cannot be edited here. Profiles are created and removed with
-- the login, never through the API.
-- Outcomes as in tests.check_matrix: the profiles seen (by login name), 'done', 'none' (the row
-- is hidden), 'denied' (no table or column privilege).

begin;
select plan(131);

select tests.create_world();
-- A login whose profile is missing, for the service role to create.
select tests.create_user('profile_probe');
delete from public.profiles
where id = tests.user_id('profile_probe');

-- Reads: their own profile; staff the active staff of their hospitals (no patient, no revoked
-- colleague, nobody of the other hospital); patients the staff directory of theirs --------------
select tests.action('read', $$ select tests.seen('profiles') $$);

select tests.expect('anon', 'denied');
select tests.expect(
    'a_patient1', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_patient1, a_pharmacist'
);
select tests.expect(
    'a_patient2', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_patient2, a_pharmacist'
);
select tests.expect('a_archived', 'a_archived');
select tests.expect(
    'b_patient3', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_patient3, b_pharmacist'
);
select tests.expect('a_doctor', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist');
select tests.expect('a_doctor2', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist');
select tests.expect('a_nurse', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist');
select tests.expect('a_pharmacist', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist');
select tests.expect('a_front_desk', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist');
select tests.expect('a_cro', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist');
select tests.expect('a_admin', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist');
select tests.expect('a_revoked_doctor', 'a_revoked_doctor');
select tests.expect('b_doctor', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist');
select tests.expect('b_doctor2', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist');
select tests.expect('b_nurse', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist');
select tests.expect('b_pharmacist', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist');
select tests.expect('b_front_desk', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist');
select tests.expect('b_cro', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist');
select tests.expect('b_admin', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist');
select tests.expect('nobody', 'nobody');
select tests.expect(
    'service_role',
    'a_admin, a_archived, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_patient1, a_patient2, a_pharmacist, '
    || 'a_revoked_doctor, b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_patient3, b_pharmacist, nobody'
);
select * from tests.check_matrix('profiles');

-- Creating and deleting: never through the API, only the service role ---------------------------
select tests.action('create profile_probe', $$
    insert into public.profiles (id, full_name) values (tests.user_id('profile_probe'), 'Probe') returning 'done'
$$);
select tests.action('delete own', $$ delete from public.profiles where id = auth.uid() returning 'done' $$);
select tests.action('delete a_doctor', $$
    delete from public.profiles where id = tests.user_id('a_doctor') returning 'done'
$$);
select tests.action('delete profile_probe', $$
    delete from public.profiles where id = tests.user_id('profile_probe') returning 'done'
$$);

-- actor, create profile_probe, delete own, delete a_doctor, delete profile_probe
select tests.expect('anon', 'denied', null, 'denied', null);
select tests.expect('a_patient1', 'denied', 'denied', 'denied', null);
select tests.expect('a_patient2', 'denied', 'denied', 'denied', null);
select tests.expect('a_archived', 'denied', 'denied', 'denied', null);
select tests.expect('b_patient3', 'denied', 'denied', 'denied', null);
select tests.expect('a_doctor', 'denied', 'denied', 'denied', null);
select tests.expect('a_doctor2', 'denied', 'denied', 'denied', null);
select tests.expect('a_nurse', 'denied', 'denied', 'denied', null);
select tests.expect('a_pharmacist', 'denied', 'denied', 'denied', null);
select tests.expect('a_front_desk', 'denied', 'denied', 'denied', null);
select tests.expect('a_cro', 'denied', 'denied', 'denied', null);
select tests.expect('a_admin', 'denied', 'denied', 'denied', null);
select tests.expect('a_revoked_doctor', 'denied', 'denied', 'denied', null);
select tests.expect('b_admin', 'denied', 'denied', 'denied', null);
select tests.expect('nobody', 'denied', 'denied', 'denied', null);
select tests.expect('service_role', 'done', null, null, 'done');
select * from tests.check_matrix('profiles');

-- Editing: a person their own name (never the email or phone, which follow the login); an admin
-- the profiles of their own staff; the service role any -----------------------------------------
select tests.action('own name', $$
    update public.profiles set full_name = 'Renamed by ' || current_setting('tests.actor') where id = auth.uid()
    returning 'done'
$$);
select tests.action('own phone', $$
    update public.profiles set phone = '+919811111111' where id = auth.uid() returning 'done'
$$);
select tests.action('own email', $$
    update public.profiles set email = 'someone@else.test' where id = auth.uid() returning 'done'
$$);
select tests.action('a_doctor''s name', $$
    update public.profiles set full_name = 'Renamed by ' || current_setting('tests.actor')
    where id = tests.user_id('a_doctor') returning 'done'
$$);
select tests.action('a_nurse''s name', $$
    update public.profiles set full_name = 'Renamed by ' || current_setting('tests.actor')
    where id = tests.user_id('a_nurse') returning 'done'
$$);
select tests.action('a_patient1''s name', $$
    update public.profiles set full_name = 'Renamed by ' || current_setting('tests.actor')
    where id = tests.user_id('a_patient1') returning 'done'
$$);
select tests.action('a_patient2''s name', $$
    update public.profiles set full_name = 'Renamed by ' || current_setting('tests.actor')
    where id = tests.user_id('a_patient2') returning 'done'
$$);
select tests.action('a_doctor2''s name', $$
    update public.profiles set full_name = 'Renamed by ' || current_setting('tests.actor')
    where id = tests.user_id('a_doctor2') returning 'done'
$$);
select tests.action('b_nurse''s name', $$
    update public.profiles set full_name = 'Renamed by ' || current_setting('tests.actor')
    where id = tests.user_id('b_nurse') returning 'done'
$$);
select tests.action('b_doctor''s name', $$
    update public.profiles set full_name = 'Renamed by ' || current_setting('tests.actor')
    where id = tests.user_id('b_doctor') returning 'done'
$$);

-- actor, own name, own phone, own email, the name of: a_doctor, a_nurse, a_patient1, a_patient2,
-- a_doctor2, b_nurse, b_doctor
select tests.expect('anon', 'denied', 'denied', 'denied', 'denied', null, null, null, null, null, null);
select tests.expect('a_patient1', 'done', 'denied', 'denied', 'none', null, null, null, null, null, null);
select tests.expect('a_patient2', null, 'denied', 'denied', 'none', null, 'none', null, null, null, null);
select tests.expect('b_patient3', null, 'denied', 'denied', 'none', null, null, null, null, null, null);
select tests.expect('a_doctor', 'done', 'denied', 'denied', null, 'none', 'none', null, null, null, null);
select tests.expect('a_doctor2', 'done', 'denied', 'denied', 'none', null, null, null, null, null, null);
select tests.expect('a_nurse', 'done', 'denied', 'denied', 'none', null, 'none', null, null, null, null);
select tests.expect('a_pharmacist', 'done', 'denied', 'denied', 'none', null, null, null, null, null, null);
select tests.expect('a_front_desk', 'done', 'denied', 'denied', 'none', null, 'none', null, null, null, null);
select tests.expect('a_cro', 'done', 'denied', 'denied', 'none', null, 'none', null, null, null, null);
select tests.expect('a_admin', null, 'denied', 'denied', null, 'done', 'none', 'none', null, 'none', null);
select tests.expect('a_revoked_doctor', 'done', 'denied', 'denied', 'none', null, null, null, null, null, null);
select tests.expect('b_admin', null, 'denied', 'denied', 'none', null, null, null, 'none', null, null);
select tests.expect('nobody', 'done', 'denied', 'denied', 'none', null, null, null, null, null, null);
select tests.expect('service_role', null, null, null, null, null, null, null, null, null, 'done');
select * from tests.check_matrix('profiles');

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

select * from finish();
rollback;
