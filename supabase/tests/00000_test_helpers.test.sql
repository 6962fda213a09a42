-- Test helpers, kept in schema `tests`: created and committed first (every other test file
-- uses them and rolls back), then checked in a transaction that rolls back.
-- They create users and act as them exactly as PostgREST does per request: transaction-local
-- `role` and `request.jwt.claims`, the claims being what the custom access token hook issues.
begin;
create extension if not exists pgtap with schema extensions;
create schema if not exists tests;
grant usage on schema tests to anon, authenticated, service_role;

-- A user signing in with email (name@test.carebase) and, optionally, a phone number.
create or replace function tests.create_user(name text, phone text default null)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
    new_id uuid := gen_random_uuid();
begin
    insert into auth.users (
        instance_id, id, aud, role, email, phone, encrypted_password, email_confirmed_at,
        raw_app_meta_data, raw_user_meta_data, created_at, updated_at
    )
    values (
        '00000000-0000-0000-0000-000000000000', new_id, 'authenticated', 'authenticated',
        create_user.name || '@test.carebase', ltrim(create_user.phone, '+'),
        extensions.crypt('Test#pass1', extensions.gen_salt('bf', 4)), now(),
        '{"provider": "email", "providers": ["email"]}',
        jsonb_build_object('full_name', initcap(replace(create_user.name, '_', ' '))), now(), now()
    );
    return new_id;
end;
$$;

create or replace function tests.user_id(name text)
returns uuid
language sql
stable
security definer
set search_path = ''
as $$
    select u.id from auth.users as u where u.email = user_id.name || '@test.carebase';
$$;

-- The claims Supabase Auth would put in this user's access token, hook included.
create or replace function tests.claims_for(user_id uuid, aal text default 'aal1')
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select private.custom_access_token_hook(jsonb_build_object(
        'user_id', u.id,
        'authentication_method', 'password',
        'claims', jsonb_build_object(
            'iss', 'http://127.0.0.1:54321/auth/v1',
            'aud', 'authenticated',
            'sub', u.id,
            'exp', extract(epoch from now() + interval '15 minutes')::bigint,
            'iat', extract(epoch from now())::bigint,
            'email', coalesce(u.email, ''),
            'phone', coalesce(u.phone, ''),
            'role', 'authenticated',
            'aal', claims_for.aal,
            'session_id', gen_random_uuid(),
            'is_anonymous', u.is_anonymous,
            'app_metadata', u.raw_app_meta_data,
            'user_metadata', u.raw_user_meta_data
        )
    )) -> 'claims'
    from auth.users as u where u.id = claims_for.user_id;
$$;

-- The assurance level a user's session has when they sign in as they must: staff (anyone
-- holding a membership) enroll a TOTP factor and step up to aal2 before touching PHI;
-- patients sign in with a phone OTP alone (aal1). Security definer: reads the memberships.
create or replace function tests.usual_aal(user_id uuid)
returns text
language sql
stable
security definer
set search_path = ''
as $$
    select case
        when exists (select from public.staff_memberships as m where m.user_id = usual_aal.user_id) then 'aal2'
        else 'aal1'
    end;
$$;

-- Act as a signed-in user for the rest of the transaction (`set local role authenticated`),
-- at the user's usual assurance level (tests.usual_aal) unless `aal` says otherwise
-- (e.g. 'aal1' for a staff member signed in with a password only).
create or replace function tests.act_as(name text, aal text default null)
returns void
language plpgsql
set search_path = ''
as $$
declare
    user_id uuid := tests.user_id(act_as.name);
    claims jsonb := tests.claims_for(user_id, coalesce(act_as.aal, tests.usual_aal(user_id)));
begin
    if claims is null then
        raise exception 'tests.act_as: no test user named %', act_as.name;
    end if;
    perform set_config('role', 'authenticated', true);
    perform set_config('request.jwt.claims', claims::text, true);
end;
$$;

create or replace function tests.act_as_anon()
returns void
language plpgsql
set search_path = ''
as $$
begin
    perform set_config('role', 'anon', true);
    perform set_config('request.jwt.claims', '{"role": "anon"}', true);
end;
$$;

