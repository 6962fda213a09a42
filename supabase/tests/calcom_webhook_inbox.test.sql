-- The Cal.com webhook inbox and doctor links (issue 14, items 1 and 2), as each role sees
-- them: only the service role records and applies events; hospital admins see and re-apply
-- their own hospital's entries (the payload only at aal2, audited), nobody else's, and never an
-- entry that matched no hospital; the front desk reads the flags, not the payloads; the
-- mirror moves forward only, keeps a reschedule chain on one appointment, and creates an
-- unknown attendee once, as a new patient of the doctor's hospital.
begin;
select no_plan();

select tests.create_world();

-- A Cal.com webhook body for a booking of `organizer`, attended by `phone`.
create function pg_temp.cal(
    trigger_event text, uid text, starts timestamptz, organizer bigint default 770001,
    phone text default '+919877700001', extra jsonb default '{}'
)
returns text
language sql
as $$
    select jsonb_build_object(
        'triggerEvent', trigger_event,
        'createdAt', clock_timestamp(),
        'payload', jsonb_build_object(
            'uid', uid,
            'status', case when trigger_event = 'BOOKING_CANCELLED' then 'CANCELLED' else 'ACCEPTED' end,
            'startTime', starts,
            'endTime', starts + interval '30 minutes',
            'organizer', jsonb_build_object('id', organizer, 'email', 'organizer' || organizer || '@cal.test'),
            'attendees', jsonb_build_array(jsonb_build_object('name', 'Cal Attendee', 'phoneNumber', phone)),
            'location', 'integrations:daily'
        ) || extra
    )::text;
$$;

create function pg_temp.receive(body text)
returns jsonb
language plpgsql
as $$
declare
    answer jsonb;
begin
    perform tests.act_as_service_role();
    answer := public.receive_calcom_webhook(body);
    perform tests.clear_authentication();
    return answer;
end;
$$;

create temporary table answers (name text primary key, answer jsonb);
grant all on answers to authenticated, service_role;

-- Who may call the receiving function ---------------------------------------------------------
select tests.act_as('a_admin');
select throws_ok(
    $$ select public.receive_calcom_webhook('{}') $$, '42501', null,
    'a hospital admin cannot call the webhook function'
);
select tests.act_as('a_patient1');
select throws_ok(
    $$ select public.receive_calcom_webhook('{}') $$, '42501', null, 'a patient cannot call it'
);
select tests.act_as_anon();
select throws_ok($$ select public.receive_calcom_webhook('{}') $$, '42501', null, 'nor can anon');
select tests.clear_authentication();
select ok(
    not has_function_privilege('authenticated', 'private.calendar_apply_booking(jsonb, uuid)', 'execute')
    and not has_function_privilege('service_role', 'private.calendar_apply_booking(jsonb, uuid)', 'execute')
    and not has_function_privilege('authenticated', 'private.apply_inbox_entry(uuid)', 'execute')
    and not has_function_privilege('authenticated', 'private.receive_calcom_webhook(text)', 'execute'),
    'no API role calls the apply functions directly; the service role only through the inbox'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ select * from private.webhook_inbox $$, '42501', null, 'the inbox table itself is nobody''s to read'
);
select tests.clear_authentication();

-- Doctor links ----------------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.doctor_calendar_links (hospital_id, doctor_id, cal_user_id)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), 770001) $$,
    '42501', null, 'the front desk cannot link a doctor to Cal.com'
);
select tests.clear_authentication();

-- An event of an organizer nobody linked yet: stored, unprocessable, no hospital's.
insert into answers values ('unknown', pg_temp.receive(pg_temp.cal('BOOKING_CREATED', 'tap-u1', '2031-05-05 04:00Z')));
select is(
    (
        select answer ->> 'outcome' || '/' || (answer ->> 'reason') from answers
        where name = 'unknown'
    ),
    'unprocessable/unknown_organizer', 'an unknown organizer''s booking is stored as unprocessable'
);
select tests.act_as_service_role();
select results_eq(
    format(
        'select outcome from public.webhook_inbox_entries() where id = %L',
        (
            select answer ->> 'inbox_entry_id' from answers
            where name = 'unknown'
        )
    ),
    $$ values ('unprocessable'::text) $$,
    'the service role sees it'
);
select tests.act_as('a_admin');
select is_empty($$ select * from public.webhook_inbox_entries() $$, 'no admin sees an entry that matched no hospital');
select throws_ok(
    format(
        'select public.reapply_webhook(%L)', (
            select answer ->> 'inbox_entry_id' from answers
            where name = 'unknown'
        )
    ),
    'PT404', null, 'nor can re-apply it'
);

