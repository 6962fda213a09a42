-- Reversible patient merge and unmerge (issue 16, items 4 and 5; seed 001 POST /patients/merge).
--
-- Two records of one person become one: every row that references the record merged away
-- (the source) is re-pointed to the one that stays (the target, the survivor); the source is
-- marked merged (merged_into, merged_at), never deleted. Which rows reference a patient is read
-- from the catalog's foreign keys (to public.patients, and on through every composite key that
-- carries a patient column, e.g. (patient_id, hospital_id) of patient_registrations), so a table
-- added later is covered without being named here.
--
-- Registrations: a person is registered once per hospital. Where both records are registered
-- at the same hospital, the source's registration stays with the source, archived (its MRN is
-- kept there, the rows under it move to the target's registration); a registration only the
-- source has moves to the target.
--
-- The login: a source's login moves to the target when the target has none; when both have
-- one, the target keeps its own and the source's stays on the merged record (the person signs
-- in with the survivor's). Records merged into the source earlier: the merge is refused until
-- they are unmerged or merged into the target directly, so chains never form (and a constraint
-- forbids them: a merged record points to one that is not merged).
--
-- Everything a merge changes is written to the journal public.patient_merges (the rows moved,
-- the before-images of both patients and of the registrations kept), from which
-- rpc/unmerge_patients restores them. The audit triggers record each row's before-image.

-- Who may merge: a hospital's admin; its front desk too when the admin allows it here.
alter table public.hospitals
add column front_desk_may_merge_patients boolean not null default false;

grant update (front_desk_may_merge_patients) on public.hospitals to authenticated;

comment on column public.hospitals.front_desk_may_merge_patients is
'Whether the hospital''s front desk may merge and unmerge patient records (rpc/merge_patients); '
'off by default, changed by the hospital''s admin.';

-- The merged mark. is_merged and merged_into_is_merged feed the constraint that forbids
-- chains: merged_into names (id, is_merged = false), so a record merged into another can only
-- point at one that is not itself merged, and a record others were merged into cannot be
-- merged while they point at it.
alter table public.patients
add column merged_into uuid,
add column merged_at timestamptz,
add column is_merged boolean generated always as (merged_into is not null) stored,
add column merged_into_is_merged boolean generated always as (
    case when merged_into is not null then false end
) stored,
add constraint patients_merged_at_with_merged_into check ((merged_into is null) = (merged_at is null)),
add constraint patients_never_merged_into_itself check (merged_into <> id),
add constraint patients_id_is_merged_unique unique (id, is_merged),
add constraint patients_merged_into_survivor_fkey foreign key (merged_into, merged_into_is_merged)
references public.patients (id, is_merged) on delete restrict;

create index patients_merged_into_idx on public.patients (merged_into, merged_into_is_merged);

-- Only the merge writes the mark: the table-wide INSERT grant becomes one per column, without it.
revoke insert on public.patients from authenticated;
grant insert (
    id, user_id, full_name, date_of_birth, sex, phone, email, preferred_language, address_line, city,
    district, state, postal_code, emergency_contact_name, emergency_contact_phone,
    emergency_contact_relation, created_at, updated_at, deleted_at
) on public.patients to authenticated;

comment on column public.patients.merged_into is
'The record this one was merged into (rpc/merge_patients); null unless merged. Never a merged record.';
comment on column public.patients.merged_at is 'When this record was merged into merged_into.';
comment on column public.patients.is_merged is 'Whether this record was merged into another (derived).';
comment on column public.patients.merged_into_is_merged is
'Always false when merged_into is set (derived): the constraint that merged_into is not merged.';

-- The journal: one row per merge, readable by who may merge at its hospital.
create table public.patient_merges (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete restrict,
    source_id uuid not null references public.patients (id) on delete restrict,
    target_id uuid not null references public.patients (id) on delete restrict,
    reason text not null constraint patient_merges_reason_present check (length(btrim(reason)) > 0),
    merged_by uuid references public.profiles (id) on delete set null,
    merged_at timestamptz not null default now(),
    source_before jsonb not null,
    target_before jsonb not null,
    moved_rows jsonb not null default '[]',
    kept_registrations jsonb not null default '[]',
    login_moved boolean not null default false,
    unmerged_at timestamptz,
    unmerged_by uuid references public.profiles (id) on delete set null,
    unmerge_reason text,
    constraint patient_merges_two_records check (source_id <> target_id),
    constraint patient_merges_unmerge_complete check (
        (unmerged_at is null) = (unmerge_reason is null)
        and (unmerge_reason is null or length(btrim(unmerge_reason)) > 0)
    )
);

comment on constraint patient_merges_source_id_fkey on public.patient_merges is
'Kept at a merge: the journal names the record merged away.';
comment on constraint patient_merges_target_id_fkey on public.patient_merges is
'Kept at a merge: the journal names the record that stayed.';

create unique index patient_merges_one_open_per_source on public.patient_merges (source_id)
where unmerged_at is null;
create index patient_merges_source_idx on public.patient_merges (source_id);
create index patient_merges_target_idx on public.patient_merges (target_id);
create index patient_merges_hospital_idx on public.patient_merges (hospital_id, merged_at);
create index patient_merges_merged_by_idx on public.patient_merges (merged_by);
create index patient_merges_unmerged_by_idx on public.patient_merges (unmerged_by);

alter table public.patient_merges enable row level security;
revoke all on public.patient_merges from anon, authenticated;
grant select on public.patient_merges to authenticated;
grant all on public.patient_merges to service_role;

create policy patient_merges_select_who_may_merge on public.patient_merges
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
    or (
        hospital_id = any(private.staff_hospital_ids('{front_desk}'))
        and exists (
            select
            from public.hospitals as h
            where h.id = patient_merges.hospital_id and h.front_desk_may_merge_patients
        )
    )
);

create trigger audit_row_change
after insert or update or delete on public.patient_merges
for each row execute function private.audit_row_change('source_id');

