-- Event emails (issue 20, item 6; seed 003 §9): an appointment confirmed, moved and cancelled
-- (with the calendar invitation's SEQUENCE and METHOD), the 24-hour reminder (once, scheduled
-- ones only), a prescription ready for pickup, an invoice issued and lab results available are
-- queued as email messages from the hospital's templates; never for a patient without an
-- email address or who withdrew email contact, and one withdrawn after queueing is not sent.
begin;
select plan(29);

select tests.create_world();
update private.outbox set state = 'cancelled'
where state in ('pending', 'processing');

update public.patients set email = 'gurmeet@example.test'
where id = tests.id_of('patients', 'a_patient1');
update public.patients set email = 'baljit@example.test'
where id = tests.id_of('patients', 'a_patient2');
insert into public.consent_documents (hospital_id, purpose, version, title, body)
values (tests.id_of('hospitals', 'TSTA'), 'contact_email', 1, 'Email', 'You may email me.');

-- The event emails of a patient, oldest first: (event, calendar sequence, status).
create function pg_temp.emails(patient text)
returns table (event text, calendar_sequence integer, status text)
language sql
as $$
    select m.event, m.calendar_sequence, m.status
    from public.messages as m
    where m.patient_id = tests.id_of('patients', patient) and m.event is not null
    order by m.created_at, m.id;
$$;

-- Templates -----------------------------------------------------------------------------------------
select results_eq(
    $$ select h.code, count(t.id)::integer, bool_and(t.is_active and t.channel = 'email')
        from public.hospitals as h
        join public.message_templates as t on t.hospital_id = h.id
        join private.default_event_email_templates() as d on d.code = t.code
        where h.code in ('TSTA', 'TSTB') group by h.code order by h.code $$,
    $$ values ('TSTA', 7, true), ('TSTB', 7, true) $$,
    'every hospital has an active email template for each of the 7 events'
);
insert into public.hospitals (code, name, city) values ('TSTC', 'Test Hospital C', 'Nabha');
select is(
    (
        select count(*)::integer from public.message_templates as t
        inner join public.hospitals as h on t.hospital_id = h.id
        where h.code = 'TSTC' and t.channel = 'email'
    ),
    7,
    'a new hospital starts with them'
);
select is_empty(
    $$ select t.code, v from private.default_event_email_templates() as t, unnest(t.variables) as v
        where private.clinical_variable(v) $$,
    'they declare no clinical variable'
);

-- Appointments: confirmation, move, cancellation --------------------------------------------------
-- 2030-04-01 is a Monday; TSTA is in Asia/Kolkata (05:00Z is 10:30 there).
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)
values (tests.id_of('doctors', 'a_doctor'), tests.id_of('hospitals', 'TSTA'), 1, '09:00', '17:00', 30);
select tests.act_as('a_patient1');
select tests.remember('visit', id)
from public.book_appointment(tests.id_of('doctors', 'a_doctor'), '2030-04-01 05:00Z');
select tests.clear_authentication();
select results_eq(
    $$ select * from pg_temp.emails('a_patient1') $$,
    $$ values ('appointment_confirmation', 0, 'queued') $$,
    'a patient booking their own appointment is sent its confirmation (calendar SEQUENCE 0)'
);
select is(
    (
        select array[o.channel, o.state, o.recipient_kind] from private.outbox as o
        inner join public.messages as m on o.subject_id = m.id
        where m.event = 'appointment_confirmation' and m.event_subject_id = tests.recall('visit')
    ),
    array['email', 'pending', 'patient'],
    'through the outbox, as an email to the patient'
);
select is(
    (
        select
            concat_ws(
                ' | ', m.template_variables ->> 'practitioner_name', m.template_variables ->> 'appointment_date',
                m.template_variables ->> 'appointment_time', m.template_variables ->> 'time_zone'
            )
        from public.messages as m
        where m.event_subject_id = tests.recall('visit')
    ),
    'A Doctor | Monday, 1 April 2030 | 10:30 | Asia/Kolkata',
    'its template values name the doctor, the local date and time and the hospital''s time zone'
);