select lives_ok(
    $$ insert into public.doctor_calendar_links (hospital_id, doctor_id, cal_user_id, cal_email)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), 770001, 'a.doctor@cal.test') $$,
    'the admin links their doctor'
);
select results_eq(
    $$ select outcome, reason from public.webhook_inbox_entries() $$,
    $$ values ('unprocessable'::text, 'unknown_organizer'::text) $$,
    'the link claims the organizer''s unmatched entry for the hospital'
);
select tests.act_as('b_admin');
select is_empty($$ select * from public.doctor_calendar_links $$, 'another hospital''s admin sees no link');
select is_empty($$ select * from public.webhook_inbox_entries() $$, 'nor the entry');
select throws_ok(
    format(
        'select public.reapply_webhook(%L)', (
            select answer ->> 'inbox_entry_id' from answers
            where name = 'unknown'
        )
    ),
    'PT404', null, 'nor re-applies it'
);
select throws_ok(
    format(
        'select public.webhook_inbox_payload(%L)', (
            select answer ->> 'inbox_entry_id' from answers
            where name = 'unknown'
        )
    ),
    'PT404', null, 'nor reads its payload'
);
select tests.act_as('a_doctor');
select results_eq(
    $$ select cal_user_id from public.doctor_calendar_links $$, $$ values (770001::bigint) $$,
    'the doctor reads their own link'
);

select tests.act_as('a_admin');
insert into answers values (
    'reapplied',
    public.reapply_webhook((
        select (answer ->> 'inbox_entry_id')::uuid from answers
        where name = 'unknown'
    ))
);
select
    is((
        select answer ->> 'outcome' from answers
        where name = 'reapplied'
    ), 'applied', 'the re-apply creates the appointment');
select tests.clear_authentication();
select results_eq(
    $$ select a.status::text, a.source::text, a.sync_state::text, a.external_ref, a.booked_by
        from public.appointments as a where a.id = (select (answer ->> 'appointment_id')::uuid from answers where name = 'reapplied') $$,
    $$ values ('scheduled', 'calcom', 'synced', 'tap-u1', tests.user_id('a_admin')) $$,
    'a scheduled, synced Cal.com appointment, booked by the admin who re-applied it'
);
select ok(
    exists (
        select from audit.log as l
        where
            l.table_name = 'private.webhook_inbox' and l.action = 'UPDATE'
            and l.actor_id = tests.user_id('a_admin') and l.details ->> 'action' = 'reapply'
            and l.new_values ->> 'outcome' = 'applied' and l.old_values ->> 'outcome' = 'unprocessable'
    ),
    'the re-apply is audited, naming the admin'
);
select results_eq(
    $$ select p.user_id, p.full_name, p.phone::text, r.referral_source
        from public.patients as p
        join public.patient_registrations as r on r.patient_id = p.id
        where p.phone = '+919877700001' $$,
    $$ values (null::uuid, 'Cal Attendee'::text, '+919877700001'::text, 'calcom'::text) $$,
    'the unknown attendee became one unverified patient (no login), registered at the doctor''s hospital'
);

-- The payload: the admin of the hospital, aal2, audited; never the front desk ---------------
select tests.act_as('a_admin', 'aal1');
select throws_ok(
    format(
        'select public.webhook_inbox_payload(%L)', (
            select answer ->> 'inbox_entry_id' from answers
            where name = 'unknown'
        )
    ),
    'PT403', null, 'the admin reads a payload only at aal2'
);
select tests.act_as('a_admin');
select is(
    public.webhook_inbox_payload((
        select (answer ->> 'inbox_entry_id')::uuid from answers
        where name = 'unknown'
    ))
    -> 'payload' ->> 'uid',
    'tap-u1', 'at aal2 they read it'
);
select tests.clear_authentication();
select ok(
    exists (
        select from audit.log as l
        where
            l.table_name = 'private.webhook_inbox' and l.action = 'READ'
            and l.actor_id = tests.user_id('a_admin') and l.hospital_id = tests.id_of('hospitals', 'TSTA')
    ),
    'and the read is audited'
);
select tests.act_as('a_front_desk');
select is_empty($$ select * from public.webhook_inbox_entries() $$, 'the front desk lists no inbox entry');
select throws_ok(
    format(
        'select public.webhook_inbox_payload(%L)', (
            select answer ->> 'inbox_entry_id' from answers
            where name = 'unknown'
        )
    ),
    'PT404', null, 'and reads no payload'
);
select tests.clear_authentication();

