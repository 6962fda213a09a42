-- Round-robin assignment of the CRO queue (issue 17 item 4) and the queue itself (item 3): each
-- lead sent to the CRO queue goes to the next CRO in turn; a capped or off-shift CRO is skipped;
-- a lead nobody can take stays visible as unassigned and is drained oldest first; a deactivated
-- CRO's leads are handed on. (Two assignments at once: tests/test_leads_over_http.py.)
begin;
select plan(23);

select tests.create_world();

-- TSTA gets two more CROs; the turn order of three CROs who never had a lead is by user id.
do $$ begin perform tests.create_user('a_cro2'); perform tests.create_user('a_cro3'); end $$;
insert into public.staff_memberships (user_id, hospital_id, role)
values
(tests.user_id('a_cro2'), tests.id_of('hospitals', 'TSTA'), 'cro'),
(tests.user_id('a_cro3'), tests.id_of('hospitals', 'TSTA'), 'cro');
create temporary table turn_order as
select
    row_number() over (order by tests.user_id(c.name)) as n,
    tests.user_id(c.name) as user_id,
    c.name
from unnest(array['a_cro', 'a_cro2', 'a_cro3']) as c (name);
grant select on turn_order to authenticated;
create function pg_temp.cro(
    n integer
) returns uuid language sql as $$ select user_id from turn_order where n = cro.n $$;
create function pg_temp.cro_name(
    n integer
) returns text language sql as $$ select name from turn_order where n = cro_name.n $$;
grant execute on function pg_temp.cro(integer), pg_temp.cro_name(integer) to authenticated;

select set_eq(
    $$ select user_id from public.cro_rotation where hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    array[tests.user_id('a_cro'), tests.user_id('a_cro2'), tests.user_id('a_cro3')],
    'every active CRO of the hospital is in its rotation'
);

-- Leads of TSTA entered by the front desk, named L1, L2, ...
create sequence tests.la_seq;
create function pg_temp.lead(name text)
returns uuid
language plpgsql
as $$
declare
    made uuid;
    phone constant text := '+9171000' || lpad(nextval('tests.la_seq')::text, 5, '0');
begin
    perform tests.act_as('a_front_desk');
    made := (public.create_lead(tests.id_of('hospitals', 'TSTA'), name, phone) -> 'lead' ->> 'id')::uuid;
    perform tests.clear_authentication();
    return tests.remember(name, made);
end;
$$;
-- The front desk sends a lead to the CRO queue; who has it now.
create function pg_temp.send_to_cro(name text)
returns uuid
language plpgsql
as $$
declare
    holder uuid;
begin
    perform tests.act_as('a_front_desk');
    update public.leads set status = 'stalling_sent_to_cro', status_reason = 'worried about the cost'
    where id = tests.recall(name);
    perform tests.clear_authentication();
    select l.assigned_to into holder from public.leads as l where l.id = tests.recall(name);
    return holder;
end;
$$;

select pg_temp.lead('L' || n) from generate_series(1, 12) as n;

-- In turn ----------------------------------------------------------------------------------------
select is(
    array[pg_temp.send_to_cro('L1'), pg_temp.send_to_cro('L2'), pg_temp.send_to_cro('L3'), pg_temp.send_to_cro('L4')],
    array[pg_temp.cro(1), pg_temp.cro(2), pg_temp.cro(3), pg_temp.cro(1)],
    'each lead sent to the CRO queue goes to the next CRO in turn, round and round'
);
select results_eq(
    $$ select details ->> 'how', (details ->> 'to')::uuid, actor_id from public.lead_activities
        where lead_id = tests.recall('L2') and kind = 'assigned' $$,
    $$ values ('round_robin', pg_temp.cro(2), tests.user_id('a_front_desk')) $$,
    'the assignment is in the lead''s story: to whom, how, in whose move'
);
select results_eq(
    $$ select user_id, assigned_today, assigned_on = (now() at time zone 'Asia/Kolkata')::date
        from public.cro_rotation where hospital_id = tests.id_of('hospitals', 'TSTA') order by user_id $$,
    $$ select user_id, case when n = 1 then 2 else 1 end, true from turn_order order by user_id $$,
    'the rotation counts what each CRO was given today, in the hospital''s day'
);

