-- Event emails (issue 20, item 6; seed 003 §9): the hospital emails the patient when
--
--   * an appointment is confirmed (booked as scheduled, or a request confirmed), moved, or
--     cancelled: with a calendar invitation (.ics, built by the sidecar's worker when it sends,
--     from rpc/message_calendar): one UID per appointment, METHOD:REQUEST with SEQUENCE 0 for
--     the confirmation and one more for each move, METHOD:CANCEL for the cancellation;
--   * the appointment is 24 hours away (private.queue_appointment_reminder_emails, a pg_cron job
--     every 15 minutes: once per appointment, only a scheduled one);
--   * a prescription is ready for pickup (where, never what);
--   * an invoice is issued (its number and the amount the patient owes; no link here);
--   * lab results are final (available: log in to view; never the results).
--
-- They are ordinary messages (public.messages, channel email, queued with their outbox row),
-- rendered by the worker from the hospital's email template of the event (seeded for every
-- hospital, new ones too; an admin edits its text or deactivates it to turn the event off),
-- sent over SMTP. Only to a patient with an email address who has not withdrawn consent to
-- contact by email; a withdrawal after queueing cancels it at claim (public.claim_notifications).

-- Messages of an event ------------------------------------------------------------------------------
alter table public.messages
add column event text,
add column event_subject_id uuid,
add column calendar_sequence integer,
add constraint messages_event_known check (
    event in (
        'appointment_confirmation', 'appointment_updated', 'appointment_cancelled', 'appointment_reminder',
        'prescription_ready', 'invoice_issued', 'lab_results_available'
    )
),
add constraint messages_event_subject check ((event is null) = (event_subject_id is null)),
add constraint messages_calendar_sequence check (
    (calendar_sequence is not null)
    = coalesce(event in ('appointment_confirmation', 'appointment_updated', 'appointment_cancelled'), false)
    and coalesce(calendar_sequence, 0) >= 0
);

-- Once per subject and event, but a move (each one is an update of the invitation).
create unique index messages_event_once on public.messages (event_subject_id, event)
where event is not null and event <> 'appointment_updated';
create index messages_event_subject_idx on public.messages (event_subject_id) where event is not null;

comment on column public.messages.event is
'The event an automatic email tells of (appointment_confirmation, appointment_updated, '
'appointment_cancelled, appointment_reminder, prescription_ready, invoice_issued, '
'lab_results_available); null for other messages.';
comment on column public.messages.event_subject_id is
'The appointment, prescription, invoice or lab result of the event.';
comment on column public.messages.calendar_sequence is
'The SEQUENCE of the calendar invitation an appointment email carries (0 at confirmation, one '
'more for each move and the cancellation).';

-- A patient's own booking or cancellation queues its email too (the message is written by
-- private.queue_event_email, a system path; patients cannot write messages themselves).
update private.state_transitions
set roles = roles || '{patient}'::public.app_role[]
where machine = 'message' and from_state is null and to_state = 'queued' and not 'patient' = any(roles);

-- Templates -----------------------------------------------------------------------------------------

