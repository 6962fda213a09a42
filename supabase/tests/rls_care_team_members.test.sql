-- RLS matrix for public.care_team_members (which doctors and nurses look after which patient at
-- which hospital). A patient reads their own care team; a doctor or nurse reads the care teams of
-- their own patients at their own hospital while they hold that membership; front desk and the
-- admin read, assign and end their hospital's care teams; nobody reads or touches another
-- hospital's assignments (ab_patient4 is looked after at both hospitals). Assignments are ended,
-- never deleted; ending one cuts the member's access at once.
-- Outcomes as in tests.check_matrix: the assignments seen (member:patient@hospital), 'done',
-- 'none' (the row is hidden), 'denied' (no privilege), 'refused' (a policy refused the new row).

begin;
select plan(82);

select tests.create_world();

-- Reads -------------------------------------------------------------------------------------
select tests.action('read', $$ select tests.seen('care_team_members') $$);

select tests.expect('anon', 'denied');
select tests.expect(
    'a_patient1', 'a_doctor:a_patient1@TSTA, a_nurse:a_patient1@TSTA, a_revoked_doctor:a_patient1@TSTA'
);
select tests.expect('a_patient2', 'none');
select tests.expect('a_archived', 'none');
select tests.expect('b_patient3', 'b_doctor:b_patient3@TSTB, b_nurse:b_patient3@TSTB');
select tests.expect('a_doctor', 'a_doctor:a_patient1@TSTA, a_nurse:a_patient1@TSTA, a_revoked_doctor:a_patient1@TSTA');
select tests.expect('a_doctor2', 'none');
-- Not ab_patient4's care team at TSTB.
select tests.expect(
    'a_nurse',
    'a_doctor:a_patient1@TSTA, a_nurse:a_patient1@TSTA, a_nurse:ab_patient4@TSTA, a_revoked_doctor:a_patient1@TSTA'
);
select tests.expect('a_pharmacist', 'none');
select tests.expect(
    'a_front_desk',
    'a_doctor:a_patient1@TSTA, a_nurse:a_patient1@TSTA, a_nurse:ab_patient4@TSTA, a_revoked_doctor:a_patient1@TSTA'
);
select tests.expect('a_cro', 'none');
select tests.expect(
    'a_admin',
    'a_doctor:a_patient1@TSTA, a_nurse:a_patient1@TSTA, a_nurse:ab_patient4@TSTA, a_revoked_doctor:a_patient1@TSTA'
);
-- Still listed on a_patient1's care team, but no longer a member of the hospital.
select tests.expect('a_revoked_doctor', 'none');
-- Not ab_patient4's care team at TSTA.
select tests.expect('b_doctor', 'b_doctor:ab_patient4@TSTB, b_doctor:b_patient3@TSTB, b_nurse:b_patient3@TSTB');
select tests.expect('b_doctor2', 'none');
select tests.expect('b_nurse', 'b_doctor:b_patient3@TSTB, b_nurse:b_patient3@TSTB');
select tests.expect('b_pharmacist', 'none');
select tests.expect('b_front_desk', 'b_doctor:ab_patient4@TSTB, b_doctor:b_patient3@TSTB, b_nurse:b_patient3@TSTB');
select tests.expect('b_cro', 'none');
select tests.expect('b_admin', 'b_doctor:ab_patient4@TSTB, b_doctor:b_patient3@TSTB, b_nurse:b_patient3@TSTB');
select tests.expect('nobody', 'none');
select tests.expect(
    'service_role',
    'a_doctor:a_patient1@TSTA, a_nurse:a_patient1@TSTA, a_nurse:ab_patient4@TSTA, a_revoked_doctor:a_patient1@TSTA, '
    || 'b_doctor:ab_patient4@TSTB, b_doctor:b_patient3@TSTB, b_nurse:b_patient3@TSTB'
);
select * from tests.check_matrix('care_team_members');

-- Assigning: front desk and the admin, at their own hospital ---------------------------------
create function pg_temp.assign(member text, role text, patient text, hospital text)
returns text
language sql
as $$
    select format(
        'insert into public.care_team_members (patient_id, hospital_id, member_id, member_role) '
        || 'values (tests.id_of(''patients'', %L), tests.id_of(''hospitals'', %L), %s, %L) returning ''done''',
        patient, hospital, case member when 'self' then 'auth.uid()' else format('tests.user_id(%L)', member) end, role
    );
$$;
select tests.action('a_doctor2 to a_patient2@TSTA', pg_temp.assign('a_doctor2', 'doctor', 'a_patient2', 'TSTA'));
select tests.action('self to a_patient2@TSTA', pg_temp.assign('self', 'doctor', 'a_patient2', 'TSTA'));
select tests.action('a_nurse to a_patient2@TSTA', pg_temp.assign('a_nurse', 'nurse', 'a_patient2', 'TSTA'));
select tests.action('a_doctor2 to a_patient1@TSTA', pg_temp.assign('a_doctor2', 'doctor', 'a_patient1', 'TSTA'));
select tests.action('a_doctor2 to ab_patient4@TSTA', pg_temp.assign('a_doctor2', 'doctor', 'ab_patient4', 'TSTA'));
select tests.action('b_doctor2 to b_patient3@TSTB', pg_temp.assign('b_doctor2', 'doctor', 'b_patient3', 'TSTB'));
select tests.action('b_nurse to ab_patient4@TSTB', pg_temp.assign('b_nurse', 'nurse', 'ab_patient4', 'TSTB'));

