-- Edges where find_slots' busy time (computed once per request for all the doctors searched) and
-- appointment_stats' date range (a range of starts_at per hospital, from the index) could
-- differ from a slot-by-slot, row-by-row reading: appointments that touch a slot without
-- overlapping it, statuses that no longer block, a doctor busy through their other hospital,
-- a day off of one doctor in a specialty search, a doctor with no busy time at all, time off
-- begun before the search; local dates across midnight in Asia/Kolkata and in other zones (one
-- whose clocks once went back across midnight), inverted and far-off date ranges.
--
-- TSTA (Asia/Kolkata, UTC+05:30): a_doctor and a_doctor2, both General Medicine here.
--   a_doctor   Mon 09:00-12:00, Tue 09:00-10:00, Wed 09:00-11:00 local, 30-minute slots; also
--              a doctor at TSTB (America/Los_Angeles for this file).
--   a_doctor2  Mon and Tue 09:00-10:00 local, 30-minute slots; the whole Monday off.
-- Monday 2030-06-03 (09:00 IST = 03:30Z).
begin;
select plan(22);

select tests.create_world();
update public.hospitals set time_zone = 'America/Los_Angeles'
where id = tests.id_of('hospitals', 'TSTB');
update public.doctors set specialty = 'General Medicine'
where id = tests.id_of('doctors', 'a_doctor2');
insert into public.staff_memberships (user_id, hospital_id, role)
values (tests.user_id('a_doctor'), tests.id_of('hospitals', 'TSTB'), 'doctor');
insert into public.doctors (user_id, hospital_id, specialty, licence_number)
values (tests.user_id('a_doctor'), tests.id_of('hospitals', 'TSTB'), 'General Medicine', 'PMC-B-2901');
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)
select
    tests.id_of('doctors', h.doctor),
    tests.id_of('hospitals', 'TSTA'),
    h.weekday,
    h.starts_at,
    h.ends_at,
    30
from (
    values
    ('a_doctor', 1, time '09:00', time '12:00'),
    ('a_doctor', 2, '09:00', '10:00'),
    ('a_doctor', 3, '09:00', '11:00'),
    ('a_doctor2', 1, '09:00', '10:00'),
    ('a_doctor2', 2, '09:00', '10:00')
) as h (doctor, weekday, starts_at, ends_at);
insert into public.doctor_availability_exceptions (doctor_id, hospital_id, kind, starts_at, ends_at, reason)
values
(
    tests.id_of('doctors', 'a_doctor2'), tests.id_of('hospitals', 'TSTA'), 'time_off',
    '2030-06-03 00:00+05:30', '2030-06-04 00:00+05:30', 'day off'
),
(
    tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 'time_off',
    '2030-06-04 22:00+05:30', '2030-06-05 09:45+05:30', 'night shift'
);

insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at, status, appointment_type)
select
    tests.id_of('hospitals', a.hospital),
    a.doctor_id,
    tests.id_of('patients', a.patient),
    a.starts_at,
    a.ends_at,
    'scheduled',
    a.appointment_type::public.appointment_type
from (
    values
    -- Monday at TSTA: the 09:00 slot taken; ends exactly when the 09:30 slot starts.
    (
        'TSTA', tests.id_of('doctors', 'a_doctor'), 'a_patient1',
        timestamptz '2030-06-03 09:00+05:30', timestamptz '2030-06-03 09:30+05:30', 'consultation'
    ),
    -- A no-show inside the 10:00 slot and a cancelled one filling the 11:00 slot block nothing.
    (
        'TSTA', tests.id_of('doctors', 'a_doctor'), 'a_patient1',
        '2030-06-03 10:15+05:30', '2030-06-03 10:30+05:30', 'consultation'
    ),
    (
        'TSTA', tests.id_of('doctors', 'a_doctor'), 'a_patient1',
        '2030-06-03 11:00+05:30', '2030-06-03 11:30+05:30', 'follow_up'
    ),
    -- Starts exactly when the 11:30 slot ends (booked by staff after hours).
    (
        'TSTA', tests.id_of('doctors', 'a_doctor'), 'a_patient1',
        '2030-06-03 12:00+05:30', '2030-06-03 12:30+05:30', 'follow_up'
    ),
    -- Five minutes after midnight IST on Monday (still Sunday in UTC).
    (
        'TSTA', tests.id_of('doctors', 'a_doctor2'), 'a_patient2',
        '2030-06-03 00:05+05:30', '2030-06-03 00:20+05:30', 'consultation'
    ),
    -- Ten minutes before midnight IST on Sunday, and ten after it on Tuesday.
    (
        'TSTA', tests.id_of('doctors', 'a_doctor2'), 'a_patient2',
        '2030-06-02 23:50+05:30', '2030-06-03 00:00+05:30', 'consultation'
    ),
    (
        'TSTA', tests.id_of('doctors', 'a_doctor2'), 'a_patient2',
        '2030-06-04 00:10+05:30', '2030-06-04 00:25+05:30', 'consultation'
    ),
    -- Tuesday: a_doctor's whole range taken.
    (
        'TSTA', tests.id_of('doctors', 'a_doctor'), 'a_patient1',
        '2030-06-04 09:00+05:30', '2030-06-04 10:00+05:30', 'consultation'
    ),
    -- a_doctor at TSTB on Monday 10:30-11:00 IST, which is Sunday 22:00 in Los Angeles.
    (
        'TSTB', (
            select d.id from public.doctors as d
            where d.user_id = tests.user_id('a_doctor') and d.hospital_id = tests.id_of('hospitals', 'TSTB')
        ), 'b_patient3',
        '2030-06-03 10:30+05:30', '2030-06-03 11:00+05:30', 'consultation'
    )
) as a (hospital, doctor_id, patient, starts_at, ends_at, appointment_type);
-- Then through the state machine to the statuses the comments above give.
update public.appointments set status = 'no_show'
where starts_at = '2030-06-03 10:15+05:30';
update public.appointments set status = 'cancelled', status_reason = 'clinic closed'
where starts_at = '2030-06-03 11:00+05:30';
update public.appointments set status = 'in_consultation'
where starts_at = '2030-06-02 23:50+05:30';
update public.appointments set status = 'completed'
where starts_at = '2030-06-02 23:50+05:30';

