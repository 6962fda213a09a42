-- Audit retention (issue 21; seed 002: "Log retention: 7 years minimum").
--
-- audit.log is partitioned by month on occurred_at. A partition whose whole range ended more
-- than seven years ago (private.audit_retention_period) may be archived: its rows are written
-- to a file outside the database (`carebase db retention --apply`, which exports them with the
-- canonical text every hash covers), then private.audit_archive_partition checks the file's
-- row count, verifies the stretch of the chain the partition spans, records what the chain
-- needs to stay verifiable without those rows, detaches and drops the partition, and appends an
-- ARCHIVE entry to the trail. A partition any of whose range lies inside the period is never
-- archived, and nothing but audit partitions is ever removed: clinical records are kept
-- (archived with deleted_at, never deleted).
--
-- What the chain keeps of an archived partition: its runs, i.e. each maximal stretch of
-- consecutive seq it held (usually one; a row written just before the month's end and
-- committed after the next month's first rows makes two), with the prev_hash of the run's first
-- row and the hash of its last (audit.archived_runs). private.verify_audit_chain walks the
-- remaining rows and the runs together in seq order: a run must link to the row before it,
-- and the row after it to the run, exactly as rows do; only the content of archived rows is no
-- longer re-hashed (the archive file and its sha256, in audit.archives, keep that proof). So
-- the first entry after an archived stretch is checked against the stretch's recorded last hash,
-- not reported as a broken link, and a row removed in any other way is still reported missing.

-- ARCHIVE: an audit partition archived after the retention period.
alter table audit.log drop constraint log_action_known;
alter table audit.log add constraint log_action_known check (
    action in ('INSERT', 'UPDATE', 'DELETE', 'READ', 'ANCHOR', 'ARCHIVE')
);

create table audit.archives (
    id bigint generated always as identity primary key,
    partition_name text not null constraint archives_partition_once unique,
    range_from timestamptz not null,
    range_to timestamptz not null,
    row_count bigint not null constraint archives_row_count_positive check (row_count >= 0),
    first_seq bigint,
    last_seq bigint,
    archive_sha256 text not null constraint archives_sha256_hex check (archive_sha256 ~ '^[0-9a-f]{64}$'),
    location text not null constraint archives_location_present check (length(btrim(location)) > 0),
    retention interval not null,
    archived_at timestamptz not null default clock_timestamp(),
    archived_by text not null default session_user
);

comment on table audit.archives is
'Audit partitions archived after the retention period: range, rows, first and last seq, the '
'sha256 and location of the archive file. Append-only.';

-- archive_id names a row of audit.archives without a foreign key: its check would lock that
-- row FOR KEY SHARE, which needs the UPDATE privilege nobody holds on the audit tables (and the
-- row can never go: audit.archives refuses DELETE).
create table audit.archived_runs (
    first_seq bigint primary key,
    last_seq bigint not null,
    archive_id bigint not null,
    first_prev_hash bytea not null,
    last_hash bytea not null,
    constraint archived_runs_ordered check (last_seq >= first_seq)
);

create index archived_runs_archive_idx on audit.archived_runs (archive_id);
create index archived_runs_last_seq_idx on audit.archived_runs (last_seq);

comment on table audit.archived_runs is
'Each stretch of consecutive seq an archived partition held: the prev_hash of its first row and '
'the hash of its last, which private.verify_audit_chain links the remaining rows to. Append-only.';

create trigger archives_append_only
before update or delete on audit.archives
for each row execute function private.audit_refuse_change();
alter table audit.archives enable always trigger archives_append_only;

create trigger archives_no_truncate
before truncate on audit.archives
for each statement execute function private.audit_refuse_change();
alter table audit.archives enable always trigger archives_no_truncate;

create trigger archived_runs_append_only
before update or delete on audit.archived_runs
for each row execute function private.audit_refuse_change();
alter table audit.archived_runs enable always trigger archived_runs_append_only;

create trigger archived_runs_no_truncate
before truncate on audit.archived_runs
for each statement execute function private.audit_refuse_change();
alter table audit.archived_runs enable always trigger archived_runs_no_truncate;

alter table audit.archives enable row level security;
alter table audit.archived_runs enable row level security;
revoke all on audit.archives, audit.archived_runs from anon, authenticated, service_role;
grant select on audit.archives, audit.archived_runs to service_role;
revoke update, delete, truncate on audit.archives, audit.archived_runs from current_user;

-- Seven years; a longer period is a change of this function, never a shorter one.
create function private.audit_retention_period()
returns interval
language sql
immutable
set search_path = ''
as $$
    select interval '7 years';
$$;

comment on function private.audit_retention_period() is
'How long audit entries are kept in the database before their partition may be archived: 7 years (seed 002).';

-- The partitions of audit.log with their ranges (null for the default partition). The bounds
-- are read back from the catalog as the session prints them and cast back in the same session.
create function private.audit_partitions()
returns table (partition_name text, range_from timestamptz, range_to timestamptz)
language plpgsql
stable
set search_path = ''
as $$
declare
    bound text;
    parts text [];
begin
    for partition_name, bound in
        select c.relname::text, pg_catalog.pg_get_expr(c.relpartbound, c.oid)
        from pg_catalog.pg_inherits as i
        join pg_catalog.pg_class as c on i.inhrelid = c.oid
        where i.inhparent = 'audit.log'::regclass
        order by c.relname
    loop
        parts := regexp_match(bound, '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$');
        range_from := parts[1]::timestamptz;
        range_to := parts[2]::timestamptz;
        return next;
    end loop;
end;
$$;

comment on function private.audit_partitions() is
'The partitions of audit.log and their occurred_at ranges (null bounds: the default partition).';

-- The dry run: the partitions whose whole range ended before now() minus the retention
-- period, oldest first, with their row counts and seq ranges. Nothing else is ever archived.
create function private.audit_retention_plan()
returns table (
    partition_name text,
    range_from timestamptz,
    range_to timestamptz,
    row_count bigint,
    first_seq bigint,
    last_seq bigint
)
language plpgsql
stable
set search_path = ''
as $$
declare
    cutoff timestamptz := now() - private.audit_retention_period();
begin
    for partition_name, range_from, range_to in
        select p.partition_name, p.range_from, p.range_to
        from private.audit_partitions() as p
        where p.range_to <= cutoff
        order by p.range_from
    loop
        execute format('select count(*), min(l.seq), max(l.seq) from audit.%I as l', partition_name)
        into row_count, first_seq, last_seq;
        return next;
    end loop;
end;
$$;

comment on function private.audit_retention_plan() is
'The audit partitions the retention job would archive now (their whole range is older than '
'private.audit_retention_period()), with row counts and seq ranges; changes nothing.';

-- Verifies the chain over [from_seq, to_seq] (to the head when to_seq is null): every row's
-- hash matches its content, every row links to the one before, no sequence number is missing,
-- and, over the whole chain, the head and every anchor are still there. A stretch archived
-- after the retention period (audit.archived_runs) stands in for its rows: it must link to the
-- row before it and the row after it must link to it. Returns valid, how many rows were
-- checked, and the first bad seq with what is wrong with it. Security definer: it must read
-- every hospital's rows whoever asks (service role only).
create or replace function private.verify_audit_chain(from_seq bigint default 1, to_seq bigint default null)
returns table (valid boolean, checked bigint, first_bad_seq bigint, problem text)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    head audit.chain_head;
    link record;
    expected_seq bigint := greatest(coalesce(from_seq, 1), 1);
    run_start bigint;
    end_seq bigint;
    prev_hash bytea;
    count bigint := 0;
    anchor audit.anchors;
begin
    select h.* into head from audit.chain_head as h where h.singleton;
    end_seq := coalesce(to_seq, head.seq);
    -- A range starting inside an archived stretch starts with the stretch.
    select r.first_seq into run_start
    from audit.archived_runs as r
    where expected_seq > r.first_seq and expected_seq <= r.last_seq;
    if run_start is not null then
        expected_seq := run_start;
    end if;
    if expected_seq = 1 then
        prev_hash := extensions.digest('carebase audit chain genesis', 'sha256');
    else
        select l.hash into prev_hash from audit.log as l where l.seq = expected_seq - 1 limit 1;
        if prev_hash is null then
            select r.last_hash into prev_hash from audit.archived_runs as r where r.last_seq = expected_seq - 1;
        end if;
        if prev_hash is null then
            return query select false, 0::bigint, expected_seq - 1,
                format('row %s, before the range, is missing', expected_seq - 1);
            return;
        end if;
    end if;

    for link in
        select l.seq as first_seq, l.seq as last_seq, l.prev_hash, l.hash, false as archived, l as entry
        from audit.log as l
        where l.seq between expected_seq and end_seq
        union all
        select r.first_seq, r.last_seq, r.first_prev_hash, r.last_hash, true, null::audit.log
        from audit.archived_runs as r
        where r.first_seq between expected_seq and end_seq
        order by 1
    loop
        if link.first_seq < expected_seq then
            return query select false, count, link.first_seq,
                format('row %s appears more than once', link.first_seq);
            return;
        end if;
        if link.first_seq > expected_seq then
            return query select false, count, expected_seq,
                format('rows %s to %s are missing', expected_seq, link.first_seq - 1);
            return;
        end if;
        if link.prev_hash <> prev_hash then
            -- This row's content (or this archived stretch) still matches its hash, so the row
            -- before it was rewritten (hash recomputed) or removed and replaced.
            return query select false, count, link.first_seq - 1,
                format('row %s was rewritten: row %s no longer links to it', link.first_seq - 1, link.first_seq);
            return;
        end if;
        if not link.archived then
            if private.audit_hash(link.entry) <> link.hash then
                return query select false, count, link.first_seq,
                    format('row %s was altered: its content does not match its hash', link.first_seq);
                return;
            end if;
            count := count + 1;
        end if;
        prev_hash := link.hash;
        expected_seq := link.last_seq + 1;
    end loop;

    if expected_seq <= end_seq then
        return query select false, count, expected_seq,
            format('rows %s to %s are missing', expected_seq, end_seq);
        return;
    end if;

    if to_seq is null then
        if expected_seq > 1 and prev_hash <> head.hash then
            return query select false, count, head.seq, 'the chain head does not match the last row';
            return;
        end if;
        for anchor in select a.* from audit.anchors as a order by a.seq loop
            if anchor.seq > head.seq then
                return query select false, count, head.seq + 1,
                    format('the tail was truncated: anchor %s recorded row %s, the head is at %s',
                        anchor.id, anchor.seq, head.seq);
                return;
            end if;
            -- An anchor inside an archived stretch is checked where the stretch's last hash is
            -- recorded; the rest of the stretch is in the archive file.
            if anchor.seq > 0
                and not exists (
                    select from audit.log as l where l.seq = anchor.seq and l.hash = anchor.hash
                )
                and not exists (
                    select from audit.archived_runs as r
                    where
                        anchor.seq between r.first_seq and r.last_seq
                        and (anchor.seq < r.last_seq or r.last_hash = anchor.hash)
                ) then
                return query select false, count, anchor.seq,
                    format('row %s does not match anchor %s', anchor.seq, anchor.id);
                return;
            end if;
        end loop;
    end if;

    return query select true, count, null::bigint, null::text;
end;
$$;

comment on function private.verify_audit_chain(bigint, bigint) is
'Verifies the audit chain over from_seq..to_seq (the head when null): hashes, links, no gap, '
'the head and the anchors; stretches archived after the retention period (audit.archived_runs) '
'link in place of their rows. Names the first bad row.';

-- Archives one partition the retention plan lists, after the job wrote its rows to a file:
-- the file's sha256 and location, and how many rows it holds (the partition's count must be
-- the same). Refuses a partition inside the retention period, a count that differs, and a
-- stretch of the chain that does not verify (a broken stretch is evidence: it is never
-- archived). Records the archive and its runs, detaches and drops the partition, and appends an
-- ARCHIVE entry. For the table owner (the retention job); granted to no API role.
create function private.audit_archive_partition(
    partition_name text,
    archive_sha256 text,
    archive_location text,
    archived_rows bigint
)
returns audit.archives
language plpgsql
volatile
set search_path = ''
as $$
declare
    head audit.chain_head;
    target record;
    verdict record;
    archive audit.archives;
