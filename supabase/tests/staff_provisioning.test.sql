-- Staff provisioning RPCs: only an active admin of the hospital begins one; the grant is
-- single use, expires, is redeemed only by the admin who asked and only for the login made
-- for it; the records' constraints are checked at completion; deactivation is the admin's.
-- The sidecar's login step (Auth admin API) is played here by an insert into auth.users.

begin;
select plan(34);

select tests.create_world();

-- What the sidecar does between the two RPCs: a login carrying the grant in app_metadata.
create function pg_temp.login_for(grant_id uuid, email text)
returns uuid
language sql
as $$
    insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data)
    values (
        '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
        email, jsonb_build_object('provisioning_grant', grant_id), '{"full_name": "Dr. New"}'
    )
    returning id;
$$;

create function pg_temp.begin_doctor(hospital text, email text, licence text default 'PMC-NEW-1')
returns uuid
language sql
as $$
    select public.begin_doctor_provisioning(
        hospital_id => tests.id_of('hospitals', hospital), email => email, full_name => 'Dr. New',
        specialty => 'Dermatology', licence_number => licence
    );
$$;

grant execute on all functions in schema pg_temp to authenticated, anon;

-- who may begin --------------------------------------------------------------------------
select tests.act_as('a_doctor');
select throws_ok(
    $$ select pg_temp.begin_doctor('TSTA', 'new1@test.carebase') $$,
    '42501', 'only an active admin of this hospital can manage its staff', 'a doctor cannot begin provisioning'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ select pg_temp.begin_doctor('TSTA', 'new1@test.carebase') $$,
    '42501', null, 'a pharmacist cannot begin provisioning'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ select pg_temp.begin_doctor('TSTA', 'new1@test.carebase') $$,
    '42501', null, 'a patient cannot begin provisioning'
);
select tests.act_as('nobody');
select throws_ok(
    $$ select pg_temp.begin_doctor('TSTA', 'new1@test.carebase') $$,
    '42501', null, 'a user without a role cannot begin provisioning'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ select pg_temp.begin_doctor('TSTA', 'new1@test.carebase') $$,
    '42501', null, 'the admin of B cannot provision staff of A'
);
select throws_ok(
    $$ select public.begin_doctor_provisioning(gen_random_uuid(), 'new1@test.carebase', 'X', 'Y', 'Z') $$,
    '42501', null, 'an unknown hospital is refused like a foreign one'
);
select tests.act_as_anon();
select throws_ok(
    $$ select public.begin_doctor_provisioning(gen_random_uuid(), 'new1@test.carebase', 'X', 'Y', 'Z') $$,
    '42501', null, 'anon cannot call it at all'
);
select tests.clear_authentication();
select is(
    (
        select count(*)::integer from private.staff_provisioning_grants
        where hospital_id in (tests.id_of('hospitals', 'TSTA'), tests.id_of('hospitals', 'TSTB'))
    ),
    0, 'no refusal left a grant'
);

-- what begin checks ----------------------------------------------------------------------
select tests.act_as('a_admin');
select throws_ok(
    $$ select pg_temp.begin_doctor('TSTA', 'A_Doctor@test.carebase') $$,
    'PT409', 'a login with this email already exists', 'an email with a login is refused, whatever its case'
);
select throws_ok(
    $$ select pg_temp.begin_doctor('TSTA', 'not-an-email') $$,
    '22023', 'the email is not a valid address', 'an invalid email is refused'
);
select throws_ok(
    $$ select public.begin_pharmacist_provisioning(tests.id_of('hospitals', 'TSTA'), 'ph1@test.carebase',
        'Ph. New', 'PCI-NEW', tests.id_of('pharmacies', 'b_central')) $$,
    'PT422', 'no active pharmacy of this hospital with this id',
    'a pharmacist cannot be placed at another hospital''s pharmacy'
);
select throws_ok(
    $$ select public.begin_pharmacist_provisioning(tests.id_of('hospitals', 'TSTA'), 'ph1@test.carebase',
        'Ph. New', 'PCI-NEW', tests.id_of('pharmacies', 'a_old')) $$,
    'PT422', null, 'nor at a closed pharmacy of the hospital'
);
select set_config(
    'test.ph_grant',
    public.begin_pharmacist_provisioning(
        tests.id_of('hospitals', 'TSTA'), 'ph1@test.carebase', 'Ph. New', 'PCI-NEW'
    )::text,
    true
);
select tests.clear_authentication();
select is(
    (
        select g.profile ->> 'pharmacy_id' from private.staff_provisioning_grants as g
        where g.id = current_setting('test.ph_grant')::uuid
    ),
    tests.id_of('pharmacies', 'a_central')::text,
    'without a pharmacy, the pharmacist goes to the hospital''s default one'
);
select tests.act_as('a_admin');

