-- Converting a lead (issue 17 item 5) and instant booking (item 6): a lead matching a registered
-- patient links instead of duplicating, never on a shared phone alone; a new person gets a
-- patient, a registration and the hospital's next MRN, gapless even when a conversion fails;
-- converting twice, or in a role the pipeline refuses, changes nothing; the lead's appointments
-- become the patient's. A new lead is booked into today's first free slot of its doctor; when the
-- last slot is gone it is entered without one, never refused. (Concurrent conversions and two
-- leads racing for one slot: tests/test_leads_over_http.py.)
begin;
select plan(27);

select tests.create_world();

create function pg_temp.lead(name text, phone text, sex public.sex default null, actor text default 'a_front_desk')
returns uuid
language plpgsql
as $$
declare
    made uuid;
begin
    perform tests.act_as(actor);
    made := (public.create_lead(tests.id_of('hospitals', 'TSTA'), name, phone, sex => sex) -> 'lead' ->> 'id')::uuid;
    perform tests.clear_authentication();
    return tests.remember(name, made);
end;
$$;

create function pg_temp.mrn_year() returns text language sql as $$
    select 'TSTA-' || extract(year from now() at time zone 'UTC')::text || '-'
$$;
grant execute on function pg_temp.lead(text, text, public.sex, text), pg_temp.mrn_year() to authenticated;

-- A new person -----------------------------------------------------------------------------------
select pg_temp.lead('Amandeep Sidhu', '+919812300001', 'female');
select tests.act_as('a_front_desk');
select
    tests.remember(
        'converted',
        (public.convert_lead(tests.recall('Amandeep Sidhu'), born_on => '1992-04-02') ->> 'patient_id')::uuid
    );
select results_eq(
    $$ select p.full_name, p.phone::text, p.sex::text, p.date_of_birth, r.mrn, r.referral_source, r.registered_by
        from public.patients as p join public.patient_registrations as r on r.patient_id = p.id
        where p.id = tests.recall('converted') $$,
    $$ values ('Amandeep Sidhu', '+919812300001', 'female', date '1992-04-02', pg_temp.mrn_year() || '000001',
        'Walk-In', tests.user_id('a_front_desk')) $$,
    'a lead nobody matches becomes a patient registered at its hospital with the year''s first MRN'
);
select results_eq(
    $$ select status::text, patient_id, converted_at is not null from public.leads
        where id = tests.recall('Amandeep Sidhu') $$,
    $$ values ('converted', tests.recall('converted'), true) $$,
    'the lead is converted and names its patient'
);
select results_eq(
    $$ select from_state, to_state, actor_role::text from public.status_history
        where subject_id = tests.recall('Amandeep Sidhu') order by occurred_at desc limit 1 $$,
    $$ values ('new_inquiry', 'converted', 'front_desk') $$,
    'the conversion is a move of the pipeline, in the history'
);
select throws_ok(
    format($$ select public.convert_lead(%L) $$, tests.recall('Amandeep Sidhu')),
    'PT409', 'this lead was converted already',
    'converting twice is refused'
);
select is(
    (
        select count(*)::integer from public.patients
        where full_name = 'Amandeep Sidhu'
    ),
    1, 'and made no second patient'
);

-- An existing patient: linked, not duplicated ---------------------------------------------------------
-- a_patient2 is Baljit Kaur, female, +919800010002, registered at TSTA as TSTA-T0002.
select pg_temp.lead('Baljit Kaur', '+919800010002', 'female');
select tests.act_as('a_front_desk');
select results_eq(
    $$ select patient_id, mrn, score >= 0.55 from public.lead_matches(tests.recall('Baljit Kaur')) $$,
    $$ values (tests.id_of('patients', 'a_patient2'), 'TSTA-T0002', true) $$,
    'rpc/lead_matches shows the registered patient the lead looks like'
);
select results_eq(
    $$ select (c ->> 'patient_id')::uuid, c ->> 'mrn', (c ->> 'linked')::boolean,
            (c -> 'match' ->> 'score')::numeric >= 0.55
        from public.convert_lead(tests.recall('Baljit Kaur')) as c $$,
    $$ values (tests.id_of('patients', 'a_patient2'), 'TSTA-T0002', true, true) $$,
    'a lead matching a registered patient is linked to them (with the match''s score)'
);
select is(
    (
        select count(*)::integer from public.patients
        where full_name = 'Baljit Kaur'
    ),
    1, 'instead of a duplicate'
);
-- Her mother asks from the same phone: a phone alone is no match.
select pg_temp.lead('Gurdeep Kaur', '+919800010002', 'female');
select tests.act_as('a_front_desk');
select is_empty(
    $$ select 1 from public.lead_matches(tests.recall('Gurdeep Kaur')) $$,
    'a lead sharing only a phone with a patient matches nobody'
);
select results_eq(
    $$ select (c ->> 'linked')::boolean, c ->> 'mrn' from public.convert_lead(tests.recall('Gurdeep Kaur')) as c $$,
    $$ values (false, pg_temp.mrn_year() || '000002') $$,
    'and becomes a patient of her own, with the next MRN'
);
select pg_temp.lead('Baljit K', '+919800099002');
select tests.act_as('a_front_desk');
select throws_ok(
    format(
        $$ select public.convert_lead(%L, patient_id => %L) $$,
        tests.recall('Baljit K'),
        tests.id_of('patients', 'b_patient3')
    ),
    'PT404', 'patient not found',
    'the patient named must be registered at the lead''s hospital'
);
select tests.act_as('b_front_desk');
select throws_ok(
    format($$ select public.convert_lead(%L) $$, tests.recall('Baljit K')),
    'PT404', 'lead not found',
    'another hospital''s front desk cannot convert the lead'
);
select throws_ok(
    format($$ select * from public.lead_matches(%L) $$, tests.recall('Baljit K')),
    'PT404', 'lead not found',
    'nor see whom it matches'
);
select tests.act_as('a_doctor');
select throws_ok(
    format($$ select public.convert_lead(%L) $$, tests.recall('Baljit K')),
    'PT404', 'lead not found',
    'nor can a doctor'
);

