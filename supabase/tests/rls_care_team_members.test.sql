-- RLS matrix for public.care_team_members (which doctors and nurses look after which patient at
-- which hospital). A patient reads their own care team; a doctor or nurse reads the care teams of
-- their own patients at their own hospital while they hold that membership; front desk and the
-- admin read, assign and end their hospital's care teams; nobody reads or touches another
-- hospital's assignments (ab_patient4 is looked after at both hospitals). Assignments are ended,
-- never deleted; ending one cuts the member's access at once.

begin;
select plan(70);

select tests.create_world();

-- select ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.care_team_members $$,
    '42501',
    'permission denied for table care_team_members',
    'anon cannot read care_team_members (no table privilege)'
);
select tests.act_as('a_patient1');
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    array['a_doctor:a_patient1@TSTA', 'a_nurse:a_patient1@TSTA', 'a_revoked_doctor:a_patient1@TSTA'],
    'a patient sees their own care team'
);
select tests.act_as('a_patient2');
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    '{}'::text[],
    'another patient sees no care team (they have none, and a_patient1''s is not theirs)'
);
select tests.act_as('b_patient3');
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    array['b_doctor:b_patient3@TSTB', 'b_nurse:b_patient3@TSTB'],
    'a patient of B sees their own care team only'
);
select tests.act_as('a_doctor');
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    array['a_doctor:a_patient1@TSTA', 'a_nurse:a_patient1@TSTA', 'a_revoked_doctor:a_patient1@TSTA'],
    'a doctor sees the care team of their patient'
);
select tests.act_as('a_doctor2');
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    '{}'::text[],
    'a doctor with no patients sees no care team'
);
select tests.act_as('a_nurse');
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    array[
        'a_doctor:a_patient1@TSTA', 'a_nurse:a_patient1@TSTA', 'a_nurse:ab_patient4@TSTA',
        'a_revoked_doctor:a_patient1@TSTA'
    ],
    'a nurse sees the care teams of their patients at A, not ab_patient4''s care team at B'
);
select tests.act_as('b_doctor');
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    array['b_doctor:ab_patient4@TSTB', 'b_doctor:b_patient3@TSTB', 'b_nurse:b_patient3@TSTB'],
    'a doctor of B sees the care teams of their patients at B, not ab_patient4''s care team at A'
);
select tests.act_as('a_pharmacist');
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    '{}'::text[],
    'the pharmacist of A sees no care team'
);
select tests.act_as('a_front_desk');
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    array[
        'a_doctor:a_patient1@TSTA', 'a_nurse:a_patient1@TSTA', 'a_nurse:ab_patient4@TSTA',
        'a_revoked_doctor:a_patient1@TSTA'
    ],
    'front desk of A sees every care team at A and none at B'
);
select tests.act_as('a_cro');
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    '{}'::text[],
    'the CRO of A sees no care team'
);
select tests.act_as('a_admin');
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    array[
        'a_doctor:a_patient1@TSTA', 'a_nurse:a_patient1@TSTA', 'a_nurse:ab_patient4@TSTA',
        'a_revoked_doctor:a_patient1@TSTA'
    ],
    'the admin of A sees every care team at A and none at B'
);
select tests.act_as('b_admin');
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    array['b_doctor:ab_patient4@TSTB', 'b_doctor:b_patient3@TSTB', 'b_nurse:b_patient3@TSTB'],
    'the admin of B sees every care team at B and none at A'
);
select tests.act_as('a_revoked_doctor');
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    '{}'::text[],
    'a revoked doctor no longer sees the care team they are still listed on'
);
select tests.act_as('nobody');
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    '{}'::text[],
    'a user with no role sees no care team'
);
select tests.act_as_service_role();
select set_eq(
    $$ select tests.seen('care_team_members') $$,
    array[
        'a_doctor:a_patient1@TSTA', 'a_nurse:a_patient1@TSTA', 'a_nurse:ab_patient4@TSTA',
        'a_revoked_doctor:a_patient1@TSTA', 'b_doctor:ab_patient4@TSTB', 'b_doctor:b_patient3@TSTB',
        'b_nurse:b_patient3@TSTB'
    ],
    'the service role sees every care team'
);

