-- prescription_details shows a prescription's lines through a view read as its owner
-- (20261204003100), not through prescription_items' policy: for every caller it must show
-- exactly the lines that caller may read from prescription_items itself, no more, no fewer.
begin;
select plan(19);

select tests.create_world();

select tests.act_as('a_doctor');
select tests.remember('a_rx', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'),
    '[{"name": "Amoxicillin", "quantity": 15}, {"name": "Paracetamol", "quantity": 10}]'
);
select tests.act_as('b_doctor');
select tests.remember('b_rx', id)
from public.issue_prescription(
    tests.id_of('patients', 'b_patient3'), '[{"name": "Metformin", "quantity": 30}]'
);

create temporary table callers (name text primary key, sees_lines integer not null);
insert into callers values
('a_doctor', 2), ('a_doctor2', 0), ('a_revoked_doctor', 0), ('a_pharmacist', 2),
('a_patient1', 2), ('a_patient2', 0), ('a_admin', 2), ('a_front_desk', 0), ('a_cro', 0),
('a_nurse', 0), ('b_doctor', 1), ('b_doctor2', 0), ('b_pharmacist', 1), ('b_patient3', 1),
('b_admin', 1), ('b_front_desk', 0), ('b_nurse', 0), ('b_cro', 0);
grant select on callers to authenticated;

create function pg_temp.lines_compared(caller text)
returns table (in_view bigint, in_table bigint, differing bigint)
language plpgsql
as $$
begin
    perform tests.act_as(caller);
    return query
    with in_view as (
        select p.id as prescription_id, (l.line ->> 'item_id')::uuid as item_id
        from public.prescription_details as p
        cross join lateral jsonb_array_elements(p.medications) as l (line)
        where p.id in (tests.recall('a_rx'), tests.recall('b_rx'))
    ),
    in_table as (
        select i.prescription_id, i.id as item_id
        from public.prescription_items as i
        where i.prescription_id in (tests.recall('a_rx'), tests.recall('b_rx'))
    )
    select
        (select count(*) from in_view),
        (select count(*) from in_table),
        (select count(*) from ((table in_view except table in_table) union all (table in_table except table in_view)) as d);
end;
$$;

select
    results_eq(
        format('select in_view, in_table, differing from pg_temp.lines_compared(%L)', c.name),
        format('values (%s::bigint, %s::bigint, 0::bigint)', c.sees_lines, c.sees_lines),
        format('%s: prescription_details shows the %s lines prescription_items lets them read', c.name, c.sees_lines)
    )
from callers as c
order by c.name;

-- At aal1 staff are refused the prescription, and so its lines too.
select tests.act_as('a_pharmacist', 'aal1');
select throws_ok(
    $$ select medications from public.prescription_details where id = tests.recall('a_rx') $$,
    'PT403', null,
    'a pharmacist who has not stepped up to aal2 is refused the prescription and its lines'
);
select * from finish();
rollback;
