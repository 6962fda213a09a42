-- Audit entries join the hash chain when their transaction commits (migration
-- 20261204002000): until then they wait in audit.pending and the chain head is not locked; the
-- link gives them the next seqs in append order, each hashed with its predecessor; a
-- rolled-back subtransaction leaves no entry and no gap. This file does not call
-- tests.create_world() (which links at every statement): it runs as a real transaction does,
-- and `set constraints audit.pending_link immediate` stands in for the commit it never makes.
-- Two transactions committing at once, and a rollback, are in tests/test_audit_link_at_commit.py.
begin;
select plan(17);

create temporary table head_before on commit drop as
select
    h.seq,
    h.hash
from audit.chain_head as h;

-- Before the commit ---------------------------------------------------------------------------
insert into public.patients (full_name, phone) values ('Link Test One', '+919811100001');
-- A write in a subtransaction that rolls back (as a savepoint or an exception block does).
do $$
begin
    insert into public.patients (full_name, phone) values ('Link Test Rolled Back', '+919811100009');
    raise exception 'roll back';
exception
    when raise_exception then null;
end;
$$;
update public.patients set city = 'Rajpura'
where full_name = 'Link Test One';

select is_empty(
    $$ select from audit.log where new_values ->> 'full_name' like 'Link Test%'
        or new_values ->> 'city' = 'Rajpura' $$,
    'before the commit, the transaction''s entries are not in the chain'
);
select results_eq(
    $$ select (p.entry).action, (p.entry).new_values ->> 'full_name', (p.entry).seq, (p.entry).hash
        from audit.pending as p where p.xact = pg_current_xact_id() order by p.id $$,
    $$ values ('INSERT', 'Link Test One', null::bigint, null::bytea), ('UPDATE', null, null, null) $$,
    'they wait in audit.pending in append order, without a link; the rolled-back subtransaction left none'
);
select is(
    (select h.seq from audit.chain_head as h), (select b.seq from head_before as b),
    'the chain head has not moved'
);
select isnt(
    (select h.xmax from audit.chain_head as h), pg_current_xact_id()::xid,
    'and this transaction has not locked it: other writers are not held up'
);
select results_eq(
    $$ select v.valid, v.checked from public.verify_audit_chain() as v $$,
    $$ select true, b.seq from head_before as b $$,
    'the committed chain verifies, the unlinked entries not being part of it yet'
);

-- The commit's link -------------------------------------------------------------------------
set constraints audit.pending_link immediate;

select results_eq(
    $$ select l.seq - b.seq, l.action, l.table_name from audit.log as l, head_before as b
        where l.seq > b.seq order by l.seq $$,
    $$ values (1::bigint, 'INSERT', 'public.patients'), (2, 'UPDATE', 'public.patients') $$,
    'at the commit, they take the next sequence numbers, no gap, in the order they were written'
);
select is(
    (
        select l.prev_hash from audit.log as l
        where l.seq = (select b.seq + 1 from head_before as b)
    ),
    (select b.hash from head_before as b),
    'the first links to the head as it stood'
);
select is(
    (
        select l.prev_hash from audit.log as l
        where l.seq = (select b.seq + 2 from head_before as b)
    ),
    (
        select l.hash from audit.log as l
        where l.seq = (select b.seq + 1 from head_before as b)
    ),
    'the second links to the first'
);
select is_empty(
    $$ select l.seq from audit.log as l, head_before as b
        where l.seq > b.seq and l.hash <> private.audit_hash(l) $$,
    'each hash covers the entry with its link'
);
select results_eq(
    $$ select h.seq - b.seq, h.hash = (select l.hash from audit.log as l where l.seq = h.seq)
        from audit.chain_head as h, head_before as b $$,
    $$ values (2::bigint, true) $$,
    'the head moved to the last of them'
);
select is_empty(
    $$ select from audit.pending as p where p.xact = pg_current_xact_id() $$,
    'nothing is left pending'
);
select is(
    (select h.xmax from audit.chain_head as h), pg_current_xact_id()::xid,
    'from the link to the commit the head is this transaction''s'
);
select results_eq(
    $$ select v.valid, v.checked from public.verify_audit_chain() as v $$,
    $$ select true, b.seq + 2 from head_before as b $$,
    'the chain verifies with them'
);

-- An entry written after the link is linked by the next one ----------------------------------
set constraints audit.pending_link deferred;
select private.audit_append('READ', 'public.patients', null, null, null, '{}', null, null, '{"via": "test"}');
select is(
    (
        select count(*) from audit.log as l
        where l.seq > (select b.seq from head_before as b)
    ),
    2::bigint,
    'a later entry waits for the commit too'
);
set constraints audit.pending_link immediate;
select results_eq(
    $$ select l.seq - b.seq, l.action, l.details ->> 'via', l.prev_hash = (
            select p.hash from audit.log as p where p.seq = l.seq - 1
        )
        from audit.log as l, head_before as b where l.seq > b.seq + 2 $$,
    $$ values (3::bigint, 'READ', 'test', true) $$,
    'and then follows the others in the chain'
);

-- The trigger that makes the link ----------------------------------------------------------
select results_eq(
    $$ select t.tgenabled::text, t.tgdeferrable, t.tginitdeferred from pg_catalog.pg_trigger as t
        where t.tgrelid = 'audit.pending'::regclass and t.tgname = 'pending_link' $$,
    $$ values ('A', true, true) $$,
    'the link fires at commit (initially deferred) and also in replica mode (enabled always)'
);
select is(
    (
        select c.relpersistence::text from pg_catalog.pg_class as c
        where c.oid = 'audit.pending'::regclass
    ),
    'u', 'audit.pending is unlogged: its rows never outlive their transaction'
);

select * from finish();
rollback;
