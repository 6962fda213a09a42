-- Availability edge cases beyond sched_availability.test.sql: the autumn change (a local
-- day of 25 hours, Europe/London, 2030-10-27) and the spring change of another zone
-- (America/New_York, 2030-03-10), time off inside extra hours, and who may edit hours and
-- exceptions, role by role.
begin;
select plan(16);

select tests.create_world();
update public.hospitals set time_zone = 'Europe/London'
where id = tests.id_of('hospitals', 'TSTA');
update public.hospitals set time_zone = 'America/New_York'
where id = tests.id_of('hospitals', 'TSTB');

-- Sundays 00:00-04:00 local, one-hour slots, at both hospitals.
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)
values
(tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 7, '00:00', '04:00', 60),
(tests.id_of('doctors', 'b_doctor'), tests.id_of('hospitals', 'TSTB'), 7, '00:00', '04:00', 60);

select tests.act_as('a_patient1');
select results_eq(
    $$ select s.starts_at
        from public.find_slots('2030-10-26 12:00Z', '2030-10-27 12:00Z', tests.id_of('doctors', 'a_doctor')) as s $$,
    $$ values ('2030-10-26 23:00Z'::timestamptz), ('2030-10-27 00:00Z'), ('2030-10-27 01:00Z'), ('2030-10-27 02:00Z'),
        ('2030-10-27 03:00Z') $$,
    'London, clocks back: 00:00-04:00 local lasts five hours (01:00 comes twice), so five slots'
);
select results_eq(
    $$ select s.starts_at
        from public.find_slots('2030-11-02 12:00Z', '2030-11-03 12:00Z', tests.id_of('doctors', 'a_doctor')) as s $$,
    $$ values ('2030-11-03 00:00Z'::timestamptz), ('2030-11-03 01:00Z'), ('2030-11-03 02:00Z'),
        ('2030-11-03 03:00Z') $$,
    'the Sunday after, 00:00 London is 00:00 UTC again: four slots'
);
select tests.act_as('b_patient3');
select results_eq(
    $$ select s.starts_at
        from public.find_slots('2030-03-10 00:00Z', '2030-03-10 12:00Z', tests.id_of('doctors', 'b_doctor')) as s $$,
    $$ values ('2030-03-10 05:00Z'::timestamptz), ('2030-03-10 06:00Z'), ('2030-03-10 07:00Z') $$,
    'New York, clocks forward at 02:00: 00:00-04:00 local (EST -> EDT) lasts three hours'
);
select results_eq(
    $$ select s.starts_at
        from public.find_slots('2030-03-03 00:00Z', '2030-03-03 12:00Z', tests.id_of('doctors', 'b_doctor')) as s
        limit 1 $$,
    $$ values ('2030-03-03 05:00Z'::timestamptz) $$,
    'the Sunday before, 00:00 New York is 05:00 UTC (EST)'
);

-- Time off wins over extra hours -----------------------------------------------------------
select tests.act_as('a_doctor');
insert into public.doctor_availability_exceptions (doctor_id, hospital_id, kind, starts_at, ends_at, slot_minutes)
values
(
    tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 'extra_hours',
    '2030-05-01 17:00Z', '2030-05-01 19:00Z', 30
),
(
    tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 'time_off',
    '2030-05-01 17:30Z', '2030-05-01 18:30Z', 15
);
select results_eq(
    $$ select s.starts_at
        from public.find_slots('2030-05-01 00:00Z', '2030-05-02 00:00Z', tests.id_of('doctors', 'a_doctor')) as s $$,
    $$ values ('2030-05-01 17:00Z'::timestamptz), ('2030-05-01 18:30Z') $$,
    'time off inside extra hours removes the slots it covers'
);

-- Who edits hours and exceptions ------------------------------------------------------------
select tests.clear_authentication();
create function tests.edit_hours(actor text)
returns text
language plpgsql
as $$
begin
    perform tests.act_as(actor);
    insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at)
    values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 3, '09:00', '10:00');
    insert into public.doctor_availability_exceptions (doctor_id, hospital_id, kind, starts_at, ends_at)
    values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 'time_off', '2030-06-01 00:00Z', '2030-06-02 00:00Z');
    raise exception using errcode = 'P0001', message = 'rolled back';
exception when others then
    perform tests.clear_authentication();
    return case when sqlerrm = 'rolled back' then 'edited' else sqlstate end;
end;
$$;

select is(tests.edit_hours(a.name), a.expected, format('%s: %s', a.name, a.expected))
from (
    values
    ('a_doctor', 'edited'), ('a_admin', 'edited'), ('a_front_desk', 'edited'), ('a_doctor2', '42501'),
    ('a_nurse', '42501'), ('a_cro', '42501'), ('a_pharmacist', '42501'), ('a_patient1', '42501'),
    ('b_front_desk', '42501'), ('nobody', '42501')
) as a (name, expected);

select tests.act_as('a_admin');
delete from public.doctor_availability_exceptions
where doctor_id = tests.id_of('doctors', 'a_doctor') and kind = 'time_off';
select tests.clear_authentication();
select is_empty(
    $$ select 1 from public.doctor_availability_exceptions
        where doctor_id = tests.id_of('doctors', 'a_doctor') and kind = 'time_off' $$,
    'the admin removes a doctor''s time off'
);

select * from finish();
rollback;
