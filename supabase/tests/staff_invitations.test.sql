-- Who becomes staff, and how (issue 10, finding 11). An admin cannot attach an existing user id
-- to their hospital (a patient's, another hospital's staff member's): no membership, no doctor
-- or pharmacist row, no email. An existing login joins only through an invitation: the admin
-- invites an email (the same answer whether a login has it or not), only the login with that
-- verified email sees and accepts it, once, within 7 days, unless the admin revoked it; a
-- decline is not shown to the admin; the admin reads the person's email only after acceptance.

begin;
select plan(61);

select tests.create_world();
-- A login whose email Supabase Auth has not verified.
select tests.create_user('unverified');
update auth.users set email_confirmed_at = null
where id = tests.user_id('unverified');

create function pg_temp.invite(hospital text, email text, staff_role text, profile jsonb default '{}')
returns uuid
language sql
as $$
    select (public.invite_staff(tests.id_of('hospitals', hospital), email, staff_role::public.app_role, profile)).id;
$$;

-- What an invitation answer shows, without what differs by email or by time.
create function pg_temp.shape(invitation public.staff_invitations)
returns jsonb
language sql
as $$
    select to_jsonb(invitation) - 'id' - 'email' - 'created_at' - 'updated_at' - 'expires_at';
$$;

grant execute on all functions in schema pg_temp to authenticated, anon;

-- An admin attaching an existing user id directly -------------------------------------------------
select tests.act_as('a_admin');
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('a_patient1'), tests.id_of('hospitals', 'TSTA'), 'nurse') $$,
    '42501', 'permission denied for table staff_memberships',
    'the admin of A cannot make a patient''s login a nurse of A'
);
select throws_ok(
    $$ insert into public.staff_memberships (user_id, hospital_id, role)
        values (tests.user_id('b_doctor'), tests.id_of('hospitals', 'TSTA'), 'doctor') $$,
    '42501', 'permission denied for table staff_memberships',
    'nor a doctor of B a doctor of A'
);
select throws_ok(
    $$ insert into public.doctors (user_id, hospital_id, specialty, licence_number)
        values (tests.user_id('b_doctor'), tests.id_of('hospitals', 'TSTA'), 'Surgery', 'PMC-A-7777') $$,
    '42501', 'new row violates row-level security policy "doctors_insert_only_for_doctor_members" for table "doctors"',
    'nor give the doctor of B a doctor profile at A'
);
select throws_ok(
    $$ insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values (tests.user_id('a_patient1'), tests.id_of('hospitals', 'TSTA'),
            tests.id_of('pharmacies', 'a_central'), 'PSPC-7777') $$,
    '42501',
    'new row violates row-level security policy "pharmacists_insert_only_for_pharmacist_members" for table '
    || '"pharmacists"',
    'nor a patient a pharmacist profile at A'
);
select throws_ok(
    $$ update public.staff_memberships set user_id = tests.user_id('a_patient1')
        where id = tests.id_of('staff_memberships', 'a_revoked_doctor') $$,
    '42501', 'permission denied for table staff_memberships',
    'nor move one of A''s memberships to the patient'
);
select is_empty(
    $$ select email from public.profiles where id in (tests.user_id('a_patient1'), tests.user_id('b_doctor')) $$,
    'the admin of A reads neither the patient''s email nor that of the doctor of B'
);
select tests.clear_authentication();
select is(
    (
        select count(*)::integer from public.staff_memberships
        where
            user_id = tests.user_id('a_patient1')
            or (user_id = tests.user_id('b_doctor') and hospital_id = tests.id_of('hospitals', 'TSTA'))
    ),
    0, 'the attempts left no membership behind'
);

