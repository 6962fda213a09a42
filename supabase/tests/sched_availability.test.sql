-- Availability and find_slots: weekly hours in the hospital's time zone across a
-- daylight-saving change (TSTA moved to Europe/London: clocks go forward on Sunday
-- 2030-03-31), several ranges a day, overlapping ranges refused, exceptions, appointments,
-- slots at the end of a day, mode and specialty filters, and who may read and edit what.
begin;
select plan(35);

select tests.create_world();
update public.hospitals set time_zone = 'Europe/London'
where id = tests.id_of('hospitals', 'TSTA');

create function tests.slots(from_time timestamptz, to_time timestamptz, mode public.consultation_mode default null)
returns setof timestamptz
language sql
as $$
    select s.starts_at from public.find_slots(from_time, to_time, tests.id_of('doctors', 'a_doctor'), mode => mode) as s;
$$;

-- Functions are executable only where granted (see the foundation migration).
grant execute on function tests.slots(timestamptz, timestamptz, public.consultation_mode) to authenticated;

-- a_doctor: Saturday 09:00-10:00 (30 min); Sunday 00:00-04:00 (60 min, across the change);
-- Monday 09:00-11:00 and 14:00-15:00 (30 min); Tuesday 16:00-17:00 (45 min) and 23:00-24:00
-- (30 min, video only).
select tests.act_as('a_doctor');
insert into public.doctor_working_hours (
    doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes, consultation_modes
)
values
(
    tests.id_of('doctors', 'a_doctor'),
    tests.id_of('hospitals', 'TSTA'),
    6,
    '09:00',
    '10:00',
    30,
    '{video,audio,in_person}'
),
(
    tests.id_of('doctors', 'a_doctor'),
    tests.id_of('hospitals', 'TSTA'),
    7,
    '00:00',
    '04:00',
    60,
    '{video,audio,in_person}'
),
(
    tests.id_of('doctors', 'a_doctor'),
    tests.id_of('hospitals', 'TSTA'),
    1,
    '09:00',
    '11:00',
    30,
    '{video,audio,in_person}'
),
(tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 1, '14:00', '15:00', 30, '{in_person}'),
(
    tests.id_of('doctors', 'a_doctor'),
    tests.id_of('hospitals', 'TSTA'),
    2,
    '16:00',
    '17:00',
    45,
    '{video,audio,in_person}'
),
(tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 2, '23:00', '24:00', 30, '{video}');

-- Daylight saving ---------------------------------------------------------------------------
select results_eq(
    $$ select tests.slots('2030-03-30 00:00Z', '2030-03-31 00:00Z') $$,
    $$ values ('2030-03-30 09:00Z'::timestamptz), ('2030-03-30 09:30Z') $$,
    'Saturday before the change: 09:00 London is 09:00 UTC (GMT)'
);
select results_eq(
    $$ select tests.slots('2030-03-31 00:00Z', '2030-03-31 12:00Z') $$,
    $$ values ('2030-03-31 00:00Z'::timestamptz), ('2030-03-31 01:00Z'), ('2030-03-31 02:00Z') $$,
    'on the change day 00:00-04:00 local lasts three hours: 00:00, 02:00 and 03:00 local'
);
select results_eq(
    $$ select s from tests.slots('2030-04-01 00:00Z', '2030-04-01 12:00Z') as s limit 1 $$,
    $$ values ('2030-04-01 08:00Z'::timestamptz) $$,
    'Monday after the change: 09:00 London is 08:00 UTC (BST)'
);

