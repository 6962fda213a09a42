-- A doctor's whole weekly schedule in one call (public.set_doctor_schedule, seed 003
-- PUT /doctors/:id/schedule): who may replace it, role by role and across hospitals; the
-- new week as find_slots offers it; a bad range anywhere in the list changes nothing.
-- TSTA is in Asia/Kolkata (+05:30); 2030-04-01 is a Monday.
begin;
select plan(42);

select tests.create_world();

-- The week before: Mondays 09:00-17:00, and a day off on Wednesday 2030-04-03.
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)
values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 1, '09:00', '17:00', 30);
insert into public.doctor_availability_exceptions (doctor_id, hospital_id, kind, starts_at, ends_at, reason)
values (
    tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 'time_off',
    '2030-04-03 00:00+05:30', '2030-04-04 00:00+05:30', 'conference'
);

-- The doctor's weekly ranges, as text, in a stable order.
create function tests.week(doctor text)
returns setof text
language sql
as $$
    select format('%s %s-%s %s %s', w.weekday, w.starts_at, w.ends_at, w.slot_minutes, w.consultation_modes)
    from public.doctor_working_hours as w
    where w.doctor_id = tests.id_of('doctors', doctor)
    order by w.weekday, w.starts_at;
$$;

-- Functions are executable only where granted (see the foundation migration).
grant execute on function tests.week(text) to authenticated;

-- Who may replace a_doctor's week -------------------------------------------------------------
create function tests.replace_week(actor text)
returns text
language plpgsql
as $$
begin
    perform tests.act_as(actor);
    perform public.set_doctor_schedule(
        tests.id_of('doctors', 'a_doctor'), '[{"weekday": 2, "starts_at": "10:00", "ends_at": "11:00"}]'
    );
    raise exception using errcode = 'P0001', message = 'rolled back';
exception when others then
    perform tests.clear_authentication();
    return case when sqlerrm = 'rolled back' then 'replaced' else sqlstate end;
end;
$$;

select is(tests.replace_week(a.name), a.expected, format('%s: %s', a.name, a.expected))
from (
    values
    ('a_doctor', 'replaced'), ('a_admin', 'replaced'), ('a_front_desk', 'replaced'),
    ('a_doctor2', '42501'), ('a_nurse', '42501'), ('a_cro', '42501'), ('a_pharmacist', '42501'),
    ('a_patient1', '42501'), ('a_revoked_doctor', 'PT404'), ('b_admin', 'PT404'), ('b_front_desk', 'PT404'),
    ('b_doctor', 'PT404'), ('nobody', 'PT404')
) as a (name, expected);

select tests.act_as('a_nurse');
select throws_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'), '[]') $$,
    '42501', 'you may not change this doctor''s working hours',
    'a refused caller is told so, even for an empty week'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'), '[]') $$,
    'PT404', 'no such doctor', 'another hospital''s admin does not even see the doctor'
);
select tests.act_as_anon();
select throws_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'), '[]') $$,
    '42501', null, 'anon may not call it'
);
select tests.clear_authentication();
select results_eq(
    $$ select tests.week('a_doctor') $$,
    $$ values ('1 09:00:00-17:00:00 30 {video,audio,in_person}') $$,
    'after all those attempts the week is as it was'
);

