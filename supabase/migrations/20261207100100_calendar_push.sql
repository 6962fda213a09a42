-- Cal.com out (issue 14, item 3): appointments made in carebase are pushed to the doctor's
-- Cal.com calendar by the worker (sidecar/jobs/calendar_push.py).
--
-- The contract is the appointment's state: an appointment whose sync_state is `pending` is
-- work to do (whoever set it: the trigger below, or the reconciliation finding a carebase
-- booking missing in Cal.com). The trigger marks `pending` when an appointment of a doctor with
-- a calendar link that was not born in Cal.com is created, moved or cancelled; an update that
-- sets sync_state itself is the writer's business and is left alone. An appointment born in
-- Cal.com is already there: it is marked only when a user of the API (the front desk, the
-- patient) moves or cancels it in carebase, never when the system applies what Cal.com says
-- (a webhook, the reconciliation); its push moves or cancels that booking, never makes one.
--
-- The worker claims pending appointments (rpc/claim_calendar_pushes: a lease, `for update skip
-- locked`, attempts with backoff), compares them with what it last pushed
-- (private.calendar_pushes), creates, moves or cancels the booking, and reports:
--   * rpc/complete_calendar_push: the remote uid joins the appointment's uid lineage
--     (private.appointment_external_refs, so that the webhook Cal.com sends about our own
--     booking finds this appointment), external_ref is set, and sync_state becomes `synced`,
--     unless the appointment changed meanwhile (then it stays `pending` and goes again);
--   * rpc/fail_calendar_push: a transient failure is retried with backoff; after max_attempts,
--     or a permanent refusal, sync_state is `failed` and a `push_failed` flag names the error
--     for the admins and the front desk; a refused slot (taken in Cal.com) cancels the
--     appointment through the state machine with the reason `calendar_slot_taken` (the patient
--     and the doctor are told by the notification trigger) and raises a `slot_taken` flag.

create table private.calendar_pushes (
    appointment_id uuid primary key references public.appointments (id) on delete cascade,
    attempts integer not null default 0,
    -- 'infinity': nothing to do until the appointment is pending again.
    next_attempt_at timestamptz not null default now(),
    claim_token uuid,
    lease_until timestamptz,
    last_error text,
    -- What the last successful push left in Cal.com.
    remote_uid text,
    pushed_state text,
    pushed_starts_at timestamptz,
    pushed_ends_at timestamptz,
    pushed_at timestamptz,
    -- A claim that may have created a booking (a create whose answer was lost made one all the
    -- same): a cancellation then looks for it; before that, cancelling needs no call.
    create_attempted_at timestamptz,
    constraint calendar_pushes_pushed_state_known check (pushed_state in ('booked', 'cancelled'))
);

create index calendar_pushes_due_idx on private.calendar_pushes (next_attempt_at);

alter table private.calendar_pushes enable row level security;
revoke all on private.calendar_pushes from anon, authenticated, service_role;

comment on table private.calendar_pushes is
'The push of a carebase appointment to Cal.com: the worker''s lease and attempts, and what the '
'last successful push left there (remote uid, state and times).';

alter table public.calendar_sync_flags drop constraint calendar_sync_flags_kind_known;
alter table public.calendar_sync_flags add constraint calendar_sync_flags_kind_known check (
    kind in ('clash', 'ambiguous_patient', 'lineage_conflict', 'slot_taken', 'push_failed', 'schedule_push_failed')
);

comment on column public.calendar_sync_flags.kind is
'clash, ambiguous_patient or lineage_conflict (a webhook); slot_taken (Cal.com refused the time '
'of a carebase appointment, which was cancelled with the reason calendar_slot_taken), '
'push_failed (the appointment could not be pushed: details.error, its sync_state is failed) or '
'schedule_push_failed (the doctor''s working hours could not be pushed: details.error).';

create index appointments_sync_pending_idx on public.appointments (doctor_id) where sync_state = 'pending';

