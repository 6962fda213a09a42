-- Communications (issue 19, item 2): templates declare what they use and nothing clinical;
-- rpc/send_message within the caller's reach, refusing a withdrawn contact and a WhatsApp free
-- text outside the 24-hour window (a template goes); the worker's claim re-checks consent and
-- the window; the outbox settles the message; Twilio's status callbacks move it forward only;
-- read, archive, stats and ranked search under RLS.
begin;
select plan(59);

select tests.create_world();
-- Only this file's rows are waiting in the outbox (the stack's demo data may have some).
update private.outbox set state = 'cancelled'
where state in ('pending', 'processing');

-- The worker's view: claims as the service role, as the sidecar does.
create function pg_temp.claim(channels text[] default '{sms,whatsapp,email}')
returns setof jsonb
language plpgsql
as $$
begin
    perform tests.act_as_service_role();
    return query select to_jsonb(c) from public.claim_notifications(20, '2 minutes', channels, 3) as c;
    perform tests.clear_authentication();
end;
$$;

-- Templates -------------------------------------------------------------------------------------
select tests.act_as('a_admin');
select lives_ok(
    $$ insert into public.message_templates (hospital_id, code, name, channel, category, body, variables)
        values (tests.id_of('hospitals', 'TSTA'), 'apt_reminder', 'Appointment reminder', 'sms', 'appointment',
            'Hi {{ patient_name }}, your appointment is on {{ appointment_date }}.',
            '{patient_name,appointment_date}') $$,
    'an admin adds an SMS template declaring the variables it uses'
);
select throws_ok(
    $$ insert into public.message_templates (hospital_id, code, name, channel, body, variables)
        values (tests.id_of('hospitals', 'TSTA'), 'bad', 'Bad', 'sms', 'Hi {{ patient_name }} at {{ time }}',
            '{patient_name}') $$,
    '22023', 'the template uses variables it does not declare: time',
    'a template using a variable it does not declare is refused'
);
select throws_ok(
    $$ insert into public.message_templates (hospital_id, code, name, channel, category, body, variables)
        values (tests.id_of('hospitals', 'TSTA'), 'lab', 'Lab', 'sms', 'results',
            'Your HbA1c is {{ result_value }}', '{result_value}') $$,
    '22023', 'message bodies carry no clinical content; rename or remove: result_value',
    'a template declaring a clinical variable is refused'
);
select lives_ok(
    $$ insert into public.message_templates (hospital_id, code, name, channel, category, body, variables,
            whatsapp_content_sid)
        values (tests.id_of('hospitals', 'TSTA'), 'apt_reminder', 'Appointment reminder', 'whatsapp',
            'appointment', 'Hi {{ patient_name }}, see you on {{ appointment_date }}.',
            '{patient_name,appointment_date}', 'HX0123456789abcdef0123456789abcdef') $$,
    'an approved WhatsApp template carries its Twilio Content SID'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.message_templates (hospital_id, code, name, channel, body)
        values (tests.id_of('hospitals', 'TSTA'), 'fd', 'Front desk', 'sms', 'Hello') $$,
    '42501', 'new row violates row-level security policy for table "message_templates"',
    'the front desk does not write templates'
);
select isnt_empty(
    $$ select id from public.message_templates where code = 'apt_reminder' $$, 'but reads them'
);
select tests.act_as('b_front_desk');
select is_empty($$ select id from public.message_templates where code = 'apt_reminder' $$, 'another hospital does not');
select tests.clear_authentication();
create temporary table tpl on commit drop as
select
    channel::text as channel,
    id
from public.message_templates
where code = 'apt_reminder';
grant select on tpl to authenticated, service_role;

