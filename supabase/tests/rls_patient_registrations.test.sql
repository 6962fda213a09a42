-- RLS matrix for public.patient_registrations (a patient at a hospital, under an MRN). A patient
-- reads their own registrations (their MRN is on their card) but changes nothing of them, least
-- of all the MRN or the hospital; a doctor or nurse reads the registration of their care-team
-- patients at their own hospital; front desk and CRO read their hospital's registrations; front
-- desk, CRO and admin register patients at their own hospital only; front desk corrects the
-- referral source; only the admin archives and restores. Archived patients and registrations
-- are visible to admins only. Registrations are archived, never deleted.

begin;
select plan(72);

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

-- select ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.patient_registrations $$,
    '42501',
    'permission denied for table patient_registrations',
    'anon cannot read patient_registrations (no table privilege)'
);
select tests.act_as('a_patient1');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    array['a_patient1@TSTA'],
    'a patient sees their own registration (with their MRN) and no other'
);
select tests.act_as('a_patient2');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    array['a_patient2@TSTA'],
    'another patient sees their own registration only'
);
select tests.act_as('b_patient3');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    array['b_patient3@TSTB'],
    'a patient of B sees their own registration only'
);
select tests.act_as('a_archived');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    '{}'::text[],
    'an archived patient no longer sees their registration'
);
select tests.act_as('a_doctor');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    array['a_patient1@TSTA'],
    'a doctor sees the registration of their care-team patient only'
);
select tests.act_as('a_doctor2');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    '{}'::text[],
    'a doctor with no patients sees no registration'
);
select tests.act_as('a_nurse');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    array['a_patient1@TSTA', 'ab_patient4@TSTA'],
    'a nurse sees the registrations of their care-team patients at A, not ab_patient4''s registration at B'
);
select tests.act_as('a_pharmacist');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    '{}'::text[],
    'the pharmacist of A sees no registration'
);
select tests.act_as('a_front_desk');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    array['a_patient1@TSTA', 'a_patient2@TSTA', 'ab_patient4@TSTA'],
    'front desk of A sees the registrations at A, not the archived patient''s, none at B'
);
select tests.act_as('a_cro');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    array['a_patient1@TSTA', 'a_patient2@TSTA', 'ab_patient4@TSTA'],
    'the CRO of A sees the registrations at A, not the archived patient''s, none at B'
);
select tests.act_as('a_admin');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    array['a_archived@TSTA', 'a_patient1@TSTA', 'a_patient2@TSTA', 'ab_patient4@TSTA'],
    'the admin of A sees every registration at A, the archived patient''s included'
);
select tests.act_as('b_admin');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    array['ab_patient4@TSTB', 'b_patient3@TSTB'],
    'the admin of B sees the registrations at B only'
);
select tests.act_as('b_doctor');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    array['ab_patient4@TSTB', 'b_patient3@TSTB'],
    'a doctor of B sees their care-team patients'' registrations at B, not ab_patient4''s at A'
);
select tests.act_as('a_revoked_doctor');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    '{}'::text[],
    'a revoked doctor sees no registration'
);
select tests.act_as('nobody');
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    '{}'::text[],
    'a user with no role sees no registration'
);
select tests.act_as_service_role();
select set_eq(
    $$ select tests.seen('patient_registrations') $$,
    array[
        'a_archived@TSTA', 'a_patient1@TSTA', 'a_patient2@TSTA', 'ab_patient4@TSTA', 'ab_patient4@TSTB',
        'b_patient3@TSTB'
    ],
    'the service role sees every registration'
);

