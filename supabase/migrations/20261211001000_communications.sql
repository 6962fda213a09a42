-- Communications (issue 19, item 2; seed 001 Communications API): messages to patients on
-- WhatsApp, SMS and email, from templates or typed by staff, sent through the outbox and the
-- sidecar's worker, and the patients' WhatsApp messages to the hospital.
--
--   * Templates per hospital and channel, with a category and declared variables. The sidecar
--     renders them in Jinja2's sandbox (POST /api/v1/communications): a variable the template
--     uses but does not declare, or one declared but not given, is an error, never an empty
--     string. Here a template is refused when a `{{ name }}` in it is not declared, or when it
--     declares a variable named for clinical content (diagnosis, result, medication...):
--     message bodies carry no clinical content ("your results are available, log in to view").
--   * rpc/send_message queues one message (now, or at scheduled_for) for a patient of the
--     caller's hospital, and the outbox row that carries it. Refused: a patient who withdrew
--     contact on that channel, a patient without a phone (SMS, WhatsApp) or email, and a
--     WhatsApp message outside the 24-hour customer-service window (since the patient's last
--     message to us) unless it is an approved template (one with a Twilio Content SID): the
--     worker then sends the template itself (ContentSid + ContentVariables), never the body.
--   * When the worker claims it (public.claim_notifications, re-created here to claim messages
--     too) the consent and the window are checked again: a withdrawal or a window that closed
--     while it waited cancels or fails it instead of sending.
--   * Status: a state machine as data (machine `message`): queued -> sent -> delivered -> read,
--     failed (with the error), cancelled; inbound messages are received -> read. The outbox
--     settles queued messages (sent, failed when dead-lettered, cancelled); Twilio's status
--     callbacks (rpc/receive_twilio_status, signature checked by the sidecar) move them on,
--     forward only, through the webhook inbox. Staff mark messages delivered, read or failed.
--   * Deleting archives (rpc/archive_message); stats by channel and status
--     (rpc/message_stats); ranked full-text search with filters (rpc/search_messages), all
--     under the caller's RLS.

create type public.message_channel as enum ('whatsapp', 'sms', 'email');
create type public.message_direction as enum ('outbound', 'inbound');

comment on type public.message_channel is 'How a message travels: whatsapp, sms or email.';
comment on type public.message_direction is
'outbound (the hospital to the patient) or inbound (the patient to the hospital).';

-- Templates ------------------------------------------------------------------------------------

-- Variable names that would carry clinical content into a message body.
create function private.clinical_variable(name text)
returns boolean
language sql
immutable
set search_path = ''
return name ~ (
    '(diagnos|icd|result|lab_value|medic|drug|dose|dosage|prescri|symptom|soap|assessment|vital|allerg|'
    || 'condition|treatment|procedure)'
);

comment on function private.clinical_variable(text) is
'Whether a template variable is named for clinical content (diagnosis, result, medication, ...).';

-- The variables a template's text uses: the first name of every {{ ... }} expression.
create function private.template_placeholders(source text)
returns text[]
language sql
immutable
set search_path = ''
as $$
    select coalesce(array_agg(distinct m[1]), '{}')
    from regexp_matches(coalesce(template_placeholders.source, ''), '\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)', 'g') as m;
$$;

comment on function private.template_placeholders(text) is
'The variable names a template text uses ({{ name ... }}), as declared variables must cover them.';

