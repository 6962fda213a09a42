-- State machines, the parts the from -> to matrix (state_machines.test.sql) does not reach:
-- creating a row in each state by every role of TSTA, every transition that needs a reason
-- refused without one, the pharmacist of ANOTHER pharmacy of the same hospital and the
-- staff of another hospital, a reason that cannot be reworded afterwards, and the
-- prescription history read under the prescription's RLS.
begin;
select plan(41);

select tests.create_world();

-- a_doctor works every day, all day, so that a patient may book any hour.
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)
select
    tests.id_of('doctors', 'a_doctor'),
    tests.id_of('hospitals', 'TSTA'),
    d,
    '00:00',
    '24:00',
    30
from generate_series(1, 7) as d;

-- A second pharmacy of TSTA with its own pharmacist.
insert into public.pharmacies (hospital_id, name, is_default, is_active)
values (tests.id_of('hospitals', 'TSTA'), 'TSTA Annex Pharmacy', false, true);
do $$ begin perform tests.create_user('a_annex_pharmacist'); end $$;
insert into public.staff_memberships (user_id, hospital_id, role)
values (tests.user_id('a_annex_pharmacist'), tests.id_of('hospitals', 'TSTA'), 'pharmacist');
insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
select
    tests.user_id('a_annex_pharmacist'),
    tests.id_of('hospitals', 'TSTA'),
    ph.id,
    'PCI-A-3009'
from public.pharmacies as ph
where ph.name = 'TSTA Annex Pharmacy';

create sequence tests.smr_seq;

create table tests.smr_actor (name text primary key, role text not null);
insert into tests.smr_actor values
('a_patient1', 'patient'), ('a_doctor', 'doctor'), ('a_nurse', 'nurse'), ('a_front_desk', 'front_desk'),
('a_admin', 'hospital_admin'), ('a_cro', 'cro'), ('a_pharmacist', 'pharmacist'), ('service_role', 'system');

-- Tries to create a row of `machine` in `state` as `actor`: 'created' or the SQLSTATE.
create function tests.smr_create(machine text, state text, actor text)
returns text
language plpgsql
as $$
declare
    n bigint := nextval('tests.smr_seq');
    outcome text := 'created';
begin
    begin
        if actor = 'service_role' then
            perform tests.act_as_service_role();
        else
            perform tests.act_as(actor);
        end if;
        if machine = 'appointment' then
            -- A first state that needs a reason (cancelled: a mirrored booking) is given one.
            insert into public.appointments (
                hospital_id, doctor_id, patient_id, starts_at, ends_at, status, status_reason
            )
            values (
                tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'),
                tests.id_of('patients', 'a_patient1'), timestamptz '2032-03-01 00:00Z' + n * interval '1 hour',
                timestamptz '2032-03-01 00:30Z' + n * interval '1 hour', state::public.appointment_status,
                (
                    select 'the reason it starts so' from private.state_transitions as t
                    where t.machine = 'appointment' and t.from_state is null and t.to_state = state
                        and t.requires_reason
                )
            );
        else
            insert into public.prescriptions (hospital_id, patient_id, doctor_id, pharmacy_id, status)
            values (
                tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'),
                tests.id_of('doctors', 'a_doctor'), tests.id_of('pharmacies', 'a_central'),
                state::public.prescription_status
            );
        end if;
    exception when others then
        outcome := sqlstate;
    end;
    perform tests.clear_authentication();
    return outcome;
end;
$$;

-- Creation: every state of both machines by every actor (2 x 8 + 7 x 8 = 120 cases, checked
-- as one list per machine and actor so that a failure names them) -------------------------
select
    is(
        (
            select
                string_agg(
                    format('%s=%s', s.state, tests.smr_create(a.machine, s.state, a.name)), ' ' order by s.position
                )
            from private.state_machine_states as s
            where s.machine = a.machine
        ),
        (
            select
                string_agg(
                    format(
                        '%s=%s', s.state,
                        case
                            when t.machine is null then 'PT409'
                            when a.role = 'system' or a.role = any(t.roles::text[]) then 'created'
                            else '42501'
                        end
                    ),
                    ' ' order by s.position
                )
            from private.state_machine_states as s
            left join private.state_transitions as t
                on s.machine = t.machine and t.from_state is null and s.state = t.to_state
            where s.machine = a.machine
        ),
        format('creating a %s in each state as %s', a.machine, a.name)
    )