-- Replays, order, lineage -----------------------------------------------------------------------
insert into answers values ('created', pg_temp.receive(pg_temp.cal('BOOKING_CREATED', 'tap-a', '2031-05-06 04:00Z')));
insert into answers values ('replay', pg_temp.receive(pg_temp.cal('BOOKING_CREATED', 'tap-a', '2031-05-06 04:00Z')));
select is(
    (
        select answer ->> 'outcome' from answers
        where name = 'replay'
    ), 'duplicate',
    'the same event again (a new createdAt) is a duplicate'
);
select is(
    (
        select count(*)::integer from public.appointments
        where external_ref = 'tap-a'
    ), 1, 'one appointment'
);
select is(
    (
        select count(*)::integer from public.patients
        where phone = '+919877700001'
    ), 1,
    'a second booking by the same phone reuses the patient'
);

select
    pg_temp.receive(
        pg_temp.cal('BOOKING_RESCHEDULED', 'tap-b', '2031-05-07 04:00Z', extra => '{"rescheduleUid": "tap-a"}')
    );
select pg_temp.receive(pg_temp.cal(
    'BOOKING_CREATED', 'tap-c', '2031-05-08 04:00Z', extra => '{"rescheduleUid": "tap-b", "rescheduledToUid": null}'
));
select results_eq(
    $$ select a.external_ref, a.starts_at from public.appointments as a
        where a.id = (select (answer ->> 'appointment_id')::uuid from answers where name = 'created') $$,
    $$ values ('tap-c'::text, timestamptz '2031-05-08 04:00Z') $$,
    'a reschedule chain of three uids (the last one under the wrong trigger) keeps one appointment, at the newest time'
);
insert into answers values (
    'late',
    pg_temp.receive(pg_temp.cal('BOOKING_REQUESTED', 'tap-a', '2031-05-06 04:00Z', extra => '{"status": "PENDING"}'))
);
select results_eq(
    $$ select l.answer ->> 'outcome', a.status::text, a.starts_at, a.external_ref
        from answers as l, public.appointments as a
        where l.name = 'late' and a.id = (select (answer ->> 'appointment_id')::uuid from answers where name = 'created') $$,
    $$ values ('ignored'::text, 'scheduled'::text, timestamptz '2031-05-08 04:00Z', 'tap-c'::text) $$,
    'a late event of the first uid finds the appointment and moves it neither back in status nor in time'
);
select pg_temp.receive(pg_temp.cal('BOOKING_CANCELLED', 'tap-a', '2031-05-06 04:00Z'));
select results_eq(
    $$ select a.status::text, a.starts_at from public.appointments as a
        where a.id = (select (answer ->> 'appointment_id')::uuid from answers where name = 'created') $$,
    $$ values ('cancelled'::text, timestamptz '2031-05-08 04:00Z') $$,
    'a cancellation of the first uid finds and cancels it, without moving it back in time'
);
insert into answers values ('resurrect', pg_temp.receive(pg_temp.cal('BOOKING_CREATED', 'tap-c', '2031-05-08 04:30Z')));
select is(
    (
        select answer ->> 'outcome' || '/' || (answer ->> 'reason') from answers
        where name = 'resurrect'
    ),
    'ignored/not_forward', 'a creation after the cancellation does not resurrect it'
);

