-- State machines as data: every (from, to) pair of the appointment and prescription machines,
-- tried by every role of TSTA (and the system), is allowed exactly when the transitions table
-- says so; refusals carry their documented codes; every transition is recorded in
-- status_history, which is readable under the RLS of its row.
begin;
select plan(800);

select tests.create_world();

-- Test scaffolding (rolled back with the transaction) --------------------------------------
create sequence tests.sm_seq;

-- The role each acting test user holds at TSTA.
create table tests.sm_actor (name text primary key, role text not null);
insert into tests.sm_actor values
('a_patient1', 'patient'), ('a_doctor', 'doctor'), ('a_nurse', 'nurse'), ('a_front_desk', 'front_desk'),
('a_admin', 'hospital_admin'), ('a_cro', 'cro'), ('a_pharmacist', 'pharmacist'), ('service_role', 'system');

-- A row of `machine` brought to `state` by the system through defined transitions.
create function tests.sm_subject(machine text, state text)
returns uuid
language plpgsql
as $$
declare
    subject uuid := gen_random_uuid();
    path text[];
    step text;
    n bigint := nextval('tests.sm_seq');
begin
    perform tests.clear_authentication();
    if machine = 'appointment' then
        path := case state
            when 'requested' then '{}'
            when 'scheduled' then '{}'
            when 'arrived' then '{arrived}'
            when 'checked_in' then '{arrived,checked_in}'
            when 'in_consultation' then '{in_consultation}'
            when 'completed' then '{in_consultation,completed}'
            when 'cancelled' then '{cancelled}'
            when 'no_show' then '{no_show}'
        end;
        insert into public.appointments (id, hospital_id, doctor_id, patient_id, starts_at, ends_at, status)
        values (
            subject, tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'),
            tests.id_of('patients', 'a_patient1'), timestamptz '2031-01-06 00:00Z' + n * interval '1 hour',
            timestamptz '2031-01-06 00:30Z' + n * interval '1 hour',
            case when state = 'requested' then 'requested' else 'scheduled' end::public.appointment_status
        );
        foreach step in array path loop
            update public.appointments
            set status = step::public.appointment_status, status_reason = 'setup ' || step
            where id = subject;
        end loop;
    else
        path := case state
            when 'pending' then '{}'
            when 'approved' then '{approved}'
            when 'denied' then '{denied}'
            when 'ready_for_pickup' then '{approved,ready_for_pickup}'
            when 'completed' then '{approved,ready_for_pickup,completed}'
            when 'cancelled' then '{cancelled}'
            when 'expired' then '{expired}'
        end;
        insert into public.prescriptions (id, hospital_id, patient_id, doctor_id, pharmacy_id)
        values (
            subject, tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'),
            tests.id_of('doctors', 'a_doctor'), tests.id_of('pharmacies', 'a_central')
        );
        foreach step in array path loop
            update public.prescriptions
            set status = step::public.prescription_status, status_reason = 'setup ' || step
            where id = subject;
        end loop;
    end if;
    return subject;
end;
$$;

-- Tries from -> to as `actor`: 'moved', 'unchanged' (RLS hid the row) or the SQLSTATE raised.
create function tests.sm_attempt(machine text, from_state text, to_state text, actor text)
returns text
language plpgsql
as $$
declare
    subject uuid := tests.sm_subject(machine, from_state);
    outcome text;
begin
    begin
        if actor = 'service_role' then
            perform tests.act_as_service_role();
        else
            perform tests.act_as(actor);
        end if;
        if machine = 'appointment' then
            update public.appointments
            set status = to_state::public.appointment_status, status_reason = 'matrix reason'
            where id = subject;
        else
            update public.prescriptions
            set status = to_state::public.prescription_status, status_reason = 'matrix reason'
            where id = subject;
        end if;
        perform tests.clear_authentication();
        if machine = 'appointment' then
            select status::text into outcome from public.appointments where id = subject;
        else
            select status::text into outcome from public.prescriptions where id = subject;
        end if;
        outcome := case when outcome = to_state then 'moved' else 'unchanged' end;
    exception when others then
        outcome := sqlstate;
    end;
    perform tests.clear_authentication();
    return outcome;
end;
$$;

-- Which test users may update a row of each machine at all (their UPDATE policies).
create function tests.sm_can_update(machine text, actor text)
returns boolean
language sql
immutable
as $$
    select actor = 'service_role'
        or (machine = 'appointment' and actor <> 'a_pharmacist')
        or (machine = 'prescription' and actor in ('a_patient1', 'a_doctor', 'a_pharmacist'));
$$;

-- The matrix: 56 appointment pairs and 42 prescription pairs, 8 actors each (784 tests) ----
select
    is(
        tests.sm_attempt(pairs.machine, pairs.from_state, pairs.to_state, a.name),
        case
            when not tests.sm_can_update(pairs.machine, a.name) then 'unchanged'
            when t.machine is null then 'PT409'
            when a.role = 'system' or a.role = any(t.roles::text[]) then 'moved'
            else '42501'
        end,
        format('%s %s -> %s as %s', pairs.machine, pairs.from_state, pairs.to_state, a.name)
    )
from (
    select
        f.machine,
        f.state as from_state,
        s.state as to_state,
        f.position as p1,
        s.position as p2
    from private.state_machine_states as f
    inner join private.state_machine_states as s on f.machine = s.machine and f.state <> s.state
    where f.machine in ('appointment', 'prescription')
) as pairs
cross join tests.sm_actor as a
left join private.state_transitions as t
    on pairs.machine = t.machine and pairs.from_state = t.from_state and pairs.to_state = t.to_state