-- Inviting ---------------------------------------------------------------------------------------
select tests.act_as('a_doctor');
select throws_ok(
    $$ select pg_temp.invite('TSTA', 'nobody@test.carebase', 'nurse') $$,
    '42501', 'only an active admin of this hospital can manage its staff', 'a doctor cannot invite staff'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ select pg_temp.invite('TSTA', 'nobody@test.carebase', 'nurse') $$,
    '42501', 'only an active admin of this hospital can manage its staff', 'nor a patient'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ select pg_temp.invite('TSTA', 'nobody@test.carebase', 'nurse') $$,
    '42501', 'only an active admin of this hospital can manage its staff',
    'nor the admin of B into hospital A'
);
select tests.act_as_anon();
select throws_ok(
    $$ select pg_temp.invite('TSTA', 'nobody@test.carebase', 'nurse') $$,
    '42501', null, 'nor anon'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ select pg_temp.invite('TSTA', 'not an email', 'nurse') $$,
    '22023', 'the email is not a valid address', 'the email must be an address'
);
select throws_ok(
    $$ select pg_temp.invite('TSTA', 'nobody@test.carebase', 'patient') $$,
    '22023', 'invitations are for staff roles', 'patient is not a staff role'
);
select throws_ok(
    $$ select pg_temp.invite('TSTA', 'nobody@test.carebase', 'doctor', '{"specialty": "Surgery"}') $$,
    '22023', 'a doctor''s profile needs a specialty and a licence number', 'a doctor needs a licence number'
);
select throws_ok(
    $$ select pg_temp.invite('TSTA', 'nobody@test.carebase', 'doctor',
        '{"specialty": "Surgery", "licence_number": "PMC-A-1001"}') $$,
    '23505', 'another doctor of this hospital holds this licence number',
    'a licence number held at the hospital is refused when inviting'
);
select throws_ok(
    $$ select pg_temp.invite('TSTA', 'nobody@test.carebase', 'nurse', '{"licence_number": "X"}') $$,
    '22023', null, 'a nurse takes no profile'
);
select throws_ok(
    $$ select pg_temp.invite('TSTA', 'nobody@test.carebase', 'pharmacist',
        jsonb_build_object('licence_number', 'PSPC-1', 'pharmacy_id', tests.id_of('pharmacies', 'b_central'))) $$,
    'PT422', 'no active pharmacy of this hospital with this id', 'a pharmacy of another hospital is refused'
);

select set_config('test.nurse', pg_temp.invite('TSTA', 'Nobody@Test.Carebase', 'nurse')::text, true);
select results_eq(
    $$ select hospital_id, hospital_name, email::text, role::text, invited_by, expires_at - created_at
        from public.staff_invitations where id = current_setting('test.nurse')::uuid $$,
    $$ select tests.id_of('hospitals', 'TSTA'), h.name, 'nobody@test.carebase', 'nurse', tests.user_id('a_admin'),
        interval '7 days' from public.hospitals as h where h.code = 'TSTA' $$,
    'the admin invites an email as a nurse: valid 7 days'
);
select is(
    pg_temp.shape(public.invite_staff(tests.id_of('hospitals', 'TSTA'), 'ghost@test.carebase', 'cro')),
    pg_temp.shape(public.invite_staff(tests.id_of('hospitals', 'TSTA'), 'a_patient1@test.carebase', 'cro')),
    'inviting an email with no login and a patient''s email give the same answer'
);
select is(
    pg_temp.invite('TSTA', 'nobody@test.carebase', 'nurse'), current_setting('test.nurse')::uuid,
    'inviting again renews the open invitation'
);

