-- Journeys (issue 19, item 1): versioned definitions whose running instances keep their
-- version; one active instance of a journey per patient (a constraint); stages entered by
-- hand, by time (the pg_cron job's function) and by trigger events (a completed appointment);
-- stage actions (a message rendered later by the worker, a ticket); stats and overdue stages.
begin;
select plan(42);

select tests.create_world();

-- The hospital's template the first stage sends.
insert into public.message_templates (hospital_id, code, name, channel, category, body, variables)
values (
    tests.id_of('hospitals', 'TSTA'), 'post_op_day1', 'After surgery', 'sms', 'follow_up',
    'Dear {{ patient_name }}, {{ hospital_name }} wishes you a quick recovery.', '{patient_name,hospital_name}'
);

-- Definitions ---------------------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.create_journey(tests.id_of('hospitals', 'TSTA'), 'Front desk journey') $$,
    'PT404', 'journey not found', 'the front desk does not define journeys'
);
select tests.act_as('a_admin');
select tests.remember('journey', (
    public.create_journey(
        tests.id_of('hospitals', 'TSTA'), 'Post-Surgery Recovery', 'post_procedure',
        stages => $$[
            {"name": "Discharged", "order_index": 1, "due_days": 1,
             "actions": [{"type": "send_template", "template_code": "post_op_day1", "channel": "sms"}]},
            {"name": "Day 3 check-in", "order_index": 2, "trigger_event": "days_after_previous", "wait_days": 3,
             "actions": [{"type": "create_ticket", "title": "Call the patient", "priority": "high"}]},
            {"name": "Follow-up visit", "order_index": 3, "trigger_event": "appointment_completed"}
        ]$$
    ) ->> 'id'
)::uuid);
select results_eq(
    $$ select j ->> 'version', jsonb_array_length(j -> 'stages'), j -> 'stages' -> 1 ->> 'wait_days'
        from public.journey(tests.recall('journey')) as j $$,
    $$ values ('1', 3, '3') $$,
    'an admin defines a journey: version 1 with its three stages in order'
);
select throws_ok(
    $$ select public.add_journey_stage(
        tests.recall('journey'), '{"name": "Bad", "trigger_event": "days_after_start"}'
    ) $$,
    '22023', null, 'a time-triggered stage needs its wait_days'
);
select throws_ok(
    $$ select public.add_journey_stage(tests.recall('journey'), '{"name": "Bad", "actions": [{"type": "launch"}]}') $$,
    '22023', null, 'and actions are of the known kinds'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ select public.journey(tests.recall('journey')) $$, 'PT404', 'journey not found',
    'another hospital''s admin does not see it'
);
select throws_ok(
    $$ select public.update_journey(tests.recall('journey'), name => 'Taken over') $$, 'PT404', 'journey not found',
    'nor changes it'
);
select tests.clear_authentication();

-- An instance, and the one-active rule -----------------------------------------------------------------
select tests.act_as('a_front_desk');
select tests.remember('first', (
    public.start_journey_instance(tests.recall('journey'), tests.id_of('patients', 'a_patient1'))
).id);
select results_eq(
    $$ select i.status, s.name, v.version from public.journey_instances as i
        join public.journey_stages as s on s.id = i.current_stage_id
        join public.journey_versions as v on v.id = i.journey_version_id
        where i.id = tests.recall('first') $$,
    $$ values ('active', 'Discharged', 1) $$,
    'the front desk starts the patient on it: active, in the first stage of version 1'
);
select tests.clear_authentication();
select results_eq(
    $$ select m.channel::text, m.body, m.template_variables, m.journey_instance_id, o.state
        from public.messages as m join private.outbox as o on o.subject_id = m.id
        where m.journey_instance_id = tests.recall('first') $$,
    $$ values (
        'sms', null::text, '{"patient_name": "Gurmeet Singh", "hospital_name": "Test Hospital A"}'::jsonb,
        tests.recall('first'), 'pending'
    ) $$,
    'the first stage''s message is queued, its template left for the worker to render with the patient''s names'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.start_journey_instance(tests.recall('journey'), tests.id_of('patients', 'a_patient1')) $$,
    'PT409', 'the patient is already on this journey', 'a second active instance of the journey is refused'
);
select tests.clear_authentication();
select throws_ok(
    $$ insert into public.journey_instances (hospital_id, patient_id, journey_id, journey_version_id)
        select i.hospital_id, i.patient_id, i.journey_id, i.journey_version_id
        from public.journey_instances as i where i.id = tests.recall('first') $$,
    '23P01', null, 'by a constraint, whoever writes it'
);
select tests.act_as('b_front_desk');
select throws_ok(
    $$ select public.start_journey_instance(tests.recall('journey'), tests.id_of('patients', 'b_patient3')) $$,
    'PT404', 'journey not found', 'another hospital''s front desk cannot start it'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.start_journey_instance(tests.recall('journey'), tests.id_of('patients', 'b_patient3')) $$,
    'PT404', 'patient not found', 'nor can TSTA start another hospital''s patient on it'
);
select tests.act_as('a_patient1');
select isnt_empty(
    $$ select id from public.journey_instances where id = tests.recall('first') $$, 'the patient reads their journey'
);
select tests.act_as('a_patient2');
select
    is_empty(
        $$ select id from public.journey_instances where id = tests.recall('first') $$, 'another patient does not'
    );
