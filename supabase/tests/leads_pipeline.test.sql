-- The lead pipeline as data (machine lead, issue 17 item 2): every (from, to) pair of the five
-- states, tried by every role of TSTA, another hospital's front desk and the system, is allowed
-- exactly when the transitions table says so (converted only through rpc/convert_lead); lost
-- needs a reason; every move is in status_history with who, when and why, readable under the
-- lead's RLS and written by nobody through the API.
begin;
select plan(194);

select tests.create_world();

create sequence tests.lp_seq;

create table tests.lp_actor (name text primary key, role text not null);
insert into tests.lp_actor values
('a_front_desk', 'front_desk'), ('a_cro', 'cro'), ('a_admin', 'hospital_admin'), ('a_doctor', 'doctor'),
('a_nurse', 'nurse'), ('a_pharmacist', 'pharmacist'), ('a_patient1', 'patient'), ('b_front_desk', 'other hospital'),
('service_role', 'system');

-- A TSTA lead brought to `state` by the system, along the machine's own moves.
create function tests.lp_subject(state text)
returns uuid
language plpgsql
as $$
declare
    subject uuid := gen_random_uuid();
    step text;
begin
    perform tests.clear_authentication();
    insert into public.leads (id, hospital_id, full_name, phone, source)
    values (
        subject, tests.id_of('hospitals', 'TSTA'), 'Pipeline Lead',
        '+9170000' || lpad(nextval('tests.lp_seq')::text, 5, '0'), 'Walk-In'
    );
    foreach step in array case state
        when 'new_inquiry' then '{}'::text[]
        when 'contacted' then '{contacted}'
        when 'stalling_sent_to_cro' then '{stalling_sent_to_cro}'
        when 'lost' then '{lost}'
        else '{}'
    end loop
        update public.leads set status = step::public.lead_status, status_reason = 'setup ' || step where id = subject;
    end loop;
    if state = 'converted' then
        update public.leads
        set status = 'converted', patient_id = tests.id_of('patients', 'a_patient2'), converted_at = now()
        where id = subject;
    end if;
    return subject;
end;
$$;

-- Tries from -> to as `actor`: 'moved', 'unchanged' (the row is out of their reach) or the SQLSTATE.
create function tests.lp_attempt(from_state text, to_state text, actor text)
returns text
language plpgsql
as $$
declare
    subject uuid := tests.lp_subject(from_state);
    outcome text;
begin
    begin
        perform tests.act_as_actor(actor);
        update public.leads set status = to_state::public.lead_status, status_reason = 'matrix reason'
        where id = subject;
        perform tests.clear_authentication();
        select l.status::text into outcome from public.leads as l where l.id = subject;
        outcome := case when outcome = to_state then 'moved' else 'unchanged' end;
    exception when others then
        outcome := sqlstate;
    end;
    perform tests.clear_authentication();
    return outcome;
end;
$$;

-- The matrix: 20 pairs, 9 actors (180 tests) ------------------------------------------------------
select
    is(
        tests.lp_attempt(pairs.from_state, pairs.to_state, a.name),
        case
            when a.role in ('doctor', 'nurse', 'pharmacist', 'patient', 'other hospital') then 'unchanged'
            when t.machine is null then 'PT409'
            -- Converting makes or finds the patient: only rpc/convert_lead does it.
            when pairs.to_state = 'converted' then 'PT409'
            when a.role = 'system' or a.role = any(t.roles::text[]) then 'moved'
            else '42501'
        end,
        format('lead %s -> %s as %s', pairs.from_state, pairs.to_state, a.name)
    )
from (
    select
        f.state as from_state,
        s.state as to_state,
        f.position as p1,
        s.position as p2
    from private.state_machine_states as f
    inner join private.state_machine_states as s on f.machine = s.machine and f.state <> s.state
    where f.machine = 'lead'
) as pairs
cross join tests.lp_actor as a
left join private.state_transitions as t
    on t.machine = 'lead' and pairs.from_state = t.from_state and pairs.to_state = t.to_state
order by pairs.p1, pairs.p2, a.name;

