-- A message from a template has a value for every variable the template declares, however it
-- is written: rpc/send_message refuses one without (a WhatsApp template sent by its Content SID
-- would otherwise go with empty variables), and a journey stage whose template wants a value the
-- journey does not have reports its action skipped and queues nothing.
begin;
select plan(6);

select tests.create_world();
insert into public.message_templates (
    hospital_id, code, name, channel, category, body, variables, whatsapp_content_sid
)
values
(
    tests.id_of('hospitals', 'TSTA'), 'apt_reminder', 'Appointment reminder', 'whatsapp', 'appointment',
    'Hi {{ patient_name }}, see you on {{ appointment_date }} at {{ appointment_time }}.',
    '{patient_name,appointment_date,appointment_time}', 'HX0123456789abcdef0123456789abcdef'
),
(
    tests.id_of('hospitals', 'TSTA'), 'bill_due', 'Bill due', 'sms', 'billing',
    'Dear {{ patient_name }}, Rs {{ amount }} is due.', '{patient_name,amount}', null
);

select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.send_message(
        tests.id_of('patients', 'a_patient1'), 'whatsapp', 'Hi Gurmeet Singh, see you on 5 Jan.',
        template_id => (select id from public.message_templates where code = 'apt_reminder'),
        template_variables => '{"patient_name": "Gurmeet Singh", "appointment_date": "5 Jan"}'
    ) $$,
    '22023', 'the template needs a value for appointment_time',
    'a template message without a value for one of its variables is refused, naming it'
);
select throws_ok(
    $$ select public.send_message(
        tests.id_of('patients', 'a_patient1'), 'whatsapp', null,
        template_id => (select id from public.message_templates where code = 'apt_reminder'),
        template_variables => '{"patient_name": "Gurmeet Singh", "appointment_date": null}'
    ) $$,
    '22023', 'the template needs a value for appointment_date, appointment_time',
    'a null is no value, and every missing one is named in the template''s order'
);
select tests.remember('queued', (
    public.send_message(
        tests.id_of('patients', 'a_patient1'), 'whatsapp', null,
        template_id => (
            select id from public.message_templates
            where code = 'apt_reminder'
        ),
        template_variables => jsonb_build_object(
            'patient_name', 'Gurmeet Singh', 'appointment_date', '5 Jan', 'appointment_time', '10:30'
        )
    )
).id);
select tests.clear_authentication();
select is(
    (
        select o.state from private.outbox as o
        where o.subject_id = tests.recall('queued')
    ),
    'pending',
    'with every value it is queued for the worker'
);
select throws_ok(
    $$ update public.messages set template_variables = '{}' where id = tests.recall('queued') $$,
    '22023', 'the template needs a value for patient_name, appointment_date, appointment_time',
    'nor can its values be taken away afterwards, even by the database owner'
);

-- A journey stage whose template wants a value the journey does not have.
select tests.act_as('a_admin');
select tests.remember('journey', (
    public.create_journey(
        tests.id_of('hospitals', 'TSTA'), 'Billing', 'general',
        stages => $$[{"name": "Bill sent", "order_index": 1,
            "actions": [{"type": "send_template", "template_code": "bill_due", "channel": "sms"}]}]$$
    ) ->> 'id'
)::uuid);
select tests.act_as('a_front_desk');
select tests.remember('instance', (
    public.start_journey_instance(tests.recall('journey'), tests.id_of('patients', 'a_patient1'))
).id);
select tests.clear_authentication();
select results_eq(
    $$ select a ->> 'outcome', a ->> 'reason', a ->> 'message'
        from public.journey_stage_events as e, jsonb_array_elements(e.actions_done) as a
        where e.instance_id = tests.recall('instance') $$,
    $$ values ('skipped', 'template_values_missing', 'the template needs a value for amount') $$,
    'the stage reports its message skipped for the value it lacks'
);
select is_empty(
    $$ select id from public.messages where journey_instance_id = tests.recall('instance') $$,
    'and no message is queued'
);

select * from finish();
rollback;
