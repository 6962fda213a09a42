-- The client address in the audit trail is the one the trusted proxies recorded, never one
-- the client chose (issue 10, finding 12): a reverse proxy appends its peer's address to
-- X-Forwarded-For, so only the entries at the right end can be believed.
-- private.client_ip_settings.proxy_hops says how many proxies in front of PostgREST append.
begin;
select plan(9);

select tests.create_world();

create function tests.client_ip(forwarded_for text, real_ip text default null)
returns text
language sql
stable
set search_path = ''
as $$
    select private.request_client_ip(
        jsonb_strip_nulls(jsonb_build_object('x-forwarded-for', forwarded_for, 'x-real-ip', real_ip))
    );
$$;

-- one proxy in front of PostgREST (the default, as devstack's gateway) ----------------------
select is(
    tests.client_ip('6.6.6.6, 10.0.0.1'), '10.0.0.1',
    'a client-sent entry is ignored: the address the proxy appended is the client'
);
select is(tests.client_ip('10.0.0.1'), '10.0.0.1', 'a single entry is the proxy''s');
select is(tests.client_ip('6.6.6.6,  5.5.5.5 ,10.0.0.1 '), '10.0.0.1', 'entries are trimmed');
select is(tests.client_ip(null, '6.6.6.6'), null, 'X-Real-IP alone is not believed');
select is(tests.client_ip(null), null, 'no header, no address');

-- two proxies (a load balancer in front of the gateway) -----------------------------------
update private.client_ip_settings set proxy_hops = 2;
select is(
    tests.client_ip('6.6.6.6, 203.0.113.7, 10.0.0.1'), '203.0.113.7',
    'with two trusted proxies the client is the entry the outer one appended'
);
select is(
    tests.client_ip('203.0.113.7'), '203.0.113.7',
    'with fewer entries than proxies the leftmost one (a proxy''s) is taken'
);
update private.client_ip_settings set proxy_hops = 1;

-- what an audited write records -----------------------------------------------------------
select tests.act_as('a_front_desk');
select set_config(
    'request.headers', '{"x-request-id": "req-spoofed", "x-forwarded-for": "6.6.6.6, 10.0.0.1"}', true
);
update public.patients set email = 'spoofed@example.test'
where id = tests.id_of('patients', 'a_patient1');
select tests.clear_authentication();
select results_eq(
    $$ select ip_address from audit.log where request_id = 'req-spoofed' $$,
    $$ values ('10.0.0.1') $$,
    'the audit entry of a write names the address the proxy saw, not the one the client sent'
);

-- nobody but the owner reads or changes the setting ----------------------------------------
select is_empty(
    $$ select r from unnest(array['anon', 'authenticated', 'service_role']) as r
        where has_table_privilege(r, 'private.client_ip_settings', 'select, insert, update, delete')
        or has_function_privilege(r, 'private.request_client_ip(jsonb)', 'execute') $$,
    'the API roles can neither read nor change which proxies are trusted'
);

select * from finish();
rollback;
