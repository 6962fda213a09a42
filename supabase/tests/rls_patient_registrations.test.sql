-- RLS matrix for public.patient_registrations (a patient at a hospital, under an MRN). A patient
-- reads their own registrations (their MRN is on their card) but changes nothing of them, least
-- of all the MRN or the hospital; a doctor or nurse reads the registration of their care-team
-- patients at their own hospital; front desk and CRO read their hospital's registrations; front
-- desk, CRO and admin register patients at their own hospital only; front desk corrects the
-- referral source; only the admin archives and restores. Archived patients and registrations
-- are visible to admins only. Registrations are archived, never deleted.
-- Outcomes as in tests.check_matrix: the registrations seen (patient@hospital), 'done', 'none'
-- (the row is hidden), 'denied' (no table or column privilege), 'refused' (a policy refused
-- the new or changed row).

begin;
select plan(112);

select tests.create_world();
-- Two people known to nobody yet (no registration anywhere), to be registered.
with inserted as (
    insert into public.patients (full_name)
    values ('Walk-in One'), ('Walk-in Two')
    returning id, full_name
)

insert into tests.world (kind, name, id)
select
    'patients',
    case i.full_name when 'Walk-in One' then 'walk_in_one' else 'walk_in_two' end,
    i.id
from inserted as i;
-- New persons, as if created by the API in this transaction (rpc/register_patient): only
-- those may be registered without the person's code.
select private.allow_registration_of(id) from tests.world
where name in ('walk_in_one', 'walk_in_two');

-- Reads: a patient their own; the care team their patients' at their hospital; front desk and
-- CRO their hospital's; the admin those too, archived ones included --------------------------
select tests.action('read', $$ select tests.seen('patient_registrations') $$);

select tests.expect('anon', 'denied');
select tests.expect('a_patient1', 'a_patient1@TSTA');
select tests.expect('a_patient2', 'a_patient2@TSTA');
select tests.expect('a_archived', 'none');
select tests.expect('b_patient3', 'b_patient3@TSTB');
select tests.expect('a_doctor', 'a_patient1@TSTA');
select tests.expect('a_doctor2', 'none');
select tests.expect('a_nurse', 'a_patient1@TSTA, ab_patient4@TSTA');
select tests.expect('a_pharmacist', 'none');
select tests.expect('a_front_desk', 'a_patient1@TSTA, a_patient2@TSTA, ab_patient4@TSTA');
select tests.expect('a_cro', 'a_patient1@TSTA, a_patient2@TSTA, ab_patient4@TSTA');
select tests.expect('a_admin', 'a_archived@TSTA, a_patient1@TSTA, a_patient2@TSTA, ab_patient4@TSTA');
select tests.expect('a_revoked_doctor', 'none');
select tests.expect('b_doctor', 'ab_patient4@TSTB, b_patient3@TSTB');
select tests.expect('b_doctor2', 'none');
select tests.expect('b_nurse', 'b_patient3@TSTB');
select tests.expect('b_pharmacist', 'none');
select tests.expect('b_front_desk', 'ab_patient4@TSTB, b_patient3@TSTB');
select tests.expect('b_cro', 'ab_patient4@TSTB, b_patient3@TSTB');
select tests.expect('b_admin', 'ab_patient4@TSTB, b_patient3@TSTB');
select tests.expect('nobody', 'none');
select tests.expect(
    'service_role',
    'a_archived@TSTA, a_patient1@TSTA, a_patient2@TSTA, ab_patient4@TSTA, ab_patient4@TSTB, b_patient3@TSTB'
);
select * from tests.check_matrix('patient_registrations');

-- Registering: front desk, CRO and admin, at their own hospital, a new person not archived ------
create function pg_temp.register(patient text, hospital text, mrn text, archived boolean default false)
returns text
language sql
as $$
    select format(
        'insert into public.patient_registrations (patient_id, hospital_id, mrn, deleted_at) '
        || 'values (tests.id_of(''patients'', %L), tests.id_of(''hospitals'', %L), %L, %s) returning ''done''',
        patient, hospital, mrn, case when archived then 'now()' else 'null' end
    );
