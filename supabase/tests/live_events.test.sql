-- Live events (20261205001100, 20261205001200): what a booking, a prescription, a lab result
-- and a notification broadcast (ids, status, times; never names or clinical text),
-- per-topic sequence numbers without gaps, and the catch-up feed under the join rule (joining
-- itself: live_topics.test.sql).
-- (Commit order of seqs across concurrent transactions: tests/test_live_events.py.)
-- TSTA is in Asia/Kolkata (+05:30); 2030-04-01 is a Monday.
begin;
select plan(28);

select tests.create_world();
-- Number events at the end of each statement, as a commit would (this transaction never
-- commits).
set constraints private.live_events_publish immediate;

create function pg_temp.user_topic(who text)
returns text
language sql
as $$ select 'user:' || tests.user_id(who)::text $$;

create function pg_temp.hospital_topic(code text, role text)
returns text
language sql
as $$ select 'hospital:' || tests.id_of('hospitals', code)::text || ':' || role $$;

create function pg_temp.pharmacy_topic(pharmacy text)
returns text
language sql
as $$ select 'pharmacy:' || tests.id_of('pharmacies', pharmacy)::text $$;

grant execute on function pg_temp.user_topic(text), pg_temp.hospital_topic(text, text), pg_temp.pharmacy_topic(text)
to authenticated, anon;

-- The events of this world's people and hospitals (the database may hold the demo data's).
create temporary view world_events as
select e.*
from public.live_events as e
where
    e.topic in (
        select 'user:' || w.id::text from tests.world as w
        where w.kind = 'profiles'
    )
    or e.topic in (
        select 'hospital:' || w.id::text || ':' || r.role::text
        from tests.world as w cross join unnest(enum_range(null::public.app_role)) as r (role)
        where w.kind = 'hospitals'
    )
    or e.topic in (
        select 'pharmacy:' || w.id::text from tests.world as w
        where w.kind = 'pharmacies'
    );

-- A booking ----------------------------------------------------------------------------------
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)
values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 1, '09:00', '17:00', 30);
select tests.act_as('a_front_desk');
select tests.remember('booking', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor'), '2030-04-01 05:00Z',
    patient_id => tests.id_of('patients', 'a_patient1'), reason => 'chest pain since Tuesday'
);
select tests.clear_authentication();

select set_eq(
    $$ select topic from world_events where event = 'appointment_created'
        and payload ->> 'appointment_id' = tests.recall('booking')::text $$,
    array[
        pg_temp.user_topic('a_patient1'), pg_temp.user_topic('a_doctor'), pg_temp.hospital_topic('TSTA', 'front_desk')
    ],
    'a booking raises appointment_created for the patient, the doctor and the front desk'
);
select results_eq(
    $$ select distinct array(select jsonb_object_keys(payload) order by 1) from world_events
        where event = 'appointment_created' and payload ->> 'appointment_id' = tests.recall('booking')::text $$,
    $$ values (array['appointment_id', 'doctor_id', 'ends_at', 'hospital_id', 'occurred_at', 'starts_at', 'status']) $$,
    'with ids, status and times only'
);
select is(
    (
        select payload from world_events
        where event = 'appointment_created' and topic = pg_temp.user_topic('a_patient1')
    ) - 'occurred_at',
    jsonb_build_object(
        'appointment_id', tests.recall('booking'), 'hospital_id', tests.id_of('hospitals', 'TSTA'),
        'doctor_id', tests.id_of('doctors', 'a_doctor'), 'status', 'scheduled',
        'starts_at', '2030-04-01T05:00:00+00:00', 'ends_at', '2030-04-01T05:30:00+00:00'
    ),
    'the payload names the appointment, its hospital and doctor, its status and times'
);
select results_eq(
    $$ select event from world_events where topic = pg_temp.user_topic('a_patient1') order by seq $$,
    $$ values ('notification'), ('appointment_created') $$,
    'the patient also receives the notification the push carries (queued first, in the booking)'
);

select tests.act_as('a_front_desk');
update public.appointments set starts_at = '2030-04-01 06:00Z', ends_at = '2030-04-01 06:30Z'
where id = tests.recall('booking');
update public.appointments set status = 'arrived'
where id = tests.recall('booking');
select tests.clear_authentication();

select results_eq(
    $$ select seq, event, payload ->> 'status', payload ->> 'previous_status', payload ->> 'previous_starts_at'
        from world_events where topic = pg_temp.hospital_topic('TSTA', 'front_desk') order by seq $$,
    $$ values
        (1::bigint, 'appointment_created', 'scheduled', null, null),
        (2, 'appointment_rescheduled', 'scheduled', null, '2030-04-01T05:00:00+00:00'),
        (3, 'appointment_status_changed', 'arrived', 'scheduled', null) $$,
    'moves and status changes follow on the front desk topic as 1, 2, 3'
);
select is_empty(
    $$ select topic from world_events
        group by topic having min(seq) <> 1 or max(seq) <> count(*) $$,
    'every topic''s seqs run 1..n without a gap'
);
select results_eq(
    $$ with e as materialized (select * from world_events),
        m as materialized (
            select * from realtime.messages
            where topic in (select topic from e) and private and extension = 'broadcast'
        )
        select count(*)::integer from e
        join m on m.topic = e.topic and m.event = e.event
            and m.payload = e.payload || jsonb_build_object('topic', e.topic, 'seq', e.seq, 'id', m.id) $$,
    $$ select count(*)::integer from world_events $$,
    'each event is broadcast on its topic (private) with the payload plus topic and seq, the same seq as the feed'
);

