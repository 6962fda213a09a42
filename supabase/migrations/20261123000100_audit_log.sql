-- The audit trail (DESIGN.md, Audit; seed 002): an append-only, hash-chained log in schema
-- `audit`, partitioned by month for 7-year retention.
--
-- Chain: every entry carries the hash of the entry before it (prev_hash) and its own hash,
-- sha256 over a canonical JSON array of all its fields and prev_hash (private.audit_hash).
-- Appends are serialized by locking the single chain-head row FOR UPDATE until commit, so the
-- chain is one total order in commit order; a rolled-back transaction rolls back its entries
-- and the head together, so sequence numbers have no gaps. A daily anchor (the head's seq
-- and hash) makes truncating the tail detectable. private.verify_audit_chain names the first
-- broken or missing link.
--
-- Nobody updates or deletes audit rows: no role holds UPDATE, DELETE or TRUNCATE on them
-- (the owner's own privileges are revoked too), and ALWAYS triggers refuse the three
-- commands even in replica mode. A superuser can still drop the triggers; the chain then
-- shows what was changed.

create schema if not exists audit;
revoke all on schema audit from public;
grant usage on schema audit to authenticated, service_role;

create table audit.chain_head (
    singleton boolean primary key default true constraint chain_head_singleton check (singleton),
    seq bigint not null,
    hash bytea not null,
    updated_at timestamptz not null default now()
);

insert into audit.chain_head (seq, hash)
values (0, extensions.digest('carebase audit chain genesis', 'sha256'));

create table audit.log (
    seq bigint not null,
    occurred_at timestamptz not null,
    -- Who: the signed-in user, the database role of the request (authenticated,
    -- service_role, postgres...), the JWT role, and their membership roles at the row's
    -- hospital (plus 'patient' when they are the row's patient).
    actor_id uuid,
    actor_db_role text not null,
    actor_jwt_role text,
    actor_roles public.app_role[] not null default '{}',
    hospital_id uuid,
    patient_id uuid,
    -- What: INSERT / UPDATE / DELETE of a row, READ of clinical data, ANCHOR of the chain.
    action text not null constraint log_action_known check (
        action in ('INSERT', 'UPDATE', 'DELETE', 'READ', 'ANCHOR')
    ),
    table_name text not null,
    row_id text,
    changed_fields text[] not null default '{}',
    -- Values of the changed fields only; ciphertexts and blind indexes read '[encrypted]'.
    old_values jsonb,
    new_values jsonb,
    details jsonb not null default '{}',
    -- The request context PostgREST sets (request.headers, request.method, request.path).
    request_id text,
    ip_address text,
    user_agent text,
    request_method text,
    request_path text,
    prev_hash bytea not null,
    hash bytea not null,
    primary key (seq, occurred_at)
) partition by range (occurred_at);

create index log_hospital_idx on audit.log (hospital_id, occurred_at);
create index log_patient_idx on audit.log (patient_id, occurred_at);
create index log_actor_idx on audit.log (actor_id, occurred_at);
create index log_table_row_idx on audit.log (table_name, row_id);

-- Anchors: the chain head as it stood, stored daily (pg_cron) and on demand. Exporting them
-- outside the database (the sidecar's job) also defeats a superuser who rewrites everything.
create table audit.anchors (
    id bigint generated always as identity primary key,
    seq bigint not null,
    hash bytea not null,
    anchored_at timestamptz not null default clock_timestamp()
);

create index anchors_seq_idx on audit.anchors (seq);

-- The canonical hash of an entry. Timestamps are written in UTC with microseconds so that the
-- session's TimeZone or DateStyle cannot change the hash; jsonb prints keys in one order.
create function private.audit_hash(entry audit.log)
returns bytea
language sql
stable
set search_path = ''
as $$
    select extensions.digest(
        convert_to(
            jsonb_build_array(
                entry.seq,
                to_char(entry.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                entry.actor_id, entry.actor_db_role, entry.actor_jwt_role, entry.actor_roles,
                entry.hospital_id, entry.patient_id, entry.action, entry.table_name, entry.row_id,
                entry.changed_fields, entry.old_values, entry.new_values, entry.details,
                entry.request_id, entry.ip_address, entry.user_agent, entry.request_method,
                entry.request_path, encode(entry.prev_hash, 'hex')
            )::text,
            'UTF8'
        ),
        'sha256'
    );
$$;

-- Appends one entry, with the client address from private.request_client_ip. Security
-- definer: the API roles hold no privilege on schema audit's tables; this is the only way in.
-- Not granted to any API role: triggers and the private readers call it (trigger functions
-- run without an EXECUTE check for the caller).
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
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    head audit.chain_head;
    headers jsonb := coalesce(nullif(current_setting('request.headers', true), '')::jsonb, '{}');
    request_role text := current_setting('role', true);
    entry audit.log;
begin
    -- The lock serializes appends until commit: the chain is one total order.
    select h.* into head from audit.chain_head as h where h.singleton for update;

    entry.seq := head.seq + 1;
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
    entry.prev_hash := head.hash;
    entry.hash := private.audit_hash(entry);

    insert into audit.log select entry.*;
    update audit.chain_head as h
    set seq = entry.seq, hash = entry.hash, updated_at = entry.occurred_at
    where h.singleton;
    return entry.seq;
end;
$$;

-- The one audit trigger (AFTER INSERT OR UPDATE OR DELETE, FOR EACH ROW). Arguments: the
-- column naming the row's patient ('patient_id' unless given; '' when none), then the columns
-- whose values are never logged (ciphertexts, blind indexes). Security definer: it appends
-- through private.audit_append whatever the caller's role.
create function private.audit_row_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    patient_column text := coalesce(tg_argv[0], 'patient_id');
    secret_columns text [] := coalesce(tg_argv[1:], '{}');
    old_row jsonb;
    new_row jsonb;
    any_row jsonb;
    changed text [];
    secret text;
begin
    if tg_op in ('UPDATE', 'DELETE') then
        old_row := to_jsonb(old);
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        new_row := to_jsonb(new);
    end if;
    any_row := coalesce(new_row, old_row);

    if tg_op = 'UPDATE' then
        select array_agg(n.key order by n.key) into changed
        from jsonb_each(new_row) as n
        where n.value is distinct from old_row -> n.key;
        if changed is null then
            return null;
        end if;
        old_row := (select jsonb_object_agg(o.key, o.value) from jsonb_each(old_row) as o where o.key = any(changed));
        new_row := (select jsonb_object_agg(n.key, n.value) from jsonb_each(new_row) as n where n.key = any(changed));
    else
        select array_agg(k.key order by k.key) into changed from jsonb_object_keys(any_row) as k (key);
    end if;

    foreach secret in array secret_columns loop
        if old_row ? secret then
            old_row := old_row || jsonb_build_object(secret, '[encrypted]');
        end if;
        if new_row ? secret then
            new_row := new_row || jsonb_build_object(secret, '[encrypted]');
        end if;
    end loop;

    perform private.audit_append(
        tg_op,
        tg_table_schema || '.' || tg_table_name,
        any_row ->> 'id',
        (any_row ->> 'hospital_id')::uuid,
        case when patient_column = '' then null else (any_row ->> patient_column)::uuid end,
        changed,
        old_row,
        new_row
    );
    return null;
end;
$$;

-- Refuses any change to audit rows, whoever asks (enabled ALWAYS: replica mode does not
-- skip it).
create function private.audit_refuse_change()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform private.raise_forbidden(
        format('the audit trail is append-only: %s on %s is refused', tg_op, tg_table_name),
        hint => 'audit rows are never updated, deleted or truncated'
    );
end;
$$;

create trigger log_append_only
before update or delete on audit.log
for each row execute function private.audit_refuse_change();
alter table audit.log enable always trigger log_append_only;

create trigger anchors_append_only
before update or delete on audit.anchors
for each row execute function private.audit_refuse_change();
alter table audit.anchors enable always trigger anchors_append_only;

create trigger anchors_no_truncate
before truncate on audit.anchors
for each statement execute function private.audit_refuse_change();
alter table audit.anchors enable always trigger anchors_no_truncate;

create trigger chain_head_no_delete
before delete or truncate on audit.chain_head
for each statement execute function private.audit_refuse_change();
alter table audit.chain_head enable always trigger chain_head_no_delete;

-- Monthly partitions, from this month to `months_ahead` months on (idempotent; run daily by
-- pg_cron where it exists). Each partition gets the same guards as the parent: TRUNCATE of
-- a partition fires only its own statement triggers, and privileges on partitions are their
-- own. A default partition catches anything outside the created months.
create function private.audit_ensure_partitions(months_ahead integer default 3)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    month_start date;
    partition_name text;
    created integer := 0;
    owner_name text;
begin
    select pg_catalog.pg_get_userbyid(c.relowner) into owner_name
    from pg_catalog.pg_class as c where c.oid = 'audit.log'::regclass;
    for i in 0..greatest(months_ahead, 0) loop
        month_start := (date_trunc('month', now() at time zone 'UTC') + make_interval(months => i))::date;
        partition_name := format('log_y%sm%s', to_char(month_start, 'YYYY'), to_char(month_start, 'MM'));
        if to_regclass('audit.' || partition_name) is null then
            execute format(
                'create table audit.%I partition of audit.log for values from (%L) to (%L)',
                partition_name,
                month_start::timestamp at time zone 'UTC',
                (month_start + interval '1 month')::timestamp at time zone 'UTC'
            );
            execute format(
                'create trigger %I before truncate on audit.%I '
                'for each statement execute function private.audit_refuse_change()',
                partition_name || '_no_truncate', partition_name
            );
            execute format('alter table audit.%I enable always trigger %I', partition_name, partition_name || '_no_truncate');
            execute format('alter table audit.%I enable always trigger log_append_only', partition_name);
            execute format('revoke update, delete, truncate on audit.%I from public, %I', partition_name, owner_name);
            created := created + 1;
        end if;
    end loop;
    if to_regclass('audit.log_default') is null then
        create table audit.log_default partition of audit.log default;
        create trigger log_default_no_truncate before truncate on audit.log_default
        for each statement execute function private.audit_refuse_change();
        alter table audit.log_default enable always trigger log_default_no_truncate;
        alter table audit.log_default enable always trigger log_append_only;
        execute format('revoke update, delete, truncate on audit.log_default from public, %I', owner_name);
    end if;
    return created;
end;
$$;

select private.audit_ensure_partitions(3);

create trigger log_no_truncate
before truncate on audit.log
for each statement execute function private.audit_refuse_change();
alter table audit.log enable always trigger log_no_truncate;

-- Stores the current head as an anchor (and returns it). Security definer: writes schema
-- audit. For pg_cron (daily) and the service role.
create function private.anchor_audit_chain()
returns audit.anchors
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    anchor audit.anchors;
begin
    insert into audit.anchors (seq, hash)
    select h.seq, h.hash from audit.chain_head as h where h.singleton
    returning * into anchor;
    return anchor;
end;
$$;

-- Verifies the chain over [from_seq, to_seq] (to the head when to_seq is null): every row's
-- hash matches its content, every row links to the one before, no sequence number is
-- missing, and, over the whole chain, the head and every anchor are still there. Returns
-- valid, how many rows were checked, and the first bad seq with what is wrong with it.
-- Security definer: it must read every hospital's rows whoever asks (service role only).
create function private.verify_audit_chain(from_seq bigint default 1, to_seq bigint default null)
returns table (valid boolean, checked bigint, first_bad_seq bigint, problem text)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    head audit.chain_head;
    entry audit.log;
    expected_seq bigint := greatest(coalesce(from_seq, 1), 1);
    last_seq bigint;
    prev_hash bytea;
    count bigint := 0;
    anchor audit.anchors;
begin
    select h.* into head from audit.chain_head as h where h.singleton;
    last_seq := coalesce(to_seq, head.seq);
    if expected_seq = 1 then
        prev_hash := extensions.digest('carebase audit chain genesis', 'sha256');
    else
        select l.hash into prev_hash from audit.log as l where l.seq = expected_seq - 1;
        if prev_hash is null then
            return query select false, 0::bigint, expected_seq - 1,
                format('row %s, before the range, is missing', expected_seq - 1);
            return;
        end if;
    end if;

    for entry in
        select l.* from audit.log as l
        where l.seq between expected_seq and last_seq
        order by l.seq
    loop
        if entry.seq <> expected_seq then
            return query select false, count, expected_seq,
                format('rows %s to %s are missing', expected_seq, entry.seq - 1);
            return;
        end if;
        if entry.prev_hash <> prev_hash then
            -- This row's content still matches its hash, so the row before it was rewritten
            -- (hash recomputed) or removed and replaced.
            return query select false, count, entry.seq - 1,
                format('row %s was rewritten: row %s no longer links to it', entry.seq - 1, entry.seq);
            return;
        end if;
        if private.audit_hash(entry) <> entry.hash then
            return query select false, count, entry.seq,
                format('row %s was altered: its content does not match its hash', entry.seq);
            return;
        end if;
        prev_hash := entry.hash;
        count := count + 1;
        expected_seq := expected_seq + 1;
    end loop;

    if expected_seq <= last_seq then
        return query select false, count, expected_seq,
            format('rows %s to %s are missing', expected_seq, last_seq);
        return;
    end if;

    if to_seq is null then
        if count > 0 and prev_hash <> head.hash then
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
            if anchor.seq > 0 and not exists (
                select from audit.log as l where l.seq = anchor.seq and l.hash = anchor.hash
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

-- RPC for the service role: POST /rest/v1/rpc/verify_audit_chain.
create function public.verify_audit_chain(from_seq bigint default 1, to_seq bigint default null)
returns table (valid boolean, checked bigint, first_bad_seq bigint, problem text)
language sql
stable
set search_path = ''
as $$
    select * from private.verify_audit_chain(verify_audit_chain.from_seq, verify_audit_chain.to_seq);
$$;

-- Reading the trail: a hospital admin reads their hospital's entries (and those of the
-- persons registered there); a patient reads who did what to their record (accounting of
-- disclosures). Nobody writes through a privilege.
alter table audit.log enable row level security;
alter table audit.anchors enable row level security;
alter table audit.chain_head enable row level security;

revoke all on audit.log, audit.anchors, audit.chain_head from public, anon, authenticated, service_role;
grant select on audit.log to authenticated, service_role;
grant select on audit.anchors, audit.chain_head to service_role;
-- The owner's own UPDATE, DELETE and TRUNCATE go too; INSERT stays for private.audit_append.
revoke update, delete, truncate on audit.log, audit.anchors from current_user;
revoke truncate on audit.chain_head from current_user;

-- Patients registered at a hospital the caller administers. Security definer, like the
-- access helpers: the audit policies must not depend on the registrations' own policies.
create function private.administered_patient_ids()
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select coalesce(array_agg(distinct r.patient_id), '{}')
        from public.patient_registrations as r
        where r.hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
    );
end;
$$;

create policy log_select_admin on audit.log
for select to authenticated
using (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[])
    or (hospital_id is null and patient_id = any((select private.administered_patient_ids())::uuid[]))
);

create policy log_select_patient on audit.log
for select to authenticated
using (patient_id = (select private.own_patient_id()));

-- An admin's view of their hospital's trail: entries of the admin's hospitals, and
-- person-level entries (no hospital) about its patients; never another hospital's entries
-- about a shared patient.
create view public.audit_trail
with (security_invoker = true) as
select
    l.seq,
    l.occurred_at,
    l.actor_id,
    l.actor_db_role,
    l.actor_roles,
    l.hospital_id,
    l.patient_id,
    l.action,
    l.table_name,
    l.row_id,
    l.changed_fields,
    l.old_values,
    l.new_values,
    l.details,
    l.request_id,
    l.ip_address,
    l.user_agent,
    l.request_method,
    l.request_path,
    encode(l.hash, 'hex') as hash
from audit.log as l
where
    l.hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[])
    or (l.hospital_id is null and l.patient_id = any((select private.administered_patient_ids())::uuid[]));

comment on view public.audit_trail is
'The audit trail of the caller''s hospitals (hospital admins): every write and logged read, hash-chained.';

-- The display name of the actor of one audit entry, when the entry is about the caller's own
-- patient record; null otherwise. Security definer: the actor's profile is outside what the
-- patient may read in profiles; its check of the entry keeps it to their own disclosures.
-- (seq, occurred_at) is the log's primary key: one row, its partition found by occurred_at.
create function private.disclosure_actor_name(entry_seq bigint, entry_occurred_at timestamptz)
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select p.full_name
        from audit.log as l
        join public.profiles as p on p.id = l.actor_id
        where l.seq = disclosure_actor_name.entry_seq
            and l.occurred_at = disclosure_actor_name.entry_occurred_at
            and l.patient_id = (select private.own_patient_id())
    );
