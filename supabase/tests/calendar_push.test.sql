-- Cal.com out (issue 14, item 3): which appointment changes become work for the worker
-- (sync_state pending), how the worker's RPCs lease, complete and fail a push (the lineage, the
-- refused slot cancelling the appointment and telling the patient), which doctors' schedules
-- are marked for a push and what is sent, and who may store or read a doctor's Cal.com key
-- (only an admin of the doctor's hospital stores it; nobody but the service role reads it).
begin;
select no_plan();

select tests.create_world();

create temporary table answers (name text primary key, answer jsonb);
grant all on answers to authenticated, service_role;

-- a_doctor is linked to Cal.com, a_doctor2 is not.
insert into public.doctor_calendar_links (hospital_id, doctor_id, cal_user_id, cal_event_type_ids)
values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), 880001, '{9001}');

create function pg_temp.book(doctor text, starts timestamptz, source public.appointment_source default 'front_desk')
returns uuid
language plpgsql
as $$
declare
    made uuid;
begin
    perform tests.act_as('a_front_desk');
    insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at, source, reason)
    values (
        tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', doctor), tests.id_of('patients', 'a_patient1'),
        starts, starts + interval '30 minutes', source, 'calendar push test'
    )
    returning id into made;
    perform tests.clear_authentication();
    return made;
end;
$$;

create function pg_temp.sync_state(appointment uuid)
returns text
language sql
as $$
    select a.sync_state::text from public.appointments as a where a.id = appointment;
$$;

-- What is work -----------------------------------------------------------------------------------
select tests.remember('linked', pg_temp.book('a_doctor', '2042-03-03 05:00+00'));
select tests.remember('unlinked', pg_temp.book('a_doctor2', '2042-03-03 07:00+00'));
select is(pg_temp.sync_state(tests.recall('linked')), 'pending', 'a booking of a linked doctor is pending');
select is(pg_temp.sync_state(tests.recall('unlinked')), 'local', 'a booking of a doctor without a link stays local');
select is(
    (
        select p.next_attempt_at <= now() from private.calendar_pushes as p
        where p.appointment_id = tests.recall('linked')
    ),
    true, 'and its push is due now'
);

-- Cal.com's own bookings are already there.
select tests.act_as_service_role();
insert into public.appointments (
    hospital_id, doctor_id, patient_id, starts_at, ends_at, source, external_ref, sync_state, reason
)
values (
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'a_patient2'),
    '2042-03-04 05:00+00', '2042-03-04 05:30+00', 'calcom', 'uid-from-cal', 'synced', 'calendar push test'
);
select tests.clear_authentication();
update public.appointments set starts_at = starts_at + interval '1 hour', ends_at = ends_at + interval '1 hour'
where external_ref = 'uid-from-cal';
select is(
    (
        select a.sync_state::text from public.appointments as a
        where a.external_ref = 'uid-from-cal'
    ), 'synced',
    'an appointment born in Cal.com that the system moves (what Cal.com said) is not marked'
);
select tests.act_as_service_role();
update public.appointments set status = 'cancelled', status_reason = 'cancelled in Cal.com'
where external_ref = 'uid-from-cal';
select tests.clear_authentication();
select is(
    (
        select a.sync_state::text from public.appointments as a
        where a.external_ref = 'uid-from-cal'
    ), 'synced',
    'nor one the service role cancels (a webhook, the reconciliation)'
);

-- Changed in carebase by a person, a Cal.com-born booking goes out too (moved or cancelled
-- there, never made: the claim says it was born in Cal.com).
create function pg_temp.cal_born(uid text, starts timestamptz, patient text)
returns uuid
language plpgsql
as $$
declare
    made uuid;
begin
    perform tests.act_as_service_role();
    insert into public.appointments (
        hospital_id, doctor_id, patient_id, starts_at, ends_at, source, external_ref, sync_state, reason
    )
    values (
        tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', patient),
        starts, starts + interval '30 minutes', 'calcom', uid, 'synced', 'calendar push test'
    )
    returning id into made;
    perform tests.clear_authentication();
    return made;
