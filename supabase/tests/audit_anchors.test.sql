-- What the sidecar's anchor exporter and verifier read and write (migration 20261202120001):
-- service-role RPCs only; the canonical text the verifier re-hashes is exactly what the chain
-- hashes; a segment fingerprints every row; an exported anchor is recorded only for a row as
-- it stands, and stays append-only. (The exporter, the verifier and the owner's re-hash are in
-- tests/test_audit_anchors.py.)
begin;
select plan(14);

select tests.create_world();

-- Service role only ----------------------------------------------------------------------------
select tests.act_as('a_admin');
select throws_ok(
    $$ select * from public.audit_chain_head() $$, '42501', null,
    'an admin cannot read the chain head through the anchor RPCs'
);
select throws_ok(
    $$ select * from public.audit_anchor_segment(0) $$, '42501', null, 'nor a segment to anchor'
);
select throws_ok(
    $$ select * from public.audit_log_canonical(1, 2) $$, '42501', null, 'nor the canonical rows'
);
select throws_ok(
    $$ select public.record_audit_anchor(1, '00', 1, 'k', 'AAAA', 'x') $$, '42501', null,
    'nor record an anchor'
);
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.audit_exported_anchors() $$, '42501', null,
    'anonymous callers cannot list the exported anchors'
);

-- What the verifier re-hashes ---------------------------------------------------------------------
select tests.act_as_service_role();
select is_empty(
    $$ select c.seq from public.audit_log_canonical(1, (select seq from public.audit_chain_head())) as c
        where encode(extensions.digest(convert_to(c.canonical, 'UTF8'), 'sha256'), 'hex') <> c.hash $$,
    'every row''s hash is the SHA-256 of its canonical text (the verifier re-hashes it outside the database)'
);
select is(
    (select count(*) from public.audit_log_canonical(1, (select seq from public.audit_chain_head()))),
    (select seq from public.audit_chain_head()),
    'every row up to the head is read'
);
select throws_ok(
    $$ select * from public.audit_log_canonical(1, 20000) $$, '22023', null,
    'a long chain is read in pages'
);

-- What the exporter signs -----------------------------------------------------------------------
select results_eq(
    $$ select s.head_seq, s.from_seq, s.seq, s.hash, length(s.fingerprints)
        from public.audit_anchor_segment(0) as s $$,
    $$ select h.seq, 1::bigint, h.seq, h.hash, (16 * h.seq)::integer from public.audit_chain_head() as h $$,
    'a segment from the start runs to the head: its last row''s hash and one 8-byte fingerprint per row'
);
select is(
    (select s.fingerprints from public.audit_anchor_segment(2, 3) as s),
    (
        select string_agg(left(c.hash, 16), '' order by c.seq)
        from public.audit_log_canonical(3, 5) as c
    ),
    'each fingerprint is the start of that row''s hash; at most max_rows rows'
);
select is(
    (select s.after_hash from public.audit_anchor_segment(5, 1) as s),
    (select c.hash from public.audit_log_canonical(5, 5) as c),
    'the segment says what the row after which it starts hashes to now (the last anchor''s row)'
);

-- Recording an exported anchor -------------------------------------------------------------------
select throws_ok(
    $$ select public.record_audit_anchor(5, repeat('00', 32), 1, 'k1', 'AAAA', 'anchor-000000000001.json') $$,
    '22023', 'audit row 5 does not have the anchored hash',
    'an anchor is recorded only for the row as it stands'
);
select public.record_audit_anchor(
    5, (select c.hash from public.audit_log_canonical(5, 5) as c), 1, 'k1', 'AAAA', 'anchor-000000000001.json'
);
select results_eq(
    $$ select a.exported_number, a.seq, a.key_id, a.location,
            (select v.valid from public.verify_audit_chain() as v)
        from public.audit_exported_anchors() as a where a.key_id = 'k1' $$,
    $$ values (1::bigint, 5::bigint, 'k1', 'anchor-000000000001.json', true) $$,
    'the exported anchor is recorded, and the in-database verification checks against it'
);
select tests.clear_authentication();
select throws_ok(
    $$ update audit.anchors set signature = '\x00' $$, '42501', null,
    'recorded anchors are append-only, the owner included'
);

select * from finish();
rollback;