-- insert ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_doctor2'), 'doctor') $$,
    '42501',
    'permission denied for table care_team_members',
    'anon cannot assign a care team (no insert privilege)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_doctor2'), 'doctor') $$,
    '42501',
    'new row violates row-level security policy for table "care_team_members"',
    'a patient cannot pick their own care team'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_doctor2'), 'doctor') $$,
    '42501',
    'new row violates row-level security policy for table "care_team_members"',
    'another patient cannot pick a care team'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_doctor'), 'doctor') $$,
    '42501',
    'new row violates row-level security policy for table "care_team_members"',
    'a doctor cannot add themselves to the care team of a patient who is not theirs'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_doctor2'), 'doctor') $$,
    '42501',
    'new row violates row-level security policy for table "care_team_members"',
    'a doctor with no patients cannot add themselves to a care team'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_nurse'), 'nurse') $$,
    '42501',
    'new row violates row-level security policy for table "care_team_members"',
    'a nurse cannot add themselves to a care team'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_doctor2'), 'doctor') $$,
    '42501',
    'new row violates row-level security policy for table "care_team_members"',
    'the pharmacist of A cannot assign a care team'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_doctor2'), 'doctor') $$,
    '42501',
    'new row violates row-level security policy for table "care_team_members"',
    'the CRO of A cannot assign a care team'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'ab_patient4'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_doctor2'), 'doctor') $$,
    '42501',
    'new row violates row-level security policy for table "care_team_members"',
    'the admin of B cannot assign a care team at A'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_revoked_doctor'), 'doctor') $$,
    '42501',
    'new row violates row-level security policy for table "care_team_members"',
    'a revoked doctor cannot add themselves to a care team'
);
select tests.act_as('nobody');
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_doctor2'), 'doctor') $$,
    '42501',
    'new row violates row-level security policy for table "care_team_members"',
    'a user with no role cannot assign a care team'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'b_patient3'), tests.id_of('hospitals', 'TSTB'),
        tests.user_id('b_doctor2'), 'doctor') $$,
    '42501',
    'new row violates row-level security policy for table "care_team_members"',
    'front desk of A cannot assign a care team at B'
);
select isnt_empty(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_doctor2'), 'doctor') returning 1 $$,
    'front desk of A can assign a doctor of A to a patient of A'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'ab_patient4'), tests.id_of('hospitals', 'TSTB'),
        tests.user_id('b_nurse'), 'nurse') $$,
    '42501',
    'new row violates row-level security policy for table "care_team_members"',
    'the admin of A cannot assign a care team at B'
);
select isnt_empty(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'),
        tests.user_id('a_nurse'), 'nurse') returning 1 $$,
    'the admin of A can assign a nurse of A to a patient of A'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
        values (tests.id_of('patients', 'b_patient3'), tests.id_of('hospitals', 'TSTB'),
        tests.user_id('b_doctor2'), 'doctor') returning 1 $$,
    'the service role can assign a care team anywhere'
);
select tests.act_as('a_doctor2');
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_patient2'],
    'once assigned, the doctor sees the patient at once'
);
select tests.clear_authentication();
select results_eq(
    $$ select m.full_name, p.full_name, h.code from public.care_team_members as c
        join public.profiles as m on m.id = c.member_id join public.patients as p on p.id = c.patient_id
        join public.hospitals as h on h.id = c.hospital_id
        where h.code in ('TSTA', 'TSTB')
        and c.id not in (select w.id from tests.world as w where w.kind = 'care_team_members')
        order by 1 $$,
    $$ values ('A Doctor2', 'Baljit Kaur', 'TSTA'), ('A Nurse', 'Baljit Kaur', 'TSTA'), ('B Doctor2',
        'Paramjit Kaur', 'TSTB') $$,
    'only the assignments by front desk and admin of A and by the service role were made'
);