end;
$$;

select tests.remember('cal_moved', pg_temp.cal_born('uid-cal-moved', '2042-03-06 05:00+00', 'a_patient2'));
select tests.remember('cal_cancelled', pg_temp.cal_born('uid-cal-cancelled', '2042-03-06 07:00+00', 'a_patient2'));
select tests.remember('cal_seen', pg_temp.cal_born('uid-cal-seen', '2042-03-06 09:00+00', 'a_patient1'));
select is(pg_temp.sync_state(tests.recall('cal_moved')), 'synced', 'a Cal.com-born booking arrives synced');
select tests.act_as('a_front_desk');
select lives_ok(
    $$ select public.reschedule_appointment(tests.recall('cal_moved'), '2042-03-06 06:00+00') $$,
    'the front desk moves a Cal.com-born appointment'
);
select tests.clear_authentication();
select is(pg_temp.sync_state(tests.recall('cal_moved')), 'pending', 'and its move is pending');
select tests.act_as('a_patient2');
select lives_ok(
    $$ select public.cancel_appointment(tests.recall('cal_cancelled'), 'cannot come') $$,
    'the patient cancels their Cal.com-born appointment in the app'
);
select tests.clear_authentication();
select is(pg_temp.sync_state(tests.recall('cal_cancelled')), 'pending', 'and the cancellation is pending');
select tests.act_as('a_doctor');
update public.appointments set status = 'in_consultation'
where id = tests.recall('cal_seen');
select tests.clear_authentication();
select is(
    pg_temp.sync_state(tests.recall('cal_seen')), 'synced',
    'a clinical step is carebase''s own: not pushed'
);
select is(
    (
        select p.next_attempt_at <= now() from private.calendar_pushes as p
        where p.appointment_id = tests.recall('cal_moved')
    ),
    true, 'a person''s change of a Cal.com-born appointment is due now'
);

-- While the move waits, Cal.com's older time does not take it back (the webhook's apply, as the
-- system).
select is(
    (
        select r ->> 'reason'
        from private.calendar_apply_booking(
            jsonb_build_object(
                'provider', 'calcom', 'uid', 'uid-cal-moved', 'target_status', 'scheduled',
                'starts_at', '2042-03-06 05:00+00', 'ends_at', '2042-03-06 05:30+00',
                'organizer', jsonb_build_object('cal_user_id', '880001')
            )
        ) as r
    ),
    'push_pending', 'a webhook with Cal.com''s older time is left to the push'
);
select is(
    (
        select a.starts_at from public.appointments as a
        where a.id = tests.recall('cal_moved')
    ),
    '2042-03-06 06:00+00'::timestamptz, 'and the appointment keeps the time set in carebase'
);

-- The worker leases, completes and fails ------------------------------------------------------
select tests.act_as('a_admin');
select throws_ok(
    $$ select * from public.claim_calendar_pushes() $$, '42501', null, 'a hospital admin cannot claim pushes'
);
select tests.clear_authentication();
select ok(
    not has_function_privilege(
        'authenticated', 'public.claim_calendar_pushes(integer, interval, integer, boolean)', 'execute'
    )
    and not has_function_privilege(
        'anon', 'public.claim_calendar_pushes(integer, interval, integer, boolean)', 'execute'
    )
    and not has_function_privilege(
        'authenticated',
        'public.complete_calendar_push(uuid, uuid, text, text, timestamptz, timestamptz, text)',
        'execute'
    )
    and not has_function_privilege(
        'authenticated', 'public.fail_calendar_push(uuid, uuid, text, boolean, boolean, integer)', 'execute'
    )
    and not has_function_privilege('authenticated', 'public.calendar_api_key(uuid)', 'execute')
    and not has_function_privilege(
        'authenticated', 'public.claim_schedule_pushes(integer, interval, integer, boolean)', 'execute'
    )
    and has_function_privilege(
        'service_role', 'public.claim_calendar_pushes(integer, interval, integer, boolean)', 'execute'
    ),
    'the push RPCs and the key are the service role''s alone'
);

