-- RLS matrix for public.patients (the person: demographics, phone, emergency contact).
-- A patient reads and edits only their own record, never their phone (it is their sign-in) and
-- never its archiving; a doctor or nurse reads only the patients of their care team; front desk
-- and CRO read the patients registered at their hospital, and front desk corrects them; the
-- admin reads and edits all of them, archived ones included (archived patients are visible to
-- admins only). Registering staff create people (public.register_patient adds the
-- registration in the same transaction). Patients are archived, never deleted.
-- Outcomes as in tests.check_matrix: the patients seen, 'done', 'none' (the row is hidden),
-- 'denied' (no table or column privilege), 'refused' (a policy refused the new row).

begin;
select plan(103);

select tests.create_world();

-- Reads: a patient their own record; the care team its patients; front desk and CRO the
-- patients registered at their hospital; the admin those too, archived ones included ----------
select tests.action('read', $$ select tests.seen('patients') $$);

select tests.expect('anon', 'denied');
select tests.expect('a_patient1', 'a_patient1');
select tests.expect('a_patient2', 'a_patient2');
select tests.expect('a_archived', 'none');
select tests.expect('b_patient3', 'b_patient3');
select tests.expect('a_doctor', 'a_patient1');
select tests.expect('a_doctor2', 'none');
select tests.expect('a_nurse', 'a_patient1, ab_patient4');
select tests.expect('a_pharmacist', 'none');
select tests.expect('a_front_desk', 'a_patient1, a_patient2, ab_patient4');
select tests.expect('a_cro', 'a_patient1, a_patient2, ab_patient4');
select tests.expect('a_admin', 'a_archived, a_patient1, a_patient2, ab_patient4');
select tests.expect('a_revoked_doctor', 'none');
select tests.expect('b_doctor', 'ab_patient4, b_patient3');
select tests.expect('b_doctor2', 'none');
select tests.expect('b_nurse', 'b_patient3');
select tests.expect('b_pharmacist', 'none');
select tests.expect('b_front_desk', 'ab_patient4, b_patient3');
select tests.expect('b_cro', 'ab_patient4, b_patient3');
select tests.expect('b_admin', 'ab_patient4, b_patient3');
select tests.expect('nobody', 'none');
select tests.expect('service_role', 'a_archived, a_patient1, a_patient2, ab_patient4, b_patient3');
select * from tests.check_matrix('patients');

-- Creating: registering staff (front desk, CRO, admin) create a person with no login, not
-- archived; the service role any ----------------------------------------------------------
select tests.action('create a walk-in', $$
    insert into public.patients (full_name) values ('Walk-in by ' || current_setting('tests.actor'))
$$);
select tests.action('create one linked to nobody', $$
    insert into public.patients (full_name, user_id) values ('Claimed', tests.user_id('nobody'))
$$);
select tests.action('create an archived one', $$
    insert into public.patients (full_name, deleted_at) values ('Archived at birth', now())
$$);

-- actor, create a walk-in, create one linked to nobody, create an archived one
select tests.expect('anon', 'denied', null, null);
select tests.expect('a_patient1', 'refused', null, null);
select tests.expect('a_patient2', 'refused', null, null);
select tests.expect('a_archived', 'refused', null, null);
select tests.expect('b_patient3', 'refused', null, null);
select tests.expect('a_doctor', 'refused', null, null);
select tests.expect('a_doctor2', 'refused', null, null);
select tests.expect('a_nurse', 'refused', null, null);
select tests.expect('a_pharmacist', 'refused', null, null);
select tests.expect('a_revoked_doctor', 'refused', null, null);
select tests.expect('nobody', 'refused', null, null);
select tests.expect('a_front_desk', 'done', 'refused', 'refused');
select tests.expect('a_cro', 'done', 'refused', 'refused');
select tests.expect('a_admin', 'done', 'refused', 'refused');
select tests.expect('b_admin', 'done', null, null);
select tests.expect('service_role', 'done', null, null);
select * from tests.check_matrix('patients');

select results_eq(
    $$ select full_name from public.patients where full_name like 'Walk-in by %' order by full_name $$,
    $$ values ('Walk-in by a_admin'), ('Walk-in by a_cro'), ('Walk-in by a_front_desk'),
        ('Walk-in by b_admin'),
        ('Walk-in by service_role') $$,
    'only registering staff and the service role created patients'
);

-- A patient's own record: the emergency contact, never the phone (their sign-in), the archiving
-- or the login ------------------------------------------------------------------------------
select tests.action('own emergency contact', $$
    update public.patients set emergency_contact_name = 'Set by ' || current_setting('tests.actor'),
        emergency_contact_phone = '+919900000001'
    where user_id = auth.uid() returning 'done'
$$);
select tests.action('own phone', $$
    update public.patients set phone = '+919811111111' where user_id = auth.uid() returning 'done'
$$);
select tests.action('archive own', $$
    update public.patients set deleted_at = now() where user_id = auth.uid() returning 'done'
$$);
select tests.action('hand own to nobody', $$
    update public.patients set user_id = tests.user_id('nobody') where user_id = auth.uid() returning 'done'
$$);

-- actor, own emergency contact, own phone, archive own, hand own to nobody
select tests.expect(
    'a_patient1', 'done', '42501: patients cannot change their phone number on their record', 'denied', 'denied'
);
select tests.expect(
    'b_patient3', null, '42501: patients cannot change their phone number on their record', 'denied', 'denied'
);
select * from tests.check_matrix('patients');

-- Others' records: front desk corrects the patients of their hospital (the phone included),
-- the admin edits them; nobody erases a person (archiving is per hospital registration) -----
create function pg_temp.set_city(patient text)
returns text
language sql
as $$
    select format(
        'update public.patients set city = ''Set by '' || current_setting(''tests.actor'') '
        || 'where id = tests.id_of(''patients'', %L) returning ''done''',
        patient
    );
