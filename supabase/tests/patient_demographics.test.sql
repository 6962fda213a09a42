-- Patient demographics (issue 16, item 6): counts over the patients the caller may read, by
-- status, sex, age band and district; one hospital's registrations when named; nothing of a
-- hospital the caller cannot see.
begin;
select plan(6);

select tests.create_world();

select tests.act_as('a_front_desk');
select is(
    public.patient_demographics(tests.id_of('hospitals', 'TSTA')) -> 'by_status',
    '{"active": 3}'::jsonb,
    'the front desk counts its hospital''s live patients (an archived record is not theirs to read)'
);
select is(
    (
        select sum(n.value::integer)
        from jsonb_each_text(public.patient_demographics(tests.id_of('hospitals', 'TSTA')) -> 'by_district') as n
    ),
    3::bigint,
    'every patient falls in one district (or unknown)'
);
select is(
    (
        select sum(n.value::integer)
        from jsonb_each_text(public.patient_demographics(tests.id_of('hospitals', 'TSTA')) -> 'by_age_band') as n
    ),
    3::bigint,
    'and in one age band'
);
select is(
    public.patient_demographics(tests.id_of('hospitals', 'TSTA')) -> 'by_sex' -> 'female',
    '1'::jsonb,
    'by sex'
);

select tests.act_as('a_admin');
select is(
    public.patient_demographics(tests.id_of('hospitals', 'TSTA')) -> 'by_status',
    '{"active": 3, "archived": 1}'::jsonb,
    'the admin counts the archived record too'
);

select tests.act_as('b_front_desk');
select is(
    public.patient_demographics(tests.id_of('hospitals', 'TSTA')) ->> 'total',
    '0',
    'another hospital''s front desk counts nothing of it'
);

select * from finish();
rollback;