-- The default email templates of the events.
create function private.default_event_email_templates()
returns table (code text, name text, category text, subject text, body text, variables text[])
language sql
immutable
set search_path = ''
as $$
    select t.code, t.name, t.category, t.subject, t.body, t.variables
    from (
        values
        (
            'appointment_confirmation', 'Appointment confirmed (email)', 'appointment',
            '{{ hospital_name }}: your appointment on {{ appointment_date }}',
            E'Dear {{ patient_name }},\n\nyour appointment with {{ practitioner_name }} at {{ hospital_name }} is '
            || E'confirmed for {{ appointment_date }} at {{ appointment_time }} ({{ time_zone }}).\n'
            || E'Where: {{ location }}\n\nThe attached invitation adds it to your calendar. To change or '
            || E'cancel it, log in to carebase or call the hospital.\n',
            '{patient_name,hospital_name,practitioner_name,appointment_date,appointment_time,time_zone,location}'::text []
        ),
        (
            'appointment_updated', 'Appointment moved (email)', 'appointment',
            '{{ hospital_name }}: your appointment has moved to {{ appointment_date }}',
            E'Dear {{ patient_name }},\n\nyour appointment with {{ practitioner_name }} at {{ hospital_name }} is '
            || E'now on {{ appointment_date }} at {{ appointment_time }} ({{ time_zone }}).\n'
            || E'Where: {{ location }}\n\nThe attached invitation updates your calendar.\n',
            '{patient_name,hospital_name,practitioner_name,appointment_date,appointment_time,time_zone,location}'::text []
        ),
        (
            'appointment_cancelled', 'Appointment cancelled (email)', 'appointment',
            '{{ hospital_name }}: your appointment on {{ appointment_date }} is cancelled',
            E'Dear {{ patient_name }},\n\nyour appointment with {{ practitioner_name }} at {{ hospital_name }} on '
            || E'{{ appointment_date }} at {{ appointment_time }} ({{ time_zone }}) is cancelled.\n\n'
            || E'The attached update removes it from your calendar. To book another, log in to carebase '
            || E'or call the hospital.\n',
            '{patient_name,hospital_name,practitioner_name,appointment_date,appointment_time,time_zone}'::text []
        ),
        (
            'appointment_reminder', 'Appointment reminder, a day before (email)', 'appointment',
            '{{ hospital_name }}: reminder of your appointment on {{ appointment_date }}',
            E'Dear {{ patient_name }},\n\na reminder: your appointment with {{ practitioner_name }} at '
            || E'{{ hospital_name }} is on {{ appointment_date }} at {{ appointment_time }} ({{ time_zone }}).\n'
            || E'Where: {{ location }}\n\nIf you cannot come, log in to carebase or call the hospital to '
            || E'cancel or move it.\n',
            '{patient_name,hospital_name,practitioner_name,appointment_date,appointment_time,time_zone,location}'::text []
        ),
        (
            'prescription_ready', 'Ready for pickup at the pharmacy (email)', 'pharmacy',
            '{{ hospital_name }}: ready for pickup at {{ pharmacy_name }}',
            E'Dear {{ patient_name }},\n\na prescription from {{ hospital_name }} is ready for pickup at '
            || E'{{ pharmacy_name }}.\nWhere: {{ pickup_address }}\n\nBring your patient ID or this email. '
            || E'Log in to carebase to see the details.\n',
            '{patient_name,hospital_name,pharmacy_name,pickup_address}'::text []
        ),
        (
            'invoice_issued', 'Invoice issued (email)', 'billing',
            '{{ hospital_name }}: invoice {{ invoice_number }}',
            E'Dear {{ patient_name }},\n\n{{ hospital_name }} has issued invoice {{ invoice_number }}: '
            || E'{{ amount_due }} {{ currency }} to pay.\n\nLog in to carebase to see and pay it, or pay '
            || E'at the hospital''s front desk.\n',
            '{patient_name,hospital_name,invoice_number,amount_due,currency}'::text []
        ),
        (
            'lab_results_available', 'Lab results available (email)', 'results',
            '{{ hospital_name }}: new lab results are available',
            E'Dear {{ patient_name }},\n\nnew lab results from {{ hospital_name }} are available. Log in to '
            || E'carebase to view them.\n\nFor your privacy this email does not contain them.\n',
            '{patient_name,hospital_name}'::text []
        )
    ) as t (code, name, category, subject, body, variables);
$$;

comment on function private.default_event_email_templates() is
'The default email templates of the event emails: code (the event), name, category, subject, body '
'and declared variables.';

-- Adds them to one hospital (those it already has are kept).
create function private.seed_event_email_templates(hospital uuid)
returns void
language sql
volatile
set search_path = ''
as $$
    insert into public.message_templates (hospital_id, code, name, channel, category, subject, body, variables)
    select seed_event_email_templates.hospital, t.code, t.name, 'email', t.category, t.subject, t.body, t.variables
    from private.default_event_email_templates() as t
    on conflict (hospital_id, channel, code) do nothing;
$$;

comment on function private.seed_event_email_templates(uuid) is
'Adds the default email templates of the event emails to a hospital (keeps those it has).';

select private.seed_event_email_templates(h.id) from public.hospitals as h;

-- A hospital's templates are its settings: they go with it (as its lead options do) when a
-- hospital that never sent anything is deleted (messages keep theirs: restrict).
alter table public.message_templates drop constraint message_templates_hospital_id_fkey;
alter table public.message_templates add constraint message_templates_hospital_id_fkey
foreign key (hospital_id) references public.hospitals (id) on delete cascade;

-- A new hospital starts with them. Security definer: templates are written by admins only.
create function private.hospital_event_email_templates()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform private.seed_event_email_templates(new.id);
    return null;