create or replace function tests.act_as_service_role()
returns void
language plpgsql
set search_path = ''
as $$
begin
    perform set_config('role', 'service_role', true);
    perform set_config('request.jwt.claims', '{"role": "service_role"}', true);
end;
$$;

-- Back to the session user (postgres) with no claims.
create or replace function tests.clear_authentication()
returns void
language plpgsql
set search_path = ''
as $$
begin
    perform set_config('role', 'none', true);
    perform set_config('request.jwt.claims', '', true);
end;
$$;

-- What a refusal says, as the client would read it (PostgREST's code, message, details,
-- hint); null when the statement succeeds.
create or replace function tests.error_of(statement text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    code text;
    message text;
    detail text;
    hint text;
begin
    execute statement;
    return null;
exception when others then
    get stacked diagnostics code = returned_sqlstate, message = message_text, detail = pg_exception_detail,
        hint = pg_exception_hint;
    return jsonb_build_object('code', code, 'message', message, 'details', detail, 'hint', hint);
end;
$$;

-- Ids a test file makes and needs again later (a note, a booking): tests.remember('name', id)
-- keeps one under a name for the rest of the transaction, tests.recall('name') gives it back;
-- an unknown name is an error, never a silent null. The table is temporary, dropped at commit.
create or replace function tests.remember(name text, id uuid)
returns uuid
language plpgsql
set search_path = ''
as $$
begin
    if to_regclass('pg_temp.remembered') is null then
        create temporary table remembered (name text primary key, id uuid not null) on commit drop;
        grant select, insert, update on pg_temp.remembered to anon, authenticated, service_role;
    end if;
    insert into pg_temp.remembered (name, id) values (remember.name, remember.id)
    on conflict on constraint remembered_pkey do update set id = excluded.id;
    return remember.id;
end;
$$;

create or replace function tests.recall(name text)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
    found uuid;
begin
    if to_regclass('pg_temp.remembered') is not null then
        execute 'select r.id from pg_temp.remembered as r where r.name = $1' into found using recall.name;
    end if;
    if found is null then
        raise exception 'tests.recall: nothing remembered as %', recall.name;
    end if;
    return found;
end;
$$;

-- Everything remembered so far, e.g. to join the rows a file made with what they became.
create or replace function tests.remembered()
returns table (name text, id uuid)
language plpgsql
stable
set search_path = ''
as $$
begin
    if to_regclass('pg_temp.remembered') is not null then
        return query execute 'select r.name, r.id from pg_temp.remembered as r';
    end if;
end;
$$;

-- Access matrices: what each role may do, written as data and checked by one loop.
--   select tests.action('create', $$ insert into ... returning 'done' $$);   -- one per column
--   select tests.expect('a_admin', 'TSTA', 'denied', ...);            -- one per role
--   select * from tests.check_matrix('hospitals');                          -- one test per cell
-- An action's statement returns rows: a read returns the names it sees (tests.seen), a
-- write `returning 'done'` (or no RETURNING: 'done' when it touched a row); it may name the
-- actor with current_setting('tests.actor').
-- Outcomes, as the client would notice them (tests.outcome):
--   'TSTA, TSTB'    the rows returned, sorted; 'none' when there are none (RLS hid the row);
--   'denied'        42501 "permission denied for table <subject>" (the role holds no grant);
--   'refused'       42501 "new row violates row-level security policy for table <subject>";
--   'denied on t', 'refused on t'  the same for another table t (an RPC writing several);
--   '<sqlstate>: <message>' any other error.
-- A null cell is not checked. Actions run in the order they were declared (column by
-- column, like a table read down), each for every role in the order given; writes that
-- succeed stay, so later columns see them.
create or replace function tests.outcome(statement text, subject text default null)
returns text
language plpgsql
set search_path = ''
as $$
declare
    returned text[] := '{}';
    value text;
    code text;
    message text;
    touched integer;
begin
    -- A write without RETURNING (one whose new row the actor may not read back, like a walk-in
    -- patient before their registration): 'done' when it touched a row.
    if statement ~* '^\s*(insert|update|delete)\M' and statement !~* '\mreturning\M' then
        execute statement;
        get diagnostics touched = row_count;
        return case when touched > 0 then 'done' else 'none' end;
    end if;
    for value in execute statement loop
        returned := returned || value;
    end loop;
    if cardinality(returned) = 0 then
        return 'none';
    end if;
    return array_to_string(array(select v from unnest(returned) as v order by v), ', ');
exception when others then
    get stacked diagnostics code = returned_sqlstate, message = message_text;
    if code = '42501' and message = format('permission denied for table %s', outcome.subject) then
        return 'denied';
    elsif code = '42501' and message = format('new row violates row-level security policy for table "%s"', outcome.subject) then
        return 'refused';
    elsif code = '42501' and message ~ '^permission denied for table \S+$' then
        return 'denied on ' || substring(message from '^permission denied for table (\S+)$');
    elsif code = '42501' and message ~ '^new row violates row-level security policy for table "[^"]+"$' then
        return 'refused on ' || substring(message from '"([^"]+)"');
    end if;
    return code || ': ' || message;
end;
$$;

-- Keep the access token a user holds now (their claims, as tests.act_as makes them), to act
-- with it later as 'old token of <name>', e.g. after their membership was revoked.
create or replace function tests.keep_token(name text)
returns void
language plpgsql
set search_path = ''
as $$
begin
    perform tests.act_as(keep_token.name);
    perform set_config('tests.kept_token_' || keep_token.name, current_setting('request.jwt.claims'), true);
    perform tests.clear_authentication();
end;
$$;

-- Re-encrypt in batches until a batch finds nothing left (at most 100 batches), as an operator
-- runs public.rotate_field_encryption, as the current role; returns what the last batch
-- re-encrypted: 0 when the rotation finished, whatever data the database holds besides the
-- world (the demo data of `make up` needs several batches of 1000).
create or replace function tests.rotate_until_done(batch_size integer)
returns integer
language plpgsql
set search_path = ''
as $$
declare
    done integer;
begin
    for round in 1..100 loop
        done := public.rotate_field_encryption(rotate_until_done.batch_size);
        exit when done = 0;
    end loop;
    return done;
end;
$$;

-- Act as a matrix actor: 'anon', 'service_role', a test user's name, or 'old token of <name>'
-- (the claims kept by tests.keep_token).
create or replace function tests.act_as_actor(actor text)
returns void
language plpgsql
set search_path = ''
as $$
begin
    case
        when act_as_actor.actor = 'anon' then perform tests.act_as_anon();
        when act_as_actor.actor = 'service_role' then perform tests.act_as_service_role();
        when act_as_actor.actor like 'old token of %' then
            perform set_config('role', 'authenticated', true);
            perform set_config(
                'request.jwt.claims',
                current_setting('tests.kept_token_' || substring(act_as_actor.actor from 14)),
                true
            );
        else perform tests.act_as(act_as_actor.actor);
    end case;
    perform set_config('tests.actor', act_as_actor.actor, true);
end;
$$;

create or replace function tests.action(name text, statement text)
returns void
language plpgsql
set search_path = ''
as $$
begin
    create temporary table if not exists matrix_action (
        step serial primary key, name text not null unique, statement text not null
    ) on commit drop;
    insert into pg_temp.matrix_action (name, statement) values (action.name, action.statement);
end;
$$;

create or replace function tests.expect(actor text, variadic outcomes text[])
returns void
language plpgsql
set search_path = ''
as $$
declare
    actions integer;
begin
    create temporary table if not exists matrix_expect (
        row_number serial primary key, actor text not null, outcomes text[] not null
    ) on commit drop;
    execute 'select count(*) from pg_temp.matrix_action' into actions;
    if cardinality(expect.outcomes) <> actions then
        raise exception 'tests.expect: % gives % outcomes for % actions', expect.actor, cardinality(expect.outcomes), actions;
    end if;
    insert into pg_temp.matrix_expect (actor, outcomes) values (expect.actor, expect.outcomes);
end;
$$;

-- Runs every non-null cell of the matrix declared with tests.action / tests.expect and says
-- whether each outcome is the one expected (one pgTAP test a cell, named actor: action), then
-- forgets the matrix so that the file may declare another one. No `set search_path`: pgTAP's
-- functions find each other through the caller's.
create or replace function tests.check_matrix(subject text)
returns setof text
language plpgsql
as $$
declare
    cell record;
    cells jsonb;
    got text;
begin
    execute $q$
        select coalesce(jsonb_agg(jsonb_build_object(
            'actor', e.actor, 'action', a.name, 'statement', a.statement, 'expected', e.outcomes[a.step]
        ) order by a.step, e.row_number), '[]')
        from pg_temp.matrix_action as a
        cross join pg_temp.matrix_expect as e
        where e.outcomes[a.step] is not null
    $q$ into cells;
    for cell in select * from jsonb_to_recordset(cells) as c (actor text, action text, statement text, expected text) loop
        perform tests.act_as_actor(cell.actor);
        got := tests.outcome(cell.statement, check_matrix.subject);
        perform tests.clear_authentication();
        return next extensions.is(got, cell.expected, format('%s: %s', cell.actor, cell.action));
    end loop;
    execute 'truncate pg_temp.matrix_action, pg_temp.matrix_expect restart identity';
end;
$$;

grant execute on all functions in schema tests to anon, authenticated, service_role;
commit;

begin;
select plan(19);

select tests.create_user('helper_probe', '+919800000001');
select isnt(tests.user_id('helper_probe'), null, 'create_user makes an auth user');
select is(
    (
        select full_name from public.profiles
        where id = tests.user_id('helper_probe')
    ),
    'Helper Probe', 'its profile is created by trigger with the name'
);

select tests.act_as('helper_probe');
select is(current_user::text, 'authenticated', 'act_as switches to the authenticated role');
select is(auth.uid(), tests.user_id('helper_probe'), 'auth.uid() is the user');
select is(auth.jwt() ->> 'phone', '919800000001', 'the claims carry the phone as Supabase Auth stores it');

select is(auth.jwt() ->> 'aal', 'aal1', 'a user without a membership acts at aal1 (patients: phone OTP alone)');
select tests.clear_authentication();
insert into public.hospitals (code, name) values ('HLPR', 'Helper probe hospital');
insert into public.staff_memberships (user_id, hospital_id, role)
select
    tests.user_id('helper_probe'),
    h.id,
    'nurse'
from public.hospitals as h
where h.code = 'HLPR';
select tests.act_as('helper_probe');
select is(auth.jwt() ->> 'aal', 'aal2', 'staff act at aal2, as after their TOTP step-up, unless told otherwise');

select tests.act_as_anon();
select is(auth.uid(), null, 'anon has no uid');

select tests.clear_authentication();
select is(current_user::text, 'postgres', 'clear_authentication returns to the session user');

select tests.remember('probe', tests.user_id('helper_probe'));
select is(tests.recall('probe'), tests.user_id('helper_probe'), 'recall gives back the id remembered under a name');
select is(
    (select array_agg(r.name) from tests.remembered() as r), array['probe'], 'remembered lists every name kept'
);
select throws_ok(
    $$ select tests.recall('never_remembered') $$, 'P0001', 'tests.recall: nothing remembered as never_remembered',
    'recall refuses a name never remembered instead of returning null'
);
select is(
    tests.outcome($$ select unnest(array['b', 'a']) $$), 'a, b', 'outcome lists the rows returned, sorted'
);
select is(tests.outcome($$ select 1 where false $$), 'none', 'outcome says none when no row comes back');
select tests.act_as_actor('anon');
select is(
    tests.outcome($$ select 'x' from public.hospitals $$, 'hospitals'), 'denied',
    'outcome says denied when the role holds no privilege on the subject table'
);
select tests.clear_authentication();
select is(
    tests.outcome($$ select 1 / 0 $$), '22012: division by zero', 'outcome gives any other error''s code and message'
);
select tests.act_as_actor('anon');
select is(
    tests.outcome($$ select 'x' from public.hospitals $$, 'patients'), 'denied on hospitals',
    'outcome names the table when it is not the subject'
);
select tests.keep_token('helper_probe');
select tests.act_as_actor('old token of helper_probe');
select is(auth.uid(), tests.user_id('helper_probe'), 'an old token kept by keep_token acts as its user');
select tests.clear_authentication();
select is(
    tests.outcome($$ update public.hospitals set name = name where code = 'HLPR' $$), 'done',
    'outcome says done when a write without RETURNING touched a row'
);

select * from finish();
rollback;
