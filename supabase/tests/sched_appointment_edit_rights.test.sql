-- Who may change what on an appointment, role by role: the front desk and the admin change
-- its time, room, mode, type and reason; the CRO books and moves; the appointment's doctor
-- moves their own; the patient moves their own within the doctor's hours; a nurse takes
-- the patient through the visit (arrived, checked in) and changes nothing else; nobody
-- changes an appointment's doctor or patient; other hospitals touch nothing.
-- TSTA is in Asia/Kolkata (+05:30): a_doctor works Mondays 09:00-17:00 = 03:30-11:30 UTC.
begin;
select plan(44);

select tests.create_world();
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)
values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 1, '09:00', '17:00', 30);
insert into public.appointments (
    hospital_id, doctor_id, patient_id, starts_at, ends_at, resource, reason, source
)
values (
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'a_patient1'),
    '2030-04-01 04:00Z', '2030-04-01 04:30Z', 'Room 1', 'fever', 'front_desk'
);
select tests.remember('visit', a.id) from public.appointments as a;

-- Tries one change as `actor` and undoes it: 'changed', 'no row' (RLS hides the row from
-- the update) or the SQLSTATE of the refusal.
create function tests.change_visit(actor text, change text)
returns text
language plpgsql
as $$
declare
    touched integer;
begin
    perform tests.act_as(actor);
    case change
        when 'time' then
            update public.appointments
            set starts_at = '2030-04-01 05:00Z', ends_at = '2030-04-01 05:30Z'
            where id = tests.recall('visit');
        when 'room' then
            update public.appointments set resource = 'Room 9' where id = tests.recall('visit');
        when 'mode' then
            update public.appointments set mode = 'video' where id = tests.recall('visit');
        when 'type' then
            update public.appointments set appointment_type = 'procedure' where id = tests.recall('visit');
        when 'reason' then
            update public.appointments set reason = 'cough' where id = tests.recall('visit');
        when 'doctor' then
            update public.appointments set doctor_id = tests.id_of('doctors', 'a_doctor2')
            where id = tests.recall('visit');
        when 'patient' then
            update public.appointments set patient_id = tests.id_of('patients', 'a_patient2')
            where id = tests.recall('visit');
        when 'arrive' then
            update public.appointments set status = 'arrived' where id = tests.recall('visit');
    end case;
    get diagnostics touched = row_count;
    raise exception using errcode = 'P0001', message = case when touched = 0 then 'no row' else 'changed' end;
exception when others then
    perform tests.clear_authentication();
    return case when sqlerrm in ('no row', 'changed') then sqlerrm else sqlstate end;
end;
$$;

select is(tests.change_visit(c.actor, c.change), c.expected, format('%s, %s: %s', c.actor, c.change, c.expected))
from (
    values
    ('a_front_desk', 'time', 'changed'), ('a_front_desk', 'room', 'changed'), ('a_front_desk', 'mode', 'changed'),
    ('a_front_desk', 'type', 'changed'), ('a_front_desk', 'reason', 'changed'), ('a_front_desk', 'arrive', 'changed'),
    ('a_front_desk', 'doctor', '42501'), ('a_front_desk', 'patient', '42501'),
    ('a_admin', 'time', 'changed'), ('a_admin', 'room', 'changed'), ('a_admin', 'arrive', 'changed'),
    ('a_admin', 'doctor', '42501'),
    ('a_cro', 'time', 'changed'), ('a_cro', 'room', 'changed'), ('a_cro', 'arrive', '42501'),
    ('a_doctor', 'time', 'changed'), ('a_doctor', 'room', 'changed'), ('a_doctor', 'type', 'changed'),
    ('a_doctor', 'arrive', '42501'), ('a_doctor', 'patient', '42501'),
    ('a_patient1', 'time', 'changed'), ('a_patient1', 'reason', 'changed'), ('a_patient1', 'room', '42501'),
    ('a_nurse', 'arrive', 'changed'), ('a_nurse', 'time', '42501'), ('a_nurse', 'room', '42501'),
    ('a_nurse', 'mode', '42501'), ('a_nurse', 'type', '42501'), ('a_nurse', 'reason', '42501'),
    ('a_nurse', 'doctor', '42501'), ('a_nurse', 'patient', '42501'),
    ('a_doctor2', 'time', 'no row'), ('a_pharmacist', 'time', 'no row'), ('a_patient2', 'time', 'no row'),
    ('b_nurse', 'arrive', 'no row'), ('b_front_desk', 'time', 'no row'), ('nobody', 'time', 'no row')
) as c (actor, change, expected);

-- The nurse through the visit, and told why when going further ---------------------------------
select tests.act_as('a_nurse');
select throws_ok(
    $$ select public.reschedule_appointment(tests.recall('visit'), '2030-04-01 06:00Z') $$,
    '42501', 'a nurse may change only the status of an appointment',
    'a nurse cannot reschedule through the RPC either'
);
select throws_ok(
    $$ update public.appointments set status = 'arrived', resource = 'Room 9'
        where id = tests.recall('visit') $$,
    '42501', 'a nurse may change only the status of an appointment',
    'nor slip a room change in with a status step'
);
select lives_ok(
    $$ update public.appointments set status = 'arrived' where id = tests.recall('visit') $$,
    'the nurse marks the patient arrived'
);
select lives_ok(
    $$ update public.appointments set status = 'checked_in' where id = tests.recall('visit') $$,
    'and checked in'
);
select throws_ok(
    $$ update public.appointments set status = 'in_consultation' where id = tests.recall('visit') $$,
    '42501', null, 'but the consultation is the doctor''s to start'
);
select tests.clear_authentication();
select results_eq(
    $$ select status::text, starts_at, resource from public.appointments
        where id = tests.recall('visit') $$,
    $$ values ('checked_in', '2030-04-01 04:00Z'::timestamptz, 'Room 1') $$,
    'the appointment kept its time and room; the nurse''s steps are recorded'
);
select results_eq(
    $$ select from_state, to_state, actor_role::text from public.status_history
        where subject_id = tests.recall('visit') and from_state is not null order by occurred_at $$,
    $$ values ('scheduled', 'arrived', 'nurse'), ('arrived', 'checked_in', 'nurse') $$,
    'status_history shows both steps as the nurse''s'
);

select * from finish();
rollback;
