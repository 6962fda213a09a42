-- Patient merge and unmerge (issue 16, items 4 and 5): a merge moves every row of every table
-- that references the record merged away (a table created here, after the migrations, too),
-- through the guards that keep signed notes and final results immutable, marks the source
-- merged and journals it; it is refused whole when a constraint would break, refused for
-- itself, an already merged record and records of different people, and refused alike to
-- callers without the right (another hospital's admin learns nothing). An unmerge after
-- further edits restores both records column by column.
begin;
select no_plan();

select tests.create_world();

-- Two records of one person: the source (registered at TSTA and TSTB, with a login) and the
-- target (TSTA only, no login).
select tests.create_user('m_source', '+919800090001');
create function pg_temp.new_patient(name text, sex public.sex, user_name text default null)
returns uuid
language sql
as $$
    insert into public.patients (full_name, sex, date_of_birth, phone, user_id)
    values (name, sex, '1980-01-01', '+919800090001', case when user_name is not null then tests.user_id(user_name) end)
    returning id;
$$;
select tests.remember('source', pg_temp.new_patient('Harjit Singh', 'male', 'm_source'));
select tests.remember('target', pg_temp.new_patient('Harjeet Singh', 'male'));
insert into public.patient_registrations (patient_id, hospital_id, mrn)
values
(tests.recall('source'), tests.id_of('hospitals', 'TSTA'), 'TSTA-M0001'),
(tests.recall('source'), tests.id_of('hospitals', 'TSTB'), 'TSTB-M0001'),
(tests.recall('target'), tests.id_of('hospitals', 'TSTA'), 'TSTA-M0002');

-- A registration code the source's app issued (its hash must not reach the preview).
select tests.act_as('m_source');
select private.issue_registration_code() is not null as issued;
select tests.clear_authentication();

-- The source's history at TSTA: a visit with an encounter, a signed note, a final lab result,
-- a diagnosis; at TSTB a visit (under the registration that will move).
create function pg_temp.visit(patient text, hospital text, doctor text, days integer)
returns uuid
language sql
as $$
    insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at, source)
    values (
        tests.id_of('hospitals', hospital), tests.id_of('doctors', doctor), tests.recall(patient),
        now() + make_interval(days => days), now() + make_interval(days => days, mins => 20), 'front_desk'
    )
    returning id;
$$;
select tests.remember('visit', pg_temp.visit('source', 'TSTA', 'a_doctor', -10));
select tests.remember('later_visit', pg_temp.visit('source', 'TSTA', 'a_doctor', 10));
select tests.remember('b_visit', pg_temp.visit('source', 'TSTB', 'b_doctor', 12));
insert into public.encounters (patient_id, hospital_id, appointment_id, clinician_id)
values (tests.recall('source'), tests.id_of('hospitals', 'TSTA'), tests.recall('visit'), tests.user_id('a_doctor'))
returning tests.remember('encounter', id);
insert into public.clinical_notes (patient_id, hospital_id, encounter_id, appointment_id, author_id, soap_encrypted)
values (
    tests.recall('source'), tests.id_of('hospitals', 'TSTA'), tests.recall('encounter'), tests.recall('visit'),
    tests.user_id('a_doctor'), private.encrypt_field('{"assessment": "merge fixture"}')
)
returning tests.remember('note', id);
-- The record's diagnosis, written before it is signed (a signed record's diagnoses are frozen).
insert into public.diagnoses (patient_id, hospital_id, encounter_id, icd10_code, description, diagnosed_by)
values (
    tests.recall('source'), tests.id_of('hospitals', 'TSTA'), tests.recall('encounter'), 'E11.9', 'Type 2 diabetes',
    tests.user_id('a_doctor')
)
returning tests.remember('diagnosis', id);
update public.clinical_notes set status = 'signed'
where id = tests.recall('note');
insert into public.lab_results (
    patient_id, hospital_id, encounter_id, test_name, ordered_by, recorded_by, result_value, status
)
values (
    tests.recall('source'), tests.id_of('hospitals', 'TSTA'), tests.recall('encounter'), 'HbA1c',
    tests.user_id('a_doctor'), tests.user_id('a_doctor'), '6.1', 'normal'
)
returning tests.remember('lab', id);
update public.lab_results set finalised_at = now()
where id = tests.recall('lab');

