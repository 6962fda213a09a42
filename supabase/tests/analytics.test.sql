-- Analytics (issue 19, item 4): periods are local dates of the hospital's time zone with the end
-- date included; one hospital's numbers never count another's rows, and nobody but its admins
-- and CROs reads them; settled days come from the rollup, the rest live.
begin;
select plan(18);

select tests.create_world();

-- Appointments around midnight in Asia/Kolkata: 23:30 on 10 March is 18:00 UTC, 00:15 on
-- 11 March is 18:45 UTC, the same UTC day.
insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at, status, source)
values
(
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'a_patient1'),
    '2031-03-10 23:30+05:30', '2031-03-10 23:50+05:30', 'scheduled', 'web'
),
(
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'a_patient2'),
    '2031-03-11 00:15+05:30', '2031-03-11 00:35+05:30', 'scheduled', 'app'
),
(
    tests.id_of('hospitals', 'TSTB'), tests.id_of('doctors', 'b_doctor'), tests.id_of('patients', 'b_patient3'),
    '2031-03-10 12:00+05:30', '2031-03-10 12:20+05:30', 'scheduled', 'app'
);

select tests.act_as('a_admin');
select results_eq(
    $$ select (a ->> 'total')::integer, a -> 'breakdown' -> 'by_channel', a -> 'period' ->> 'time_zone'
        from public.analytics_appointments(
            tests.id_of('hospitals', 'TSTA'), 'CUSTOM', '2031-03-10', '2031-03-10'
        ) as a $$,
    $$ values (1, '{"web": 1}'::jsonb, 'Asia/Kolkata') $$,
    '10 March in the hospital''s time zone: the 23:30 visit, not the 00:15 one of the same UTC day'
);
select results_eq(
    $$ select (a ->> 'total')::integer, jsonb_array_length(a -> 'breakdown' -> 'by_day')
        from public.analytics_appointments(
            tests.id_of('hospitals', 'TSTA'), 'CUSTOM', '2031-03-10', '2031-03-11'
        ) as a $$,
    $$ values (2, 2) $$,
    'the end date is included: 10 and 11 March count both, one a day'
);
select results_eq(
    $$ select (a ->> 'total')::integer from public.analytics_appointments(
            tests.id_of('hospitals', 'TSTA'), 'CUSTOM', '2031-03-10', '2031-03-11', channel_origin => 'app'
        ) as a $$,
    $$ values (1) $$,
    'filtered by channel of origin'
);
select throws_ok(
    $$ select public.analytics_appointments(tests.id_of('hospitals', 'TSTA'), 'CUSTOM', '2031-03-11', '2031-03-10') $$,
    '22023', null, 'a period ending before it starts is refused'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ select public.analytics_dashboard(tests.id_of('hospitals', 'TSTA')) $$, 'PT404', 'hospital not found',
    'another hospital''s admin reads nothing of TSTA'
);
select results_eq(
    $$ select (a ->> 'total')::integer from public.analytics_appointments(
            null, 'CUSTOM', '2031-03-10', '2031-03-11'
        ) as a $$,
    $$ values (1) $$,
    'and their own hospital''s numbers count only its own appointment'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.analytics_appointments(tests.id_of('hospitals', 'TSTA')) $$, 'PT404', 'hospital not found',
    'the front desk does not read analytics'
);
select tests.act_as('a_cro');
select lives_ok(
    $$ select public.analytics_dashboard(tests.id_of('hospitals', 'TSTA')) $$, 'the hospital''s CRO does'
);
select tests.clear_authentication();

-- The rollup: settled days come from it; a booking on a settled day shows after the next refresh -----
insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at, status)
values (
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor2'), tests.id_of('patients', 'a_patient1'),
    date_trunc('hour', now()) - interval '20 days',
    date_trunc('hour', now()) - interval '20 days' + interval '15 minutes',
    'scheduled'
);
select private.refresh_analytics();
select tests.act_as('a_admin');
select results_eq(
    $$ select (a ->> 'total')::integer
        from public.analytics_appointments(tests.id_of('hospitals', 'TSTA'), 'LAST_30_DAYS') as a $$,
    $$ select count(*)::integer from public.appointments
        where hospital_id = tests.id_of('hospitals', 'TSTA')
            and (starts_at at time zone 'Asia/Kolkata')::date between (now() at time zone 'Asia/Kolkata')::date - 29
            and (now() at time zone 'Asia/Kolkata')::date $$,
    'the last 30 days, rollup and live together, count what the table holds'
);
select tests.clear_authentication();
insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at, status)
values (
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor2'), tests.id_of('patients', 'a_patient2'),
    date_trunc('hour', now()) - interval '19 days',
    date_trunc('hour', now()) - interval '19 days' + interval '15 minutes',
    'scheduled'
);
create temporary table before_refresh on commit drop as
select (public.analytics_appointments(tests.id_of('hospitals', 'TSTA'), 'LAST_30_DAYS') ->> 'total')::integer as n
from (select tests.act_as('a_admin')) as acting;
select tests.clear_authentication();
grant select on before_refresh to authenticated;
select private.refresh_analytics();
select tests.act_as('a_admin');
select is(
    (public.analytics_appointments(tests.id_of('hospitals', 'TSTA'), 'LAST_30_DAYS') ->> 'total')::integer,
    (select n + 1 from before_refresh),
    'a visit booked on a settled day counts from the next refresh'
);
select tests.clear_authentication();

