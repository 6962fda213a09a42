-- Patient phone login RPCs (begin_patient_login, link_patient_login): only the service role
-- calls them; a staff account's phone is refused; a login finds its patient again; a known
-- patient is linked only when the phone names exactly one unlinked record, else a new
-- patient is created; proving the phone lifts a password lockout. Only an active membership at
-- an active hospital makes a staff phone; becoming staff again ends the login's sessions.

begin;
select plan(33);

select tests.create_world();

-- Logins that exist only for this file, with the phones of the cases below.
select tests.create_user('solo_walk_in', '+919811000001');
select tests.create_user('family', '+919811000002');
select tests.create_user('newcomer', '+919811000003');
select tests.create_user('archived_only', '+919811000004');
insert into public.patients (full_name, phone)
values ('Solo Walk-in', '+919811000001'), ('Father', '+919811000002'), ('Mother', '+919811000002');
insert into public.patients (full_name, phone, deleted_at) values ('Erased', '+919811000004', now());
insert into private.login_attempts (user_id, failed_count, locked_until)
values (tests.user_id('solo_walk_in'), 0, now() + interval '15 minutes');

-- Who may call them -------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ select public.begin_patient_login('+919811000001') $$,
    '42501', null, 'anon cannot begin a patient login'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ select public.begin_patient_login('+919811000001') $$,
    '42501', null, 'a signed-in patient cannot begin a patient login'
);
select throws_ok(
    $$ select public.link_patient_login(tests.user_id('a_patient1'), '+919800010001') $$,
    '42501', null, 'nor link one'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ select public.link_patient_login(tests.user_id('nobody'), '+919800010001') $$,
    '42501', null, 'not even a hospital admin links a login'
);
select tests.act_as_service_role();

-- Finding the login --------------------------------------------------------------------------
select is(
    public.begin_patient_login('+919811000003'), tests.user_id('newcomer'),
    'the login that signs in with the phone is found'
);
select is(public.begin_patient_login('+919811000099'), null, 'an unknown phone has no login yet');
select throws_ok(
    $$ select public.begin_patient_login('98110') $$,
    '23514', null, 'a phone that is not E.164 is refused'
);
select is(
    public.begin_patient_login('+919811000001'), tests.user_id('solo_walk_in'),
    'a locked login is found'
);
select tests.clear_authentication();
select is(
    (
        select count(*) from private.login_attempts
        where user_id = tests.user_id('solo_walk_in')
    ),
    0::bigint, 'and the proven phone lifts its lockout'
);

-- Staff phones -------------------------------------------------------------------------------
update auth.users set phone = '919811000005'
where id = tests.user_id('a_nurse');
select tests.act_as_service_role();
select throws_like(
    $$ select public.begin_patient_login('+919811000005') $$,
    'this phone number belongs to a staff account', 'a staff account''s phone is refused'
);
select throws_like(
    $$ select public.link_patient_login(tests.user_id('a_nurse'), '+919811000005') $$,
    'this phone number belongs to a staff account', 'and a staff login is never linked to a patient'
);
select is(
    (
        select count(*) from public.patients
        where user_id = tests.user_id('a_nurse')
    ),
    0::bigint, 'no patient was created for the staff account'
);

-- Linking rules ------------------------------------------------------------------------------
select is(
    public.link_patient_login(tests.user_id('solo_walk_in'), '+919811000001') ->> 'outcome',
    'linked', 'the only record with the phone, without a login, is linked'
);
select is(
    (
        select user_id from public.patients
        where full_name = 'Solo Walk-in'
    ),
    tests.user_id('solo_walk_in'), 'to this login'
);
select is(
    public.link_patient_login(tests.user_id('solo_walk_in'), '+919811000001') ->> 'outcome',
    'existing', 'the next login finds the same patient'
);
select is(
    (
        select count(*) from public.patients
        where phone = '+919811000001'
    ), 1::bigint,
    'and creates no other'
);