-- Sending ---------------------------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select tests.remember('sms', (
    public.send_message(
        tests.id_of('patients', 'a_patient1'), 'sms', 'Hi Gurmeet Singh, your appointment is on 5 Jan.',
        template_id => (
            select id from tpl
            where channel = 'sms'
        ),
        template_variables => '{"patient_name": "Gurmeet Singh", "appointment_date": "5 Jan"}'
    )
).id);
select results_eq(
    $$ select status, hospital_id, created_by from public.messages where id = tests.recall('sms') $$,
    $$ values ('queued', tests.id_of('hospitals', 'TSTA'), tests.user_id('a_front_desk')) $$,
    'the front desk queues an SMS for its patient (the hospital found from the registration)'
);
select tests.clear_authentication();
select results_eq(
    $$ select kind, channel, state, recipient_id from private.outbox where subject_id = tests.recall('sms') $$,
    $$ values ('message', 'sms', 'pending', tests.id_of('patients', 'a_patient1')) $$,
    'its outbox row waits for the worker'
);
select tests.act_as('b_front_desk');
select throws_ok(
    $$ select public.send_message(tests.id_of('patients', 'a_patient1'), 'sms', 'Hello',
        hospital_id => tests.id_of('hospitals', 'TSTA')) $$,
    'PT404', 'patient not found', 'another hospital''s front desk cannot message TSTA''s patient'
);
select throws_ok(
    $$ select public.send_message(tests.id_of('patients', 'a_patient1'), 'sms', 'Hello') $$,
    '22023', 'name the hospital the message is from', 'nor without naming a hospital'
);
select tests.act_as('a_patient2');
select throws_ok(
    $$ select public.send_message(tests.id_of('patients', 'a_patient1'), 'sms', 'Hello',
        hospital_id => tests.id_of('hospitals', 'TSTA')) $$,
    'PT404', 'patient not found', 'a patient sends nothing through it'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.send_message(tests.id_of('patients', 'a_patient1'), 'sms', 'Hello',
        template_id => (select id from tpl where channel = 'whatsapp')) $$,
    '22023', 'the template is for whatsapp', 'a template goes only on its channel'
);
select throws_ok(
    $$ select public.send_message(tests.id_of('patients', 'a_patient1'), 'email', 'Hello', 'Subject') $$,
    'PT422', 'the patient has no email address', 'an email needs the patient''s address'
);
select tests.clear_authentication();

-- The WhatsApp window -------------------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.send_message(tests.id_of('patients', 'a_patient1'), 'whatsapp', 'Are you feeling better?') $$,
    'PT409', 'outside the 24-hour WhatsApp window only an approved template may be sent',
    'a WhatsApp free text outside the 24-hour window is refused'
);
select tests.remember('wa_template', (
    public.send_message(
        tests.id_of('patients', 'a_patient1'), 'whatsapp', 'Hi Gurmeet Singh, see you on 5 Jan.',
        template_id => (
            select id from tpl
            where channel = 'whatsapp'
        ),
        template_variables => '{"patient_name": "Gurmeet Singh", "appointment_date": "5 Jan"}'
    )
).id);
select results_eq(
    $$ select status from public.messages where id = tests.recall('wa_template') $$, $$ values ('queued') $$,
    'an approved template goes'
);
select tests.act_as_service_role();
select results_eq(
    $$ select public.receive_patient_message('whatsapp', 'whatsapp:+919800010001', 'Yes, thank you', 'SMin1')
        ->> 'messages' $$,
    $$ values ('1') $$,
    'the patient writes on WhatsApp (recorded at their hospital)'
);
select tests.act_as('a_front_desk');
select tests.remember('wa_free', (
    public.send_message(tests.id_of('patients', 'a_patient1'), 'whatsapp', 'Glad to hear it. Take care.')
).id);
select results_eq(
    $$ select status from public.messages where id = tests.recall('wa_free') $$, $$ values ('queued') $$,
    'within 24 hours of the patient''s message a free text goes'
);
select results_eq(
    $$ select status, direction::text, body from public.messages where provider_message_id = 'SMin1' $$,
    $$ values ('received', 'inbound', 'Yes, thank you') $$,
    'the front desk reads the patient''s message'
);
select lives_ok(
    $$ select public.mark_message_read(id) from public.messages where provider_message_id = 'SMin1' $$,
    'and marks it read'
);
select throws_ok(
    $$ select public.mark_message_read(tests.recall('sms')) $$,
    'PT409', 'message cannot go from queued to read', 'a message not yet sent cannot be read'
);
select tests.clear_authentication();