create table public.message_templates (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id),
    code text not null,
    name text not null,
    channel public.message_channel not null,
    category text not null default 'general',
    subject text,
    body text not null,
    variables text[] not null default '{}',
    whatsapp_content_sid text,
    is_active boolean not null default true,
    created_by uuid default auth.uid() references public.profiles (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint message_templates_code_unique unique (hospital_id, channel, code),
    constraint message_templates_id_hospital_key unique (id, hospital_id),
    constraint message_templates_code_format check (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    constraint message_templates_name_present check (length(btrim(name)) between 1 and 200),
    constraint message_templates_category_known check (
        category in ('appointment', 'instructions', 'follow_up', 'results', 'pharmacy', 'billing', 'general')
    ),
    constraint message_templates_body_length check (length(btrim(body)) between 1 and 20000),
    constraint message_templates_subject_length check (length(subject) <= 200),
    constraint message_templates_email_has_subject check (channel <> 'email' or length(btrim(subject)) > 0),
    constraint message_templates_variables_named check (
        cardinality(variables) <= 20
        and array_to_string(variables, ',') ~ '^([a-z][a-z0-9_]{0,39}(,|$))*$'
    ),
    constraint message_templates_content_sid check (
        whatsapp_content_sid is null or (channel = 'whatsapp' and whatsapp_content_sid ~ '^HX[0-9a-f]{32}$')
    )
);

create index message_templates_created_by_idx on public.message_templates (created_by);

-- What a template says it uses, it declares; it declares nothing clinical; once a message has
-- been sent from it, its text stays (a new template is a new row).
create function private.guard_message_template()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    undeclared text [];
    clinical text [];
begin
    select array_agg(v order by v) into clinical from unnest(new.variables) as v where private.clinical_variable(v);
    if clinical is not null then
        perform private.raise_invalid(
            format('message bodies carry no clinical content; rename or remove: %s', array_to_string(clinical, ', ')),
            'template_variable_clinical',
            'say that something is available and let the patient log in to see it'
        );
    end if;
    if (select count(distinct v) from unnest(new.variables) as v) <> cardinality(new.variables) then
        perform private.raise_invalid('a template declares each variable once', 'template_variable_repeated');
    end if;
    select array_agg(p order by p) into undeclared
    from unnest(private.template_placeholders(new.body) || private.template_placeholders(new.subject)) as p
    where not p = any(new.variables);
    if undeclared is not null then
        perform private.raise_invalid(
            format('the template uses variables it does not declare: %s', array_to_string(undeclared, ', ')),
            'template_variable_undeclared', 'add them to variables, or take them out of the text'
        );
    end if;
    if tg_op = 'UPDATE' and (new.body, new.subject, new.variables, new.channel)
        is distinct from (old.body, old.subject, old.variables, old.channel)
        and exists (select from public.messages as m where m.template_id = new.id) then
        perform private.raise_conflict(
            'a template that messages were sent from keeps its text', 'template_in_use',
            'create a new template (and deactivate this one)'
        );
    end if;
    return new;
end;
$$;

comment on function private.guard_message_template() is
'Trigger: a template declares every variable its text uses, nothing clinical, each once; a used '
'template''s text does not change.';

-- Messages ---------------------------------------------------------------------------------------

create table public.messages (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id),
    patient_id uuid not null,
    journey_instance_id uuid,
    channel public.message_channel not null,
    direction public.message_direction not null default 'outbound',
    address text,
    subject text,
    body text,
    template_id uuid,
    template_variables jsonb not null default '{}',
    status text not null default 'queued',
    status_reason text,
    status_changed_at timestamptz not null default now(),
    scheduled_for timestamptz,
    sent_at timestamptz,
    delivered_at timestamptz,
    read_at timestamptz,
    failed_at timestamptz,
    error_code text,
    provider_message_id text,
    archived_at timestamptz,
    created_by uuid default auth.uid() references public.profiles (id) on delete set null,
    created_at timestamptz not null default clock_timestamp(),
    updated_at timestamptz not null default now(),
    search tsvector generated always as (
        to_tsvector('simple'::regconfig, coalesce(subject, '') || ' ' || coalesce(body, ''))
    ) stored,
    constraint messages_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict,
    constraint messages_template_same_hospital_fkey foreign key (template_id, hospital_id)
    references public.message_templates (id, hospital_id) on delete restrict,
    constraint messages_provider_message_once unique (provider_message_id),
    constraint messages_body_length check (length(body) between 1 and 20000),
    -- An automatic message (a journey's stage) is rendered by the worker when it goes out.
    constraint messages_body_or_template check (body is not null or template_id is not null),
    constraint messages_subject_length check (length(subject) <= 200),
    constraint messages_template_variables_object check (jsonb_typeof(template_variables) = 'object')
);

create index messages_registration_idx on public.messages (patient_id, hospital_id, created_at desc);
-- The hospital's list, newest first, and the counts by channel and status.
create index messages_hospital_idx on public.messages (hospital_id, created_at desc);
create index messages_hospital_channel_status_idx on public.messages (hospital_id, channel, status);
create index messages_search_idx on public.messages using gin (search);
create index messages_template_idx on public.messages (template_id, hospital_id);
create index messages_created_by_idx on public.messages (created_by);
create index messages_journey_instance_idx on public.messages (journey_instance_id);
-- The WhatsApp window: the latest inbound message from a number.
create index messages_inbound_address_idx on public.messages (address, channel, created_at desc)
where direction = 'inbound';

-- The message machine ------------------------------------------------------------------------------
insert into private.state_machine_states (machine, state, label, position, is_terminal)
values
('message', 'queued', 'Queued', 1, false),
('message', 'sent', 'Sent', 2, false),
('message', 'delivered', 'Delivered', 3, false),
('message', 'read', 'Read', 4, true),
('message', 'failed', 'Failed', 5, true),
('message', 'cancelled', 'Cancelled', 6, true),
('message', 'received', 'Received', 7, false);

insert into private.state_transitions (machine, from_state, to_state, roles, requires_reason, description)
values
(
    'message', null, 'queued', '{front_desk,cro,hospital_admin,nurse,doctor,pharmacist}', false,
    'a message to a patient, waiting to go out'
),
('message', null, 'received', '{}', false, 'a message from a patient'),
('message', 'queued', 'sent', '{}', false, 'handed to the provider'),
(
    'message', 'queued', 'failed', '{front_desk,cro,hospital_admin}', true,
    'could not be sent (the error is the reason)'
),
(
    'message', 'queued', 'cancelled', '{front_desk,cro,hospital_admin,patient}', true,
    'stopped before it went out (a patient withdrawing contact consent cancels theirs)'
),
('message', 'sent', 'delivered', '{front_desk,cro,hospital_admin}', false, 'reached the patient''s device'),
('message', 'sent', 'read', '{front_desk,cro,hospital_admin}', false, 'the patient read it'),
('message', 'delivered', 'read', '{front_desk,cro,hospital_admin}', false, 'the patient read it'),
('message', 'sent', 'failed', '{front_desk,cro,hospital_admin}', true, 'the provider could not deliver it'),
('message', 'delivered', 'failed', '{front_desk,cro,hospital_admin}', true, 'the provider reported a failure'),
(
    'message', 'received', 'read', '{front_desk,cro,hospital_admin,nurse,doctor,pharmacist}', false,
    'the hospital read the patient''s message'
);

create trigger messages_state_machine
before insert or update of status on public.messages
for each row execute function private.enforce_state_machine('message');

-- The time of each status, as it is reached (the first time); a failure's reason is its error.
create function private.stamp_message_status()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if tg_op = 'UPDATE' and new.status is not distinct from old.status then
        return new;
    end if;
    case new.status
        when 'sent' then new.sent_at := coalesce(new.sent_at, now());
        when 'delivered' then
            new.sent_at := coalesce(new.sent_at, now());
            new.delivered_at := coalesce(new.delivered_at, now());
        when 'read' then new.read_at := coalesce(new.read_at, now());
        when 'failed' then new.failed_at := coalesce(new.failed_at, now());
        else
            null;
    end case;
    return new;
end;
$$;

comment on function private.stamp_message_status() is
'Trigger: sets sent_at, delivered_at, read_at or failed_at when a message reaches that status.';

create trigger messages_stamp_status
before insert or update of status on public.messages
for each row execute function private.stamp_message_status();

-- A message stopped by staff stops its outbox row too. Security definer: the outbox is private.
create function private.cancel_message_delivery()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    update private.outbox as o
    set state = 'cancelled', last_error = format('the message was %s', new.status)
    where o.kind = 'message' and o.subject_id = new.id and o.state = 'pending';
    return null;
end;
$$;

comment on function private.cancel_message_delivery() is
'Trigger: a queued message cancelled or failed by hand is not sent (its pending outbox row is cancelled).';

create trigger messages_cancel_delivery
after update of status on public.messages
for each row when (old.status = 'queued' and new.status in ('cancelled', 'failed'))
execute function private.cancel_message_delivery();

create trigger message_templates_guard
before insert or update on public.message_templates
for each row execute function private.guard_message_template();

create trigger message_templates_set_updated_at
before update on public.message_templates
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.message_templates
for each row execute function private.audit_row_change('');

create trigger messages_set_updated_at
before update on public.messages
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.messages
for each row execute function private.audit_row_change('patient_id');

create trigger refuse_merged_patient
before insert or update on public.messages
for each row execute function private.refuse_merged_patient('patient_id');

-- Row-level security -------------------------------------------------------------------------------
alter table public.message_templates enable row level security;
alter table public.messages enable row level security;

revoke all on public.message_templates, public.messages from anon, authenticated, service_role;
grant select on public.message_templates, public.messages to authenticated;
grant insert (
    hospital_id, code, name, channel, category, subject, body, variables, whatsapp_content_sid, is_active
) on public.message_templates to authenticated;
grant update (name, category, subject, body, variables, whatsapp_content_sid, is_active)
on public.message_templates to authenticated;
-- Messages are written by rpc/send_message; staff move their status and archive them.
grant update (status, status_reason, archived_at) on public.messages to authenticated;
grant select on public.message_templates to service_role;
grant select, update on public.messages to service_role;

create policy message_templates_select_staff on public.message_templates
for select to authenticated
using (hospital_id = any(private.staff_hospital_ids()));

create policy message_templates_insert_office on public.message_templates
for insert to authenticated
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin,cro}')));

