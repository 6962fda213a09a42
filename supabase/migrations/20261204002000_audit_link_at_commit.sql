-- The audit chain head is held from commit-time to commit, not for a whole transaction
-- (issue 12).
--
-- Until now private.audit_append locked audit.chain_head at a transaction's first audited
-- write and kept it until commit: every audited transaction waited for the one ahead of it to
-- finish all of its remaining work (a booking: its other triggers, the notifications, the
-- round trip to COMMIT), about 60% of a booking's time at scale.
--
-- Now an append builds its entry as before (who, what, when, the request context), all but the
-- chain link (seq, prev_hash, hash), and keeps it in audit.pending. A deferred constraint
-- trigger on audit.pending fires when the transaction commits: it takes the chain head lock,
-- gives the transaction's entries the next sequence numbers in the order they were appended,
-- hashes each with its predecessor, inserts them into audit.log and moves the head. The lock
-- is held from that moment to the commit itself. What stays as it was:
-- - one chain in commit order with a gapless seq: numbers are taken under the lock, the head
--   moves in the same transaction, and a transaction that rolls back (before or after its
--   link) takes its entries and the head's move with it;
-- - every entry hashed with its predecessor by the same private.audit_hash, so
--   verify_audit_chain, the anchors, the exported anchors and their verifier are unchanged;
-- - occurred_at is the time of the write (clock_timestamp() at append). Along the chain it can
--   now step back a little (a transaction that wrote first and committed last has the later
--   seq): seq is the chain's order.
-- What changes:
-- - a transaction sees its own entries in audit.log (and audit_trail, record_disclosures) only
--   once it has committed, as every other session always did. `set constraints
--   audit.pending_link immediate` links at the end of each statement instead: the pgTAP tests,
--   which never commit, do so (tests.create_world) to read the chain as a commit leaves it;
-- - an audited transaction at repeatable read or serializable fails at commit (40001) when
--   another one committed after its snapshot (before: when it did so before its first audited
--   write). PostgREST runs at read committed.
--
-- Why not a chain per hospital: one hospital's writes (a booking load is one hospital's) would
-- still queue behind each other for their whole transaction, entries without a hospital would
-- need a chain of their own, and every head, anchor, export and verification would become one
-- per chain. The link at commit keeps the one chain and everything that reads it.

-- This transaction's unlinked entries, in the order written (id). Unlogged: a row lives only
-- inside its own transaction (its link at commit deletes it; a rollback takes it away), so a
-- crash has nothing to recover and the WAL nothing to carry. The entry is an audit.log row
-- whose seq, prev_hash and hash are still null. The key starts with the transaction, so a
-- transaction finds its own rows without reading anyone else's.
create unlogged table audit.pending (
    xact xid8 not null default pg_catalog.pg_current_xact_id(),
    id bigint generated always as identity,
    entry audit.log not null,
    primary key (xact, id)
);

alter table audit.pending enable row level security;
revoke all on audit.pending from public, anon, authenticated, service_role;

comment on table audit.pending is
'Audit entries written by a transaction that has not committed yet, in append order, without '
'their chain link. private.audit_link_pending (constraint trigger pending_link, initially '
'deferred) links them into audit.log when the transaction commits, so the chain head is locked '
'from then to the commit instead of from the first audited write. Always empty to other sessions.';

-- Appends one entry: as before, with the client address from private.request_client_ip, but
-- the chain link is made at commit (private.audit_link_pending), so nothing is returned; it used
-- to return the entry's seq, which nobody read. Security definer: the API roles hold no
-- privilege on schema audit's tables; this is the only way in. Not granted to any API role:
-- triggers and the private readers call it (trigger functions run without an EXECUTE check for
-- the caller).
drop function private.audit_append(text, text, text, uuid, uuid, text[], jsonb, jsonb, jsonb);

create function private.audit_append(
    action text,
    table_name text,
    row_id text default null,
    hospital_id uuid default null,
    patient_id uuid default null,
    changed_fields text[] default '{}',
    old_values jsonb default null,
    new_values jsonb default null,
    details jsonb default '{}'
)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    headers jsonb := coalesce(nullif(current_setting('request.headers', true), '')::jsonb, '{}');
    request_role text := current_setting('role', true);
    entry audit.log;