-- The worker claims: text, address, and a WhatsApp template as its Content SID -------------------------
-- The window closes before the worker gets to the messages: the template still goes (as its
-- approved template), the free text does not.
update public.messages set created_at = now() - interval '25 hours'
where provider_message_id = 'SMin1';
create temporary table claimed on commit drop as select c from pg_temp.claim() as c;
grant select on claimed to service_role;
select results_eq(
    $$ select c ->> 'channel', c ->> 'phone', c ->> 'body', c -> 'data' ->> 'kind' from claimed as c
        where c -> 'data' ->> 'message_id' = tests.recall('sms')::text $$,
    $$ values ('sms', '+919800010001', 'Hi Gurmeet Singh, your appointment is on 5 Jan.', 'message') $$,
    'the SMS is claimed with the patient''s number and the text as sent'
);
select results_eq(
    $$ select c -> 'data' ->> 'content_sid', (c -> 'data' ->> 'content_variables')::jsonb from claimed as c
        where c -> 'data' ->> 'message_id' = tests.recall('wa_template')::text $$,
    $$ values ('HX0123456789abcdef0123456789abcdef', '{"1": "Gurmeet Singh", "2": "5 Jan"}'::jsonb) $$,
    'outside the window the WhatsApp template goes as its Content SID and variables in order'
);
select is_empty(
    $$ select c from claimed as c where c -> 'data' ->> 'message_id' = tests.recall('wa_free')::text $$,
    'the free text is not handed to the worker once the window closed'
);
select results_eq(
    $$ select status, status_reason from public.messages where id = tests.recall('wa_free') $$,
    $$ values ('failed', 'whatsapp_window_closed: the 24-hour window closed before it went out') $$,
    'it fails, saying why'
);
select results_eq(
    $$ select address from public.messages where id = tests.recall('sms') $$, $$ values ('+919800010001') $$,
    'a claimed message records where it goes'
);

