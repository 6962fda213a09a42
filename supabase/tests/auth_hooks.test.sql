-- The Supabase Auth hooks (supabase/config.toml), run as Supabase Auth runs them: as
-- supabase_auth_admin, with exactly that role's privileges.
--   custom_access_token_hook: adds user_role, hospital_id and memberships (active ones only) for
--   staff, user_role 'patient' and patient_id for patients, and keeps every claim it was given.
--   password_verification_hook: the 5th consecutive failure locks the login for 15 minutes;
--   while locked even the right password is refused; an admin of the user's hospital unlocks it.
--   A lockout reads as a wrong password ("Invalid login credentials") and never signs the user
--   out (should_logout_user false): a stranger can lock the sign-in, not end the sessions.
-- Nobody else may run the hooks.

begin;
select plan(30);

select tests.create_world();
-- On Supabase (since 2024) and in devstack's shim, postgres is not a member of
-- supabase_auth_admin. The test takes the membership inside its own transaction (postgres holds
-- CREATEROLE; it is rolled back with everything else) so that the hooks run as that role.
grant supabase_auth_admin to postgres;

-- A hook call as Supabase Auth makes it: as supabase_auth_admin, no JWT claims. An error comes
-- back as {"error": sqlstate, "message": ...} so that one failure does not end the file.
create function tests.call_hook(hook text, event jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    result jsonb;
begin
    perform set_config('request.jwt.claims', '', true);
    perform set_config('role', 'supabase_auth_admin', true);
    execute format('select private.%I($1)', hook) into result using event;
    perform set_config('role', 'none', true);
    return result;
exception when others then
    return jsonb_build_object('error', sqlstate, 'message', sqlerrm);
end;
$$;

-- The claims Supabase Auth puts in a token before the hook adds its own.
create function tests.token_event(name text)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select jsonb_build_object(
        'user_id', tests.user_id(token_event.name),
        'authentication_method', 'password',
        'claims', jsonb_build_object(
            'aud', 'authenticated', 'sub', tests.user_id(token_event.name), 'role', 'authenticated',
            'email', token_event.name || '@test.carebase', 'phone', '', 'aal', 'aal1',
            'session_id', '5d1c7a6e-0000-4000-8000-000000000001', 'is_anonymous', false,
            'app_metadata', jsonb_build_object('provider', 'email'), 'user_metadata', '{}'::jsonb,
            'exp', 4102444800, 'iat', 4102444000
        )
    );
$$;

create function tests.claims(name text)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select coalesce(
        tests.call_hook('custom_access_token_hook', tests.token_event(claims.name)) -> 'claims',
        tests.call_hook('custom_access_token_hook', tests.token_event(claims.name))
    );
$$;

create function tests.password_attempt(name text, valid boolean)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select tests.call_hook(
        'password_verification_hook',
        jsonb_build_object('user_id', tests.user_id(password_attempt.name), 'valid', password_attempt.valid)
    );
$$;

-- a_doctor also holds a deactivated nurse membership at B; a_nurse also works front desk at B.
insert into public.staff_memberships (user_id, hospital_id, role, is_active)
values
(tests.user_id('a_doctor'), tests.id_of('hospitals', 'TSTB'), 'nurse', false),
(tests.user_id('a_nurse'), tests.id_of('hospitals', 'TSTB'), 'front_desk', true);

-- who may run the hooks -------------------------------------------------------------------
select results_eq(
    $$ select has_function_privilege(r.role, 'private.custom_access_token_hook(jsonb)', 'execute'),
        has_function_privilege(r.role, 'private.password_verification_hook(jsonb)', 'execute')
        from (values ('supabase_auth_admin')) as r (role) $$,
    $$ values (true, true) $$,
    'supabase_auth_admin may run both hooks'
);
select tests.act_as_anon();
select throws_ok(
    $$ select private.custom_access_token_hook(tests.token_event('a_doctor')) $$,
    '42501',
    null,
    'anon cannot run the custom access token hook'
);
select throws_ok(
    $$ select private.password_verification_hook(jsonb_build_object('user_id', tests.user_id('a_doctor'),
        'valid', true)) $$,
    '42501',
    null,
    'anon cannot run the password verification hook'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ select private.custom_access_token_hook(tests.token_event('a_doctor')) $$,
    '42501',
    null,
    'a signed-in user cannot run the custom access token hook'
);
select throws_ok(
    $$ select private.password_verification_hook(jsonb_build_object('user_id', tests.user_id('a_doctor'),
        'valid', true)) $$,
    '42501',
    null,
    'a signed-in user cannot run the password verification hook'
);
select tests.act_as_service_role();
select throws_ok(
    $$ select private.custom_access_token_hook(tests.token_event('a_doctor')) $$,
    '42501',
    null,
    'the service role cannot run the custom access token hook'
);
select throws_ok(
    $$ select private.password_verification_hook(jsonb_build_object('user_id', tests.user_id('a_doctor'),
        'valid', true)) $$,
    '42501',
    null,
    'the service role cannot run the password verification hook'
);
select tests.clear_authentication();

-- custom access token hook ----------------------------------------------------------------
create temporary table token (name text primary key, claims jsonb) on commit drop;
insert into token (name, claims)
select
    u.name,
    tests.claims(u.name)
from unnest(
    array['a_doctor', 'a_nurse', 'a_admin', 'a_revoked_doctor', 'a_patient1', 'a_archived', 'nobody']
) as u (name);
select is_empty(
    $$ select name, claims ->> 'error', claims ->> 'message' from token where claims ? 'error'
        order by name $$,
    'the hook runs as supabase_auth_admin for every kind of user without an error'
);
select results_eq(
    $$ select claims ->> 'user_role', (claims ->> 'hospital_id')::uuid, claims -> 'memberships',
        claims ? 'patient_id'
        from token where name = 'a_doctor' $$,
    $$ select 'doctor', tests.id_of('hospitals', 'TSTA'),
        jsonb_build_array(jsonb_build_object('hospital_id', tests.id_of('hospitals', 'TSTA'), 'role',
        'doctor')), false $$,
    'a doctor gets user_role doctor, hospital A and only their active membership (not the deactivated one at B)'
);
select results_eq(
    $$ select claims @> (tests.token_event('a_doctor') -> 'claims') from token where name = 'a_doctor' $$,
    array[true],
    'the hook keeps every claim Supabase Auth issued (sub, aud, role, email, aal, session_id, exp ...)'
);
select results_eq(
    $$ select claims ->> 'user_role', (claims ->> 'hospital_id')::uuid,
        jsonb_array_length(claims -> 'memberships'),
        claims -> 'memberships' @> jsonb_build_array(
        jsonb_build_object('hospital_id', tests.id_of('hospitals', 'TSTA'), 'role', 'nurse'),
        jsonb_build_object('hospital_id', tests.id_of('hospitals', 'TSTB'), 'role', 'front_desk')
        )
        from token where name = 'a_nurse' $$,
    $$ select 'nurse', tests.id_of('hospitals', 'TSTA'), 2, true $$,
    'a nurse who also works front desk at B gets both memberships, the clinical role first'
);
select results_eq(
    $$ select claims ->> 'user_role', (claims ->> 'hospital_id')::uuid from token where name = 'a_admin' $$,
    $$ select 'hospital_admin', tests.id_of('hospitals', 'TSTA') $$,
    'the admin of A gets user_role hospital_admin at A'
);
select results_eq(
    $$ select claims ->> 'user_role', claims -> 'memberships', claims ? 'patient_id', claims ? 'sub'
        from token where name = 'a_revoked_doctor' $$,
    $$ select null::text, '[]'::jsonb, false, true $$,
    'a revoked doctor gets no role and no membership in a new token'
);
select results_eq(
    $$ select claims ->> 'user_role', (claims ->> 'patient_id')::uuid, (claims ->> 'hospital_id')::uuid,
        claims -> 'memberships'
        from token where name = 'a_patient1' $$,
    $$ select 'patient', tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
        '[]'::jsonb $$,
    'a patient gets user_role patient, their patient_id and the hospital they are registered at'
);
select results_eq(
    $$ select claims ->> 'user_role', claims ? 'patient_id', claims ? 'sub' from token
        where name = 'a_archived' $$,
    $$ select null::text, false, true $$,
    'an archived patient gets neither the patient role nor a patient_id'
);
select results_eq(
    $$ select claims ->> 'user_role', claims -> 'memberships', claims ? 'patient_id',
        claims @> (tests.token_event('nobody') -> 'claims')
        from token where name = 'nobody' $$,
    $$ select null::text, '[]'::jsonb, false, true $$,
    'a user with no role gets no role, no membership, no patient_id, and keeps their claims'
);

-- password verification hook: lockout after 5 failures ------------------------------------
select results_eq(
    $$ select tests.password_attempt('a_doctor', false) ->> 'decision' from generate_series(1, 4) $$,
    $$ values ('continue'), ('continue'), ('continue'), ('continue') $$,
    'four wrong passwords in a row: Supabase Auth answers them itself (continue)'
);
select results_eq(
    $$ select r ->> 'decision', r ->> 'message', (r ->> 'should_logout_user')::boolean
        from tests.password_attempt('a_doctor', false) as r $$,
    $$ values ('reject', 'Invalid login credentials', false) $$,
    'the fifth wrong password locks the login (reject), reads as a wrong password, and ends no session'
);
select results_eq(
    $$ select r ->> 'decision', r ->> 'message', (r ->> 'should_logout_user')::boolean
        from tests.password_attempt('a_doctor', true) as r $$,
    $$ values ('reject', 'Invalid login credentials', false) $$,
    'while locked, even the right password is rejected, as a wrong password is, ending no session'
);
select results_eq(
    $$ select tests.password_attempt('a_doctor', false) ->> 'decision' $$,
    $$ values ('reject') $$,
    'while locked, a wrong password is rejected too'
);

-- unlocking -------------------------------------------------------------------------------
select tests.act_as('b_admin');
select throws_ok(
    $$ select public.unlock_login(tests.user_id('a_doctor')) $$,
    '42501',
    'only a hospital admin of this user''s hospital can unlock their login',
    'the admin of B cannot unlock a login of A'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ select public.unlock_login(tests.user_id('a_doctor')) $$,
    '42501',
    'only a hospital admin of this user''s hospital can unlock their login',
    'a locked-out doctor cannot unlock themselves'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.unlock_login(tests.user_id('a_doctor')) $$,
    '42501',
    'only a hospital admin of this user''s hospital can unlock their login',
    'front desk of A cannot unlock a login'
);
select tests.act_as_anon();
select throws_ok(
    $$ select public.unlock_login(tests.user_id('a_doctor')) $$,
    '42501',
    'permission denied for function unlock_login',
    'anon cannot unlock a login'
);
select tests.clear_authentication();
select results_eq(
    $$ select tests.password_attempt('a_doctor', true) ->> 'decision' $$,
    $$ values ('reject') $$,
    'after the refused unlocks the login is still locked'
);
select tests.act_as('a_admin');
select results_eq(
    $$ select public.unlock_login(tests.user_id('a_doctor')) $$,
    array[true],
    'the admin of A unlocks the login of a doctor of A (it was locked)'
);
select results_eq(
    $$ select public.unlock_login(tests.user_id('a_doctor')) $$,
    array[false],
    'unlocking again reports that it was not locked'
);
select tests.clear_authentication();
select results_eq(
    $$ select tests.password_attempt('a_doctor', true) ->> 'decision' $$,
    $$ values ('continue') $$,
    'once unlocked, the right password is accepted'
);

-- a success resets the count --------------------------------------------------------------
select results_eq(
    $$ select tests.password_attempt('a_nurse', v.valid) ->> 'decision'
        from unnest(array[false, false, false, false, true, false, false, false,
        false]) with ordinality as v (valid, n)
        order by v.n $$,
    $$ select 'continue' from generate_series(1, 9) $$,
    'four failures, a success, then four failures again: never locked'
);
select results_eq(
    $$ select tests.password_attempt('a_nurse', false) ->> 'decision' $$,
    $$ values ('reject') $$,
    'the fifth consecutive failure after the success locks the login'
);

select * from finish();
rollback;
