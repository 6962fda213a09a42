-- A merged record takes nothing new (issue 16, item 4): once a patient is merged into another,
-- no row may be written that references it (an admin still sees its archived registrations
-- and could otherwise book it or restore one), so everything about the person lands on the
-- survivor. Only a merge or unmerge in progress writes such rows (the unmerge restores them).
-- Every table that references a patient carries the trigger; tests/test_schema_conventions.py
-- asks it of tables added later.

-- Security definer: the caller's RLS could hide the merged record, and with it the refusal.
create function private.refuse_merged_patient()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    written jsonb := to_jsonb(new);
    patient_column text;
begin
    foreach patient_column in array tg_argv loop
        if exists (
            select from public.patients as p
            where p.id = (written ->> patient_column)::uuid and p.merged_into is not null
        ) and not private.merge_running() then
            perform private.raise_conflict(
                'this patient record was merged into another', 'patient_merged',
                'use the record it was merged into (patients.merged_into), or unmerge first'
            );
        end if;
    end loop;
    return new;
end;
$$;

comment on function private.refuse_merged_patient() is
'Trigger: refuses a row written for a patient merged into another (PT409 patient_merged), unless '
'a merge or unmerge is running; its arguments name the row''s patient columns.';

do $$
declare
    t record;
begin
    for t in
        select r.table_name, array_agg(r.column_name order by r.column_name) as columns
        from private.patient_reference_columns() as r
        group by r.table_name
        order by r.table_name::text
    loop
        execute format(
            'create trigger refuse_merged_patient before insert or update on %s for each row'
            ' execute function private.refuse_merged_patient(%s)',
            t.table_name,
            (select string_agg(quote_literal(c), ', ') from unnest(t.columns) as c)
        );
    end loop;
end;
$$;