-- Tables the migrations do not know: one referencing patients, one through a registration.
create table public.merge_probe_direct (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null references public.patients (id),
    note text
);
create table public.merge_probe_registered (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    hospital_id uuid not null,
    foreign key (patient_id, hospital_id) references public.patient_registrations (patient_id, hospital_id)
);
insert into public.merge_probe_direct (patient_id, note) values (tests.recall('source'), 'direct');
insert into public.merge_probe_registered (patient_id, hospital_id)
values (tests.recall('source'), tests.id_of('hospitals', 'TSTB'));

-- Every row referencing a patient, whole, by the catalog's references.
create function pg_temp.rows_of(patient uuid)
returns table (table_name text, row_key text, whole jsonb)
language plpgsql
as $$
declare
    t record;
begin
    for t in
        select r.table_name, array_agg(r.column_name) as columns
        from private.patient_reference_columns() as r group by r.table_name
    loop
        return query execute format(
            'select %L::text, coalesce(to_jsonb(x) ->> ''id'', (to_jsonb(x) - %L::text[])::text), to_jsonb(x)'
            ' from %s as x where %s',
            t.table_name::text, t.columns, t.table_name,
            (select string_agg(format('x.%I = %L', c, patient), ' or ') from unnest(t.columns) as c)
        );
    end loop;
end;
$$;

create temporary table source_before as
select * from pg_temp.rows_of(tests.recall('source'));
create temporary table patients_before as
select
    p.id,
    to_jsonb(p) as whole
from public.patients as p
where p.id in (tests.recall('source'), tests.recall('target'));

select ok(
    (select array_agg(distinct table_name::text) from private.patient_reference_columns())
    @> array[
        'merge_probe_direct', 'merge_probe_registered', 'appointments', 'clinical_notes', 'lab_results',
        'diagnoses', 'encounters', 'patient_registrations', 'care_team_members', 'prescriptions'
    ],
    'the references are read from the catalog: the tables made after the migrations are among them'
);
select is_empty(
    $$ select c.conrelid::regclass, a.attname
        from pg_catalog.pg_constraint as c
        cross join lateral unnest(c.conkey, c.confkey) as k (attnum, refnum)
        join pg_catalog.pg_attribute as a on a.attrelid = c.conrelid and a.attnum = k.attnum
        where c.contype = 'f' and c.confrelid = 'public.patients'::regclass
            and c.conrelid <> 'public.patients'::regclass
            and coalesce(obj_description(c.oid, 'pg_constraint'), '') not like 'Kept at a merge:%'
        except
        select table_name, column_name from private.patient_reference_columns() $$,
    'every column with a foreign key to patients is a reference the merge moves, but those marked '
    || '"Kept at a merge:" (the journal and the duplicate review queue: about the records themselves)'
);
select set_eq(
    $$ select distinct c.conrelid::regclass::text from pg_catalog.pg_constraint as c
        where c.contype = 'f' and obj_description(c.oid, 'pg_constraint') like 'Kept at a merge:%' $$,
    array[
        'patient_duplicate_pairs', 'patient_merges', 'private.voice_pins', 'private.voice_pin_attempts',
        'private.voice_codes'
    ],
    'only the journal, the duplicate review queue and the voice PIN with its attempts and the SMS codes '
    || '(secrets of the record they were set on or sent for) are kept at a merge (a new exception is a decision)'
);
select is(
    (select count(*)::integer from source_before),
    (
        select count(*)::integer from source_before
        where table_name in (
            'merge_probe_direct', 'merge_probe_registered', 'appointments', 'clinical_notes', 'lab_results',
            'diagnoses', 'encounters', 'patient_registrations', 'care_team_members', 'private.registration_codes'
        )
    ),
    'the source''s rows lie in the tables the fixture filled'
);

-- Who may: not another hospital's admin (the target is not theirs: "not found", as for an id
-- that does not exist), not a doctor, not the patient, not the front desk unless allowed.
create function pg_temp.merge_error(actor text, source uuid, target uuid)
returns jsonb
language plpgsql
as $$
declare
    answer jsonb;
