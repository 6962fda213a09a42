-- The practitioner directory (issue 16, item 7): staff see their hospitals' doctors, a patient
-- the active doctors of the hospitals where they are registered, nobody another hospital's;
-- names only, never the doctor's phone or email; distinct specialties for the filter list.
begin;
select plan(10);

select tests.create_world();

create function tests.seen_doctors()
returns setof text
language sql
stable
set search_path = ''
as $$
    select t.name from public.practitioners as p
    join (values
        ('a_doctor'), ('a_doctor2'), ('a_revoked_doctor'), ('b_doctor'), ('b_doctor2')
    ) as t (name) on p.user_id = tests.id_of('profiles', t.name)
    order by 1;
$$;
grant execute on function tests.seen_doctors() to authenticated;

select tests.act_as('a_front_desk');
select results_eq(
    'select * from tests.seen_doctors()',
    $$ values ('a_doctor'), ('a_doctor2') $$,
    'the front desk sees the current doctors of its hospital, not a revoked one nor another hospital''s'
);
select is_empty(
    'select id from public.practitioners where name is null',
    'each doctor comes with the name to show'
);

select tests.act_as('a_patient1');
select results_eq(
    'select * from tests.seen_doctors()',
    $$ values ('a_doctor'), ('a_doctor2') $$,
    'a patient sees the active doctors of their hospital, not a revoked one nor another hospital''s'
);
select results_eq(
    'select * from public.practitioner_specialties()',
    $$ values ('General Medicine'), ('Paediatrics') $$,
    'a patient''s specialty list holds those of the doctors they see, each once, in order'
);

select tests.act_as('b_patient3');
select results_eq(
    'select * from tests.seen_doctors()',
    $$ values ('b_doctor'), ('b_doctor2') $$,
    'a patient of the other hospital sees only its doctors'
);

select tests.act_as('b_front_desk');
select results_eq(
    'select * from public.practitioner_specialties()',
    $$ values ('Dermatology'), ('General Medicine') $$,
    'the specialties of the front desk''s hospital'
);
select is_empty(
    format(
        'select * from public.practitioner_specialties(%L)', tests.id_of('hospitals', 'TSTA')
    ),
    'naming another hospital lists nothing of it'
);

select tests.clear_authentication();
select is_empty(
    $$ select c.column_name from information_schema.columns as c
        where c.table_schema = 'public' and c.table_name = 'practitioners'
            and c.column_name in ('phone', 'email') $$,
    'the directory carries no phone or email'
);
select ok(
    not has_table_privilege('anon', 'public.practitioners', 'select'),
    'anonymous callers read no directory'
);
select ok(
    not has_function_privilege('anon', 'public.practitioner_specialties(uuid)', 'execute'),
    'anonymous callers list no specialties'
);

select * from finish();
rollback;
