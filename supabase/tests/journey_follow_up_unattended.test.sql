-- The journey stage action book_follow_up on an automatic advance, which acts as the system: a
-- stage entered by a trigger event the system raised (a visit completed by Cal.com's
-- MEETING_ENDED webhook, applied by rpc/receive_calcom_webhook as the service role) and one
-- entered by time (private.advance_due_journeys, as the pg_cron job carebase-journeys-due runs
-- it: the postgres role, no JWT) book the follow-up, or open the ticket, as the system:
-- booked_by / created_by empty (no person booked it), the status history and the audit trail
-- naming the system's database role, and the stage event keeping what was done. A stage entered
-- because a user's change raised its event (a nurse recording a lab result) acts as the system
-- too, not with that user's rights (a nurse books no appointment).
begin;
select plan(18);
select tests.create_world();

-- a_doctor works every day, 09:00 to 17:00, in person and by video, and is linked to Cal.com;
-- a_doctor2 has no hours at all.
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, consultation_modes)
select
    tests.id_of('doctors', 'a_doctor'),
    tests.id_of('hospitals', 'TSTA'),
    d,
    time '09:00',
    time '17:00',
    '{in_person,video}'
from generate_series(1, 7) as d;
insert into public.doctor_calendar_links (hospital_id, doctor_id, cal_user_id, cal_email)
values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), 770001, 'a.doctor@cal.test');

-- A Cal.com event about a_doctor's booking `uid`, received as the sidecar hands it over.
create function pg_temp.cal(trigger_event text, uid text, starts timestamptz)
returns jsonb
language plpgsql
as $$
declare
    answer jsonb;
begin
    perform tests.act_as_service_role();
    answer := public.receive_calcom_webhook(jsonb_build_object(
        'triggerEvent', trigger_event, 'createdAt', clock_timestamp(),
        'payload', jsonb_build_object(
            'uid', uid, 'status', 'ACCEPTED', 'startTime', starts, 'endTime', starts + interval '30 minutes',
            'organizer', jsonb_build_object('id', 770001, 'email', 'a.doctor@cal.test'),
            'attendees', jsonb_build_array(jsonb_build_object('name', 'Cal Attendee', 'phoneNumber', '+919877700001')),
            'location', 'integrations:daily'
        )
    )::text);
    perform tests.clear_authentication();
    return answer;
end;
$$;

-- The visit, booked in Cal.com.
select tests.remember('visit1', (
    pg_temp.cal('BOOKING_CREATED', 'unattended-1', date_trunc('hour', now()) + interval '2 hours') ->> 'appointment_id'
)::uuid);
select tests.remember('cal_patient', (
    select patient_id from public.appointments
    where id = tests.recall('visit1')
));
insert into public.appointments (id, hospital_id, doctor_id, patient_id, starts_at, ends_at, status, mode)
values
(
    tests.remember('visit2', gen_random_uuid()), tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor2'),
    tests.id_of('patients', 'a_patient2'), now() + interval '3 hours', now() + interval '195 minutes', 'scheduled',
    'in_person'
),
(
    tests.remember('visit4', gen_random_uuid()), tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'),
    tests.id_of('patients', 'a_patient1'), now() + interval '5 hours', now() + interval '315 minutes', 'scheduled',
    'in_person'
),
(
    tests.remember('visit3', gen_random_uuid()), tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'),
    tests.id_of('patients', 'ab_patient4'), now() + interval '4 hours', now() + interval '255 minutes', 'scheduled',
    'in_person'
);