-- Who sees an invitation ------------------------------------------------------------------------
select tests.act_as('nobody');
select results_eq(
    $$ select id, hospital_name from public.staff_invitations $$,
    $$ values (current_setting('test.nurse')::uuid, 'Test Hospital A') $$,
    'the invitee sees the invitation addressed to their email, with the hospital''s name'
);
select tests.act_as('a_patient2');
select is_empty($$ select id from public.staff_invitations $$, 'another user sees no invitation');
select tests.act_as('a_doctor');
select is_empty($$ select id from public.staff_invitations $$, 'nor does a doctor of A');
select tests.act_as('b_admin');
select is_empty($$ select id from public.staff_invitations $$, 'nor the admin of B');
select tests.act_as('a_admin');
select is(
    (select count(*)::integer from public.staff_invitations), 3,
    'the admin of A sees every invitation of A'
);
select throws_ok(
    $$ insert into public.staff_invitations (hospital_id, hospital_name, email, role)
        values (tests.id_of('hospitals', 'TSTA'), 'A', 'x@test.carebase', 'nurse') $$,
    '42501', 'permission denied for table staff_invitations', 'invitations are written through the RPCs only'
);
select throws_ok(
    $$ update public.staff_invitations set expires_at = now() + interval '1 year' $$,
    '42501', 'permission denied for table staff_invitations', 'not even updated by the admin'
);

-- Accepting --------------------------------------------------------------------------------------
select tests.act_as('a_patient2');
select throws_ok(
    $$ select public.accept_staff_invitation(current_setting('test.nurse')::uuid) $$,
    'PT404', 'no invitation with this id is addressed to you', 'nobody else accepts it'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ select public.accept_staff_invitation(current_setting('test.nurse')::uuid) $$,
    'PT404', 'no invitation with this id is addressed to you', 'not even the admin who sent it'
);
select is_empty(
    $$ select email from public.profiles where id = tests.user_id('nobody') $$,
    'before acceptance the admin cannot read the invitee''s email'
);
select tests.act_as('nobody');
select results_eq(
    $$ select a ->> 'role', a ->> 'hospital_id', a -> 'profile'
        from public.accept_staff_invitation(current_setting('test.nurse')::uuid) as a $$,
    $$ values ('nurse', tests.id_of('hospitals', 'TSTA')::text, 'null'::jsonb) $$,
    'the invitee accepts'
);
select tests.clear_authentication();
select results_eq(
    $$ select role::text, is_active, created_by from public.staff_memberships
        where user_id = tests.user_id('nobody') $$,
    $$ values ('nurse', true, tests.user_id('a_admin')) $$,
    'and is an active nurse of A, added by the admin who invited'
);
select is(
    tests.claims_for(tests.user_id('nobody')) ->> 'user_role', 'nurse',
    'whose next token says nurse'
);
select tests.act_as('a_admin');
select results_eq(
    $$ select email::text from public.profiles where id = tests.user_id('nobody') $$,
    $$ values ('nobody@test.carebase') $$,
    'only now does the admin read the new colleague''s email'
);
select results_eq(
    $$ select accepted_by, accepted_at is not null from public.staff_invitations
        where id = current_setting('test.nurse')::uuid $$,
    $$ values (tests.user_id('nobody'), true) $$,
    'the admin sees it accepted'
);
select throws_ok(
    $$ select public.revoke_staff_invitation(current_setting('test.nurse')::uuid) $$,
    'PT409', 'this invitation was already accepted', 'an accepted invitation cannot be revoked'
);
select tests.act_as('nobody');
select throws_ok(
    $$ select public.accept_staff_invitation(current_setting('test.nurse')::uuid) $$,
    'PT409', 'this invitation was already accepted', 'an invitation is accepted once'
);
select is_empty($$ select id from public.staff_invitations $$, 'and leaves the invitee''s list');

