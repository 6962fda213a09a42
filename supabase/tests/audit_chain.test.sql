-- The audit trail: one trigger on every personal or clinical table appends to a hash-chained,
-- append-only log with who, what, when and the request context; the chain verifies; nobody
-- updates, deletes or truncates it; admins read their hospital's trail and patients the
-- accesses to their record. (The superuser tamper is in tests/test_audit_tamper.py.)
begin;
select plan(24);

select tests.create_world();

-- Writes are logged with the request context PostgREST sets ------------------------------
select tests.act_as('a_front_desk');
select set_config(
    'request.headers',
    '{"x-request-id": "req-42", "x-forwarded-for": "203.0.113.7, 10.0.0.1", "user-agent": "carebase-test/1.0"}',
    true
);
select set_config('request.method', 'PATCH', true);
select set_config('request.path', '/patients', true);
update public.patients set email = 'gurmeet@example.test'
where id = tests.id_of('patients', 'a_patient1');
select tests.clear_authentication();

select results_eq(
    $$ select action, table_name, row_id, changed_fields, new_values, actor_id, actor_db_role, actor_roles::text[],
        patient_id, request_id, ip_address, user_agent, request_method, request_path
        from audit.log where table_name = 'public.patients' and request_id = 'req-42' $$,
    $$ values ('UPDATE', 'public.patients', tests.id_of('patients', 'a_patient1')::text,
        array['email'], jsonb_build_object('email', 'gurmeet@example.test'),
        tests.user_id('a_front_desk'), 'authenticated', '{}'::text[], tests.id_of('patients', 'a_patient1'),
        'req-42', '10.0.0.1', 'carebase-test/1.0', 'PATCH', '/patients') $$,
    'an update is logged: who, which row, the changed fields only, request id, client IP, agent, method, path'
);
select is(
    (
        select old_values ->> 'email' from audit.log
        where request_id = 'req-42'
    ),
    null, 'the old value of the changed field is kept (none before)'
);
select ok(
    (
        select count(*) from audit.log
        where table_name = 'public.care_team_members' and action = 'INSERT'
    ) >= 7,
    'existing tables are audited (the world''s care-team rows)'
);

-- Reads through PostgREST: the pre-request function ----------------------------------------------
select tests.act_as('a_doctor');
select set_config('request.method', 'POST', true);
select set_config('request.path', '/clinical_notes', true);
select set_config('request.headers', '{"x-request-id": "req-read-1", "x-forwarded-for": "198.51.100.9"}', true);
select public.db_pre_request();
select tests.clear_authentication();
select results_eq(
    $$ select action, table_name, actor_id, ip_address, details ->> 'via' from audit.log
        where request_id = 'req-read-1' $$,
    $$ values ('READ', 'public.clinical_notes', tests.user_id('a_doctor'), '198.51.100.9', 'pre-request') $$,
    'a request on a clinical resource is logged as a READ by the pre-request function (with the client IP)'
);

-- Secrets never enter the log ----------------------------------------------------------------
select tests.act_as('a_doctor');
select public.issue_prescription(
    tests.id_of('patients', 'a_patient1'), '[{"name": "Amoxicillin", "quantity": 15}]', notes => 'drink water'
) is not null;
select tests.clear_authentication();
select results_eq(
    $$ select new_values ->> 'notes', actor_roles::text[], hospital_id from audit.log
        where table_name = 'public.prescriptions' and action = 'INSERT' order by seq desc limit 1 $$,
    $$ values ('[encrypted]', array['doctor'], tests.id_of('hospitals', 'TSTA')) $$,
    'ciphertext columns read [encrypted]; the actor''s roles at the row''s hospital are recorded'
);
select is_empty(
    $$ select 1 from audit.log where new_values::text like '%drink water%' or new_values::text like '%Amoxicillin%' $$,
    'no decrypted secret is in the log'
);

-- The chain -------------------------------------------------------------------------------------
select results_eq(
    $$ select valid, first_bad_seq, problem from public.verify_audit_chain() $$,
    $$ values (true, null::bigint, null::text) $$,
    'the chain verifies on untouched data'
);
select results_eq(
    $$ select (select count(*) from audit.log) = (select seq from audit.chain_head),
        (select bool_and(l.prev_hash = p.hash) from audit.log as l join audit.log as p on p.seq = l.seq - 1) $$,
    $$ values (true, true) $$,
    'sequence numbers have no gap and each row links to the one before'
);
select isnt(
    (select seq from private.anchor_audit_chain()), null, 'the head can be anchored'
);
select results_eq(
    $$ select valid from public.verify_audit_chain() $$, array[true], 'and still verifies with an anchor'
);
select results_eq(
    $$ select valid, checked from public.verify_audit_chain(2, 3) $$,
    $$ values (true, 2::bigint) $$,
    'a range verifies on its own'
);
select ok(
    (
        select count(*) from pg_catalog.pg_inherits as i
        where i.inhparent = 'audit.log'::regclass
    ) >= 4,
    'the log is partitioned by month (this month, three ahead and a default)'
);

-- Append-only for every role ----------------------------------------------------------------
select throws_ok(
    $$ update audit.log set action = 'READ' where seq = 1 $$, '42501', null,
    'the owner (postgres) cannot update audit rows'
);
select throws_ok(
    $$ delete from audit.log where seq = 1 $$, '42501', null, 'the owner cannot delete audit rows'
);
select throws_ok($$ truncate audit.log $$, '42501', null, 'the owner cannot truncate the log');
select throws_ok(
    $$ delete from audit.anchors $$, '42501', null, 'the owner cannot delete anchors'
);
select tests.act_as_service_role();
select throws_ok(
    $$ update audit.log set action = 'READ' where seq = 1 $$, '42501', null, 'the service role cannot update audit rows'
);
select throws_ok(
    $$ delete from audit.log where seq = 1 $$, '42501', null, 'the service role cannot delete audit rows'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ delete from audit.log where seq = 1 $$, '42501', null, 'an admin cannot delete audit rows'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ update audit.log set action = 'READ' $$, '42501', null, 'a patient cannot update audit rows'
);

-- Who reads the trail ---------------------------------------------------------------------------
select tests.act_as('a_admin');
select ok(
    exists (
        select from public.audit_trail
        where request_id = 'req-42'
    )
    and not exists (
        select from public.audit_trail
        where hospital_id = tests.id_of('hospitals', 'TSTB')
    ),
    'an admin reads their hospital''s trail (patients registered there included), not another hospital''s'
);
select tests.act_as('b_admin');
select is_empty(
    $$ select 1 from public.audit_trail where request_id = 'req-42' $$,
    'another hospital''s admin does not see it'
);
select tests.act_as('a_patient1');
select ok(
    exists (
        select from public.record_disclosures
        where actor_id = tests.user_id('a_front_desk') and table_name = 'public.patients'
    ),
    'a patient reads who accessed their record and when (accounting of disclosures)'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ select 1 from public.record_disclosures where table_name = 'public.patients'
        and row_id = tests.id_of('patients', 'a_patient1')::text $$,
    'another patient does not'
);

select * from finish();
rollback;