-- Spot checks of the matrix, as a user would meet them ------------------------------------------------
create temporary table lp_lead as select tests.lp_subject('stalling_sent_to_cro') as id;
grant select on lp_lead to authenticated;
select tests.act_as('a_front_desk');
select throws_ok(
    $$ update public.leads set status = 'contacted' where id = (select id from lp_lead) $$,
    '42501', 'you may not move a lead from stalling_sent_to_cro to contacted',
    'the front desk does not take a lead back from the CRO queue'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ update public.leads set status = 'lost' where id = (select id from lp_lead) $$,
    '22023', 'a reason is required to move a lead to lost',
    'losing a lead needs a reason'
);
update public.leads set status = 'lost', status_reason = 'chose another clinic'
where id = (select id from lp_lead);
select throws_ok(
    $$ update public.leads set status_reason = 'too expensive' where id = (select id from lp_lead) $$,
    'PT409', 'the reason of a lead cannot be changed without a change of status',
    'the reason belongs to its move'
);
select tests.act_as('a_front_desk');
update public.leads set status = 'contacted'
where id = (select id from lp_lead);
select throws_ok(
    $$ update public.leads set status = 'converted' where id = (select id from lp_lead) $$,
    'PT409', 'a lead is converted with rpc/convert_lead',
    'a PATCH cannot convert a lead'
);
select throws_ok(
    $$ insert into public.leads (hospital_id, full_name, phone, source, status)
        values (tests.id_of('hospitals', 'TSTA'), 'X', '+917000099999', 'Walk-In', 'contacted') $$,
    '42501', 'permission denied for table leads',
    'a new lead cannot be written in another state (status is not writable on insert)'
);
select tests.act_as_service_role();
select throws_ok(
    $$ insert into public.leads (hospital_id, full_name, phone, source, status)
        values (tests.id_of('hospitals', 'TSTA'), 'X', '+917000099998', 'Walk-In', 'contacted') $$,
    'PT409', 'a new lead cannot start as contacted',
    'nor by the system'
);

-- History ------------------------------------------------------------------------------------------
select tests.clear_authentication();
select results_eq(
    $$ select from_state, to_state, actor_id, actor_role::text, reason from public.status_history
        where machine = 'lead' and subject_id = (select id from lp_lead) order by occurred_at $$,
    $$ values
        (null::text, 'new_inquiry'::text, null::uuid, null::text, null::text),
        ('new_inquiry', 'stalling_sent_to_cro', null, null, 'setup stalling_sent_to_cro'),
        ('stalling_sent_to_cro', 'lost', tests.user_id('a_cro'), 'cro', 'chose another clinic'),
        ('lost', 'contacted', tests.user_id('a_front_desk'), 'front_desk', null) $$,
    'every move of the lead is recorded: from, to, who, in which role and why (a re-engaged lost lead too)'
);
select tests.act_as('a_admin');
select is(
    (
        select count(*)::integer from public.status_history
        where subject_id = (select lp.id from lp_lead as lp)
    ),
    4, 'the hospital''s admin reads the lead''s history'
);
select tests.act_as('b_front_desk');
select is_empty(
    $$ select 1 from public.status_history where subject_id = (select id from lp_lead) $$,
    'another hospital''s front desk does not'
);
select tests.act_as('a_doctor');
select is_empty(
    $$ select 1 from public.status_history where subject_id = (select id from lp_lead) $$,
    'nor a doctor with no appointment of the lead'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ update public.status_history set reason = 'rewritten' where subject_id = (select id from lp_lead) $$,
    '42501', 'permission denied for table status_history',
    'the history is append-only: nobody rewrites it'
);
select throws_ok(
    $$ delete from public.status_history where subject_id = (select id from lp_lead) $$,
    '42501', 'permission denied for table status_history',
    'nor deletes it'
);

-- Metadata (seed 004 GET /api/metadata/enums) ----------------------------------------------------------
select tests.act_as('a_front_desk');
select set_eq(
    $$ select state from public.state_machine_states where machine = 'lead' $$,
    $$ select unnest(enum_range(null::public.lead_status))::text $$,
    'the lead machine''s states are exactly the lead_status labels'
);
select is(
    public.metadata_enums() -> 'state_machines' -> 'lead' -> 'states',
    '[{"label": "New Inquiry", "state": "new_inquiry", "is_initial": true, "is_terminal": false},
      {"label": "Contacted", "state": "contacted", "is_initial": false, "is_terminal": false},
      {"label": "Stalling - Sent to CRO", "state": "stalling_sent_to_cro", "is_initial": false, "is_terminal": false},
      {"label": "Converted - Active Patient", "state": "converted", "is_initial": false, "is_terminal": true},
      {"label": "Lost", "state": "lost", "is_initial": false, "is_terminal": false}]'::jsonb,
    'metadata_enums lists the lead statuses with seed 004''s labels, in pipeline order'
);

select * from finish();
rollback;