-- Caps and shifts ----------------------------------------------------------------------------------
select tests.act_as('a_admin');
update public.cro_rotation set daily_cap = 1
where hospital_id = tests.id_of('hospitals', 'TSTA') and user_id = pg_temp.cro(2);
select tests.clear_authentication();
select is(
    array[pg_temp.send_to_cro('L5'), pg_temp.send_to_cro('L6')],
    array[pg_temp.cro(3), pg_temp.cro(1)],
    'a CRO who reached their daily cap is skipped (their turn passes to the next)'
);
select tests.act_as(pg_temp.cro_name(3));
update public.cro_rotation set on_shift = false
where hospital_id = tests.id_of('hospitals', 'TSTA') and user_id = pg_temp.cro(3);
select tests.clear_authentication();
select is(
    array[pg_temp.send_to_cro('L7'), pg_temp.send_to_cro('L8')],
    array[pg_temp.cro(1), pg_temp.cro(1)],
    'a CRO off shift is skipped too (here: only the first CRO can take leads)'
);
select tests.act_as(pg_temp.cro_name(3));
select throws_ok(
    format(
        $$ update public.cro_rotation set daily_cap = 50 where hospital_id = %L and user_id = %L $$,
        tests.id_of('hospitals', 'TSTA'), pg_temp.cro(3)
    ),
    '42501', 'a CRO changes only their own shift; caps are set by the hospital''s admin',
    'a CRO does not lift their own cap'
);
select is_empty(
    format(
        $$ update public.cro_rotation set on_shift = false where hospital_id = %L and user_id = %L returning 1 $$,
        tests.id_of('hospitals', 'TSTA'), pg_temp.cro(1)
    ),
    'nor puts a colleague off shift'
);
select tests.act_as('b_admin');
select is_empty(
    format($$ select 1 from public.cro_rotation where hospital_id = %L $$, tests.id_of('hospitals', 'TSTA')),
    'another hospital''s admin does not see the rotation'
);

-- Nobody free: the lead waits in the queue, unassigned and visible ------------------------------------
select tests.act_as(pg_temp.cro_name(1));
update public.cro_rotation set on_shift = false
where hospital_id = tests.id_of('hospitals', 'TSTA') and user_id = pg_temp.cro(1);
select tests.clear_authentication();
select is(
    array[pg_temp.send_to_cro('L9'), pg_temp.send_to_cro('L10')],
    array[null::uuid, null::uuid],
    'with no CRO on shift under their cap, a lead sent to the queue stays unassigned'
);
select tests.act_as(pg_temp.cro_name(1));
select ok(
    (select array_agg(q.lead_id order by q.waiting_since) from public.cro_queue() as q)
    @> array[tests.recall('L9'), tests.recall('L10')],
    'a CRO''s queue shows the unassigned leads beside their own'
);
select is(
    (
        select count(*)::integer from public.cro_queue() as q
        where q.assigned_to = pg_temp.cro(3)
    ),
    0, 'but not a colleague''s (by default)'
);
select is(
    (
        select count(*)::integer from public.cro_queue(everyone => true) as q
        where q.assigned_to = pg_temp.cro(3)
    ),
    2, 'everyone: true shows the whole queue'
);
select results_eq(
    $$ select q.lead_id from public.cro_queue(everyone => true) as q where q.lead_id in
        (tests.recall('L1'), tests.recall('L9'), tests.recall('L5')) $$,
    $$ values (tests.recall('L1')), (tests.recall('L5')), (tests.recall('L9')) $$,
    'the queue is oldest first'
);
select results_eq(
    $$ select q.history -> 0 ->> 'to', q.history -> 1 ->> 'to', q.history -> 1 ->> 'reason', q.history -> 1 ->> 'role'
        from public.cro_queue(everyone => true) as q where q.lead_id = tests.recall('L1') $$,
    $$ values ('new_inquiry', 'stalling_sent_to_cro', 'worried about the cost', 'front_desk') $$,
    'each queued lead comes with its history: moves, reasons, roles'
);