create function tests.local_slots(
    from_time timestamptz, to_time timestamptz, doctor text default null, specialty text default null
)
returns table (doctor text, local_start text)
language sql
as $$
    select w.name, to_char(s.starts_at at time zone 'Asia/Kolkata', 'Dy HH24:MI')
    from public.find_slots(
        from_time, to_time, case when local_slots.doctor is not null then tests.id_of('doctors', local_slots.doctor) end,
        local_slots.specialty,
        hospital_id => tests.id_of('hospitals', 'TSTA')
    ) as s
    join tests.world as w on w.kind = 'doctors' and w.id = s.doctor_id;
$$;
grant execute on function tests.local_slots(timestamptz, timestamptz, text, text) to authenticated;

-- find_slots ------------------------------------------------------------------------------------
select tests.act_as('a_patient1');
select results_eq(
    $$ select local_start from tests.local_slots('2030-06-03 00:00+05:30', '2030-06-04 00:00+05:30', 'a_doctor') $$,
    $$ values ('Mon 09:30'), ('Mon 10:00'), ('Mon 11:00'), ('Mon 11:30') $$,
    'an appointment blocks the slots it overlaps only: not the one starting when it ends, nor the one '
    || 'ending when it starts; a no-show and a cancelled one block nothing; the doctor''s appointment '
    || 'at another hospital blocks their slot here'
);
select is_empty(
    $$ select 1 from tests.local_slots('2030-06-03 00:00+05:30', '2030-06-04 00:00+05:30', 'a_doctor2') $$,
    'a day off leaves no slot that day'
);
select results_eq(
    $$ select doctor, local_start
        from tests.local_slots('2030-06-03 00:00+05:30', '2030-06-04 00:00+05:30', specialty => 'General Medicine') $$,
    $$ values ('a_doctor', 'Mon 09:30'), ('a_doctor', 'Mon 10:00'), ('a_doctor', 'Mon 11:00'),
        ('a_doctor', 'Mon 11:30') $$,
    'in a specialty search each doctor''s busy time is their own: one''s day off does not touch the other'
);
select results_eq(
    $$ select doctor, local_start
        from tests.local_slots('2030-06-04 06:00+05:30', '2030-06-05 00:00+05:30', specialty => 'General Medicine') $$,
    $$ values ('a_doctor2', 'Tue 09:00'), ('a_doctor2', 'Tue 09:30') $$,
    'a doctor with no busy time at all keeps every slot, beside one with none free'
);
select results_eq(
    $$ select local_start from tests.local_slots('2030-06-05 00:00+05:30', '2030-06-06 00:00+05:30', 'a_doctor') $$,
    $$ values ('Wed 10:00'), ('Wed 10:30') $$,
    'time off that began before the search still blocks the slots it reaches'
);
select is(
    (
        select array_agg(s.doctor_id::text || ' ' || s.starts_at::text)
        from public.find_slots('2030-06-03 00:00+05:30', '2030-06-10 00:00+05:30', specialty => 'general medicine') as s
    ),
    (
        select array_agg(s.doctor_id::text || ' ' || s.starts_at::text order by s.doctor_id, s.starts_at)
        from public.find_slots('2030-06-03 00:00+05:30', '2030-06-10 00:00+05:30', specialty => 'general medicine') as s
    ),
    'slots come by doctor, then time'
);