select tests.act_as('a_front_desk');
update public.appointments set starts_at = starts_at + interval '1 hour', ends_at = ends_at + interval '1 hour'
where id = tests.recall('visit');
update public.appointments set reason = 'follow-up'
where id = tests.recall('visit');
update public.appointments set status = 'cancelled', status_reason = 'doctor on leave'
where id = tests.recall('visit');
select tests.clear_authentication();
select results_eq(
    $$ select * from pg_temp.emails('a_patient1') $$,
    $$ values ('appointment_confirmation', 0, 'queued'), ('appointment_updated', 1, 'queued'),
        ('appointment_cancelled', 2, 'queued') $$,
    'a move is an update (SEQUENCE 1), a cancellation follows (SEQUENCE 2); other edits send nothing'
);

select tests.act_as_service_role();
select results_eq(
    $$ select c ->> 'uid', c ->> 'method', c ->> 'status', (c ->> 'sequence')::integer,
            (c ->> 'starts_at')::timestamptz = a.starts_at, c ->> 'summary', c ->> 'organizer_email'
        from public.messages as m
        join public.appointments as a on a.id = m.event_subject_id,
            lateral public.message_calendar(m.id) as c
        where m.event_subject_id = tests.recall('visit') order by m.calendar_sequence $$,
    $$ select tests.recall('visit')::text || '@carebase', v.method, v.status, v.seq, true,
            'Appointment with A Doctor at Test Hospital A', 'a@hospital.test'
        from (values ('REQUEST', 'CONFIRMED', 0), ('REQUEST', 'CONFIRMED', 1), ('CANCEL', 'CANCELLED', 2))
            as v (method, status, seq) $$,
    'the worker reads one calendar UID per appointment: REQUEST, REQUEST, CANCEL'
);
select tests.clear_authentication();
select tests.act_as('a_patient1');
select throws_ok(
    $$ select public.message_calendar(gen_random_uuid()) $$,
    '42501', null,
    'rpc/message_calendar is the worker''s only'
);
select tests.clear_authentication();

-- Requested, then confirmed: the confirmation is sent when it is confirmed.
select tests.act_as('a_front_desk');
select tests.remember('requested', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor2'), now() + interval '4 days',
    patient_id => tests.id_of('patients', 'a_patient1'), status => 'requested'
);
select is_empty(
    $$ select 1 from public.messages where event_subject_id = tests.recall('requested') $$,
    'a request is not confirmed: no email yet'
);
update public.appointments set status = 'scheduled'
where id = tests.recall('requested');
select tests.clear_authentication();
select results_eq(
    $$ select event, calendar_sequence from public.messages where event_subject_id = tests.recall('requested') $$,
    $$ values ('appointment_confirmation', 0) $$,
    'confirming it sends the confirmation'
);

-- No email address, or email contact withdrawn: nothing is queued.
select tests.act_as('a_patient2');
select public.withdraw_consent(tests.id_of('hospitals', 'TSTA'), 'contact_email');
select tests.act_as('a_front_desk');
select tests.remember('no_address', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor2'), now() + interval '5 days', patient_id => tests.id_of('patients', 'ab_patient4')
);
select tests.remember('withdrawn', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor2'), now() + interval '6 days', patient_id => tests.id_of('patients', 'a_patient2')
);
select tests.clear_authentication();
select is_empty(
    $$ select 1 from public.messages
        where event_subject_id in (tests.recall('no_address'), tests.recall('withdrawn')) $$,
    'no email for a patient without an email address, nor for one who withdrew email contact'
);
select isnt_empty(
    $$ select 1 from private.outbox where subject_id = tests.recall('withdrawn') and kind = 'appointment_booked' $$,
    '(the app''s own booking notice is another matter)'
);