-- Settled by the worker, then moved by Twilio's callbacks -------------------------------------------------
select tests.act_as_service_role();
select ok(
    public.complete_notification(
        (
            select (c ->> 'id')::uuid from claimed as c
            where c -> 'data' ->> 'message_id' = tests.recall('sms')::text
        ),
        (
            select (c ->> 'claim_token')::uuid from claimed as c
            where c -> 'data' ->> 'message_id' = tests.recall('sms')::text
        ),
        'SMabc'
    ),
    'the worker reports the SMS sent'
);
select results_eq(
    $$ select status, provider_message_id, sent_at is not null from public.messages where id = tests.recall('sms') $$,
    $$ values ('sent', 'SMabc', true) $$,
    'the message is sent, with Twilio''s id'
);
select results_eq(
    $$ select public.receive_twilio_status(tests.recall('sms'), '{"MessageSid": "SMabc", "MessageStatus": "delivered"}')
        ->> 'outcome' $$,
    $$ values ('applied') $$,
    'Twilio''s delivered callback is applied'
);
select results_eq(
    $$ select public.receive_twilio_status(tests.recall('sms'), '{"MessageSid": "SMabc", "MessageStatus": "delivered"}')
        ->> 'outcome' $$,
    $$ values ('duplicate') $$,
    'its replay is a duplicate'
);
select results_eq(
    $$ select public.receive_twilio_status(tests.recall('sms'), '{"MessageSid": "SMabc", "MessageStatus": "sent"}')
        ->> 'reason' $$,
    $$ values ('not_forward') $$,
    'a late sent does not move it back'
);
select results_eq(
    $$ select public.receive_twilio_status(tests.recall('sms'), '{"MessageSid": "SMother", "MessageStatus": "read"}')
        ->> 'reason' $$,
    $$ values ('provider_id_mismatch') $$,
    'a callback naming another Twilio message is not applied'
);
select results_eq(
    $$ select status, delivered_at is not null from public.messages where id = tests.recall('sms') $$,
    $$ values ('delivered', true) $$,
    'the SMS is delivered'
);
select results_eq(
    $$ select array_agg(to_state order by occurred_at) from public.status_history
        where subject_id = tests.recall('sms') $$,
    $$ values (array['queued', 'sent', 'delivered']) $$,
    'each step is in its history'
);
select tests.clear_authentication();
select results_eq(
    $$ select count(*)::integer, sum(deliveries)::integer from private.webhook_inbox
        where provider = 'twilio' and external_ref = 'SMabc' $$,
    $$ values (2, 3) $$,
    'every callback is kept in the webhook inbox, the replay counted on its first'
);
select tests.act_as_service_role();
-- A callback before the worker reported the send (Twilio may be faster): the message moves on
-- and takes the Twilio id; the worker's report then changes nothing.
select results_eq(
    $$ select public.receive_twilio_status(
        tests.recall('wa_template'), '{"MessageSid": "SMwa", "MessageStatus": "read"}'
    )
        ->> 'outcome' $$,
    $$ values ('applied') $$,
    'a read receipt arriving first moves the WhatsApp template from queued through sent to read'
);
select ok(
    public.complete_notification(
        (
            select (c ->> 'id')::uuid from claimed as c
            where c -> 'data' ->> 'message_id' = tests.recall('wa_template')::text
        ),
        (
            select (c ->> 'claim_token')::uuid from claimed as c
            where c -> 'data' ->> 'message_id' = tests.recall('wa_template')::text
        ),
        'SMwa'
    ),
    'then the worker reports it sent'
);
select results_eq(
    $$ select status, provider_message_id from public.messages where id = tests.recall('wa_template') $$,
    $$ values ('read', 'SMwa') $$,
    'and it stays read'
);
select tests.clear_authentication();

-- Consent, checked when queued and again when claimed ------------------------------------------------------
insert into public.consent_documents (hospital_id, purpose, version, title, body)
values (tests.id_of('hospitals', 'TSTA'), 'contact_sms', 1, 'SMS', 'You may text me.');
select tests.act_as('a_front_desk');
select
    tests.remember(
        'before_withdrawal', (public.send_message(tests.id_of('patients', 'a_patient2'), 'sms', 'Hello')).id
    );
select
    tests.remember(
        'claimed_before_withdrawal', (public.send_message(tests.id_of('patients', 'a_patient2'), 'sms', 'Hi')).id
    );
select tests.clear_authentication();
-- The second is claimed by a worker that then stalls (its lease ends; the row is retried).
update private.outbox set state = 'processing', lease_until = now() - interval '1 second', attempts = 1
where subject_id = tests.recall('claimed_before_withdrawal');
select tests.act_as('a_patient2');
select lives_ok(
    $$ select public.withdraw_consent(tests.id_of('hospitals', 'TSTA'), 'contact_sms') $$,
    'the patient withdraws consent to SMS'
);
select results_eq(
    $$ select status from public.messages where id = tests.recall('before_withdrawal') $$, $$ values ('cancelled') $$,
    'what was waiting is cancelled (the patient sees it)'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.send_message(tests.id_of('patients', 'a_patient2'), 'sms', 'Hello again') $$,
    'PT409', 'the patient withdrew consent to contact by sms', 'a new SMS is refused'
);
select tests.clear_authentication();
select is_empty(
    $$ select c from pg_temp.claim() as c $$,
    'the message claimed before the withdrawal is not handed to the worker again'
);
select results_eq(
    $$ select m.status, o.state from public.messages as m join private.outbox as o on o.subject_id = m.id
        where m.id = tests.recall('claimed_before_withdrawal') $$,
    $$ values ('cancelled', 'cancelled') $$,
    'it is cancelled when claimed'
);