select tests.clear_authentication();

-- Versions: an edit while an instance runs makes version 2; the instance keeps version 1 ------------------
select tests.act_as('a_admin');
create temporary table stage2 on commit drop as
select s.id from public.journey_stages as s
where s.journey_id = tests.recall('journey') and s.position = 2;
grant select on stage2 to authenticated;
create temporary table edited on commit drop as
select public.update_journey_stage((select id from stage2), '{"wait_days": 5}') as stage;
grant select on edited to authenticated;
select results_eq(
    $$ select (stage ->> 'version')::integer, (stage ->> 'id')::uuid <> (select id from stage2) from edited $$,
    $$ values (2, true) $$,
    'changing a stage of a version an instance runs on makes version 2 (a new stage row)'
);
select results_eq(
    $$ select v.version, s.wait_days from public.journey_instances as i
        join public.journey_versions as v on v.id = i.journey_version_id
        join public.journey_stages as s on s.journey_version_id = v.id and s.position = 2
        where i.id = tests.recall('first') $$,
    $$ values (1, 3) $$,
    'the running instance keeps version 1 and its stages'
);
select results_eq(
    $$ select j ->> 'version', j -> 'stages' -> 1 ->> 'wait_days' from public.journey(tests.recall('journey')) as j $$,
    $$ values ('2', '5') $$,
    'the journey''s current version is 2'
);
select results_eq(
    $$ select (public.update_journey_stage((select (stage ->> 'id')::uuid from edited), '{"due_days": 9}')
        ->> 'version')::integer $$,
    $$ values (2) $$,
    'editing again before any instance uses version 2 stays in version 2'
);
select throws_ok(
    $$ select public.update_journey_stage((select id from stage2), '{"wait_days": 4}') $$,
    'PT409', 'the stage is of an older version of the journey', 'a stage a newer version replaced is not edited'
);
select tests.clear_authentication();
select throws_ok(
    $$ update public.journey_stages set wait_days = 1 where id = (select id from stage2) $$,
    'PT409',
    'a journey version with instances does not change',
    'a version with instances is frozen, even for its owner'
);
select tests.act_as('a_nurse');
select tests.remember('second', (
    public.start_journey_instance(tests.recall('journey'), tests.id_of('patients', 'a_patient2'))
).id);
select results_eq(
    $$ select v.version from public.journey_instances as i
        join public.journey_versions as v on v.id = i.journey_version_id
        where i.id = tests.recall('second') $$,
    $$ values (2) $$,
    'a new instance starts on version 2'
);
select tests.clear_authentication();