select tests.act_as_service_role();
select is_empty(
    $$ select * from public.claim_calendar_pushes(default_key => false) $$,
    'no push is claimed for a doctor without a key when the worker has no deployment key'
);
insert into answers
select
    'claim',
    to_jsonb(c)
from public.claim_calendar_pushes(default_key => true) as c
where c.appointment_id = tests.recall('linked');
select is(
    (
        select (a.answer ->> 'event_type_id', a.answer ->> 'attendee_phone', a.answer ->> 'create_attempted')
        from answers as a
        where a.name = 'claim'
    ),
    ('9001'::text, '+919800010001'::text, 'false'::text),
    'with the deployment key it is claimed, with the event type and the attendee'
);
select is_empty(
    $$ select * from public.claim_calendar_pushes(default_key => true) where appointment_id = tests.recall('linked') $$,
    'a leased push is not claimed twice'
);
select is(
    public.complete_calendar_push(
        tests.recall('linked'), gen_random_uuid(), 'uid-ours-1', 'booked', '2042-03-03 05:00+00', '2042-03-03 05:30+00'
    ),
    'lost', 'a report without the lease records nothing'
);
select is(
    public.complete_calendar_push(
        tests.recall('linked'), ((
            select a.answer ->> 'claim_token' from answers as a
            where a.name = 'claim'
        ))::uuid,
        'uid-ours-1', 'booked', '2042-03-03 05:00+00', '2042-03-03 05:30+00'
    ),
    'synced', 'the push is complete'
);
select tests.clear_authentication();
select results_eq(
    $$ select a.sync_state::text, a.external_ref from public.appointments as a where a.id = tests.recall('linked') $$,
    $$ values ('synced', 'uid-ours-1') $$,
    'the appointment is synced and carries the booking''s uid'
);
select results_eq(
    $$ select r.appointment_id, r.superseded from private.appointment_external_refs as r
        where r.external_ref = 'uid-ours-1' $$,
    $$ values (tests.recall('linked'), false) $$,
    'the uid is in the lineage, where the webhook about our own booking finds the appointment'
);

-- The echo of our booking: one appointment, nothing flagged.
select tests.act_as_service_role();
select is(
    public.receive_calcom_webhook(jsonb_build_object(
        'triggerEvent', 'BOOKING_CREATED', 'createdAt', now(),
        'payload', jsonb_build_object(
            'uid',
            'uid-ours-1',
            'status',
            'ACCEPTED',
            'startTime',
            '2042-03-03T05:00:00Z',
            'endTime',
            '2042-03-03T05:30:00Z',
            'organizer', jsonb_build_object('id', 880001),
            'attendees', jsonb_build_array(jsonb_build_object('name', 'Gurmeet Singh', 'phoneNumber', '+919800010001'))
        )
    )::text) ->> 'appointment_id',
    tests.recall('linked')::text, 'the webhook echo of our booking finds the same appointment'
);
select tests.clear_authentication();
select is(
    (
        select count(*)::integer from public.appointments as a
        where a.doctor_id = tests.id_of('doctors', 'a_doctor') and a.starts_at = '2042-03-03 05:00+00'
    ),
    1, 'and does not double it'
);

-- Metadata anyone can set on cal.com claims only a carebase appointment of the organizer's
-- doctor that has no booking in Cal.com yet.
create function pg_temp.tagged(uid text, starts timestamptz, appointment uuid)
returns jsonb
language plpgsql
as $$
declare
    answer jsonb;