-- A rolled-back change takes its numbers with it.
do $$
begin
    perform tests.act_as('a_front_desk');
    update public.appointments set status = 'cancelled', status_reason = 'patient unwell'
    where id = tests.recall('booking');
    raise exception 'roll back';
exception
    when raise_exception then null;
end;
$$;
select tests.act_as('a_front_desk');
update public.appointments set status = 'checked_in'
where id = tests.recall('booking');
select tests.clear_authentication();
select results_eq(
    $$ select seq, payload ->> 'status' from world_events
        where topic = pg_temp.hospital_topic('TSTA', 'front_desk') and seq > 3 $$,
    $$ values (4::bigint, 'checked_in') $$,
    'after a rolled-back change the next event takes the next number: no gap'
);

-- The system moves an appointment to another doctor (no API role may): both doctors hear of it.
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)
values (tests.id_of('doctors', 'a_doctor2'), tests.id_of('hospitals', 'TSTA'), 1, '09:00', '17:00', 30);
select tests.act_as('a_front_desk');
select tests.remember('moved', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor'), '2030-04-01 08:00Z', patient_id => tests.id_of('patients', 'ab_patient4')
);
select tests.clear_authentication();
update public.appointments set doctor_id = tests.id_of('doctors', 'a_doctor2')
where id = tests.recall('moved');
select set_eq(
    $$ select topic || ' ' || (payload ->> 'previous_doctor_id')::uuid || ' ' || (payload ->> 'doctor_id')::uuid
        from world_events
        where event = 'appointment_rescheduled' and payload ->> 'appointment_id' = tests.recall('moved')::text $$,
    array(
        select t || ' ' || tests.id_of('doctors', 'a_doctor') || ' ' || tests.id_of('doctors', 'a_doctor2')
        from unnest(array[
            pg_temp.user_topic('a_doctor'), pg_temp.user_topic('a_doctor2'),
            pg_temp.hospital_topic('TSTA', 'front_desk')
        ]) as t
    ),
    'an appointment moved to another doctor is news for both doctors and the front desk (the patient has no login)'
);

-- Prescriptions and lab results --------------------------------------------------------------
select tests.act_as('a_doctor');
select tests.remember('rx', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'), '[{"name": "Amoxicillin", "quantity": 15}]', notes => 'drink water'
);
select tests.clear_authentication();
select set_eq(
    $$ select topic from world_events where event = 'prescription_created' $$,
    array[
        pg_temp.user_topic('a_patient1'), pg_temp.user_topic('a_doctor'), pg_temp.pharmacy_topic('a_central')
    ],
    'a prescription raises prescription_created for the patient, the doctor and the pharmacists of its pharmacy'
);
select is_empty(
    $$ select topic from world_events where topic = pg_temp.hospital_topic('TSTA', 'pharmacist') $$,
    'not for every pharmacist of the hospital: another pharmacy''s may not read it'
);
select results_eq(
    $$ select distinct array(select jsonb_object_keys(payload) order by 1) from world_events
        where event = 'prescription_created' $$,
    $$ values (
        array['doctor_id', 'hospital_id', 'occurred_at', 'pharmacy_id', 'prescription_id', 'status', 'valid_until']
    ) $$,
    'with ids, status and times only'
);
select tests.act_as('a_pharmacist');
update public.prescriptions set status = 'approved'
where id = tests.recall('rx');
select tests.clear_authentication();
select results_eq(
    $$ select event, payload ->> 'status', payload ->> 'previous_status' from world_events
        where topic = pg_temp.pharmacy_topic('a_central') order by seq $$,
    $$ values ('prescription_created', 'pending', null), ('prescription_status_changed', 'approved', 'pending') $$,
    'its status changes follow on the pharmacists'' topic'
);