insert into answers values (
    'cancel-first', pg_temp.receive(pg_temp.cal('BOOKING_CANCELLED', 'tap-x', '2031-05-09 04:00Z'))
);
select pg_temp.receive(pg_temp.cal('BOOKING_CREATED', 'tap-x', '2031-05-09 04:00Z'));
select results_eq(
    $$ select count(*)::integer, min(status::text) from public.appointments where external_ref = 'tap-x' $$,
    $$ values (1, 'cancelled'::text) $$,
    'CANCELLED then CREATED: one cancelled appointment'
);
select is_empty(
    $$ select from private.outbox
        where subject_id = (select (answer ->> 'appointment_id')::uuid from answers where name = 'cancel-first') $$,
    'and nobody is told of a booking that was cancelled before carebase saw it'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at, status, status_reason)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'a_patient1'),
        '2031-06-01 04:00Z', '2031-06-01 04:30Z', 'cancelled', 'never') $$,
    '42501', null, 'only the system records an appointment that starts cancelled'
);
select tests.clear_authentication();

-- A clash: stored, flagged for the hospital's front desk ------------------------------------------
select tests.act_as('a_front_desk');
select lives_ok(
    $$ select public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2031-05-10 04:00Z', '2031-05-10 04:30Z',
        patient_id => tests.id_of('patients', 'a_patient1')) $$,
    'the front desk books the doctor in carebase'
);
select tests.clear_authentication();
insert into answers values ('clash', pg_temp.receive(pg_temp.cal('BOOKING_CREATED', 'tap-k', '2031-05-10 04:15Z')));
select is(
    (
        select answer ->> 'outcome' || '/' || (answer ->> 'reason') from answers
        where name = 'clash'
    ),
    'flagged/clash', 'a Cal.com booking that clashes is flagged, not dropped'
);
select tests.act_as('a_front_desk');
select results_eq(
    $$ select kind, external_ref, jsonb_array_length(details -> 'clashes') > 0,
        (details -> 'clashes' -> 0 ->> 'appointment_id') is not null
        from public.calendar_sync_flags where resolved_at is null $$,
    $$ values ('clash'::text, 'tap-k'::text, true, true) $$,
    'the front desk sees the flag and what it clashes with'
);
select tests.act_as('b_front_desk');
select is_empty($$ select * from public.calendar_sync_flags $$, 'another hospital''s front desk sees no flag');
select tests.act_as('a_doctor');
select is_empty($$ select * from public.calendar_sync_flags $$, 'a doctor sees no flag');
select tests.clear_authentication();

-- Meetings (the booking at the top level) and no-shows (their own shape) ------------------------
insert into answers values ('meet', pg_temp.receive(pg_temp.cal('BOOKING_CREATED', 'tap-m', '2031-05-11 04:00Z')));
select pg_temp.receive(jsonb_build_object(
    'triggerEvent', 'MEETING_ENDED', 'createdAt', now(), 'uid', 'tap-m', 'startTime', '2031-05-11T04:00:00Z',
    'endTime', '2031-05-11T04:30:00Z', 'status', 'ACCEPTED', 'user', jsonb_build_object('id', 770001)
)::text);
select results_eq(
    $$ select from_state, to_state from public.status_history
        where subject_id = (select (answer ->> 'appointment_id')::uuid from answers where name = 'meet')
            and from_state is distinct from to_state
        order by occurred_at $$,
    $$ values (null::text, 'scheduled'::text), ('scheduled', 'in_consultation'), ('in_consultation', 'completed') $$,
    'a meeting that ended completes the appointment one recorded transition at a time'
);
insert into answers values ('show', pg_temp.receive(pg_temp.cal('BOOKING_CREATED', 'tap-n', '2031-05-12 04:00Z')));
insert into answers values ('no-show', pg_temp.receive(jsonb_build_object(
    'triggerEvent', 'BOOKING_NO_SHOW_UPDATED', 'createdAt', now(),
    'payload', jsonb_build_object(
        'bookingUid', 'tap-n', 'attendees', jsonb_build_array(jsonb_build_object('email', 'x@cal.test', 'noShow', true))
    )
)::text));
select results_eq(
    $$ select l.answer ->> 'outcome', a.status::text from answers as l, public.appointments as a
        where l.name = 'no-show' and a.id = (l.answer ->> 'appointment_id')::uuid $$,
    $$ values ('applied'::text, 'no_show'::text) $$,
    'a no-show update marks the appointment no_show'
);
select is(
    pg_temp.receive(jsonb_build_object(
        'triggerEvent', 'BOOKING_NO_SHOW_UPDATED', 'createdAt', now(),
        'payload', jsonb_build_object(
            'bookingUid', 'tap-unknown', 'attendees', jsonb_build_array(jsonb_build_object('noShow', true))
        )
    )::text) ->> 'reason',
    'unknown_booking', 'a no-show of a booking never seen is unprocessable (it does not carry the booking)'
);
select is(
    pg_temp.receive('{"triggerEvent": "BOOKING_CREATED", "payload": {"uid": "tap-bad", "startTime": "soon"}}')
    ->> 'reason',
    'malformed_event', 'a booking without readable times is stored as malformed'
);