-- begin, login, complete -----------------------------------------------------------------
select set_config('test.grant', pg_temp.begin_doctor('TSTA', 'New.Doctor@test.carebase')::text, true);
select tests.clear_authentication();
select results_eq(
    $$ select hospital_id, role::text, email::text, created_by, expires_at - created_at
        from private.staff_provisioning_grants where id = current_setting('test.grant')::uuid $$,
    $$ values (tests.id_of('hospitals', 'TSTA'), 'doctor', 'new.doctor@test.carebase', tests.user_id('a_admin'),
        interval '5 minutes') $$,
    'the grant holds the checked request, its admin, and lives 5 minutes'
);
select set_config(
    'test.login', pg_temp.login_for(current_setting('test.grant')::uuid, 'new.doctor@test.carebase')::text, true
);
select set_config('test.stray', pg_temp.login_for(gen_random_uuid(), 'stray@test.carebase')::text, true);

select tests.act_as('b_admin');
select throws_ok(
    $$ select public.complete_staff_provisioning(current_setting('test.grant')::uuid,
        current_setting('test.login')::uuid) $$,
    'PT404', 'no provisioning grant with this id was issued to you', 'another admin cannot redeem the grant'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ select public.complete_staff_provisioning(current_setting('test.grant')::uuid,
        current_setting('test.stray')::uuid) $$,
    '22023', 'this login was not created for this provisioning grant', 'a login not made for the grant is refused'
);
select results_eq(
    $$ select d ->> 'email', d ->> 'full_name', d ->> 'specialty', d ->> 'calendar_color', (d ->> 'is_active')::boolean
        from public.complete_staff_provisioning(current_setting('test.grant')::uuid,
        current_setting('test.login')::uuid) as d $$,
    $$ values ('new.doctor@test.carebase', 'Dr. New', 'Dermatology', '#3B82F6', true) $$,
    'the admin completes it: the doctor with the table''s defaults'
);
select results_eq(
    $$ select m.role::text, m.is_active, m.created_by from public.staff_memberships as m
        where m.user_id = current_setting('test.login')::uuid $$,
    $$ values ('doctor', true, tests.user_id('a_admin')) $$,
    'with an active doctor membership created by the admin'
);
select is(
    tests.claims_for(current_setting('test.login')::uuid) ->> 'user_role', 'doctor',
    'the new login''s token says doctor'
);
select throws_ok(
    $$ select public.complete_staff_provisioning(current_setting('test.grant')::uuid,
        current_setting('test.login')::uuid) $$,
    'PT409', 'this provisioning grant was already used', 'a grant is used once'
);
select tests.clear_authentication();
select results_eq(
    $$ select actor_id, actor_db_role from audit.log
        where table_name = 'public.doctors' and action = 'INSERT'
            and new_values ->> 'user_id' = current_setting('test.login') $$,
    $$ values (tests.user_id('a_admin'), 'authenticated') $$,
    'the audit trail names the admin as the one who created the doctor'
);

