-- Audit retention (migration 20261209100000): only partitions whose whole range is older than
-- seven years are archived, never one reaching into the period; archiving checks the file's row
-- count and the chain, removes the partition and nothing else (clinical records stay), is
-- itself an audit entry, and leaves a chain that verify_audit_chain still passes, from the
-- first entry after the archived stretch on, while a row removed otherwise is still reported.
-- Dated partitions hold hand-chained entries: two runs in the oldest month (an entry written
-- there steps back after a later month's one), one in the month before the cutoff's month, one
-- in the cutoff's own month, one now.
begin;
select plan(23);

set constraints audit.pending_link immediate;

-- The partitions and their entries -------------------------------------------------------------
do $$
declare
    cutoff_month timestamptz := date_trunc('month', (now() - private.audit_retention_period()) at time zone 'UTC')
        at time zone 'UTC';
begin
    execute format(
        'create table audit.log_test_old partition of audit.log for values from (%L) to (%L)',
        cutoff_month - interval '14 months', cutoff_month - interval '13 months'
    );
    execute format(
        'create table audit.log_test_last partition of audit.log for values from (%L) to (%L)',
        cutoff_month - interval '1 month', cutoff_month
    );
    execute format(
        'create table audit.log_test_edge partition of audit.log for values from (%L) to (%L)',
        cutoff_month, cutoff_month + interval '1 month'
    );
end;
$$;

create function pg_temp.append_at(occurred timestamptz, label text)
returns bigint
language plpgsql
as $$
declare
    head audit.chain_head;
    entry audit.log;
begin
    select h.* into head from audit.chain_head as h where h.singleton for update;
    entry.seq := head.seq + 1;
    entry.occurred_at := occurred;
    entry.actor_db_role := 'postgres';
    entry.actor_roles := '{}';
    entry.action := 'INSERT';
    entry.table_name := 'public.patients';
    entry.row_id := label;
    entry.changed_fields := '{}';
    entry.details := '{}';
    entry.prev_hash := head.hash;
    entry.hash := private.audit_hash(entry);
    insert into audit.log select entry.*;
    update audit.chain_head as h set seq = entry.seq, hash = entry.hash where h.singleton;
    return entry.seq;
end;
$$;

create temp table entries (label text primary key, seq bigint not null);
insert into entries
select
    'before',
    seq
from audit.chain_head;
insert into entries
select
    'old_1',
    pg_temp.append_at(p.range_from + interval '1 day', 'old_1')
from private.audit_partitions() as p
where p.partition_name = 'log_test_old';
insert into entries
select
    'old_2',
    pg_temp.append_at(p.range_from + interval '2 days', 'old_2')
from private.audit_partitions() as p
where p.partition_name = 'log_test_old';
insert into entries
select
    'last_1',
    pg_temp.append_at(p.range_to - interval '1 second', 'last_1')
from private.audit_partitions() as p
where p.partition_name = 'log_test_last';
insert into entries
select
    'old_3',
    pg_temp.append_at(p.range_from + interval '3 days', 'old_3')
from private.audit_partitions() as p
where p.partition_name = 'log_test_old';
insert into entries
select
    'edge_1',
    pg_temp.append_at(p.range_from, 'edge_1')
from private.audit_partitions() as p
where p.partition_name = 'log_test_edge';
insert into entries
select
    'now_1',
    pg_temp.append_at(now(), 'now_1');

create function pg_temp.seq_of(label text)
returns bigint
language sql
as $$
    select e.seq from entries as e where e.label = seq_of.label;
$$;

-- In-database anchors inside the oldest month: one mid-run, one on a run's last row.
insert into audit.anchors (seq, hash)
select
    l.seq,
    l.hash
from audit.log as l
where l.seq in (pg_temp.seq_of('old_1'), pg_temp.seq_of('old_2'));

create temp table archived_rows as
select
    l.seq,
    l.prev_hash,
    l.hash
from audit.log as l
where l.seq in (pg_temp.seq_of('old_1'), pg_temp.seq_of('old_2'), pg_temp.seq_of('last_1'), pg_temp.seq_of('old_3'));

create temp table clinical_before as
select
    (select count(*) from public.patients) as patients,
    (select count(*) from public.clinical_notes) as notes,
    (select count(*) from public.lab_results) as labs,
    (select count(*) from public.prescriptions) as prescriptions,
    (select count(*) from public.encounters) as encounters;

select ok(
    (select valid from private.verify_audit_chain(pg_temp.seq_of('before'))),
    'the dated entries form a valid chain before anything is archived'
);

-- The dry run ------------------------------------------------------------------------------------
select results_eq(
    $$ select partition_name, row_count, first_seq, last_seq from private.audit_retention_plan()
        where partition_name like 'log\_test\_%' $$,
    $$ values ('log_test_old', 3::bigint, pg_temp.seq_of('old_1'), pg_temp.seq_of('old_3')),
        ('log_test_last', 1::bigint, pg_temp.seq_of('last_1'), pg_temp.seq_of('last_1')) $$,
    'the plan lists the partitions wholly older than seven years, oldest first, with rows and seqs'
);
select is_empty(
    $$ select from private.audit_retention_plan() where range_to > now() - interval '7 years' $$,
    'nothing that reaches into the last seven years is planned (the cutoff''s own month stays)'
);
select ok(
    to_regclass('audit.log_test_old') is not null and to_regclass('audit.log_test_last') is not null,
    'the dry run changes nothing'
);

-- What is refused --------------------------------------------------------------------------------
select throws_ok(
    $$ select private.audit_archive_partition('log_test_edge', repeat('a', 64), 'file:///edge.csv.gz', 1) $$,
    '42501', null,
    'a partition reaching into the retention period is never archived, even for entries older than it'
);
select throws_ok(
    format(
        'select private.audit_archive_partition(%L, %L, %L, 1)',
        to_char(now() at time zone 'UTC', '"log_y"YYYY"m"MM'), repeat('a', 64), 'file:///now.csv.gz'
    ),
    '42501', null, 'nor the current month'
);
select throws_ok(
    $$ select private.audit_archive_partition('log_test_old', repeat('a', 64), 'file:///old.csv.gz', 2) $$,
    '22023', null, 'an archive file holding fewer rows than the partition is refused'
);

alter table audit.log_test_last disable trigger log_append_only;
update audit.log_test_last set details = '{"edited": true}'
where seq = pg_temp.seq_of('last_1');
select throws_ok(
    $$ select private.audit_archive_partition('log_test_last', repeat('b', 64), 'file:///last.csv.gz', 1) $$,
    'PT409', null, 'a stretch of the chain that does not verify is evidence: it is not archived'
);
update audit.log_test_last set details = '{}'
where seq = pg_temp.seq_of('last_1');
alter table audit.log_test_last enable always trigger log_append_only;

-- Archiving ------------------------------------------------------------------------------------------
select lives_ok(
    $$ select private.audit_archive_partition('log_test_old', repeat('a', 64), 'file:///archive/old.csv.gz', 3) $$,
    'the oldest partition is archived once its file holds its rows'
);
select lives_ok(
    $$ select private.audit_archive_partition('log_test_last', repeat('b', 64), 'file:///archive/last.csv.gz', 1) $$,
    'and the month before the cutoff''s month'
);
select ok(
    to_regclass('audit.log_test_old') is null and to_regclass('audit.log_test_last') is null
    and to_regclass('audit.log_test_edge') is not null,
    'the archived partitions are detached and dropped; the one inside the period stays'
);
select is_empty(
    $$ select from audit.log where seq in (select seq from archived_rows) $$,
    'their rows are gone from the trail'
);
select results_eq(
    $$ select seq from audit.log where seq in (pg_temp.seq_of('edge_1'), pg_temp.seq_of('now_1')) order by seq $$,
    $$ values (pg_temp.seq_of('edge_1')), (pg_temp.seq_of('now_1')) $$,
    'the entries inside the period are untouched'
);
select results_eq(
    $$ select * from clinical_before $$,
    $$ select (select count(*) from public.patients), (select count(*) from public.clinical_notes),
        (select count(*) from public.lab_results), (select count(*) from public.prescriptions),
        (select count(*) from public.encounters) $$,
    'clinical records are kept'
);
select results_eq(
    $$ select r.first_seq, r.last_seq, r.first_prev_hash, r.last_hash, a.partition_name
        from audit.archived_runs as r join audit.archives as a on a.id = r.archive_id
        where a.partition_name like 'log\_test\_%' order by r.first_seq $$,
    $$ select f.seq, l.seq, f.prev_hash, l.hash, p.name
        from (values ('old_1', 'old_2', 'log_test_old'), ('last_1', 'last_1', 'log_test_last'),
            ('old_3', 'old_3', 'log_test_old')) as p (first_label, last_label, name)
        join archived_rows as f on f.seq = pg_temp.seq_of(p.first_label)
        join archived_rows as l on l.seq = pg_temp.seq_of(p.last_label)
        order by f.seq $$,
    'each run of consecutive entries is recorded with the link before it and its last hash '
    || '(the stepped-back entry is a run of its own)'
);
select results_eq(
    $$ select row_id, details ->> 'rows', details ->> 'sha256', details ->> 'retention', actor_db_role
        from audit.log where action = 'ARCHIVE' and row_id like 'log\_test\_%' order by seq $$,
    $$ values ('log_test_old', '3', repeat('a', 64), '7 years', 'postgres'),
        ('log_test_last', '1', repeat('b', 64), '7 years', 'postgres') $$,
    'each archiving is itself an entry of the trail: which partition, how many rows, the file''s sha256'
);

-- The chain after archiving ----------------------------------------------------------------------
select results_eq(
    $$ select valid, checked, first_bad_seq from private.verify_audit_chain(pg_temp.seq_of('before')) $$,
    $$ values (true, 5::bigint, null::bigint) $$,
    'the chain verifies across the archived stretch: the entry before, the ones after and the two ARCHIVE entries'
);
select ok(
    (select valid from private.verify_audit_chain(pg_temp.seq_of('edge_1'))),
    'the first entry after the archived stretch links to its recorded last hash: no tampering is reported'
);
select ok(
    (select valid from private.verify_audit_chain(pg_temp.seq_of('old_2'))),
    'a range starting inside the archived stretch verifies from the stretch'
);
select throws_ok(
    $$ update audit.archived_runs set last_hash = '\x00' $$, '42501', null,
    'the archived runs are append-only'
);
select throws_ok(
    $$ delete from audit.archives $$, '42501', null, 'and so is the record of archives'
);
select throws_ok(
    $$ select private.audit_archive_partition('log_test_old', repeat('a', 64), 'file:///again.csv.gz', 3) $$,
    'PT404', null, 'an archived partition is gone: it cannot be archived twice'
);

alter table audit.log_test_edge disable trigger log_append_only;
delete from audit.log_test_edge
where seq = pg_temp.seq_of('edge_1');
select results_eq(
    $$ select valid, first_bad_seq, problem from private.verify_audit_chain(pg_temp.seq_of('before')) $$,
    $$ values (false, pg_temp.seq_of('edge_1'),
        format('rows %s to %s are missing', pg_temp.seq_of('edge_1'), pg_temp.seq_of('edge_1'))) $$,
    'a row removed any other way is still reported missing'
);

select * from finish();
rollback;
