-- RLS matrix for public.staff_memberships (who works where, in which role). Staff read the roster
-- of their hospitals; a user always reads their own memberships; patients read none. Nobody
-- but the service role inserts memberships (staff join through provisioning or an invitation
-- they accept: staff_invitations.test.sql); a hospital's admin (de)activates its memberships;
-- nobody changes a membership's login, role or hospital, and memberships are deactivated,
-- never deleted. Deactivating one cuts access on the very next query, even with an access
-- token issued before.

begin;
select plan(76);

select tests.create_world();

-- select ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.staff_memberships $$,
    '42501',
    'permission denied for table staff_memberships',
    'anon cannot read staff_memberships (no table privilege)'
);
select tests.act_as('a_patient1');
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    '{}'::text[],
    'a patient (a_patient1) sees no staff membership'
);
select tests.act_as('a_patient2');
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    '{}'::text[],
    'another patient (a_patient2) sees no staff membership'
);
select tests.act_as('a_doctor');
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    array[
        'a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist',
        'a_revoked_doctor'
    ],
    'a doctor on the care team (a_doctor) sees the whole roster of A (revoked doctor included) and nothing of B'
);
select tests.act_as('a_doctor2');
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    array[
        'a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist',
        'a_revoked_doctor'
    ],
    'a doctor of A not on the care team (a_doctor2) sees the whole roster of A (revoked doctor included) and '
    || 'nothing of B'
);
select tests.act_as('a_nurse');
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    array[
        'a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist',
        'a_revoked_doctor'
    ],
    'a nurse on the care team (a_nurse) sees the whole roster of A (revoked doctor included) and nothing of B'
);
select tests.act_as('a_pharmacist');
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    array[
        'a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist',
        'a_revoked_doctor'
    ],
    'the pharmacist of A sees the whole roster of A (revoked doctor included) and nothing of B'
);
select tests.act_as('a_front_desk');
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    array[
        'a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist',
        'a_revoked_doctor'
    ],
    'front desk of A sees the whole roster of A (revoked doctor included) and nothing of B'
);
select tests.act_as('a_cro');
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    array[
        'a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist',
        'a_revoked_doctor'
    ],
    'the CRO of A sees the whole roster of A (revoked doctor included) and nothing of B'
);
select tests.act_as('a_admin');
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    array[
        'a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist',
        'a_revoked_doctor'
    ],
    'the admin of A sees the whole roster of A (revoked doctor included) and nothing of B'
);
select tests.act_as('b_admin');
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    array['b_admin', 'b_cro', 'b_doctor', 'b_doctor2', 'b_front_desk', 'b_nurse', 'b_pharmacist'],
    'the admin of B sees the roster of B and nothing of A'
);
select tests.act_as('a_revoked_doctor');
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    array['a_revoked_doctor'],
    'a revoked doctor sees only their own, inactive, membership'
);
select tests.act_as('nobody');
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    '{}'::text[],
    'a user with no role sees no membership'
);
select tests.act_as_service_role();
select set_eq(
    $$ select tests.seen('staff_memberships') $$,
    array[
        'a_admin', 'a_cro', 'a_doctor', 'a_doctor2', 'a_front_desk', 'a_nurse', 'a_pharmacist',
        'a_revoked_doctor', 'b_admin', 'b_cro', 'b_doctor', 'b_doctor2', 'b_front_desk', 'b_nurse',
        'b_pharmacist'
    ],
    'the service role sees every membership'
);