order by pairs.machine, pairs.p1, pairs.p2, a.name;

-- Creation -------------------------------------------------------------------------------
select tests.act_as('a_patient1');
select throws_ok(
    $$ insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at, status)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'a_patient1'),
        '2031-06-01 09:00Z', '2031-06-01 09:30Z', 'arrived') $$,
    'PT409', 'a new appointment cannot start as arrived',
    'a row cannot be created in a state that is not initial'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ insert into public.prescriptions (hospital_id, patient_id, doctor_id, pharmacy_id, status)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'), tests.id_of('doctors', 'a_doctor'),
        tests.id_of('pharmacies', 'a_central'), 'approved') $$,
    'PT409', 'a new prescription cannot start as approved',
    'a doctor cannot issue a prescription already approved'
);
select tests.clear_authentication();

-- Reasons ---------------------------------------------------------------------------------
select tests.clear_authentication();
create temporary table sm_subject as
select tests.sm_subject('appointment', 'scheduled') as id;
grant select on sm_subject to authenticated;
select tests.act_as('a_patient1');
select throws_ok(
    $$ update public.appointments set status = 'cancelled' where id = (select id from sm_subject) $$,
    '22023', 'a reason is required to move a appointment to cancelled',
    'cancelling needs a reason'
);
update public.appointments set status = 'cancelled', status_reason = 'feeling better'
where id = (select id from sm_subject);

-- History -----------------------------------------------------------------------------------
select results_eq(
    $$ select from_state, to_state, actor_id, actor_role::text, reason from public.status_history
        where subject_id = (select id from sm_subject) order by occurred_at $$,
    $$ values
        (null::text, 'scheduled'::text, null::uuid, null::text, null::text),
        ('scheduled', 'cancelled', tests.user_id('a_patient1'), 'patient', 'feeling better') $$,
    'status_history records who, in which role, from, to and why (the system as a null role)'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ select 1 from public.status_history where subject_id = (select id from sm_subject) $$,
    'another patient does not see the history of an appointment they cannot see'
);
select tests.act_as('b_admin');
select is_empty(
    $$ select 1 from public.status_history where subject_id = (select id from sm_subject) $$,
    'another hospital''s admin does not see it'
);
select tests.act_as('a_front_desk');
select is(
    (
        select count(*)::integer from public.status_history
        where subject_id = (select sm.id from sm_subject as sm)
    ),
    2, 'the front desk of the hospital sees it'
);
select throws_ok(
    $$ insert into public.status_history (machine, subject_id, to_state)
        values ('appointment', gen_random_uuid(), 'x') $$,
    '42501', 'permission denied for table status_history',
    'nobody writes status_history directly'
);
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.status_history $$,
    '42501', 'permission denied for table status_history',
    'anon reads no history'
);

-- Definitions and metadata --------------------------------------------------------------
select tests.act_as('a_patient1');
select set_eq(
    $$ select state from public.state_machine_states where machine = 'appointment' $$,
    $$ select unnest(enum_range(null::public.appointment_status))::text $$,
    'the appointment machine''s states are exactly the appointment_status labels'
);
select set_eq(
    $$ select state from public.state_machine_states where machine = 'prescription' $$,
    $$ select unnest(enum_range(null::public.prescription_status))::text $$,
    'the prescription machine''s states are exactly the prescription_status labels'
);
select results_eq(
    $$ select jsonb_path_query_array(public.metadata_enums(),
        '$.state_machines.prescription.states[*] ? (@.is_initial == true).state') $$,
    $$ values ('["pending"]'::jsonb) $$,
    'metadata_enums lists each machine''s states with the initial ones marked'
);
select is(
    public.metadata_enums() -> 'enums' -> 'appointment_type',
    '["consultation", "follow_up", "procedure", "scan", "ivf_consult", "iui_procedure"]'::jsonb,
    'metadata_enums lists the API enums (seed 004 metadata/enums)'
);
select tests.clear_authentication();
-- Every machine of the definitions (private.state_machine_states) is enforced by exactly one
-- trigger of the generic function, named by its argument, before insert or update of status;
-- a new machine without its trigger (or a trigger naming no machine) fails here.
create view tests.sm_triggers as
select
    t.tgrelid,
    replace(encode(t.tgargs, 'escape'), '\000', '') as machine,
    t.tgtype,
    t.tgattr
from pg_trigger as t
where t.tgfoid = 'private.enforce_state_machine'::regproc;
select bag_eq(
    $$ select machine from tests.sm_triggers $$,
    $$ select distinct machine from private.state_machine_states $$,
    'one generic trigger function serves every machine, named by its argument'
);
select is_empty(
    $$ select t.tgrelid::regclass::text from tests.sm_triggers as t
        -- 23: row, before, insert or update; the update fires on the status column alone
        where t.tgtype <> 23 or cardinality(t.tgattr::int2[]) <> 1
            or t.tgattr[0] <> (
                select a.attnum from pg_attribute as a where a.attrelid = t.tgrelid and a.attname = 'status'
            ) $$,
    'each machine''s trigger runs before every insert and every update of status'
);

-- Every machine's transitions are readable as its subjects are: the one select policy of
-- status_history has a branch for each (a machine without one hides its history from everyone).
select is_empty(
    $$ select m.machine
        from (select distinct s.machine from private.state_machine_states as s) as m
        where not exists (
            select from pg_policy as p
            where p.polrelid = 'public.status_history'::regclass and p.polcmd = 'r'
                and pg_get_expr(p.polqual, p.polrelid) like '%machine = ''' || m.machine || '''::text%'
        ) $$,
    'the select policy of status_history has a branch for every state machine'
);

select * from finish();
rollback;