comment on table public.patient_merges is
'Patient merges (rpc/merge_patients): which record was merged into which, why, by whom, exactly '
'which rows moved and the before-images of both patients, for rpc/unmerge_patients. Read by the '
'hospital''s admin (and its front desk where it may merge); written only by the merge RPCs.';
comment on column public.patient_merges.hospital_id is 'The hospital whose admin (or front desk) merged.';
comment on column public.patient_merges.source_id is 'The record merged away (marked merged_into).';
comment on column public.patient_merges.target_id is 'The record that stays and received the rows.';
comment on column public.patient_merges.reason is 'Why the records were merged (required).';
comment on column public.patient_merges.merged_by is 'Who merged (user id).';
comment on column public.patient_merges.merged_at is 'When the merge was made.';
comment on column public.patient_merges.unmerged_by is 'Who undid the merge (user id).';
comment on column public.patient_merges.unmerge_reason is 'Why the merge was undone.';
comment on column public.patient_merges.source_before is 'The source patient row before the merge.';
comment on column public.patient_merges.target_before is 'The target patient row before the merge.';
comment on column public.patient_merges.moved_rows is
'Every row re-pointed: [{table, key (its primary key), columns (those that named the source)}].';
comment on column public.patient_merges.kept_registrations is
'The source''s registrations at hospitals where the target is registered too: kept with the '
'source and archived; their rows before the merge.';
comment on column public.patient_merges.login_moved is 'Whether the source''s login moved to the target.';
comment on column public.patient_merges.unmerged_at is
'When rpc/unmerge_patients undid this merge; null while it stands.';

-- A merge or unmerge in progress in this transaction: the only thing the guard triggers let
-- re-point rows they otherwise keep immutable (signed notes, final results...). Written only by
-- the merge functions below (no API role may touch it) and emptied before they return.
create table private.merge_operations (
    tx xid8 primary key default pg_catalog.pg_current_xact_id(),
    merge_id uuid not null,
    from_id uuid not null,
    to_id uuid not null
);

alter table private.merge_operations enable row level security;
revoke all on private.merge_operations from public, anon, authenticated, service_role;

comment on table private.merge_operations is
'The merge or unmerge running in a transaction (from_id re-pointed to to_id); empty otherwise.';

-- Security definer: API roles cannot read private.merge_operations, yet every update they make
-- passes here. The setting is a cheap first test; it alone proves nothing.
create function private.merge_running()
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    if coalesce(current_setting('carebase.merge_operation', true), '') = '' then
        return false;
    end if;
    return exists (select from private.merge_operations as o where o.tx = pg_catalog.pg_current_xact_id());
end;
$$;

comment on function private.merge_running() is
'Whether a merge or unmerge is running in this transaction (private.merge_operations).';

-- Security definer, as private.merge_running. True only for the running merge's own change:
-- every changed column (updated_at aside) went from the record merged away to the other.
create function private.merge_repointing(old_row jsonb, new_row jsonb)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    op private.merge_operations;
begin
    if coalesce(current_setting('carebase.merge_operation', true), '') = '' then
        return false;
    end if;
    select o.* into op from private.merge_operations as o where o.tx = pg_catalog.pg_current_xact_id();
    if not found then
        return false;
    end if;
    return exists (
        select from jsonb_each(merge_repointing.new_row) as n
        where n.key <> 'updated_at' and n.value is distinct from merge_repointing.old_row -> n.key
    ) and not exists (
        select from jsonb_each(merge_repointing.new_row) as n
        where n.key <> 'updated_at' and n.value is distinct from merge_repointing.old_row -> n.key
            and not (
                merge_repointing.old_row ->> n.key = op.from_id::text and n.value #>> '{}' = op.to_id::text
            )
    );
end;
$$;

comment on function private.merge_repointing(jsonb, jsonb) is
'Whether an update (old and new row) is the running merge''s re-pointing of patient references '
'and nothing else; the guard triggers let exactly that through.';

-- The guards, re-created to let the merge's re-pointing through (and nothing else).
create or replace function private.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    -- A merge re-points rows without editing them, and an unmerge restores rows exactly.
    if coalesce(current_setting('carebase.merge_operation', true), '') <> '' then
        if private.merge_running() then
            return new;
        end if;
    end if;
    new.updated_at := now();
    return new;
end;
$$;

create or replace function private.guard_clinical_update()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    old_row jsonb := to_jsonb(old) - 'deleted_at' - 'updated_at';
    new_row jsonb := to_jsonb(new) - 'deleted_at' - 'updated_at';
begin
    if private.acting_as_system() or private.merge_repointing(to_jsonb(old), to_jsonb(new)) then
        return new;
    end if;
    if new.deleted_at is distinct from old.deleted_at then
        if not new.hospital_id = any(private.staff_hospital_ids('{hospital_admin}')) or old_row <> new_row then
            raise exception using
                errcode = '42501', message = 'only the hospital''s admin archives or restores clinical records',
                hint = 'archive or restore alone, without other changes';
        end if;
        return new;
    end if;
    if old.deleted_at is not null then
        raise exception using
            errcode = 'PT409', message = 'an archived clinical record cannot be changed', hint = 'restore it first';
    end if;
    if not private.on_care_team(new.patient_id, new.hospital_id) then
        perform private.raise_forbidden('only the patient''s care team changes clinical records');
    end if;
    return new;
end;
$$;

create or replace function private.guard_clinical_note()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op = 'INSERT' then
        if new.status <> 'draft' then
            perform private.raise_invalid('a note is written as a draft, then signed');
        end if;
        return new;
    end if;
    if private.merge_repointing(to_jsonb(old), to_jsonb(new)) then
        return new;
    end if;
    if old.status = 'signed' then
        if (to_jsonb(new) - 'deleted_at' - 'updated_at' - 'soap_encrypted')
            = (to_jsonb(old) - 'deleted_at' - 'updated_at' - 'soap_encrypted') then
            if new.soap_encrypted = old.soap_encrypted then
                return new;
            end if;
            if private.decrypt_field(new.soap_encrypted) = private.decrypt_field(old.soap_encrypted) then
                return new;
            end if;
        end if;
        perform private.raise_conflict(
            'a signed note cannot be changed', hint => 'add an addendum (rpc/add_note_addendum)'
        );
    end if;
    if not private.acting_as_system() and old.author_id <> (select auth.uid())
        and new.deleted_at is not distinct from old.deleted_at then
        perform private.raise_forbidden('only the author edits or signs a draft note');
    end if;
    if new.status = 'signed' then
        new.signed_at := clock_timestamp();
    end if;
    return new;