-- Back on shift: the backlog drains oldest first -------------------------------------------------------
update public.cro_rotation set on_shift = true
where hospital_id = tests.id_of('hospitals', 'TSTA') and user_id = pg_temp.cro(1);
select tests.act_as(pg_temp.cro_name(3));
update public.cro_rotation set on_shift = true
where hospital_id = tests.id_of('hospitals', 'TSTA') and user_id = pg_temp.cro(3);
select tests.act_as('a_doctor');
select throws_ok(
    format($$ select public.assign_leads(%L) $$, tests.id_of('hospitals', 'TSTA')),
    '42501', 'only the front desk, CROs and admins of the hospital assign its leads',
    'a doctor does not assign leads'
);
select tests.act_as('b_front_desk');
select throws_ok(
    format($$ select public.assign_leads(%L) $$, tests.id_of('hospitals', 'TSTA')),
    '42501', 'only the front desk, CROs and admins of the hospital assign its leads',
    'nor another hospital''s front desk'
);
select tests.act_as('a_front_desk');
-- In turn now: the third CRO (L6... their last lead was L5), then the first (L8).
select is(
    public.assign_leads(tests.id_of('hospitals', 'TSTA')),
    jsonb_build_object(
        'assigned', jsonb_build_array(
            jsonb_build_object('lead_id', tests.recall('L9'), 'assigned_to', pg_temp.cro(3)),
            jsonb_build_object('lead_id', tests.recall('L10'), 'assigned_to', pg_temp.cro(1))
        ),
        'waiting', 0
    ),
    'rpc/assign_leads drains the backlog oldest first, in turn, skipping the capped CRO'
);

-- A deactivated CRO hands their leads on --------------------------------------------------------------
select tests.act_as('a_front_desk');
update public.leads set assigned_to = pg_temp.cro(1)
where id = tests.recall('L11');
select tests.act_as('a_admin');
update public.staff_memberships set is_active = false
where user_id = pg_temp.cro(1) and hospital_id = tests.id_of('hospitals', 'TSTA');
select tests.clear_authentication();
select is_empty(
    format($$ select id from public.leads where assigned_to = %L $$, pg_temp.cro(1)),
    'a deactivated CRO keeps no open lead'
);
select results_eq(
    $$ select assigned_to from public.leads where id = tests.recall('L11') $$,
    array[null::uuid],
    'a lead they had outside the queue goes back to the front desk (unassigned)'
);
select is(
    (
        select count(*)::integer from public.leads
        where id in (
            tests.recall('L1'), tests.recall('L4'), tests.recall('L6'), tests.recall('L7'),
            tests.recall('L8'), tests.recall('L10')
        )
        and assigned_to = pg_temp.cro(3)
    ),
    6, 'their queue leads go to the CROs still in turn (the capped one skipped)'
);
select set_eq(
    $$ select details ->> 'how' as how, (details ->> 'from')::uuid as from_id, (details ->> 'to')::uuid as to_id
        from public.lead_activities
        where lead_id = tests.recall('L4') and kind = 'assigned' and details ->> 'how' = 'reassigned' $$,
    $$ values ('reassigned', pg_temp.cro(1), null::uuid), ('reassigned', null::uuid, pg_temp.cro(3)) $$,
    'handing on is in the lead''s story: released by the deactivated CRO, then given in turn'
);
select is(
    (
        select count(*)::integer from public.cro_rotation as r
        inner join
            public.staff_memberships as m
            on r.user_id = m.user_id and r.hospital_id = m.hospital_id and m.role = 'cro'
        where r.hospital_id = tests.id_of('hospitals', 'TSTA') and m.is_active
    ),
    2, 'the rotation goes on with the active CROs'
);

select * from finish();
rollback;