$$;
select tests.action('a_patient1''s city', pg_temp.set_city('a_patient1'));
select tests.action('a_patient2''s city', pg_temp.set_city('a_patient2'));
select tests.action('ab_patient4''s city', pg_temp.set_city('ab_patient4'));
select tests.action('b_patient3''s city', pg_temp.set_city('b_patient3'));
select tests.action('a_archived''s city', pg_temp.set_city('a_archived'));
select tests.action('archive a_patient2', $$
    update public.patients set deleted_at = now() where id = tests.id_of('patients', 'a_patient2') returning 'done'
$$);
select tests.action('a_patient1''s phone', $$
    update public.patients set phone = '+919800010099' where id = tests.id_of('patients', 'a_patient1')
    returning 'done'
$$);
select tests.action('b_patient3''s phone', $$
    update public.patients set phone = '+919800020099' where id = tests.id_of('patients', 'b_patient3')
$$);

-- actor, the city of: a_patient1, a_patient2, ab_patient4, b_patient3, a_archived; archive a_patient2,
-- a_patient1's phone, b_patient3's phone
select tests.expect('anon', 'denied', null, null, null, null, null, null, null);
select tests.expect('a_patient1', null, 'none', null, null, null, null, null, null);
select tests.expect('a_patient2', 'none', null, null, null, null, null, null, null);
select tests.expect('a_doctor', 'none', null, null, null, null, null, null, null);
select tests.expect('a_doctor2', 'none', null, null, null, null, null, null, null);
select tests.expect('a_nurse', 'none', null, null, null, null, null, null, null);
select tests.expect('a_pharmacist', 'none', null, null, null, null, null, null, null);
select tests.expect('a_cro', 'none', null, null, null, null, null, null, null);
select tests.expect('a_revoked_doctor', 'none', null, null, null, null, null, null, null);
select tests.expect('nobody', 'none', null, null, null, null, null, null, null);
-- ab_patient4 is registered at B too; a_patient1 only at A.
select tests.expect('b_admin', 'none', null, 'done', null, null, null, null, null);
select tests.expect('a_front_desk', null, null, null, 'none', 'none', 'denied', 'done', null);
select tests.expect('a_admin', null, null, null, 'none', null, 'denied', null, null);
select tests.expect('service_role', null, null, null, null, null, null, null, 'done');
select * from tests.check_matrix('patients');

-- Archiving is per hospital registration: the admin archives and restores it.
select tests.act_as('a_admin');
select isnt_empty(
    $$ update public.patient_registrations set deleted_at = now()
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') returning 1 $$,
    'the admin of A can archive the registration of a patient of A'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ select 1 from public.patients where id = tests.id_of('patients', 'a_patient2') $$,
    'once archived at A, the patient disappears for the front desk of A'
);
select tests.act_as('a_admin');
select isnt_empty(
    $$ update public.patient_registrations set deleted_at = null
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') returning 1 $$,
    'the admin of A can restore the archived registration'
);
select tests.act_as('a_front_desk');
select isnt_empty(
    $$ select 1 from public.patients where id = tests.id_of('patients', 'a_patient2') $$,
    'once restored, the front desk of A sees the patient again'
);
select tests.clear_authentication();
select results_eq(
    $$ select w.name, p.phone::text, p.emergency_contact_name, p.city, p.deleted_at is not null
        from public.patients as p join tests.world as w on w.kind = 'patients' and w.id = p.id
        order by w.name $$,
    $$ values
        ('a_archived', '+919800010009', 'Relative of Old Record', null, true),
        ('a_patient1', '+919800010099', 'Set by a_patient1', null, false),
        ('a_patient2', '+919800010002', 'Relative of Baljit Kaur', null, false),
        ('ab_patient4', '+919800030004', 'Relative of Sukhdev Singh', 'Set by b_admin', false),
        ('b_patient3', '+919800020099', 'Relative of Paramjit Kaur', null, false) $$,
    'only the allowed edits reached the patient records'
);

-- Deleting: nobody but the service role (patients are archived) -----------------------------------
select tests.action('delete a_patient1', $$
    delete from public.patients where id = tests.id_of('patients', 'a_patient1') returning 'done'
$$);
select tests.action('delete a_patient2', $$
    delete from public.patients where id = tests.id_of('patients', 'a_patient2') returning 'done'
$$);
select tests.action('delete the walk-in', $$
    delete from public.patients where full_name = 'Walk-in by service_role' returning 'done'
$$);

-- actor, delete a_patient1, delete a_patient2, delete the walk-in
select tests.expect('anon', 'denied', 'denied', null);
select tests.expect('a_patient1', 'denied', 'denied', null);
select tests.expect('a_patient2', 'denied', 'denied', null);
select tests.expect('a_doctor', 'denied', 'denied', null);
select tests.expect('a_doctor2', 'denied', 'denied', null);
select tests.expect('a_nurse', 'denied', 'denied', null);
select tests.expect('a_pharmacist', 'denied', 'denied', null);
select tests.expect('a_front_desk', 'denied', 'denied', null);
select tests.expect('a_cro', 'denied', 'denied', null);
select tests.expect('a_admin', 'denied', 'denied', null);
select tests.expect('b_admin', 'denied', 'denied', null);
select tests.expect('a_revoked_doctor', 'denied', 'denied', null);
select tests.expect('nobody', 'denied', 'denied', null);
select tests.expect('service_role', null, null, 'done');
select * from tests.check_matrix('patients');

select * from finish();
rollback;