begin
    perform tests.act_as(actor);
    answer := tests.error_of(format(
        'select public.merge_preview(%L, %L)', source, target
    ));
    perform tests.clear_authentication();
    return answer;
end;
$$;
select is(
    pg_temp.merge_error('b_admin', tests.recall('source'), tests.recall('target')),
    pg_temp.merge_error('b_admin', tests.recall('source'), gen_random_uuid()),
    'another hospital''s admin is told exactly what an unknown id gets'
);
select is(
    pg_temp.merge_error('b_admin', tests.recall('source'), tests.recall('target')) ->> 'code', 'PT404',
    'which is PT404'
);
select is(
    pg_temp.merge_error('m_source', tests.recall('source'), tests.recall('target')) ->> 'code', 'PT404',
    'the patient reads only their own record: PT404'
);
select is(
    pg_temp.merge_error('a_doctor', tests.recall('source'), tests.recall('target')) ->> 'code', 'PT404',
    'a doctor of one of the two: PT404'
);
select is(
    pg_temp.merge_error('a_front_desk', tests.recall('source'), tests.recall('target')) ->> 'details',
    'merge_not_allowed',
    'the front desk, while its hospital does not allow it: 42501 merge_not_allowed'
);
select tests.act_as('a_front_desk');
update public.hospitals set front_desk_may_merge_patients = true
where id = tests.id_of('hospitals', 'TSTA');
select tests.clear_authentication();
select is(
    (
        select h.front_desk_may_merge_patients from public.hospitals as h
        where h.id = tests.id_of('hospitals', 'TSTA')
    ),
    false,
    'the front desk cannot allow itself'
);

