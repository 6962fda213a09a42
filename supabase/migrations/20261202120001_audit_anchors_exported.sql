-- Audit anchors that leave the database (issue 10, finding 7).
--
-- The table owner (`postgres`) can grant itself UPDATE on audit.log, disable the append-only
-- triggers, edit a row and recompute every later hash, the chain head and the anchors stored
-- in audit.anchors: private.verify_audit_chain then reports a valid chain. Nothing kept
-- inside the database can prove otherwise. The sidecar's worker therefore signs the chain
-- (Ed25519, with a key the database never sees) at least hourly and writes each anchor to an
-- append-only store outside the database role's reach (sidecar/jobs/audit_anchors.py); the
-- verifier (`carebase audit verify`) re-hashes the rows the database shows against those
-- signed anchors and names the first row that differs.
--
-- This migration gives the sidecar what it needs, as service-role RPCs:
-- - public.audit_anchor_segment: the rows after the last exported anchor, as the last row's
--   seq, hash and time plus an 8-byte fingerprint of every row's hash (so that a re-hash can
--   be traced to its first row, not only to the anchor that no longer matches);
-- - public.record_audit_anchor: records an exported anchor in audit.anchors, so that the
--   in-database verification keeps checking against it;
-- - public.audit_chain_head, public.audit_log_canonical, public.audit_exported_anchors: what
--   the verifier reads (the head, each row's canonical text that its hash covers, and the
--   exported anchors the database recorded).

-- Where an exported anchor went: its number in the store, the signer's key id, the signature
-- over the signed document and the store's name for it. Null for the in-database anchors of
-- private.anchor_audit_chain (pg_cron).
alter table audit.anchors
add column exported_number bigint,
add column key_id text,
add column signature bytea,
add column location text;

create index anchors_exported_number_idx on audit.anchors (exported_number);