end;
$$;

create or replace function private.guard_lab_result()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if old.finalised_at is not null
        and (to_jsonb(new) - 'deleted_at') <> (to_jsonb(old) - 'deleted_at')
        and not private.acting_as_system()
        and not private.merge_repointing(to_jsonb(old), to_jsonb(new)) then
        perform private.raise_conflict(
            'a final lab result cannot be changed', hint => 'record a corrected result'
        );
    end if;
    return new;
end;
$$;

create or replace function private.guard_appointment_nurse_fields()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    -- Written with a status change by the state machine and the updated_at trigger.
    status_fields constant text[] := array['status', 'status_reason', 'status_changed_at', 'updated_at'];
    changed text;
begin
    if private.acting_as_system()
        or old.hospital_id = any(private.staff_hospital_ids('{hospital_admin,front_desk,cro}'))
        or old.doctor_id = any(private.own_doctor_ids())
        or old.patient_id = private.own_patient_id()
        or private.merge_repointing(to_jsonb(old), to_jsonb(new)) then
        return new;
    end if;
    select string_agg(n.key, ', ' order by n.key) into changed
    from jsonb_each(to_jsonb(new) - status_fields) as n
    where n.value is distinct from to_jsonb(old) -> n.key;
    if changed is not null then
        perform private.raise_forbidden(
            'a nurse may change only the status of an appointment',
            detail => format('changed: %s', changed),
            hint => 'ask the front desk to move it or to change its room, mode or type'
        );
    end if;
    return new;
end;
$$;

create or replace function private.guard_prescription_pharmacy()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    -- A merge moves the prescription with the consent it was sent under.
    if tg_op = 'UPDATE' and private.merge_repointing(to_jsonb(old), to_jsonb(new)) then
        return new;
    end if;
    if not private.pharmacy_may_receive(new.pharmacy_id, new.hospital_id, new.patient_id) then
        raise exception using
            errcode = '42501',
            message = 'the patient has not consented to sending prescriptions to an outside pharmacy',
            hint = 'record the patient''s external_pharmacy consent at this hospital, or send it to one of the '
            || 'hospital''s pharmacies';
    end if;
    return new;
end;
$$;

-- Which columns of which tables reference a patient: the foreign keys to public.patients and,
-- transitively, every foreign key whose referenced columns include such a column (a composite
-- key through patient_registrations, appointments, encounters...). The merged mark itself is
-- not a reference to move, nor a foreign key whose comment begins 'Kept at a merge:' (a record
-- about the two patients themselves, such as the journal below or the duplicate review queue).
create function private.patient_reference_columns()
returns table (table_name regclass, column_name name)
language sql
stable
set search_path = ''
as $$
    with recursive refs (relid, attnum) as (
        select c.conrelid, c.conkey[k.i]
        from pg_catalog.pg_constraint as c
        cross join lateral pg_catalog.generate_subscripts(c.conkey, 1) as k (i)
        join pg_catalog.pg_attribute as a
            on a.attrelid = c.confrelid and a.attnum = c.confkey[k.i] and a.attname = 'id'
        where c.contype = 'f' and c.confrelid = 'public.patients'::regclass
            and c.conrelid <> 'public.patients'::regclass
            and coalesce(pg_catalog.obj_description(c.oid, 'pg_constraint'), '') not like 'Kept at a merge:%'
        union
        select c.conrelid, c.conkey[k.i]
        from refs as r
        join pg_catalog.pg_constraint as c on c.contype = 'f' and c.confrelid = r.relid
        cross join lateral pg_catalog.generate_subscripts(c.conkey, 1) as k (i)
        where c.confkey[k.i] = r.attnum
            and c.conrelid <> 'public.patients'::regclass
            and coalesce(pg_catalog.obj_description(c.oid, 'pg_constraint'), '') not like 'Kept at a merge:%'
    )
    select r.relid::regclass, a.attname
    from refs as r
    join pg_catalog.pg_attribute as a on a.attrelid = r.relid and a.attnum = r.attnum
    order by r.relid::regclass::text, a.attname
$$;

comment on function private.patient_reference_columns() is
'Every (table, column) that references a patient, directly or through a composite foreign key, '
'read from pg_constraint: what a merge re-points.';

-- One table of the merge: its patient columns, how to name a row (its primary key) and the SQL
-- pieces the plan and the moves are built from.
create function private.merge_table_sql(
    table_name regclass, columns name[], source uuid, target uuid, alias text
)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    pk name [];
    pk_types text [];
    plain_key text;
    moving text;
    staying text;
begin
    select
        array_agg(a.attname order by k.i),
        array_agg(pg_catalog.format_type(a.atttypid, a.atttypmod) order by k.i)
    into pk, pk_types
    from pg_catalog.pg_index as i
    cross join lateral pg_catalog.generate_series(0, i.indnkeyatts - 1) as k (i)
    join pg_catalog.pg_attribute as a on a.attrelid = i.indrelid and a.attnum = i.indkey[k.i]
    where i.indrelid = merge_table_sql.table_name and i.indisprimary;
    if pk is null then
        perform private.raise_conflict(
            format('%s references patients without a primary key: its rows cannot be journaled', table_name),
            'reference_without_key', 'give the table a primary key'
        );
    end if;
    select
        '(' || string_agg(format('%I.%I = %L', alias, c, source), ' or ') || ')',
        '(' || string_agg(format('%I.%I = %L', alias, c, target), ' or ') || ')'
    into moving, staying
    from unnest(columns) as c;
    -- A registration at a hospital where the target is registered too stays with the source.
    if table_name = 'public.patient_registrations'::regclass then
        moving := moving || format(
            ' and not exists (select from public.patient_registrations as kept'
            ' where kept.patient_id = %L and kept.hospital_id = %I.hospital_id)', target, alias
        );
    end if;
    select 'jsonb_build_object(' || string_agg(format('%L, %I.%I', p, alias, p), ', ') || ')'
    into plain_key
    from unnest(pk) as p;
    -- Outside public (private.registration_codes...) a row is named by a digest of its key:
    -- the preview and the journal are read by admins, and such keys can be secrets' hashes.
    if (select c.relnamespace <> 'public'::regnamespace from pg_catalog.pg_class as c where c.oid = table_name) then
        return jsonb_build_object(
            'key', format('jsonb_build_object(''digest'', md5((%s)::text))', plain_key),
            'match', format('md5((%s)::text) = o.row_key ->> ''digest''', plain_key),
            'pk', to_jsonb(pk),
            'moving', moving,
            'staying', staying
        );
    end if;
    return jsonb_build_object(
        'key', plain_key,
        'match', (
            select string_agg(format('%I.%I = (o.row_key ->> %L)::%s', alias, p.name, p.name, p.type), ' and ')
            from unnest(pk, pk_types) as p (name, type)
        ),
        'pk', to_jsonb(pk),
        'moving', moving,
        'staying', staying
    );
