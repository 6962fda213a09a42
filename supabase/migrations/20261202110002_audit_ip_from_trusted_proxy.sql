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
--
-- The changed function is defined once, in final form, in the migration that created it:
-- private.audit_append (20261123000100).

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