begin
    -- Appends wait from here to the commit: the runs, the detach and the ARCHIVE entry are one
    -- step of the chain.
    select h.* into head from audit.chain_head as h where h.singleton for update;
    select p.* into target
    from private.audit_retention_plan() as p
    where p.partition_name = audit_archive_partition.partition_name;
    if not found then
        if exists (
            select from private.audit_partitions() as p
            where p.partition_name = audit_archive_partition.partition_name
        ) then
            perform private.raise_forbidden(
                format(
                    '%s is not entirely older than the retention period (%s)',
                    audit_archive_partition.partition_name, private.audit_retention_period()
                ),
                'audit_retention_period',
                'only the partitions private.audit_retention_plan() lists are archived'
            );
        end if;
        perform private.raise_not_found(
            format('no audit partition %s', audit_archive_partition.partition_name), 'audit_partition_unknown'
        );
    end if;
    if archive_sha256 is null or archive_sha256 !~ '^[0-9a-f]{64}$'
        or coalesce(btrim(archive_location), '') = '' then
        perform private.raise_invalid(
            'an archive needs the sha256 (hex) and location of its file', 'audit_archive_unnamed'
        );
    end if;
    if archived_rows is distinct from target.row_count then
        perform private.raise_invalid(
            format('the archive holds %s rows, partition %s holds %s', archived_rows, target.partition_name, target.row_count),
            'audit_archive_incomplete',
            'export the partition again'
        );
    end if;
    if target.row_count > 0 then
        select v.* into verdict
        from private.verify_audit_chain(target.first_seq, least(target.last_seq + 1, head.seq)) as v;
        if not verdict.valid then
            perform private.raise_conflict(
                format('the audit chain does not verify at row %s (%s): it is not archived', verdict.first_bad_seq, verdict.problem),
                'audit_chain_broken',
                'investigate with private.verify_audit_chain(); a broken stretch is evidence'
            );
        end if;
        if exists (
            select from audit.anchors as a
            where
                a.seq between target.first_seq and target.last_seq
                and not exists (select from audit.log as l where l.seq = a.seq and l.hash = a.hash)
                and not exists (select from audit.archived_runs as r where r.last_seq = a.seq and r.last_hash = a.hash)
        ) then
            perform private.raise_conflict(
                format('an anchor in %s no longer matches its row: it is not archived', target.partition_name),
                'audit_chain_broken',
                'investigate with private.verify_audit_chain()'
            );
        end if;
    end if;

    insert into audit.archives (
        partition_name, range_from, range_to, row_count, first_seq, last_seq, archive_sha256, location, retention
    )
    values (
        target.partition_name, target.range_from, target.range_to, target.row_count, target.first_seq,
        target.last_seq, archive_sha256, btrim(archive_location), private.audit_retention_period()
    )
    returning * into archive;

    execute format(
        'insert into audit.archived_runs (archive_id, first_seq, last_seq, first_prev_hash, last_hash) '
        'select $1, min(r.seq), max(r.seq), (array_agg(r.prev_hash order by r.seq))[1], '
        '(array_agg(r.hash order by r.seq desc))[1] '
        'from (select l.seq, l.prev_hash, l.hash, l.seq - row_number() over (order by l.seq) as island '
        'from audit.%I as l) as r group by r.island',
        target.partition_name
    ) using archive.id;

    execute format('alter table audit.log detach partition audit.%I', target.partition_name);
    execute format('drop table audit.%I', target.partition_name);

    perform private.audit_append(
        'ARCHIVE', 'audit.log', target.partition_name,
        details => jsonb_build_object(
            'range_from', target.range_from, 'range_to', target.range_to, 'rows', target.row_count,
            'first_seq', target.first_seq, 'last_seq', target.last_seq, 'sha256', archive_sha256,
            'location', btrim(archive_location), 'retention', private.audit_retention_period()::text
        )
    );
    return archive;
end;
$$;

comment on function private.audit_archive_partition(text, text, text, bigint) is
'Archives an audit partition older than the retention period once its rows are in a file '
'(sha256, location, row count): verifies its stretch of the chain, records it in audit.archives '
'and audit.archived_runs, detaches and drops it, and logs an ARCHIVE entry. Retention job only.';