-- Refusals leave nothing behind, and no gap in the MRNs -------------------------------------------------
select pg_temp.lead('Navneet Brar', '+919812300003');
select tests.act_as('a_front_desk');
update public.leads set status = 'stalling_sent_to_cro'
where id = tests.recall('Navneet Brar');
select throws_ok(
    format($$ select public.convert_lead(%L) $$, tests.recall('Navneet Brar')),
    '42501', 'you may not move a lead from stalling_sent_to_cro to converted',
    'the front desk cannot convert a lead in the CRO''s hands'
);
select is_empty(
    $$ select 1 from public.patients where full_name = 'Navneet Brar' $$,
    'the refused conversion left no patient behind'
);
select pg_temp.lead('Lost Cause', '+919812300004');
select tests.act_as('a_front_desk');
update public.leads set status = 'lost', status_reason = 'moved abroad'
where id = tests.recall('Lost Cause');
select throws_ok(
    format($$ select public.convert_lead(%L) $$, tests.recall('Lost Cause')),
    'PT409', 'lead cannot go from lost to converted',
    'a lost lead is re-engaged before it is converted'
);
select tests.act_as('a_cro');
select results_eq(
    format($$ select c ->> 'mrn' from public.convert_lead(%L) as c $$, tests.recall('Navneet Brar')),
    $$ values (pg_temp.mrn_year() || '000003') $$,
    'a CRO converts it, with the next MRN: refused conversions left no gap'
);

-- Appointments booked by name become the patient's ------------------------------------------------------
select pg_temp.lead('Jasvir Sandhu', '+919812300005', 'female');
insert into public.appointments (
    hospital_id, doctor_id, patient_name_snapshot, phone_snapshot, lead_id, starts_at, ends_at, source
)
values (
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor2'), 'Jasvir Sandhu', '+919812300005',
    tests.recall('Jasvir Sandhu'), '2031-03-03 05:00Z', '2031-03-03 05:30Z', 'front_desk'
);
select tests.act_as('a_front_desk');
select tests.remember('jasvir', (public.convert_lead(tests.recall('Jasvir Sandhu')) ->> 'patient_id')::uuid);
select results_eq(
    $$ select patient_id, patient_name_snapshot from public.appointments
        where lead_id = tests.recall('Jasvir Sandhu') $$,
    $$ values (tests.recall('jasvir'), 'Jasvir Sandhu') $$,
    'the lead''s appointment is the patient''s now (the snapshot kept)'
);
select ok(
    exists (
        select from public.care_team_members
        where patient_id = tests.recall('jasvir') and member_id = tests.user_id('a_doctor2') and ended_at is null
    ),
    'and its doctor treats the patient'
);
-- A lead whose appointment overlaps one of the matched patient's: refused, nothing changed.
select pg_temp.lead('Gurmeet Singh', '+919800010001', 'male');
insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at, source)
values (
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'a_patient1'),
    '2031-04-04 05:00Z', '2031-04-04 05:30Z', 'front_desk'
);
insert into public.appointments (
    hospital_id, doctor_id, patient_name_snapshot, lead_id, starts_at, ends_at, source
)
values (
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor2'), 'Gurmeet Singh',
    tests.recall('Gurmeet Singh'), '2031-04-04 05:15Z', '2031-04-04 05:45Z', 'front_desk'
);
select tests.act_as('a_front_desk');
select throws_ok(
    format($$ select public.convert_lead(%L) $$, tests.recall('Gurmeet Singh')),
    'PT409', 'an appointment of the lead overlaps one of the patient''s',
    'a conversion whose appointments would clash with the patient''s is refused'
);
select results_eq(
    $$ select l.status::text, l.patient_id, a.patient_id from public.leads as l
        join public.appointments as a on a.lead_id = l.id where l.id = tests.recall('Gurmeet Singh') $$,
    $$ values ('new_inquiry', null::uuid, null::uuid) $$,
    'and changes nothing'
);