create policy message_templates_update_office on public.message_templates
for update to authenticated
using (hospital_id = any(private.staff_hospital_ids('{hospital_admin,cro}')))
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin,cro}')));

-- The patient reads what was sent to them and what they sent, until it is archived.
create policy messages_select on public.messages
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids())
    or (patient_id = (select private.own_patient_id()) and archived_at is null)
);

create policy messages_update_staff on public.messages
for update to authenticated
using (hospital_id = any(private.staff_hospital_ids()))
with check (hospital_id = any(private.staff_hospital_ids()));

-- Status history: messages too.
drop policy status_history_select_of_visible_subjects on public.status_history;

create policy status_history_select_of_visible_subjects on public.status_history
for select to authenticated
using (
    (
        machine = 'prescription'
        and exists (
            select from public.prescriptions as p
            where p.id = status_history.subject_id
        )
    )
    or (
        machine = 'appointment'
        and exists (
            select from public.appointments as a
            where a.id = status_history.subject_id
        )
    )
    or (
        machine = 'ticket'
        and exists (
            select from public.tickets as t
            where t.id = status_history.subject_id
        )
    )
    or (
        machine = 'message'
        and exists (
            select from public.messages as m
            where m.id = status_history.subject_id
        )
    )
);

comment on table public.message_templates is
'Message templates per hospital and channel (seed 001): code, name, category (appointment, '
'instructions, follow_up, results, pharmacy, billing, general), subject (email), body in Jinja2 '
'syntax using only its declared variables (none named for clinical content), and for WhatsApp the '
'Twilio Content SID of the template as WhatsApp approved it (ContentVariables "1", "2"... are the '
'declared variables in order). Read by the hospital''s staff; written by its admins and CROs. A '
'template messages were sent from keeps its text.';
comment on column public.message_templates.code is
'The template''s key within its hospital and channel, e.g. apt_reminder.';
comment on column public.message_templates.body is
'The text in Jinja2 syntax, e.g. "Hi {{ patient_name }}, your appointment is on {{ appointment_date }}".';
comment on column public.message_templates.variables is
'The variables the text may use, in order; rendering refuses any other, and any left out.';
comment on column public.message_templates.whatsapp_content_sid is
'The Twilio Content SID (HX...) of the WhatsApp-approved template: what may be sent outside the '
'24-hour window.';
comment on table public.messages is
'Messages to and from patients (seed 001 communications): WhatsApp, SMS, email. Sent with '
'rpc/send_message (or POST /api/v1/communications on the sidecar, which renders templates); '
'listed with filters here (?patient_id=eq...&channel=eq...&status=eq...&archived_at=is.null); '
'searched with rpc/search_messages; counted with rpc/message_stats; archived with '
'rpc/archive_message (never deleted). Read by the hospital''s staff and by the patient (until '
'archived); staff PATCH status (delivered, read, failed with status_reason as the error).';
comment on column public.messages.status is
'Changed only along state_machine_transitions (machine message): queued, sent, delivered, read, '
'failed, cancelled (outbound); received, read (inbound). Every step is in status_history.';
comment on column public.messages.status_reason is 'Why: the error of a failure, the cause of a cancellation.';
comment on column public.messages.address is
'The patient''s number (E.164) or email it went to (set when it was sent), or came from (inbound).';
comment on column public.messages.body is
'The text as sent (rendered from the template): never clinical content. Null only for an '
'automatic message (a journey stage''s) until the worker renders its template.';
comment on column public.messages.template_variables is 'The values the template was rendered with.';
comment on column public.messages.scheduled_for is 'When it is to go out; null: at once.';
comment on column public.messages.error_code is 'The provider''s error code of a failure (e.g. Twilio 30008).';
comment on column public.messages.provider_message_id is 'The provider''s id (Twilio Message SID, SMTP Message-ID).';
comment on column public.messages.archived_at is
'Archived (the API''s delete): hidden from the patient and from search.';
comment on column public.messages.search is
'The subject and body for full-text search (simple configuration: any script).';
comment on policy message_templates_select_staff on public.message_templates is
'The hospital''s staff read its templates.';
comment on policy message_templates_insert_office on public.message_templates is
'The hospital''s admins and CROs add templates.';
comment on policy message_templates_update_office on public.message_templates is
'The hospital''s admins and CROs change templates (the text only while unused).';
comment on policy messages_select on public.messages is
'The hospital''s staff read its messages; the patient their own until archived.';
comment on policy messages_update_staff on public.messages is
'The hospital''s staff move a message''s status and archive it.';

-- Sending --------------------------------------------------------------------------------------------

-- Whether the patient's WhatsApp number wrote to us in the 24 hours before `at` (the
-- customer-service window, per number: carebase sends from one WhatsApp sender). Security
-- definer: the inbound messages may be another hospital's.
create function private.whatsapp_window_open(patient uuid, at timestamptz)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (
        select from public.patients as p
        join public.messages as m on m.address = p.phone::text
        where p.id = whatsapp_window_open.patient
            and m.direction = 'inbound' and m.channel = 'whatsapp'
            and m.created_at > whatsapp_window_open.at - interval '24 hours'
    );
$$;

comment on function private.whatsapp_window_open(uuid, timestamptz) is
'Whether the patient''s number sent us a WhatsApp message in the 24 hours before `at`.';

