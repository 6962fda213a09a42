-- The radiology_scan machine as data (as state_machines.test.sql for appointments and
-- prescriptions): every (from, to) pair of its states, tried by every role of TSTA and the
-- system, is allowed exactly when private.state_transitions says so, for its care team and the
-- system; the hospital's admin (who archives clinical rows) is refused, everyone else changes
-- nothing.
begin;
select plan(161);

select tests.create_world();

create table tests.rsm_actor (name text primary key, role text not null);
insert into tests.rsm_actor values
('a_patient1', 'patient'), ('a_doctor', 'doctor'), ('a_nurse', 'nurse'), ('a_front_desk', 'front_desk'),
('a_admin', 'hospital_admin'), ('a_cro', 'cro'), ('a_pharmacist', 'pharmacist'), ('service_role', 'system');

-- A scan order of a_patient1 brought to `state` by the system through defined transitions.
create function tests.rsm_subject(state text)
returns uuid
language plpgsql
as $$
declare
    subject uuid;
    step text;
begin
    perform tests.clear_authentication();
    insert into public.radiology_scans (patient_id, hospital_id, ordered_by, modality, study_type)
    values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), tests.user_id('a_doctor'), 'ECG', 'ECG')
    returning id into subject;
    foreach step in array case state
        when 'ordered' then '{}'::text []
        when 'scheduled' then '{scheduled}'
        when 'acquired' then '{acquired}'
        when 'reported' then '{acquired,reported}'
        when 'cancelled' then '{cancelled}'
    end loop
        update public.radiology_scans set status = step::public.radiology_scan_status, status_reason = 'setup ' || step
        where id = subject;
    end loop;
    return subject;
end;
$$;

-- Moves a fresh order from `from_state` to `to_state` as `actor` (with a reason): 'ok',
-- 'unchanged' (no row the actor may update) or the SQLSTATE.
create function tests.rsm_attempt(from_state text, to_state text, actor text)
returns text
language plpgsql
as $$
declare
    subject uuid := tests.rsm_subject(from_state);
    touched integer;
    outcome text;
begin
    begin
        if actor = 'service_role' then
            perform tests.act_as_service_role();
        else
            perform tests.act_as(actor, 'aal2');
        end if;
        update public.radiology_scans set status = to_state::public.radiology_scan_status, status_reason = 'a reason'
        where id = subject;
        get diagnostics touched = row_count;
        outcome := case when touched = 0 then 'unchanged' else 'ok' end;
    exception when others then
        outcome := sqlstate;
    end;
    perform tests.clear_authentication();
    return outcome;
end;
$$;

select
    is(
        tests.rsm_attempt(pairs.from_state, pairs.to_state, a.name),
        case
            when a.name not in ('a_doctor', 'a_nurse', 'a_admin', 'service_role') then 'unchanged'
            -- The admin archives clinical rows and changes nothing else (guard_clinical_update).
            when a.name = 'a_admin' then '42501'
            when t.machine is null then 'PT409'
            when a.role = 'system' or a.role::public.app_role = any(t.roles) then 'ok'
            else '42501'
        end,
        format('radiology_scan %s -> %s as %s', pairs.from_state, pairs.to_state, a.name)
    )
from (
    select
        f.state as from_state,
        s.state as to_state,
        f.position as p1,
        s.position as p2
    from private.state_machine_states as f
    inner join private.state_machine_states as s on f.machine = s.machine and f.state <> s.state
    where f.machine = 'radiology_scan'
) as pairs
cross join tests.rsm_actor as a
left join private.state_transitions as t
    on t.machine = 'radiology_scan' and pairs.from_state = t.from_state and pairs.to_state = t.to_state
order by pairs.p1, pairs.p2, a.name;

select ok(
    (
        select count(*) from public.status_history as h
        where h.machine = 'radiology_scan' and h.to_state = 'reported' and h.actor_role = 'doctor'
    ) >= 1,
    'every transition taken is recorded with its actor''s role'
);

select * from finish();
rollback;