begin
    perform tests.act_as_service_role();
    answer := public.receive_calcom_webhook(jsonb_build_object(
        'triggerEvent', 'BOOKING_CREATED', 'createdAt', now(),
        'payload', jsonb_build_object(
            'uid', uid, 'status', 'ACCEPTED', 'startTime', starts, 'endTime', starts + interval '30 minutes',
            'organizer', jsonb_build_object('id', 880001),
            'metadata', jsonb_build_object('carebase_appointment_id', appointment),
            'attendees', jsonb_build_array(jsonb_build_object('name', 'Mallory', 'phoneNumber', '+919800099999'))
        )
    )::text);
    perform tests.clear_authentication();
    return answer;
end;
$$;
select isnt(
    pg_temp.tagged('uid-forged-1', '2042-03-07 05:00+00', tests.recall('unlinked')) ->> 'appointment_id',
    tests.recall('unlinked')::text, 'a booking naming another doctor''s appointment does not reach it'
);
select isnt(
    pg_temp.tagged('uid-forged-2', '2042-03-08 05:00+00', tests.recall('linked')) ->> 'appointment_id',
    tests.recall('linked')::text, 'nor one naming an appointment already booked in Cal.com'
);
select results_eq(
    $$ select a.external_ref, a.starts_at from public.appointments as a where a.id = tests.recall('linked') $$,
    $$ values ('uid-ours-1', '2042-03-03 05:00+00'::timestamptz) $$,
    'which keeps its booking and time'
);

-- A move marks it again; an update that sets sync_state itself is left alone.
select tests.act_as('a_front_desk');
update public.appointments set starts_at = '2042-03-03 06:00+00', ends_at = '2042-03-03 06:30+00'
where id = tests.recall('linked');
select tests.clear_authentication();
select is(pg_temp.sync_state(tests.recall('linked')), 'pending', 'a move is pending');

-- Cal.com refuses the new time: the appointment is cancelled, the patient told.
select tests.act_as_service_role();
insert into answers
select
    'claim2',
    to_jsonb(c)
from public.claim_calendar_pushes(default_key => true) as c
where c.appointment_id = tests.recall('linked');
select is(
    (
        select a.answer ->> 'remote_uid' from answers as a
        where a.name = 'claim2'
    ), 'uid-ours-1',
    'the claim says what was last pushed'
);
select is(
    public.fail_calendar_push(
        tests.recall('linked'), ((
            select a.answer ->> 'claim_token' from answers as a
            where a.name = 'claim2'
        ))::uuid,
        'cal.com reschedule: 409 no_available_users_found_error', true, true, 5
    ),
    'cancelled', 'a refused time cancels the appointment'
);
select tests.clear_authentication();
select results_eq(
    $$ select a.status::text, a.status_reason, a.sync_state::text from public.appointments as a
        where a.id = tests.recall('linked') $$,
    $$ values ('cancelled', 'calendar_slot_taken', 'pending') $$,
    'cancelled with a stable reason, still pending: the booking at the old time is cancelled next'
);
select results_eq(
    $$ select o.payload ->> 'reason' from private.outbox as o
        where o.subject_id = tests.recall('linked') and o.kind = 'appointment_cancelled' and o.recipient_kind = 'patient' $$,
    $$ values ('calendar_slot_taken') $$,
    'the patient is told'
);
select results_eq(
    $$ select s.to_state, s.reason from public.status_history as s
        where s.subject_id = tests.recall('linked') order by s.occurred_at desc limit 1 $$,
    $$ values ('cancelled', 'calendar_slot_taken') $$,
    'through the state machine, recorded'
);
select tests.act_as('a_front_desk');
select results_eq(
    $$ select f.kind from public.calendar_sync_flags as f where f.appointment_id = tests.recall('linked') $$,
    $$ values ('slot_taken') $$,
    'the front desk sees the flag'
);
select tests.clear_authentication();

-- A never-pushed appointment, refused: failed. Transient failures back off, then fail.
select tests.remember('second', pg_temp.book('a_doctor', '2042-03-05 05:00+00'));
select tests.act_as_service_role();
insert into answers
select
    'claim3',
    to_jsonb(c)