-- A new week, stored and offered --------------------------------------------------------------
select tests.act_as('a_front_desk');
select results_eq(
    $$ select format('%s %s-%s %s %s', s.weekday, s.starts_at, s.ends_at, s.slot_minutes, s.consultation_modes)
        from public.set_doctor_schedule(
            tests.id_of('doctors', 'a_doctor'),
            '[{"weekday": 3, "starts_at": "10:00", "ends_at": "11:00", "slot_minutes": 20},
              {"weekday": 1, "starts_at": "14:00", "ends_at": "16:00", "consultation_modes": ["video"]},
              {"weekday": 1, "starts_at": "09:00", "ends_at": "12:00", "slot_minutes": 30}]',
            time_zone => 'Asia/Kolkata'
        ) as s $$,
    $$ values ('1 09:00:00-12:00:00 30 {video,audio,in_person}'), ('1 14:00:00-16:00:00 15 {video}'),
        ('3 10:00:00-11:00:00 20 {video,audio,in_person}') $$,
    'the front desk replaces the week and gets it back in order, with the table''s defaults filled in'
);
select results_eq(
    $$ select tests.week('a_doctor') $$,
    $$ values ('1 09:00:00-12:00:00 30 {video,audio,in_person}'), ('1 14:00:00-16:00:00 15 {video}'),
        ('3 10:00:00-11:00:00 20 {video,audio,in_person}') $$,
    'the old Monday 09:00-17:00 is gone: the list is the whole week'
);
select tests.act_as('a_patient1');
select results_eq(
    $$ select s.starts_at
        from public.find_slots('2030-04-01 00:00+05:30', '2030-04-02 00:00+05:30', tests.id_of('doctors', 'a_doctor'),
        mode => 'in_person') as s $$,
    $$ values ('2030-04-01 09:00+05:30'::timestamptz), ('2030-04-01 09:30+05:30'), ('2030-04-01 10:00+05:30'),
        ('2030-04-01 10:30+05:30'), ('2030-04-01 11:00+05:30'), ('2030-04-01 11:30+05:30') $$,
    'a patient is offered the new Monday morning, 30-minute slots, nothing after 12:00 in person'
);
select is(
    (
        select count(*)::integer from public.find_slots(
            '2030-04-01 00:00+05:30', '2030-04-02 00:00+05:30', tests.id_of('doctors', 'a_doctor'), mode => 'video'
        )
    ),
    14, 'and by video also the afternoon: 6 morning and 8 afternoon slots of 15 minutes'
);
select is_empty(
    $$ select 1 from public.find_slots('2030-04-03 00:00+05:30', '2030-04-04 00:00+05:30',
        tests.id_of('doctors', 'a_doctor')) $$,
    'the dated day off still applies to the new Wednesday: exceptions are not part of the week'
);
select results_eq(
    $$ select s.starts_at from public.find_slots('2030-04-10 00:00+05:30', '2030-04-11 00:00+05:30',
        tests.id_of('doctors', 'a_doctor')) as s $$,
    $$ values ('2030-04-10 10:00+05:30'::timestamptz), ('2030-04-10 10:20+05:30'), ('2030-04-10 10:40+05:30') $$,
    'the next Wednesday offers the new 20-minute slots'
);

-- A bad range anywhere changes nothing ---------------------------------------------------------
select tests.act_as('a_doctor');
select throws_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'),
        '[{"weekday": 2, "starts_at": "09:00", "ends_at": "10:00"},
          {"weekday": 2, "starts_at": "12:00", "ends_at": "11:00"},
          {"weekday": 4, "starts_at": "09:00", "ends_at": "10:00"}]') $$,
    '22023', 'hours item 2: ends_at must be after starts_at (24:00 for midnight)',
    'a range ending before it starts, in the middle of the list, is refused naming the item'
);
select throws_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'),
        '[{"weekday": 5, "starts_at": "09:00", "ends_at": "12:00"},
          {"weekday": 5, "starts_at": "11:30", "ends_at": "13:00"},
          {"weekday": 6, "starts_at": "09:00", "ends_at": "10:00"}]') $$,
    '22023', 'hours item 2: overlaps item 1 on the same weekday',
    'two overlapping ranges of one weekday are refused, naming both'
);
select tests.clear_authentication();
select results_eq(
    $$ select tests.week('a_doctor') $$,
    $$ values ('1 09:00:00-12:00:00 30 {video,audio,in_person}'), ('1 14:00:00-16:00:00 15 {video}'),
        ('3 10:00:00-11:00:00 20 {video,audio,in_person}') $$,
    'after both refusals the week is exactly as before: no range of the refused lists was kept'
);
select tests.act_as('a_patient1');
select is(
    (
        select count(*)::integer from public.find_slots(
            '2030-04-01 00:00+05:30', '2030-04-02 00:00+05:30', tests.id_of('doctors', 'a_doctor')
        )
    ),
    14, 'and find_slots still offers the whole Monday'
);
select is_empty(
    $$ select 1 from public.find_slots('2030-04-02 00:00+05:30', '2030-04-03 00:00+05:30',
        tests.id_of('doctors', 'a_doctor')) $$,
    'and nothing on the Tuesday of the refused list'
);