-- Scheduled and dead-lettered --------------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select tests.remember('later', (
    public.send_message(
        tests.id_of('patients', 'ab_patient4'), 'sms', 'Tomorrow', scheduled_for => now() + interval '1 day'
    )
).id);
select tests.clear_authentication();
select results_eq(
    $$ select deliver_after from private.outbox where subject_id = tests.recall('later') $$,
    $$ values (now() + interval '1 day') $$,
    'a scheduled message waits in the outbox until its time'
);
update private.outbox set deliver_after = now()
where subject_id = tests.recall('later');
select
    public.fail_notification(
        (c ->> 'id')::uuid, (c ->> 'claim_token')::uuid, 'twilio 400 21211: invalid number', true
    )
from pg_temp.claim() as c;
select results_eq(
    $$ select status, status_reason, failed_at is not null from public.messages where id = tests.recall('later') $$,
    $$ values ('failed', 'twilio 400 21211: invalid number', true) $$,
    'a dead-lettered message is failed with the error'
);

-- Reading, archiving, stats, search ----------------------------------------------------------------------------
select tests.act_as('a_patient1');
select set_eq(
    $$ select id from public.messages where direction = 'outbound' $$,
    $$ select tests.recall(n) from unnest(array['sms', 'wa_template', 'wa_free']) as n $$,
    'the patient reads the messages sent to them'
);
select tests.act_as('b_admin');
select is_empty(
    $$ select id from public.messages where patient_id = tests.id_of('patients', 'a_patient1') $$,
    'another hospital''s admin reads none of them'
);
select results_eq(
    $$ select (public.message_stats() ->> 'total')::integer $$, $$ values (0) $$,
    'and counts none of them'
);
select is_empty($$ select * from public.search_messages('appointment') $$, 'nor finds them');
select tests.act_as('a_front_desk');
select results_eq(
    $$ select s -> 'by_channel', s -> 'by_status', s -> 'failed'
        from public.message_stats(tests.id_of('hospitals', 'TSTA')) as s $$,
    $$ values ('{"sms": 4, "whatsapp": 2}'::jsonb, '{"read": 1, "failed": 2, "cancelled": 2, "delivered": 1}'::jsonb,
        '2'::jsonb) $$,
    'the hospital''s stats count its messages by channel and status'
);
select results_eq(
    $$ select s.message ->> 'id', s.total from public.search_messages('appointment Gurmeet') as s $$,
    $$ values (tests.recall('sms')::text, 1::bigint) $$,
    'search finds the message with every word'
);
select results_eq(
    $$ select s.message ->> 'id' from public.search_messages('appointment or Gurmeet') as s $$,
    $$ values (tests.recall('sms')::text), (tests.recall('wa_template')::text) $$,
    'either word: the message with both ranks first'
);
select results_eq(
    $$ select s.message ->> 'id' from public.search_messages('Gurmeet', channel => 'whatsapp') as s $$,
    $$ values (tests.recall('wa_template')::text) $$,
    'filtered by channel'
);
select results_eq(
    $$ select s.message ->> 'id', s.total from public.search_messages('appointment or Gurmeet', page_size => 1) as s $$,
    $$ values (tests.recall('sms')::text, 2::bigint) $$,
    'a page of one: the best match, and the total counts every match'
);
select results_eq(
    $$ select s.message ->> 'id', s.total
        from public.search_messages('appointment or Gurmeet', page => 2, page_size => 1) as s $$,
    $$ values (tests.recall('wa_template')::text, 2::bigint) $$,
    'the second page holds the next one'
);
select lives_ok($$ select public.archive_message(tests.recall('sms')) $$, 'the front desk archives a message');
select is_empty(
    $$ select s from public.search_messages('appointment Gurmeet') as s $$, 'an archived message is not found'
);
select tests.act_as('a_patient1');
select is_empty($$ select id from public.messages where id = tests.recall('sms') $$, 'nor read by the patient');
select tests.clear_authentication();
select isnt_empty($$ select id from public.messages where id = tests.recall('sms') $$, 'but it is kept');

select * from finish();
rollback;
