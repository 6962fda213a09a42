-- Notification delivery: device tokens are each user's own; only the service role claims,
-- completes and fails outbox rows; a claim takes due pending rows once, leases them, reclaims
-- them when the lease ends, never takes a cancelled row; failures back off, then dead-letter;
-- a hospital admin lists and retries the dead letters of their hospital only.

begin;
select plan(60);

select tests.create_world();
delete from private.outbox;

-- Outbox rows by name, and each claim's rows by round.
create table tests.claims (round integer, id uuid, claim_token uuid, attempts integer);
grant select, insert on tests.claims to service_role;

create function tests.claim_of(round integer, name text)
returns uuid
language sql
stable
set search_path = ''
as $$
    select c.claim_token from tests.claims as c
    where c.round = claim_of.round and c.id = tests.recall(claim_of.name);
$$;

-- An appointment_booked message at TSTA; the payload carries a reason no message may show.
create function tests.add_note(
    name text, recipient_kind text, recipient text, channel text, deliver_after timestamptz
)
returns void
language plpgsql
set search_path = ''
as $$
declare
    subject uuid := gen_random_uuid();
begin
    perform private.enqueue(
        'appointment_booked', 'appointment', subject, tests.id_of('hospitals', 'TSTA'), add_note.recipient_kind,
        tests.id_of(case when add_note.recipient_kind = 'patient' then 'patients' else 'profiles' end, recipient),
        add_note.channel, jsonb_build_object('starts_at', '2026-12-01T04:30:00Z', 'reason', 'chest pain'),
        add_note.deliver_after
    );
    perform tests.remember(add_note.name, o.id) from private.outbox as o
    where o.subject_id = subject;
end;
$$;

grant execute on all functions in schema tests to authenticated, service_role;

-- device_tokens: row-level security ------------------------------------------------------
select tests.act_as('a_patient1');
select lives_ok(
    $$ insert into public.device_tokens (token, platform) values ('tok-p1', 'android') $$,
    'a patient registers a device token for themselves'
);
select is(
    (
        select user_id from public.device_tokens
        where token = 'tok-p1'
    ),
    tests.user_id('a_patient1'),
    'the token belongs to the caller by default'
);
select throws_ok(
    $$ insert into public.device_tokens (user_id, token, platform)
        values (tests.user_id('a_patient2'), 'tok-forged', 'android') $$,
    '42501',
    'permission denied for table device_tokens',
    'a user cannot register a token for someone else (the owner column takes the caller, never a value)'
);
select throws_ok(
    $$ update public.device_tokens set user_id = tests.user_id('a_patient2') $$,
    '42501',
    'permission denied for table device_tokens',
    'a user cannot hand their token to another user'
);
select tests.act_as('a_patient2');
select is_empty($$ select * from public.device_tokens $$, 'another patient does not see it');
select results_eq(
    $$ with gone as (delete from public.device_tokens where token = 'tok-p1' returning 1)
        select count(*)::integer from gone $$,
    array[0],
    'another patient cannot delete it'
);
select tests.act_as('a_doctor');
select is_empty($$ select * from public.device_tokens $$, 'staff do not see patients'' tokens');
select tests.act_as_anon();
select throws_ok(
    $$ select * from public.device_tokens $$, '42501', 'permission denied for table device_tokens',
    'anon cannot read device tokens'
);
select tests.act_as('a_doctor2');
select lives_ok(
    $$ insert into public.device_tokens (token, platform) values ('tok-shared', 'android') $$,
    'a doctor registers a device'
);
select tests.act_as('a_patient2');
select lives_ok(
    $$ insert into public.device_tokens (token, platform) values ('tok-shared', 'android') $$,
    'another user signing in on that device registers the same token'
);
select tests.clear_authentication();
select results_eq(
    $$ select user_id from public.device_tokens where token = 'tok-shared' $$,
    array[tests.user_id('a_patient2')],
    'the device changed hands: only the new user holds the token'
);
select tests.act_as('a_patient1');
select lives_ok(
    $$ delete from public.device_tokens where token = 'tok-p1' $$,
    'a user removes their own token'
);
select tests.clear_authentication();
select is_empty($$ select * from public.device_tokens where token = 'tok-p1' $$, 'and it is gone');
insert into public.device_tokens (user_id, token, platform) values (tests.user_id('a_patient1'), 'tok-p1', 'android');
delete from public.device_tokens
where token = 'tok-shared';