from (
    select
        m.machine,
        x.name,
        x.role
    from (values ('appointment'), ('prescription')) as m (machine)
    cross join tests.smr_actor as x
) as a
order by a.machine, a.name;

select tests.act_as('a_doctor2');
select throws_ok(
    $$ insert into public.prescriptions (hospital_id, patient_id, doctor_id, pharmacy_id)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'),
        tests.id_of('doctors', 'a_doctor2'), tests.id_of('pharmacies', 'a_central')) $$,
    '42501', null, 'a doctor outside the care team cannot create a prescription even directly'
);
select throws_ok(
    $$ insert into public.prescriptions (hospital_id, patient_id, doctor_id, pharmacy_id)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'),
        tests.id_of('doctors', 'a_doctor'), tests.id_of('pharmacies', 'a_central')) $$,
    '42501', null, 'nor in a colleague''s name'
);
select tests.act_as('b_front_desk');
select throws_ok(
    $$ insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'),
        tests.id_of('patients', 'ab_patient4'), '2032-05-01 04:00Z', '2032-05-01 04:30Z') $$,
    '42501', null, 'another hospital''s front desk cannot book at TSTA'
);

-- Reasons: every transition that needs one is refused without one -------------------------
select tests.clear_authentication();
-- A row of `machine` brought to `state` by the system.
create function tests.smr_subject(machine text, state text)
returns uuid
language plpgsql
as $$
declare
    subject uuid := gen_random_uuid();
    n bigint := nextval('tests.smr_seq');
    step text;
begin
    perform tests.clear_authentication();
    if machine = 'appointment' then
        insert into public.appointments (id, hospital_id, doctor_id, patient_id, starts_at, ends_at, status)
        values (
            subject, tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'),
            tests.id_of('patients', 'a_patient1'), timestamptz '2032-03-01 00:00Z' + n * interval '1 hour',
            timestamptz '2032-03-01 00:30Z' + n * interval '1 hour',
            case when state = 'requested' then 'requested' else 'scheduled' end::public.appointment_status
        );
        foreach step in array case state
            when 'arrived' then '{arrived}'::text[]
            when 'checked_in' then '{arrived,checked_in}'::text[]
            else '{}'::text[]
        end loop
            update public.appointments set status = step::public.appointment_status where id = subject;
        end loop;
    else
        insert into public.prescriptions (id, hospital_id, patient_id, doctor_id, pharmacy_id)
        values (
            subject, tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'),
            tests.id_of('doctors', 'a_doctor'), tests.id_of('pharmacies', 'a_central')
        );
    end if;
    return subject;
end;
$$;

create function tests.smr_without_reason(machine text, from_state text, to_state text)
returns text
language plpgsql
as $$
declare
    subject uuid := tests.smr_subject(machine, from_state);
begin
    perform tests.act_as_service_role();
    if machine = 'appointment' then
        update public.appointments set status = to_state::public.appointment_status where id = subject;
    else
        update public.prescriptions set status = to_state::public.prescription_status where id = subject;
    end if;
    perform tests.clear_authentication();
    return 'moved';
exception when others then
    perform tests.clear_authentication();
    return sqlstate || ' ' || sqlerrm;
end;
$$;

select
    is(
        tests.smr_without_reason(t.machine, t.from_state, t.to_state),
        format('22023 a reason is required to move a %s to %s', t.machine, t.to_state),
        format('%s %s -> %s needs a reason', t.machine, t.from_state, t.to_state)
    )
from private.state_transitions as t
where t.machine in ('appointment', 'prescription') and t.requires_reason and t.from_state is not null
order by t.machine, t.from_state, t.to_state;

select is(
    (
        select count(*)::integer from private.state_transitions
        where machine = 'prescription' and requires_reason and to_state in ('denied', 'cancelled')
    ),
    2, 'denying and cancelling a prescription both need a reason'
);

-- The pharmacy it was sent to, and no other ---------------------------------------------
create temporary table smr_rx as
select
    tests.smr_subject('prescription', 'pending') as central,
    tests.smr_subject('prescription', 'pending') as annex;
grant select on smr_rx to authenticated, service_role;
update public.prescriptions set
    pharmacy_id = (
        select ph.id from public.pharmacies as ph
        where ph.name = 'TSTA Annex Pharmacy'
    )
