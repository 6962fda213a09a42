-- Notification delivery: the device tokens push goes to, and the RPCs the sidecar's workers
-- (service role) use to claim outbox rows, report the outcome and retry with backoff, plus
-- the dead letters a hospital admin can list and send again.
--
-- Life of an outbox row: pending --claim--> processing (leased) --complete--> sent
--                                                               --fail-------> pending (later) | dead
-- A worker that dies holding a row loses it when the lease ends; the next claim takes it
-- again. Retries wait in `pending`, so a consent withdrawal (which cancels pending rows)
-- still wins over a retry. The state `failed` of the outbox is not used.
-- Rows of a channel no worker serves (email, whatsapp: no adapter yet) are never claimed
-- and stay pending until one does.

-- Device tokens ------------------------------------------------------------------------------
-- A device's FCM registration token, registered by the app (POST /rest/v1/device_tokens).
create table public.device_tokens (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    token text not null unique constraint device_tokens_token_length check (length(token) between 1 and 4096),
    platform text not null constraint device_tokens_platform_known check (platform in ('android', 'ios', 'web')),
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now()
);

create index device_tokens_user_idx on public.device_tokens (user_id);

-- A token names one app install: when another user signs in on that device and registers
-- it, the device is theirs now and the previous user's row goes. Security definer: that
-- row is invisible to the registering user.
create function private.device_token_changes_hands()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    delete from public.device_tokens as t where t.token = new.token and t.user_id <> new.user_id;
    return new;
end;
$$;

create trigger device_tokens_change_hands
before insert on public.device_tokens
for each row execute function private.device_token_changes_hands();

alter table public.device_tokens enable row level security;

revoke all on public.device_tokens from anon, authenticated;
grant select, delete on public.device_tokens to authenticated;
grant insert (user_id, token, platform, last_seen_at) on public.device_tokens to authenticated;
grant update (platform, last_seen_at) on public.device_tokens to authenticated;
grant select, delete on public.device_tokens to service_role;

create policy device_tokens_select_own on public.device_tokens
for select to authenticated
using (user_id = (select auth.uid()));

create policy device_tokens_insert_own on public.device_tokens
for insert to authenticated
with check (user_id = (select auth.uid()));

create policy device_tokens_update_own on public.device_tokens
for update to authenticated
using (user_id = (select auth.uid()))
with check (user_id = (select auth.uid()));

create policy device_tokens_delete_own on public.device_tokens
for delete to authenticated
using (user_id = (select auth.uid()));

create trigger audit_row_change after insert or update or delete on public.device_tokens
for each row execute function private.audit_row_change('');

-- The outbox, for delivery ---------------------------------------------------------------------
alter table private.outbox
add column lease_until timestamptz,
-- A new value at every claim: only the worker holding the current claim may report on it.
add column claim_token uuid,
add column sent_at timestamptz,
add column provider_message_id text;

create index outbox_lease_idx on private.outbox (lease_until) where state = 'processing';
create index outbox_dead_idx on private.outbox (hospital_id, updated_at) where state = 'dead';

