-- Who may join which private Realtime channel of the live events (20261205001000): a user
-- their own user topic, staff their hospital's role topics while the membership is active;
-- nothing for anyone else, no presence, and no client sends on them.
begin;
select plan(20);

select tests.create_world();

-- How Supabase Realtime authorises a join to a private channel (lib/realtime/tenants/
-- authorization.ex): in one transaction, as its own connection, it inserts a probe row into
-- realtime.messages with the channel's topic and the extension (broadcast; presence too when
-- enabled), then sets role, realtime.topic, request.jwt.claims (with claim.sub, claim.role,
-- request.headers) transaction-locally, selects the probe rows by id as that role, and rolls
-- back. The user may receive on the channel when the broadcast probe comes back.
create function pg_temp.joins(who text, topic text, extension text default 'broadcast')
returns boolean
language plpgsql
as $$
declare
    probe uuid := gen_random_uuid();
    allowed boolean;
begin
    insert into realtime.messages (id, topic, extension, private) values (probe, joins.topic, joins.extension, true);
    if who = 'anon' then
        perform tests.act_as_anon();
    else
        perform tests.act_as(who);
    end if;
    perform set_config('realtime.topic', joins.topic, true);
    select exists (select from realtime.messages as m where m.id = probe) into allowed;
    perform tests.clear_authentication();
    perform set_config('realtime.topic', '', true);
    delete from realtime.messages as m where m.id = probe;
    return allowed;
end;
$$;

create function pg_temp.user_topic(who text)
returns text
language sql
as $$ select 'user:' || tests.user_id(who)::text $$;

create function pg_temp.hospital_topic(code text, role text)
returns text
language sql
as $$ select 'hospital:' || tests.id_of('hospitals', code)::text || ':' || role $$;

grant execute on function pg_temp.user_topic(text), pg_temp.hospital_topic(text, text) to authenticated, anon;


-- Joining -------------------------------------------------------------------------------------
select ok(pg_temp.joins('a_patient1', pg_temp.user_topic('a_patient1')), 'a patient joins their own user topic');
select ok(
    not pg_temp.joins('a_patient1', pg_temp.user_topic('a_patient2')),
    'and not another patient''s'
);
select ok(
    not pg_temp.joins('a_patient1', pg_temp.hospital_topic('TSTA', 'front_desk')),
    'nor a hospital topic'
);
select ok(
    not pg_temp.joins('a_patient1', pg_temp.user_topic('a_patient1'), 'presence'),
    'presence is not offered on these topics'
);
select ok(
    not pg_temp.joins('anon', pg_temp.user_topic('a_patient1')),
    'an anonymous client joins nothing'
);
select ok(
    pg_temp.joins('a_front_desk', pg_temp.hospital_topic('TSTA', 'front_desk')),
    'front desk joins their hospital''s front_desk topic'
);
select ok(
    not pg_temp.joins('a_front_desk', pg_temp.hospital_topic('TSTB', 'front_desk')),
    'not another hospital''s'
);
select ok(
    not pg_temp.joins('a_front_desk', pg_temp.hospital_topic('TSTA', 'doctor')),
    'nor another role''s at their own hospital'
);
select ok(
    pg_temp.joins('a_doctor', pg_temp.hospital_topic('TSTA', 'doctor'))
    and pg_temp.joins('a_doctor', pg_temp.user_topic('a_doctor')),
    'a doctor joins the doctors'' topic and their own user topic'
);
select ok(
    not pg_temp.joins('a_revoked_doctor', pg_temp.hospital_topic('TSTA', 'doctor')),
    'a revoked doctor does not join the doctors'' topic'
);
select ok(
    not pg_temp.joins('a_front_desk', 'hospital:' || tests.id_of('hospitals', 'TSTA')::text || ':FRONT_DESK')
    and not pg_temp.joins('a_front_desk', 'hospital:' || upper(tests.id_of('hospitals', 'TSTA')::text) || ':front_desk')
    and not pg_temp.joins('a_front_desk', 'realtime:' || pg_temp.hospital_topic('TSTA', 'front_desk')),
    'topics are matched exactly: canonical lower-case uuid, role as in app_role, no realtime: prefix'
);
select tests.act_as('a_patient1');
select set_config('realtime.topic', pg_temp.user_topic('a_patient1'), true);
select throws_ok(
    format(
        $$ insert into realtime.messages (topic, extension, event, payload, private)
            values (%L, 'broadcast', 'x', '{}', true) $$,
        pg_temp.user_topic('a_patient1')
    ),
    '42501', null, 'a client cannot send on its own topic (no insert policy)'
);
select tests.clear_authentication();

-- What to subscribe to ------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select is(
    public.live_topics(),
    array[pg_temp.user_topic('a_front_desk'), pg_temp.hospital_topic('TSTA', 'front_desk')],
    'rpc/live_topics names the caller''s topics'
);
select tests.act_as('a_pharmacist');
select is(
    public.live_topics(),
    array[
        pg_temp.user_topic('a_pharmacist'), pg_temp.hospital_topic('TSTA', 'pharmacist'),
        'pharmacy:' || tests.id_of('pharmacies', 'a_central')::text
    ],
    'a pharmacist also has the topic of their own pharmacy'
);
select tests.act_as('a_patient1');
select is(public.live_topics(), array[pg_temp.user_topic('a_patient1')], 'a patient has their user topic');
select tests.act_as_anon();
select throws_ok($$ select public.live_topics() $$, '42501', null, 'anonymous clients have none');
select tests.clear_authentication();

-- A revoked membership: refused at the next join ---------------------------------------------
select tests.act_as('a_admin');
update public.staff_memberships set is_active = false
where id = tests.id_of('staff_memberships', 'a_front_desk');
select tests.clear_authentication();
select ok(
    not pg_temp.joins('a_front_desk', pg_temp.hospital_topic('TSTA', 'front_desk')),
    'after the membership is revoked the join is refused'
);
select ok(
    pg_temp.joins('a_front_desk', pg_temp.user_topic('a_front_desk')),
    'their own user topic stays theirs'
);

-- A deactivated hospital: gone for its staff at once.
select ok(pg_temp.joins('b_doctor', pg_temp.hospital_topic('TSTB', 'doctor')), 'b_doctor joins TSTB''s doctors');
update public.hospitals set is_active = false
where id = tests.id_of('hospitals', 'TSTB');
select ok(
    not pg_temp.joins('b_doctor', pg_temp.hospital_topic('TSTB', 'doctor')),
    'and not once TSTB is deactivated'
);

select * from finish();
rollback;