from public.claim_calendar_pushes(default_key => true, max_attempts => 2) as c
where c.appointment_id = tests.recall('second');
select is(
    public.fail_calendar_push(
        tests.recall('second'), ((
            select a.answer ->> 'claim_token' from answers as a
            where a.name = 'claim3'
        ))::uuid,
        'cal.com create: 503', false, false, 2
    ),
    'retry', 'a transient failure is retried'
);
select tests.clear_authentication();
select ok(
    (
        select p.next_attempt_at > now() + interval '20 seconds' from private.calendar_pushes as p
        where p.appointment_id = tests.recall('second')
    ),
    'later (backoff)'
);
update private.calendar_pushes set next_attempt_at = now()
where appointment_id = tests.recall('second');
select tests.act_as_service_role();
insert into answers
select
    'claim4',
    to_jsonb(c)
from public.claim_calendar_pushes(default_key => true, max_attempts => 2) as c
where c.appointment_id = tests.recall('second');
select is(
    public.fail_calendar_push(
        tests.recall('second'), ((
            select a.answer ->> 'claim_token' from answers as a
            where a.name = 'claim4'
        ))::uuid,
        'cal.com create: 503', false, false, 2
    ),
    'failed', 'the last attempt fails it'
);
select tests.clear_authentication();
select results_eq(
    $$ select a.status::text, a.sync_state::text from public.appointments as a where a.id = tests.recall('second') $$,
    $$ values ('scheduled', 'failed') $$,
    'the appointment stands, failed'
);
select results_eq(
    $$ select f.kind, f.details ->> 'error' from public.calendar_sync_flags as f
        where f.appointment_id = tests.recall('second') $$,
    $$ values ('push_failed', 'cal.com create: 503') $$,
    'with the error for the admins'
);

-- Keys -------------------------------------------------------------------------------------------
select tests.act_as('a_admin');
select is(
    public.set_doctor_calendar_key(tests.id_of('doctors', 'a_doctor'), 'cal_live_secret_one'),
    jsonb_build_object('doctor_id', tests.id_of('doctors', 'a_doctor'), 'has_key', true),
    'the admin stores a key; the answer holds no key'
);
select throws_ok(
    $$ select public.calendar_api_key(tests.id_of('doctors', 'a_doctor')) $$, '42501', null, 'but cannot read it'
);
select throws_ok(
    $$ select * from private.doctor_calendar_credentials $$, '42501', null, 'nor the credentials table'
);
select throws_ok(
    $$ select public.set_doctor_calendar_key(tests.id_of('doctors', 'a_doctor'), 'two words') $$, '22023', null,
    'a key is one word'
);
select is(
    public.set_doctor_calendar_key(tests.id_of('doctors', 'a_doctor'), 'cal_live_secret_two') ->> 'has_key', 'true',
    'and replaces it'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ select public.set_doctor_calendar_key(tests.id_of('doctors', 'a_doctor'), 'cal_live_attacker') $$, 'PT404', null,
    'an admin of another hospital cannot set it'
);
select tests.act_as('a_doctor');
select throws_ok(
    $$ select public.set_doctor_calendar_key(tests.id_of('doctors', 'a_doctor'), 'cal_live_mine') $$, 'PT404', null,
    'nor can the doctor'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.set_doctor_calendar_key(tests.id_of('doctors', 'a_doctor'), 'cal_live_fd') $$, 'PT404', null,
    'nor the front desk'
);
select tests.act_as_service_role();
select is(
    public.calendar_api_key(tests.id_of('doctors', 'a_doctor')), 'cal_live_secret_two', 'the worker reads the key'
);
select is(public.calendar_api_key(tests.id_of('doctors', 'a_doctor2')), null, 'none for a doctor without one');
select tests.clear_authentication();
select ok(
    not exists (
        select from public.doctor_calendar_links as l
        where to_jsonb(l)::text like '%cal_live_secret%'
    ),
    'no client-readable column holds the key'
);
select ok(
    (
        select l.api_key_set_at is not null from public.doctor_calendar_links as l
        where l.doctor_id = tests.id_of('doctors', 'a_doctor')
    ),
    'the link says a key is set'
);
select is(
    (
        select count(*)::integer from audit.log as l
        where
            l.table_name = 'private.doctor_calendar_credentials' and l.details ->> 'action' in ('set', 'replace')
            and l.actor_id = tests.user_id('a_admin') and to_jsonb(l)::text not like '%cal_live_secret%'
    ),
    2, 'each store is audited, without the key'
);
select tests.act_as('a_admin');
select is(
    public.set_doctor_calendar_key(tests.id_of('doctors', 'a_doctor'), null) ->> 'has_key',
    'false',
    'the admin clears it'
);
select tests.clear_authentication();
select is(
    (
        select count(*)::integer from vault.secrets as s
        where s.name = 'carebase_calcom_key_' || tests.id_of('doctors', 'a_doctor')
    ),
    0, 'and the secret is gone from Vault'
);

