-- The test world, shared by every test file: two hospitals (TSTA and TSTB) with a full staff
-- each, their patients and care teams, and the edge cases access control must get right: a
-- doctor whose membership was revoked but who is still on a care team, an archived patient,
-- a patient registered at both hospitals and a signed-up user with no role at all.
--
-- Like the helpers, the functions are created and committed here (this file runs second);
-- each test file calls tests.create_world() inside its own transaction and rolls back.
--
-- Who is who (login name = tests.act_as name):
--   TSTA  a_admin, a_doctor (care team of a_patient1), a_doctor2 (no patients),
--         a_nurse (care team of a_patient1 and ab_patient4), a_pharmacist (TSTA Central
--         Pharmacy), a_front_desk, a_cro, a_revoked_doctor (membership deactivated, still on
--         a_patient1's care team)
--   TSTB  b_admin, b_doctor (care team of b_patient3 and ab_patient4), b_doctor2, b_nurse
--         (care team of b_patient3), b_pharmacist, b_front_desk, b_cro
--   patients  a_patient1, a_patient2 (TSTA, with logins), a_archived (TSTA, archived, with a
--         login), b_patient3 (TSTB, with a login), ab_patient4 (TSTA and TSTB, no login)
--   nobody  signed up, no membership, no patient record
begin;

-- Every fixture row by table (`kind`) and a readable name: what id_of and seen read.
drop table if exists tests.world;
create table tests.world (
    kind text not null,
    name text not null,
    id uuid not null,
    primary key (kind, name)
);
grant select on tests.world to anon, authenticated, service_role;

-- The id of a fixture row, e.g. tests.id_of('hospitals', 'TSTA'),
-- tests.id_of('patients', 'a_patient1'); an unknown name is an error, never a silent null.
create or replace function tests.id_of(kind text, name text)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
    found uuid;
begin
    select w.id into found
    from tests.world as w
    where w.kind = id_of.kind and w.name = id_of.name;
    if found is null then
        raise exception 'tests.id_of: no % named % (was tests.create_world() called?)', id_of.kind, id_of.name;
    end if;
    return found;
end;
$$;

-- The names of the fixture rows of public.<kind> the current role can see (RLS applies:
-- security invoker). Demo-seed rows are never counted.
create or replace function tests.seen(kind text)
returns setof text
language plpgsql
set search_path = ''
as $$
begin
    return query execute format(
        'select w.name from public.%I as t join tests.world as w on w.id = t.id where w.kind = %L',
        seen.kind, seen.kind
    );
end;
$$;

-- Builds the world once per transaction. Security definer: it writes every table as their
-- owner, whatever role the caller acts in.
create or replace function tests.create_world()
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
    person record;
begin
    -- Audit entries join the chain when their transaction commits; a test transaction never
    -- commits, so the tests link them at the end of each statement instead and read the chain
    -- as a commit leaves it (audit_link_at_commit.test.sql sets it back to deferred).
    set constraints audit.pending_link immediate;
    if exists (select from tests.world) then
        return;
    end if;

    with inserted as (
        insert into public.hospitals (code, name, city, state, phone, email)
        values
        ('TSTA', 'Test Hospital A', 'Patiala', 'Punjab', '+911750000001', 'a@hospital.test'),
        ('TSTB', 'Test Hospital B', 'Sangrur', 'Punjab', '+911672000001', 'b@hospital.test')
        returning id, code
    )

    insert into tests.world (kind, name, id)
    select 'hospitals', i.code, i.id from inserted as i;

    for person in
        select *
        from (
            values
            ('a_admin', null), ('a_doctor', null), ('a_doctor2', null), ('a_nurse', null),
            ('a_pharmacist', null), ('a_front_desk', null), ('a_cro', null), ('a_revoked_doctor', null),
            ('b_admin', null), ('b_doctor', null), ('b_doctor2', null), ('b_nurse', null),
            ('b_pharmacist', null), ('b_front_desk', null), ('b_cro', null),
            ('a_patient1', '+919800010001'), ('a_patient2', '+919800010002'),
            ('a_archived', '+919800010009'), ('b_patient3', '+919800020003'),
            ('nobody', null)
        ) as p (name, phone)
    loop
        insert into tests.world (kind, name, id)
        values ('profiles', person.name, tests.create_user(person.name, person.phone));
    end loop;

    with inserted as (
        insert into public.staff_memberships (user_id, hospital_id, role)
        select tests.id_of('profiles', m.name), tests.id_of('hospitals', m.code), m.role::public.app_role
        from (
            values
            ('a_admin', 'TSTA', 'hospital_admin'), ('a_doctor', 'TSTA', 'doctor'),
            ('a_doctor2', 'TSTA', 'doctor'), ('a_nurse', 'TSTA', 'nurse'),
            ('a_pharmacist', 'TSTA', 'pharmacist'), ('a_front_desk', 'TSTA', 'front_desk'),
            ('a_cro', 'TSTA', 'cro'), ('a_revoked_doctor', 'TSTA', 'doctor'),
            ('b_admin', 'TSTB', 'hospital_admin'), ('b_doctor', 'TSTB', 'doctor'),
            ('b_doctor2', 'TSTB', 'doctor'), ('b_nurse', 'TSTB', 'nurse'),
            ('b_pharmacist', 'TSTB', 'pharmacist'), ('b_front_desk', 'TSTB', 'front_desk'),
            ('b_cro', 'TSTB', 'cro')
        ) as m (name, code, role)
        returning id, user_id
    )

    insert into tests.world (kind, name, id)
    select 'staff_memberships', w.name, i.id
    from inserted as i
    join tests.world as w on w.kind = 'profiles' and w.id = i.user_id;

    with inserted as (
        insert into public.doctors (user_id, hospital_id, specialty, licence_number, bio)
        select tests.id_of('profiles', d.name), tests.id_of('hospitals', d.code), d.specialty, d.licence, d.bio
        from (
            values
            ('a_doctor', 'TSTA', 'General Medicine', 'PMC-A-1001', 'Family physician'),
            ('a_doctor2', 'TSTA', 'Paediatrics', 'PMC-A-1002', 'Children'),
            ('a_revoked_doctor', 'TSTA', 'Cardiology', 'PMC-A-1003', 'Heart'),
            ('b_doctor', 'TSTB', 'General Medicine', 'PMC-B-2001', 'Family physician'),
            ('b_doctor2', 'TSTB', 'Dermatology', 'PMC-B-2002', 'Skin')
        ) as d (name, code, specialty, licence, bio)
        returning id, user_id
    )

    insert into tests.world (kind, name, id)
    select 'doctors', w.name, i.id
    from inserted as i
    join tests.world as w on w.kind = 'profiles' and w.id = i.user_id;

    with inserted as (
        insert into public.pharmacies (hospital_id, name, is_default, is_active)
        select tests.id_of('hospitals', p.code), p.pharmacy, p.is_default, p.is_active
        from (
            values
            ('a_central', 'TSTA', 'TSTA Central Pharmacy', true, true),
            ('a_old', 'TSTA', 'TSTA Old Pharmacy', false, false),
            ('b_central', 'TSTB', 'TSTB Central Pharmacy', true, true)
        ) as p (name, code, pharmacy, is_default, is_active)
        returning id, name
    )

    insert into tests.world (kind, name, id)
    select 'pharmacies', case i.name
        when 'TSTA Central Pharmacy' then 'a_central'
        when 'TSTA Old Pharmacy' then 'a_old'
        else 'b_central'
    end, i.id
    from inserted as i;

    with inserted as (
        insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
        values
        (
            tests.id_of('profiles', 'a_pharmacist'), tests.id_of('hospitals', 'TSTA'),
            tests.id_of('pharmacies', 'a_central'), 'PCI-A-3001'
        ),
        (
            tests.id_of('profiles', 'b_pharmacist'), tests.id_of('hospitals', 'TSTB'),
            tests.id_of('pharmacies', 'b_central'), 'PCI-B-4001'
        )
        returning id, user_id
    )

    insert into tests.world (kind, name, id)
    select 'pharmacists', w.name, i.id
    from inserted as i
    join tests.world as w on w.kind = 'profiles' and w.id = i.user_id;

    with inserted as (
        insert into public.patients (
            user_id, full_name, phone, date_of_birth, sex, emergency_contact_name,
            emergency_contact_phone, emergency_contact_relation, deleted_at
        )
        select
            case when p.has_login then tests.id_of('profiles', p.name) end,
            p.full_name, p.phone, p.born, p.sex::public.sex, 'Relative of ' || p.full_name,
            '+919900000000', 'spouse', case when p.archived then now() end
        from (
            values
            ('a_patient1', true, 'Gurmeet Singh', '+919800010001', date '1970-03-01', 'male', false),
            ('a_patient2', true, 'Baljit Kaur', '+919800010002', date '1985-07-15', 'female', false),
            ('a_archived', true, 'Old Record', '+919800010009', date '1950-01-01', 'male', true),
            ('b_patient3', true, 'Paramjit Kaur', '+919800020003', date '1990-11-30', 'female', false),
            ('ab_patient4', false, 'Sukhdev Singh', '+919800030004', date '1960-05-05', 'male', false)
        ) as p (name, has_login, full_name, phone, born, sex, archived)
        returning id, full_name
    )

    insert into tests.world (kind, name, id)
    select 'patients', case i.full_name
        when 'Gurmeet Singh' then 'a_patient1'
        when 'Baljit Kaur' then 'a_patient2'
        when 'Old Record' then 'a_archived'
        when 'Paramjit Kaur' then 'b_patient3'
        else 'ab_patient4'
    end, i.id
    from inserted as i;

    -- Explicit MRNs, so that the hospitals' MRN counters are untouched for the tests.
    with inserted as (
        insert into public.patient_registrations (patient_id, hospital_id, mrn, referral_source, deleted_at)
        select
            tests.id_of('patients', r.patient), tests.id_of('hospitals', r.code), r.mrn, 'walk-in',
            -- As erasing the person does (patients_archive_registrations).
            case when r.patient = 'a_archived' then now() end
        from (
            values
            ('a_patient1', 'TSTA', 'TSTA-T0001'), ('a_patient2', 'TSTA', 'TSTA-T0002'),
            ('a_archived', 'TSTA', 'TSTA-T0009'), ('ab_patient4', 'TSTA', 'TSTA-T0004'),
            ('b_patient3', 'TSTB', 'TSTB-T0003'), ('ab_patient4', 'TSTB', 'TSTB-T0004')
        ) as r (patient, code, mrn)
        returning id, patient_id, hospital_id
    )

    insert into tests.world (kind, name, id)
    select 'patient_registrations', p.name || '@' || h.name, i.id
    from inserted as i
    join tests.world as p on p.kind = 'patients' and p.id = i.patient_id
    join tests.world as h on h.kind = 'hospitals' and h.id = i.hospital_id;

    with inserted as (
        insert into public.care_team_members (patient_id, hospital_id, member_id, member_role, is_primary)
        select
            tests.id_of('patients', c.patient), tests.id_of('hospitals', c.code),
            tests.id_of('profiles', c.member), c.role::public.app_role, c.is_primary
        from (
            values
            ('a_doctor', 'a_patient1', 'TSTA', 'doctor', true),
            ('a_nurse', 'a_patient1', 'TSTA', 'nurse', false),
            ('a_revoked_doctor', 'a_patient1', 'TSTA', 'doctor', false),
            ('a_nurse', 'ab_patient4', 'TSTA', 'nurse', false),
            ('b_doctor', 'b_patient3', 'TSTB', 'doctor', true),
            ('b_nurse', 'b_patient3', 'TSTB', 'nurse', false),
            ('b_doctor', 'ab_patient4', 'TSTB', 'doctor', true)
        ) as c (member, patient, code, role, is_primary)
        returning id, member_id, patient_id, hospital_id
    )

    -- Named member:patient@hospital, e.g. 'a_doctor:a_patient1@TSTA'.
    insert into tests.world (kind, name, id)
    select 'care_team_members', m.name || ':' || p.name || '@' || h.name, i.id
    from inserted as i
    join tests.world as m on m.kind = 'profiles' and m.id = i.member_id
    join tests.world as p on p.kind = 'patients' and p.id = i.patient_id
    join tests.world as h on h.kind = 'hospitals' and h.id = i.hospital_id;

    -- The revoked doctor: TSTA's admin deactivated the membership; the doctor profile and the
    -- care-team assignment were left as they were.
    update public.staff_memberships as m
    set is_active = false
    from tests.world as w
    where w.kind = 'staff_memberships' and w.name = 'a_revoked_doctor' and m.id = w.id;
end;
$$;

revoke execute on function tests.create_world() from public;
grant execute on function tests.id_of(text, text) to anon, authenticated, service_role;
grant execute on function tests.seen(text) to anon, authenticated, service_role;
commit;

begin;
select plan(16);

select tests.create_world();
select tests.create_world();

select results_eq(
    $$ select kind, count(*)::integer from tests.world group by kind order by kind $$,
    $$
        values
        ('care_team_members', 7), ('doctors', 5), ('hospitals', 2), ('patient_registrations', 6),
        ('patients', 5), ('pharmacies', 3), ('pharmacists', 2), ('profiles', 20), ('staff_memberships', 15)
    $$,
    'calling create_world twice in a transaction builds the world once'
);
select is_empty(
    $$ select w.name from tests.world as w left join public.profiles as p on p.id = w.id
        where w.kind = 'profiles' and p.id is null $$,
    'every world user has a profile'
);
select results_eq(
    $$ select w.name, h.code, m.role::text from tests.world as w
        join public.staff_memberships as m on m.id = w.id join public.hospitals as h on h.id = m.hospital_id
        where w.kind = 'staff_memberships' and w.name in ('a_nurse', 'b_cro') order by 1 $$,
    $$ values ('a_nurse', 'TSTA', 'nurse'), ('b_cro', 'TSTB', 'cro') $$,
    'memberships are named after their user and sit at the user''s hospital'
);
select results_eq(
    $$ select count(*)::integer from tests.world as w join public.doctors as d on d.id = w.id
        where w.kind = 'doctors' $$,
    array[5],
    'the world has five doctor profiles'
);
select results_eq(
    $$ select count(*)::integer from tests.world as w join public.patient_registrations as r on r.id = w.id
        where w.kind = 'patient_registrations' $$,
    array[6],
    'the world has six registrations (ab_patient4 at both hospitals)'
);
select results_eq(
    $$ select p.full_name from public.patient_registrations as r join public.patients as p on p.id = r.patient_id
        where r.id = tests.id_of('patient_registrations', 'ab_patient4@TSTB') $$,
    array['Sukhdev Singh'],
    'registrations are named patient@hospital'
);
select results_eq(
    $$ select c.member_role::text, c.is_primary from public.care_team_members as c
        where c.id = tests.id_of('care_team_members', 'a_doctor:a_patient1@TSTA') $$,
    $$ values ('doctor', true) $$,
    'care-team assignments are named member:patient@hospital'
);
select results_eq(
    $$ select is_active, deactivated_at is not null from public.staff_memberships
        where id = tests.id_of('staff_memberships', 'a_revoked_doctor') $$,
    $$ values (false, true) $$,
    'the revoked doctor''s membership is deactivated, with its time recorded'
);
select results_eq(
    $$ select count(*)::integer from public.care_team_members
        where id = tests.id_of('care_team_members', 'a_revoked_doctor:a_patient1@TSTA') and ended_at is null $$,
    array[1],
    'the revoked doctor is still on a_patient1''s care team'
);
select results_eq(
    $$ select deleted_at is not null from public.patients where id = tests.id_of('patients', 'a_archived') $$,
    array[true],
    'the archived patient is archived'
);
select results_eq(
    $$ select user_id from public.patients where id = tests.id_of('patients', 'a_patient1') $$,
    array[tests.user_id('a_patient1')],
    'a_patient1 signs in as the a_patient1 user'
);
select results_eq(
    $$ select user_id is null from public.patients where id = tests.id_of('patients', 'ab_patient4') $$,
    array[true],
    'ab_patient4 has no login'
);
select is_empty(
    $$ select 1 from public.staff_memberships where user_id = tests.user_id('nobody')
        union all select 1 from public.patients where user_id = tests.user_id('nobody') $$,
    'nobody has neither a membership nor a patient record'
);
select results_eq(
    $$ select code from public.hospitals
        where id in (tests.id_of('hospitals', 'TSTA'), tests.id_of('hospitals', 'TSTB')) order by code $$,
    array['TSTA', 'TSTB'],
    'the hospitals are TSTA and TSTB, codes the demo seed does not use'
);
select throws_ok(
    $$ select tests.id_of('patients', 'no_such_patient') $$,
    'P0001', 'tests.id_of: no patients named no_such_patient (was tests.create_world() called?)',
    'id_of refuses an unknown name instead of returning null'
);

select tests.act_as('a_doctor');
select set_eq(
    $$ select tests.seen('patients') $$, array['a_patient1'],
    'seen() lists the fixture rows the acting user can see'
);

select * from finish();
rollback;