where id = (select annex from smr_rx);

select tests.act_as('a_annex_pharmacist');
update public.prescriptions set status = 'approved'
where id = (select central from smr_rx);
select is_empty(
    $$ select 1 from public.prescriptions where id = (select central from smr_rx) $$,
    'a pharmacist of another pharmacy of the same hospital does not see the prescription'
);
update public.prescriptions set status = 'approved'
where id = (select annex from smr_rx);
select tests.act_as('b_pharmacist');
update public.prescriptions set status = 'denied', status_reason = 'not ours'
where id = (select central from smr_rx);
select tests.clear_authentication();
select results_eq(
    $$ select status::text from public.prescriptions
        where id in ((select central from smr_rx), (select annex from smr_rx))
        order by id = (select central from smr_rx) $$,
    $$ values ('approved'), ('pending') $$,
    'only the pharmacy it was sent to approves it: neither a sibling pharmacy nor another hospital''s can'
);

select tests.act_as('b_front_desk');
select throws_ok(
    $$ select public.cancel_appointment(
        (select id from public.appointments where hospital_id = tests.id_of('hospitals', 'TSTA') limit 1), 'x') $$,
    'PT404', 'appointment not found', 'another hospital''s front desk cannot cancel TSTA''s appointments'
);

-- A reason stays the reason of its transition --------------------------------------------
select tests.act_as('a_pharmacist');
update public.prescriptions set status = 'denied', status_reason = 'out of stock'
where id = (select central from smr_rx);
select tests.act_as('a_doctor');
select throws_ok(
    $$ update public.prescriptions set status_reason = 'pharmacy error' where id = (select central from smr_rx) $$,
    'PT409', 'the reason of a prescription cannot be changed without a change of status',
    'the doctor cannot reword the pharmacy''s reason for a denial'
);
select tests.clear_authentication();
create temporary table smr_appt as
select tests.smr_subject('appointment', 'scheduled') as id;
grant select on smr_appt to authenticated, service_role;
select tests.act_as('a_front_desk');
select lives_ok(
    $$ select public.cancel_appointment((select id from smr_appt), 'doctor ill') $$,
    'the front desk cancels with a reason'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ update public.appointments set status_reason = 'clinic was rude' where id = (select id from smr_appt) $$,
    'PT409', null, 'the patient cannot reword the clinic''s reason afterwards'
);
select tests.act_as_service_role();
select lives_ok(
    $$ update public.appointments set status_reason = 'doctor unwell' where id = (select id from smr_appt) $$,
    'the system may correct it'
);

-- Prescription history under the prescription's RLS --------------------------------------
select tests.act_as('a_patient1');
select results_eq(
    $$ select from_state, to_state, actor_role::text, reason from public.status_history
        where subject_id = (select central from smr_rx) order by occurred_at $$,
    $$ values (null::text, 'pending'::text, null::text, null::text),
        ('pending', 'denied', 'pharmacist', 'out of stock') $$,
    'the patient reads their prescription''s history, with the pharmacy''s reason'
);
select tests.act_as('a_doctor');
select is(
    (
        select count(*)::integer from public.status_history
        where subject_id = (select x.central from smr_rx as x)
    ),
    2, 'the issuing doctor reads it'
);
select tests.act_as('a_admin');
select is(
    (
        select count(*)::integer from public.status_history
        where subject_id = (select x.central from smr_rx as x)
    ),
    2, 'the hospital admin (oversight) reads it'
);
select tests.act_as('a_annex_pharmacist');
select is_empty(
    $$ select 1 from public.status_history where subject_id = (select central from smr_rx) $$,
    'a sibling pharmacy does not'
);
select tests.act_as('a_nurse');
select is_empty(
    $$ select 1 from public.status_history where machine = 'prescription' $$, 'a nurse reads no prescription history'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ select 1 from public.status_history where subject_id = (select central from smr_rx) $$,
    'another patient does not'
);
select tests.act_as('b_admin');
select is_empty(
    $$ select 1 from public.status_history
        where subject_id in ((select central from smr_rx), (select id from smr_appt)) $$,
    'nor another hospital''s admin'
);
select tests.act_as('a_doctor');
select is(
    (
        select count(*)::integer from public.status_history
        where subject_id = (select x.id from smr_appt as x)
    ),
    2, 'the doctor reads the history of their appointment'
);

select * from finish();
rollback;