insert into public.lab_results (patient_id, hospital_id, ordered_by, recorded_by, test_name, result_value, status)
values (
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), tests.user_id('a_doctor'),
    tests.user_id('a_nurse'), 'Potassium', '6.9', 'critical'
)
returning tests.remember('lab', id);
select results_eq(
    $$ select topic, event, payload - 'occurred_at' from world_events where event like 'lab_result%' $$,
    $$ values (
        pg_temp.user_topic('a_doctor'), 'lab_result_created',
        jsonb_build_object('lab_result_id', tests.recall('lab'), 'hospital_id', tests.id_of('hospitals', 'TSTA'), 'finalised_at', null)
    ) $$,
    'a new lab result is news for the ordering doctor; not yet for the patient (not final)'
);
insert into public.lab_results (patient_id, hospital_id, ordered_by, recorded_by, test_name, result_value, status)
values (
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), tests.user_id('a_revoked_doctor'),
    tests.user_id('a_nurse'), 'Sodium', '139', 'normal'
);
select is_empty(
    $$ select event from world_events where topic = pg_temp.user_topic('a_revoked_doctor') $$,
    'a doctor whose membership was revoked hears nothing more of their former orders'
);
select results_eq(
    $$ select topic, payload ->> 'kind', payload ->> 'subject_id' from world_events
        where event = 'notification' and payload ->> 'subject_id' = tests.recall('lab')::text $$,
    $$ values (pg_temp.user_topic('a_doctor'), 'lab_result_critical', tests.recall('lab')::text) $$,
    'its critical flag reaches the doctor the existing rule picks, as a notification'
);
update public.lab_results set finalised_at = now()
where id = tests.recall('lab');
select set_eq(
    $$ select topic from world_events where event = 'lab_result_finalised' $$,
    array[pg_temp.user_topic('a_doctor'), pg_temp.user_topic('a_patient1')],
    'once final, the patient and the ordering doctor hear of it'
);

select is_empty(
    $$ select e.topic, e.event from world_events as e
        where e.payload::text ~* 'gurmeet|singh|chest|amoxicillin|water|potassium|"6\.9"|"critical"|unwell'
            or exists (
                select from jsonb_object_keys(e.payload) as k
                where k not in (
                    'appointment_id', 'prescription_id', 'lab_result_id', 'notification_id', 'hospital_id',
                    'doctor_id', 'pharmacy_id', 'subject_id', 'subject_type', 'kind', 'status', 'previous_status',
                    'previous_doctor_id', 'previous_pharmacy_id', 'starts_at', 'ends_at', 'previous_starts_at',
                    'previous_ends_at', 'valid_until', 'finalised_at', 'occurred_at'
                )
            ) $$,
    'no event carries a name, a reason, a medicine, a result or any other clinical text'
);

-- Retention ----------------------------------------------------------------------------------
select results_eq(
    $$ select schedule::text collate "default", command::text collate "default"
        from cron.job where jobname = 'carebase-live-events-retention' $$,
    $$ values ('25 0 * * *', 'select private.forget_old_live_events()') $$,
    'a daily pg_cron job deletes old events'
);
update public.live_events set created_at = now() - interval '31 days'
where topic = pg_temp.pharmacy_topic('a_central');
select private.forget_old_live_events() >= 2 as forgotten;
select results_eq(
    $$ select count(*) filter (where topic = pg_temp.pharmacy_topic('a_central'))::integer,
        count(*) filter (where topic = pg_temp.hospital_topic('TSTA', 'front_desk'))::integer
        from world_events $$,
    $$ values (0, 6) $$,
    'events older than 30 days are deleted, younger ones kept'
);
select tests.act_as('a_pharmacist');
update public.prescriptions set status = 'ready_for_pickup'
where id = tests.recall('rx');
select tests.clear_authentication();
select results_eq(
    $$ select seq, event from world_events where topic = pg_temp.pharmacy_topic('a_central') $$,
    $$ values (3::bigint, 'prescription_status_changed') $$,
    'the topic''s numbering goes on where it was: a client never sees a seq again'
);

-- The feed -----------------------------------------------------------------------------------
select tests.act_as('a_patient1');
select results_eq(
    $$ select distinct topic from public.live_events $$,
    $$ values (pg_temp.user_topic('a_patient1')) $$,
    'a patient reads the feed of their own topic only'
);
select results_eq(
    $$ select seq, event from public.live_events
        where topic = pg_temp.user_topic('a_patient1') and seq > 8 order by seq $$,
    $$ values
        (9::bigint, 'prescription_status_changed'), (10, 'notification'), (11, 'lab_result_finalised'),
        (12, 'prescription_status_changed'), (13, 'notification') $$,
    'and catches up with everything after the last seq seen, in order'
);
select tests.act_as('a_patient2');
select is_empty($$ select 1 from public.live_events $$, 'another patient reads none of it');
select tests.act_as('b_front_desk');
select is_empty(
    $$ select 1 from public.live_events where topic like 'hospital:%' $$,
    'another hospital''s front desk reads none of TSTA''s topics'
);
select tests.act_as('a_front_desk');
select set_eq(
    $$ select distinct topic from public.live_events $$,
    array[pg_temp.hospital_topic('TSTA', 'front_desk')],
    'the front desk reads its hospital''s front_desk topic'
);

-- A revoked membership: the feed is closed at the next read ------------------------------------
select tests.act_as('a_admin');
update public.staff_memberships set is_active = false
where id = tests.id_of('staff_memberships', 'a_front_desk');
select tests.act_as('a_front_desk');
select is_empty($$ select 1 from public.live_events $$, 'after the membership is revoked the feed is closed to them');
select tests.act_as_anon();
select throws_ok($$ select 1 from public.live_events $$, '42501', null, 'anonymous clients read no feed');
select tests.clear_authentication();

select * from finish();
rollback;
