-- RLS matrix for public.staff_memberships (who works where, in which role). Staff read the roster
-- of their hospitals; a user always reads their own memberships; patients read none. Nobody
-- but the service role inserts memberships (staff join through provisioning or an invitation
-- they accept: staff_invitations.test.sql); a hospital's admin (de)activates its memberships;
-- nobody changes a membership's login, role or hospital, and memberships are deactivated,
-- never deleted. Deactivating one cuts access on the very next query, even with an access
-- token issued before.
-- Outcomes as in tests.check_matrix: the memberships seen (by login name), 'done', 'none' (the
-- row is hidden), 'denied' (no table or column privilege).

begin;
select plan(247);

select tests.create_world();

-- Reads: staff the roster of their hospitals (revoked colleagues included), everyone their own --
select tests.action('read', $$ select tests.seen('staff_memberships') $$);

select tests.expect('anon', 'denied');
select tests.expect('a_patient1', 'none');
select tests.expect('a_patient2', 'none');
select tests.expect('a_archived', 'none');
select tests.expect('b_patient3', 'none');
select tests.expect(
    'a_doctor', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist, a_revoked_doctor'
);
select tests.expect(
    'a_doctor2', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist, a_revoked_doctor'
);
select tests.expect(
    'a_nurse', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist, a_revoked_doctor'
);
select tests.expect(
    'a_pharmacist', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist, a_revoked_doctor'
);
select tests.expect(
    'a_front_desk', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist, a_revoked_doctor'
);
select tests.expect(
    'a_cro', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist, a_revoked_doctor'
);
select tests.expect(
    'a_admin', 'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist, a_revoked_doctor'
);
select tests.expect('a_revoked_doctor', 'a_revoked_doctor');
select tests.expect('b_doctor', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist');
select tests.expect('b_doctor2', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist');
select tests.expect('b_nurse', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist');
select tests.expect('b_pharmacist', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist');
select tests.expect('b_front_desk', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist');
select tests.expect('b_cro', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist');
select tests.expect('b_admin', 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist');
select tests.expect('nobody', 'none');
select tests.expect(
    'service_role',
    'a_admin, a_cro, a_doctor, a_doctor2, a_front_desk, a_nurse, a_pharmacist, a_revoked_doctor, '
    || 'b_admin, b_cro, b_doctor, b_doctor2, b_front_desk, b_nurse, b_pharmacist'
);
select * from tests.check_matrix('staff_memberships');

-- Adding: only the service role (staff join through provisioning or an accepted invitation),
-- whoever is added, in whatever role, at whichever hospital ------------------------------------
create function pg_temp.add(who text, role text, hospital text)
returns text
language sql
as $$
    select format(
        'insert into public.staff_memberships (user_id, hospital_id, role) '
        || 'values (%s, tests.id_of(''hospitals'', %L), %L) returning ''done''',
        case who when 'self' then 'auth.uid()' else format('tests.user_id(%L)', who) end, hospital, role
    );
$$;
select tests.action('nobody as nurse at TSTA', pg_temp.add('nobody', 'nurse', 'TSTA'));
select tests.action('nobody as doctor at TSTA', pg_temp.add('nobody', 'doctor', 'TSTA'));
select tests.action('nobody as pharmacist at TSTA', pg_temp.add('nobody', 'pharmacist', 'TSTA'));
select tests.action('nobody as front_desk at TSTA', pg_temp.add('nobody', 'front_desk', 'TSTA'));
select tests.action('nobody as cro at TSTA', pg_temp.add('nobody', 'cro', 'TSTA'));
select tests.action('nobody as nurse at TSTB', pg_temp.add('nobody', 'nurse', 'TSTB'));

-- actor, nobody as nurse at TSTA, nobody as doctor at TSTA, nobody as pharmacist at TSTA,
-- nobody as front_desk at TSTA, nobody as cro at TSTA, nobody as nurse at TSTB
select tests.expect('anon', 'denied', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_patient1', 'denied', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_patient2', 'denied', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_doctor', 'denied', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_doctor2', 'denied', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_nurse', 'denied', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_pharmacist', 'denied', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_front_desk', 'denied', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_cro', 'denied', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_admin', 'denied', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_revoked_doctor', 'denied', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('b_admin', 'denied', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('nobody', 'denied', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('service_role', null, null, null, null, null, 'done');
select * from tests.check_matrix('staff_memberships');

select tests.action('self as hospital_admin at TSTA', pg_temp.add('self', 'hospital_admin', 'TSTA'));
select tests.action('self as doctor at TSTA', pg_temp.add('self', 'doctor', 'TSTA'));
select tests.action('self as nurse at TSTA', pg_temp.add('self', 'nurse', 'TSTA'));
select tests.action('a_patient1 as nurse at TSTA', pg_temp.add('a_patient1', 'nurse', 'TSTA'));
select tests.action('b_doctor as doctor at TSTA', pg_temp.add('b_doctor', 'doctor', 'TSTA'));

-- actor, self as hospital_admin at TSTA, self as doctor at TSTA, self as nurse at TSTA,
-- a_patient1 as nurse at TSTA, b_doctor as doctor at TSTA
select tests.expect('anon', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_patient1', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_patient2', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_doctor', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_doctor2', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_nurse', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_pharmacist', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_front_desk', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_cro', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_admin', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_revoked_doctor', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('b_admin', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('nobody', 'denied', 'denied', 'denied', 'denied', 'denied');
select * from tests.check_matrix('staff_memberships');

select results_eq(
    $$ select h.code, m.role::text, m.created_by
        from public.staff_memberships as m
        join public.hospitals as h on h.id = m.hospital_id
        where m.user_id in (tests.user_id('nobody'), tests.user_id('a_patient1'), tests.user_id('b_doctor'))
        order by h.code, m.role $$,
    $$ values ('TSTB', 'doctor', null::uuid), ('TSTB', 'nurse', null::uuid) $$,
    'only the service role added a membership (and b_doctor keeps only theirs at B)'
);

-- (De)activating: the admin of the hospital, the service role --------------------------------
create function pg_temp.set_active(membership text, active boolean)
returns text
language sql
as $$
    select format(
        'update public.staff_memberships set is_active = %L where id = tests.id_of(''staff_memberships'', %L) '
        || 'returning ''done''',
        active, membership
    );
$$;
select tests.action('deactivate a_doctor', pg_temp.set_active('a_doctor', false));
select tests.action('deactivate a_doctor2', pg_temp.set_active('a_doctor2', false));
select tests.action('reactivate a_revoked_doctor', pg_temp.set_active('a_revoked_doctor', true));
select tests.action('deactivate b_doctor2', pg_temp.set_active('b_doctor2', false));
select tests.action('deactivate b_cro', pg_temp.set_active('b_cro', false));

-- actor, deactivate a_doctor, deactivate a_doctor2, reactivate a_revoked_doctor, deactivate b_doctor2,
-- deactivate b_cro
select tests.expect('anon', null, 'denied', null, null, null);
select tests.expect('a_patient1', 'none', null, null, null, null);
select tests.expect('a_patient2', 'none', null, null, null, null);
select tests.expect('a_doctor', null, 'none', null, null, null);
select tests.expect('a_doctor2', 'none', null, null, null, null);
select tests.expect('a_nurse', 'none', null, null, null, null);
select tests.expect('a_pharmacist', 'none', null, null, null, null);
select tests.expect('a_front_desk', 'none', null, null, null, null);
select tests.expect('a_cro', 'none', null, null, null, null);
select tests.expect('nobody', 'none', null, null, null, null);
-- Not even their own.
select tests.expect('a_revoked_doctor', null, null, 'none', null, null);
select tests.expect('b_admin', null, 'none', null, null, null);
select tests.expect('a_admin', null, 'done', null, 'none', null);
select tests.expect('service_role', null, null, null, null, 'done');
select * from tests.check_matrix('staff_memberships');

select results_eq(
    $$ select w.name, m.is_active, m.deactivated_at is not null from public.staff_memberships as m
        join tests.world as w on w.kind = 'staff_memberships' and w.id = m.id where m.is_active = false
        order by w.name $$,
    $$ values ('a_doctor2', false, true), ('a_revoked_doctor', false, true), ('b_cro', false, true) $$,
    'only the deactivations by the admin of A and the service role happened, each with its time recorded'
);

-- A membership's role, hospital and login never change (no column privilege) --------------------
select tests.action('promote a_nurse', $$
    update public.staff_memberships set role = 'hospital_admin' where id = tests.id_of('staff_memberships', 'a_nurse')
    returning 'done'
$$);
select tests.action('move a_nurse to TSTB', $$
    update public.staff_memberships set hospital_id = tests.id_of('hospitals', 'TSTB')
    where id = tests.id_of('staff_memberships', 'a_nurse') returning 'done'
$$);
select tests.action('hand a_nurse''s to a_patient1', $$
    update public.staff_memberships set user_id = tests.user_id('a_patient1')
    where id = tests.id_of('staff_memberships', 'a_nurse') returning 'done'
$$);

-- actor, promote a_nurse, move a_nurse to TSTB, hand a_nurse's to a_patient1
select tests.expect('anon', 'denied', 'denied', 'denied');
select tests.expect('a_patient1', 'denied', 'denied', 'denied');
select tests.expect('a_patient2', 'denied', 'denied', 'denied');
select tests.expect('a_doctor', 'denied', 'denied', 'denied');
select tests.expect('a_doctor2', 'denied', 'denied', 'denied');
select tests.expect('a_nurse', 'denied', 'denied', 'denied');
select tests.expect('a_pharmacist', 'denied', 'denied', 'denied');
select tests.expect('a_front_desk', 'denied', 'denied', 'denied');
select tests.expect('a_cro', 'denied', 'denied', 'denied');
select tests.expect('a_admin', 'denied', 'denied', 'denied');
select tests.expect('a_revoked_doctor', 'denied', 'denied', 'denied');
select tests.expect('b_admin', 'denied', 'denied', 'denied');
select tests.expect('nobody', 'denied', 'denied', 'denied');
select * from tests.check_matrix('staff_memberships');

-- Deleting: nobody but the service role (memberships are deactivated) --------------------------
select tests.action('delete a_doctor', $$
    delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'a_doctor') returning 'done'
$$);
select tests.action('delete b_cro', $$
    delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'b_cro') returning 'done'
$$);

-- actor, delete a_doctor, delete b_cro
select tests.expect('anon', 'denied', null);
select tests.expect('a_patient1', 'denied', null);
select tests.expect('a_patient2', 'denied', null);
select tests.expect('a_doctor', 'denied', null);
select tests.expect('a_doctor2', 'denied', null);
select tests.expect('a_nurse', 'denied', null);
select tests.expect('a_pharmacist', 'denied', null);
select tests.expect('a_front_desk', 'denied', null);
select tests.expect('a_cro', 'denied', null);
select tests.expect('a_admin', 'denied', null);
select tests.expect('a_revoked_doctor', 'denied', null);
select tests.expect('b_admin', 'denied', null);
select tests.expect('nobody', 'denied', null);
select tests.expect('service_role', null, 'done');
select * from tests.check_matrix('staff_memberships');

-- a revoked membership loses access on the very next query --------------------------------
-- The doctor keeps using the access token issued before the revocation (it still claims
-- doctor at A): policies read the membership table, not the token.
select tests.act_as('a_doctor');
select set_config('tests.token_before_revocation', current_setting('request.jwt.claims'), true);
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_patient1'],
    'before the revocation the doctor sees their patient'
);
select tests.act_as('a_admin');
select isnt_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_doctor') returning 1 $$,
    'the admin of A revokes the doctor''s membership'
);
select
    set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', current_setting('tests.token_before_revocation'), true);
select results_eq(
    $$ select auth.jwt() -> 'memberships' -> 0 ->> 'role' $$,
    array['doctor'],
    'the old token still claims the doctor role at A'
);
select set_eq(
    $$ select tests.seen('patients') $$,
    '{}'::text[],
    'on the next query the revoked doctor no longer sees the patient'
);
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    '{}'::text[],
    'nor the patient''s registration'
);
select set_eq(
    $$ select tests.seen('hospitals') $$,
    '{}'::text[],
    'nor hospital A'
);
select set_eq(
    $$ select tests.seen('doctors') $$,
    '{}'::text[],
    'nor the doctors of A'
);
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    array['a_doctor'],
    'nor the roster of A: only their own membership'
);
select is_empty(
    $$ update public.doctors set bio = 'Still here' where id = tests.id_of('doctors', 'a_doctor')
        returning 1 $$,
    'nor can they still edit their doctor profile'
);
select tests.act_as('a_admin');
select isnt_empty(
    $$ update public.staff_memberships set is_active = true
        where id = tests.id_of('staff_memberships', 'a_doctor') returning 1 $$,
    'the admin of A reinstates the doctor'
);
select tests.act_as('a_doctor');
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_patient1'],
    'once reinstated, the doctor sees their patient again'
);

select * from finish();
rollback;