-- insert ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTA'), 'nurse') $$,
    '42501',
    'permission denied for table staff_memberships',
    'anon cannot add a membership (no insert privilege)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('a_patient1'), tests.id_of('hospitals', 'TSTA'), 'doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'a patient cannot make themselves a doctor of A'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTA'), 'nurse') $$,
    '42501',
    'permission denied for table staff_memberships',
    'another patient cannot add staff to A'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('a_doctor'), tests.id_of('hospitals', 'TSTA'), 'hospital_admin') $$,
    '42501',
    'permission denied for table staff_memberships',
    'a doctor cannot make themselves the admin of A'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTA'), 'doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'a doctor cannot add a colleague to A'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTA'), 'nurse') $$,
    '42501',
    'permission denied for table staff_memberships',
    'a nurse cannot add staff to A'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTA'), 'pharmacist') $$,
    '42501',
    'permission denied for table staff_memberships',
    'the pharmacist of A cannot add staff to A'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTA'), 'front_desk') $$,
    '42501',
    'permission denied for table staff_memberships',
    'front desk of A cannot add staff to A'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTA'), 'cro') $$,
    '42501',
    'permission denied for table staff_memberships',
    'the CRO of A cannot add staff to A'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTA'), 'cro') $$,
    '42501',
    'permission denied for table staff_memberships',
    'the admin of B cannot add staff to A'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('a_revoked_doctor'), tests.id_of('hospitals', 'TSTA'), 'nurse') $$,
    '42501',
    'permission denied for table staff_memberships',
    'a revoked doctor cannot give themselves a new role at A'
);
select tests.act_as('nobody');
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTA'), 'hospital_admin') $$,
    '42501',
    'permission denied for table staff_memberships',
    'a user with no role cannot make themselves the admin of A'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTB'), 'nurse') $$,
    '42501',
    'permission denied for table staff_memberships',
    'the admin of A cannot add staff to B'
);
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTA'), 'nurse') $$,
    '42501',
    'permission denied for table staff_memberships',
    'the admin of A cannot attach an existing login to A either (provisioning or an accepted invitation only)'
);
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('a_patient1'), tests.id_of('hospitals', 'TSTA'), 'nurse') $$,
    '42501',
    'permission denied for table staff_memberships',
    'nor a patient''s login'
);
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('b_doctor'), tests.id_of('hospitals', 'TSTA'), 'doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'nor the login of a doctor of B'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('nobody'), tests.id_of('hospitals', 'TSTB'), 'nurse') returning 1 $$,
    'the service role can add a membership anywhere'
);
select tests.clear_authentication();
select results_eq(
    $$ select h.code, m.role::text, m.created_by
        from public.staff_memberships as m
        join public.hospitals as h on h.id = m.hospital_id
        where m.user_id in (tests.user_id('nobody'), tests.user_id('a_patient1'), tests.user_id('b_doctor'))
        order by h.code, m.role $$,
    $$ values ('TSTB', 'doctor', null::uuid), ('TSTB', 'nurse', null::uuid) $$,
    'only the service role added a membership (and b_doctor keeps only theirs at B)'
);