-- A doctor of B invited to A as a doctor, with the profile -------------------------------------------
select tests.act_as('a_admin');
select set_config(
    'test.doctor',
    pg_temp.invite(
        'TSTA', 'b_doctor@test.carebase', 'doctor',
        '{"specialty": "Nephrology", "licence_number": "PMC-A-2001", "languages": ["pa"]}'
    )::text,
    true
);
select tests.act_as('b_doctor');
select results_eq(
    $$ select a -> 'profile' ->> 'specialty', a -> 'profile' ->> 'licence_number', a -> 'profile' ->> 'calendar_color'
        from public.accept_staff_invitation(current_setting('test.doctor')::uuid) as a $$,
    $$ values ('Nephrology', 'PMC-A-2001', '#3B82F6') $$,
    'the doctor of B accepts and gets the doctor profile at A, with the defaults'
);
select is(
    (
        select count(*)::integer from jsonb_array_elements(tests.claims_for(tests.user_id('b_doctor')) -> 'memberships')
    ),
    2, 'and is a member of both hospitals'
);
select tests.clear_authentication();
select results_eq(
    $$ select table_name, actor_id, hospital_id from audit.log
        where table_name in ('public.staff_memberships', 'public.doctors', 'public.staff_invitations')
            and hospital_id = tests.id_of('hospitals', 'TSTA')
            and (new_values ->> 'user_id' = tests.user_id('b_doctor')::text
                or row_id = current_setting('test.doctor'))
        order by seq $$,
    $$ values
        ('public.staff_invitations', tests.user_id('a_admin'), tests.id_of('hospitals', 'TSTA')),
        ('public.staff_memberships', tests.user_id('b_doctor'), tests.id_of('hospitals', 'TSTA')),
        ('public.doctors', tests.user_id('b_doctor'), tests.id_of('hospitals', 'TSTA')),
        ('public.staff_invitations', tests.user_id('b_doctor'), tests.id_of('hospitals', 'TSTA')) $$,
    'the audit trail records the invitation, the records it created and its acceptance'
);

-- A pharmacist at the hospital's default pharmacy --------------------------------------------------
select tests.act_as('a_admin');
select set_config(
    'test.pharmacist',
    pg_temp.invite('TSTA', 'b_patient3@test.carebase', 'pharmacist', '{"licence_number": "PSPC-A-9"}')::text,
    true
);
select tests.act_as('b_patient3');
select is(
    (public.accept_staff_invitation(current_setting('test.pharmacist')::uuid) -> 'profile' ->> 'pharmacy_id')::uuid,
    tests.id_of('pharmacies', 'a_central'),
    'an invited pharmacist works at the default pharmacy'
);

-- Expiry ----------------------------------------------------------------------------------------
select tests.act_as('a_admin');
select set_config('test.late', pg_temp.invite('TSTA', 'a_patient2@test.carebase', 'front_desk')::text, true);
select tests.clear_authentication();
update public.staff_invitations set expires_at = now() - interval '1 second'
where id = current_setting('test.late')::uuid;
select tests.act_as('a_patient2');
select is_empty($$ select id from public.staff_invitations $$, 'an expired invitation leaves the invitee''s list');
select throws_ok(
    $$ select public.accept_staff_invitation(current_setting('test.late')::uuid) $$,
    'PT409', 'this invitation has expired', 'and cannot be accepted'
);

-- Revoking --------------------------------------------------------------------------------------
select tests.act_as('a_admin');
select set_config('test.revoked', pg_temp.invite('TSTA', 'a_patient2@test.carebase', 'cro')::text, true);
select tests.act_as('b_admin');
select throws_ok(
    $$ select public.revoke_staff_invitation(current_setting('test.revoked')::uuid) $$,
    'PT404', 'no invitation of your hospital with this id', 'the admin of B cannot revoke an invitation of A'
);
select tests.act_as('a_patient2');
select is(
    (
        select count(*)::integer from public.staff_invitations
        where id = current_setting('test.revoked')::uuid
    ), 1,
    'the invitee sees it'
);
select tests.act_as('a_admin');
select results_eq(
    $$ select r.revoked_by, r.revoked_at is not null
        from public.revoke_staff_invitation(current_setting('test.revoked')::uuid) as r $$,
    $$ values (tests.user_id('a_admin'), true) $$,
    'until the admin of A revokes it'
);
select tests.act_as('a_patient2');
select is_empty($$ select id from public.staff_invitations $$, 'a revoked invitation leaves the invitee''s list');
select throws_ok(
    $$ select public.accept_staff_invitation(current_setting('test.revoked')::uuid) $$,
    'PT409', 'this invitation was withdrawn by the hospital', 'and cannot be accepted'
);
select tests.clear_authentication();
select is(
    (
        select count(*)::integer from public.staff_memberships
        where user_id = tests.user_id('a_patient2')
    ),
    0, 'the expired and the revoked invitations made nobody staff'
);