-- The reminder a day before ------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select tests.remember('tomorrow', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor'), now() + interval '20 hours', patient_id => tests.id_of('patients', 'a_patient1')
);
select tests.remember('booked_today', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor2'),
    now() + interval '21 hours',
    patient_id => tests.id_of('patients', 'a_patient1')
);
select tests.remember('called_off', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor2'),
    now() + interval '22 hours',
    patient_id => tests.id_of('patients', 'a_patient1')
);
select tests.remember('next_week', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor2'), now() + interval '7 days', patient_id => tests.id_of('patients', 'a_patient1')
);
update public.appointments set status = 'cancelled', status_reason = 'patient called'
where id = tests.recall('called_off');
select tests.clear_authentication();
update public.appointments set created_at = now() - interval '5 days'
where id in (tests.recall('tomorrow'), tests.recall('called_off'), tests.recall('next_week'));

select is(private.queue_appointment_reminder_emails(), 1, 'the job queues the reminder of the appointment tomorrow');
select is(private.queue_appointment_reminder_emails(), 0, 'and run again, nothing more');
select results_eq(
    $$ select event_subject_id from public.messages where event = 'appointment_reminder' $$,
    $$ values (tests.recall('tomorrow')) $$,
    'once: not for a cancelled one, one booked within the day (its confirmation is enough), nor next week'
);
select is(
    (select message_calendar from public.message_calendar(
        (
            select id from public.messages
            where event = 'appointment_reminder'
        )
    )),
    null,
    'a reminder carries no calendar invitation'
);
select isnt_empty(
    $$ select 1 from cron.job where jobname = 'carebase-appointment-reminder-emails' and schedule = '*/15 * * * *' $$,
    'pg_cron runs it every 15 minutes'
);

-- Prescription ready for pickup --------------------------------------------------------------------
select tests.act_as('a_doctor');
select tests.remember('rx', id)
from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'), '[{"name": "Insulin glargine", "quantity": 2}]',
    pharmacy_id => tests.id_of('pharmacies', 'a_central')
);
select tests.act_as('a_pharmacist');
update public.prescriptions set status = 'approved'
where id = tests.recall('rx');
select tests.clear_authentication();
select is_empty(
    $$ select 1 from public.messages where event_subject_id = tests.recall('rx') $$,
    'an approved prescription is not ready yet'
);
select tests.act_as('a_pharmacist');
update public.prescriptions set status = 'ready_for_pickup'
where id = tests.recall('rx');
select tests.clear_authentication();
select results_eq(
    $$ select event, template_variables ->> 'pharmacy_name' from public.messages
        where event_subject_id = tests.recall('rx') $$,
    $$ values ('prescription_ready', 'TSTA Central Pharmacy') $$,
    'ready for pickup: the email says where'
);
select is_empty(
    $$ select 1 from public.messages as m join public.message_templates as t on t.id = m.template_id
        where m.event_subject_id = tests.recall('rx')
            and (m.template_variables::text ~* 'insulin' or t.body ~* 'insulin') $$,
    'never what'
);