-- Several ranges a day, overlapping ranges --------------------------------------------------
select is(
    (select count(*)::integer from tests.slots('2030-04-01 00:00Z', '2030-04-02 00:00Z')),
    6, 'two ranges on Monday: 4 slots in the morning and 2 in the afternoon'
);
select throws_ok(
    $$ insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at)
        values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 1, '10:30', '12:00') $$,
    '23P01', null,
    'a range overlapping another of the same weekday is refused'
);
select lives_ok(
    $$ insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, valid_from)
        values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 5, '10:30', '12:00', '2031-01-01') $$,
    'a range of another weekday is fine'
);
select lives_ok(
    $$ insert into public.doctor_working_hours
        (doctor_id, hospital_id, weekday, starts_at, ends_at, valid_from, valid_until)
        values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 3, '09:00', '10:00', '2020-01-01', '2020-12-31') $$,
    'a Wednesday range valid in 2020 only'
);
select lives_ok(
    $$ insert into public.doctor_working_hours
        (doctor_id, hospital_id, weekday, starts_at, ends_at, valid_from, valid_until)
        values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 3, '09:30', '10:30', '2021-01-01', '2021-12-31') $$,
    'an overlapping range in another validity period is fine'
);
select is_empty(
    $$ select tests.slots('2030-04-03 00:00Z', '2030-04-04 00:00Z') $$,
    'ranges outside their validity period offer nothing'
);
select throws_ok(
    $$ insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at)
        values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 3, '12:00', '11:00') $$,
    '23514', null,
    'a range ending before it starts is refused'
);

-- End of a day ----------------------------------------------------------------------------
select results_eq(
    $$ select tests.slots('2030-04-02 00:00Z', '2030-04-03 00:00Z') $$,
    $$ values ('2030-04-02 15:00Z'::timestamptz), ('2030-04-02 22:00Z'), ('2030-04-02 22:30Z') $$,
    'a 45-minute slot that would spill past 17:00 is not offered; a range to 24:00 offers its last slot'
);
select is(
    (
        select max(s.ends_at)
        from public.find_slots('2030-04-02 00:00Z', '2030-04-03 00:00Z', tests.id_of('doctors', 'a_doctor')) as s
    ),
    '2030-04-02 23:00Z'::timestamptz, 'the last slot ends at local midnight'
);
select is(
    (select count(*)::integer from tests.slots('2030-04-02 00:00Z', '2030-04-02 22:45Z')),
    2, 'a slot ending after to_time is not offered'
);

-- Modes -------------------------------------------------------------------------------------
select is(
    (select count(*)::integer from tests.slots('2030-04-01 00:00Z', '2030-04-02 00:00Z', 'video')),
    4, 'the in-person-only afternoon range offers no video slot'
);
select is(
    (select count(*)::integer from tests.slots('2030-04-02 00:00Z', '2030-04-03 00:00Z', 'in_person')),
    1, 'the video-only late range offers no in-person slot'
);

-- Exceptions and appointments ------------------------------------------------------------
insert into public.doctor_availability_exceptions (doctor_id, hospital_id, kind, starts_at, ends_at, reason)
values (
    tests.id_of('doctors', 'a_doctor'),
    tests.id_of('hospitals', 'TSTA'),
    'time_off',
    '2030-04-01 08:30Z',
    '2030-04-01 09:15Z',
    'dentist'
);
insert into public.doctor_availability_exceptions (doctor_id, hospital_id, kind, starts_at, ends_at, slot_minutes)
values (
    tests.id_of('doctors', 'a_doctor'),
    tests.id_of('hospitals', 'TSTA'),
    'extra_hours',
    '2030-04-03 17:00Z',
    '2030-04-03 18:00Z',
    20
);
select results_eq(
    $$ select tests.slots('2030-04-01 00:00Z', '2030-04-01 12:00Z') $$,
    $$ values ('2030-04-01 08:00Z'::timestamptz), ('2030-04-01 09:30Z') $$,
    'time off removes every slot it touches, even partly'
);
select results_eq(
    $$ select tests.slots('2030-04-03 00:00Z', '2030-04-04 00:00Z') $$,
    $$ values ('2030-04-03 17:00Z'::timestamptz), ('2030-04-03 17:20Z'), ('2030-04-03 17:40Z') $$,
    'extra hours add slots of their own length on a day without hours'
);