-- update ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'anon cannot end an assignment (no update privilege)'
);
select tests.act_as('a_patient1');
select is_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') returning 1 $$,
    'a patient cannot remove a member of their care team'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') returning 1 $$,
    'another patient cannot change a_patient1''s care team'
);
select tests.act_as('a_doctor');
select is_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') returning 1 $$,
    'a doctor cannot end their own assignment'
);
select tests.act_as('a_doctor2');
select is_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') returning 1 $$,
    'a doctor not on the team cannot end an assignment'
);
select tests.act_as('a_nurse');
select is_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') returning 1 $$,
    'a nurse cannot end a colleague''s assignment'
);
select tests.act_as('a_pharmacist');
select is_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') returning 1 $$,
    'the pharmacist of A cannot end an assignment'
);
select tests.act_as('a_cro');
select is_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') returning 1 $$,
    'the CRO of A cannot end an assignment'
);
select tests.act_as('b_admin');
select is_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') returning 1 $$,
    'the admin of B cannot end an assignment at A'
);
select tests.act_as('a_revoked_doctor');
select is_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'a_revoked_doctor:a_patient1@TSTA') returning 1 $$,
    'a revoked doctor cannot touch their old assignment'
);
select tests.act_as('nobody');
select is_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') returning 1 $$,
    'a user with no role cannot end an assignment'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'b_doctor:ab_patient4@TSTB') returning 1 $$,
    'front desk of A cannot end an assignment at B'
);
select throws_ok(
    $$ update public.care_team_members set member_id = tests.user_id('a_doctor2')
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'front desk of A cannot swap the member of an assignment (no column privilege: end it and assign anew)'
);
select isnt_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'a_revoked_doctor:a_patient1@TSTA') returning 1 $$,
    'front desk of A can end the revoked doctor''s assignment'
);
select tests.act_as('a_admin');
select is_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'b_doctor:ab_patient4@TSTB') returning 1 $$,
    'the admin of A cannot end an assignment at B'
);
select isnt_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'a_nurse:ab_patient4@TSTA') returning 1 $$,
    'the admin of A can end an assignment at A'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'b_nurse:b_patient3@TSTB') returning 1 $$,
    'the service role can end any assignment'
);
select tests.clear_authentication();
select results_eq(
    $$ select w.name from public.care_team_members as c
        join tests.world as w on w.kind = 'care_team_members' and w.id = c.id
        where c.ended_at is not null order by w.name $$,
    $$ values ('a_nurse:ab_patient4@TSTA'), ('a_revoked_doctor:a_patient1@TSTA'),
        ('b_nurse:b_patient3@TSTB') $$,
    'only the assignments ended by front desk and admin of A and by the service role ended'
);

-- delete ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ delete from public.care_team_members
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'anon cannot delete an assignment (no delete privilege: assignments are ended)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ delete from public.care_team_members
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'a patient (a_patient1) cannot delete an assignment (no delete privilege: assignments are ended)'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ delete from public.care_team_members
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'another patient (a_patient2) cannot delete an assignment (no delete privilege: assignments are ended)'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ delete from public.care_team_members
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'a doctor on the care team (a_doctor) cannot delete an assignment (no delete privilege: assignments are ended)'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ delete from public.care_team_members
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'a doctor of A not on the care team (a_doctor2) cannot delete an assignment (no delete privilege: '
    || 'assignments are ended)'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ delete from public.care_team_members
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'a nurse on the care team (a_nurse) cannot delete an assignment (no delete privilege: assignments are ended)'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ delete from public.care_team_members
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'the pharmacist of A cannot delete an assignment (no delete privilege: assignments are ended)'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ delete from public.care_team_members
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'front desk of A cannot delete an assignment (no delete privilege: assignments are ended)'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ delete from public.care_team_members
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'the CRO of A cannot delete an assignment (no delete privilege: assignments are ended)'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ delete from public.care_team_members
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'the admin of A cannot delete an assignment (no delete privilege: assignments are ended)'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ delete from public.care_team_members
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'the admin of B cannot delete an assignment (no delete privilege: assignments are ended)'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ delete from public.care_team_members
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'a revoked doctor of A cannot delete an assignment (no delete privilege: assignments are ended)'
);
select tests.act_as('nobody');
select throws_ok(
    $$ delete from public.care_team_members
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    '42501',
    'permission denied for table care_team_members',
    'a user with no role cannot delete an assignment (no delete privilege: assignments are ended)'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ delete from public.care_team_members
        where id = tests.id_of('care_team_members', 'b_nurse:b_patient3@TSTB') returning 1 $$,
    'the service role can delete an assignment'
);

-- an ended assignment cuts access at once -------------------------------------------------
select tests.act_as('a_doctor');
select set_eq(
    $$ select tests.seen('patients') $$,
    array['a_patient1'],
    'while assigned, the doctor sees the patient'
);
select tests.act_as('a_front_desk');
select isnt_empty(
    $$ update public.care_team_members set ended_at = now()
        where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') returning 1 $$,
    'front desk ends the doctor''s assignment'
);
select tests.act_as('a_doctor');
select set_eq(
    $$ select tests.seen('patients') $$,
    '{}'::text[],
    'on the next query the doctor no longer sees the patient'
);
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    '{}'::text[],
    'nor the patient''s registration'
);

select * from finish();
rollback;