-- Time: both instances entered their first stage four days ago -------------------------------------------
-- Other instances in the database (the demo data's) are not due during this test.
update public.journey_instances set stage_entered_at = now(), created_at = now()
where id not in (tests.recall('first'), tests.recall('second'));
update public.journey_instances set stage_entered_at = now() - interval '4 days', created_at = now() - interval '4 days'
where id in (tests.recall('first'), tests.recall('second'));
select is(private.advance_due_journeys(), 1, 'the job advances the instance whose 3 days are up');
select results_eq(
    $$ select s.name, e.entered_by_event from public.journey_instances as i
        join public.journey_stages as s on s.id = i.current_stage_id
        join public.journey_stage_events as e on e.instance_id = i.id and e.stage_id = s.id
        where i.id = tests.recall('first') $$,
    $$ values ('Day 3 check-in', 'days_after_previous') $$,
    'version 1''s instance is at the day-3 check-in, entered by time'
);
select results_eq(
    $$ select t.title, t.priority::text, t.status from public.tickets as t
        where t.journey_instance_id = tests.recall('first') $$,
    $$ values ('Call the patient', 'high', 'open') $$,
    'entering it opened the stage''s ticket, linked to the instance'
);
select results_eq(
    $$ select s.name from public.journey_instances as i join public.journey_stages as s on s.id = i.current_stage_id
        where i.id = tests.recall('second') $$,
    $$ values ('Discharged') $$,
    'version 2''s instance waits 5 days'
);
select tests.act_as('a_front_desk');
select results_eq(
    $$ select instance_id, stage_name from public.journey_overdue_stages(tests.id_of('hospitals', 'TSTA')) $$,
    $$ values (tests.recall('second'), 'Discharged') $$,
    'it is overdue in its first stage (due after a day)'
);
select tests.act_as('b_admin');
select is_empty($$ select * from public.journey_overdue_stages() $$, 'another hospital sees no overdue stage of TSTA');
select tests.clear_authentication();

-- A trigger event: the patient's follow-up appointment is completed -------------------------------------
insert into public.appointments (id, hospital_id, doctor_id, patient_id, starts_at, ends_at, status)
values (
    tests.remember('visit', gen_random_uuid()), tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'),
    tests.id_of('patients', 'a_patient1'), now() + interval '1 hour', now() + interval '80 minutes', 'scheduled'
);
select tests.act_as('a_doctor');
update public.appointments set status = 'in_consultation'
where id = tests.recall('visit');
select results_eq(
    $$ select s.name from public.journey_instances as i join public.journey_stages as s on s.id = i.current_stage_id
        where i.id = tests.recall('first') $$,
    $$ values ('Day 3 check-in') $$,
    'a consultation starting does not move it'
);
update public.appointments set status = 'completed'
where id = tests.recall('visit');
select results_eq(
    $$ select s.name, e.entered_by_event from public.journey_instances as i
        join public.journey_stages as s on s.id = i.current_stage_id
        join public.journey_stage_events as e on e.instance_id = i.id and e.stage_id = s.id
        where i.id = tests.recall('first') $$,
    $$ values ('Follow-up visit', 'appointment_completed') $$,
    'the doctor completing the visit moves the patient to the follow-up stage'
);
select results_eq(
    $$ select s.name from public.journey_instances as i join public.journey_stages as s on s.id = i.current_stage_id
        where i.id = tests.recall('second') $$,
    $$ values ('Discharged') $$,
    'another patient''s instance does not move'
);

-- By hand: the last stage completes the instance -------------------------------------------------------------
select tests.act_as('b_front_desk');
select throws_ok(
    $$ select public.advance_journey_instance(tests.recall('first'), 'done') $$, 'PT404', 'journey instance not found',
    'another hospital''s staff cannot advance it'
);
select tests.act_as('a_nurse');
select results_eq(
    $$ select status, current_stage_id from public.advance_journey_instance(tests.recall('first'), 'Healing well') $$,
    $$ values ('completed', null::uuid) $$,
    'the nurse completes the last stage: the instance is completed'
);
select results_eq(
    $$ select s ->> 'name', s ->> 'status', s ->> 'notes'
        from jsonb_array_elements(public.journey_instance(tests.recall('first')) -> 'stages') as s $$,
    $$ values ('Discharged', 'completed', null), ('Day 3 check-in', 'completed', null),
        ('Follow-up visit', 'completed', 'Healing well') $$,
    'the instance lists its version''s stages, each completed, with the notes'
);
select throws_ok(
    $$ select public.advance_journey_instance(tests.recall('first')) $$, 'PT409', 'the journey is completed',
    'a completed journey does not move'
);
select results_eq(
    $$ select array_agg(to_state order by occurred_at) from public.status_history
        where subject_id = tests.recall('first') $$,
    $$ values (array['active', 'completed']) $$,
    'its status steps are in the history'
);
select lives_ok(
    $$ select public.start_journey_instance(tests.recall('journey'), tests.id_of('patients', 'a_patient1')) $$,
    'once completed, the patient may start the journey again'
);
select throws_ok(
    $$ select public.cancel_journey_instance(tests.recall('second'), null) $$,
    '22023', 'a reason is required to move a journey_instance to cancelled', 'cancelling needs a reason'
);
select lives_ok(
    $$ select public.cancel_journey_instance(tests.recall('second'), 'Moved away') $$, 'with one it is cancelled'
);

-- Stats -----------------------------------------------------------------------------------------------------
select results_eq(
    $$ select s -> 'by_status', s -> 'by_journey'
        from public.journey_instance_stats(tests.id_of('hospitals', 'TSTA')) as s $$,
    $$ values ('{"active": 1, "completed": 1, "cancelled": 1}'::jsonb, '{"Post-Surgery Recovery": 3}'::jsonb) $$,
    'stats count the hospital''s instances by status and by journey'
);
select tests.act_as('b_admin');
select is(
    (public.journey_instance_stats() ->> 'total')::integer, 0, 'another hospital''s admin counts none of them'
);

-- The patient at a glance (the engagement half of seed 001's 360 view) -------------------------------------
select tests.act_as('a_front_desk');
select results_eq(
    $$ select (e ->> 'active_journeys')::integer, e -> 'journeys' -> 0 ->> 'stage_name',
            (e ->> 'open_tickets')::integer, jsonb_array_length(e -> 'communications')
        from public.patient_engagement(tests.id_of('patients', 'a_patient1')) as e $$,
    $$ values (1, 'Discharged', 1, 2) $$,
    'the front desk sees the patient''s active journey, open ticket and messages at a glance'
);
select tests.act_as('b_front_desk');
select throws_ok(
    $$ select public.patient_engagement(tests.id_of('patients', 'a_patient1')) $$, 'PT404', 'patient not found',
    'another hospital''s front desk does not'
);

select * from finish();
rollback;
