-- A revoked membership loses access on the very next query, for every staff role (the doctor's
-- case is in rls_staff_memberships). Each member keeps using the access token issued before
-- the revocation, which still claims their role at A: policies read the membership table.

begin;
select plan(35);

select tests.create_world();

-- Each member signs in before the revocation; their token is kept for after it.
select tests.act_as('a_front_desk');
select set_config('tests.token_front_desk', current_setting('request.jwt.claims'), true);
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_patient1', 'a_patient2', 'ab_patient4'],
    'before the revocation front desk sees the patients of A'
);
select tests.act_as('a_cro');
select set_config('tests.token_cro', current_setting('request.jwt.claims'), true);
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    array['a_patient1@TSTA', 'a_patient2@TSTA', 'ab_patient4@TSTA'],
    'before the revocation the CRO sees the registrations of A'
);
select tests.act_as('a_nurse');
select set_config('tests.token_nurse', current_setting('request.jwt.claims'), true);
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_patient1', 'ab_patient4'],
    'before the revocation the nurse sees the patients of their care teams'
);
select tests.act_as('a_pharmacist');
select set_config('tests.token_pharmacist', current_setting('request.jwt.claims'), true);
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    array['a_central', 'a_old'],
    'before the revocation the pharmacist sees the pharmacies of A'
);
select tests.act_as('a_admin');
select set_config('tests.token_admin', current_setting('request.jwt.claims'), true);
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_patient1', 'a_patient2', 'ab_patient4', 'a_archived'],
    'before the revocation the admin sees every patient of A, the archived one included'
);

-- The admin of A revokes front desk, CRO, nurse and pharmacist.
select isnt_empty(
    $$ update public.staff_memberships set is_active = false
        where id in (
            tests.id_of('staff_memberships', 'a_front_desk'), tests.id_of('staff_memberships', 'a_cro'),
            tests.id_of('staff_memberships', 'a_nurse'), tests.id_of('staff_memberships', 'a_pharmacist')
        ) returning 1 $$,
    'the admin of A revokes front desk, CRO, nurse and pharmacist'
);

-- front desk ------------------------------------------------------------------------------
select
    set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', current_setting('tests.token_front_desk'), true);
select results_eq(
    $$ select auth.jwt() ->> 'user_role' $$,
    array['front_desk'],
    'the old token still claims front desk'
);
select set_eq(
    $$ select tests.seen('patients') $$,
    '{}'::text[],
    'on the next query revoked front desk sees no patient of A'
);
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    '{}'::text[],
    'nor any registration of A'
);
select throws_ok(
    $$ select public.register_patient(tests.id_of('hospitals', 'TSTA'), 'Walk In', '+919811111111') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'revoked front desk can no longer register a patient at A'
);
select is_empty(
    $$ update public.patients set city = 'Nabha' where id = tests.id_of('patients', 'a_patient2') returning 1 $$,
    'revoked front desk can no longer edit a patient of A'
);
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (
            tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
            tests.user_id('a_doctor2'), 'doctor'
        ) $$,
    '42501',
    'new row violates row-level security policy for table "care_team_members"',
    'revoked front desk can no longer assign a care team at A'
);

-- CRO ---------------------------------------------------------------------------------------
select
    set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', current_setting('tests.token_cro'), true);
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    '{}'::text[],
    'on the next query the revoked CRO sees no registration of A'
);
select set_eq(
    $$ select tests.seen('patients') $$,
    '{}'::text[],
    'nor any patient of A'
);
select throws_ok(
    $$ select public.register_patient(tests.id_of('hospitals', 'TSTA'), 'Walk In', '+919811111112') $$,
    '42501',
    'new row violates row-level security policy for table "patients"',
    'the revoked CRO can no longer register a patient at A'
);

-- nurse -------------------------------------------------------------------------------------
select
    set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', current_setting('tests.token_nurse'), true);
select set_eq(
    $$ select tests.seen('patients') $$,
    '{}'::text[],
    'on the next query the revoked nurse no longer sees the patients of the care teams they are still on'
);
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    '{}'::text[],
    'nor their registrations'
);
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    '{}'::text[],
    'nor the care teams'
);

-- pharmacist --------------------------------------------------------------------------------
select
    set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', current_setting('tests.token_pharmacist'), true);
select set_eq(
    $$ select tests.seen('pharmacies') $$,
    '{}'::text[],
    'on the next query the revoked pharmacist sees no pharmacy of A'
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
    array['a_pharmacist'],
    'nor the roster of A: only their own membership'
);

-- hospital admin: revoked by the platform (service role) ------------------------------------
select tests.act_as_service_role();
select isnt_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_admin') returning 1 $$,
    'the platform revokes the admin of A'
);
select
    set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', current_setting('tests.token_admin'), true);
select results_eq(
    $$ select auth.jwt() ->> 'user_role' $$,
    array['hospital_admin'],
    'the old token still claims hospital admin'
);
select set_eq(
    $$ select tests.seen('patients') $$,
    '{}'::text[],
    'on the next query the revoked admin sees no patient of A'
);
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    array['a_admin'],
    'nor the roster of A: only their own membership'
);
select is_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_doctor2') returning 1 $$,
    'the revoked admin can no longer deactivate staff of A'
);
select is_empty(
    $$ update public.staff_memberships set is_active = true
        where id = tests.id_of('staff_memberships', 'a_admin') returning 1 $$,
    'nor reinstate themselves'
);
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTA'), 'doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'nor add staff to A (nobody inserts memberships)'
);
select throws_ok(
    $$ select public.invite_staff(tests.id_of('hospitals', 'TSTA'), 'nobody@test.carebase', 'doctor',
        '{"specialty": "Surgery", "licence_number": "PMC-A-8888"}') $$,
    '42501',
    'only an active admin of this hospital can manage its staff',
    'nor invite staff to A'
);
select is_empty(
    $$ update public.hospitals set name = 'Renamed' where id = tests.id_of('hospitals', 'TSTA') returning 1 $$,
    'nor rename hospital A'
);
select is_empty(
    $$ update public.patient_registrations set deleted_at = now()
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') returning 1 $$,
    'nor archive a registration at A'
);
select throws_ok(
    $$ select public.unlock_login(tests.user_id('a_doctor')) $$,
    '42501',
    'only a hospital admin of this user''s hospital can unlock their login',
    'nor unlock a staff login of A'
);

-- Reinstated by the platform, the admin's same token works again: access follows the table.
select tests.act_as_service_role();
select isnt_empty(
    $$ update public.staff_memberships set is_active = true
        where id = tests.id_of('staff_memberships', 'a_admin') returning 1 $$,
    'the platform reinstates the admin of A'
);
select
    set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', current_setting('tests.token_admin'), true);
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_patient1', 'a_patient2', 'ab_patient4', 'a_archived'],
    'once reinstated, the admin sees every patient of A again'
);

select * from finish();
rollback;