-- insert ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'walk_in_one'), tests.id_of('hospitals', 'TSTA'), 'TSTA-W0001') $$,
    '42501',
    'permission denied for table patient_registrations',
    'anon cannot register a patient (no insert privilege)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTB'), 'TSTB-W0001') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'a patient cannot register themselves at another hospital'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'walk_in_one'), tests.id_of('hospitals', 'TSTA'), 'TSTA-W0001') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'another patient (a_patient2) cannot register a patient at A'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'walk_in_one'), tests.id_of('hospitals', 'TSTA'), 'TSTA-W0001') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'a doctor on the care team (a_doctor) cannot register a patient at A'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'walk_in_one'), tests.id_of('hospitals', 'TSTA'), 'TSTA-W0001') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'a doctor of A not on the care team (a_doctor2) cannot register a patient at A'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'walk_in_one'), tests.id_of('hospitals', 'TSTA'), 'TSTA-W0001') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'a nurse on the care team (a_nurse) cannot register a patient at A'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'walk_in_one'), tests.id_of('hospitals', 'TSTA'), 'TSTA-W0001') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'the pharmacist of A cannot register a patient at A'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'walk_in_one'), tests.id_of('hospitals', 'TSTA'), 'TSTA-W0001') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'a revoked doctor of A cannot register a patient at A'
);
select tests.act_as('nobody');
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'walk_in_one'), tests.id_of('hospitals', 'TSTA'), 'TSTA-W0001') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'a user with no role cannot register a patient at A'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'walk_in_one'), tests.id_of('hospitals', 'TSTA'), 'TSTA-W0001') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'the admin of B cannot register a patient at A'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'walk_in_one'), tests.id_of('hospitals', 'TSTB'), 'TSTB-W0001') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'front desk of A cannot register a patient at B'
);
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn, deleted_at)
        values (tests.id_of('patients', 'walk_in_one'), tests.id_of('hospitals', 'TSTA'), 'TSTA-W0001',
        now()) $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'front desk of A cannot create an archived registration'
);
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'b_patient3'), tests.id_of('hospitals', 'TSTA'), 'TSTA-W0003') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'front desk of A cannot register a patient of B by their id (the patient issues a code)'
);
select tests.act_as('a_cro');
select isnt_empty(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'walk_in_one'), tests.id_of('hospitals', 'TSTA'), 'TSTA-W0001')
        returning 1 $$,
    'the CRO of A can register a patient at A'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'walk_in_two'), tests.id_of('hospitals', 'TSTB'), 'TSTB-W0002') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'the admin of A cannot register a patient at B'
);
select isnt_empty(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'walk_in_two'), tests.id_of('hospitals', 'TSTA'), 'TSTA-W0002')
        returning 1 $$,
    'the admin of A can register a patient at A'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'walk_in_one'), tests.id_of('hospitals', 'TSTB'), 'TSTB-W0001')
        returning 1 $$,
    'the service role can register a patient anywhere'
);
select tests.clear_authentication();
select results_eq(
    $$ select p.full_name, h.code, r.mrn from public.patient_registrations as r
        join public.patients as p on p.id = r.patient_id join public.hospitals as h on h.id = r.hospital_id
        where r.mrn like '%-W%' order by r.mrn $$,
    $$ values ('Walk-in One', 'TSTA', 'TSTA-W0001'), ('Walk-in Two', 'TSTA', 'TSTA-W0002'),
        ('Walk-in One', 'TSTB', 'TSTB-W0001') $$,
    'only the registrations by front desk, CRO and admin of A and by the service role were made'
);

-- update ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ update public.patient_registrations set referral_source = 'Set by anon'
        where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'anon cannot edit a registration (no update privilege)'
);
select tests.act_as('a_patient1');
select is_empty(
    $$ update public.patient_registrations set referral_source = 'Set by a_patient1'
        where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') returning 1 $$,
    'a patient cannot edit their own registration'
);
select throws_ok(
    $$ update public.patient_registrations set mrn = 'MINE-0001'
        where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'a patient cannot change their MRN (no column privilege)'
);
select throws_ok(
    $$ update public.patient_registrations set hospital_id = tests.id_of('hospitals', 'TSTB')
        where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'a patient cannot move their registration to another hospital (no column privilege)'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ update public.patient_registrations set referral_source = 'Set by a_patient2'
        where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') returning 1 $$,
    'another patient (a_patient2) cannot edit the registration of a_patient1'
);
select tests.act_as('a_doctor');
select is_empty(
    $$ update public.patient_registrations set referral_source = 'Set by a_doctor'
        where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') returning 1 $$,
    'a doctor on the care team (a_doctor) cannot edit the registration of a_patient1'
);
select tests.act_as('a_doctor2');
select is_empty(
    $$ update public.patient_registrations set referral_source = 'Set by a_doctor2'
        where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') returning 1 $$,
    'a doctor of A not on the care team (a_doctor2) cannot edit the registration of a_patient1'
);
select tests.act_as('a_nurse');
select is_empty(
    $$ update public.patient_registrations set referral_source = 'Set by a_nurse'
        where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') returning 1 $$,
    'a nurse on the care team (a_nurse) cannot edit the registration of a_patient1'
);
select tests.act_as('a_pharmacist');
select is_empty(
    $$ update public.patient_registrations set referral_source = 'Set by a_pharmacist'
        where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') returning 1 $$,
    'the pharmacist of A cannot edit the registration of a_patient1'
);
select tests.act_as('a_cro');
select is_empty(
    $$ update public.patient_registrations set referral_source = 'Set by a_cro'
        where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') returning 1 $$,
    'the CRO of A cannot edit the registration of a_patient1'
);
select tests.act_as('a_revoked_doctor');
select is_empty(
    $$ update public.patient_registrations set referral_source = 'Set by a_revoked_doctor'
        where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') returning 1 $$,
    'a revoked doctor of A cannot edit the registration of a_patient1'
);
select tests.act_as('nobody');
select is_empty(
    $$ update public.patient_registrations set referral_source = 'Set by nobody'
        where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') returning 1 $$,
    'a user with no role cannot edit the registration of a_patient1'
);
select tests.act_as('b_admin');
select is_empty(
    $$ update public.patient_registrations set referral_source = 'Set by b_admin'
        where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') returning 1 $$,
    'the admin of B cannot edit a registration at A'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ update public.patient_registrations set referral_source = 'Set by a_front_desk'
        where id = tests.id_of('patient_registrations', 'b_patient3@TSTB') returning 1 $$,
    'front desk of A cannot edit a registration at B'
);
select is_empty(
    $$ update public.patient_registrations set referral_source = 'Set by a_front_desk'
        where id = tests.id_of('patient_registrations', 'a_archived@TSTA') returning 1 $$,
    'front desk of A cannot edit the registration of an archived patient'
);
select throws_ok(
    $$ update public.patient_registrations set deleted_at = now()
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'new row violates row-level security policy for table "patient_registrations"',
    'front desk of A cannot archive a registration'
);
select throws_ok(
    $$ update public.patient_registrations set mrn = 'TSTA-FIXED'
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'front desk of A cannot change an MRN (no column privilege)'
);
select isnt_empty(
    $$ update public.patient_registrations set referral_source = 'Set by a_front_desk'
        where id = tests.id_of('patient_registrations', 'a_patient1@TSTA') returning 1 $$,
    'front desk of A can fix the referral source of a registration at A'
);
select tests.act_as('a_admin');
select is_empty(
    $$ update public.patient_registrations set referral_source = 'Set by a_admin'
        where id = tests.id_of('patient_registrations', 'b_patient3@TSTB') returning 1 $$,
    'the admin of A cannot edit a registration at B'
);
select throws_ok(
    $$ update public.patient_registrations set mrn = 'TSTA-FIXED'
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'even the admin of A cannot change an MRN (no column privilege)'
);
select isnt_empty(
    $$ update public.patient_registrations set deleted_at = now()
        where id = tests.id_of('patient_registrations', 'ab_patient4@TSTA') returning 1 $$,
    'the admin of A can archive a registration at A'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ update public.patient_registrations set referral_source = 'Set by service_role'
        where id = tests.id_of('patient_registrations', 'b_patient3@TSTB') returning 1 $$,
    'the service role can edit any registration'
);
select tests.clear_authentication();
select results_eq(
    $$ select w.name, r.referral_source, r.deleted_at is not null from public.patient_registrations as r
        join tests.world as w on w.kind = 'patient_registrations' and w.id = r.id order by w.name $$,
    $$ values ('a_archived@TSTA', 'walk-in', true), ('a_patient1@TSTA', 'Set by a_front_desk', false),
        ('a_patient2@TSTA', 'walk-in', false), ('ab_patient4@TSTA', 'walk-in', true), ('ab_patient4@TSTB',
        'walk-in', false),
        ('b_patient3@TSTB', 'Set by service_role', false) $$,
    'only the allowed edits reached the registrations'
);