end;
$$;

comment on function private.merge_table_sql(regclass, name[], uuid, uuid, text) is
'SQL pieces for one table of a merge: its row key (primary key as JSON; a digest of it outside '
'public), how to find a journaled row again, and which rows move.';

-- What a merge of source into target would do: every row that moves (per table, with the
-- columns and the row keys), the registrations kept with the source, and every conflict (a
-- unique or exclusion constraint a moved row would break against a row of the target).
create function private.merge_plan(source uuid, target uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    t record;
    sql jsonb;
    rows jsonb;
    moves jsonb := '[]';
    conflicts jsonb := '[]';
    idx record;
    found_conflicts jsonb;
    kept jsonb;
begin
    for t in
        select r.table_name, array_agg(r.column_name order by r.column_name) as columns,
            array_agg(a.attnum order by r.column_name) as attnums
        from private.patient_reference_columns() as r
        join pg_catalog.pg_attribute as a on a.attrelid = r.table_name and a.attname = r.column_name
        group by r.table_name
        order by r.table_name::text
    loop
        sql := private.merge_table_sql(t.table_name, t.columns, source, target, 'x');
        execute format(
            'select coalesce(jsonb_agg(%s order by %s), ''[]'') from %s as x where %s',
            sql ->> 'key', sql ->> 'key', t.table_name, sql ->> 'moving'
        ) into rows;
        if jsonb_array_length(rows) > 0 then
            moves := moves || jsonb_build_array(jsonb_build_object(
                'table', t.table_name::text, 'columns', to_jsonb(t.columns),
                'count', jsonb_array_length(rows), 'rows', rows
            ));
        end if;

        -- Unique indexes and exclusion constraints over a patient column: a moved row and a
        -- target's row equal on every other key column (by the constraint's operators) collide.
        for idx in
            select
                coalesce(c.conname, ic.relname) as name,
                i.indnullsnotdistinct as nulls_not_distinct,
                pg_catalog.pg_get_expr(i.indpred, i.indrelid) as predicate,
                k.exprs, k.is_patient, k.ops
            from pg_catalog.pg_index as i
            join pg_catalog.pg_class as ic on ic.oid = i.indexrelid
            left join pg_catalog.pg_constraint as c on c.conindid = i.indexrelid and c.contype in ('p', 'u', 'x')
            cross join lateral (
                select
                    array_agg(pg_catalog.pg_get_indexdef(i.indexrelid, g.n + 1, true) order by g.n) as exprs,
                    array_agg(i.indkey[g.n] = any(t.attnums) order by g.n) as is_patient,
                    array_agg(
                        coalesce(
                            (
                                select format('operator(%I.%s)', ns.nspname, o.oprname)
                                from pg_catalog.pg_operator as o
                                join pg_catalog.pg_namespace as ns on ns.oid = o.oprnamespace
                                where o.oid = c.conexclop[g.n + 1]
                            ),
                            '='
                        ) order by g.n
                    ) as ops
                from pg_catalog.generate_series(0, i.indnkeyatts - 1) as g (n)
            ) as k
            where i.indrelid = t.table_name and (i.indisunique or c.contype = 'x') and true = any(k.is_patient)
        loop
            execute format(
                'select coalesce(jsonb_agg(jsonb_build_object(''constraint'', %L, ''table'', %L,'
                ' ''source_row'', s.row_key, ''target_row'', g.row_key)), ''[]'')'
                ' from (select %s as row_key%s from %s as x where %s%s) as s'
                ' join (select %s as row_key%s from %s as x where %s%s) as g on s.row_key <> g.row_key%s',
                idx.name, t.table_name::text,
                sql ->> 'key',
                (select string_agg(format(', %s as k%s', e, n), '') from unnest(idx.exprs) with ordinality as u (e, n)),
                t.table_name, sql ->> 'moving',
                coalesce(' and (' || idx.predicate || ')', ''),
                sql ->> 'key',
                (select string_agg(format(', %s as k%s', e, n), '') from unnest(idx.exprs) with ordinality as u (e, n)),
                t.table_name, sql ->> 'staying',
                coalesce(' and (' || idx.predicate || ')', ''),
                coalesce((
                    select string_agg(
                        case
                            when u.op = '=' and idx.nulls_not_distinct
                                then format(' and s.k%s is not distinct from g.k%s', u.n, u.n)
                            else format(' and s.k%s %s g.k%s', u.n, u.op, u.n)
                        end, ''
                    )
                    from unnest(idx.ops, idx.is_patient) with ordinality as u (op, patient, n)
                    where not u.patient
                ), '')
            ) into found_conflicts;
            conflicts := conflicts || found_conflicts;
        end loop;
    end loop;

    select coalesce(jsonb_agg(to_jsonb(r) order by r.hospital_id), '[]') into kept
    from public.patient_registrations as r
    where r.patient_id = merge_plan.source
        and exists (
            select from public.patient_registrations as g
            where g.patient_id = merge_plan.target and g.hospital_id = r.hospital_id
        );

    return jsonb_build_object('moves', moves, 'kept_registrations', kept, 'conflicts', conflicts);
end;
$$;

comment on function private.merge_plan(uuid, uuid) is
'What merging source into target would move (per table and column, with row keys), the '
'registrations kept with the source, and the conflicts (constraint and rows) that refuse it.';