-- Schedules --------------------------------------------------------------------------------------
select is_empty(
    $$ select from private.calendar_schedule_pushes where doctor_id = tests.id_of('doctors', 'a_doctor') $$,
    'no schedule push before the link names a schedule'
);
update public.doctor_calendar_links set cal_schedule_id = 770
where doctor_id = tests.id_of('doctors', 'a_doctor');
select is(
    (
        select s.version > s.pushed_version from private.calendar_schedule_pushes as s
        where s.doctor_id = tests.id_of('doctors', 'a_doctor')
    ),
    true, 'naming a schedule marks the doctor''s hours for a push'
);
update private.calendar_schedule_pushes set pushed_version = version, next_attempt_at = 'infinity'
where doctor_id = tests.id_of('doctors', 'a_doctor');

select tests.act_as('a_doctor');
select lives_ok(
    $$ select public.set_doctor_schedule(tests.id_of('doctors', 'a_doctor'), '[
        {"weekday": 1, "starts_at": "09:00", "ends_at": "13:00"},
        {"weekday": 3, "starts_at": "09:00", "ends_at": "13:00"},
        {"weekday": 3, "starts_at": "14:00", "ends_at": "17:00"}
    ]') $$,
    'the doctor sets their week'
);
insert into public.doctor_availability_exceptions (doctor_id, hospital_id, kind, starts_at, ends_at, reason)
select
    tests.id_of('doctors', 'a_doctor'),
    tests.id_of('hospitals', 'TSTA'),
    'time_off',
    (d.day + time '10:00') at time zone h.time_zone,
    (d.day + time '12:00') at time zone h.time_zone,
    'dentist'
from (select (current_date + 14 - extract(isodow from current_date)::integer + 1) as day) as d,
    public.hospitals as h
where h.id = tests.id_of('hospitals', 'TSTA');
select tests.clear_authentication();
select ok(
    (
        select s.version > s.pushed_version and s.next_attempt_at <= now() from private.calendar_schedule_pushes as s
        where s.doctor_id = tests.id_of('doctors', 'a_doctor')
    ),
    'a change of hours or exceptions marks it again'
);
select is(
    private.calendar_schedule(tests.id_of('doctors', 'a_doctor')),
    jsonb_build_object(
        'timeZone', (
            select h.time_zone from public.hospitals as h
            where h.id = tests.id_of('hospitals', 'TSTA')
        ),
        'availability', jsonb_build_array(
            jsonb_build_object(
                'days', jsonb_build_array('Monday', 'Wednesday'), 'startTime', '09:00', 'endTime', '13:00'
            ),
            jsonb_build_object('days', jsonb_build_array('Wednesday'), 'startTime', '14:00', 'endTime', '17:00')
        ),
        'overrides', jsonb_build_array(
            jsonb_build_object(
                'date',
                current_date + 14 - extract(isodow from current_date)::integer + 1,
                'startTime',
                '09:00',
                'endTime',
                '10:00'
            ),
            jsonb_build_object(
                'date',
                current_date + 14 - extract(isodow from current_date)::integer + 1,
                'startTime',
                '12:00',
                'endTime',
                '13:00'
            )
        )
    ),
    'the schedule sent: the week, and the day off as that day''s hours minus the time off'
);
select tests.act_as_service_role();
select results_eq(
    $$ select c.schedule_id from public.claim_schedule_pushes(default_key => true) as c
        where c.doctor_id = tests.id_of('doctors', 'a_doctor') $$,
    $$ values (770::bigint) $$,
    'the worker claims it with the schedule id'
);
select tests.clear_authentication();