-- Communications: delivery and read rates, response time -------------------------------------------------------
select tests.act_as('a_front_desk');
select tests.remember('m1', (public.send_message(tests.id_of('patients', 'a_patient1'), 'sms', 'One')).id);
select tests.remember('m2', (public.send_message(tests.id_of('patients', 'a_patient2'), 'sms', 'Two')).id);
select tests.clear_authentication();
select private.apply_message_status(tests.recall('m1'), 'read', null, null, 'SMa1');
select private.apply_message_status(tests.recall('m2'), 'failed', '30008', 'twilio failed 30008', 'SMa2');
select private.receive_patient_message('sms', '+919800010001', 'Can I come later?', 'SMin9');
update public.messages set created_at = now() - interval '2 hours'
where provider_message_id = 'SMin9';
update public.messages set created_at = now() - interval '90 minutes'
where id = tests.recall('m1');
select tests.act_as('a_admin');
select results_eq(
    $$ select (c ->> 'sent')::integer, c ->> 'delivery_rate', c ->> 'read_rate',
            c -> 'response_time' ->> 'median_minutes'
        from public.analytics_communications(tests.id_of('hospitals', 'TSTA'), 'TODAY') as c $$,
    $$ values (2, '0.5000', '0.5000', '30.0') $$,
    'messages: one read, one failed (rates of those that left), the patient answered in 30 minutes'
);
select tests.act_as('b_admin');
select results_eq(
    $$ select (c ->> 'sent')::integer from public.analytics_communications(null, 'TODAY') as c $$,
    $$ values (0) $$,
    'another hospital counts none of them'
);
select tests.clear_authentication();

-- Voice calls and journeys ----------------------------------------------------------------------------------------
insert into public.ai_sessions (
    channel, hospital_id, external_id, caller_phone, call_status, started_at, ended_at, duration_seconds, ended_reason
)
values
('voice', tests.id_of('hospitals', 'TSTA'), 'an-1', '+919800010001', 'ended', now(), now(), 120, 'customer-ended-call'),
('voice', tests.id_of('hospitals', 'TSTA'), 'an-2', '+919800010002', 'ended', now(), now(), 60, 'assistant-ended-call'),
('voice', tests.id_of('hospitals', 'TSTB'), 'an-3', '+919800020003', 'ended', now(), now(), 600, 'customer-ended-call');
select tests.act_as('a_admin');
select results_eq(
    $$ select (v ->> 'total')::integer, (v ->> 'total_duration_seconds')::numeric,
            (v ->> 'average_duration_seconds')::numeric,
            v -> 'by_outcome'
        from public.analytics_voice_calls(tests.id_of('hospitals', 'TSTA'), 'TODAY') as v $$,
    $$ values (2, 180.0, 90.0, '{"customer-ended-call": 1, "assistant-ended-call": 1}'::jsonb) $$,
    'voice calls: count, duration and outcomes of the hospital''s lines only'
);
select public.start_journey_instance(
    (
        public.create_journey(tests.id_of('hospitals', 'TSTA'), 'Onboarding', stages => '[{"name": "Welcome"}]')
        ->> 'id'
    )::uuid,
    tests.id_of('patients', 'a_patient1')
);
select results_eq(
    $$ select (j ->> 'active')::integer, (j ->> 'started')::integer, j -> 'by_journey' -> 0 ->> 'name'
        from public.analytics_journeys(tests.id_of('hospitals', 'TSTA'), 'TODAY') as j $$,
    $$ values (1, 1, 'Onboarding') $$,
    'journeys: active now and started in the period'
);
select results_eq(
    $$ select d -> 'appointments' ? 'total', (d -> 'voice_calls' ->> 'total')::integer,
            (d -> 'journeys' ->> 'active')::integer
        from public.analytics_dashboard(tests.id_of('hospitals', 'TSTA')) as d $$,
    $$ values (true, 2, 1) $$,
    'the dashboard gathers them in one call'
);

-- The live stream's numbers, and the key that says they moved -------------------------------------------------
select tests.clear_authentication();
delete from private.live_events_pending;
insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at, status)
values (
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor2'), tests.id_of('patients', 'a_patient2'),
    '2031-04-01 10:00+05:30', '2031-04-01 10:15+05:30', 'scheduled'
);
select results_eq(
    $$ select topic, event, payload ->> 'hospital_id' from private.live_events_pending
        where event = 'analytics_changed' order by topic $$,
    $$ values
        ('hospital:' || tests.id_of('hospitals', 'TSTA') || ':cro', 'analytics_changed', tests.id_of('hospitals', 'TSTA')::text),
        ('hospital:' || tests.id_of('hospitals', 'TSTA') || ':hospital_admin', 'analytics_changed',
            tests.id_of('hospitals', 'TSTA')::text) $$,
    'a booking tells the hospital''s admins and CROs, by key only, that its numbers moved'
);
select tests.act_as('a_admin');
select results_eq(
    $$ select r ->> 'topic', (r -> 'appointments' ->> 'booked_today')::integer > 0,
            (r -> 'journeys' ->> 'active')::integer
        from public.analytics_realtime(tests.id_of('hospitals', 'TSTA')) as r $$,
    $$ values ('hospital:' || tests.id_of('hospitals', 'TSTA') || ':hospital_admin', true, 1) $$,
    'the admin re-reads today''s numbers, with the topic whose seq versions them'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ select public.analytics_realtime(tests.id_of('hospitals', 'TSTA')) $$, 'PT404', 'hospital not found',
    'another hospital''s admin cannot'
);

select * from finish();
rollback;