-- Why two records cannot be merged, as far as their state tells (before the caller's right is
-- weighed: these are facts of records the caller can already read).
create function private.merge_state_refusals(source uuid, target uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select coalesce(jsonb_agg(r.refusal order by r.n), '[]')
    from (
        select 1 as n, jsonb_build_object(
            'code', 'merge_into_itself', 'message', 'a record cannot be merged into itself'
        ) as refusal
        where merge_state_refusals.source = merge_state_refusals.target
        union all
        select 2, jsonb_build_object(
            'code', 'patient_archived', 'message', 'an archived patient record cannot be merged',
            'patient_id', p.id
        )
        from public.patients as p
        where p.id in (merge_state_refusals.source, merge_state_refusals.target) and p.deleted_at is not null
        union all
        select 3, jsonb_build_object(
            'code', 'already_merged', 'message', 'this record was already merged into another',
            'patient_id', p.id
        )
        from public.patients as p
        where p.id in (merge_state_refusals.source, merge_state_refusals.target) and p.merged_into is not null
        union all
        select 4, jsonb_build_object(
            'code', 'has_merged_records',
            'message', 'other records were merged into this one: unmerge them or merge them into the target first',
            'patient_id', merge_state_refusals.source
        )
        where merge_state_refusals.source <> merge_state_refusals.target
            and exists (select from public.patients as m where m.merged_into = merge_state_refusals.source)
    ) as r
$$;

comment on function private.merge_state_refusals(uuid, uuid) is
'Refusals a merge meets from the records'' state: into itself, archived, already merged, '
'records merged into the source.';

-- Whether the two records can be one person: a known sex that differs, or two different
-- national numbers of one kind, say they are not.
create function private.merge_person_refusals(source uuid, target uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select coalesce(jsonb_agg(r.refusal order by r.n), '[]')
    from (
        select 1 as n, jsonb_build_object(
            'code', 'sex_differs', 'message', 'the two records give a different sex'
        ) as refusal
        from public.patients as s, public.patients as t
        where s.id = merge_person_refusals.source and t.id = merge_person_refusals.target
            and s.sex <> 'unknown' and t.sex <> 'unknown' and s.sex <> t.sex
        union all
        select distinct 2, jsonb_build_object(
            'code', 'national_id_differs',
            'message', format('the two records hold different %s numbers', s.kind), 'kind', s.kind
        )
        from public.patient_identifiers as s
        join public.patient_identifiers as t on t.kind = s.kind and t.blind_index <> s.blind_index
        where s.patient_id = merge_person_refusals.source and t.patient_id = merge_person_refusals.target
    ) as r
$$;

comment on function private.merge_person_refusals(uuid, uuid) is
'Refusals a merge meets because the records describe different people: sex, national numbers.';

-- The hospital where the caller may merge these two: both registered there (live), and the
-- caller its admin, or its front desk where the hospital allows. Null when there is none.
create function private.merge_hospital(source uuid, target uuid)
returns uuid
language sql
stable
set search_path = ''
as $$
    select s.hospital_id
    from public.patient_registrations as s
    join public.patient_registrations as t
        on t.hospital_id = s.hospital_id and t.patient_id = merge_hospital.target and t.deleted_at is null
    join public.hospitals as h on h.id = s.hospital_id
    where s.patient_id = merge_hospital.source and s.deleted_at is null
        and (
            s.hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
            or (h.front_desk_may_merge_patients and s.hospital_id = any(private.staff_hospital_ids('{front_desk}')))
        )
    order by s.hospital_id
    limit 1
$$;

comment on function private.merge_hospital(uuid, uuid) is
'The hospital where the caller may merge source and target (both registered there, caller its '
'admin or its allowed front desk), or null.';

-- Whether the caller may merge or unmerge at a hospital.
create function private.may_merge_at(hospital uuid)
returns boolean
language sql
stable
set search_path = ''
as $$
    select may_merge_at.hospital = any(private.staff_hospital_ids('{hospital_admin}'))
        or (
            may_merge_at.hospital = any(private.staff_hospital_ids('{front_desk}'))
            and exists (
                select from public.hospitals as h where h.id = may_merge_at.hospital and h.front_desk_may_merge_patients
            )
        )
$$;

comment on function private.may_merge_at(uuid) is
'Whether the caller may merge patients at the hospital: its admin, or its front desk where allowed.';

create function private.raise_merge_refusal(refusal jsonb)
returns void
language plpgsql
set search_path = ''
as $$
begin
    perform private.raise_error(
        case when refusal ->> 'code' = 'merge_into_itself' then '22023' else 'PT409' end,
        refusal ->> 'message',
        refusal ->> 'code',
        case refusal ->> 'code'
            when 'sex_differs' then 'correct the wrong record first if they are one person'
            when 'national_id_differs' then 'correct the wrong number first if they are one person'
            when 'has_merged_records' then 'merge the other way round, or unmerge the earlier merge first'
            when 'merge_conflict' then 'resolve the named rows (end, cancel or archive one) and try again'
        end
    );
end;
$$;

comment on function private.raise_merge_refusal(jsonb) is
'Raises a merge refusal: 22023 merge_into_itself, else PT409 with the refusal''s code as details.';

-- The caller's view: both records readable, else PT404 alike for missing and unreachable.
create function private.merge_check(source uuid, target uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    refusals jsonb;
    hospital uuid;
    plan jsonb;
    conflicts jsonb;
begin
    if not exists (select from public.patients as p where p.id = merge_check.source)
        or not exists (select from public.patients as p where p.id = merge_check.target) then
        perform private.raise_not_found('patient not found');
    end if;
    -- The plan names clinical rows and the merge moves them: staff need their second factor.
    perform private.require_phi_aal2(null);
    refusals := private.merge_state_refusals(source, target);
    if jsonb_array_length(refusals) > 0 then
        return jsonb_build_object('can_merge', false, 'refusals', refusals);
    end if;
    hospital := private.merge_hospital(source, target);
    if hospital is null then
        perform private.raise_forbidden(
            'only a hospital admin (or the front desk where the hospital allows it) of a hospital where '
            || 'both records are registered merges them',
            'merge_not_allowed'
        );
    end if;
    -- A merge moves every row of both records, and its plan names them: a hospital merges only
    -- records held by hospitals where the caller merges, so that neither the plan nor the merge
    -- reaches another hospital's rows (its MRNs, visits, results). The refusal tells the caller
    -- no more than that one of the records is registered elsewhere.
    if exists (
        select from public.patient_registrations as r
        where r.patient_id in (source, target) and not private.may_merge_at(r.hospital_id)
    ) then
        perform private.raise_forbidden(
            'one of these records is also registered at a hospital where you do not merge patients: '
            || 'records held by other hospitals are not merged from one hospital',
            'registered_elsewhere'
        );
    end if;
    refusals := private.merge_person_refusals(source, target);
    plan := private.merge_plan(source, target);
    conflicts := plan -> 'conflicts';
    if jsonb_array_length(conflicts) > 0 then
        refusals := refusals || jsonb_build_array(jsonb_build_object(
            'code', 'merge_conflict',
            'message', (
                select format(
                    'the merge would break %s',
                    string_agg(distinct format('%s (%s)', c ->> 'constraint', c ->> 'table'), ', ')
                )
                from jsonb_array_elements(conflicts) as c
            )
        ));
    end if;
    return jsonb_build_object(
        'can_merge', jsonb_array_length(refusals) = 0,
        'hospital_id', hospital,
        'source_id', source,
        'target_id', target,
        'refusals', refusals
    ) || plan;
end;
$$;

comment on function private.merge_check(uuid, uuid) is
'Validation and plan of a merge for the caller (security definer: the plan reads every table '
'that references a patient); PT404 for a record that does not exist, 42501 without the right.';

create function public.merge_preview(source_id uuid, target_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
    -- Read under the caller's RLS: a record they cannot read is one that does not exist.
    if not exists (select from public.patients as p where p.id = merge_preview.source_id)
        or not exists (select from public.patients as p where p.id = merge_preview.target_id) then
        perform private.raise_not_found('patient not found');
    end if;
    return private.merge_check(source_id, target_id);
end;
$$;

comment on function public.merge_preview(uuid, uuid) is
'Preview of merging patient source_id into target_id (seed 001 POST /patients/merge, first step): '
'can_merge, refusals [{code, message}] (merge_into_itself, patient_archived, already_merged, '
'has_merged_records, sex_differs, national_id_differs, merge_conflict), moves [{table, columns, count, '
'rows}] found from the catalog''s foreign keys, kept_registrations, conflicts [{constraint, table, '
'source_row, target_row}]. Hospital admin of a hospital where both are registered, or its front desk '
'where allowed, in a session with a second factor; both records held only by hospitals where the '
'caller merges. Errors: PT404 patient not found (also when out of reach), 42501 merge_not_allowed, '
'42501 registered_elsewhere, PT403 insufficient_aal.';

-- The moves, in one statement so that composite foreign keys (clinical_notes to appointments
-- to registrations...) are checked once every table has moved.
create function private.merge_move_rows(source uuid, target uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    t record;
    sql jsonb;
    parts text [] := '{}';
    updated_key text;
    moved jsonb;
    n integer := 0;
begin
    for t in
        select r.table_name, array_agg(r.column_name order by r.column_name) as columns
        from private.patient_reference_columns() as r
        group by r.table_name
        order by r.table_name::text
    loop
        n := n + 1;
        sql := private.merge_table_sql(t.table_name, t.columns, source, target, 'x');
        updated_key := private.merge_table_sql(t.table_name, t.columns, source, target, 'u') ->> 'key';
        parts := parts || format(
            'm%s as (update %s as u set %s from (select %s, %s from %s as x where %s) as o where %s'
            ' returning %L::text as table_name, %s as row_key, array_remove(array[%s]::text[], null) as columns)',
            n, t.table_name,
            (select string_agg(format('%I = case when u.%I = %L then %L::uuid else u.%I end', c, c, source, target, c), ', ')
            from unnest(t.columns) as c),
            (select string_agg(format('x.%I as pk_%s', p, p), ', ') from jsonb_array_elements_text(sql -> 'pk') as p),
            (select string_agg(format('x.%I as was_%s', c, c), ', ') from unnest(t.columns) as c),
            t.table_name, sql ->> 'moving',
            (select string_agg(format('u.%I = o.pk_%s', p, p), ' and ') from jsonb_array_elements_text(sql -> 'pk') as p),
            t.table_name::text,
            updated_key,
            (select string_agg(format('case when o.was_%s = %L then %L end', c, source, c), ', ') from unnest(t.columns) as c)
        );
    end loop;
    if n = 0 then
        return '[]';
    end if;
    execute format(
        'with %s select coalesce(jsonb_agg(jsonb_build_object(''table'', m.table_name, ''key'', m.row_key,'
        ' ''columns'', to_jsonb(m.columns)) order by m.table_name, m.row_key::text), ''[]'') from (%s) as m',
        array_to_string(parts, ', '),
        (select string_agg(format('select * from m%s', i), ' union all ') from generate_series(1, n) as i)
    ) into moved;
    return moved;
end;
$$;

comment on function private.merge_move_rows(uuid, uuid) is
'Re-points every row referencing source to target in one statement; returns the rows moved.';

-- The rows a merge moved, back to the source (those still pointing at the target).
create function private.unmerge_move_rows(moved jsonb, source uuid, target uuid)
returns integer
language plpgsql
set search_path = ''
as $$
declare
    t record;
    sql jsonb;
    parts text [] := '{}';
    n integer := 0;
    total integer;
begin
    for t in
        select g.table_name, g.rows,
            array(
                select distinct c
                from jsonb_array_elements(g.rows) as e, jsonb_array_elements_text(e -> 'columns') as c
                order by 1
            ) as columns
        from (
            select (m ->> 'table')::regclass as table_name, jsonb_agg(m) as rows
            from jsonb_array_elements(moved) as m
            group by m ->> 'table'
        ) as g
        order by g.table_name::text
    loop
        n := n + 1;
        sql := private.merge_table_sql(t.table_name, t.columns::name [], target, source, 'u');
        parts := parts || format(
            'm%s as (update %s as u set %s from (select e -> ''key'' as row_key,'
            ' array(select jsonb_array_elements_text(e -> ''columns'')) as columns'
            ' from jsonb_array_elements(%L::jsonb) as e) as o where %s and %s returning 1)',
            n, t.table_name,
            (select string_agg(
                format('%I = case when u.%I = %L and %L = any(o.columns) then %L::uuid else u.%I end', c, c, target, c, source, c),
                ', '
            ) from unnest(t.columns) as c),
            t.rows,
            sql ->> 'match',
            '(' || (select string_agg(format('u.%I = %L', c, target), ' or ') from unnest(t.columns) as c) || ')'
        );
    end loop;
    if n = 0 then
        return 0;
    end if;
    execute format(
        'with %s select count(*) from (%s) as m',
        array_to_string(parts, ', '),
        (select string_agg(format('select * from m%s', i), ' union all ') from generate_series(1, n) as i)
    ) into total;
    return total;
end;
$$;

comment on function private.unmerge_move_rows(jsonb, uuid, uuid) is
'Points the rows a merge moved back at the source, in one statement; rows since moved elsewhere stay.';

-- Live events: the patients' logins, the care teams and the front desks and admins of every
-- hospital where either is registered.
create function private.live_merge_event(event text, journal public.patient_merges)
returns void
language sql
set search_path = ''
as $$
    select private.raise_live_event(
        array(
            select private.user_topic((live_merge_event.journal.source_before ->> 'user_id')::uuid)
            union
            select private.user_topic((live_merge_event.journal.target_before ->> 'user_id')::uuid)
            union
            select private.user_topic(c.member_id)
            from public.care_team_members as c
            where c.patient_id in (live_merge_event.journal.source_id, live_merge_event.journal.target_id)
                and c.ended_at is null
            union
            select private.hospital_topic(r.hospital_id, office.app_role)
            from public.patient_registrations as r
            cross join unnest('{front_desk,hospital_admin}'::public.app_role []) as office (app_role)
            where r.patient_id in (live_merge_event.journal.source_id, live_merge_event.journal.target_id)
        ),
        live_merge_event.event,
        jsonb_build_object(
            'merge_id', live_merge_event.journal.id, 'source_id', live_merge_event.journal.source_id,
            'target_id', live_merge_event.journal.target_id, 'hospital_id', live_merge_event.journal.hospital_id,
            'occurred_at', now()
        )
    )
$$;

comment on function private.live_merge_event(text, public.patient_merges) is
'Raises patient_merged / patient_unmerged for both patients'' logins, their care teams and the '
'front desks and admins of their hospitals (ids only).';

-- Security definer: the merge re-points rows in every table (RLS and column privileges
-- would stop it half way) and writes the journal and the in-progress mark, which no API role
-- may write. It checks the caller's right itself.
create function private.merge_patients_as_owner(source uuid, target uuid, reason text)
returns public.patient_merges
language plpgsql
security definer
set search_path = ''
as $$
declare
    checked jsonb;
    refusal jsonb;
    src public.patients;
    tgt public.patients;
    journal public.patient_merges;
    failed_constraint text;
    failed_message text;
begin
    if coalesce(btrim(reason), '') = '' then
        perform private.raise_invalid('a merge needs a reason', 'reason_required');
    end if;
    -- Both rows locked (in id order) so that nothing attaches to the source meanwhile.
    perform from public.patients as p where p.id in (source, target) order by p.id for update;
    checked := private.merge_check(source, target);
    for refusal in select * from jsonb_array_elements(checked -> 'refusals') loop
        perform private.raise_merge_refusal(refusal);
    end loop;

    select * into src from public.patients as p where p.id = source;
    select * into tgt from public.patients as p where p.id = target;
    journal.id := gen_random_uuid();
    insert into private.merge_operations (merge_id, from_id, to_id) values (journal.id, source, target);
    perform set_config('carebase.merge_operation', journal.id::text, true);

    begin
        journal.moved_rows := private.merge_move_rows(source, target);
        journal.kept_registrations := checked -> 'kept_registrations';
        update public.patient_registrations as r
        set deleted_at = now()
        where r.patient_id = source and r.deleted_at is null;
        journal.login_moved := src.user_id is not null and tgt.user_id is null;
        if journal.login_moved then
            update public.patients as p set user_id = null where p.id = source;
            update public.patients as p set user_id = src.user_id where p.id = target;
        end if;
        update public.patients as p set merged_into = target, merged_at = now() where p.id = source;
    exception
        when unique_violation or exclusion_violation or foreign_key_violation or check_violation
            or not_null_violation then
            get stacked diagnostics failed_constraint = constraint_name, failed_message = message_text;
            perform private.raise_merge_refusal(jsonb_build_object(
                'code', 'merge_conflict',
                'message', format('the merge would break %s: %s', failed_constraint, failed_message)
            ));
    end;

    insert into public.patient_merges (
        id, hospital_id, source_id, target_id, reason, merged_by, source_before, target_before,
        moved_rows, kept_registrations, login_moved
    )
    values (
        journal.id, (checked ->> 'hospital_id')::uuid, source, target, btrim(merge_patients_as_owner.reason), auth.uid(),
        to_jsonb(src), to_jsonb(tgt), journal.moved_rows, journal.kept_registrations, journal.login_moved
    )
    returning * into journal;

    delete from private.merge_operations as o where o.tx = pg_catalog.pg_current_xact_id();
    perform set_config('carebase.merge_operation', '', true);
    perform private.live_merge_event('patient_merged', journal);
    return journal;
end;
$$;

comment on function private.merge_patients_as_owner(uuid, uuid, text) is
'The merge itself (rpc/merge_patients): checks, re-points, marks, journals, in one transaction.';

create function public.merge_patients(source_id uuid, target_id uuid, reason text)
returns public.patient_merges
language plpgsql
set search_path = ''
as $$
begin
    if not exists (select from public.patients as p where p.id = merge_patients.source_id)
        or not exists (select from public.patients as p where p.id = merge_patients.target_id) then
        perform private.raise_not_found('patient not found');
    end if;
    return private.merge_patients_as_owner(source_id, target_id, reason);
end;
$$;

comment on function public.merge_patients(uuid, uuid, text) is
'Merges patient source_id into target_id (seed 001 POST /patients/merge) in one transaction: every '
'row referencing the source (found from the catalog''s foreign keys) re-pointed to the target, the '
'source marked merged_into (never deleted; its registrations where the target is registered too '
'archived), its login moved when the target has none; journaled in patient_merges (returned) and '
'undone by rpc/unmerge_patients. Hospital admin of a hospital where both are registered, or its '
'front desk where allowed (aal2). Errors: PT404 patient not found (also out of reach), 42501 '
'merge_not_allowed, PT403 insufficient_aal, 22023 merge_into_itself / reason_required, PT409 '
'(details) patient_archived, already_merged, has_merged_records, sex_differs, national_id_differs, '
'merge_conflict (the constraint is named; nothing is written).';

-- Security definer, as private.merge_patients_as_owner.
create function private.unmerge_patients_as_owner(merge_id uuid, reason text)
returns public.patient_merges
language plpgsql
security definer
set search_path = ''
as $$
declare
    journal public.patient_merges;
    kept jsonb;
    failed_constraint text;
    failed_message text;
begin
    if coalesce(btrim(reason), '') = '' then
        perform private.raise_invalid('an unmerge needs a reason', 'reason_required');
    end if;
    select * into journal from public.patient_merges as m where m.id = unmerge_patients_as_owner.merge_id for update;
    if not found then
        perform private.raise_not_found('merge not found');
    end if;
    if not private.may_merge_at(journal.hospital_id) then
        perform private.raise_forbidden(
            'only the hospital''s admin (or its front desk where allowed) unmerges', 'merge_not_allowed'
        );
    end if;
    perform private.require_phi_aal2(null);
    if journal.unmerged_at is not null then
        perform private.raise_conflict('this merge was already undone', 'already_unmerged');
    end if;
    perform from public.patients as p where p.id in (journal.source_id, journal.target_id) order by p.id for update;

    insert into private.merge_operations (merge_id, from_id, to_id) values (journal.id, journal.target_id, journal.source_id);
    perform set_config('carebase.merge_operation', journal.id::text, true);
    begin
        -- The source exactly as it was (its login back from the target when it had moved).
        if journal.login_moved then
            update public.patients as p set user_id = (journal.target_before ->> 'user_id')::uuid
            where p.id = journal.target_id;
        end if;
        execute format(
            'update public.patients as p set (%s) = (select %s from jsonb_populate_record(null::public.patients, $1) as b)'
            ' where p.id = $2',
            (select string_agg(quote_ident(a.attname), ', ' order by a.attnum)
            from pg_catalog.pg_attribute as a
            where a.attrelid = 'public.patients'::regclass and a.attnum > 0 and not a.attisdropped
                and a.attgenerated = '' and a.attname <> 'id'),
            (select string_agg('b.' || quote_ident(a.attname), ', ' order by a.attnum)
            from pg_catalog.pg_attribute as a
            where a.attrelid = 'public.patients'::regclass and a.attnum > 0 and not a.attisdropped
                and a.attgenerated = '' and a.attname <> 'id')
        ) using journal.source_before, journal.source_id;
        -- The registrations the merge archived, as they were.
        for kept in select * from jsonb_array_elements(journal.kept_registrations) loop
            update public.patient_registrations as r
            set deleted_at = (kept ->> 'deleted_at')::timestamptz, updated_at = (kept ->> 'updated_at')::timestamptz
            where r.id = (kept ->> 'id')::uuid;
        end loop;
        perform private.unmerge_move_rows(journal.moved_rows, journal.source_id, journal.target_id);
    exception
        when unique_violation or exclusion_violation or foreign_key_violation or check_violation
            or not_null_violation then
            get stacked diagnostics failed_constraint = constraint_name, failed_message = message_text;
            perform private.raise_merge_refusal(jsonb_build_object(
                'code', 'merge_conflict',
                'message', format('the unmerge would break %s: %s', failed_constraint, failed_message)
            ));
    end;
    delete from private.merge_operations as o where o.tx = pg_catalog.pg_current_xact_id();
    perform set_config('carebase.merge_operation', '', true);

    update public.patient_merges as m
    set unmerged_at = now(), unmerged_by = auth.uid(), unmerge_reason = btrim(unmerge_patients_as_owner.reason)
    where m.id = journal.id
    returning * into journal;
    perform private.live_merge_event('patient_unmerged', journal);
    return journal;
end;
$$;

comment on function private.unmerge_patients_as_owner(uuid, text) is
'The unmerge itself (rpc/unmerge_patients): restores the source, its registrations and moved rows.';

create function public.unmerge_patients(merge_id uuid, reason text)
returns public.patient_merges
language plpgsql
set search_path = ''
as $$
begin
    -- Read under the caller's RLS: a merge they may not see is one that does not exist.
    if not exists (select from public.patient_merges as m where m.id = unmerge_patients.merge_id) then
        perform private.raise_not_found('merge not found');
    end if;
    return private.unmerge_patients_as_owner(merge_id, reason);
end;
$$;

comment on function public.unmerge_patients(uuid, text) is
'Undoes a merge (patient_merges.id): the source record restored exactly as it was (column by column, '
'its login back if it had moved), its archived registrations restored, every row the merge moved '
'pointed back at it; rows created for the survivor since stay with the survivor, edits to moved '
'rows are kept. Who may merge at the merge''s hospital (aal2). Errors: PT404 merge not found (also '
'out of reach), 42501 merge_not_allowed, PT403 insufficient_aal, 22023 reason_required, PT409 '
'already_unmerged, merge_conflict.';

grant execute on function public.merge_preview(uuid, uuid) to authenticated, service_role;
grant execute on function public.merge_patients(uuid, uuid, text) to authenticated, service_role;
grant execute on function public.unmerge_patients(uuid, text) to authenticated, service_role;
grant execute on function private.merge_check(uuid, uuid) to authenticated, service_role;
grant execute on function private.merge_patients_as_owner(uuid, uuid, text) to authenticated, service_role;
grant execute on function private.unmerge_patients_as_owner(uuid, text) to authenticated, service_role;
grant execute on function private.merge_running() to authenticated, service_role;
grant execute on function private.merge_repointing(jsonb, jsonb) to authenticated, service_role;