-- The message machine's queue. Security definer: messages are written only here (and by the
-- inbound webhook); every reference is checked against the caller's reach first.
create function private.send_message(
    patient_id uuid,
    channel public.message_channel,
    body text,
    subject text,
    hospital_id uuid,
    template_id uuid,
    template_variables jsonb,
    scheduled_for timestamptz,
    journey_instance_id uuid
)
returns public.messages
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    hospital uuid := send_message.hospital_id;
    person public.patients;
    template public.message_templates;
    due timestamptz := greatest(coalesce(send_message.scheduled_for, now()), now());
    made public.messages;
begin
    if hospital is null then
        -- The one hospital of the caller's where the patient is registered (else: name it).
        select r.hospital_id into strict hospital
        from public.patient_registrations as r
        where r.patient_id = send_message.patient_id and r.deleted_at is null
            and private.is_active_staff_at((select auth.uid()), r.hospital_id);
    end if;
    if not private.acting_as_system() and not private.is_active_staff_at((select auth.uid()), hospital) then
        perform private.raise_not_found('patient not found');
    end if;
    select p.* into person
    from public.patients as p
    join public.patient_registrations as r on r.patient_id = p.id
    where p.id = send_message.patient_id and r.hospital_id = hospital and r.deleted_at is null;
    if person.id is null then
        perform private.raise_not_found('patient not found');
    end if;

    if send_message.channel in ('sms', 'whatsapp') and person.phone is null then
        perform private.raise_unprocessable('the patient has no phone number', 'patient_has_no_phone');
    elsif send_message.channel = 'email' and person.email is null then
        perform private.raise_unprocessable('the patient has no email address', 'patient_has_no_email');
    end if;
    if private.contact_withdrawn(person.id, hospital, send_message.channel::text) then
        perform private.raise_conflict(
            format('the patient withdrew consent to contact by %s', send_message.channel),
            'contact_consent_withdrawn'
        );
    end if;

    if send_message.template_id is not null then
        select t.* into template
        from public.message_templates as t
        where t.id = send_message.template_id and t.hospital_id = hospital;
        if template.id is null then
            perform private.raise_not_found('template not found');
        end if;
        if template.channel <> send_message.channel or not template.is_active then
            perform private.raise_invalid(
                format('the template is for %s%s', template.channel, case when template.is_active then '' else ', and inactive' end),
                'template_not_usable'
            );
        end if;
    end if;
    -- Without a body, a template is rendered by the worker when the message goes out (a
    -- journey stage's messages; clients that do not render it themselves).
    if coalesce(btrim(send_message.body), '') = '' and not (send_message.body is null and template.id is not null) then
        perform private.raise_invalid('a message needs a body, or a template', 'body_required');
    end if;
    if length(send_message.body) > (
        case send_message.channel when 'sms' then 1600 when 'whatsapp' then 4096 else 20000 end
    ) then
        perform private.raise_invalid(
            format('the body is too long for %s', send_message.channel), 'body_too_long',
            'SMS: 1600 characters, WhatsApp: 4096, email: 20000'
        );
    end if;
    if send_message.channel = 'email' and coalesce(btrim(send_message.subject), '') = ''
        and send_message.body is not null then
        perform private.raise_invalid('an email needs a subject', 'subject_required');
    end if;
    if send_message.scheduled_for > now() + interval '366 days' then
        perform private.raise_invalid('a message is scheduled at most a year ahead', 'scheduled_too_far');
    end if;
    if send_message.channel = 'whatsapp' and template.whatsapp_content_sid is null
        and not private.whatsapp_window_open(person.id, due) then
        perform private.raise_conflict(
            'outside the 24-hour WhatsApp window only an approved template may be sent', 'whatsapp_window_closed',
            'send an approved template (one with a whatsapp_content_sid), or use SMS'
        );
    end if;

    insert into public.messages (
        hospital_id, patient_id, journey_instance_id, channel, direction, subject, body, template_id,
        template_variables, scheduled_for
    )
    values (
        hospital, person.id, send_message.journey_instance_id, send_message.channel, 'outbound',
        nullif(btrim(send_message.subject), ''), nullif(send_message.body, ''), send_message.template_id,
        coalesce(send_message.template_variables, '{}'), send_message.scheduled_for
    )
    returning * into made;
    perform private.enqueue(
        'message', 'message', made.id, hospital, 'patient', person.id, send_message.channel::text,
        jsonb_build_object('message_id', made.id), due
    );
    return made;
exception
    when no_data_found or too_many_rows then
        perform private.raise_invalid(
            'name the hospital the message is from', 'hospital_required',
            'the patient is registered at none, or at several, of your hospitals'
        );
end;
$$;

comment on function private.send_message(
    uuid, public.message_channel, text, text, uuid, uuid, jsonb, timestamptz, uuid
) is 'Queues a message and its outbox row after checking reach, consent, address and the WhatsApp window.';

-- POST /rest/v1/rpc/send_message
create function public.send_message(
    patient_id uuid,
    channel public.message_channel,
    body text,
    subject text default null,
    hospital_id uuid default null,
    template_id uuid default null,
    template_variables jsonb default '{}',
    scheduled_for timestamptz default null,
    journey_instance_id uuid default null
)
returns public.messages
language sql
volatile
set search_path = ''
as $$
    select private.send_message(
        send_message.patient_id, send_message.channel, send_message.body, send_message.subject,
        send_message.hospital_id, send_message.template_id, send_message.template_variables,
        send_message.scheduled_for, send_message.journey_instance_id
    );
$$;

comment on function public.send_message(
    uuid, public.message_channel, text, text, uuid, uuid, jsonb, timestamptz, uuid
) is
'Queues a message to a patient of the caller''s hospital (seed 001 POST /communications): channel '
'whatsapp, sms or email; body (the rendered text: POST /api/v1/communications on the sidecar '
'renders a template; null with a template: the worker renders it with template_variables when it '
'goes out, and a variable it lacks fails the message), subject (email); hospital_id (needed when '
'the patient is registered at several of the caller''s hospitals); template_id and '
'template_variables (what it was rendered from); scheduled_for (null: now). It goes to the '
'patient''s phone or email on record. Errors: '
'PT404 patient or template not found; PT409 contact_consent_withdrawn, whatsapp_window_closed '
'(outside 24 hours since the patient''s last WhatsApp message only a template with a '
'whatsapp_content_sid may be sent); PT422 patient_has_no_phone / patient_has_no_email; 22023 '
'body_required, subject_required, body_too_long, template_not_usable.';

-- PATCH /communications/{id}/read
create function public.mark_message_read(message_id uuid)
returns public.messages
language plpgsql
volatile
set search_path = ''
as $$
declare
    changed public.messages;
begin
    update public.messages as m
    set status = 'read'
    where m.id = mark_message_read.message_id and m.status <> 'read'
    returning * into changed;
    if changed.id is null then
        select m.* into changed from public.messages as m where m.id = mark_message_read.message_id;
        if changed.id is null then
            perform private.raise_not_found('message not found');
        end if;
    end if;
    return changed;
end;
$$;

comment on function public.mark_message_read(uuid) is
'Marks a message read (seed 001 PATCH /communications/{id}/read): an inbound message the hospital '
'read, or an outbound one the patient read; a read message is returned as it is. PT404 for a '
'message the caller cannot read; PT409 when its status cannot become read (queued, failed).';

-- DELETE /communications/{id}: archived, never removed.
create function public.archive_message(message_id uuid)
returns public.messages
language plpgsql
volatile
set search_path = ''
as $$
declare
    changed public.messages;
begin
    update public.messages as m
    set archived_at = coalesce(m.archived_at, now())
    where m.id = archive_message.message_id
    returning * into changed;
    if changed.id is null then
        perform private.raise_not_found('message not found');
    end if;
    return changed;
end;
$$;

comment on function public.archive_message(uuid) is
'Archives a message (seed 001 DELETE /communications/{id}): kept, hidden from the patient and from '
'search. The hospital''s staff only; PT404 otherwise.';

-- GET /communications/stats
create function public.message_stats(hospital_id uuid default null)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    counted jsonb;
begin
    if message_stats.hospital_id is not null
        and not message_stats.hospital_id = any(private.staff_hospital_ids()) then
        perform private.raise_not_found('hospital not found');
    end if;
    with visible as (
        select m.channel::text as channel, m.status, count(*) as n
        from public.messages as m
        where m.archived_at is null and m.direction = 'outbound'
            and (message_stats.hospital_id is null or m.hospital_id = message_stats.hospital_id)
        group by m.channel, m.status
    )

    select jsonb_build_object(
        'total', coalesce(sum(v.n), 0),
        'by_channel', coalesce((
            select jsonb_object_agg(c.channel, c.n) from (
                select x.channel, sum(x.n) as n from visible as x group by x.channel
            ) as c
        ), '{}'),
        'by_status', coalesce((
            select jsonb_object_agg(s.status, s.n) from (
                select x.status, sum(x.n) as n from visible as x group by x.status
            ) as s
        ), '{}'),
        'sent', coalesce(sum(v.n) filter (where v.status in ('sent', 'delivered', 'read')), 0),
        'delivered', coalesce(sum(v.n) filter (where v.status in ('delivered', 'read')), 0),
        'read', coalesce(sum(v.n) filter (where v.status = 'read'), 0),
        'pending', coalesce(sum(v.n) filter (where v.status = 'queued'), 0),
        'failed', coalesce(sum(v.n) filter (where v.status = 'failed'), 0)
    ) into counted
    from visible as v;
    return counted;
end;
$$;

comment on function public.message_stats(uuid) is
'Counts of the outbound messages the caller may read, not archived, optionally of one hospital '
'(seed 001 GET /communications/stats): {total, by_channel, by_status, sent (sent, delivered or '
'read), delivered, read, pending (queued), failed}. PT404 for a hospital the caller is not staff of.';

-- GET /communications/search
create function public.search_messages(
    query text,
    patient_id uuid default null,
    channel public.message_channel default null,
    date_from timestamptz default null,
    date_to timestamptz default null,
    page integer default 1,
    page_size integer default 20
)
returns table (message jsonb, rank real, total bigint)
language plpgsql
stable
set search_path = ''
as $$
declare
    terms tsquery;
begin
    if length(btrim(coalesce(query, ''))) < 2 then
        perform private.raise_invalid('search for at least 2 characters', 'query_too_short');
    end if;
    if page is null or page < 1 or page_size is null or page_size not between 1 and 100 then
        perform private.raise_invalid('page starts at 1; page_size is 1 to 100', 'bad_page');
    end if;
    terms := websearch_to_tsquery('simple'::regconfig, query);
    return query
    select to_jsonb(m) - 'search', ts_rank_cd(m.search, terms), count(*) over ()
    from public.messages as m
    where m.search @@ terms
        and m.archived_at is null
        and (search_messages.patient_id is null or m.patient_id = search_messages.patient_id)
        and (search_messages.channel is null or m.channel = search_messages.channel)
        and (search_messages.date_from is null or m.created_at >= search_messages.date_from)
        and (search_messages.date_to is null or m.created_at <= search_messages.date_to)
    order by ts_rank_cd(m.search, terms) desc, m.created_at desc, m.id
    limit page_size offset (page - 1) * page_size;
end;
$$;

comment on function public.search_messages(
    text, uuid, public.message_channel, timestamptz, timestamptz, integer, integer
) is
'Full-text search over the subject and body of the messages the caller may read, not archived '
'(seed 001 GET /communications/search): web-search syntax ("quoted phrase", or, -word), ranked, '
'with patient, channel and date filters (date_to inclusive), a page of page_size (at most 100): '
'rows {message (the messages row), rank, total (the number of matches)}. 22023 query_too_short '
'under 2 characters.';

-- Delivery through the outbox -----------------------------------------------------------------------

-- What the worker needs to send one message the outbox holds, or how to settle the row instead:
-- {settle, error, message_status} to stop it (the message is no longer queued, the window
-- closed, no address), else {channel, phone, title, body, data}. The address is written on the
-- message. WhatsApp outside the window goes as its approved template: data.content_sid and
-- data.content_variables ({"1": ..., "2": ...}, the declared variables in order).
create function private.message_delivery(row_ private.outbox)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    msg public.messages;
    person public.patients;
    template public.message_templates;
    to_address text;
    as_template boolean := false;
begin
    select m.* into msg from public.messages as m where m.id = row_.subject_id for update;
    if msg.id is null or msg.status <> 'queued' or msg.archived_at is not null then
        return jsonb_build_object(
            'settle', 'cancelled',
            'error', format('the message is %s', coalesce(case when msg.archived_at is not null then 'archived' end, msg.status, 'gone'))
        );
    end if;
    select p.* into person from public.patients as p where p.id = msg.patient_id;
    to_address := case when msg.channel = 'email' then person.email::text else person.phone::text end;
    if to_address is null or person.deleted_at is not null then
        return jsonb_build_object(
            'settle', 'dead',
            'error', format('undeliverable: the patient has no %s', case when msg.channel = 'email' then 'email address' else 'phone number' end)
        );
    end if;
    if msg.template_id is not null then
        select t.* into template from public.message_templates as t where t.id = msg.template_id;
    end if;
    if msg.channel = 'whatsapp' and not private.whatsapp_window_open(person.id, now()) then
        if template.whatsapp_content_sid is null then
            return jsonb_build_object(
                'settle', 'dead',
                'error', 'whatsapp_window_closed: the 24-hour window closed before it went out'
            );
        end if;
        as_template := true;
    end if;
    update public.messages as m set address = to_address where m.id = msg.id;
    if msg.body is null and template.id is null then
        return jsonb_build_object('settle', 'dead', 'error', 'the template of the message is gone');
    end if;
    return jsonb_build_object(
        'channel', msg.channel,
        'phone', case when msg.channel <> 'email' then to_address end,
        'title', msg.subject,
        'body', msg.body,
        'data', jsonb_strip_nulls(jsonb_build_object(
            'notification_id', row_.id::text,
            'kind', 'message',
            'subject_type', 'message',
            'subject_id', msg.id::text,
            'message_id', msg.id::text,
            'email', case when msg.channel = 'email' then to_address end,
            'content_sid', case when as_template then template.whatsapp_content_sid end,
            'content_variables', case when as_template then (
                select jsonb_object_agg(v.n::text, coalesce(msg.template_variables ->> v.name, ''))
                from unnest(template.variables) with ordinality as v (name, n)
            )::text end,
            -- Not rendered yet: the worker renders it (Jinja2 sandbox) and records the text
            -- with rpc/record_message_text before it sends.
            'render', case when msg.body is null then jsonb_build_object(
                'body', template.body, 'subject', template.subject, 'variables', to_jsonb(template.variables),
                'values', msg.template_variables
            ) end
        ))
    );
end;
$$;

comment on function private.message_delivery(private.outbox) is
'For the worker: how to send the message of an outbox row (address, text, WhatsApp template), or '
'how to settle the row when it must not go.';

-- What the worker needs to deliver one claimed outbox row, or how to settle it instead
-- ({settle: cancelled | dead, error}). Contact consent is checked again here, when the row is
-- claimed: a withdrawal since it was queued stops it. Notifications (appointment, prescription
-- ...) go by push to the recipient's devices, else by SMS (a patient without a device), with
-- the text of private.render_notification; messages as private.message_delivery says.
create function private.outbox_delivery(row_ private.outbox, channels text[])
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    tokens text [] := '{}';
    number text;
    channel_ text := row_.channel;
    text_ record;
begin
    if row_.recipient_kind = 'patient' and row_.channel in ('sms', 'whatsapp', 'email')
        and row_.hospital_id is not null
        and private.contact_withdrawn(row_.recipient_id, row_.hospital_id, row_.channel) then
        return jsonb_build_object(
            'settle', 'cancelled',
            'error', format('the patient withdrew consent to contact by %s', row_.channel)
        );
    end if;
    if row_.kind = 'message' then
        return private.message_delivery(row_);
    end if;

    if row_.channel = 'push' then
        tokens := private.recipient_device_tokens(row_.recipient_kind, row_.recipient_id);
        if cardinality(tokens) = 0 and row_.recipient_kind = 'patient'
            and 'sms' = any(channels)
            and not (row_.hospital_id is not null
                and private.contact_withdrawn(row_.recipient_id, row_.hospital_id, 'sms')) then
            number := private.recipient_phone('patient', row_.recipient_id);
            if number is not null then
                channel_ := 'sms';
                update private.outbox as o set channel = 'sms' where o.id = row_.id;
            end if;
        end if;
    elsif row_.channel = 'sms' then
        number := private.recipient_phone(row_.recipient_kind, row_.recipient_id);
    end if;

    -- Nowhere to send it: a patient must hear (dead letter: an admin can add the phone
    -- number and retry); staff and pharmacies without the app are simply not notified.
    if cardinality(tokens) = 0 and number is null then
        return jsonb_build_object(
            'settle', case when row_.recipient_kind = 'patient' then 'dead' else 'cancelled' end,
            'error', case row_.channel
                when 'push' then 'undeliverable: the recipient has no registered device'
                when 'sms' then 'undeliverable: the recipient has no phone number'
                else format('undeliverable: no address for channel %s', row_.channel)
            end
        );
    end if;

    select r.title, r.body into text_
    from public.hospitals as h,
        lateral private.render_notification(row_.kind, row_.recipient_kind, row_.payload, h.time_zone) as r
    where h.id = row_.hospital_id;
    if not found then
        select r.title, r.body into text_
        from private.render_notification(row_.kind, row_.recipient_kind, row_.payload, 'Asia/Kolkata') as r;
    end if;
    return jsonb_build_object(
        'channel', channel_,
        'device_tokens', to_jsonb(tokens),
        'phone', number,
        'title', text_.title,
        'body', text_.body,
        -- For the app to open the right screen: ids only, as strings (FCM data values are strings).
        'data', jsonb_build_object(
            'notification_id', row_.id::text, 'kind', row_.kind,
            'subject_type', row_.subject_type, 'subject_id', row_.subject_id::text
        )
    );
end;
$$;

comment on function private.outbox_delivery(private.outbox, text[]) is
'For the worker: where and what to send for a claimed outbox row (notification or message), or '
'how to settle it instead (consent withdrawn since it was queued, no address, ...).';

-- Re-created: claims messages too (their text and address from private.message_delivery),
-- re-checks contact consent when a row is claimed, and leaves each row's delivery to
-- private.outbox_delivery. The claim and the dead-lettering of rows whose worker died are
-- unchanged.
create or replace function public.claim_notifications(
    batch integer default 20,
    lease interval default '2 minutes',
    channels text[] default '{push,sms}',
    max_attempts integer default 5
)
returns table (
    id uuid,
    claim_token uuid,
    kind text,
    channel text,
    attempts integer,
    recipient_kind text,
    recipient_id uuid,
    hospital_id uuid,
    device_tokens text[],
    phone text,
    title text,
    body text,
    data jsonb
)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    row_ private.outbox;
    delivery jsonb;
begin
    perform private.check_claim_arguments(batch, lease, max_attempts);

    update private.outbox as o
    set state = 'dead', lease_until = null, claim_token = null,
        last_error = format('the worker delivering it stopped answering (attempt %s of %s)', o.attempts, max_attempts)
    where o.id in (
        select x.id from private.outbox as x
        where x.state = 'processing' and x.lease_until <= now() and x.attempts >= max_attempts
        for update skip locked
    );

    for row_ in
        update private.outbox as o
        set state = 'processing', attempts = o.attempts + 1, lease_until = now() + lease,
            claim_token = gen_random_uuid()
        where o.id in (
            select x.id from private.outbox as x
            where x.channel = any(channels)
                and (
                    (x.state = 'pending' and x.deliver_after <= now())
                    or (x.state = 'processing' and x.lease_until <= now())
                )
            order by x.deliver_after
            limit batch
            for update skip locked
        )
        returning o.*
    loop
        delivery := private.outbox_delivery(row_, channels);
        if delivery ? 'settle' then
            update private.outbox as o
            set state = delivery ->> 'settle', lease_until = null, claim_token = null,
                last_error = delivery ->> 'error'
            where o.id = row_.id;
            continue;
        end if;
        id := row_.id;
        claim_token := row_.claim_token;
        kind := row_.kind;
        channel := delivery ->> 'channel';
        attempts := row_.attempts;
        recipient_kind := row_.recipient_kind;
        recipient_id := row_.recipient_id;
        hospital_id := row_.hospital_id;
        device_tokens := array(select jsonb_array_elements_text(coalesce(delivery -> 'device_tokens', '[]')));
        phone := delivery ->> 'phone';
        title := delivery ->> 'title';
        body := delivery ->> 'body';
        data := delivery -> 'data';
        return next;
    end loop;
end;
$$;

-- A message's outbox row settled: the message follows (sent with the provider's id; failed
-- when dead-lettered; cancelled). Security definer: runs for whoever settled the row (the
-- worker, a patient withdrawing consent) and writes the message as its status machine allows.
create function private.outbox_message_settled()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if new.state = 'sent' then
        update public.messages as m
        set provider_message_id = coalesce(m.provider_message_id, new.provider_message_id)
        where m.id = new.subject_id and m.provider_message_id is null and new.provider_message_id is not null;
        update public.messages as m
        set status = 'sent'
        where m.id = new.subject_id and m.status = 'queued';
    elsif new.state in ('dead', 'cancelled') then
        update public.messages as m
        set status = case when new.state = 'dead' then 'failed' else 'cancelled' end,
            status_reason = coalesce(new.last_error, 'not sent')
        where m.id = new.subject_id and m.status = 'queued';
    end if;
    return null;