end;
$$;

comment on function private.hospital_event_email_templates() is
'Trigger: a new hospital gets the default event email templates.';

create trigger hospitals_event_email_templates
after insert on public.hospitals
for each row execute function private.hospital_event_email_templates();

-- Queueing ------------------------------------------------------------------------------------------

-- Queues the email of an event for a patient at a hospital, or nothing (null) when it must not
-- go: no patient, no email address, contact by email withdrawn, no active template of the
-- event, or already queued for this subject (every event but a move happens once). The
-- template's declared variables take their values from `values_`. Security definer: called
-- by the triggers of whoever caused the event; writes the message and its outbox row.
create function private.queue_event_email(
    kind text, patient uuid, hospital uuid, subject uuid, values_ jsonb, sequence_ integer default null
)
returns uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    person public.patients;
    template public.message_templates;
    made uuid;
begin
    select p.* into person
    from public.patients as p
    join public.patient_registrations as r on r.patient_id = p.id
    where p.id = queue_event_email.patient and r.hospital_id = queue_event_email.hospital
        and r.deleted_at is null and p.deleted_at is null and p.merged_into is null;
    if person.id is null or person.email is null
        or private.contact_withdrawn(person.id, queue_event_email.hospital, 'email') then
        return null;
    end if;
    -- The event's template, or the newest active version of it (<event>_v2, ...: a template
    -- that was used keeps its text, so a new text is a new template).
    select t.* into template
    from public.message_templates as t
    where t.hospital_id = queue_event_email.hospital and t.channel = 'email' and t.is_active
        and (t.code = queue_event_email.kind or t.code ~ ('^' || queue_event_email.kind || '_v[0-9]+$'))
    order by t.created_at desc, t.id
    limit 1;
    if template.id is null then
        return null;
    end if;
    insert into public.messages (
        hospital_id, patient_id, channel, direction, template_id, template_variables, event,
        event_subject_id, calendar_sequence
    )
    values (
        queue_event_email.hospital, person.id, 'email', 'outbound', template.id,
        coalesce((
            select jsonb_object_agg(v.name, coalesce(values_ ->> v.name, ''))
            from unnest(template.variables) as v (name) where values_ ? v.name
        ), '{}'),
        queue_event_email.kind, queue_event_email.subject, queue_event_email.sequence_
    )
    on conflict (event_subject_id, event) where event is not null and event <> 'appointment_updated' do nothing
    returning id into made;
    if made is not null then
        perform private.enqueue(
            'message', 'message', made, queue_event_email.hospital, 'patient', person.id, 'email',
            jsonb_build_object('message_id', made)
        );
    end if;
    return made;
end;
$$;

comment on function private.queue_event_email(text, uuid, uuid, uuid, jsonb, integer) is
'Queues the email of an event (its template rendered by the worker) when the patient has an email '
'address, has not withdrawn email contact, and the hospital has an active template of the event '
'(code <event>, or <event>_v<n>: the newest); once per subject (but moves).';

-- The values an appointment's emails use, in the hospital's time zone.
create function private.appointment_email_values(appointment public.appointments)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select jsonb_build_object(
        'patient_name', p.full_name,
        'hospital_name', h.name,
        'practitioner_name', coalesce(pr.full_name, 'your doctor'),
        'appointment_date', to_char(appointment.starts_at at time zone h.time_zone, 'FMDay, FMDD FMMonth YYYY'),
        'appointment_time', to_char(appointment.starts_at at time zone h.time_zone, 'HH24:MI'),
        'time_zone', h.time_zone,
        'location', case
            when appointment.mode::text = 'in_person'
                then concat_ws(', ', h.name, nullif(h.address, ''), nullif(h.city, ''))
            else 'online (log in to carebase to join)'
        end
    )
    from public.hospitals as h
    cross join public.patients as p
    left join public.profiles as pr on pr.id = appointment.doctor_user_id
    where h.id = appointment.hospital_id and p.id = appointment.patient_id;
$$;

comment on function private.appointment_email_values(public.appointments) is
'The template values of an appointment''s emails: patient, hospital and doctor names, local date '
'and time with the hospital''s time zone, and where.';

-- The SEQUENCE of the next calendar email of an appointment (0 for the first).
create function private.next_calendar_sequence(appointment uuid)
returns integer
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(max(m.calendar_sequence) + 1, 0)
    from public.messages as m
    where m.event_subject_id = next_calendar_sequence.appointment and m.calendar_sequence is not null;