-- Worker RPCs are the service role's only ---------------------------------------------------
select
    ok(
        not has_function_privilege(r.role, f.signature, 'execute'),
        format('%s cannot execute %s', r.role, f.signature)
    )
from (values ('anon'), ('authenticated')) as r (role)
cross join (
    values ('public.claim_notifications(integer, interval, text[], integer)'),
    ('public.complete_notification(uuid, uuid, text)'),
    ('public.fail_notification(uuid, uuid, text, boolean, integer)'),
    ('public.forget_device_token(text)')
) as f (signature);
select tests.act_as('a_admin');
select throws_ok(
    $$ select * from public.claim_notifications() $$,
    '42501', null, 'even a hospital admin cannot claim notifications'
);

-- Claiming -------------------------------------------------------------------------------------
select tests.clear_authentication();
select tests.add_note('push_p1', 'patient', 'a_patient1', 'push', now() - interval '1 minute');
select tests.add_note('sms_p4', 'patient', 'ab_patient4', 'sms', now() - interval '2 minutes');
select tests.add_note('push_p2_no_device', 'patient', 'a_patient2', 'push', now() - interval '3 minutes');
select tests.add_note('push_doctor_no_device', 'user', 'a_doctor', 'push', now() - interval '4 minutes');
select tests.add_note('later', 'patient', 'a_patient1', 'push', now() + interval '1 hour');
select tests.add_note('email', 'patient', 'a_patient1', 'email', now() - interval '5 minutes');
select tests.add_note('cancelled', 'patient', 'a_patient1', 'push', now() - interval '6 minutes');
update private.outbox set state = 'cancelled'
where id = tests.recall('cancelled');

select tests.act_as_service_role();
create temporary table claim1 on commit drop as
select * from public.claim_notifications(10, '2 minutes', '{push,sms}');
insert into tests.claims
select
    1,
    c.id,
    c.claim_token,
    c.attempts
from claim1 as c;
select set_eq(
    $$ select n.name from claim1 as c inner join tests.remembered() as n on c.id = n.id $$,
    array['push_p1', 'sms_p4', 'push_p2_no_device'],
    'a claim takes the due pending rows of its channels: not later ones, cancelled ones or email'
);
select results_eq(
    $$ select device_tokens, phone, title from claim1 where id = tests.recall('push_p1') $$,
    $$ values ('{tok-p1}'::text [], null::text, 'Appointment booked') $$,
    'a push carries the recipient''s device tokens and a title'
);
select is(
    (
        select body from claim1
        where id = tests.recall('push_p1')
    ),
    'Your appointment is on 01 Dec 2026 at 10:00.',
    'the text says when, in the hospital''s time zone, and nothing clinical (no reason)'
);
select results_eq(
    $$ select channel, phone from claim1 where id = tests.recall('sms_p4') $$,
    $$ values ('sms', '+919800030004') $$,
    'an SMS carries the patient''s number'
);
select results_eq(
    $$ select channel, phone from claim1 where id = tests.recall('push_p2_no_device') $$,
    $$ values ('sms', '+919800010002') $$,
    'a push to a patient with no device goes by SMS'
);
select is(
    (
        select data ->> 'notification_id' from claim1
        where id = tests.recall('push_p1')
    ),
    tests.recall('push_p1')::text,
    'the data names the notification (ids only)'
);
select tests.clear_authentication();
select results_eq(
    $$ select state, attempts, lease_until > now() from private.outbox where id = tests.recall('push_p1') $$,
    $$ values ('processing', 1, true) $$,
    'a claimed row is processing, leased, on its first attempt'
);
select results_eq(
    $$ select state, last_error from private.outbox where id = tests.recall('push_doctor_no_device') $$,
    $$ values ('cancelled', 'undeliverable: the recipient has no registered device') $$,
    'staff with no device are not notified'
);
select tests.act_as_service_role();
select is_empty(
    $$ select * from public.claim_notifications(10, '2 minutes', '{push,sms}') $$,
    'a second claim finds nothing: leased rows are not claimed again'
);