select tests.act_as('a_doctor');
select throws_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'),
        '[{"weekday": 8, "starts_at": "09:00", "ends_at": "10:00"}]') $$,
    '22023', 'hours item 1: weekday must be 1 (Monday) to 7 (Sunday)', 'a weekday past Sunday'
);
select throws_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'),
        '[{"weekday": 1, "starts_at": "09:00", "ends_at": "10:00", "slot_minutes": 2}]') $$,
    '22023', 'hours item 1: slot_minutes must be between 5 and 480', 'a slot too short'
);
select throws_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'),
        '[{"weekday": 1, "starts_at": "09:00", "ends_at": "10:00", "consultation_modes": []}]') $$,
    '22023', 'hours item 1: consultation_modes must name at least one mode', 'no consult mode'
);
select throws_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'),
        '[{"weekday": 1, "starts_at": "09:00", "ends_at": "10:00", "consultation_modes": ["phone"]}]') $$,
    '22023', 'hours item 1: invalid input value for enum public.consultation_mode: "phone"', 'an unknown mode'
);
select throws_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'),
        '[{"weekday": 1, "starts_at": "9am", "ends_at": "10:00"}]') $$,
    '22023', 'hours item 1: invalid input syntax for type time: "9am"', 'a time that is not a time'
);
select throws_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'),
        '[{"weekday": 1, "ends_at": "10:00"}]') $$,
    '22023', 'hours item 1: starts_at is required', 'a missing start'
);
select throws_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'),
        '[{"weekday": 1, "starts_at": "09:00", "ends_at": "10:00", "slot": 20}]') $$,
    '22023', 'hours item 1 has unknown fields: slot', 'a misspelt field is not silently dropped'
);
select throws_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'), '{"weekday": 1}') $$,
    '22023', 'hours must be a JSON array of weekly ranges', 'hours must be a list'
);
select throws_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'),
        '[{"weekday": 1, "starts_at": "09:00", "ends_at": "10:00"}]', time_zone => 'Europe/London') $$,
    '22023',
    'working hours are wall-clock times of the hospital''s time zone Asia/Kolkata, not Europe/London',
    'times meant in another time zone are refused, not misread'
);

-- Validity periods and clearing ----------------------------------------------------------------
select results_eq(
    $$ select s.weekday::integer, s.valid_from from public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'),
        '[{"weekday": 1, "starts_at": "09:00", "ends_at": "10:00", "valid_until": "2030-04-30"},
          {"weekday": 1, "starts_at": "09:30", "ends_at": "11:00", "valid_from": "2030-05-01"}]') as s $$,
    $$ values (1, null::date), (1, '2030-05-01'::date) $$,
    'the doctor sets this month''s and next month''s Monday, which may overlap in time'
);
select is(
    (
        select count(*)::integer from public.find_slots(
            '2030-05-06 00:00+05:30', '2030-05-07 00:00+05:30', tests.id_of('doctors', 'a_doctor')
        )
    ),
    6, 'in May the new timetable applies: 09:30-11:00 in 15-minute slots'
);
select is_empty(
    $$ select * from public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'), '[]') $$,
    'an empty list clears the week'
);
select is_empty(
    $$ select 1 from public.find_slots('2030-04-01 00:00+05:30', '2030-04-02 00:00+05:30',
        tests.id_of('doctors', 'a_doctor')) $$,
    'and nothing is offered any more'
);
select tests.clear_authentication();
select is(
    (
        select count(*)::integer from public.doctor_availability_exceptions
        where doctor_id = tests.id_of('doctors', 'a_doctor')
    ),
    1, 'the doctor''s dated exceptions survive a replacement of the week'
);

select * from finish();
rollback;
