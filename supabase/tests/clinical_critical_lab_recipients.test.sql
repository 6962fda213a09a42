-- A critical lab result always reaches someone who can act on it: the ordering doctor; else
-- the patient's care-team doctor (primary first); else the care team's nurses; else the
-- hospital's admins. Only people holding an active membership of that role at the hospital
-- count (a doctor who left is skipped). The message carries ids only, as before.
begin;
select plan(7);

select tests.create_world();

-- Results arrive from the lab system (no signed-in user), recorded in a_nurse's name.
create function pg_temp.critical(name text, patient text, ordered_by text default null)
returns uuid
language sql
as $$
    insert into public.lab_results (patient_id, hospital_id, ordered_by, recorded_by, test_name, result_value, status)
    values (
        tests.id_of('patients', critical.patient), tests.id_of('hospitals', 'TSTA'),
        tests.user_id(critical.ordered_by), tests.user_id('a_nurse'), critical.name, '6.9', 'critical'
    )
    returning id;
$$;

create function pg_temp.told(lab_result uuid)
returns setof uuid
language sql
as $$
    select o.recipient_id from private.outbox as o
    where o.subject_id = told.lab_result and o.kind = 'lab_result_critical' and o.recipient_kind = 'user';
$$;

select tests.remember(l.name, l.id)
from (
    values
    ('ordered', pg_temp.critical('Potassium', 'a_patient1', 'a_doctor')),
    ('unordered', pg_temp.critical('Potassium', 'a_patient1')),
    ('ordered_by_leaver', pg_temp.critical('Potassium', 'a_patient1', 'a_revoked_doctor')),
    ('nurses_only', pg_temp.critical('Potassium', 'ab_patient4')),
    ('nobody_on_team', pg_temp.critical('Potassium', 'a_patient2'))
) as l (name, id);

select set_eq(
    $$ select pg_temp.told(tests.recall('ordered')) $$,
    array[tests.user_id('a_doctor')],
    'the ordering doctor is told'
);
select set_eq(
    $$ select pg_temp.told(tests.recall('unordered')) $$,
    array[tests.user_id('a_doctor')],
    'with no ordering doctor, the patient''s primary care-team doctor is told'
);
select set_eq(
    $$ select pg_temp.told(tests.recall('ordered_by_leaver')) $$,
    array[tests.user_id('a_doctor')],
    'an ordering doctor whose membership was revoked is skipped for the care-team doctor'
);
select set_eq(
    $$ select pg_temp.told(tests.recall('nurses_only')) $$,
    array[tests.user_id('a_nurse')],
    'with no doctor on the care team, the care team''s nurses are told'
);
select set_eq(
    $$ select pg_temp.told(tests.recall('nobody_on_team')) $$,
    array[tests.user_id('a_admin')],
    'with no care team at all, the hospital''s admins are told'
);

-- An admin whose membership is revoked is not told.
update public.staff_memberships set is_active = false
where id = tests.id_of('staff_memberships', 'a_admin');
select tests.remember('no_active_admin', pg_temp.critical('Sodium', 'a_patient2'));
select is_empty(
    $$ select pg_temp.told(tests.recall('no_active_admin')) $$,
    'a revoked admin is not told'
);

select set_eq(
    $$ select distinct o.payload from private.outbox as o
        join tests.remembered() as l on l.id = o.subject_id where o.kind = 'lab_result_critical' $$,
    $$ select jsonb_build_object('lab_result_id', l.id, 'patient_id', r.patient_id)
        from tests.remembered() as l join public.lab_results as r on r.id = l.id
        where l.name <> 'no_active_admin' $$,
    'every message carries the result and patient ids only, no test name or value'
);

select * from finish();
rollback;