-- Instant booking ----------------------------------------------------------------------------------------
-- TSTA in a time zone where it is morning now; a_doctor works all day, every day, in 30-minute slots,
-- and is off until the day's last slot (23:30 local).
select tests.clear_authentication();
update public.hospitals set
    time_zone = (
        select z.name from pg_catalog.pg_timezone_names as z
        where
            extract(hour from now() at time zone z.name) between 6 and 11 and z.name like '%/%'
            and z.name not like 'posix/%' and z.name not like 'right/%'
        order by z.name limit 1
    )
where id = tests.id_of('hospitals', 'TSTA');
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)
select
    tests.id_of('doctors', 'a_doctor'),
    tests.id_of('hospitals', 'TSTA'),
    d,
    '00:00',
    '24:00',
    30
from generate_series(1, 7) as d;
insert into public.doctor_availability_exceptions (doctor_id, hospital_id, kind, starts_at, ends_at)
select
    tests.id_of('doctors', 'a_doctor'),
    h.id,
    'time_off',
    now() - interval '1 hour',
    ((now() at time zone h.time_zone)::date + time '23:30') at time zone h.time_zone
from public.hospitals as h
where h.id = tests.id_of('hospitals', 'TSTA');
create temporary table last_slot as
select ((now() at time zone h.time_zone)::date + time '23:30') at time zone h.time_zone as starts_at
from public.hospitals as h
where h.id = tests.id_of('hospitals', 'TSTA');
grant select on last_slot to authenticated;

select tests.act_as('a_front_desk');
select
    tests.remember('first', (r -> 'appointment' ->> 'id')::uuid),
    tests.remember('Priya Rani', (r -> 'lead' ->> 'id')::uuid)
from public.create_lead(
    tests.id_of('hospitals', 'TSTA'), 'Priya Rani', '+919812300010', inquiry => 'IVF',
    preferred_doctor_id => tests.id_of('doctors', 'a_doctor'), sex => 'female'
) as r;
select results_eq(
    $$ select a.doctor_id, a.starts_at, a.ends_at - a.starts_at, a.patient_id, a.patient_name_snapshot,
            a.phone_snapshot::text, a.sex_snapshot::text, a.lead_id, a.appointment_type::text, a.status::text
        from public.appointments as a where a.id = tests.recall('first') $$,
    $$ select tests.id_of('doctors', 'a_doctor'), s.starts_at, interval '30 minutes', null::uuid, 'Priya Rani',
            '+919812300010', 'female', tests.recall('Priya Rani'), 'ivf_consult', 'scheduled'
        from last_slot as s $$,
    'a new lead asking for a doctor is booked into their first free slot today, by name, with the lead'
);
select results_eq(
    $$ select r ->> 'booking', r -> 'appointment', (r ->> 'merged')::boolean
        from public.create_lead(
            tests.id_of('hospitals', 'TSTA'), 'Meena Devi', '+919812300011',
            preferred_doctor_id => tests.id_of('doctors', 'a_doctor')
        ) as r $$,
    $$ values ('no_free_slot_today', 'null'::jsonb, false) $$,
    'once the last slot is taken, the next lead is entered without one: no error'
);
select results_eq(
    $$ select r ->> 'booking' from public.create_lead(
            tests.id_of('hospitals', 'TSTA'), 'Sunita Rani', '+919812300012', inquiry => 'General'
        ) as r $$,
    $$ values ('no_doctor_to_book') $$,
    'an inquiry that maps to no specialty books nothing'
);
select results_eq(
    $$ select r ->> 'booking' from public.create_lead(
            tests.id_of('hospitals', 'TSTA'), 'Rekha Rani', '+919812300013',
            preferred_doctor_id => tests.id_of('doctors', 'a_doctor'), book_today => false
        ) as r $$,
    $$ values ('not_requested') $$,
    'book_today: false books nothing'
);
select tests.act_as('a_doctor');
select results_eq(
    $$ select full_name from public.leads $$,
    $$ values ('Priya Rani') $$,
    'the doctor now sees the lead booked to them (and only that one)'
);

select * from finish();
rollback;