-- Completing and failing --------------------------------------------------------------------
select is(
    public.complete_notification(tests.recall('push_p1'), gen_random_uuid(), 'x'),
    false,
    'a worker without the current claim cannot complete the row'
);
select is(
    public.complete_notification(tests.recall('push_p1'), tests.claim_of(1, 'push_p1'), 'projects/demo/messages/1'),
    true,
    'the claiming worker completes it'
);
select tests.clear_authentication();
select results_eq(
    $$ select state, provider_message_id, sent_at is not null from private.outbox where id = tests.recall('push_p1') $$,
    $$ values ('sent', 'projects/demo/messages/1', true) $$,
    'it is sent, with the provider''s message id'
);
select tests.act_as_service_role();
select results_eq(
    $$ select state, deliver_after between now() + interval '24 seconds' and now() + interval '36 seconds'
        from public.fail_notification(tests.recall('sms_p4'), tests.claim_of(1, 'sms_p4'), 'twilio 503') $$,
    $$ values ('pending', true) $$,
    'a first failure retries in about 30 seconds'
);
select tests.clear_authentication();
update private.outbox set deliver_after = now()
where id = tests.recall('sms_p4');
select tests.act_as_service_role();
insert into tests.claims
select
    2,
    c.id,
    c.claim_token,
    c.attempts
from public.claim_notifications(10, '2 minutes', '{sms}') as c;
select results_eq(
    $$ select attempts from tests.claims where round = 2 and id = tests.recall('sms_p4') $$,
    array[2],
    'the retry is the second attempt'
);
select results_eq(
    $$ select state, deliver_after between now() + interval '48 seconds' and now() + interval '72 seconds'
        from public.fail_notification(tests.recall('sms_p4'), tests.claim_of(2, 'sms_p4'), 'twilio 503') $$,
    $$ values ('pending', true) $$,
    'the second failure waits twice as long'
);
select tests.clear_authentication();
update private.outbox set deliver_after = now(), attempts = 4
where id = tests.recall('sms_p4');
select tests.act_as_service_role();
insert into tests.claims
select
    3,
    c.id,
    c.claim_token,
    c.attempts
from public.claim_notifications(10, '2 minutes', '{sms}', 5) as c;
select results_eq(
    $$ select state from public.fail_notification(
        tests.recall('sms_p4'), tests.claim_of(3, 'sms_p4'), 'twilio 503', false, 5
    ) $$,
    array['dead'],
    'the failure of the last attempt dead-letters the row'
);
select results_eq(
    $$ select state from public.fail_notification(
        tests.recall('push_p2_no_device'), tests.claim_of(1, 'push_p2_no_device'), 'twilio 21211: invalid number', true
    ) $$,
    array['dead'],
    'a permanent failure dead-letters the row at once'
);

-- Leases ----------------------------------------------------------------------------------------
select tests.clear_authentication();
update private.outbox set deliver_after = now()
where id = tests.recall('later');
select tests.act_as_service_role();
insert into tests.claims
select
    4,
    c.id,
    c.claim_token,
    c.attempts
from public.claim_notifications(10, '2 minutes', '{push}') as c;
select tests.clear_authentication();
update private.outbox set lease_until = now() - interval '1 second'
where id = tests.recall('later');
select tests.act_as_service_role();
insert into tests.claims
select
    5,
    c.id,
    c.claim_token,
    c.attempts
from public.claim_notifications(10, '2 minutes', '{push}') as c;
select results_eq(
    $$ select attempts, claim_token <> tests.claim_of(4, 'later') from tests.claims where round = 5 $$,
    $$ values (2, true) $$,
    'a row whose lease ended (its worker died) is claimed again, under a new claim'
);
select is(
    public.complete_notification(tests.recall('later'), tests.claim_of(4, 'later')),
    false,
    'the worker that lost the lease cannot complete it any more'
);
select tests.clear_authentication();
update private.outbox set lease_until = now() - interval '1 second', attempts = 5
where id = tests.recall('later');
select tests.act_as_service_role();
select is_empty(
    $$ select * from public.claim_notifications(10, '2 minutes', '{push}', 5) $$,
    'a row whose worker died on its last attempt is not claimed again'
);
select tests.clear_authentication();
select results_eq(
    $$ select state, last_error from private.outbox where id = tests.recall('later') $$,
    $$ values ('dead', 'the worker delivering it stopped answering (attempt 5 of 5)') $$,
    'it is dead-lettered'
);
select tests.act_as_service_role();
select throws_ok(
    $$ select * from public.claim_notifications(0) $$, '22023', 'batch must be between 1 and 500',
    'a claim of nothing is refused'
);