$$;

comment on function private.next_calendar_sequence(uuid) is
'The calendar SEQUENCE the next invitation email of an appointment carries.';

-- Appointment emails: confirmation (booked as scheduled, or a request confirmed), update (a
-- scheduled appointment moved), cancellation (of one the patient was invited to). Security
-- definer: reads the names and writes messages whoever booked.
create function private.email_appointment_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    event_ text;
begin
    if new.patient_id is null then
        return null;
    end if;
    if new.status = 'scheduled' and (tg_op = 'INSERT' or old.status = 'requested') then
        event_ := 'appointment_confirmation';
    elsif tg_op = 'UPDATE' and new.status = 'cancelled' and old.status is distinct from 'cancelled'
        and exists (
            select from public.messages as m
            where m.event_subject_id = new.id and m.event in ('appointment_confirmation', 'appointment_updated')
                and m.status not in ('cancelled', 'failed')
        ) then
        event_ := 'appointment_cancelled';
    elsif tg_op = 'UPDATE' and new.status = 'scheduled' and old.status = 'scheduled'
        and (new.starts_at, new.ends_at) is distinct from (old.starts_at, old.ends_at) then
        event_ := 'appointment_updated';
    end if;
    if event_ is not null then
        perform private.queue_event_email(
            event_, new.patient_id, new.hospital_id, new.id, private.appointment_email_values(new),
            private.next_calendar_sequence(new.id)
        );
    end if;
    return null;
end;
$$;

comment on function private.email_appointment_change() is
'Trigger: queues the confirmation, update or cancellation email (with its calendar SEQUENCE) of an '
'appointment.';

create trigger appointments_event_emails
after insert or update of status, starts_at, ends_at on public.appointments
for each row execute function private.email_appointment_change();

-- The reminder: every scheduled appointment starting within 24 hours that was booked at least a
-- day ahead gets one (the confirmation is enough for one booked on the day). Run by pg_cron
-- every 15 minutes; running it again queues nothing twice.
create index appointments_scheduled_starts_idx on public.appointments (starts_at) where status = 'scheduled';

create function private.queue_appointment_reminder_emails()
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    queued integer := 0;
    appointment public.appointments;
begin
    for appointment in
        select a.* from public.appointments as a
        where a.status = 'scheduled' and a.patient_id is not null
            and a.starts_at > now() and a.starts_at <= now() + interval '24 hours'
            and a.created_at <= a.starts_at - interval '24 hours'
            and not exists (
                select from public.messages as m
                where m.event_subject_id = a.id and m.event = 'appointment_reminder'
            )
    loop
        if private.queue_event_email(
            'appointment_reminder', appointment.patient_id, appointment.hospital_id, appointment.id,
            private.appointment_email_values(appointment)
        ) is not null then
            queued := queued + 1;
        end if;
    end loop;
    return queued;
end;
$$;

comment on function private.queue_appointment_reminder_emails() is
'Queues the 24-hour reminder email of each scheduled appointment starting within a day (booked '
'at least a day ahead), once; answers how many it queued. Run by pg_cron every 15 minutes.';

select private.schedule_job(
    'carebase-appointment-reminder-emails', '*/15 * * * *', 'select private.queue_appointment_reminder_emails()'
);

-- Prescription ready for pickup: where, never what. Security definer: reads the pharmacy and
-- writes messages whoever moved the prescription.
create function private.email_prescription_ready()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform private.queue_event_email(
        'prescription_ready', new.patient_id, new.hospital_id, new.id,
        (
            select jsonb_build_object(
                'patient_name', p.full_name,
                'hospital_name', h.name,
                'pharmacy_name', coalesce(ph.name, h.name),
                'pickup_address', coalesce(
                    nullif(ph.address, ''), nullif(concat_ws(', ', nullif(h.address, ''), nullif(h.city, '')), ''),
                    h.name
                )
            )
            from public.hospitals as h
            cross join public.patients as p
            left join public.pharmacies as ph on ph.id = new.pharmacy_id
            where h.id = new.hospital_id and p.id = new.patient_id
        )
    );
    return null;
end;
$$;

comment on function private.email_prescription_ready() is
'Trigger: a prescription ready for pickup queues the email saying where (no drug names).';

create trigger prescriptions_ready_email
after update of status on public.prescriptions
for each row when (new.status = 'ready_for_pickup' and old.status is distinct from 'ready_for_pickup')
execute function private.email_prescription_ready();

