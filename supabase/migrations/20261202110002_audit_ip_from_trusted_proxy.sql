-- The audit trail records the client address the trusted proxies saw, never one the client
-- chose (issue 10, finding 12).
--
-- Before, private.audit_append took the leftmost X-Forwarded-For entry (or X-Real-IP), which
-- is whatever the client sent: `X-Forwarded-For: 6.6.6.6` put 6.6.6.6 in the audit trail. A
-- reverse proxy appends the address of its peer to the header; only the entries appended by
-- the proxies in front of PostgREST can be believed. The client is the entry written by the
-- outermost of them: `proxy_hops` places from the right (1: the rightmost, written by the one
-- proxy in front of PostgREST, as devstack's gateway and a single reverse proxy are; 2 with a
-- CDN or load balancer in front of that proxy, and so on). X-Real-IP is not read: a proxy
-- that passes it through unchanged passes on the client's own claim.
--
-- On hosted Supabase, set proxy_hops to the number of proxies that append to the header in
-- front of PostgREST (check with a request from a known address:
-- `update private.client_ip_settings set proxy_hops = 2;`). Behind devstack's gateway with
-- CAREBASE_GATEWAY_TRUSTED_PROXIES = n, it is n + 1.

create table private.client_ip_settings (
    singleton boolean primary key default true constraint client_ip_settings_singleton check (singleton),
    proxy_hops integer not null default 1 constraint client_ip_settings_proxy_hops check (proxy_hops between 1 and 10)
);

comment on table private.client_ip_settings is
'How many proxies in front of PostgREST append to X-Forwarded-For; the client address is the entry that many '
'places from the right (private.request_client_ip).';

insert into private.client_ip_settings (singleton) values (true);

-- The client address of a request from its headers (request.headers): the X-Forwarded-For
-- entry written by the outermost trusted proxy; the leftmost entry when there are fewer
-- (every one of them was then written by a trusted proxy); null without the header.
create function private.request_client_ip(headers jsonb)
returns text
language sql
stable
set search_path = ''
as $$
    select nullif(btrim(hops.entry[greatest(cardinality(hops.entry) - s.proxy_hops + 1, 1)]), '')
    from private.client_ip_settings as s
    cross join lateral (select string_to_array(headers ->> 'x-forwarded-for', ',') as entry) as hops
    where s.singleton;
$$;

revoke execute on function private.request_client_ip(jsonb) from public, anon, authenticated, service_role;

-- As in 20261123000100_audit_log.sql, with the address from private.request_client_ip.
create or replace function private.audit_append(
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