end;
$$;

comment on function private.outbox_message_settled() is
'Trigger: a message follows its outbox row (sent, failed when dead-lettered, cancelled).';

create trigger outbox_message_settled
after update of state on private.outbox
for each row when (new.kind = 'message' and new.state is distinct from old.state)
execute function private.outbox_message_settled();

-- POST /rest/v1/rpc/record_message_text (service role: the worker), for an automatic message
-- whose template it rendered: the text is recorded before it is sent, once.
create function public.record_message_text(message_id uuid, subject text, body text)
returns boolean
language sql
volatile
set search_path = ''
as $$
    with recorded as (
        update public.messages as m
        set body = record_message_text.body, subject = coalesce(record_message_text.subject, m.subject)
        where m.id = record_message_text.message_id and m.body is null and m.status = 'queued'
        returning 1
    )
    select exists (select from recorded);
$$;

comment on function public.record_message_text(uuid, text, text) is
'For the worker (service role): the text it rendered from the template of an automatic message, '
'recorded before it is sent (once: false when the message already has its text).';

revoke execute on function public.record_message_text(uuid, text, text) from authenticated;
grant execute on function public.record_message_text(uuid, text, text) to service_role;

-- Twilio status callbacks ------------------------------------------------------------------------------
alter table private.webhook_inbox drop constraint webhook_inbox_provider_known;
alter table private.webhook_inbox add constraint webhook_inbox_provider_known check (
    provider in ('calcom', 'vapi', 'twilio')
);

