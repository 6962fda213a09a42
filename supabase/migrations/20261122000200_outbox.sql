-- The outbox: every change a person should hear about is appended here in the same
-- transaction as the change; sidecar workers claim rows (`for update skip locked`), deliver
-- them and mark them sent, or retry with backoff until they are dead-lettered.
-- Payloads carry ids and times, never clinical content: the worker reads what it needs with
-- the service role when it delivers.

create table private.outbox (
    id uuid primary key default gen_random_uuid(),
    -- What happened, e.g. appointment_booked, prescription_ready.
    kind text not null constraint outbox_kind_format check (kind ~ '^[a-z][a-z_]*$'),
    subject_type text not null,
    subject_id uuid not null,
    hospital_id uuid,
    -- Who hears about it: a patient, a user (staff) or a pharmacy (its pharmacists).
    recipient_kind text not null constraint outbox_recipient_kind_known check (
        recipient_kind in ('patient', 'user', 'pharmacy')
    ),
    recipient_id uuid not null,
    channel text not null constraint outbox_channel_known check (channel in ('push', 'sms', 'email', 'whatsapp')),
    payload jsonb not null default '{}',
    state text not null default 'pending' constraint outbox_state_known check (
        state in ('pending', 'processing', 'sent', 'failed', 'dead', 'cancelled')
    ),
    -- Reminders wait until they are due.
    deliver_after timestamptz not null default now(),
    attempts integer not null default 0,
    last_error text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index outbox_claim_idx on private.outbox (deliver_after) where state = 'pending';
create index outbox_subject_idx on private.outbox (subject_id, kind);

create trigger outbox_set_updated_at
before update on private.outbox
for each row execute function private.set_updated_at();

grant select, update on private.outbox to service_role;

-- Appends one message. Called only by security definer trigger functions.
create function private.enqueue(
    kind text,
    subject_type text,
    subject_id uuid,
    hospital_id uuid,
    recipient_kind text,
    recipient_id uuid,
    channel text,
    payload jsonb default '{}',
    deliver_after timestamptz default now()
)
returns void
language sql
volatile
set search_path = ''
as $$
    insert into private.outbox (
        kind, subject_type, subject_id, hospital_id, recipient_kind, recipient_id, channel, payload, deliver_after
    )
    values (
        enqueue.kind, enqueue.subject_type, enqueue.subject_id, enqueue.hospital_id, enqueue.recipient_kind,
        enqueue.recipient_id, enqueue.channel, coalesce(enqueue.payload, '{}'), coalesce(enqueue.deliver_after, now())
    );
$$;

-- How a patient is reached: push on the app when they have a login, SMS otherwise.
create function private.patient_channel(patient_id uuid)
returns text
language sql
stable
set search_path = ''
as $$
    select case when p.user_id is not null then 'push' else 'sms' end
    from public.patients as p
    where p.id = patient_channel.patient_id;
$$;
