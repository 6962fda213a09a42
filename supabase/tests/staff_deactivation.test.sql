-- Deactivating a doctor or a pharmacist ends every session of their login, so no refresh token
-- of theirs works again, not even after a reactivation; a login that still serves another
-- role keeps its sessions; nobody else's sessions are touched, and the helper that deletes
-- them does nothing a deactivation would not.
-- Supabase Auth's sign-ins are played here by inserts into auth.sessions and refresh_tokens.

begin;
select plan(15);

select tests.create_world();

-- A sign-in: a session with one refresh token.
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

create function pg_temp.sessions_of(name text)
returns bigint
language sql
as $$
    select count(*) from auth.sessions where user_id = tests.user_id(name);
$$;

create function pg_temp.refresh_tokens_of(name text)
returns bigint
language sql
as $$
    select count(*) from auth.refresh_tokens where user_id = tests.user_id(name)::text;
$$;

select pg_temp.sign_in(tests.user_id(n))
from (values ('a_doctor2'), ('a_doctor2'), ('a_doctor'), ('a_pharmacist'), ('b_doctor')) as s (n);
-- A refresh token from before sessions existed: nothing cascades to it.
insert into auth.refresh_tokens (token, user_id, revoked, created_at, updated_at)
values ('legacy-' || gen_random_uuid(), tests.user_id('a_doctor2')::text, false, now(), now());
-- b_doctor also works at TSTA, as a nurse: deactivating them at TSTB leaves that role.
insert into public.staff_memberships (user_id, hospital_id, role)
values (tests.user_id('b_doctor'), tests.id_of('hospitals', 'TSTA'), 'nurse');

-- the helper does only what a deactivation does --------------------------------------------
select tests.act_as('a_doctor');
select throws_ok(
    $$ select private.end_deactivated_staff_sessions(tests.user_id('a_doctor2'), tests.id_of('hospitals', 'TSTA'),
        'doctor') $$,
    '42501', 'only an active admin of this hospital can manage its staff',
    'a colleague cannot end a doctor''s sessions'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ select private.end_deactivated_staff_sessions(tests.user_id('a_doctor2'), tests.id_of('hospitals', 'TSTA'),
        'doctor') $$,
    '42501', null, 'nor the admin of another hospital'
);
select tests.act_as('a_admin');
select private.end_deactivated_staff_sessions(tests.user_id('a_doctor2'), tests.id_of('hospitals', 'TSTA'), 'doctor');
select tests.clear_authentication();
select is(pg_temp.sessions_of('a_doctor2'), 2::bigint, 'the admin cannot end an active doctor''s sessions either');

-- deactivating a doctor -------------------------------------------------------------------
select tests.act_as('a_admin');
select is(
    (public.set_doctor_active(tests.id_of('doctors', 'a_doctor2'), false) ->> 'login_keeps_access')::boolean,
    false, 'the admin deactivates a doctor whose login serves nothing else'
);
select tests.clear_authentication();
select is(pg_temp.sessions_of('a_doctor2'), 0::bigint, 'every session of the doctor''s login is ended');
select is(pg_temp.refresh_tokens_of('a_doctor2'), 0::bigint, 'with every refresh token, older ones included');
select is(pg_temp.sessions_of('a_doctor'), 1::bigint, 'a colleague''s session is untouched');
select is(pg_temp.sessions_of('a_pharmacist'), 1::bigint, 'and so is the pharmacist''s');

select tests.act_as('a_admin');
select is(
    (public.set_doctor_active(tests.id_of('doctors', 'a_doctor2'), true) ->> 'is_active')::boolean,
    true, 'the admin reactivates the doctor'
);
select tests.clear_authentication();
select is(pg_temp.refresh_tokens_of('a_doctor2'), 0::bigint, 'the old refresh tokens stay gone: sign in again');
select pg_temp.sign_in(tests.user_id('a_doctor2'));
select tests.act_as('a_admin');
select public.set_doctor_active(tests.id_of('doctors', 'a_doctor2'), true);
select tests.clear_authentication();
select is(pg_temp.sessions_of('a_doctor2'), 1::bigint, 'reactivating an active doctor ends nothing');

-- a login that keeps another role --------------------------------------------------------
select tests.act_as('b_admin');
select is(
    (public.set_doctor_active(tests.id_of('doctors', 'b_doctor'), false) ->> 'login_keeps_access')::boolean,
    true, 'the admin of B deactivates a doctor who is still a nurse at A'
);
select tests.clear_authentication();
select is(pg_temp.sessions_of('b_doctor'), 1::bigint, 'the login keeps its sessions for the nurse');

-- deactivating a pharmacist ---------------------------------------------------------------
select tests.act_as('a_admin');
select is(
    (public.set_pharmacist_active(tests.id_of('pharmacists', 'a_pharmacist'), false) ->> 'is_active')::boolean,
    false, 'the admin deactivates a pharmacist'
);
select tests.clear_authentication();
select is(pg_temp.sessions_of('a_pharmacist'), 0::bigint, 'every session of the pharmacist''s login is ended');

select * from finish();
rollback;