-- Invoice issued -------------------------------------------------------------------------------------
select tests.act_as('a_front_desk');
insert into public.invoices (hospital_id, patient_id, notes)
values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'), 'event email test');
select tests.clear_authentication();
select tests.remember('invoice', (
    select id from public.invoices
    where notes = 'event email test'
));
select tests.act_as('a_front_desk');
insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price, gst_rate)
values (tests.recall('invoice'), 'Dressing', '300590', 100, 12);
select is_empty(
    $$ select 1 from public.messages where event_subject_id = tests.recall('invoice') $$,
    'a draft invoice sends nothing'
);
select tests.act_as('a_admin');
insert into public.message_templates (hospital_id, code, name, channel, category, subject, body, variables)
values (
    tests.id_of('hospitals', 'TSTA'), 'invoice_issued_v2', 'Invoice (new text)', 'email', 'billing',
    'Invoice {{ invoice_number }}', 'Dear {{ patient_name }}, {{ amount_due }} {{ currency }} to pay.',
    '{patient_name,invoice_number,amount_due,currency}'
);
update public.message_templates set is_active = false
where hospital_id = tests.id_of('hospitals', 'TSTA') and code = 'invoice_issued';
select tests.act_as('a_front_desk');
select public.issue_invoice(tests.recall('invoice'));
select tests.clear_authentication();
select results_eq(
    $$ select m.event, m.template_variables ->> 'invoice_number', m.template_variables ->> 'amount_due',
            m.template_variables ->> 'currency'
        from public.messages as m where m.event_subject_id = tests.recall('invoice') $$,
    $$ select 'invoice_issued', i.number, '112.00', 'INR' from public.invoices as i
        where i.id = tests.recall('invoice') $$,
    'an issued invoice: its number and the amount to pay'
);
select is(
    (
        select t.code from public.messages as m
        inner join public.message_templates as t on m.template_id = t.id
        where m.event_subject_id = tests.recall('invoice')
    ),
    'invoice_issued_v2',
    'from the newest active version of the hospital''s template'
);
update public.message_templates set is_active = false
where hospital_id = tests.id_of('hospitals', 'TSTA') and code like 'invoice\_issued%';
select tests.act_as('a_front_desk');
insert into public.invoices (hospital_id, patient_id, notes)
values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'), 'second invoice');
select tests.clear_authentication();
select tests.remember('second_invoice', (
    select id from public.invoices
    where notes = 'second invoice'
));
select tests.act_as('a_front_desk');
insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price, gst_rate)
values (tests.recall('second_invoice'), 'Dressing', '300590', 100, 12);
select public.issue_invoice(tests.recall('second_invoice'));
select tests.clear_authentication();
select is_empty(
    $$ select 1 from public.messages where event_subject_id = tests.recall('second_invoice') $$,
    'with its templates deactivated, the hospital sends no invoice email'
);

-- Lab results available ------------------------------------------------------------------------------
select tests.act_as('a_doctor');
insert into public.lab_results (patient_id, hospital_id, test_name, result_value, status, finalised_at)
values
(tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'HbA1c', '9.1', 'abnormal', now()),
(tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'LDL', '190', 'abnormal', now()),
(tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'TSH', '2.0', 'normal', null);
select tests.clear_authentication();
select results_eq(
    $$ select m.event, m.template_variables from public.messages as m
        where m.patient_id = tests.id_of('patients', 'a_patient1') and m.event = 'lab_results_available' $$,
    $$ values (
        'lab_results_available', '{"patient_name": "Gurmeet Singh", "hospital_name": "Test Hospital A"}'::jsonb
    ) $$,
    'final results: one "available" email while it waits, naming no test and no value'
);

-- Consent withdrawn after queueing: not sent ------------------------------------------------------------
create function pg_temp.claim()
returns setof jsonb
language plpgsql
as $$
begin
    perform tests.act_as_service_role();
    return query select to_jsonb(c) from public.claim_notifications(50, '2 minutes', '{email}', 3) as c;
    perform tests.clear_authentication();
end;
$$;
select tests.act_as('a_patient1');
select public.withdraw_consent(tests.id_of('hospitals', 'TSTA'), 'contact_email');
select tests.clear_authentication();
select is_empty(
    $$ select c from pg_temp.claim() as c where c -> 'data' ->> 'email' = 'gurmeet@example.test' $$,
    'after the patient withdraws email contact, the worker is given none of their queued emails'
);
select is(
    (
        select count(*)::integer from public.messages
        where patient_id = tests.id_of('patients', 'a_patient1') and event = 'invoice_issued' and status = 'cancelled'
    ),
    1,
    'the invoice email is cancelled, not sent'
);
select is_empty(
    $$ select 1 from public.messages
        where patient_id = tests.id_of('patients', 'a_patient1') and event is not null and status <> 'cancelled' $$,
    'and so is every other one of theirs'
);

select * from finish();
rollback;