-- Several patients of the hospital match the attendee: flagged, none picked -----------------------
insert into public.patients (full_name, phone)
values ('Twin One', '+919877700777'), ('Twin Two', '+919877700777');
insert into public.patient_registrations (patient_id, hospital_id, referral_source)
select
    p.id,
    tests.id_of('hospitals', 'TSTA'),
    'walk-in'
from public.patients as p
where p.phone = '+919877700777';
insert into answers values (
    'twins', pg_temp.receive(pg_temp.cal('BOOKING_CREATED', 'tap-t', '2031-05-13 04:00Z', phone => '+919877700777'))
);
select is(
    (
        select answer ->> 'outcome' || '/' || (answer ->> 'reason') from answers
        where name = 'twins'
    ),
    'flagged/ambiguous_patient', 'an attendee matching two patients is flagged'
);
select results_eq(
    $$ select count(*)::integer from public.appointments where external_ref = 'tap-t' $$,
    $$ values (0) $$,
    'and booked for neither'
);
select tests.act_as('a_front_desk');
select results_eq(
    $$ select kind, (details ->> 'candidates')::integer from public.calendar_sync_flags
        where external_ref = 'tap-t' $$,
    $$ values ('ambiguous_patient'::text, 2) $$,
    'the front desk sees the flag'
);
select tests.clear_authentication();

-- A phone-only booking: Cal.com's made-up email is no email, the phone comes from the answers --
select pg_temp.receive(jsonb_build_object(
    'triggerEvent', 'BOOKING_CREATED', 'createdAt', now(),
    'payload', jsonb_build_object(
        'uid', 'tap-p', 'status', 'ACCEPTED', 'startTime', '2031-05-14T04:00:00Z', 'endTime', '2031-05-14T04:30:00Z',
        'organizer', jsonb_build_object('id', 770001),
        'attendees', jsonb_build_array(jsonb_build_object(
            'name', 'Phone Only', 'email', '919877700888@sms.cal.com', 'phoneNumber', null
        )),
        'responses', jsonb_build_object('attendeePhoneNumber', jsonb_build_object('value', '+919877700888'))
    )
)::text);
select results_eq(
    $$ select p.phone::text, p.email::text from public.patients as p
        inner join public.appointments as a on p.id = a.patient_id
        where a.external_ref = 'tap-p' $$,
    $$ values ('+919877700888'::text, null::text) $$,
    'a phone-only attendee becomes a patient with that phone and no made-up email'
);

-- Retention: payloads erased, rows kept, replays still recognised ---------------------------------
update private.webhook_inbox set last_received_at = now() - interval '31 days'
where external_ref = 'tap-a' and event_type = 'BOOKING_CREATED';
update private.webhook_inbox set last_received_at = now() - interval '31 days'
where external_ref = 'tap-u1';
update private.webhook_inbox set last_received_at = now() - interval '31 days', outcome = 'unprocessable'
where external_ref = 'tap-k';
select ok(private.purge_webhook_payloads() >= 2, 'the retention job erases old payloads');
select results_eq(
    $$ select external_ref, payload is null, payload_erased_at is not null from private.webhook_inbox
        where external_ref in ('tap-a', 'tap-u1', 'tap-k') and event_type = 'BOOKING_CREATED'
        order by external_ref $$,
    $$ values ('tap-a'::text, true, true), ('tap-k', false, false), ('tap-u1', true, true) $$,
    'of applied events after 30 days; an event never applied keeps its payload longer'
);
select is(
    pg_temp.receive(pg_temp.cal('BOOKING_CREATED', 'tap-a', '2031-05-06 04:00Z')) ->> 'outcome',
    'duplicate', 'a replay of an erased event is still a duplicate'
);

select * from finish();
rollback;