-- delete ----------------------------------------------------------------------------------
select tests.act_as_anon();
select throws_ok(
    $$ delete from public.patient_registrations
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'anon cannot delete a registration (no delete privilege: registrations are archived)'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ delete from public.patient_registrations
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'a patient (a_patient1) cannot delete a registration (no delete privilege: registrations are archived)'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ delete from public.patient_registrations
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'another patient (a_patient2) cannot delete a registration (no delete privilege: registrations are archived)'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ delete from public.patient_registrations
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'a doctor on the care team (a_doctor) cannot delete a registration (no delete privilege: registrations '
    || 'are archived)'
);
select tests.act_as('a_doctor2');
select throws_ok(
    $$ delete from public.patient_registrations
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'a doctor of A not on the care team (a_doctor2) cannot delete a registration (no delete privilege: '
    || 'registrations are archived)'
);
select tests.act_as('a_nurse');
select throws_ok(
    $$ delete from public.patient_registrations
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'a nurse on the care team (a_nurse) cannot delete a registration (no delete privilege: registrations are '
    || 'archived)'
);
select tests.act_as('a_pharmacist');
select throws_ok(
    $$ delete from public.patient_registrations
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'the pharmacist of A cannot delete a registration (no delete privilege: registrations are archived)'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ delete from public.patient_registrations
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'front desk of A cannot delete a registration (no delete privilege: registrations are archived)'
);
select tests.act_as('a_cro');
select throws_ok(
    $$ delete from public.patient_registrations
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'the CRO of A cannot delete a registration (no delete privilege: registrations are archived)'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ delete from public.patient_registrations
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'the admin of A cannot delete a registration (no delete privilege: registrations are archived)'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ delete from public.patient_registrations
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'the admin of B cannot delete a registration (no delete privilege: registrations are archived)'
);
select tests.act_as('a_revoked_doctor');
select throws_ok(
    $$ delete from public.patient_registrations
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'a revoked doctor of A cannot delete a registration (no delete privilege: registrations are archived)'
);
select tests.act_as('nobody');
select throws_ok(
    $$ delete from public.patient_registrations
        where id = tests.id_of('patient_registrations', 'a_patient2@TSTA') $$,
    '42501',
    'permission denied for table patient_registrations',
    'a user with no role cannot delete a registration (no delete privilege: registrations are archived)'
);
select tests.act_as_service_role();
select isnt_empty(
    $$ delete from public.patient_registrations where mrn = 'TSTB-W0001' returning 1 $$,
    'the service role can delete a registration'
);

select * from finish();
rollback;