-- appointment_stats -----------------------------------------------------------------------------
select tests.clear_authentication();
create function tests.stats(start_date date, end_date date, hospital text default 'TSTA')
returns table (total integer, completed integer, cancelled integer, no_show integer, by_status jsonb, by_type jsonb)
language sql
as $$
    select (s ->> 'total')::integer, (s ->> 'completed')::integer, (s ->> 'cancelled')::integer,
        (s ->> 'no_show')::integer, s -> 'by_status', s -> 'by_type'
    from public.appointment_stats(start_date, end_date, tests.id_of('hospitals', hospital)) as s;
$$;
grant execute on function tests.stats(date, date, text) to authenticated;

select tests.act_as('a_admin');
select results_eq(
    $$ select * from tests.stats('2030-06-03', '2030-06-03') $$,
    $$ values (5, 0, 1, 1, '{"scheduled": 3, "no_show": 1, "cancelled": 1}'::jsonb,
        '{"consultation": 3, "follow_up": 2}'::jsonb) $$,
    'a day in the hospital''s time zone: from 00:00 (the day before in UTC) to 24:00 local'
);
select results_eq(
    $$ select total, completed from tests.stats('2030-06-02', '2030-06-02') $$,
    $$ values (1, 1) $$,
    'ten minutes before local midnight is the day before'
);
select results_eq(
    $$ select total from tests.stats('2030-06-04', '2030-06-04') $$,
    $$ values (2) $$,
    'ten minutes after local midnight is the next day'
);
select results_eq(
    $$ select total from tests.stats('2030-06-02', '2030-06-04') $$, $$ values (8) $$, 'a range counts each day once'
);
select results_eq(
    $$ select total, by_status, by_type from tests.stats('2030-06-04', '2030-06-03') $$,
    $$ values (0, '{}'::jsonb, '{}'::jsonb) $$,
    'an inverted range counts nothing'
);
select results_eq(
    $$ select total from tests.stats('2030-06-03', '300000-01-01') $$,
    $$ values (7) $$,
    'an end beyond the years a timestamp holds is no bound, not an error'
);
select results_eq(
    $$ select total from tests.stats('-infinity', '2030-06-02') $$,
    $$ values (1) $$,
    'nor is an infinite start'
);
select results_eq(
    $$ select total from tests.stats(null, null) $$, $$ values (8) $$, 'no dates: all of them'
);
select is(
    public.appointment_stats('2030-06-03', '2030-06-03', tests.id_of('hospitals', 'TSTB')) ->> 'total',
    '0', 'another hospital''s appointments are not counted for its id'
);
select tests.act_as('b_admin');
select results_eq(
    $$ select total from tests.stats('2030-06-02', '2030-06-02', 'TSTB') $$,
    $$ values (1) $$,
    'TSTB''s appointments are dated in TSTB''s time zone'
);
select is(
    public.appointment_stats('2030-06-02', '2030-06-04') ->> 'total', '1',
    'without a hospital: the hospitals the caller sees'
);
select tests.act_as('a_doctor');
select results_eq(
    $$ select (s ->> 'total')::integer, (s -> 'by_status' ->> 'no_show')::integer
        from public.appointment_stats('2030-06-03', '2030-06-03') as s $$,
    $$ values (4, 1) $$,
    'a doctor counts their own appointments, each hospital''s in its own zone (TSTB''s was on Sunday there)'
);
select results_eq(
    $$ select (s ->> 'total')::integer from public.appointment_stats('2030-06-02', '2030-06-02') as s $$,
    $$ values (1) $$,
    'and finds it on Sunday'
);
select tests.act_as('a_patient2');
select results_eq(
    $$ select (s ->> 'total')::integer, (s ->> 'completed')::integer, (s ->> 'upcoming')::integer
        from public.appointment_stats() as s $$,
    $$ values (3, 1, 2) $$,
    'a patient counts their own, upcoming ones included'
);


-- A local date that comes back: in St. John's clocks went back at 00:01 on 2010-11-07, to 23:01
-- on the 6th, so 02:30Z was 00:00 on the 7th and 02:31Z 23:01 on the 6th.
select tests.clear_authentication();
update public.hospitals set time_zone = 'America/St_Johns'
where id = tests.id_of('hospitals', 'TSTB');
insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)
values (
    tests.id_of('hospitals', 'TSTB'), tests.id_of('doctors', 'b_doctor'), tests.id_of('patients', 'b_patient3'),
    '2010-11-07 02:30Z', '2010-11-07 02:31Z'
);
select tests.act_as('b_admin');
select results_eq(
    $$ select total from tests.stats('2010-11-07', '2010-11-07', 'TSTB') $$,
    $$ values (1) $$,
    'an appointment at 00:00 local counts on that date even when the clock later returns to the day before'
);
select results_eq(
    $$ select total from tests.stats('2010-11-06', '2010-11-06', 'TSTB') $$,
    $$ values (0) $$,
    'and not on the day before'
);

select * from finish();
rollback;