$$;
select tests.action('walk_in_one at TSTA, archived', pg_temp.register('walk_in_one', 'TSTA', 'TSTA-W0001', true));
select tests.action('b_patient3 at TSTA', pg_temp.register('b_patient3', 'TSTA', 'TSTA-W0003'));
select tests.action('a_patient1 at TSTB', pg_temp.register('a_patient1', 'TSTB', 'TSTB-W0001'));
select tests.action('walk_in_two at TSTB', pg_temp.register('walk_in_two', 'TSTB', 'TSTB-W0002'));
select tests.action('walk_in_one at TSTA', pg_temp.register('walk_in_one', 'TSTA', 'TSTA-W0001'));
select tests.action('walk_in_two at TSTA', pg_temp.register('walk_in_two', 'TSTA', 'TSTA-W0002'));
select tests.action('walk_in_one at TSTB', pg_temp.register('walk_in_one', 'TSTB', 'TSTB-W0001'));

-- actor, walk_in_one at TSTA archived, b_patient3 at TSTA (a patient of B, by their id),
-- a_patient1 at TSTB, walk_in_two at TSTB, walk_in_one at TSTA, walk_in_two at TSTA, walk_in_one at TSTB
select tests.expect('anon', null, null, null, null, 'denied', null, null);
select tests.expect('a_patient1', null, null, 'refused', null, null, null, null);
select tests.expect('a_patient2', null, null, null, null, 'refused', null, null);
select tests.expect('a_doctor', null, null, null, null, 'refused', null, null);
select tests.expect('a_doctor2', null, null, null, null, 'refused', null, null);
select tests.expect('a_nurse', null, null, null, null, 'refused', null, null);
select tests.expect('a_pharmacist', null, null, null, null, 'refused', null, null);
select tests.expect('a_revoked_doctor', null, null, null, null, 'refused', null, null);
select tests.expect('nobody', null, null, null, null, 'refused', null, null);
select tests.expect('b_admin', null, null, null, null, 'refused', null, null);
select tests.expect('a_front_desk', 'refused', 'refused', null, null, null, null, 'refused');
select tests.expect('a_cro', null, null, null, null, 'done', null, null);
select tests.expect('a_admin', null, null, null, 'refused', null, 'done', null);
select tests.expect('service_role', null, null, null, null, null, null, 'done');
select * from tests.check_matrix('patient_registrations');

select results_eq(
    $$ select p.full_name, h.code, r.mrn from public.patient_registrations as r
        join public.patients as p on p.id = r.patient_id join public.hospitals as h on h.id = r.hospital_id
        where r.mrn like '%-W%' order by r.mrn $$,
    $$ values ('Walk-in One', 'TSTA', 'TSTA-W0001'), ('Walk-in Two', 'TSTA', 'TSTA-W0002'),
        ('Walk-in One', 'TSTB', 'TSTB-W0001') $$,
    'only the registrations by front desk, CRO and admin of A and by the service role were made'
);

-- The MRN and the hospital of a registration never change (no column privilege) ---------------
select tests.action('a_patient1@TSTA''s MRN', $$
    update public.patient_registrations set mrn = 'MINE-0001'
    where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') returning 'done'
$$);
select tests.action('move a_patient1@TSTA to TSTB', $$
    update public.patient_registrations set hospital_id = tests.id_of('hospitals', 'TSTB')
    where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') returning 'done'
$$);
select tests.action('a_patient2@TSTA''s MRN', $$
    update public.patient_registrations set mrn = 'TSTA-FIXED'
    where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') returning 'done'
$$);

-- actor, a_patient1@TSTA's MRN, move a_patient1@TSTA to TSTB, a_patient2@TSTA's MRN
select tests.expect('anon', 'denied', 'denied', 'denied');
select tests.expect('a_patient1', 'denied', 'denied', 'denied');
select tests.expect('a_patient2', 'denied', 'denied', 'denied');
select tests.expect('a_doctor', 'denied', 'denied', 'denied');
select tests.expect('a_doctor2', 'denied', 'denied', 'denied');
select tests.expect('a_nurse', 'denied', 'denied', 'denied');
select tests.expect('a_pharmacist', 'denied', 'denied', 'denied');
select tests.expect('a_front_desk', 'denied', 'denied', 'denied');
select tests.expect('a_cro', 'denied', 'denied', 'denied');
select tests.expect('a_admin', 'denied', 'denied', 'denied');
select tests.expect('b_admin', 'denied', 'denied', 'denied');
select tests.expect('a_revoked_doctor', 'denied', 'denied', 'denied');
select tests.expect('nobody', 'denied', 'denied', 'denied');
select * from tests.check_matrix('patient_registrations');