-- Declining -------------------------------------------------------------------------------------
select tests.act_as('b_admin');
select set_config('test.declined', pg_temp.invite('TSTB', 'a_patient1@test.carebase', 'cro')::text, true);
select set_config('test.before', (
    select pg_temp.shape(i) from public.staff_invitations as i
    where i.id = current_setting('test.declined')::uuid
)::text, true);
select tests.act_as('a_patient1');
select lives_ok(
    $$ select public.decline_staff_invitation(current_setting('test.declined')::uuid) $$,
    'the invitee declines'
);
select is_empty(
    $$ select id from public.staff_invitations where id = current_setting('test.declined')::uuid $$,
    'a declined invitation leaves the invitee''s list'
);
select throws_ok(
    $$ select public.accept_staff_invitation(current_setting('test.declined')::uuid) $$,
    'PT409', 'you declined this invitation', 'and cannot be accepted any more'
);
select tests.act_as('b_admin');
select is(
    (
        select pg_temp.shape(i) from public.staff_invitations as i
        where i.id = current_setting('test.declined')::uuid
    ),
    current_setting('test.before')::jsonb,
    'the admin sees the declined invitation exactly as before (a decline does not reveal a login)'
);
select is_empty(
    $$ select seq from public.audit_trail where table_name = 'private.staff_invitation_declines' $$,
    'nor in the audit trail'
);
select tests.clear_authentication();
select results_eq(
    $$ select actor_id, hospital_id from audit.log where table_name = 'private.staff_invitation_declines' $$,
    $$ values (tests.user_id('a_patient1'), null::uuid) $$,
    'where the decline is recorded, with no hospital'
);

-- An email not verified ---------------------------------------------------------------------------
select tests.act_as('a_admin');
select set_config('test.unverified', pg_temp.invite('TSTA', 'unverified@test.carebase', 'nurse')::text, true);
select tests.act_as('unverified');
select is_empty($$ select id from public.staff_invitations $$, 'a login whose email is not verified sees nothing');
select throws_ok(
    $$ select public.accept_staff_invitation(current_setting('test.unverified')::uuid) $$,
    'PT404', 'no invitation with this id is addressed to you', 'and accepts nothing'
);

-- A deactivated hospital --------------------------------------------------------------------------
select tests.act_as('a_admin');
select set_config('test.closing', pg_temp.invite('TSTA', 'a_patient1@test.carebase', 'nurse')::text, true);
select tests.clear_authentication();
update public.hospitals set is_active = false
where code = 'TSTA';
select tests.act_as('a_patient1');
select throws_ok(
    $$ select public.accept_staff_invitation(current_setting('test.closing')::uuid) $$,
    'PT409', 'this hospital is no longer active', 'an invitation of a deactivated hospital cannot be accepted'
);

-- Already a member ------------------------------------------------------------------------------------
select tests.clear_authentication();
update public.hospitals set is_active = true
where code = 'TSTA';
select tests.act_as('a_admin');
select set_config(
    'test.again', pg_temp.invite(
        'TSTA', 'a_revoked_doctor@test.carebase', 'doctor',
        '{"specialty": "Cardiology", "licence_number": "PMC-A-5005"}'
    )::text, true
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ select public.accept_staff_invitation(current_setting('test.again')::uuid) $$,
    'PT409', 'you already hold this role at this hospital',
    'a revoked member is reactivated by the admin, not re-invited into a second membership'
);
select tests.act_as('a_admin');
select isnt_empty(
    $$ update public.staff_memberships set is_active = true
        where id = tests.id_of('staff_memberships', 'a_revoked_doctor') returning 1 $$,
    'the admin of A can still reactivate a member of A'
);

select * from finish();
rollback;
