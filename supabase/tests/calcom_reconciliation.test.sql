-- Reconciliation of the Cal.com mirror (issue 14, item 4), as each role sees it: only the
-- service role runs one; a page of bookings goes through the webhook's apply function (a
-- missing booking created, a drifted one moved or cancelled, nothing twice); carebase keeps a
-- clinical status and a change not yet pushed; what cannot be fixed is flagged once; an
-- appointment whose booking is gone is pushed again (carebase-born) or flagged (Cal.com-born);
-- a hospital admin sees the runs with their hospital's counts, nobody else anything.
begin;
select no_plan();

select tests.create_world();

-- A booking as Cal.com's API v2 lists it, of the organizer linked below.
create function pg_temp.booking(uid text, status text, starts timestamptz, extra jsonb default '{}')
returns jsonb
language sql
as $$
    select jsonb_build_object(
        'uid', uid, 'status', status, 'start', starts, 'end', starts + interval '30 minutes',
        'hosts', jsonb_build_array(jsonb_build_object('id', 880001, 'email', 'organizer880001@cal.test')),
        'attendees', jsonb_build_array(
            jsonb_build_object('name', 'Cal Attendee', 'email', '', 'phoneNumber', '+919877800001', 'absent', false)
        ),
        'metadata', '{}'::jsonb
    ) || extra;
$$;

create temporary table runs (name text primary key, id uuid);
create temporary table answers (name text primary key, answer jsonb);
grant all on runs, answers to authenticated, service_role;

-- The service role runs; page answers summed over hospitals.
create function pg_temp.page(run_name text, bookings jsonb)
returns jsonb
language plpgsql
as $$
declare
    answer jsonb;
begin
    perform tests.act_as_service_role();
    answer := public.calendar_reconcile_bookings((select r.id from runs as r where r.name = run_name), bookings);
    perform tests.clear_authentication();
    return (
        select jsonb_object_agg(k.name, (select coalesce(sum((v.value ->> k.name)::integer), 0) from jsonb_each(answer) as v))
        from unnest(array['checked', 'created', 'updated', 'cancelled', 'flagged', 'skipped']) as k (name)
    );
end;
$$;

create function pg_temp.counts(checked integer, created integer, updated integer, cancelled integer, flagged integer)
returns jsonb
language sql
as $$
    select jsonb_build_object(
        'checked', checked, 'created', created, 'updated', updated, 'cancelled', cancelled, 'flagged', flagged,
        'skipped', 0
    );
$$;

insert into public.doctor_calendar_links (hospital_id, doctor_id, cal_user_id, cal_email)
values (tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), 880001, 'organizer880001@cal.test');

-- Who may run one -------------------------------------------------------------------------------
select tests.act_as('a_admin');
select throws_ok(
    $$ select public.calendar_reconcile_begin('manual', now(), now() + interval '1 day') $$, '42501', null,
    'a hospital admin cannot start a run'
);
select throws_ok(
    $$ select public.calendar_reconcile_bookings(gen_random_uuid(), '[]') $$, '42501', null,
    'nor apply bookings'
);
select throws_ok(
    $$ select public.calendar_reconcile_missing(gen_random_uuid(), '{x}') $$, '42501', null,
    'nor declare bookings missing'
);
select throws_ok($$ select * from private.calendar_reconciliations $$, '42501', null, 'nor read the runs table');
select tests.act_as('a_patient1');
select throws_ok(
    $$ select public.calendar_reconcile_finish(gen_random_uuid()) $$, '42501', null, 'a patient cannot end one'
);
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.calendar_reconcile_unseen(gen_random_uuid(), '{}') $$, '42501', null, 'nor anon'
);

select tests.act_as_service_role();
select throws_ok(
    $$ select public.calendar_reconcile_begin('hourly', now(), now() + interval '1 day') $$, '22023', null,
    'an unknown trigger is refused'
);
select throws_ok(
    $$ select public.calendar_reconcile_begin('manual', now(), now() - interval '1 day') $$, '22023', null,
    'a window that ends before it starts is refused'
);
insert into runs values ('one', public.calendar_reconcile_begin('manual', '2031-06-01Z', '2031-07-01Z'));
select tests.clear_authentication();

-- Missing locally, then drift --------------------------------------------------------------------
select is(
    pg_temp.page('one', jsonb_build_array(
        pg_temp.booking('rc-a', 'accepted', '2031-06-02 04:00Z'),
        pg_temp.booking('rc-b', 'accepted', '2031-06-03 04:00Z'),
        pg_temp.booking('rc-c', 'accepted', '2031-06-04 04:00Z'),
        pg_temp.booking('rc-x', 'accepted', '2031-06-05 04:00Z', '{"hosts": [{"id": 990099}]}')
    )),
    pg_temp.counts(4, 3, 0, 0, 0) || '{"skipped": 1}',
    'bookings carebase never heard of are created; one of no linked doctor is skipped'
);
select results_eq(
    $$ select external_ref, status::text, source::text, sync_state::text from public.appointments
        where external_ref like 'rc-%' order by external_ref $$,
    $$ values ('rc-a', 'scheduled', 'calcom', 'synced'), ('rc-b', 'scheduled', 'calcom', 'synced'),
        ('rc-c', 'scheduled', 'calcom', 'synced') $$,
    'as the webhook would have made them'
);
select is(
    pg_temp.page('one', jsonb_build_array(
        pg_temp.booking('rc-a', 'accepted', '2031-06-02 04:00Z'),
        pg_temp.booking('rc-b', 'accepted', '2031-06-03 04:00Z'),
        pg_temp.booking('rc-c', 'accepted', '2031-06-04 04:00Z')
    )),
    pg_temp.counts(3, 0, 0, 0, 0),
    'the same page again changes nothing'
);