select tests.act_as('a_admin');
select tests.remember('on_completion', (
    public.create_journey(
        tests.id_of('hospitals', 'TSTA'), 'After the visit', 'post_visit',
        stages => $$[
            {"name": "Visit", "order_index": 1},
            {"name": "Follow-up", "order_index": 2, "trigger_event": "appointment_completed",
             "actions": [{"type": "book_follow_up", "days": "10"}]}
        ]$$
    ) ->> 'id'
)::uuid);
select tests.remember('by_time', (
    public.create_journey(
        tests.id_of('hospitals', 'TSTA'), 'Recall', 'recall',
        stages => $$[
            {"name": "Seen", "order_index": 1},
            {"name": "Recall", "order_index": 2, "trigger_event": "days_after_previous", "wait_days": 3,
             "actions": [{"type": "book_follow_up", "days": "10", "priority": "high"}]}
        ]$$
    ) ->> 'id'
)::uuid);
select tests.remember('on_lab', (
    public.create_journey(
        tests.id_of('hospitals', 'TSTA'), 'After the tests', 'post_tests',
        stages => $$[
            {"name": "Tests ordered", "order_index": 1},
            {"name": "Results in", "order_index": 2, "trigger_event": "lab_result_recorded",
             "actions": [{"type": "book_follow_up", "days": "10"}]}
        ]$$
    ) ->> 'id'
)::uuid);
select tests.act_as('a_front_desk');
select tests.remember('lab_instance', (
    public.start_journey_instance(
        tests.recall('on_lab'), tests.id_of('patients', 'a_patient1'), appointment_id => tests.recall('visit4')
    )
).id);
select tests.remember('completion_instance', (
    public.start_journey_instance(
        tests.recall('on_completion'), tests.recall('cal_patient'), appointment_id => tests.recall('visit1')
    )
).id);
select tests.remember('time_instance', (
    public.start_journey_instance(
        tests.recall('by_time'), tests.id_of('patients', 'ab_patient4'), appointment_id => tests.recall('visit3')
    )
).id);
select tests.remember('no_slot_instance', (
    public.start_journey_instance(
        tests.recall('by_time'), tests.id_of('patients', 'a_patient2'), appointment_id => tests.recall('visit2')
    )
).id);
select tests.clear_authentication();

-- The follow-up an action booked, with who booked it and what the history and the audit say.
create function pg_temp.booked(instance uuid)
returns table (
    doctor_id uuid, patient_id uuid, appointment_type text, status text, ten_days_on boolean, booked_by uuid,
    history_actor uuid, history_role text, audit_actor uuid, audit_db_role text
)
language sql
as $$
    select a.doctor_id, a.patient_id, a.appointment_type::text, a.status::text,
        a.starts_at >= now() + interval '10 days' and a.starts_at < now() + interval '11 days', a.booked_by,
        h.actor_id, h.actor_role::text, l.actor_id, l.actor_db_role
    from public.journey_stage_events as e
    join public.appointments as a on a.id = (e.actions_done -> 0 ->> 'appointment_id')::uuid
    left join public.status_history as h on h.machine = 'appointment' and h.subject_id = a.id
    left join audit.log as l on l.table_name = 'public.appointments' and l.action = 'INSERT' and l.row_id = a.id::text
    where e.instance_id = booked.instance and e.completed_at is null;
$$;

-- A trigger event the system raised ---------------------------------------------------------------------
select is(
    (select a ->> 'outcome' from pg_temp.cal(
        'MEETING_STARTED', 'unattended-1', date_trunc('hour', now()) + interval '2 hours'
    ) as a),
    'applied', 'Cal.com says the meeting started'
);
select is(
    (select a ->> 'outcome' from pg_temp.cal(
        'MEETING_ENDED', 'unattended-1', date_trunc('hour', now()) + interval '2 hours'
    ) as a),
    'applied', 'and that it ended: the service role completes the visit'
);
select results_eq(
    $$ select s.name, e.entered_by_event, e.actions_done -> 0 ->> 'outcome'
        from public.journey_instances as i
        join public.journey_stages as s on s.id = i.current_stage_id
        join public.journey_stage_events as e on e.instance_id = i.id and e.stage_id = s.id
        where i.id = tests.recall('completion_instance') $$,
    $$ values ('Follow-up', 'appointment_completed', 'done') $$,
    'the completed visit moves the patient to the follow-up stage, its action done'
);
select results_eq(
    $$ select * from pg_temp.booked(tests.recall('completion_instance')) $$,
    $$ values (tests.id_of('doctors', 'a_doctor'), tests.recall('cal_patient'), 'follow_up', 'scheduled',
        true, null::uuid, null::uuid, null::text, null::uuid, 'service_role') $$,
    'the follow-up is booked with the visit''s doctor 10 days on, by the system: no person in booked_by, '
    'the history and the audit trail name the service role'
);
select is_empty(
    $$ select id from public.tickets where journey_instance_id = tests.recall('completion_instance') $$,
    'and no ticket asks for it'
);