-- The source is registered at TSTB too: TSTA's admin alone may not merge it (the plan would
-- name TSTB's rows, and the merge move them), and learns only that it is held elsewhere.
select is(
    pg_temp.merge_error('a_admin', tests.recall('source'), tests.recall('target')) ->> 'details',
    'registered_elsewhere',
    'an admin of one of the hospitals holding the records is refused: 42501 registered_elsewhere'
);
select is(
    pg_temp.merge_error('a_admin', tests.recall('source'), tests.recall('target')) ->> 'message',
    'one of these records is also registered at a hospital where you do not merge patients: records held by '
    || 'other hospitals are not merged from one hospital',
    'which names no hospital, visit or MRN'
);
-- From here on a_admin administers both hospitals (a group's admin).
insert into public.staff_memberships (user_id, hospital_id, role)
values (tests.user_id('a_admin'), tests.id_of('hospitals', 'TSTB'), 'hospital_admin');

-- The preview, as the admin of both hospitals.
select tests.act_as('a_admin');
create temporary table preview as
select public.merge_preview(tests.recall('source'), tests.recall('target')) as v;
select tests.clear_authentication();
select is((select v -> 'can_merge' from preview), 'true'::jsonb, 'the preview: they can be merged');
select is(
    (
        select jsonb_object_agg((m ->> 'table')::regclass::text, (m ->> 'count')::integer)
        from preview, jsonb_array_elements(preview.v -> 'moves') as m
    ),
    (select jsonb_object_agg(t.table_name, t.n) from (
        select
            table_name,
            count(*)::integer as n
        from source_before
        where
            not (
                table_name = 'patient_registrations'
                and whole ->> 'hospital_id' = tests.id_of('hospitals', 'TSTA')::text
            )
        group by table_name
    ) as t),
    'it counts every row that will move, per table (the TSTA registration stays)'
);
select ok(
    (select v::text not like '%code_hash%' from preview)
    and (
        select m -> 'rows' -> 0 ? 'digest' from preview, jsonb_array_elements(preview.v -> 'moves') as m
        where m ->> 'table' = 'private.registration_codes'
    ),
    'a private table''s rows are named by a digest of their key, never the key (a code''s hash)'
);
select is(
    (select jsonb_agg(r ->> 'mrn') from preview, jsonb_array_elements(preview.v -> 'kept_registrations') as r),
    '["TSTA-M0001"]'::jsonb,
    'the registration at the hospital both are registered at is kept with the source'
);

-- The merge.
select tests.act_as('a_admin');
select tests.remember(
    'merge', (public.merge_patients(tests.recall('source'), tests.recall('target'), 'same person')).id
);
select tests.clear_authentication();

select is(
    (
        select count(*)::integer from pg_temp.rows_of(tests.recall('source')) as r
        where r.table_name <> 'patient_registrations'
    ),
    0,
    'no row of any table references the source any more'
);
select is(
    (
        select count(*)::integer from source_before as b
        inner join pg_temp.rows_of(tests.recall('target')) as a on b.table_name = a.table_name and b.row_key = a.row_key
        where a.whole = jsonb_set(b.whole, '{patient_id}', to_jsonb(tests.recall('target')))
    ),
    (select count(*)::integer from source_before) - 1,
    'every other row moved to the target unchanged but for the reference (updated_at too)'
);
select ok(
    (
        select p.merged_into = tests.recall('target') and p.merged_at is not null and p.user_id is null
        from public.patients as p
        where p.id = tests.recall('source')
    ),
    'the source is marked merged into the target, never deleted; its login left it'
);
select is(
    (
        select p.user_id from public.patients as p
        where p.id = tests.recall('target')
    ),
    tests.user_id('m_source'),
    'the login now reaches the target (it had none)'
);
select is(
    (
        select r.deleted_at is not null from public.patient_registrations as r
        where r.mrn = 'TSTA-M0001'
    ),
    true,
    'the kept registration is archived'
);
select ok(
    exists (
        select from audit.log as e
        where
            e.table_name = 'public.clinical_notes' and e.row_id = tests.recall('note')::text
            and e.old_values ->> 'patient_id' = tests.recall('source')::text
    ),
    'the audit trail holds the before-image of the moved signed note'
);
select ok(
    exists (
        select from audit.log as e
        where
            e.table_name = 'public.patient_merges' and e.action = 'INSERT'
            and e.row_id = tests.recall('merge')::text and e.hash is not null
    ),
    'and one entry for the merge itself'
);
select ok(
    (
        select array_agg(e.topic) from private.live_events_pending as e
        where e.event = 'patient_merged'
    )
    @> array[
        'user:' || tests.user_id('m_source'),
        'hospital:' || tests.id_of('hospitals', 'TSTA') || ':front_desk',
        'hospital:' || tests.id_of('hospitals', 'TSTB') || ':hospital_admin',
        'user:' || tests.user_id('a_doctor')
    ],
    'a live event reaches the login, the care team and both hospitals'' offices'
);

-- The journal: the merging hospital's admin reads it, nobody else.
create function pg_temp.journal_seen(actor text)
returns integer
language plpgsql
as $$
declare
    n integer;
begin
    perform tests.act_as(actor);
    select count(*) into n from public.patient_merges;
    perform tests.clear_authentication();
    return n;
end;
$$;
select is(pg_temp.journal_seen('a_admin'), 1, 'the admin reads the journal');
select is(pg_temp.journal_seen('b_admin'), 0, 'another hospital''s admin does not');
select is(pg_temp.journal_seen('a_front_desk'), 0, 'the front desk does not, while not allowed');
select is(pg_temp.journal_seen('a_doctor'), 0, 'a doctor does not');
select is(pg_temp.journal_seen('m_source'), 0, 'the patient does not');

-- Refusals: again, the other way round, into itself.
select tests.act_as('a_admin');
select is(
    tests.error_of(
        format('select public.merge_patients(%L, %L, %L)', tests.recall('source'), tests.recall('target'), 'again')
    )
    ->> 'details',
    'already_merged',
    'a merged record cannot be merged again'
);
select is(
    tests.error_of(
        format('select public.merge_patients(%L, %L, %L)', tests.recall('target'), tests.recall('source'), 'back')
    )
    ->> 'details',
    'already_merged',
    'nor merged into'
);
select is(
    tests.error_of(
        format('select public.merge_patients(%L, %L, %L)', tests.recall('target'), tests.recall('target'), 'self')
    ),
    jsonb_build_object(
        'code', '22023', 'message', 'a record cannot be merged into itself', 'details', 'merge_into_itself', 'hint', ''
    ),
    'a record cannot be merged into itself'
);
select is(
    tests.error_of(format(
        'select public.merge_patients(%L, %L, %L)',
        tests.recall('target'),
        tests.id_of('patients', 'a_patient1'),
        'chain'
    )) ->> 'details',
    'has_merged_records',
    'the survivor of a merge is not merged away while the merge stands'
);
select tests.clear_authentication();
select is(
    tests.error_of(format(
        'update public.patients set merged_into = %L, merged_at = now() where id = %L',
        tests.id_of('patients', 'a_patient1'), tests.recall('target')
    )) ->> 'code',
    '23503',
    'and no chain can be written, even by the owner: a constraint'
);

select tests.act_as('a_admin');
select is(
    tests.error_of(format(
        'update public.patients set merged_into = %L, merged_at = now() where id = %L',
        tests.id_of('patients', 'a_patient1'), tests.id_of('patients', 'ab_patient4')
    )) ->> 'code',
    '42501',
    'the merged mark is written by the merge alone, not by an update through the API'
);
select tests.clear_authentication();

-- Only the merge's own re-pointing passes the guards: not the owner with the setting forged.
select set_config('carebase.merge_operation', tests.recall('merge')::text, true);
select is(
    tests.error_of(format(
        'update public.clinical_notes set patient_id = %L where id = %L',
        tests.recall('source'), tests.recall('note')
    )) ->> 'message',
    'a signed note cannot be changed',
    'a signed note stays immutable outside a merge, whatever the setting says'
);
select set_config('carebase.merge_operation', '', true);

-- The merged record takes nothing new, not even from the admin who sees it.
select tests.act_as('a_admin');
select is(
    tests.error_of(format(
        'select public.book_appointment(%L, now() + interval ''40 days'', patient_id => %L)',
        tests.id_of('doctors', 'a_doctor'), tests.recall('source')
    )) ->> 'details',
    'patient_merged',
    'a visit cannot be booked for the merged record'
);
select is(
    tests.error_of(format(
        'update public.patient_registrations set deleted_at = null where patient_id = %L', tests.recall('source')
    )) ->> 'details',
    'patient_merged',
    'nor its kept registration restored'
);
select tests.clear_authentication();

-- Edits after the merge: the target's address, a moved visit rescheduled, a new visit.
update public.patients set address_line = '12 Mall Road'
where id = tests.recall('target');
select tests.act_as('a_front_desk');
select
    public.reschedule_appointment(
        tests.recall('later_visit'), now() + interval '11 days', now() + interval '11 days 20 minutes'
    );
select tests.clear_authentication();
select tests.remember('new_visit', pg_temp.visit('target', 'TSTA', 'a_doctor2', 20));

-- The unmerge.
select tests.act_as('b_admin');
select is(
    tests.error_of(format('select public.unmerge_patients(%L, %L)', tests.recall('merge'), 'no')) ->> 'code',
    'PT404',
    'another hospital''s admin cannot unmerge (not found)'
);
select tests.act_as('a_admin');
select lives_ok(
    format('select public.unmerge_patients(%L, %L)', tests.recall('merge'), 'two people after all'),
    'the admin unmerges'
);
select is(
    tests.error_of(format('select public.unmerge_patients(%L, %L)', tests.recall('merge'), 'again')) ->> 'details',
    'already_unmerged',
    'an unmerge is not done twice'
);
select tests.clear_authentication();

select is(
    (
        select to_jsonb(p) from public.patients as p
        where p.id = tests.recall('source')
    ),
    (
        select b.whole from patients_before as b
        where b.id = tests.recall('source')
    ),
    'the source is restored exactly, column by column (its login too)'
);
select is(
    (
        select to_jsonb(p) from public.patients as p
        where p.id = tests.recall('target')
    ),
    (
        select b.whole || '{"address_line": "12 Mall Road"}' from patients_before as b
        where b.id = tests.recall('target')
    ),
    'the target is as it was, with the edit made since'
);
select is(
    (
        select count(*)::integer from source_before as b
        inner join pg_temp.rows_of(tests.recall('source')) as a on b.table_name = a.table_name and b.row_key = a.row_key
        where a.whole = b.whole
    ),
    (select count(*)::integer from source_before) - 1,
    'every moved row is back with the source, column by column'
);
select is(
    (
        select (a.whole ->> 'starts_at')::timestamptz > (b.whole ->> 'starts_at')::timestamptz
        from source_before as b
        inner join pg_temp.rows_of(tests.recall('source')) as a on b.row_key = a.row_key
        where b.row_key = tests.recall('later_visit')::text
    ),
    true,
    'the visit moved since comes back with its new time'
);
select is(
    (
        select a.patient_id from public.appointments as a
        where a.id = tests.recall('new_visit')
    ),
    tests.recall('target'),
    'a visit booked for the survivor after the merge stays with it'
);
select ok(
    (
        select array_agg(e.topic) from private.live_events_pending as e
        where e.event = 'patient_unmerged'
    )
    @> array[
        'user:' || tests.user_id('m_source'), 'hospital:' || tests.id_of('hospitals', 'TSTA') || ':hospital_admin'
    ],
    'the unmerge is broadcast too'
);

-- Conflicts refuse the whole merge, named: ab_patient4 and a_patient1 share TSTA's nurse.
select tests.act_as('a_admin');
create temporary table conflict_preview as
select public.merge_preview(tests.id_of('patients', 'ab_patient4'), tests.id_of('patients', 'a_patient1')) as v;
select is(
    (select c ->> 'constraint' from conflict_preview, jsonb_array_elements(conflict_preview.v -> 'conflicts') as c),
    'care_team_members_one_active_assignment',
    'the preview names the constraint the merge would break'
);
select is(
    (
        select c -> 'source_row' ->> 'id'
        from conflict_preview, jsonb_array_elements(conflict_preview.v -> 'conflicts') as c
    ),
    (
        select m.id::text from public.care_team_members as m
        where m.patient_id = tests.id_of('patients', 'ab_patient4') and m.member_id = tests.user_id('a_nurse')
    ),
    'and the rows'
);
select is(
    tests.error_of(format(
        'select public.merge_patients(%L, %L, %L)',
        tests.id_of('patients', 'ab_patient4'), tests.id_of('patients', 'a_patient1'), 'conflict'
    )) ->> 'details',
    'merge_conflict',
    'the merge is refused with merge_conflict'
);
select tests.clear_authentication();
select is(
    (
        select count(*)::integer from public.patient_registrations as r
        where r.patient_id = tests.id_of('patients', 'ab_patient4')
    ),
    2,
    'and nothing of it was written'
);

-- Different people: a different sex, different numbers of one kind.
select tests.act_as('a_admin');
select is(
    tests.error_of(format(
        'select public.merge_patients(%L, %L, %L)',
        tests.id_of('patients', 'a_patient2'), tests.id_of('patients', 'a_patient1'), 'sex'
    )) ->> 'details',
    'sex_differs',
    'records of a different sex are not merged'
);
select tests.clear_authentication();

-- A second factor is needed: the plan names clinical rows.
select tests.act_as('a_admin', 'aal1');
select is(
    tests.error_of(format(
        'select public.merge_preview(%L, %L)',
        tests.id_of('patients', 'a_patient1'), tests.id_of('patients', 'ab_patient4')
    )) ->> 'details',
    'insufficient_aal',
    'an admin without the second factor is asked for it'
);
select tests.clear_authentication();

-- Different numbers of one kind say two people.
select tests.remember('ssn_one', pg_temp.new_patient('Gurpreet Singh', 'male'));
select tests.remember('ssn_two', pg_temp.new_patient('Gurpreet Singh', 'male'));
insert into public.patient_registrations (patient_id, hospital_id)
values (tests.recall('ssn_one'), tests.id_of('hospitals', 'TSTA')),
(tests.recall('ssn_two'), tests.id_of('hospitals', 'TSTA'));
insert into public.patient_identifiers (patient_id, kind, value_encrypted, blind_index, last4)
values
(
    tests.recall('ssn_one'), 'ssn', private.encrypt_field('111223333'), private.blind_index('ssn', '111223333'),
    '3333'
),
(
    tests.recall('ssn_two'), 'ssn', private.encrypt_field('444556666'), private.blind_index('ssn', '444556666'),
    '6666'
);
select tests.act_as('a_admin');
select is(
    tests.error_of(format(
        'select public.merge_patients(%L, %L, %L)', tests.recall('ssn_one'), tests.recall('ssn_two'), 'ssn'
    )) ->> 'details',
    'national_id_differs',
    'records with different national numbers of one kind are not merged'
);

-- The admin lets the front desk merge; two records each with a login: the target keeps its
-- own, the source's stays on the merged record.
update public.hospitals set front_desk_may_merge_patients = true
where id = tests.id_of('hospitals', 'TSTA');
select tests.clear_authentication();
select tests.create_user('m_login_one', '+919800090011');
select tests.create_user('m_login_two', '+919800090012');
select tests.remember('login_one', pg_temp.new_patient('Amrit Kaur', 'female', 'm_login_one'));
select tests.remember('login_two', pg_temp.new_patient('Amrit Kaur', 'female', 'm_login_two'));
insert into public.patient_registrations (patient_id, hospital_id)
values (tests.recall('login_one'), tests.id_of('hospitals', 'TSTA')),
(tests.recall('login_two'), tests.id_of('hospitals', 'TSTA'));
select tests.act_as('a_front_desk');
select lives_ok(
    format(
        'select public.merge_patients(%L, %L, %L)',
        tests.recall('login_one'), tests.recall('login_two'), 'walk-in twice'
    ),
    'where the hospital allows it, its front desk merges'
);
select tests.clear_authentication();
select is(
    (
        select array_agg(p.user_id order by p.full_name, p.id = tests.recall('login_one'))
        from public.patients as p
        where p.id in (tests.recall('login_one'), tests.recall('login_two'))
    ),
    array[tests.user_id('m_login_two'), tests.user_id('m_login_one')],
    'both logins stay where they were: the target''s reaches the survivor'
);
select is(pg_temp.journal_seen('a_front_desk'), 2, 'and the front desk reads the journal now');

-- Two visits of one person at the same time under both records: the exclusion constraint is
-- named. Once one is cancelled they merge; a visit of the survivor's encounter since then ties
-- the moved visit to it, and the unmerge is refused whole.
select tests.remember('tie_source', pg_temp.new_patient('Jaswant Singh', 'male'));
select tests.remember('tie_target', pg_temp.new_patient('Jaswant Singh', 'male'));
insert into public.patient_registrations (patient_id, hospital_id)
values (tests.recall('tie_source'), tests.id_of('hospitals', 'TSTA')),
(tests.recall('tie_target'), tests.id_of('hospitals', 'TSTA'));
select tests.remember('tie_visit', pg_temp.visit('tie_source', 'TSTA', 'a_doctor', 30));
select tests.remember('tie_twin', pg_temp.visit('tie_target', 'TSTA', 'a_doctor2', 30));
select tests.act_as('a_admin');
select is(
    (
        select array_agg(c ->> 'constraint')
        from jsonb_array_elements(
            public.merge_preview(tests.recall('tie_source'), tests.recall('tie_target')) -> 'conflicts'
        ) as c
    ),
    array['appointments_no_patient_overlap'],
    'overlapping visits of the two records are a conflict, named'
);
select tests.clear_authentication();
update public.appointments set status = 'cancelled', status_reason = 'booked twice'
where id = tests.recall('tie_twin');
select tests.act_as('a_admin');
select tests.remember(
    'tie_merge', (public.merge_patients(tests.recall('tie_source'), tests.recall('tie_target'), 'tie')).id
);
select tests.clear_authentication();
insert into public.encounters (patient_id, hospital_id, appointment_id, clinician_id)
values (
    tests.recall('tie_target'), tests.id_of('hospitals', 'TSTA'), tests.recall('tie_visit'), tests.user_id('a_doctor')
);
select tests.act_as('a_admin');
select is(
    tests.error_of(
        format('select public.unmerge_patients(%L, %L)', tests.recall('tie_merge'), 'tie')
    ) ->> 'details',
    'merge_conflict',
    'an unmerge that would split a visit from the encounter recorded on it since is refused'
);
select tests.clear_authentication();
select is(
    (
        select p.merged_into from public.patients as p
        where p.id = tests.recall('tie_source')
    ),
    tests.recall('tie_target'),
    'and it wrote nothing'
);

select * from finish();
rollback;