-- rc-a cancelled; rc-b moved (a new uid, the old one cancelled by the reschedule); rc-c done here.
update public.appointments set status = 'in_consultation'
where external_ref = 'rc-c';
update public.appointments set status = 'completed'
where external_ref = 'rc-c';
select is(
    pg_temp.page('one', jsonb_build_array(
        pg_temp.booking('rc-a', 'cancelled', '2031-06-02 04:00Z', '{"cancellationReason": "travel"}'),
        pg_temp.booking('rc-b', 'cancelled', '2031-06-03 04:00Z', '{"rescheduledToUid": "rc-b2"}'),
        pg_temp.booking('rc-b2', 'accepted', '2031-06-03 06:00Z', '{"rescheduledFromUid": "rc-b"}'),
        pg_temp.booking('rc-c', 'cancelled', '2031-06-04 04:00Z')
    )),
    pg_temp.counts(4, 0, 1, 1, 1),
    'a cancellation and a move are applied; a completed appointment cancelled in Cal.com is flagged'
);
select results_eq(
    $$ select external_ref, status::text, starts_at, status_reason from public.appointments
        where external_ref like 'rc-%' order by external_ref $$,
    $$ values ('rc-a', 'cancelled', '2031-06-02 04:00Z'::timestamptz, 'cancelled in Cal.com: travel'),
        ('rc-b2', 'scheduled', '2031-06-03 06:00Z'::timestamptz, null),
        ('rc-c', 'completed', '2031-06-04 04:00Z'::timestamptz, null) $$,
    'one appointment per chain, at Cal.com''s time; carebase keeps the completed one'
);
select is(
    pg_temp.page('one', jsonb_build_array(
        pg_temp.booking('rc-b', 'cancelled', '2031-06-03 04:00Z', '{"rescheduledToUid": "rc-b2"}'),
        pg_temp.booking('rc-c', 'cancelled', '2031-06-04 04:00Z')
    )),
    pg_temp.counts(2, 0, 0, 0, 0),
    'the old uid of a reschedule does not cancel the appointment, and the open flag is not raised again'
);

-- A change made in carebase, not yet pushed, wins over Cal.com's older state.
update public.appointments set sync_state = 'pending'
where external_ref = 'rc-b2';
select is(
    pg_temp.page('one', jsonb_build_array(pg_temp.booking('rc-b2', 'cancelled', '2031-06-03 06:00Z'))),
    pg_temp.counts(1, 0, 0, 0, 0),
    'an appointment waiting for its push is left to the push'
);
select results_eq(
    $$ select status::text from public.appointments where external_ref = 'rc-b2' $$,
    $$ values ('scheduled') $$, 'and stays as carebase has it'
);
update public.appointments set sync_state = 'synced'
where external_ref = 'rc-b2';

-- A second live booking tagged with a synced appointment: flagged, never a second appointment.
select is(
    pg_temp.page('one', jsonb_build_array(pg_temp.booking(
        'rc-dup', 'accepted', '2031-06-06 04:00Z', jsonb_build_object(
            'metadata', jsonb_build_object(
                'carebase_appointment_id', (
                    select id from public.appointments
                    where external_ref = 'rc-b2'
                )
            )
        )
    ))),
    pg_temp.counts(1, 0, 0, 0, 1),
    'a duplicate of carebase''s booking is flagged'
);
select is_empty($$ select from public.appointments where external_ref = 'rc-dup' $$, 'and not mirrored');