-- Editing: front desk fixes the referral source at their hospital; only the admin archives ------
create function pg_temp.set_referral(registration text)
returns text
language sql
as $$
    select format(
        'update public.patient_registrations set referral_source = ''Set by '' || current_setting(''tests.actor'') '
        || 'where id = tests.id_of(''patient_registrations'', %L) returning ''done''',
        registration
    );
$$;
select tests.action('a_patient1@TSTA''s referral', pg_temp.set_referral('a_patient1@TSTA'));
select tests.action('b_patient3@TSTB''s referral', pg_temp.set_referral('b_patient3@TSTB'));
select tests.action('a_archived@TSTA''s referral', pg_temp.set_referral('a_archived@TSTA'));
select tests.action('archive a_patient2@TSTA', $$
    update public.patient_registrations set deleted_at = now()
    where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') returning 'done'
$$);
select tests.action('archive ab_patient4@TSTA', $$
    update public.patient_registrations set deleted_at = now()
    where id = tests.id_of('patient_registrations', 'ab_patient4@TSTA') returning 'done'
$$);

-- actor, the referral source of: a_patient1@TSTA, b_patient3@TSTB, a_archived@TSTA;
-- archive a_patient2@TSTA, archive ab_patient4@TSTA
select tests.expect('anon', 'denied', null, null, null, null);
-- Not even their own.
select tests.expect('a_patient1', 'none', null, null, null, null);
select tests.expect('a_patient2', 'none', null, null, null, null);
select tests.expect('a_doctor', 'none', null, null, null, null);
select tests.expect('a_doctor2', 'none', null, null, null, null);
select tests.expect('a_nurse', 'none', null, null, null, null);
select tests.expect('a_pharmacist', 'none', null, null, null, null);
select tests.expect('a_cro', 'none', null, null, null, null);
select tests.expect('a_revoked_doctor', 'none', null, null, null, null);
select tests.expect('nobody', 'none', null, null, null, null);
select tests.expect('b_admin', 'none', null, null, null, null);
select tests.expect('a_front_desk', 'done', 'none', 'none', 'refused', null);
select tests.expect('a_admin', null, 'none', null, null, 'done');
select tests.expect('service_role', null, 'done', null, null, null);
select * from tests.check_matrix('patient_registrations');

select results_eq(
    $$ select w.name, r.referral_source, r.deleted_at is not null from public.patient_registrations as r
        join tests.world as w on w.kind = 'patient_registrations' and w.id = r.id order by w.name $$,
    $$ values ('a_archived@TSTA', 'walk-in', true), ('a_patient1@TSTA', 'Set by a_front_desk', false),
        ('a_patient2@TSTA', 'walk-in', false), ('ab_patient4@TSTA', 'walk-in', true), ('ab_patient4@TSTB',
        'walk-in', false),
        ('b_patient3@TSTB', 'Set by service_role', false) $$,
    'only the allowed edits reached the registrations'
);

-- Deleting: nobody but the service role (registrations are archived) ------------------------------
select tests.action('delete a_patient2@TSTA', $$
    delete from public.patient_registrations where id = tests.id_of('patient_registrations', 'a_patient2@TSTA')
    returning 'done'
$$);
select tests.action('delete walk_in_one@TSTB', $$
    delete from public.patient_registrations where mrn = 'TSTB-W0001' returning 'done'
$$);

-- actor, delete a_patient2@TSTA, delete walk_in_one@TSTB
select tests.expect('anon', 'denied', null);
select tests.expect('a_patient1', 'denied', null);
select tests.expect('a_patient2', 'denied', null);
select tests.expect('a_doctor', 'denied', null);
select tests.expect('a_doctor2', 'denied', null);
select tests.expect('a_nurse', 'denied', null);
select tests.expect('a_pharmacist', 'denied', null);
select tests.expect('a_front_desk', 'denied', null);
select tests.expect('a_cro', 'denied', null);
select tests.expect('a_admin', 'denied', null);
select tests.expect('b_admin', 'denied', null);
select tests.expect('a_revoked_doctor', 'denied', null);
select tests.expect('nobody', 'denied', null);
select tests.expect('service_role', null, 'done');
select * from tests.check_matrix('patient_registrations');

select * from finish();
rollback;