-- Moves a message forward to `target` (one checked transition at a time), never back: a late
-- "sent" after "delivered" changes nothing. Returns applied or ignored with a reason.
create function private.apply_message_status(
    message uuid, target text, error_code text, error_message text, provider_message_id text
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    msg public.messages;
    path text [];
    step text;
begin
    select m.* into msg from public.messages as m where m.id = apply_message_status.message for update;
    if msg.id is null then
        return jsonb_build_object('outcome', 'unprocessable', 'reason', 'unknown_message');
    end if;
    if apply_message_status.provider_message_id is not null then
        if msg.provider_message_id is null then
            update public.messages as m set provider_message_id = apply_message_status.provider_message_id
            where m.id = msg.id;
        elsif msg.provider_message_id <> apply_message_status.provider_message_id then
            return jsonb_build_object(
                'outcome', 'unprocessable', 'reason', 'provider_id_mismatch', 'hospital_id', msg.hospital_id
            );
        end if;
    end if;
    if target is null or target = msg.status then
        return jsonb_build_object('outcome', 'ignored', 'reason', 'no_change', 'hospital_id', msg.hospital_id);
    end if;
    path := private.forward_path('message', msg.status, target);
    if path is null then
        return jsonb_build_object('outcome', 'ignored', 'reason', 'not_forward', 'hospital_id', msg.hospital_id);
    end if;
    foreach step in array path loop
        update public.messages as m
        set status = step,
            status_reason = case when step = 'failed' then coalesce(apply_message_status.error_message, 'failed') end,
            error_code = case when step = 'failed' then apply_message_status.error_code else m.error_code end
        where m.id = msg.id;
    end loop;
    return jsonb_build_object('outcome', 'applied', 'hospital_id', msg.hospital_id);
end;
$$;

comment on function private.apply_message_status(uuid, text, text, text, text) is
'Moves a message forward to a status reported by its provider, one transition at a time; never back.';

-- A Twilio status callback (MessageStatus...), already verified by the sidecar: recorded in the
-- webhook inbox (one entry per message and status; a replay changes nothing) and applied.
-- Security definer: the inbox and the messages are written for the provider, not a user.
create function private.receive_twilio_status(message_id uuid, params jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    sid text := nullif(params ->> 'MessageSid', '');
    reported text := lower(params ->> 'MessageStatus');
    recorded record;
    result jsonb;
begin
    recorded := private.inbox_record(
        'twilio', concat_ws('|', 'status', sid, receive_twilio_status.message_id, reported), 'message-status', sid,
        (select m.hospital_id from public.messages as m where m.id = receive_twilio_status.message_id),
        params, encode(extensions.digest(convert_to(params::text, 'UTF8'), 'sha256'), 'hex')
    );
    if recorded.replay then
        return jsonb_build_object(
            'inbox_entry_id', (recorded.entry).id, 'outcome', 'duplicate', 'first_outcome', (recorded.entry).outcome
        );
    end if;
    if receive_twilio_status.message_id is null or sid is null or reported is null then
        result := jsonb_build_object('outcome', 'unprocessable', 'reason', 'missing_fields');
    else
        result := private.apply_message_status(
            receive_twilio_status.message_id,
            case reported
                when 'sent' then 'sent'
                when 'delivered' then 'delivered'
                when 'read' then 'read'
                when 'failed' then 'failed'
                when 'undelivered' then 'failed'
                when 'canceled' then 'cancelled'
            end,
            nullif(params ->> 'ErrorCode', ''),
            coalesce(
                nullif(params ->> 'ErrorMessage', ''),
                case when reported in ('failed', 'undelivered') then
                    format('twilio %s%s', reported, coalesce(' ' || nullif(params ->> 'ErrorCode', ''), ''))
                end
            ),
            sid
        );
    end if;
    update private.webhook_inbox as i
    set outcome = result ->> 'outcome', reason = result ->> 'reason',
        applied_at = case when result ->> 'outcome' = 'applied' then now() end
    where i.id = (recorded.entry).id;
    return result || jsonb_build_object('inbox_entry_id', (recorded.entry).id);
end;
$$;

comment on function private.receive_twilio_status(uuid, jsonb) is
'Records a verified Twilio status callback in the webhook inbox and moves its message forward.';

-- POST /rest/v1/rpc/receive_twilio_status (service role: the sidecar, after checking
-- X-Twilio-Signature).
create function public.receive_twilio_status(message_id uuid, params jsonb)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.receive_twilio_status(receive_twilio_status.message_id, receive_twilio_status.params);
$$;

comment on function public.receive_twilio_status(uuid, jsonb) is
'For the sidecar (service role) after verifying X-Twilio-Signature: a message status callback '
'(the form parameters as an object, message_id from the callback URL). Answers {inbox_entry_id, '
'outcome: applied | ignored | unprocessable | duplicate, reason}.';

-- Inbound WhatsApp and SMS: a patient's message, for every hospital where a patient with that
-- number is registered (families share numbers: each of them gets it). Security definer: written
-- for the provider, after the sidecar verified it.
create function private.receive_patient_message(
    channel public.message_channel, from_phone text, body text, provider_message_id text
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    number text := regexp_replace(coalesce(from_phone, ''), '^whatsapp:', '');
    recorded integer;
begin
    if coalesce(btrim(body), '') = '' then
        return jsonb_build_object('outcome', 'ignored', 'reason', 'empty', 'messages', 0);
    end if;
    if exists (select from public.messages as m where m.provider_message_id = receive_patient_message.provider_message_id) then
        return jsonb_build_object('outcome', 'duplicate', 'messages', 0);
    end if;
    insert into public.messages (
        hospital_id, patient_id, channel, direction, address, body, status, provider_message_id
    )
    select r.hospital_id, p.id, receive_patient_message.channel, 'inbound', number, left(body, 20000), 'received',
        case when row_number() over (order by p.id, r.hospital_id) = 1 then receive_patient_message.provider_message_id end
    from public.patients as p
    join public.patient_registrations as r on r.patient_id = p.id and r.deleted_at is null
    where p.phone::text = number and p.deleted_at is null and p.merged_into is null;
    get diagnostics recorded = row_count;
    return jsonb_build_object(
        'outcome', case when recorded > 0 then 'applied' else 'ignored' end,
        'reason', case when recorded = 0 then 'unknown_number' end,
        'messages', recorded
    );
end;
$$;

comment on function private.receive_patient_message(public.message_channel, text, text, text) is
'Records a patient''s inbound message for each registration of the patients carrying the number.';

-- POST /rest/v1/rpc/receive_patient_message (service role: the sidecar's Twilio webhook).
create function public.receive_patient_message(
    channel public.message_channel, from_phone text, body text, provider_message_id text
)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.receive_patient_message(
        receive_patient_message.channel, receive_patient_message.from_phone, receive_patient_message.body,
        receive_patient_message.provider_message_id
    );
$$;

comment on function public.receive_patient_message(public.message_channel, text, text, text) is
'For the sidecar (service role) after verifying X-Twilio-Signature: a patient''s WhatsApp or SMS '
'message (From as Twilio sends it, whatsapp: prefix allowed), recorded as a received message '
'at each hospital where a patient with that number is registered; it opens the 24-hour WhatsApp '
'window. Answers {outcome, reason, messages}.';

grant execute on function private.clinical_variable(text) to authenticated, service_role;
grant execute on function private.template_placeholders(text) to authenticated, service_role;
grant execute on function private.whatsapp_window_open(uuid, timestamptz) to authenticated, service_role;
grant execute on function private.send_message(
    uuid, public.message_channel, text, text, uuid, uuid, jsonb, timestamptz, uuid
) to authenticated, service_role;
grant execute on function private.message_delivery(private.outbox) to service_role;
grant execute on function private.outbox_delivery(private.outbox, text[]) to service_role;
grant execute on function private.check_claim_arguments(integer, interval, integer) to service_role;
grant execute on function public.send_message(
    uuid, public.message_channel, text, text, uuid, uuid, jsonb, timestamptz, uuid
) to authenticated, service_role;
grant execute on function public.mark_message_read(uuid) to authenticated, service_role;
grant execute on function public.archive_message(uuid) to authenticated, service_role;
grant execute on function public.message_stats(uuid) to authenticated, service_role;
grant execute on function public.search_messages(
    text, uuid, public.message_channel, timestamptz, timestamptz, integer, integer
) to authenticated, service_role;
grant execute on function private.apply_message_status(uuid, text, text, text, text) to service_role;
grant execute on function private.receive_twilio_status(uuid, jsonb) to service_role;
revoke execute on function public.receive_twilio_status(uuid, jsonb) from authenticated;
grant execute on function public.receive_twilio_status(uuid, jsonb) to service_role;
grant execute on function private.receive_patient_message(public.message_channel, text, text, text) to service_role;
revoke execute on function public.receive_patient_message(public.message_channel, text, text, text) from authenticated;
grant execute on function public.receive_patient_message(public.message_channel, text, text, text) to service_role;