-- Dead letters for admins -------------------------------------------------------------------------
select tests.clear_authentication();
select private.enqueue(
    'appointment_booked', 'appointment', gen_random_uuid(), tests.id_of('hospitals', 'TSTB'),
    'patient', tests.id_of('patients', 'b_patient3'), 'push'
);
update private.outbox set state = 'dead', last_error = 'fcm 500'
where recipient_id = tests.id_of('patients', 'b_patient3');
select tests.act_as('a_admin');
select set_eq(
    $$ select n.name from public.dead_notifications() as d inner join tests.remembered() as n on d.id = n.id $$,
    array['sms_p4', 'push_p2_no_device', 'later'],
    'a hospital admin lists the dead letters of their hospital'
);
select is(
    (
        select last_error from public.dead_notifications()
        where id = tests.recall('sms_p4')
    ),
    'twilio 503',
    'with the last error'
);
select tests.act_as('b_admin');
select results_eq(
    $$ select recipient_id from public.dead_notifications() $$,
    array[tests.id_of('patients', 'b_patient3')],
    'another hospital''s admin sees only their own'
);
select throws_ok(
    $$ select public.retry_notification(tests.recall('sms_p4')) $$,
    'PT404', 'no such notification in your hospital',
    'and cannot retry another hospital''s'
);
select tests.act_as('a_doctor');
select is_empty($$ select * from public.dead_notifications() $$, 'a doctor sees no dead letters');
select throws_ok(
    $$ select public.retry_notification(tests.recall('sms_p4')) $$,
    '42501', 'only a hospital admin can retry a notification',
    'and cannot retry one'
);
select tests.act_as('a_admin');
select is(public.retry_notification(tests.recall('sms_p4')), 'pending', 'the admin retries a dead letter');
select tests.clear_authentication();
select results_eq(
    $$ select state, attempts, deliver_after <= now() from private.outbox where id = tests.recall('sms_p4') $$,
    $$ values ('pending', 0, true) $$,
    'it is pending again, due now, attempts from zero'
);
select tests.act_as('a_admin');
select throws_ok(
    $$ select public.retry_notification(tests.recall('sms_p4')) $$,
    'PT409', 'only a dead notification can be retried; this one is pending',
    'only a dead letter can be retried'
);

-- Consent wins ---------------------------------------------------------------------------------
insert into public.consent_documents (hospital_id, purpose, version, title, body)
values (tests.id_of('hospitals', 'TSTA'), 'contact_sms', 1, 'SMS', 'You may text me.');
select tests.act_as('a_front_desk');
select public.withdraw_consent(tests.id_of('hospitals', 'TSTA'), 'contact_sms', tests.id_of('patients', 'ab_patient4'));
select tests.clear_authentication();
select is(
    (
        select state from private.outbox
        where id = tests.recall('sms_p4')
    ),
    'cancelled',
    'withdrawing SMS contact cancels the retried row'
);
select tests.act_as_service_role();
select is_empty(
    $$ select * from public.claim_notifications(10, '2 minutes', '{sms}') $$,
    'and a cancelled row is never claimed'
);
select tests.clear_authentication();
update private.outbox set state = 'dead'
where id = tests.recall('sms_p4');
select tests.act_as('a_admin');
select is(
    public.retry_notification(tests.recall('sms_p4')),
    'cancelled',
    'retrying a dead SMS to a patient who withdrew SMS contact cancels it instead'
);

-- A claim fills its batch past the rows it settles ---------------------------------------------
select tests.clear_authentication();
update private.outbox set state = 'cancelled'
where state in ('pending', 'processing');
select tests.add_note('settles_' || n, 'user', 'a_doctor', 'push', now() - interval '10 minutes')
from generate_series(1, 25) as n;
select tests.add_note('behind_them', 'patient', 'a_patient1', 'push', now() - interval '1 minute');
select tests.act_as_service_role();
select results_eq(
    $$ select c.id from public.claim_notifications(20, '2 minutes', '{push}') as c $$,
    $$ values (tests.recall('behind_them')) $$,
    'a claim goes on past the rows it settles (25 for a doctor without the app) to the one behind them'
);
select tests.clear_authentication();
select results_eq(
    $$ select o.state, count(*)::integer from private.outbox as o
        where o.id in (select tests.recall('settles_' || n) from generate_series(1, 25) as n)
        group by o.state $$,
    $$ values ('cancelled', 25) $$,
    'and every row it passed is settled, none left waiting'
);

-- forget_device_token ---------------------------------------------------------------------------
select tests.act_as_service_role();
select is(public.forget_device_token('tok-p1'), true, 'the worker removes a token FCM no longer knows');
select tests.clear_authentication();
select is_empty($$ select * from public.device_tokens where token = 'tok-p1' $$, 'it is gone');

select * from finish();
rollback;
