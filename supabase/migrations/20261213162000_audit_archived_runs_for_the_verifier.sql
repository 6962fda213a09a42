-- The anchor verifier (`carebase audit verify`, sidecar/jobs/anchor_verification.py) and audit
-- retention (20261209100000): the verifier walks the chain from the exported anchors; once a
-- partition is archived, its rows are gone from audit.log and the verifier must link the
-- remaining rows through the archived runs, as private.verify_audit_chain does, and check each
-- run against its archive record and the signed anchors. This answers them, with the archive
-- each belongs to. Security invoker: the service role reads audit.archived_runs and
-- audit.archives (20261209100000 grants it select); nobody else may call it.
create function public.audit_archived_runs()
returns table (
    first_seq bigint,
    last_seq bigint,
    first_prev_hash text,
    last_hash text,
    archive_id bigint,
    partition_name text,
    range_from timestamptz,
    range_to timestamptz,
    row_count bigint,
    archive_first_seq bigint,
    archive_last_seq bigint,
    archive_sha256 text,
    retention interval,
    archived_at timestamptz
)
language sql
stable
set search_path = ''
as $$
    select
        r.first_seq, r.last_seq, encode(r.first_prev_hash, 'hex'), encode(r.last_hash, 'hex'), r.archive_id,
        a.partition_name, a.range_from, a.range_to, a.row_count, a.first_seq, a.last_seq, a.archive_sha256,
        a.retention, a.archived_at
    from audit.archived_runs as r
    left join audit.archives as a on r.archive_id = a.id
    order by r.first_seq;
$$;

revoke all on function public.audit_archived_runs() from public, anon, authenticated;
grant execute on function public.audit_archived_runs() to service_role;

comment on function public.audit_archived_runs() is
'The stretches of the audit chain archived after the retention period (audit.archived_runs: '
'first and last seq, the prev_hash of the first row and the hash of the last, in hex) with '
'their archive record (audit.archives; null columns when none). Service role only (the anchor '
'verifier).';
