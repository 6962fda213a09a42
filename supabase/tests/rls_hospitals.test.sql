-- RLS matrix for public.hospitals: who reads, creates, renames and deletes which hospital.
-- Staff and patients see only the hospitals they work at or are registered at; only a hospital's
-- admin renames it (and never its code); nobody but the service role creates or deletes one.
-- Outcomes as in tests.check_matrix: the hospitals seen, 'done', 'none' (the row is hidden),
-- 'denied' (no table or column privilege).

begin;
select plan(140);

select tests.create_world();

-- Reads, creation and deletion -------------------------------------------------------------
select tests.action('read', $$ select tests.seen('hospitals') $$);
select tests.action('create TSTX', $$
    insert into public.hospitals (code, name) values ('TSTX', 'Probe Hospital') returning 'done'
$$);
select tests.action('delete TSTA', $$
    delete from public.hospitals where id = tests.id_of('hospitals', 'TSTA') returning 'done'
$$);

-- actor, read, create TSTX, delete TSTA
select tests.expect('anon', 'denied', 'denied', 'denied');
select tests.expect('a_patient1', 'TSTA', 'denied', 'denied');
select tests.expect('a_patient2', 'TSTA', 'denied', 'denied');
select tests.expect('a_archived', 'none', 'denied', 'denied');
select tests.expect('b_patient3', 'TSTB', 'denied', 'denied');
select tests.expect('a_doctor', 'TSTA', 'denied', 'denied');
select tests.expect('a_doctor2', 'TSTA', 'denied', 'denied');
select tests.expect('a_nurse', 'TSTA', 'denied', 'denied');
select tests.expect('a_pharmacist', 'TSTA', 'denied', 'denied');
select tests.expect('a_front_desk', 'TSTA', 'denied', 'denied');
select tests.expect('a_cro', 'TSTA', 'denied', 'denied');
select tests.expect('a_admin', 'TSTA', 'denied', 'denied');
select tests.expect('a_revoked_doctor', 'none', 'denied', 'denied');
select tests.expect('b_admin', 'TSTB', 'denied', 'denied');
select tests.expect('nobody', 'none', 'denied', 'denied');
select tests.expect('service_role', 'TSTA, TSTB', 'done', null);
select * from tests.check_matrix('hospitals');

-- Updates: only the hospital's own admin renames it; the code (which prefixes its MRNs) and
-- the active flag are the service role's --------------------------------------------------
select tests.action('rename TSTA', $$
    update public.hospitals set name = 'Renamed by ' || current_setting('tests.actor')
    where id = tests.id_of('hospitals', 'TSTA') returning 'done'
$$);
select tests.action('rename TSTB', $$
    update public.hospitals set name = 'Renamed by ' || current_setting('tests.actor')
    where id = tests.id_of('hospitals', 'TSTB') returning 'done'
$$);
select tests.action('recode TSTA', $$
    update public.hospitals set code = 'TSTZ' where id = tests.id_of('hospitals', 'TSTA') returning 'done'
$$);
select tests.action('deactivate TSTA', $$
    update public.hospitals set is_active = false where id = tests.id_of('hospitals', 'TSTA') returning 'done'
$$);
select tests.action('deactivate TSTX', $$
    update public.hospitals set is_active = false where code = 'TSTX' returning 'done'
$$);
select tests.action('delete TSTX', $$ delete from public.hospitals where code = 'TSTX' returning 'done' $$);

-- actor, rename TSTA, rename TSTB, recode TSTA, deactivate TSTA, deactivate TSTX, delete TSTX
select tests.expect('anon', 'denied', 'denied', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_patient1', 'none', 'none', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_patient2', 'none', 'none', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_archived', 'none', 'none', 'denied', 'denied', 'denied', 'denied');
select tests.expect('b_patient3', 'none', 'none', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_doctor', 'none', 'none', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_doctor2', 'none', 'none', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_nurse', 'none', 'none', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_pharmacist', 'none', 'none', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_front_desk', 'none', 'none', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_cro', 'none', 'none', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_admin', 'done', 'none', 'denied', 'denied', 'denied', 'denied');
select tests.expect('a_revoked_doctor', 'none', 'none', 'denied', 'denied', 'denied', 'denied');
select tests.expect('b_admin', 'none', 'done', 'denied', 'denied', 'denied', 'denied');
select tests.expect('nobody', 'none', 'none', 'denied', 'denied', 'denied', 'denied');
select tests.expect('service_role', null, null, null, null, 'done', 'done');
select * from tests.check_matrix('hospitals');

select results_eq(
    $$ select code, name from public.hospitals where code in ('TSTA', 'TSTB') order by code $$,
    $$ values ('TSTA', 'Renamed by a_admin'), ('TSTB', 'Renamed by b_admin') $$,
    'only each hospital''s own admin renamed it'
);

select * from finish();
rollback;