-- expiry and constraint failures at completion ------------------------------------------
select tests.act_as('a_admin');
select set_config('test.late', pg_temp.begin_doctor('TSTA', 'late@test.carebase', 'PMC-LATE')::text, true);
select set_config('test.clash', pg_temp.begin_doctor('TSTA', 'clash@test.carebase', 'PMC-A-1001')::text, true);
select tests.clear_authentication();
update private.staff_provisioning_grants set expires_at = now() - interval '1 second'
where id = current_setting('test.late')::uuid;
select set_config(
    'test.late_login', pg_temp.login_for(current_setting('test.late')::uuid, 'late@test.carebase')::text, true
);
select set_config(
    'test.clash_login', pg_temp.login_for(current_setting('test.clash')::uuid, 'clash@test.carebase')::text, true
);
select tests.act_as('a_admin');
select throws_ok(
    $$ select public.complete_staff_provisioning(current_setting('test.late')::uuid,
        current_setting('test.late_login')::uuid) $$,
    'PT409', 'this provisioning grant has expired', 'an expired grant is refused'
);
select throws_ok(
    $$ select public.complete_staff_provisioning(current_setting('test.clash')::uuid,
        current_setting('test.clash_login')::uuid) $$,
    '23505', 'another doctor of this hospital holds this licence number',
    'a licence number already held at the hospital fails the completion'
);
select tests.clear_authentication();
select is(
    (
        select count(*)::integer from public.staff_memberships
        where user_id in (current_setting('test.late_login')::uuid, current_setting('test.clash_login')::uuid)
    ),
    0, 'failed completions leave no membership behind'
);
select is(
    (
        select consumed_at from private.staff_provisioning_grants
        where id = current_setting('test.clash')::uuid
    ),
    null, 'nor a used grant'
);

-- update ---------------------------------------------------------------------------------
select tests.act_as('a_doctor2');
select throws_ok(
    $$ select public.update_doctor(tests.id_of('doctors', 'a_doctor'), bio => 'vandal') $$,
    '42501', null, 'a colleague cannot change a doctor''s profile'
);
select tests.act_as('a_doctor');
select is(
    public.update_doctor(tests.id_of('doctors', 'a_doctor'), full_name => 'Dr. A Renamed') ->> 'full_name',
    'Dr. A Renamed', 'a doctor renames themself'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ select public.update_doctor(tests.id_of('doctors', 'a_doctor'), bio => 'x') $$,
    'PT404', 'no doctor with this id', 'the admin of B does not see A''s doctors'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ select public.update_pharmacist(tests.id_of('pharmacists', 'a_pharmacist'), full_name => 'Me') $$,
    '42501', null, 'a pharmacist cannot change their own record'
);

-- deactivation ---------------------------------------------------------------------------
select tests.act_as('a_doctor');
select throws_ok(
    $$ select public.set_doctor_active(tests.id_of('doctors', 'a_doctor2'), false) $$,
    '42501', null, 'a doctor cannot deactivate a colleague'
);
select tests.act_as('a_admin');
select results_eq(
    $$ select (d ->> 'is_active')::boolean, (d ->> 'login_keeps_access')::boolean, d ->> 'full_name'
        from public.set_doctor_active(tests.id_of('doctors', 'a_doctor2'), false) as d $$,
    $$ values (false, false, 'A Doctor2') $$,
    'the admin deactivates a doctor; the login serves nothing else, so the sidecar bans it'
);
select is(
    (
        select m.is_active from public.staff_memberships as m
        where m.user_id = tests.user_id('a_doctor2') and m.role = 'doctor'
    ),
    false, 'the doctor''s membership is deactivated with the profile'
);
select tests.act_as('a_doctor2');
select is_empty($$ select id from public.patients $$, 'the deactivated doctor sees no patient on the next query');
select tests.act_as('a_admin');
select results_eq(
    $$ select (d ->> 'is_active')::boolean, d ->> 'full_name'
        from public.set_doctor_active(tests.id_of('doctors', 'a_doctor2'), true) as d $$,
    $$ values (true, 'A Doctor2') $$,
    'the admin reactivates the doctor'
);

select * from finish();
rollback;