-- Before insert or update of times or status. Security definer: the booking patient cannot
-- read the doctor's calendar link.
create function private.mark_calendar_push()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    -- Born in Cal.com: only a person's change made here goes out (what the system applies
    -- came from Cal.com).
    if new.source = 'calcom' and (tg_op = 'INSERT' or private.acting_as_system()) then
        return new;
    end if;
    if tg_op = 'INSERT' then
        if new.status = 'cancelled' then
            return new;
        end if;
    elsif new.sync_state is distinct from old.sync_state
        or not (
            (new.starts_at, new.ends_at) is distinct from (old.starts_at, old.ends_at)
            or (new.status = 'cancelled' and old.status <> 'cancelled')
        ) then
        return new;
    end if;
    if exists (select from public.doctor_calendar_links as l where l.doctor_id = new.doctor_id) then
        new.sync_state := 'pending';
    end if;
    return new;
end;
$$;

create trigger appointments_mark_calendar_push
before insert or update of starts_at, ends_at, status on public.appointments
for each row execute function private.mark_calendar_push();

-- After a change that leaves an appointment pending: its push is due now, with fresh attempts
-- (a lease held by a worker stays; that worker's report sees the change).
-- Security definer: the push state is private.
create function private.queue_calendar_push()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if new.sync_state <> 'pending' then
        return null;
    end if;
    if tg_op = 'UPDATE' and old.sync_state = 'pending'
        and (new.starts_at, new.ends_at, new.status) is not distinct from (old.starts_at, old.ends_at, old.status) then
        return null;
    end if;
    insert into private.calendar_pushes as p (appointment_id)
    values (new.id)
    on conflict (appointment_id) do update
    set attempts = 0, next_attempt_at = now(), last_error = null;
    return null;
end;
$$;

create trigger appointments_queue_calendar_push
after insert or update of sync_state, starts_at, ends_at, status on public.appointments
for each row execute function private.queue_calendar_push();

-- The bounds a worker's claim must keep, shared by the appointment and schedule pushes.
create function private.check_claim_arguments(batch integer, lease interval, max_attempts integer)
returns void
language plpgsql
immutable
set search_path = ''
as $$
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
end;
$$;

-- Claim -------------------------------------------------------------------------------------
-- Security definer: reads the push state, the links and the credentials, and writes the
-- lineage and flags, none of which the service role holds.
create function private.claim_calendar_pushes(
    batch integer, lease interval, max_attempts integer, default_key boolean
)
returns table (
    appointment_id uuid, claim_token uuid, attempts integer, hospital_id uuid, doctor_id uuid, time_zone text,
    starts_at timestamptz, ends_at timestamptz, status text, external_ref text,
    remote_uid text, pushed_state text, pushed_starts_at timestamptz, pushed_ends_at timestamptz,
    create_attempted boolean, cal_user_id bigint, event_type_id bigint, attendee_name text, attendee_email text,
    attendee_phone text, calcom_born boolean
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
    stale record;
begin
    perform private.check_claim_arguments(batch, lease, max_attempts);

    -- Leases that ran out on their last attempt: the worker holding them stopped answering.
    for stale in
        select x.appointment_id, x.claim_token, x.attempts
        from private.calendar_pushes as x
        where x.lease_until <= now() and x.attempts >= max_attempts
        for update skip locked
    loop
        perform private.fail_calendar_push(
            stale.appointment_id, stale.claim_token,
            format('the worker pushing it stopped answering (attempt %s of %s)', stale.attempts, max_attempts),
            true, false, max_attempts
        );
    end loop;

    return query
    with picked as (
        select x.appointment_id, x.create_attempted_at is not null as tried
        from private.calendar_pushes as x
        inner join public.appointments as a on a.id = x.appointment_id
        where x.next_attempt_at <= now()
            and (x.lease_until is null or x.lease_until <= now())
            and a.sync_state = 'pending'
            and exists (select from public.doctor_calendar_links as l where l.doctor_id = a.doctor_id)
            and (
                default_key
                or exists (select from private.doctor_calendar_credentials as c where c.doctor_id = a.doctor_id)
            )
        order by x.next_attempt_at
        limit batch
        for update of x skip locked
    ),

    claimed as (
        update private.calendar_pushes as p
        set attempts = p.attempts + 1, claim_token = gen_random_uuid(), lease_until = now() + lease,
            create_attempted_at = case
                when a.status <> 'cancelled' then coalesce(p.create_attempted_at, now()) else p.create_attempted_at
            end
        from picked, public.appointments as a
        where p.appointment_id = picked.appointment_id and a.id = p.appointment_id
        returning p.*, picked.tried
    )

    select
        c.appointment_id, c.claim_token, c.attempts, a.hospital_id, a.doctor_id, h.time_zone,
        a.starts_at, a.ends_at, a.status::text, a.external_ref,
        c.remote_uid, c.pushed_state, c.pushed_starts_at, c.pushed_ends_at, c.tried,
        l.cal_user_id, l.cal_event_type_ids[1],
        coalesce(p.full_name, a.patient_name_snapshot), p.email::text, coalesce(p.phone, a.phone_snapshot)::text,
        a.source = 'calcom'
    from claimed as c
    inner join public.appointments as a on a.id = c.appointment_id
    inner join public.hospitals as h on h.id = a.hospital_id
    inner join public.doctor_calendar_links as l on l.doctor_id = a.doctor_id
    left join public.patients as p on p.id = a.patient_id;
end;
$$;

create function public.claim_calendar_pushes(
    batch integer default 20, lease interval default '2 minutes', max_attempts integer default 5,
    default_key boolean default false
)
returns table (
    appointment_id uuid, claim_token uuid, attempts integer, hospital_id uuid, doctor_id uuid, time_zone text,
    starts_at timestamptz, ends_at timestamptz, status text, external_ref text,
    remote_uid text, pushed_state text, pushed_starts_at timestamptz, pushed_ends_at timestamptz,
    create_attempted boolean, cal_user_id bigint, event_type_id bigint, attendee_name text, attendee_email text,
    attendee_phone text, calcom_born boolean
)
language sql
volatile
set search_path = ''
as $$
    select * from private.claim_calendar_pushes(
        claim_calendar_pushes.batch, claim_calendar_pushes.lease, claim_calendar_pushes.max_attempts,
        claim_calendar_pushes.default_key
    );
$$;

-- Complete ----------------------------------------------------------------------------------
create function private.complete_calendar_push(
    appointment_id uuid, claim_token uuid, remote_uid text, pushed_state text,
    pushed_starts_at timestamptz, pushed_ends_at timestamptz, replaced_uid text
)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    push private.calendar_pushes;
    appt public.appointments;
    same boolean;
    holder uuid;
begin
    if complete_calendar_push.pushed_state not in ('booked', 'cancelled') then
        perform private.raise_invalid('pushed_state is booked or cancelled');
    end if;
    select p.* into push
    from private.calendar_pushes as p
    where p.appointment_id = complete_calendar_push.appointment_id and p.claim_token = complete_calendar_push.claim_token
    for update;
    if push.appointment_id is null then
        return 'lost';
    end if;
    select a.* into appt from public.appointments as a where a.id = push.appointment_id for update;

    -- The lineage: the booking's uid (a webhook about it finds this appointment), and the uids
    -- it replaced (a move makes a new booking in Cal.com).
    if remote_uid is not null then
        insert into private.appointment_external_refs (provider, external_ref, appointment_id, superseded)
        values ('calcom', remote_uid, appt.id, false)
        on conflict (provider, external_ref) do nothing
        returning appointment_external_refs.appointment_id into holder;
        if holder is null then
            select r.appointment_id into holder
            from private.appointment_external_refs as r
            where r.provider = 'calcom' and r.external_ref = complete_calendar_push.remote_uid;
            if holder <> appt.id then
                perform private.raise_calendar_flag(
                    appt.hospital_id, 'lineage_conflict', null, remote_uid, appt.doctor_id, appt.id,
                    appt.starts_at, appt.ends_at,
                    jsonb_build_object('appointment_ids', jsonb_build_array(holder, appt.id), 'via', 'push')
                );
            end if;
        end if;
        insert into private.appointment_external_refs (provider, external_ref, appointment_id, superseded)
        select distinct 'calcom', old_ref.ref, appt.id, true
        from (values (replaced_uid), (appt.external_ref), (push.remote_uid)) as old_ref (ref)
        where old_ref.ref is not null and old_ref.ref <> complete_calendar_push.remote_uid
        on conflict (provider, external_ref) do update
        set superseded = true
        where appointment_external_refs.appointment_id = excluded.appointment_id;
    end if;

    same := case
        when appt.status = 'cancelled' then pushed_state = 'cancelled'
        else pushed_state = 'booked'
            and (appt.starts_at, appt.ends_at) is not distinct from (pushed_starts_at, pushed_ends_at)
    end;

    update private.calendar_pushes as p
    set remote_uid = coalesce(complete_calendar_push.remote_uid, p.remote_uid),
        pushed_state = complete_calendar_push.pushed_state,
        pushed_starts_at = complete_calendar_push.pushed_starts_at,
        pushed_ends_at = complete_calendar_push.pushed_ends_at,
        pushed_at = now(), claim_token = null, lease_until = null, attempts = 0, last_error = null,
        next_attempt_at = case when same then 'infinity' else now() end
    where p.appointment_id = appt.id;

    update public.appointments as a
    set external_ref = coalesce(complete_calendar_push.remote_uid, a.external_ref),
        sync_state = case when same then 'synced' else 'pending' end::public.sync_state
    where a.id = appt.id
        and (a.external_ref, a.sync_state) is distinct from (
            coalesce(complete_calendar_push.remote_uid, a.external_ref),
            case when same then 'synced' else 'pending' end::public.sync_state
        );
    return case when same then 'synced' else 'pending' end;
end;
$$;

create function public.complete_calendar_push(
    appointment_id uuid, claim_token uuid, remote_uid text, pushed_state text,
    pushed_starts_at timestamptz default null, pushed_ends_at timestamptz default null,
    replaced_uid text default null
)
returns text
language sql
volatile
set search_path = ''
as $$
    select private.complete_calendar_push(
        complete_calendar_push.appointment_id, complete_calendar_push.claim_token, complete_calendar_push.remote_uid,
        complete_calendar_push.pushed_state, complete_calendar_push.pushed_starts_at,
        complete_calendar_push.pushed_ends_at, complete_calendar_push.replaced_uid
    );
$$;

-- Fail --------------------------------------------------------------------------------------
create function private.fail_calendar_push(
    appointment_id uuid, claim_token uuid, error text, permanent boolean, slot_taken boolean, max_attempts integer
)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    push private.calendar_pushes;
    appt public.appointments;
    message text := left(coalesce(nullif(btrim(error), ''), 'unknown error'), 1000);
    remote_booked boolean;
begin
    select p.* into push
    from private.calendar_pushes as p
    where p.appointment_id = fail_calendar_push.appointment_id and p.claim_token = fail_calendar_push.claim_token
    for update;
    if push.appointment_id is null then
        return 'lost';
    end if;
    select a.* into appt from public.appointments as a where a.id = push.appointment_id for update;

    if slot_taken and appt.status in ('requested', 'scheduled') then
        -- Cal.com refused the time: the appointment cannot be kept. A booking still standing in
        -- Cal.com at the time pushed before (a refused move), or at the time it was booked there
        -- (a move of a Cal.com-born appointment), is cancelled by the next push.
        remote_booked := (push.remote_uid is not null and push.pushed_state = 'booked')
            or (appt.source = 'calcom' and push.pushed_state is null and appt.external_ref is not null);
        update public.appointments as a
        set status = 'cancelled', status_reason = 'calendar_slot_taken',
            sync_state = case when remote_booked then 'pending' else 'failed' end::public.sync_state
        where a.id = appt.id;
        perform private.raise_calendar_flag(
            appt.hospital_id, 'slot_taken', null, coalesce(push.remote_uid, appt.external_ref), appt.doctor_id,
            appt.id, appt.starts_at, appt.ends_at, jsonb_build_object('error', message)
        );
        update private.calendar_pushes as p
        set claim_token = null, lease_until = null, attempts = 0, last_error = message,
            next_attempt_at = case when remote_booked then now() else 'infinity' end
        where p.appointment_id = appt.id;
        return 'cancelled';
    end if;

    if permanent or slot_taken or push.attempts >= fail_calendar_push.max_attempts then
        update public.appointments as a set sync_state = 'failed' where a.id = appt.id;
        perform private.raise_calendar_flag(
            appt.hospital_id, 'push_failed', null, coalesce(push.remote_uid, appt.external_ref), appt.doctor_id,
            appt.id, appt.starts_at, appt.ends_at, jsonb_build_object('error', message, 'attempts', push.attempts)
        );
        update private.calendar_pushes as p
        set claim_token = null, lease_until = null, last_error = message, next_attempt_at = 'infinity'
        where p.appointment_id = appt.id;
        return 'failed';
    end if;

    update private.calendar_pushes as p
    set claim_token = null, lease_until = null, last_error = message,
        next_attempt_at = now() + least(interval '1 hour', interval '30 seconds' * power(2, greatest(p.attempts - 1, 0)))
    where p.appointment_id = appt.id;
    return 'retry';
end;
$$;

create function public.fail_calendar_push(
    appointment_id uuid, claim_token uuid, error text, permanent boolean default false,
    slot_taken boolean default false, max_attempts integer default 5
)
returns text
language sql
volatile
set search_path = ''
as $$
    select private.fail_calendar_push(
        fail_calendar_push.appointment_id, fail_calendar_push.claim_token, fail_calendar_push.error,
        fail_calendar_push.permanent, fail_calendar_push.slot_taken, fail_calendar_push.max_attempts
    );
$$;

revoke execute on function public.claim_calendar_pushes(integer, interval, integer, boolean) from authenticated;
revoke execute on function public.complete_calendar_push(uuid, uuid, text, text, timestamptz, timestamptz, text)
from authenticated;
revoke execute on function public.fail_calendar_push(uuid, uuid, text, boolean, boolean, integer) from authenticated;
grant execute on function private.claim_calendar_pushes(integer, interval, integer, boolean) to service_role;
grant execute on function public.claim_calendar_pushes(integer, interval, integer, boolean) to service_role;
grant execute on function private.complete_calendar_push(uuid, uuid, text, text, timestamptz, timestamptz, text)
to service_role;
grant execute on function public.complete_calendar_push(uuid, uuid, text, text, timestamptz, timestamptz, text)
to service_role;
grant execute on function private.fail_calendar_push(uuid, uuid, text, boolean, boolean, integer) to service_role;
grant execute on function public.fail_calendar_push(uuid, uuid, text, boolean, boolean, integer) to service_role;

comment on function public.claim_calendar_pushes(integer, interval, integer, boolean) is
'Leases up to batch appointments waiting to be pushed to Cal.com (sync_state pending, the '
'doctor linked, and a key for the doctor unless default_key says the worker has the '
'deployment''s) to the worker (service role only), with what was last pushed and the '
'attendee (calcom_born: the booking was made in Cal.com, so it is moved or cancelled there, '
'never made). A lease that runs out makes the appointment claimable again; one that runs out on '
'its last attempt fails it.';
comment on function public.complete_calendar_push(uuid, uuid, text, text, timestamptz, timestamptz, text) is
'Records a successful push (service role only): the booking uid (remote_uid) joins the '
'appointment''s uid lineage and external_ref, replaced_uid (a move) is superseded, and the '
'appointment is synced, or stays pending when it changed since it was claimed. Answers synced, '
'pending or lost (the lease was taken by another worker: nothing recorded).';
comment on function public.fail_calendar_push(uuid, uuid, text, boolean, boolean, integer) is
'Records a failed push (service role only): retry (transient, with backoff), failed '
'(permanent, or max_attempts reached: sync_state failed and a push_failed flag), cancelled '
'(slot_taken: Cal.com refused the time, the appointment is cancelled with the reason '
'calendar_slot_taken, the patient told, and a slot_taken flag raised) or lost.';