-- The push of a Cal.com-born appointment: claimed as such, and a move Cal.com refuses cancels it
-- and leaves it pending, for the next push to cancel the booking still standing at the old time.
-- (An earlier claim in this file leased it with the rest: that lease has run out.)
update private.calendar_pushes set lease_until = now(), next_attempt_at = now()
where appointment_id = tests.recall('cal_moved');
select tests.act_as_service_role();
insert into answers
select
    'claim_cal',
    to_jsonb(c)
from public.claim_calendar_pushes(default_key => true) as c
where c.appointment_id = tests.recall('cal_moved');
select is(
    (
        select (a.answer ->> 'calcom_born', a.answer ->> 'external_ref', a.answer ->> 'remote_uid')
        from answers as a
        where a.name = 'claim_cal'
    ),
    ('true'::text, 'uid-cal-moved'::text, null::text),
    'the claim says the booking was born in Cal.com, and its uid'
);
select is(
    public.fail_calendar_push(
        tests.recall('cal_moved'), ((
            select a.answer ->> 'claim_token' from answers as a
            where a.name = 'claim_cal'
        ))::uuid,
        'cal.com reschedule: 409 no_available_users_found_error', true, true, 5
    ),
    'cancelled', 'a refused move cancels the Cal.com-born appointment'
);
select tests.clear_authentication();
select is(
    (
        select (a.status::text, a.status_reason, a.sync_state::text) from public.appointments as a
        where a.id = tests.recall('cal_moved')
    ),
    ('cancelled'::text, 'calendar_slot_taken'::text, 'pending'::text),
    'with the reason calendar_slot_taken, pending: its booking at the old time is cancelled next'
);

-- The patient's notice of that cancellation says why; other cancellations say no reason.
select is(
    (
        select r.body from private.render_notification(
            'appointment_cancelled', 'patient',
            jsonb_build_object('starts_at', '2042-03-06 06:00+00', 'reason', 'calendar_slot_taken'), 'Asia/Kolkata'
        ) as r
    ),
    'Your appointment on 06 Mar 2042 at 11:30 was cancelled: the time was taken in the doctor''s calendar. '
    || 'Please choose another time.',
    'the patient hears that the time was taken in the doctor''s calendar and to choose another'
);
select is(
    (
        select r.body from private.render_notification(
            'appointment_cancelled', 'user',
            jsonb_build_object('starts_at', '2042-03-06 06:00+00', 'reason', 'calendar_slot_taken'), 'Asia/Kolkata'
        ) as r
    ),
    'The appointment on 06 Mar 2042 at 11:30 was cancelled: the time was taken in the doctor''s calendar.',
    'so does the doctor'
);
select is(
    (
        select r.body from private.render_notification(
            'appointment_cancelled', 'patient',
            jsonb_build_object('starts_at', '2042-03-06 06:00+00', 'reason', 'feeling unwell'), 'Asia/Kolkata'
        ) as r
    ),
    'Your appointment on 06 Mar 2042 at 11:30 was cancelled.',
    'a reason a person typed is never shown'
);
select is(
    (
        select count(*)::integer from private.outbox as o
        where
            o.subject_id = tests.recall('cal_moved') and o.kind = 'appointment_cancelled'
            and o.recipient_kind = 'patient' and o.payload ->> 'reason' = 'calendar_slot_taken'
    ),
    1, 'and the patient''s notice carries that reason'
);

select * from finish();
rollback;