-- update ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_doctor2') $$,
    '42501',
    'permission denied for table staff_memberships',
    'anon cannot deactivate a membership (no update privilege)'
);
select tests.act_as('a_patient1');
select is_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_doctor') returning 1 $$,
    'a patient (a_patient1) cannot deactivate the membership of a_doctor'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_doctor') returning 1 $$,
    'another patient (a_patient2) cannot deactivate the membership of a_doctor'
);
select tests.act_as('a_doctor');
select is_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_doctor2') returning 1 $$,
    'a doctor on the care team (a_doctor) cannot deactivate the membership of a_doctor2'
);
select tests.act_as('a_doctor2');
select is_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_doctor') returning 1 $$,
    'a doctor of A not on the care team (a_doctor2) cannot deactivate the membership of a_doctor'
);
select tests.act_as('a_nurse');
select is_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_doctor') returning 1 $$,
    'a nurse on the care team (a_nurse) cannot deactivate the membership of a_doctor'
);
select tests.act_as('a_pharmacist');
select is_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_doctor') returning 1 $$,
    'the pharmacist of A cannot deactivate the membership of a_doctor'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_doctor') returning 1 $$,
    'front desk of A cannot deactivate the membership of a_doctor'
);
select tests.act_as('a_cro');
select is_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_doctor') returning 1 $$,
    'the CRO of A cannot deactivate the membership of a_doctor'
);
select tests.act_as('nobody');
select is_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_doctor') returning 1 $$,
    'a user with no role cannot deactivate the membership of a_doctor'
);
select tests.act_as('a_revoked_doctor');
select is_empty(
    $$ update public.staff_memberships set is_active = true
        where id = tests.id_of('staff_memberships', 'a_revoked_doctor') returning 1 $$,
    'a revoked doctor cannot reactivate their own membership'
);
select tests.act_as('b_admin');
select is_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_doctor2') returning 1 $$,
    'the admin of B cannot deactivate a membership at A'
);
select tests.act_as('a_admin');
select is_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'b_doctor2') returning 1 $$,
    'the admin of A cannot deactivate a membership at B'
);
select throws_ok(
    $$ update public.staff_memberships set role = 'hospital_admin'
        where id = tests.id_of('staff_memberships', 'a_nurse') $$,
    '42501',
    'permission denied for table staff_memberships',
    'the admin of A cannot change the role of a membership (no column privilege)'
);
select throws_ok(
    $$ update public.staff_memberships set hospital_id = tests.id_of('hospitals', 'TSTB')
        where id = tests.id_of('staff_memberships', 'a_nurse') $$,
    '42501',
    'permission denied for table staff_memberships',
    'the admin of A cannot move a membership to B (no column privilege)'
);
select throws_ok(
    $$ update public.staff_memberships set user_id = tests.user_id('a_patient1')
        where id = tests.id_of('staff_memberships', 'a_nurse') $$,
    '42501',
    'permission denied for table staff_memberships',
    'the admin of A cannot hand a membership to another login (no column privilege)'
);
select isnt_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'a_doctor2') returning 1 $$,
    'the admin of A can deactivate a doctor of A'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ update public.staff_memberships set is_active = false
        where id = tests.id_of('staff_memberships', 'b_cro') returning 1 $$,
    'the service role can deactivate any membership'
);
select tests.clear_authentication();
select results_eq(
    $$ select w.name, m.is_active, m.deactivated_at is not null from public.staff_memberships as m
        join tests.world as w on w.kind = 'staff_memberships' and w.id = m.id where m.is_active = false
        order by w.name $$,
    $$ values ('a_doctor2', false, true), ('a_revoked_doctor', false, true), ('b_cro', false, true) $$,
    'only the deactivations by the admin of A and the service role happened, each with its time recorded'
);

-- delete ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'a_doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'anon cannot delete a membership (no delete privilege: memberships are deactivated)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'a_doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'a patient (a_patient1) cannot delete a membership (no delete privilege: memberships are deactivated)'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'a_doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'another patient (a_patient2) cannot delete a membership (no delete privilege: memberships are deactivated)'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'a_doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'a doctor on the care team (a_doctor) cannot delete a membership (no delete privilege: memberships are '
    || 'deactivated)'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'a_doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'a doctor of A not on the care team (a_doctor2) cannot delete a membership (no delete privilege: '
    || 'memberships are deactivated)'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'a_doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'a nurse on the care team (a_nurse) cannot delete a membership (no delete privilege: memberships are '
    || 'deactivated)'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'a_doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'the pharmacist of A cannot delete a membership (no delete privilege: memberships are deactivated)'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'a_doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'front desk of A cannot delete a membership (no delete privilege: memberships are deactivated)'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'a_doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'the CRO of A cannot delete a membership (no delete privilege: memberships are deactivated)'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'a_doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'the admin of A cannot delete a membership (no delete privilege: memberships are deactivated)'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'a_doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'the admin of B cannot delete a membership (no delete privilege: memberships are deactivated)'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'a_doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'a revoked doctor of A cannot delete a membership (no delete privilege: memberships are deactivated)'
);
select tests.act_as('nobody');
select throws_ok(
    $$ delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'a_doctor') $$,
    '42501',
    'permission denied for table staff_memberships',
    'a user with no role cannot delete a membership (no delete privilege: memberships are deactivated)'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ delete from public.staff_memberships where id = tests.id_of('staff_memberships', 'b_cro')
        returning 1 $$,
    'the service role can delete a membership'
);

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