-- The canonical text of an entry: exactly what private.audit_hash hashes (sha256 of its UTF-8
-- bytes). The verifier re-hashes it outside the database, so it does not depend on the
-- database's own hash function being intact. supabase/tests/audit_anchors.test.sql checks that
-- the two agree on every row.
create function private.audit_canonical(entry audit.log)
returns text
language sql
stable
set search_path = ''
as $$
    select jsonb_build_array(
        entry.seq,
        to_char(entry.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        entry.actor_id, entry.actor_db_role, entry.actor_jwt_role, entry.actor_roles,
        entry.hospital_id, entry.patient_id, entry.action, entry.table_name, entry.row_id,
        entry.changed_fields, entry.old_values, entry.new_values, entry.details,
        entry.request_id, entry.ip_address, entry.user_agent, entry.request_method,
        entry.request_path, encode(entry.prev_hash, 'hex')
    )::text;
$$;

-- POST /rest/v1/rpc/audit_chain_head (service role): the chain head as it stands.
create function public.audit_chain_head()
returns table (seq bigint, hash text, updated_at timestamptz)
language sql
stable
set search_path = ''
as $$
    select h.seq, encode(h.hash, 'hex'), h.updated_at from audit.chain_head as h where h.singleton;
$$;

comment on function public.audit_chain_head() is
'The audit chain head (last seq, its hash in hex, when it moved). Service role only.';

-- POST /rest/v1/rpc/audit_anchor_segment (service role): the next segment to anchor, i.e. the
-- rows after `after_seq` up to the head, at most `max_rows` of them. Returns the head's seq,
-- the hash of row `after_seq` as the database now has it (the genesis hash for 0; the exporter
-- compares it with its last anchor), and, when there are rows, the segment's first and last
-- seq, the last row's hash and time, and the first 8 bytes of each row's hash in seq order
-- (hex; zeros for a missing row; a duplicated seq counts its earliest row).
create function public.audit_anchor_segment(after_seq bigint, max_rows integer default 100000)
returns table (
    head_seq bigint,
    after_hash text,
    from_seq bigint,
    seq bigint,
    hash text,
    occurred_at timestamptz,
    fingerprints text
)
language plpgsql
stable
set search_path = ''
as $$
#variable_conflict use_column
declare
    head audit.chain_head;
    upto bigint;
    last_row record;
    before_hash text;
begin
    if after_seq is null or after_seq < 0 then
        perform private.raise_invalid(
            'after_seq must be 0 or more', hint => 'pass the seq of the last exported anchor (0 for none)'
        );
    end if;
    if max_rows is null or max_rows not between 1 and 1000000 then
        perform private.raise_invalid(
            'max_rows must be between 1 and 1000000', hint => 'anchor a long chain in several segments'
        );
    end if;

    select h.* into head from audit.chain_head as h where h.singleton;
    if after_seq = 0 then
        before_hash := encode(extensions.digest('carebase audit chain genesis', 'sha256'), 'hex');
    else
        select encode(l.hash, 'hex') into before_hash
        from audit.log as l where l.seq = audit_anchor_segment.after_seq
        order by l.occurred_at limit 1;
    end if;

    upto := least(head.seq, audit_anchor_segment.after_seq + max_rows);
    select l.seq, l.hash, l.occurred_at into last_row
    from audit.log as l
    where l.seq > audit_anchor_segment.after_seq and l.seq <= upto
    order by l.seq desc, l.occurred_at
    limit 1;
    if last_row.seq is null then
        return query select head.seq, before_hash, null::bigint, null::bigint, null::text,
            null::timestamptz, null::text;
        return;
    end if;

    return query
    with segment_rows as (
        select distinct on (l.seq) l.seq, l.hash
        from audit.log as l
        where l.seq > audit_anchor_segment.after_seq and l.seq <= last_row.seq
        order by l.seq, l.occurred_at
    )
    select head.seq, before_hash, audit_anchor_segment.after_seq + 1, last_row.seq,
        encode(last_row.hash, 'hex'), last_row.occurred_at,
        string_agg(
            coalesce(encode(substring(r.hash from 1 for 8), 'hex'), '0000000000000000'), '' order by s.n
        )
    from generate_series(audit_anchor_segment.after_seq + 1, last_row.seq) as s (n)
    left join segment_rows as r on s.n = r.seq;
end;
$$;

comment on function public.audit_anchor_segment(bigint, integer) is
'The audit rows after after_seq (at most max_rows) to be anchored: last seq, hash and time, '
'and an 8-byte fingerprint of each row''s hash. Service role only (the anchor exporter).';

-- POST /rest/v1/rpc/audit_log_canonical (service role): rows from_seq..to_seq (at most 10000)
-- as the verifier re-hashes them: each row's canonical text (its hash covers exactly that
-- text, which ends with the previous row's hash) and the hash the database stores, plus what
-- names the row to a person.
create function public.audit_log_canonical(from_seq bigint, to_seq bigint)
returns table (
    seq bigint,
    occurred_at timestamptz,
    action text,
    table_name text,
    row_id text,
    canonical text,
    hash text
)
language plpgsql
stable
set search_path = ''
as $$
#variable_conflict use_column
begin
    if from_seq is null or to_seq is null or to_seq < from_seq or to_seq - from_seq >= 10000 then
        perform private.raise_invalid(
            'from_seq..to_seq must name at most 10000 rows', hint => 'read a long chain in pages'
        );
    end if;
    return query
    select l.seq, l.occurred_at, l.action, l.table_name, l.row_id,
        private.audit_canonical(l), encode(l.hash, 'hex')
    from audit.log as l
    where l.seq between audit_log_canonical.from_seq and audit_log_canonical.to_seq
    order by l.seq, l.occurred_at;
end;
$$;

comment on function public.audit_log_canonical(bigint, bigint) is
'Audit rows from_seq..to_seq (at most 10000) with the canonical text each hash covers. '
'Service role only (the anchor verifier).';

-- Records an anchor the sidecar exported. It must name a row as it stands (seq and hash), so an
-- anchor in audit.anchors is never a false alarm. Security definer: schema audit takes no
-- direct writes from any API role.
create function private.record_audit_anchor(
    seq bigint,
    hash text,
    exported_number bigint,
    key_id text,
    signature text,
    location text
)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    anchor_id bigint;
begin
    if exported_number is null or exported_number < 1 or key_id is null or signature is null then
        raise exception using
            errcode = '22023', message = 'an exported anchor needs its number, key id and signature',
            hint = 'record anchors as the sidecar exports them';
    end if;
    if not exists (
        select from audit.log as l
        where l.seq = record_audit_anchor.seq and l.hash = decode(record_audit_anchor.hash, 'hex')
    ) then
        perform private.raise_invalid(
            format('audit row %s does not have the anchored hash', record_audit_anchor.seq),
            hint => 'the chain changed since the anchor was read; run `carebase audit verify`'
        );
    end if;
    insert into audit.anchors (seq, hash, exported_number, key_id, signature, location)
    values (
        record_audit_anchor.seq, decode(record_audit_anchor.hash, 'hex'), record_audit_anchor.exported_number,
        record_audit_anchor.key_id, decode(record_audit_anchor.signature, 'base64'), record_audit_anchor.location
    )
    returning id into anchor_id;
    return anchor_id;
end;
$$;

-- POST /rest/v1/rpc/record_audit_anchor (service role).
create function public.record_audit_anchor(
    seq bigint,
    hash text,
    exported_number bigint,
    key_id text,
    signature text,
    location text
)
returns bigint
language sql
volatile
set search_path = ''
as $$
    select private.record_audit_anchor(
        record_audit_anchor.seq, record_audit_anchor.hash, record_audit_anchor.exported_number,
        record_audit_anchor.key_id, record_audit_anchor.signature, record_audit_anchor.location
    );
$$;

comment on function public.record_audit_anchor(bigint, text, bigint, text, text, text) is
'Records an anchor the sidecar signed and exported (seq, hash in hex, its number in the store, '
'key id, base64 signature, location) in audit.anchors. Service role only.';

-- POST /rest/v1/rpc/audit_exported_anchors (service role): the exported anchors the database
-- recorded, for the verifier to find any the store no longer holds.
create function public.audit_exported_anchors()
returns table (
    id bigint,
    exported_number bigint,
    seq bigint,
    hash text,
    key_id text,
    location text,
    anchored_at timestamptz
)
language sql
stable
set search_path = ''
as $$
    select a.id, a.exported_number, a.seq, encode(a.hash, 'hex'), a.key_id, a.location, a.anchored_at
    from audit.anchors as a
    where a.exported_number is not null
    order by a.exported_number, a.id;
$$;

comment on function public.audit_exported_anchors() is
'The exported anchors recorded in audit.anchors. Service role only (the anchor verifier).';

grant execute on function private.audit_canonical(audit.log) to service_role;
grant execute on function private.record_audit_anchor(bigint, text, bigint, text, text, text) to service_role;

revoke execute on function public.audit_chain_head() from authenticated;
revoke execute on function public.audit_anchor_segment(bigint, integer) from authenticated;
revoke execute on function public.audit_log_canonical(bigint, bigint) from authenticated;
revoke execute on function public.record_audit_anchor(bigint, text, bigint, text, text, text)
from authenticated;
revoke execute on function public.audit_exported_anchors() from authenticated;
grant execute on function public.audit_chain_head() to service_role;
grant execute on function public.audit_anchor_segment(bigint, integer) to service_role;
grant execute on function public.audit_log_canonical(bigint, bigint) to service_role;
grant execute on function public.record_audit_anchor(bigint, text, bigint, text, text, text) to service_role;
grant execute on function public.audit_exported_anchors() to service_role;