-- Invoice issued: its number and what the patient owes.
create function private.email_invoice_issued()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform private.queue_event_email(
        'invoice_issued', new.patient_id, new.hospital_id, new.id,
        (
            select jsonb_build_object(
                'patient_name', p.full_name,
                'hospital_name', h.name,
                'invoice_number', new.number,
                'amount_due', to_char(new.patient_total, 'FM999999999990.00'),
                'currency', new.currency
            )
            from public.hospitals as h
            cross join public.patients as p
            where h.id = new.hospital_id and p.id = new.patient_id
        )
    );
    return null;
end;
$$;

comment on function private.email_invoice_issued() is
'Trigger: an issued invoice queues the email with its number and the amount the patient owes.';

create trigger invoices_issued_email
after update of status on public.invoices
for each row when (new.status = 'issued' and old.status = 'draft')
execute function private.email_invoice_issued();

-- Lab results available: when a result becomes final (the patient can see it), one email per
-- batch: none while one is still waiting to go out to the patient from the hospital.
create function private.email_lab_results_available()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if new.deleted_at is not null or exists (
        select from public.messages as m
        where m.patient_id = new.patient_id and m.hospital_id = new.hospital_id
            and m.event = 'lab_results_available' and m.status = 'queued'
    ) then
        return null;
    end if;
    perform private.queue_event_email(
        'lab_results_available', new.patient_id, new.hospital_id, new.id,
        (
            select jsonb_build_object('patient_name', p.full_name, 'hospital_name', h.name)
            from public.hospitals as h
            cross join public.patients as p
            where h.id = new.hospital_id and p.id = new.patient_id
        )
    );
    return null;
end;
$$;

comment on function private.email_lab_results_available() is
'Trigger: a lab result made final queues the "results available, log in to view" email (never the '
'result), one while another is still waiting.';

create trigger lab_results_available_email
after insert or update of finalised_at on public.lab_results
for each row when (new.finalised_at is not null)
execute function private.email_lab_results_available();

-- The calendar invitation --------------------------------------------------------------------------

-- What the worker puts in the .ics of an appointment email, or null for any other message.
-- Security definer: the worker reads it with the service role; minimal fields only.
create function private.message_calendar(message_id uuid)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select jsonb_build_object(
        'uid', a.id::text || '@carebase',
        'sequence', m.calendar_sequence,
        'method', case when m.event = 'appointment_cancelled' then 'CANCEL' else 'REQUEST' end,
        'status', case when m.event = 'appointment_cancelled' then 'CANCELLED' else 'CONFIRMED' end,
        'starts_at', a.starts_at,
        'ends_at', a.ends_at,
        'time_zone', h.time_zone,
        'summary', format('Appointment with %s at %s', coalesce(pr.full_name, 'your doctor'), h.name),
        'location', private.appointment_email_values(a) ->> 'location',
        'organizer_name', h.name,
        'organizer_email', h.email::text,
        'attendee_name', p.full_name,
        'attendee_email', p.email::text
    )
    from public.messages as m
    join public.appointments as a on a.id = m.event_subject_id
    join public.hospitals as h on h.id = a.hospital_id
    join public.patients as p on p.id = m.patient_id
    left join public.profiles as pr on pr.id = a.doctor_user_id
    where m.id = message_calendar.message_id and m.calendar_sequence is not null;
$$;

comment on function private.message_calendar(uuid) is
'The calendar invitation fields of an appointment email (null for other messages).';

-- POST /rest/v1/rpc/message_calendar (service role: the worker, when it sends an email).
create function public.message_calendar(message_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select private.message_calendar(message_calendar.message_id);
$$;

comment on function public.message_calendar(uuid) is
'For the worker (service role): the calendar invitation of an appointment email, {uid, sequence, '
'method REQUEST | CANCEL, status, starts_at, ends_at (UTC), time_zone, summary, location, '
'organizer_name, organizer_email, attendee_name, attendee_email}; null for any other message.';

revoke execute on function public.message_calendar(uuid) from authenticated;
grant execute on function public.message_calendar(uuid) to service_role;
grant execute on function private.message_calendar(uuid) to service_role;
grant execute on function private.queue_event_email(text, uuid, uuid, uuid, jsonb, integer) to service_role;
grant execute on function private.queue_appointment_reminder_emails() to service_role;
