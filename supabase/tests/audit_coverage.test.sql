-- What the audit trail covers, and what keeps it covering it: every table holding personal or
-- clinical data has the audit trigger (a table added later without it fails here); every
-- clinical read through the API is logged, embedded reads included; the daily anchor and the
-- monthly partitions are scheduled; every partition carries the append-only guards.
begin;
select plan(13);

-- Scheduled jobs and partitions (first: creating a partition locks the log, and nothing of this
-- transaction may hold the chain head then) ---------------------------------------------------------
select results_eq(
    $$ select jobname::text collate "default", command::text collate "default"
        from cron.job where jobname like 'carebase-audit-%' order by jobname $$,
    $$ values ('carebase-audit-anchor', 'select private.anchor_audit_chain()'),
        ('carebase-audit-partitions', 'select private.audit_ensure_partitions(3)') $$,
    'the daily anchor and the partitions ahead are scheduled with pg_cron'
);
select ok(
    private.audit_ensure_partitions(7) >= 1
    and to_regclass(
        'audit.log_y' || to_char(now() at time zone 'UTC' + interval '7 months', 'YYYY')
        || 'm' || to_char(now() at time zone 'UTC' + interval '7 months', 'MM')
    ) is not null,
    'future monthly partitions are created ahead of time'
);
select is(private.audit_ensure_partitions(7), 0, 'and only once');
select is_empty(
    $$ select i.inhrelid::regclass::text
        from pg_catalog.pg_inherits as i
        where i.inhparent = 'audit.log'::regclass
            and (
                not exists (
                    select from pg_catalog.pg_trigger as t
                    where t.tgrelid = i.inhrelid and t.tgname = 'log_append_only' and t.tgenabled = 'A'
                )
                or not exists (
                    select from pg_catalog.pg_trigger as t
                    where t.tgrelid = i.inhrelid and t.tgname like '%_no_truncate' and t.tgenabled = 'A'
                )
                or has_table_privilege('postgres', i.inhrelid, 'UPDATE, DELETE, TRUNCATE')
                or has_table_privilege('service_role', i.inhrelid, 'UPDATE, DELETE, TRUNCATE')
            ) $$,
    'every partition refuses UPDATE, DELETE and TRUNCATE (triggers enabled ALWAYS, no privilege)'
);
select throws_ok(
    format(
        'truncate audit.log_y%s',
        to_char(now() at time zone 'UTC' + interval '7 months', 'YYYY"m"MM')
    ),
    '42501', null, 'a partition cannot be truncated on its own'
);

select tests.create_world();

-- Every table of a person's data is audited -------------------------------------------------------
-- Personal data: a table naming a patient or a user (patient_id, user_id, member_id,
-- recorded_by...), and the persons themselves (profiles, patients).
select is_empty(
    $$ select c.relname::text
        from pg_catalog.pg_class as c
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
            and (
                c.relname in ('profiles', 'patients')
                or exists (
                    select from pg_catalog.pg_attribute as a
                    where a.attrelid = c.oid and not a.attisdropped
                        and a.attname in ('patient_id', 'user_id', 'member_id')
                )
            )
            and not exists (
                select from pg_catalog.pg_trigger as t
                where t.tgrelid = c.oid and t.tgname = 'audit_row_change'
                    and t.tgfoid = 'private.audit_row_change'::regproc
            ) $$,
    'every table naming a patient or a user has the audit trigger'
);
select is_empty(
    $$ select c.relname::text
        -- the clinical tables: the tables of private.audited_resources
        from private.audited_resources as r
        inner join pg_catalog.pg_class as c
            on r.resource = c.relname and c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
        where not exists (
            select from pg_catalog.pg_policy as p
            where p.polrelid = ('public.' || c.relname)::regclass and p.polname = c.relname || '_disclosed'
                and not p.polpermissive
        ) $$,
    'every clinical table reaches API requests only through its restrictive disclosed policy'
);

-- A clinical read in a read-write API request is logged once per table and patient ----------------
-- (Read-only requests are refused instead: tests/test_clinical_reads_over_http.py; every table,
-- view and RPC: audit_disclosures.test.sql.)
select tests.act_as('a_doctor');
select public.write_clinical_note(
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"plan": "rest"}'
) is not null as written;
select set_config('request.method', 'POST', true);
select set_config('request.path', '/patient_registrations', true);
select set_config('request.headers', '{"x-request-id": "req-embed-1"}', true);
select ok(
    exists (
        select from public.patient_registrations as r
        inner join public.clinical_notes as n on r.patient_id = n.patient_id and r.hospital_id = n.hospital_id
    ),
    'a request embedding clinical notes in another resource reads them'
);
select ok(exists (select from public.clinical_notes), 'and reads them again in the same request');
select tests.clear_authentication();
select results_eq(
    $$ select table_name, actor_id, hospital_id, patient_id, details ->> 'via' from audit.log
        where request_id = 'req-embed-1' and action = 'READ' $$,
    $$ values ('public.clinical_notes', tests.user_id('a_doctor'), tests.id_of('hospitals', 'TSTA'),
        tests.id_of('patients', 'a_patient1'), 'row-level security') $$,
    'and leaves one READ entry (not one per statement) naming the patient, with the row''s hospital'
);

-- The pre-request READ entry carries the hospital, so the admin sees it -----------------------------
select tests.act_as('a_nurse');
select set_config('request.path', '/lab_results', true);
select set_config('request.headers', '{"x-request-id": "req-pre-1"}', true);
select public.db_pre_request();
select set_config('request.method', '', true);
select tests.act_as('a_admin');
select results_eq(
    $$ select table_name, actor_id from public.audit_trail where request_id = 'req-pre-1' $$,
    $$ values ('public.lab_results', tests.user_id('a_nurse')) $$,
    'a request-level READ entry is in the trail of the reader''s hospital'
);
select tests.act_as('b_admin');
select is_empty(
    $$ select 1 from public.audit_trail where request_id in ('req-pre-1', 'req-embed-1') $$,
    'and not in another hospital''s'
);
select tests.clear_authentication();

-- The trail keeps no ciphertext: every registered encrypted column of an audited table is
-- logged as '[encrypted]' (named in its audit trigger's arguments).
select is_empty(
    $$ select e.table_name::text || '.' || e.column_name
        from private.encrypted_columns as e
        join pg_catalog.pg_trigger as t on t.tgrelid = e.table_name and t.tgname = 'audit_row_change'
        where position(quote_literal(e.column_name) in pg_catalog.pg_get_triggerdef(t.oid)) = 0 $$,
    'every encrypted column of an audited table is masked in its audit entries'
);

select * from finish();
rollback;
