-- Staff of every role (issue 20, item 5): one provisioning path for nurses, front desk, CROs
-- and admins (and doctors, pharmacists); the staff list; deactivation and reactivation of any
-- member; a forced password reset ending the login's sessions. The sidecar's part (the login
-- made with the Auth admin API) is played here as in reach_references: a user carrying the grant.
begin;
select plan(28);

select tests.create_world();

-- A login made for a grant, as the sidecar makes it with the Auth admin API.
create function pg_temp.login_for(name text, grant_id uuid)
returns uuid
language plpgsql
as $$
declare
    made uuid := tests.create_user(name);
begin
    insert into tests.world (kind, name, id) values ('profiles', name, made);
    update auth.users set raw_app_meta_data = raw_app_meta_data || jsonb_build_object('provisioning_grant', grant_id)
    where id = made;
    return made;
end;
$$;

create function pg_temp.sign_in(member uuid)
returns uuid
language sql
as $$
    with session as (
        insert into auth.sessions (id, user_id, created_at, updated_at, aal)
        values (gen_random_uuid(), member, now(), now(), 'aal1')
        returning id
    )
    insert into auth.refresh_tokens (token, user_id, revoked, created_at, updated_at, session_id)
    select gen_random_uuid()::text, member::text, false, now(), now(), session.id from session
    returning session_id;
$$;

-- Provisioning: every staff role through one path --------------------------------------------------
select tests.act_as('a_admin');
create temporary table grants as
select
    r.role,
    public.begin_staff_provisioning(
        tests.id_of('hospitals', 'TSTA'),
        'new_' || r.role || '@test.carebase',
        'New ' || r.role,
        r.role::public.app_role,
        case r.role
            when 'doctor' then '{"specialty": "Cardiology", "licence_number": "PMC-A-9100"}'::jsonb
            else '{}'::jsonb
        end
    ) as grant_id
from (values ('nurse'), ('cro'), ('front_desk'), ('hospital_admin'), ('doctor')) as r (role);
select tests.clear_authentication();
grant select on grants to authenticated;
select pg_temp.login_for('new_' || role, grant_id) from grants;

select tests.act_as('a_admin');
select results_eq(
    $$ select g.role, r ->> 'role', r ->> 'full_name', r ->> 'email'
        from grants as g,
            lateral (select public.complete_staff_provisioning(g.grant_id, tests.user_id('new_' || g.role)) as r) as done
        where g.role <> 'doctor'
        order by g.role $$,
    $$ values ('cro', 'cro', 'New cro', 'new_cro@test.carebase'),
        ('front_desk', 'front_desk', 'New front_desk', 'new_front_desk@test.carebase'),
        ('hospital_admin', 'hospital_admin', 'New hospital_admin', 'new_hospital_admin@test.carebase'),
        ('nurse', 'nurse', 'New nurse', 'new_nurse@test.carebase') $$,
    'an admin provisions a CRO, a front desk, an admin and a nurse: each gets its membership'
);
select is(
    (
        select public.complete_staff_provisioning(g.grant_id, tests.user_id('new_doctor')) ->> 'specialty'
        from grants as g
        where g.role = 'doctor'
    ),
    'Cardiology',
    'the same path makes a doctor with their profile row'
);
select is(
    (
        select array_agg(s.role::text order by s.role::text)
        from public.staff_members(tests.id_of('hospitals', 'TSTA')) as s
        where s.user_id in (select tests.user_id('new_' || g.role) from grants as g)
    ),
    array['cro', 'doctor', 'front_desk', 'hospital_admin', 'nurse'],
    'the staff list shows each with their role'
);
select tests.act_as('new_nurse');
select ok(
    tests.id_of('hospitals', 'TSTA') = any(private.staff_hospital_ids('{nurse}')),
    'the nurse works at the hospital at once'
);

select tests.act_as('a_front_desk');
select is(
    (
        tests.error_of($$ select public.begin_staff_provisioning(tests.id_of('hospitals', 'TSTA'),
            'x@test.carebase', 'X', 'nurse') $$)
    ) ->> 'details',
    'not_hospital_admin',
    'a front desk cannot provision staff'
);
select tests.act_as('a_doctor');
select is(
    (
        tests.error_of($$ select public.begin_staff_provisioning(tests.id_of('hospitals', 'TSTA'),
            'x@test.carebase', 'X', 'cro') $$)
    ) ->> 'details',
    'not_hospital_admin',
    'nor can a doctor'
);
select tests.act_as('b_admin');
select is(
    (
        tests.error_of($$ select public.begin_staff_provisioning(tests.id_of('hospitals', 'TSTA'),
            'x@test.carebase', 'X', 'nurse') $$)
    ) ->> 'details',
    'not_hospital_admin',
    'nor another hospital''s admin'
);
select tests.act_as('a_admin');
select is(
    (
        tests.error_of($$ select public.begin_staff_provisioning(tests.id_of('hospitals', 'TSTA'),
            'x@test.carebase', 'X', 'patient') $$)
    ) ->> 'details',
    'invalid_role',
    'patients are not provisioned as staff'
);
select is(
    (
        tests.error_of($$ select public.begin_staff_provisioning(tests.id_of('hospitals', 'TSTA'),
            'x@test.carebase', 'X', 'nurse', '{"specialty": "ICU"}') $$)
    ) ->> 'details',
    'invalid_profile',
    'a nurse takes no profile fields'
);
select is(
    (
        tests.error_of($$ select public.begin_staff_provisioning(tests.id_of('hospitals', 'TSTA'),
            'x@test.carebase', 'X', 'doctor') $$)
    ) ->> 'details',
    'invalid_profile',
    'a doctor needs a specialty and a licence'
);
select is(
    (
        tests.error_of($$ select public.begin_staff_provisioning(tests.id_of('hospitals', 'TSTA'),
            'a_nurse@test.carebase', 'X', 'cro') $$)
    ) ->> 'details',
    'email_exists',
    'an email that has a login is refused (an invitation adds existing logins)'
);

