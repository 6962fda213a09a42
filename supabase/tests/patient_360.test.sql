-- Patient 360 (issue 16, item 2): one patient at a glance, each part under the caller's own
-- RLS: a front desk sees its own hospital's appointments of a patient registered at two, a
-- patient their own 360 and never another's, another hospital's staff a plain "not found";
-- recent, next, last visit and counts computed right; nothing clinical.
begin;
select plan(12);

select tests.create_world();

-- ab_patient4 at both hospitals: three past visits at TSTA (one completed), a future one at
-- TSTA, one past at TSTB.
create function tests.visit(hospital text, doctor text, starts timestamptz)
returns uuid
language sql
set search_path = ''
as $$
    insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at, source)
    values (
        tests.id_of('hospitals', hospital), tests.id_of('doctors', doctor), tests.id_of('patients', 'ab_patient4'),
        starts, starts + interval '30 minutes', 'front_desk'
    )
    returning id;
$$;
select tests.remember('old', tests.visit('TSTA', 'a_doctor', now() - interval '30 days'));
select tests.remember('done', tests.visit('TSTA', 'a_doctor', now() - interval '10 days'));
select tests.remember('missed', tests.visit('TSTA', 'a_doctor2', now() - interval '5 days'));
select tests.remember('soon', tests.visit('TSTA', 'a_doctor', now() + interval '3 days'));
select tests.remember('b_visit', tests.visit('TSTB', 'b_doctor', now() - interval '2 days'));
update public.appointments set status = 'in_consultation'
where id = tests.recall('done');
update public.appointments set status = 'completed'
where id = tests.recall('done');
update public.appointments set status = 'no_show'
where id = tests.recall('missed');

select tests.act_as('a_front_desk');
create temporary table seen as
select public.patient_360(tests.id_of('patients', 'ab_patient4')) as v;
grant select on seen to authenticated;

select is(
    (select v -> 'patient' ->> 'full_name' from seen),
    (
        select p.full_name from public.patients as p
        where p.id = tests.id_of('patients', 'ab_patient4')
    ),
    'the front desk gets the patient''s demographics'
);
select is(
    (select v -> 'patient' -> 'mrns' from seen),
    '["TSTA-T0004"]'::jsonb,
    'and only the MRN of its own hospital'
);
select is(
    (
        select array_agg(e.visit ->> 'id' order by e.n)
        from seen, jsonb_array_elements(seen.v -> 'appointments' -> 'recent') with ordinality as e (visit, n)
    ),
    array[tests.recall('missed')::text, tests.recall('done')::text, tests.recall('old')::text],
    'recent visits: its hospital''s past appointments, newest first; none of the other hospital'
);
select is(
    (select v -> 'appointments' -> 'next' ->> 'id' from seen),
    tests.recall('soon')::text,
    'the next appointment'
);
select is(
    (select v -> 'appointments' -> 'last_visit' ->> 'id' from seen),
    tests.recall('done')::text,
    'the last visit is the last completed appointment'
);
select is(
    (select v -> 'appointments' -> 'counts' from seen),
    '{"total": 4, "completed": 1, "cancelled": 0, "no_show": 1}'::jsonb,
    'counts by outcome over what the caller may see'
);
select is(
    (select (v -> 'appointments' ->> 'upcoming_count')::integer from seen),
    1,
    'one upcoming'
);
select ok(
    (select v -> 'appointments' -> 'recent' -> 0 ->> 'doctor_name' is not null from seen),
    'each visit names its doctor'
);
select is(
    (select array_agg(k.k order by k.k) from seen, jsonb_object_keys(seen.v) as k (k)),
    array['appointments', 'patient', 'prescriptions'],
    'nothing clinical: no notes, diagnoses, vitals or results'
);

select tests.act_as('a_patient1');
select isnt(
    public.patient_360(tests.id_of('patients', 'a_patient1')) -> 'patient' ->> 'id',
    null,
    'a patient reads their own 360'
);
select throws_ok(
    format('select public.patient_360(%L)', tests.id_of('patients', 'a_patient2')),
    'PT404', 'patient not found',
    'and never another patient''s: the answer of a patient who does not exist'
);

select tests.act_as('b_front_desk');
select throws_ok(
    format('select public.patient_360(%L)', tests.id_of('patients', 'a_patient1')),
    'PT404', 'patient not found',
    'another hospital''s front desk learns nothing of the patient'
);

select * from finish();
rollback;