-- A trigger event a user raised: a nurse records a lab result ---------------------------------------------
select tests.act_as('a_nurse');
insert into public.lab_results (patient_id, hospital_id, test_name, result_value, status)
values (tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'Troponin I', '0.01', 'normal');
select is(
    (select auth.uid()), tests.user_id('a_nurse'), 'the nurse is still who she is after the journey''s actions'
);
select tests.clear_authentication();
select results_eq(
    $$ select * from pg_temp.booked(tests.recall('lab_instance')) $$,
    $$ values (tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'a_patient1'), 'follow_up', 'scheduled',
        true, null::uuid, null::uuid, null::text, null::uuid, 'authenticated') $$,
    'the result moves the patient on and the follow-up is booked by the system, not refused as the nurse''s: '
    'the audit entry keeps the nurse''s request (its role), with no person'
);
select results_eq(
    $$ select l.actor_id from audit.log as l join public.lab_results as r on l.row_id = r.id::text
        where l.table_name = 'public.lab_results' and l.action = 'INSERT'
            and r.patient_id = tests.id_of('patients', 'a_patient1') $$,
    $$ values (tests.user_id('a_nurse')) $$,
    'the lab result itself stays the nurse''s in the audit trail'
);

-- Time, as the pg_cron job runs it -----------------------------------------------------------------------
-- Other instances in the database (the demo data's) are not due during this test.
update public.journey_instances set stage_entered_at = now(), created_at = now()
where id not in (tests.recall('time_instance'), tests.recall('no_slot_instance'));
update public.journey_instances set stage_entered_at = now() - interval '4 days'
where id in (tests.recall('time_instance'), tests.recall('no_slot_instance'));
select is(private.advance_due_journeys(), 2, 'the job moves both instances whose 3 days are up');
select results_eq(
    $$ select * from pg_temp.booked(tests.recall('time_instance')) $$,
    $$ values (tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'ab_patient4'), 'follow_up', 'scheduled',
        true, null::uuid, null::uuid, null::text, null::uuid, 'postgres') $$,
    'the job books the follow-up with the visit''s doctor, as the system (the postgres role)'
);
select results_eq(
    $$ select e.entered_by_event, p.completed_by from public.journey_stage_events as e
        join public.journey_stage_events as p on p.instance_id = e.instance_id and p.completed_at is not null
        where e.instance_id = tests.recall('time_instance') and e.completed_at is null $$,
    $$ values ('days_after_previous', null::uuid) $$,
    'the stage event says time moved it; nobody completed the stage before'
);
select results_eq(
    $$ select t.title, t.description ~ '^no free slot with the doctor', t.priority::text, t.status, t.created_by
        from public.tickets as t where t.journey_instance_id = tests.recall('no_slot_instance') $$,
    $$ values ('Book a follow-up visit in 10 days (Recall)', true, 'high', 'open', null::uuid) $$,
    'without a free slot the job opens the ticket, saying why, created by the system'
);
select results_eq(
    $$ select l.actor_id, l.actor_db_role, l.hospital_id, l.patient_id from audit.log as l
        join public.tickets as t on l.row_id = t.id::text
        where l.table_name = 'public.tickets' and l.action = 'INSERT'
            and t.journey_instance_id = tests.recall('no_slot_instance') $$,
    $$ values (null::uuid, 'postgres', tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient2')) $$,
    'the ticket is in the audit trail, by the system, naming the patient'
);
select results_eq(
    $$ select e.actions_done -> 0 ->> 'outcome', (e.actions_done -> 0 ->> 'ticket_id')::uuid = t.id
        from public.journey_stage_events as e
        join public.tickets as t on t.journey_instance_id = e.instance_id
        where e.instance_id = tests.recall('no_slot_instance') and e.completed_at is null $$,
    $$ values ('done', true) $$,
    'the stage event records the ticket it opened'
);
select is_empty(
    $$ select id from public.appointments where patient_id = tests.id_of('patients', 'a_patient2')
        and appointment_type = 'follow_up' $$,
    'and nothing is booked for that patient'
);

-- The patient and the doctor hear of the booking as of any other ----------------------------------------
select ok(
    exists (
        select from private.outbox as o
        where o.kind = 'appointment_booked' and o.subject_id = (
            select (e.actions_done -> 0 ->> 'appointment_id')::uuid from public.journey_stage_events as e
            where e.instance_id = tests.recall('time_instance') and e.completed_at is null
        )
    ),
    'the booking made by the job is announced like any other'
);
select is(
    (
        select count(*)::integer from public.journey_stage_events as e
        where e.instance_id in (
            tests.recall('completion_instance'), tests.recall('time_instance'),
            tests.recall('no_slot_instance')
        )
    ),
    6, 'each instance has its two stage events, nothing run twice'
);
select is(private.advance_due_journeys(), 0, 'running the job again moves nothing');

select * from finish();
rollback;