-- Missing remotely -------------------------------------------------------------------------------
-- A carebase booking pushed to Cal.com (rc-ours) and the Cal.com-born rc-b2, both gone there.
select tests.act_as('a_front_desk');
insert into answers values ('ours', to_jsonb(public.book_appointment(
    doctor_id => tests.id_of('doctors', 'a_doctor'), starts_at => '2031-06-07 04:00Z',
    patient_id => tests.id_of('patients', 'a_patient1')
)));
select tests.clear_authentication();
update public.appointments set external_ref = 'rc-ours', sync_state = 'synced'
where id = (
    select (answer ->> 'id')::uuid from answers
    where name = 'ours'
);
select tests.act_as_service_role();
select results_eq(
    $$ select * from public.calendar_reconcile_unseen((select id from runs where name = 'one'), '{rc-a,rc-b,rc-c}') $$,
    $$ values ('rc-b2'), ('rc-ours') $$,
    'the open mirrored appointments of the window Cal.com did not list'
);
select is(
    (
        select sum((v.value ->> 'updated')::integer) || '/' || sum((v.value ->> 'flagged')::integer)
        from
            jsonb_each(public.calendar_reconcile_missing((
                select id from runs
                where name = 'one'
            ), '{rc-b2,rc-ours}')) as v
    ),
    '1/1', 'Cal.com no longer has them: one pushed again, one flagged'
);
select tests.clear_authentication();
select results_eq(
    $$ select external_ref, sync_state::text, status::text from public.appointments
        where id = (select (answer ->> 'id')::uuid from answers where name = 'ours') $$,
    $$ values (null::text, 'pending', 'scheduled') $$,
    'carebase''s own booking waits to be created in Cal.com again'
);
select results_eq(
    $$ select status::text, sync_state::text from public.appointments where external_ref = 'rc-b2' $$,
    $$ values ('scheduled', 'synced') $$, 'the Cal.com-born appointment is kept'
);
select tests.act_as_service_role();
select is(
    (
        select coalesce(sum((v.value ->> 'flagged')::integer), 0)
        from jsonb_each(public.calendar_reconcile_missing((
            select id from runs
            where name = 'one'
        ), '{rc-b2}')) as v
    ),
    0::bigint, 'a vanished booking is flagged once'
);
select is(
    (public.calendar_reconcile_finish((
        select id from runs
        where name = 'one'
    ), null) ->> 'checked')::integer,
    18, 'the run ends with its counts'
);
select throws_ok(
    $$ select public.calendar_reconcile_bookings((select id from runs where name = 'one'), '[]') $$,
    'PT409', null, 'a finished run takes no more bookings'
);
-- A run its sidecar never finished is ended as abandoned when the next one begins.
insert into runs values ('lost', public.calendar_reconcile_begin('periodic', '2031-06-01Z', '2031-07-01Z'));
select tests.clear_authentication();
update private.calendar_reconciliations set started_at = now() - interval '7 hours'
where id = (
    select id from runs
    where name = 'lost'
);
select tests.act_as_service_role();
insert into runs values ('next', public.calendar_reconcile_begin('periodic', '2031-06-01Z', '2031-07-01Z'));
select tests.clear_authentication();
select results_eq(
    $$ select finished_at is not null, error from private.calendar_reconciliations
        where id in (select id from runs where name in ('lost', 'next')) order by started_at $$,
    $$ values (true, 'abandoned: the run was never finished'), (false, null) $$,
    'an abandoned run is ended with the reason'
);
-- A flag the front desk closed, saying what they did, is their decision: not raised again.
select tests.act_as('a_front_desk');
select public.resolve_calendar_flag(
    (
        select f.id from public.calendar_sync_flags as f
        where f.external_ref = 'rc-b2'
    ),
    'the doctor saw the patient; the booking was deleted in Cal.com by mistake'
);
select tests.act_as_service_role();
select is(
    (
        select coalesce(sum((v.value ->> 'flagged')::integer), 0)
        from jsonb_each(public.calendar_reconcile_missing((
            select id from runs
            where name = 'next'
        ), '{rc-b2}')) as v
    ),
    0::bigint, 'a flag closed by a person is not raised again by a later run'
);
select tests.clear_authentication();
delete from private.calendar_reconciliations
where id in (
    select id from runs
    where name in ('lost', 'next')
);
select tests.clear_authentication();

-- Who sees what ----------------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select results_eq(
    $$ select kind, external_ref from public.calendar_sync_flags where details ? 'reconciliation_id'
        order by kind $$,
    $$ values ('booking_vanished', 'rc-b2'), ('duplicate_booking', 'rc-dup'), ('status_conflict', 'rc-c') $$,
    'the front desk sees what the run could not fix'
);
select tests.act_as('a_admin');
select results_eq(
    $$ select hospital_id, run_trigger, checked, created, updated, cancelled, flagged, skipped, finished_at is not null
        from public.calendar_reconciliations() $$,
    $$ values (tests.id_of('hospitals', 'TSTA'), 'manual', 17, 3, 2, 1, 3, null::integer, true) $$,
    'the admin sees the run with their hospital''s counts (the skipped booking was no hospital''s)'
);
select tests.act_as('b_admin');
select is_empty($$ select * from public.calendar_reconciliations() $$, 'another hospital''s admin sees no run');
select is_empty(
    $$ select * from public.calendar_sync_flags where details ? 'reconciliation_id' $$, 'nor its flags'
);
select tests.act_as('a_doctor');
select is_empty($$ select * from public.calendar_reconciliations() $$, 'a doctor sees no run');
select tests.act_as('a_front_desk');
select is_empty($$ select * from public.calendar_reconciliations() $$, 'nor the front desk');
select tests.act_as_service_role();
select results_eq(
    $$ select hospital_id, checked, skipped from public.calendar_reconciliations() $$,
    $$ values (null::uuid, 18, 1) $$,
    'the service role sees the whole run'
);
select tests.clear_authentication();

select * from finish();
rollback;