end;
$$;

-- A patient's accounting of disclosures: who (name and roles), when, what, from where. The
-- name of every reader, also one from elsewhere (an outside pharmacist, a doctor of the
-- hospital a record was shared with), whom the patient's own RLS on profiles does not show.
create view public.record_disclosures
with (security_invoker = true) as
select
    l.seq,
    l.occurred_at,
    l.actor_id,
    private.disclosure_actor_name(l.seq, l.occurred_at) as actor_name,
    l.actor_roles,
    l.hospital_id,
    l.action,
    l.table_name,
    l.row_id,
    l.request_method
from audit.log as l
where l.patient_id = (select private.own_patient_id());

revoke all on public.audit_trail, public.record_disclosures from anon, authenticated;
grant select on public.audit_trail, public.record_disclosures to authenticated, service_role;

-- Daily anchor and partitions ahead, where pg_cron exists (only in the `postgres` database).
do $$
begin
    if exists (select from pg_catalog.pg_namespace as n where n.nspname = 'cron') then
        perform cron.schedule('carebase-audit-anchor', '5 0 * * *', 'select private.anchor_audit_chain()');
        perform cron.schedule('carebase-audit-partitions', '15 0 * * *', 'select private.audit_ensure_partitions(3)');
    end if;
end;
$$;

grant execute on function private.administered_patient_ids() to authenticated, service_role;
grant execute on function private.disclosure_actor_name(bigint, timestamptz) to authenticated, service_role;
grant execute on function private.anchor_audit_chain() to service_role;
grant execute on function private.verify_audit_chain(bigint, bigint) to service_role;
revoke execute on function public.verify_audit_chain(bigint, bigint) from authenticated;
grant execute on function public.verify_audit_chain(bigint, bigint) to service_role;