select tests.act_as('a_front_desk');
select lives_ok(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-01 08:00Z',
        patient_id => tests.id_of('patients', 'a_patient1')) $$,
    'the front desk books the first Monday slot'
);
select tests.act_as('a_patient2');
select results_eq(
    $$ select tests.slots('2030-04-01 00:00Z', '2030-04-01 12:00Z') $$,
    $$ values ('2030-04-01 09:30Z'::timestamptz) $$,
    'another patient sees the booked slot as taken without seeing the appointment'
);
select is_empty(
    $$ select 1 from public.appointments where doctor_id = tests.id_of('doctors', 'a_doctor') $$,
    'while the appointment itself stays invisible to them'
);
select tests.act_as('a_front_desk');
select lives_ok(
    $$ select public.cancel_appointment(
        (select id from public.appointments where starts_at = '2030-04-01 08:00Z'), 'clinic closed') $$,
    'the front desk cancels it'
);
select is(
    (select count(*)::integer from tests.slots('2030-04-01 00:00Z', '2030-04-01 12:00Z')),
    2, 'a cancelled appointment frees its slot'
);

-- Searching by specialty, visibility -------------------------------------------------------
select is(
    (
        select count(distinct s.doctor_id)::integer
        from public.find_slots('2030-04-01 00:00Z', '2030-04-02 00:00Z', specialty => 'general medicine') as s
    ),
    1, 'a specialty search finds the hospital''s doctors only (not TSTB''s general physician)'
);
select tests.act_as('b_patient3');
select
    is_empty(
        $$ select tests.slots('2030-04-01 00:00Z', '2030-04-02 00:00Z') $$,
        'another hospital''s patient gets no slot of TSTA'
    );
select tests.act_as('nobody');
select is_empty($$ select tests.slots('2030-04-01 00:00Z', '2030-04-02 00:00Z') $$, 'a user with no role gets no slot');
select tests.act_as('a_patient1');
select throws_ok(
    $$ select tests.slots('2030-04-02 00:00Z', '2030-04-01 00:00Z') $$,
    '22023', 'find_slots needs from_time before to_time', 'an inverted interval is refused'
);
select throws_ok(
    $$ select tests.slots('2030-04-01 00:00Z', '2030-06-01 00:00Z') $$,
    '22023', 'find_slots searches at most 31 days at a time', 'a search is bounded'
);
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.find_slots('2030-04-01 00:00Z', '2030-04-02 00:00Z', gen_random_uuid()) $$,
    '42501', null, 'anon may not call find_slots'
);

-- Who reads and edits availability -------------------------------------------------------
select tests.act_as('a_patient1');
select
    is(
        (select count(*)::integer from public.doctor_working_hours),
        9,
        'a patient of the hospital reads its working hours'
    );
select is_empty($$ select 1 from public.doctor_availability_exceptions $$, 'but not the exceptions (they may say why)');
select throws_ok(
    $$ insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at)
        values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 3, '09:00', '10:00') $$,
    '42501', null, 'a patient cannot add working hours'
);
select tests.act_as('a_doctor2');
update public.doctor_working_hours set ends_at = '23:00'
where doctor_id = tests.id_of('doctors', 'a_doctor');
select tests.act_as('a_front_desk');
select is(
    (
        select count(*)::integer from public.doctor_working_hours
        where ends_at = '23:00'
    ),
    0, 'another doctor cannot edit a colleague''s hours'
);
select lives_ok(
    $$ insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at)
        values (tests.id_of('doctors', 'a_doctor2'), tests.id_of('hospitals', 'TSTA'), 3, '09:00', '10:00') $$,
    'the front desk sets any doctor''s hours of its hospital'
);
select tests.act_as('b_admin');
select is_empty($$ select 1 from public.doctor_working_hours $$, 'another hospital''s admin sees none of them');
select throws_ok(
    $$ insert into public.doctor_availability_exceptions (doctor_id, hospital_id, kind, starts_at, ends_at)
        values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 'time_off', '2030-05-01 00:00Z', '2030-05-02 00:00Z') $$,
    '42501', null, 'nor sets their time off'
);

select * from finish();
rollback;