begin
    entry.occurred_at := clock_timestamp();
    entry.actor_id := auth.uid();
    -- current_user is this function's owner here; the request's role is the `role` setting.
    entry.actor_db_role := case
        when request_role is null or request_role in ('', 'none') then session_user::text
        else request_role
    end;
    entry.actor_jwt_role := auth.role();
    entry.actor_roles := case
        when entry.actor_id is not null and audit_append.hospital_id is not null
            then private.actor_roles(audit_append.hospital_id, audit_append.patient_id)
        when entry.actor_id is not null and audit_append.patient_id is not null
            and audit_append.patient_id = private.own_patient_id()
            then '{patient}'::public.app_role []
        else '{}'::public.app_role []
    end;
    entry.hospital_id := audit_append.hospital_id;
    entry.patient_id := audit_append.patient_id;
    entry.action := audit_append.action;
    entry.table_name := audit_append.table_name;
    entry.row_id := audit_append.row_id;
    entry.changed_fields := coalesce(audit_append.changed_fields, '{}');
    entry.old_values := audit_append.old_values;
    entry.new_values := audit_append.new_values;
    entry.details := coalesce(audit_append.details, '{}');
    entry.request_id := headers ->> 'x-request-id';
    entry.ip_address := private.request_client_ip(headers);
    entry.user_agent := headers ->> 'user-agent';
    entry.request_method := nullif(current_setting('request.method', true), '');
    entry.request_path := nullif(current_setting('request.path', true), '');
    -- seq, prev_hash and hash: at commit, under the chain head's lock.
    insert into audit.pending (entry) values (entry);
end;
$$;

comment on function private.audit_append(text, text, text, uuid, uuid, text[], jsonb, jsonb, jsonb) is
'Appends one audit entry (who, what, when, the request context) to this transaction''s '
'audit.pending; it is hashed into the chain when the transaction commits.';

-- Links this transaction's pending entries into the chain. The trigger pending_link fires it at
-- commit once per row of audit.pending, in the order the rows were written; the first firing
-- links its row and every later one of the transaction, in that order (one head lock, one head
-- update), and each later firing finds its row gone. Every query goes by the primary key, so a
-- transaction of many entries costs each entry the same. Security definer: it writes schema
-- audit whatever role the transaction ends in. enable_seqscan off: audit.pending looks empty to
-- the planner (its rows never outlive their transaction), which would then read all of it, the
-- dead rows of every recent transaction included; the primary key finds the rows asked for.
create function private.audit_link_pending()
returns trigger
language plpgsql
security definer
set search_path = ''
set enable_seqscan = off
as $$
declare
    head audit.chain_head;
    entry audit.log;
begin
    if not exists (select from audit.pending as p where p.xact = new.xact and p.id = new.id) then
        return null;
    end if;
    -- The transaction's first link waits here for the head; from then to the commit the head is
    -- this transaction's: the chain is one total order.
    select h.* into head from audit.chain_head as h where h.singleton for update;
    for entry in
        select (p.entry).* from audit.pending as p
        where p.xact = new.xact and p.id >= new.id
        order by p.id
    loop
        entry.seq := head.seq + 1;
        entry.prev_hash := head.hash;
        entry.hash := private.audit_hash(entry);
        insert into audit.log select entry.*;
        head.seq := entry.seq;
        head.hash := entry.hash;
    end loop;
    update audit.chain_head as h
    set seq = head.seq, hash = head.hash, updated_at = clock_timestamp()
    where h.singleton;
    delete from audit.pending as p where p.xact = new.xact and p.id >= new.id;
    return null;
end;
$$;

comment on function private.audit_link_pending() is
'Links a transaction''s pending audit entries into the chain when it commits (constraint '
'trigger pending_link on audit.pending, initially deferred): in the order written, next seq, '
'prev_hash, hash, insert into audit.log, move the head. The chain head is locked only from then '
'to the commit.';

-- Initially deferred: it fires at commit. Enabled ALWAYS: in session_replication_role =
-- replica an entry must still reach the chain, not stay behind unlinked.
create constraint trigger pending_link
after insert on audit.pending
deferrable initially deferred
for each row execute function private.audit_link_pending();
alter table audit.pending enable always trigger pending_link;
