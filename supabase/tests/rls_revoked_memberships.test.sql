-- A revoked membership loses access on the very next query, for every staff role (the doctor's
-- case is in rls_staff_memberships). Each member keeps using the access token issued before
-- the revocation, which still claims their role at A: policies read the membership table.
-- Outcomes as in tests.check_matrix: the rows seen, 'done', 'none' (the row is hidden),
-- 'denied on t' (no privilege on table t), 'refused on t' (a policy refused the new row of t).

begin;
select plan(45);

select tests.create_world();

-- Each member signs in before the revocation; their token is kept for after it.
select tests.keep_token(name) from unnest(array['a_front_desk', 'a_cro', 'a_nurse', 'a_pharmacist', 'a_admin']) as name;

select tests.action('patients', $$ select tests.seen('patients') $$);
select tests.action('registrations', $$ select tests.seen('patient_registrations') $$);
select tests.action('pharmacies', $$ select tests.seen('pharmacies') $$);

-- Before the revocation. actor, patients, registrations, pharmacies
select tests.expect(
    'old token of a_front_desk', 'a_patient1, a_patient2, ab_patient4',
    'a_patient1@TSTA, a_patient2@TSTA, ab_patient4@TSTA', 'a_central, a_old'
);
select tests.expect(
    'old token of a_cro', 'a_patient1, a_patient2, ab_patient4',
    'a_patient1@TSTA, a_patient2@TSTA, ab_patient4@TSTA', 'a_central, a_old'
);
-- The patients of their care teams.
select tests.expect(
    'old token of a_nurse', 'a_patient1, ab_patient4', 'a_patient1@TSTA, ab_patient4@TSTA', 'a_central, a_old'
);
select tests.expect('old token of a_pharmacist', 'none', 'none', 'a_central, a_old');
-- The archived patient included.
select tests.expect(
    'old token of a_admin', 'a_archived, a_patient1, a_patient2, ab_patient4',
    'a_archived@TSTA, a_patient1@TSTA, a_patient2@TSTA, ab_patient4@TSTA', 'a_central, a_old'
);
select * from tests.check_matrix(null);

-- The admin of A revokes front desk, CRO, nurse and pharmacist.
select tests.act_as('a_admin');
select isnt_empty(
    $$ update public.staff_memberships set is_active = false
        where id in (
            tests.id_of('staff_memberships', 'a_front_desk'), tests.id_of('staff_memberships', 'a_cro'),
            tests.id_of('staff_memberships', 'a_nurse'), tests.id_of('staff_memberships', 'a_pharmacist')
        ) returning 1 $$,
    'the admin of A revokes front desk, CRO, nurse and pharmacist'
);
select tests.clear_authentication();

-- On the next query, with the old token: nothing of A is seen any more ---------------------------
select tests.action('claimed role', $$ select auth.jwt() ->> 'user_role' $$);
select tests.action('patients', $$ select tests.seen('patients') $$);
select tests.action('registrations', $$ select tests.seen('patient_registrations') $$);
select tests.action('care teams', $$ select tests.seen('care_team_members') $$);
select tests.action('pharmacies', $$ select tests.seen('pharmacies') $$);
select tests.action('hospitals', $$ select tests.seen('hospitals') $$);
select tests.action('doctors', $$ select tests.seen('doctors') $$);
select tests.action('roster', $$ select tests.seen('staff_memberships') $$);

-- actor, claimed role, patients, registrations, care teams, pharmacies, hospitals, doctors, roster
-- (their own membership only)
select tests.expect('old token of a_front_desk', 'front_desk', 'none', 'none', null, null, null, null, null);
select tests.expect('old token of a_cro', null, 'none', 'none', null, null, null, null, null);
-- Not even the care teams they are still listed on.
select tests.expect('old token of a_nurse', null, 'none', 'none', 'none', null, null, null, null);
select tests.expect('old token of a_pharmacist', null, null, null, null, 'none', 'none', 'none', 'a_pharmacist');
select * from tests.check_matrix(null);

-- Nor can they still act at A --------------------------------------------------------------
select tests.action('register a walk-in', $$
    select public.register_patient(
        tests.id_of('hospitals', 'TSTA'), 'Walk In',
        case current_setting('tests.actor') when 'old token of a_cro' then '+919811111112' else '+919811111111' end
    )
$$);
select tests.action('edit a_patient2', $$
    update public.patients set city = 'Nabha' where id = tests.id_of('patients', 'a_patient2') returning 'done'
$$);
select tests.action('assign a_doctor2 to a_patient2', $$
    insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
    values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'), tests.user_id('a_doctor2'), 'doctor')
$$);

-- actor, register a walk-in, edit a_patient2, assign a_doctor2 to a_patient2
select tests.expect('old token of a_front_desk', 'refused on patients', 'none', 'refused on care_team_members');
select tests.expect('old token of a_cro', 'refused on patients', null, null);
select * from tests.check_matrix(null);

-- The hospital admin, revoked by the platform (service role) ---------------------------------
select tests.act_as_service_role();
select isnt_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_admin') returning 1 $$,
    'the platform revokes the admin of A'
);
select tests.clear_authentication();

select tests.action('claimed role', $$ select auth.jwt() ->> 'user_role' $$);
select tests.action('patients', $$ select tests.seen('patients') $$);
select tests.action('roster', $$ select tests.seen('staff_memberships') $$);
select tests.action('deactivate a_doctor2', $$
    update public.staff_memberships set is_active = false where id = tests.id_of('staff_memberships', 'a_doctor2')
    returning 'done'
$$);
select tests.action('reinstate themselves', $$
    update public.staff_memberships set is_active = true where id = tests.id_of('staff_memberships', 'a_admin')
    returning 'done'
$$);
select tests.action('add staff', $$
    insert into public.staff_memberships (user_id, hospital_id, role)
    values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTA'), 'doctor')
$$);
select tests.action('invite staff', $$
    select public.invite_staff(
        tests.id_of('hospitals', 'TSTA'), 'nobody@test.carebase', 'doctor',
        '{"specialty": "Surgery", "licence_number": "PMC-A-8888"}'
    )
$$);
select tests.action('rename TSTA', $$
    update public.hospitals set name = 'Renamed' where id = tests.id_of('hospitals', 'TSTA') returning 'done'
$$);
select tests.action('archive a_patient2@TSTA', $$
    update public.patient_registrations set deleted_at = now()
    where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') returning 'done'
$$);
select tests.action('unlock a_doctor', $$ select public.unlock_login(tests.user_id('a_doctor')) $$);

select tests.expect(
    'old token of a_admin',
    'hospital_admin',
    'none',
    -- Their own membership only.
    'a_admin',
    'none',
    'none',
    -- Nobody inserts memberships.
    'denied on staff_memberships',
    '42501: only an active admin of this hospital can manage its staff',
    'none',
    'none',
    '42501: only a hospital admin of this user''s hospital can unlock their login'
);
select * from tests.check_matrix(null);

-- Reinstated by the platform, the admin's same token works again: access follows the table.
select tests.act_as_service_role();
select isnt_empty(
    $$ update public.staff_memberships set is_active = true
        where id = tests.id_of('staff_memberships', 'a_admin') returning 1 $$,
    'the platform reinstates the admin of A'
);
select tests.clear_authentication();
select tests.action('patients', $$ select tests.seen('patients') $$);
select tests.expect('old token of a_admin', 'a_archived, a_patient1, a_patient2, ab_patient4');
select * from tests.check_matrix(null);

select * from finish();
rollback;