-- The text a person sees: what happened and when, never clinical content (no diagnosis,
-- drug, result, reason or doctor's specialty), since it shows on lock screens and in SMS.
create function private.render_notification(
    kind text, recipient_kind text, payload jsonb, time_zone text
)
returns table (title text, body text)
language plpgsql
stable
set search_path = ''
as $$
declare
    starts_at text := coalesce(
        to_char(
            (render_notification.payload ->> 'starts_at')::timestamptz at time zone render_notification.time_zone,
            'DD Mon YYYY "at" HH24:MI'
        ),
        'the date shown in the app'
    );
    staff boolean := render_notification.recipient_kind <> 'patient';
begin
    case render_notification.kind
        when 'appointment_booked' then
            title := case when staff then 'New appointment' else 'Appointment booked' end;
            body := format(
                case when staff then 'An appointment was booked for %s.' else 'Your appointment is on %s.' end,
                starts_at
            );
        when 'appointment_confirmed' then
            title := 'Appointment confirmed';
            body := format('Your appointment on %s is confirmed.', starts_at);
        when 'appointment_rescheduled' then
            title := 'Appointment moved';
            body := format(
                case when staff then 'An appointment was moved to %s.' else 'Your appointment is now on %s.' end,
                starts_at
            );
        when 'appointment_cancelled' then
            title := 'Appointment cancelled';
            body := format(
                case when staff then 'The appointment on %s was cancelled.'
                    else 'Your appointment on %s was cancelled.' end,
                starts_at
            );
        when 'appointment_reminder' then
            title := 'Appointment reminder';
            body := format('Reminder: your appointment is on %s.', starts_at);
        when 'prescription_issued' then
            title := 'New prescription';
            body := case when staff then 'A new prescription is waiting for review.'
                else 'Your doctor has issued a prescription.' end;
        when 'prescription_approved' then
            title := 'Prescription approved';
            body := 'The pharmacy has approved your prescription.';
        when 'prescription_ready' then
            title := 'Prescription ready';
            body := 'Your prescription is ready for pickup at the pharmacy.';
        when 'prescription_denied' then
            title := 'Prescription update';
            body := 'The pharmacy could not fill your prescription. Please contact the hospital.';
        when 'prescription_cancelled' then
            title := 'Prescription cancelled';
            body := case when staff then 'A prescription was cancelled.' else 'Your prescription was cancelled.' end;
        when 'prescription_expired' then
            title := 'Prescription expired';
            body := 'Your prescription has expired. Please contact the hospital.';
        when 'lab_result_critical' then
            title := 'Lab result needs attention';
            body := 'A lab result needs your review. Open carebase to see it.';
        else
            title := 'carebase';
            body := 'You have an update. Open the app for details.';
    end case;
    return next;
end;
$$;

-- The FCM registration tokens of whoever hears about it: a patient's login, a staff user,
-- or the active pharmacists of a pharmacy.
create function private.recipient_device_tokens(recipient_kind text, recipient_id uuid)
returns text[]
language sql
stable
set search_path = ''
as $$
    select coalesce(array_agg(distinct t.token), '{}')
    from public.device_tokens as t
    where t.user_id in (
        select p.user_id from public.patients as p
        where recipient_device_tokens.recipient_kind = 'patient' and p.id = recipient_device_tokens.recipient_id
        union all
        select recipient_device_tokens.recipient_id where recipient_device_tokens.recipient_kind = 'user'
        union all
        select ph.user_id from public.pharmacists as ph
        join public.staff_memberships as m
            on m.user_id = ph.user_id and m.hospital_id = ph.hospital_id and m.role = 'pharmacist'
        where recipient_device_tokens.recipient_kind = 'pharmacy'
            and ph.pharmacy_id = recipient_device_tokens.recipient_id
            and ph.is_active and m.is_active
    );
$$;

-- The E.164 number SMS goes to.
create function private.recipient_phone(recipient_kind text, recipient_id uuid)
returns text
language sql
stable
set search_path = ''
as $$
    select case recipient_phone.recipient_kind
        when 'patient' then (
            select p.phone from public.patients as p
            where p.id = recipient_phone.recipient_id and p.deleted_at is null
        )
        when 'user' then (select pr.phone from public.profiles as pr where pr.id = recipient_phone.recipient_id)
        when 'pharmacy' then (select f.phone from public.pharmacies as f where f.id = recipient_phone.recipient_id)
    end;
$$;

grant execute on function private.render_notification(text, text, jsonb, text) to service_role;
grant execute on function private.recipient_device_tokens(text, uuid) to service_role;
grant execute on function private.recipient_phone(text, uuid) to service_role;
grant execute on function private.contact_withdrawn(uuid, uuid, text) to service_role;
grant select on public.patients, public.profiles, public.pharmacies, public.pharmacists,
public.staff_memberships, public.hospitals to service_role;

-- Worker RPCs (service role only) --------------------------------------------------------------

-- POST /rest/v1/rpc/claim_notifications: takes up to `batch` due rows of the given channels
-- (pending and due, or processing with an ended lease) and leases them to the caller. Returns,
-- per row, where it goes (device tokens or phone number) and the text to send. A push to a
-- patient with no registered device goes by SMS instead (unless they withdrew SMS contact).
-- A row with nowhere to go is settled at once (see below), and a row whose worker died
-- holding it on its last attempt is dead-lettered.
create function public.claim_notifications(
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
    tokens text[];
    number text;
    text_ record;
begin
    if batch is null or batch not between 1 and 500 then
        perform private.raise_invalid('batch must be between 1 and 500');
    end if;
    if lease is null or lease not between interval '5 seconds' and interval '1 hour' then
        perform private.raise_invalid('lease must be between 5 seconds and 1 hour');
    end if;
    if max_attempts is null or max_attempts < 1 then
        perform private.raise_invalid('max_attempts must be at least 1');
    end if;

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
        tokens := '{}';
        number := null;
        if row_.channel = 'push' then
            tokens := private.recipient_device_tokens(row_.recipient_kind, row_.recipient_id);
            if cardinality(tokens) = 0 and row_.recipient_kind = 'patient'
                and 'sms' = any(channels)
                and not (row_.hospital_id is not null
                    and private.contact_withdrawn(row_.recipient_id, row_.hospital_id, 'sms')) then
                number := private.recipient_phone('patient', row_.recipient_id);
                if number is not null then
                    row_.channel := 'sms';
                    update private.outbox as o set channel = 'sms' where o.id = row_.id;
                end if;
            end if;
        elsif row_.channel = 'sms' then
            number := private.recipient_phone(row_.recipient_kind, row_.recipient_id);
        end if;

        -- Nowhere to send it: a patient must hear (dead letter: an admin can add the phone
        -- number and retry); staff and pharmacies without the app are simply not notified.
        if cardinality(tokens) = 0 and number is null then
            update private.outbox as o
            set state = case when row_.recipient_kind = 'patient' then 'dead' else 'cancelled' end,
                lease_until = null, claim_token = null,
                last_error = case row_.channel
                    when 'push' then 'undeliverable: the recipient has no registered device'
                    when 'sms' then 'undeliverable: the recipient has no phone number'
                    else format('undeliverable: no address for channel %s', row_.channel)
                end
            where o.id = row_.id;
            continue;
        end if;

        select r.title, r.body into text_
        from public.hospitals as h,
            lateral private.render_notification(row_.kind, row_.recipient_kind, row_.payload, h.time_zone) as r
        where h.id = row_.hospital_id;
        if not found then
            select r.title, r.body into text_
            from private.render_notification(row_.kind, row_.recipient_kind, row_.payload, 'Asia/Kolkata') as r;
        end if;

        id := row_.id;
        claim_token := row_.claim_token;
        kind := row_.kind;
        channel := row_.channel;
        attempts := row_.attempts;
        recipient_kind := row_.recipient_kind;
        recipient_id := row_.recipient_id;
        hospital_id := row_.hospital_id;
        device_tokens := tokens;
        phone := number;
        title := text_.title;
        body := text_.body;
        -- For the app to open the right screen: ids only, as strings (FCM data values are strings).
        data := jsonb_build_object(
            'notification_id', row_.id::text, 'kind', row_.kind,
            'subject_type', row_.subject_type, 'subject_id', row_.subject_id::text
        );
        return next;
    end loop;
end;
$$;

-- POST /rest/v1/rpc/complete_notification: the message went out. False when the claim is no
-- longer the caller's (its lease ended and another worker took the row).
create function public.complete_notification(
    notification_id uuid, claim_token uuid, provider_message_id text default null
)
returns boolean
language sql
volatile
set search_path = ''
as $$
    with done as (
        update private.outbox as o
        set state = 'sent', sent_at = now(), lease_until = null, claim_token = null, last_error = null,
            provider_message_id = complete_notification.provider_message_id
        where o.id = complete_notification.notification_id
            and o.state = 'processing'
            and o.claim_token = complete_notification.claim_token
        returning 1
    )
    select exists (select 1 from done);
$$;

-- POST /rest/v1/rpc/fail_notification: delivery failed. A permanent failure, or the last of
-- `max_attempts`, dead-letters the row; otherwise it waits 30 s * 2^(attempts - 1), at most an
-- hour, give or take 20 % so that rows failing together do not retry together. Returns the
-- row's new state and when it is due again (no row: the claim is no longer the caller's).
create function public.fail_notification(
    notification_id uuid,
    claim_token uuid,
    error text,
    permanent boolean default false,
    max_attempts integer default 5
)
returns table (state text, deliver_after timestamptz)
language sql
volatile
set search_path = ''
as $$
    update private.outbox as o
    set state = case
            when fail_notification.permanent or o.attempts >= fail_notification.max_attempts then 'dead'
            else 'pending'
        end,
        deliver_after = case
            when fail_notification.permanent or o.attempts >= fail_notification.max_attempts then o.deliver_after
            else now() + least(interval '1 hour', interval '30 seconds' * power(2, greatest(o.attempts - 1, 0)))
            * (0.8 + random() * 0.4)
        end,
        last_error = left(coalesce(fail_notification.error, 'delivery failed'), 1000),
        lease_until = null,
        claim_token = null
    where o.id = fail_notification.notification_id
        and o.state = 'processing'
        and o.claim_token = fail_notification.claim_token
    returning o.state, o.deliver_after;
$$;

-- POST /rest/v1/rpc/forget_device_token: FCM says the token is no longer valid
-- (UNREGISTERED, or not a token at all).
create function public.forget_device_token(token text)
returns boolean
language sql
volatile
set search_path = ''
as $$
    with gone as (
        delete from public.device_tokens as t where t.token = forget_device_token.token returning 1
    )
    select exists (select 1 from gone);
$$;

revoke execute on function public.claim_notifications(integer, interval, text[], integer)
from authenticated;
revoke execute on function public.complete_notification(uuid, uuid, text) from authenticated;
revoke execute on function public.fail_notification(uuid, uuid, text, boolean, integer)
from authenticated;
revoke execute on function public.forget_device_token(text) from authenticated;
grant execute on function public.claim_notifications(integer, interval, text[], integer) to service_role;
grant execute on function public.complete_notification(uuid, uuid, text) to service_role;
grant execute on function public.fail_notification(uuid, uuid, text, boolean, integer) to service_role;
grant execute on function public.forget_device_token(text) to service_role;

-- Dead letters, for hospital admins --------------------------------------------------------------

-- The dead letters of the hospitals the caller administers. Security definer: the outbox is
-- private; the rows returned are limited to those hospitals.
create function private.dead_notifications()
returns table (
    id uuid,
    hospital_id uuid,
    kind text,
    channel text,
    recipient_kind text,
    recipient_id uuid,
    subject_type text,
    subject_id uuid,
    attempts integer,
    last_error text,
    created_at timestamptz,
    failed_at timestamptz
)
language sql
stable
security definer
set search_path = ''
as $$
    select o.id, o.hospital_id, o.kind, o.channel, o.recipient_kind, o.recipient_id, o.subject_type,
        o.subject_id, o.attempts, o.last_error, o.created_at, o.updated_at
    from private.outbox as o
    where o.state = 'dead'
        and o.hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
    order by o.updated_at desc, o.id;
$$;

-- Sends a dead letter again: pending now, attempts from zero. Only a hospital admin of the
-- row's hospital; a message on a channel the patient has since withdrawn is cancelled
-- instead. Security definer: writes the private outbox.
create function private.retry_notification(notification_id uuid)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    row_ private.outbox;
begin
    select o.* into row_ from private.outbox as o where o.id = retry_notification.notification_id for update;
    if not found or not coalesce(row_.hospital_id = any(private.staff_hospital_ids('{hospital_admin}')), false) then
        if cardinality(private.staff_hospital_ids('{hospital_admin}')) = 0 then
            perform private.raise_forbidden('only a hospital admin can retry a notification');
        end if;
        perform private.raise_not_found('no such notification in your hospital');
    end if;
    if row_.state <> 'dead' then
        raise exception using
            errcode = 'PT409', message = format('only a dead notification can be retried; this one is %s', row_.state);
    end if;
    if row_.recipient_kind = 'patient' and row_.channel in ('sms', 'whatsapp', 'email')
        and private.contact_withdrawn(row_.recipient_id, row_.hospital_id, row_.channel) then
        update private.outbox as o
        set state = 'cancelled', last_error = format('the patient withdrew consent to contact by %s', row_.channel)
        where o.id = row_.id;
        return 'cancelled';
    end if;
    update private.outbox as o
    set state = 'pending', attempts = 0, deliver_after = now()
    where o.id = row_.id;
    return 'pending';
end;
$$;

grant execute on function private.dead_notifications() to authenticated;
grant execute on function private.retry_notification(uuid) to authenticated;

-- GET /rest/v1/rpc/dead_notifications: the caller's hospitals' dead letters (empty for anyone
-- but a hospital admin).
create function public.dead_notifications()
returns table (
    id uuid,
    hospital_id uuid,
    kind text,
    channel text,
    recipient_kind text,
    recipient_id uuid,
    subject_type text,
    subject_id uuid,
    attempts integer,
    last_error text,
    created_at timestamptz,
    failed_at timestamptz
)
language sql
stable
set search_path = ''
as $$
    select * from private.dead_notifications();
$$;

-- POST /rest/v1/rpc/retry_notification {"notification_id": ...} -> 'pending' (or 'cancelled'
-- when the patient withdrew consent to that channel).
create function public.retry_notification(notification_id uuid)
returns text
language sql
volatile
set search_path = ''
as $$
    select private.retry_notification(retry_notification.notification_id);
$$;

grant execute on function public.dead_notifications() to authenticated;
grant execute on function public.retry_notification(uuid) to authenticated;