select is(
    public.link_patient_login(tests.user_id('family'), '+919811000002', 'Daughter') ->> 'outcome',
    'created', 'a phone shared by two records links neither: a new patient is created'
);
select is(
    (
        select count(*) from public.patients
        where phone = '+919811000002' and user_id is null
    ),
    2::bigint, 'both family records stay without a login'
);
select is(
    (
        select full_name from public.patients
        where user_id = tests.user_id('family')
    ),
    'Daughter', 'the new patient carries the name given at sign-up'
);

select is(
    public.link_patient_login(tests.user_id('archived_only'), '+919811000004') ->> 'outcome',
    'created', 'an archived record is never linked'
);
select is(
    (
        select full_name from public.patients
        where user_id = tests.user_id('archived_only')
    ),
    '+919811000004', 'a new patient without a name is named by the phone'
);

select is(
    public.link_patient_login(tests.user_id('a_patient1'), '+919800010001') ->> 'patient_id',
    tests.id_of('patients', 'a_patient1')::text, 'a login with a patient keeps it'
);
select throws_like(
    $$ select public.link_patient_login(tests.user_id('a_archived'), '+919800010009') $$,
    'the patient record of this login is archived', 'a login whose patient is archived is refused'
);
select throws_like(
    $$ select public.link_patient_login(tests.user_id('newcomer'), '+919811000001') $$,
    'this login does not sign in with this phone number',
    'a login is linked only with the phone it signs in with'
);

-- Former staff ---------------------------------------------------------------------------------
-- Only an active membership at an active hospital makes a phone a staff phone: a revoked
-- doctor, or the staff of a deactivated hospital, may be patients like anyone else.
select tests.clear_authentication();
update auth.users set phone = '919811000006'
where id = tests.user_id('a_revoked_doctor');
update auth.users set phone = '919811000007'
where id = tests.user_id('b_nurse');
update public.hospitals set is_active = false
where code = 'TSTB';
select tests.act_as_service_role();
select is(
    public.begin_patient_login('+919811000006'), tests.user_id('a_revoked_doctor'),
    'a doctor whose only membership was revoked signs in with their phone'
);
select is(
    public.link_patient_login(tests.user_id('a_revoked_doctor'), '+919811000006') ->> 'outcome',
    'created', 'and gets a patient record of their own'
);
select is(
    tests.claims_for(tests.user_id('a_revoked_doctor')) ->> 'user_role', 'patient',
    'whose token says patient, not doctor'
);
select is(
    public.begin_patient_login('+919811000007'), tests.user_id('b_nurse'),
    'the nurse of a deactivated hospital signs in with their phone'
);
select tests.clear_authentication();
update public.hospitals set is_active = true
where code = 'TSTB';
select tests.act_as_service_role();
select throws_like(
    $$ select public.begin_patient_login('+919811000007') $$,
    'this phone number belongs to a staff account', 'until the hospital is active again'
);

-- Becoming staff again ends the sessions the login had (they may come from an OTP) -----------------
select tests.clear_authentication();
insert into auth.sessions (id, user_id, created_at, updated_at, aal)
values
(gen_random_uuid(), tests.user_id('a_revoked_doctor'), now(), now(), 'aal1'),
(gen_random_uuid(), tests.user_id('a_doctor'), now(), now(), 'aal1');
select tests.act_as('a_admin');
select isnt_empty(
    $$ update public.staff_memberships set is_active = true
        where id = tests.id_of('staff_memberships', 'a_revoked_doctor') returning 1 $$,
    'the admin of A reinstates the revoked doctor'
);
select tests.clear_authentication();
select is(
    (
        select count(*) from auth.sessions
        where user_id = tests.user_id('a_revoked_doctor')
    ),
    0::bigint, 'the patient session the former doctor had is gone: staff sign in with their password'
);
select tests.act_as_service_role();
select throws_like(
    $$ select public.begin_patient_login('+919811000006') $$,
    'this phone number belongs to a staff account', 'and the phone is a staff phone again'
);
select tests.clear_authentication();
insert into public.staff_memberships (user_id, hospital_id, role)
values (tests.user_id('a_doctor'), tests.id_of('hospitals', 'TSTB'), 'doctor');
select is(
    (
        select count(*) from auth.sessions
        where user_id = tests.user_id('a_doctor')
    ),
    1::bigint, 'a login that was staff already keeps its sessions when it gains a membership'
);

select * from finish();
rollback;