-- actor, a_doctor2 to a_patient2@TSTA, self to a_patient2@TSTA, a_nurse to a_patient2@TSTA,
-- a_doctor2 to a_patient1@TSTA, a_doctor2 to ab_patient4@TSTA, b_doctor2 to b_patient3@TSTB,
-- b_nurse to ab_patient4@TSTB
select tests.expect('anon', 'denied', null, null, null, null, null, null);
select tests.expect('a_patient1', 'refused', null, null, 'refused', null, null, null);
select tests.expect('a_patient2', 'refused', null, null, null, null, null, null);
select tests.expect('a_doctor', 'refused', 'refused', null, null, null, null, null);
select tests.expect('a_doctor2', 'refused', null, null, 'refused', null, null, null);
select tests.expect('a_nurse', 'refused', null, 'refused', null, null, null, null);
select tests.expect('a_pharmacist', 'refused', null, null, null, null, null, null);
select tests.expect('a_cro', 'refused', null, null, null, null, null, null);
select tests.expect('a_revoked_doctor', 'refused', 'refused', null, null, null, null, null);
select tests.expect('b_admin', 'refused', null, null, null, 'refused', null, null);
select tests.expect('nobody', 'refused', null, null, null, null, null, null);
select tests.expect('a_front_desk', 'done', null, null, null, null, 'refused', null);
select tests.expect('a_admin', null, null, 'done', null, null, null, 'refused');
select tests.expect('service_role', null, null, null, null, null, 'done', null);
select * from tests.check_matrix('care_team_members');

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

-- Ending an assignment: front desk and the admin, at their own hospital; the member is never
-- swapped (no column privilege: end it and assign anew) --------------------------------------
create function pg_temp.end_assignment(assignment text)
returns text
language sql
as $$
    select format(
        'update public.care_team_members set ended_at = now() '
        || 'where id = tests.id_of(''care_team_members'', %L) returning ''done''',
        assignment
    );
$$;
select tests.action('end a_doctor:a_patient1@TSTA', pg_temp.end_assignment('a_doctor:a_patient1@TSTA'));
select tests.action('end a_revoked_doctor:a_patient1@TSTA', pg_temp.end_assignment('a_revoked_doctor:a_patient1@TSTA'));
select tests.action('end b_doctor:ab_patient4@TSTB', pg_temp.end_assignment('b_doctor:ab_patient4@TSTB'));
select tests.action('swap the member of a_doctor:a_patient1@TSTA', $$
    update public.care_team_members set member_id = tests.user_id('a_doctor2')
    where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') returning 'done'
$$);
select tests.action('end a_nurse:ab_patient4@TSTA', pg_temp.end_assignment('a_nurse:ab_patient4@TSTA'));
select tests.action('end b_nurse:b_patient3@TSTB', pg_temp.end_assignment('b_nurse:b_patient3@TSTB'));

-- actor, end a_doctor:a_patient1@TSTA, end a_revoked_doctor:a_patient1@TSTA,
-- end b_doctor:ab_patient4@TSTB, swap the member, end a_nurse:ab_patient4@TSTA, end b_nurse:b_patient3@TSTB
select tests.expect('anon', 'denied', null, null, null, null, null);
select tests.expect('a_patient1', 'none', null, null, null, null, null);
select tests.expect('a_patient2', 'none', null, null, null, null, null);
select tests.expect('a_doctor', 'none', null, null, null, null, null);
select tests.expect('a_doctor2', 'none', null, null, null, null, null);
select tests.expect('a_nurse', 'none', null, null, null, null, null);
select tests.expect('a_pharmacist', 'none', null, null, null, null, null);
select tests.expect('a_cro', 'none', null, null, null, null, null);
select tests.expect('b_admin', 'none', null, null, null, null, null);
select tests.expect('a_revoked_doctor', null, 'none', null, null, null, null);
select tests.expect('nobody', 'none', null, null, null, null, null);
select tests.expect('a_front_desk', null, 'done', 'none', 'denied', null, null);
select tests.expect('a_admin', null, null, 'none', null, 'done', null);
select tests.expect('service_role', null, null, null, null, null, 'done');
select * from tests.check_matrix('care_team_members');

select results_eq(
    $$ select w.name from public.care_team_members as c
        join tests.world as w on w.kind = 'care_team_members' and w.id = c.id
        where c.ended_at is not null order by w.name $$,
    $$ values ('a_nurse:ab_patient4@TSTA'), ('a_revoked_doctor:a_patient1@TSTA'),
        ('b_nurse:b_patient3@TSTB') $$,
    'only the assignments ended by front desk and admin of A and by the service role ended'
);

-- Deleting: nobody but the service role (assignments are ended) ------------------------------
select tests.action('delete a_doctor:a_patient1@TSTA', $$
    delete from public.care_team_members where id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA')
    returning 'done'
$$);
select tests.action('delete b_nurse:b_patient3@TSTB', $$
    delete from public.care_team_members where id = tests.id_of('care_team_members', 'b_nurse:b_patient3@TSTB')
    returning 'done'
$$);

-- actor, delete a_doctor:a_patient1@TSTA, delete b_nurse:b_patient3@TSTB
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
select tests.expect('b_admin', 'denied', null);
select tests.expect('a_revoked_doctor', 'denied', null);
select tests.expect('nobody', 'denied', null);
select tests.expect('service_role', null, 'done');
select * from tests.check_matrix('care_team_members');

-- An ended assignment cuts access at once --------------------------------------------------
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