-- The list -------------------------------------------------------------------------------------------
select is_empty(
    $$ select from public.staff_members() where hospital_id <> tests.id_of('hospitals', 'TSTA') $$,
    'an admin lists only the hospitals they administer'
);
select is(
    (
        select s.full_name from public.staff_members() as s
        where s.user_id = tests.user_id('a_revoked_doctor')
    ),
    'A Revoked Doctor',
    'a deactivated member is listed with their name (to reactivate them)'
);
select tests.act_as('a_nurse');
select is_empty($$ select from public.staff_members() $$, 'a nurse lists nobody');

-- Deactivation and reactivation of any member -------------------------------------------------------
select tests.clear_authentication();
select pg_temp.sign_in(tests.user_id('new_nurse'));
select pg_temp.sign_in(tests.user_id('new_nurse'));
select pg_temp.sign_in(tests.user_id('new_doctor'));
create temporary table memberships as
select
    m.id,
    p.name
from public.staff_memberships as m
inner join tests.world as p on p.kind = 'profiles' and m.user_id = p.id
where m.hospital_id = tests.id_of('hospitals', 'TSTA');
grant select on memberships to authenticated;

select tests.act_as('a_front_desk');
select is(
    (
        tests.error_of(
            $$ select public.set_staff_member_active((select id from memberships where name = 'new_nurse'), false) $$
        )
    ) ->> 'details',
    'not_hospital_admin',
    'a front desk cannot deactivate a nurse'
);
select tests.act_as('a_admin');
select is(
    public.set_staff_member_active((
        select id from memberships
        where name = 'new_nurse'
    ), false) ->> 'is_active',
    'false',
    'the admin deactivates the nurse'
);
select tests.clear_authentication();
select is(
    (
        select count(*) from auth.sessions
        where user_id = tests.user_id('new_nurse')
    ), 0::bigint,
    'which ends every session of the login'
);
select tests.act_as('new_nurse');
select is(cardinality(private.staff_hospital_ids('{nurse}')), 0, 'and the nurse reaches the hospital no more');
select tests.act_as('a_admin');
select is(
    public.set_staff_member_active((
        select id from memberships
        where name = 'new_nurse'
    ), true) ->> 'is_active',
    'true',
    'reactivation brings the membership back'
);
select is(
    public.set_staff_member_active((
        select id from memberships
        where name = 'new_doctor'
    ), false) ->> 'doctor_id',
    (
        select d.id::text from public.doctors as d
        where d.user_id = tests.user_id('new_doctor')
    ),
    'a doctor is deactivated by membership too'
);
select is(
    (
        select d.is_active from public.doctors as d
        where d.user_id = tests.user_id('new_doctor')
    ), false,
    'with their doctor profile'
);
select is(
    (
        tests.error_of(
            $$ select public.set_staff_member_active((select id from memberships where name = 'a_admin'), false) $$
        )
    ) ->> 'details',
    'cannot_deactivate_self',
    'an admin does not deactivate themself'
);
select tests.act_as('b_admin');
select is(
    (
        tests.error_of(
            $$ select public.set_staff_member_active((select id from memberships where name = 'new_cro'), false) $$
        )
    ) ->> 'details',
    'staff_member_not_found',
    'another hospital''s admin finds no such member'
);

-- Forced password reset -----------------------------------------------------------------------------
select tests.clear_authentication();
select pg_temp.sign_in(tests.user_id('new_cro'));
select tests.act_as('a_admin');
select is(
    public.begin_password_reset(tests.user_id('new_cro')) ->> 'email', 'new_cro@test.carebase',
    'the admin forces the CRO''s password reset'
);
select tests.clear_authentication();
select ok(
    not exists (
        select from auth.sessions
        where user_id = tests.user_id('new_cro')
    )
    and not exists (
        select from auth.refresh_tokens
        where user_id = tests.user_id('new_cro')::text
    ),
    'every session and refresh token of the login is gone'
);
select tests.act_as('a_admin');
select is(
    (tests.error_of($$ select public.begin_password_reset(tests.user_id('a_admin')) $$)) ->> 'details',
    'cannot_reset_own_password',
    'not their own (that takes the current password)'
);
select is(
    (tests.error_of($$ select public.begin_password_reset(tests.user_id('a_patient1')) $$)) ->> 'details',
    'staff_member_not_found',
    'nor a patient''s login'
);
select tests.clear_authentication();
insert into public.staff_memberships (user_id, hospital_id, role)
values (tests.user_id('new_nurse'), tests.id_of('hospitals', 'TSTB'), 'nurse');
select tests.act_as('a_admin');
select is(
    (tests.error_of($$ select public.begin_password_reset(tests.user_id('new_nurse')) $$)) ->> 'details',
    'login_serves_elsewhere',
    'nor a login that also works at a hospital the admin does not run'
);

select * from finish();
rollback;
