-- Reconciliation of the Cal.com mirror (issue 14, item 4): a webhook that never arrives (an
-- outage, Cal.com giving up) must not leave the mirror wrong for ever. A run takes a window
-- [window_from, window_to); the sidecar (sidecar/jobs/calendar_reconcile.py) pages through
-- Cal.com's bookings in it and hands them here, a page per transaction, and the database
-- compares them with the mirror in both directions:
--
--   * a booking missing locally, or whose times or status drifted, goes through
--     private.calendar_apply_booking, exactly as its webhook would have: forward only, along
--     the uid lineage, a clash or an ambiguous patient flagged, an unknown attendee created
--     once. Cal.com wins for times and cancellations; carebase wins for clinical status (an
--     appointment in consultation, completed or a no-show is never cancelled or moved back; the
--     disagreement is flagged, kind status_conflict). A booking whose appointment carries a
--     local change not yet pushed (sync_state pending, whichever side made the booking) is left
--     to the push: carebase's change wins until it has gone out.
--   * a mirrored appointment of the window that Cal.com no longer has (the sidecar asked for its
--     uid and got 404): a carebase-born one is carebase's, so it is pushed again (sync_state
--     pending, external_ref cleared, the old uid kept in the lineage); a Cal.com-born one is
--     flagged (booking_vanished), never deleted or cancelled by the reconciler.
--   * a booking tagged with a carebase appointment id (metadata carebase_appointment_id) that
--     is not that appointment's booking is a second remote copy: flagged (duplicate_booking),
--     never mirrored as a second appointment.
--
-- Each booking is applied in its own subtransaction: one that fails is rolled back whole and
-- flagged (apply_failed) while the rest of the page goes on; a transient failure (deadlock,
-- serialization) rolls the page back for the sidecar to send again (applying is idempotent).
-- A flag already open for the same booking is not raised again, so a run that changes nothing
-- counts nothing. Every run is recorded with its counts, per hospital for the hospital admins
-- (rpc/calendar_reconciliations).

-- Flags: what a run cannot fix ------------------------------------------------------------------
alter table public.calendar_sync_flags drop constraint calendar_sync_flags_kind_known;
alter table public.calendar_sync_flags add constraint calendar_sync_flags_kind_known check (
    kind in (
        'clash', 'ambiguous_patient', 'lineage_conflict', 'slot_taken', 'push_failed', 'schedule_push_failed',
        'status_conflict', 'booking_vanished', 'duplicate_booking', 'apply_failed'
    )
);

comment on table public.calendar_sync_flags is
'Bookings from Cal.com that need a person (seed 000 epic D), for the front desk and admins of '
'the hospital: kind clash (the booking overlaps a carebase appointment; details.clashes lists '
'what it clashes with, appointment ids of this hospital only), ambiguous_patient (several '
'patients of the hospital match the attendee: none was guessed), lineage_conflict (two '
'appointments claim one reschedule chain), and from reconciliation runs (details.reconciliation_id): '
'status_conflict (Cal.com and carebase disagree on a status carebase keeps, e.g. cancelled in '
'Cal.com but completed here; details.remote_status, details.local_status), booking_vanished (a '
'Cal.com-born appointment whose booking Cal.com no longer has; the appointment is kept), '
'duplicate_booking (a second Cal.com booking tagged with this appointment) and apply_failed '
'(details.error), and from the push (see the kind column): slot_taken, push_failed, '
'schedule_push_failed. details.attendee is the attendee as Cal.com sent it (name, email, phone). A '
'flag is resolved when its inbox entry is re-applied (rpc/reapply_webhook), or by the front '
'desk or an admin saying what they did (rpc/resolve_calendar_flag); one flag stays open per '
'booking and problem (a later run does not raise it again). Written only by the system and '
'those two calls.';
comment on column public.calendar_sync_flags.kind is
'clash, ambiguous_patient or lineage_conflict (a webhook); slot_taken (Cal.com refused the time '
'of a carebase appointment, which was cancelled with the reason calendar_slot_taken), '
'push_failed (the appointment could not be pushed: details.error, its sync_state is failed) or '
'schedule_push_failed (the doctor''s working hours could not be pushed: details.error); '
'status_conflict, booking_vanished, duplicate_booking or apply_failed (a reconciliation run).';

-- Runs ------------------------------------------------------------------------------------------
create table private.calendar_reconciliations (
    id uuid primary key default gen_random_uuid(),
    provider text not null default 'calcom',
    run_trigger text not null,
    window_from timestamptz not null,
    window_to timestamptz not null,
    started_at timestamptz not null default clock_timestamp(),
    finished_at timestamptz,
    checked integer not null default 0,
    created integer not null default 0,
    updated integer not null default 0,
    cancelled integer not null default 0,
    flagged integer not null default 0,
    -- Bookings no hospital is linked to (an unknown organizer) or that could not be read.
    skipped integer not null default 0,
    error text,
    constraint calendar_reconciliations_provider_known check (provider in ('calcom')),
    constraint calendar_reconciliations_trigger_known check (run_trigger in ('periodic', 'nightly', 'manual')),
    constraint calendar_reconciliations_window_order check (window_from < window_to)
);

create index calendar_reconciliations_started_idx on private.calendar_reconciliations (started_at desc);

alter table private.calendar_reconciliations enable row level security;
revoke all on private.calendar_reconciliations from anon, authenticated, service_role;

comment on table private.calendar_reconciliations is
'Reconciliation runs of the Cal.com mirror: window, trigger, times, counts (all hospitals), '
'the error that ended a run early. Read through rpc/calendar_reconciliations.';

-- The counts of a run per hospital, so that an admin sees their hospital's only.
create table private.calendar_reconciliation_counts (
    reconciliation_id uuid not null references private.calendar_reconciliations (id) on delete cascade,
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    checked integer not null default 0,
    created integer not null default 0,
    updated integer not null default 0,
    cancelled integer not null default 0,
    flagged integer not null default 0,
    primary key (reconciliation_id, hospital_id)
);

create index calendar_reconciliation_counts_hospital_idx on private.calendar_reconciliation_counts (hospital_id);

alter table private.calendar_reconciliation_counts enable row level security;
revoke all on private.calendar_reconciliation_counts from anon, authenticated, service_role;

comment on table private.calendar_reconciliation_counts is
'What a reconciliation run checked and changed at each hospital.';

-- A booking as Cal.com's API v2 lists it -> the snapshot calendar_apply_booking applies -------
-- {uid, status (lowercase), start, end, hosts [{id, email}], attendees [{name, email,
-- phoneNumber, absent}], rescheduledFromUid, rescheduledToUid, cancellationReason, location,
-- metadata}. A booking cancelled by a reschedule (rescheduledToUid) is the link between its
-- uid and the next: applied as the next uid replacing it, with no times and no status, so that
-- it never cancels the appointment the chain goes on with.
create function private.calcom_api_booking_snapshot(booking jsonb)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
declare
    status text := lower(booking ->> 'status');
    next_ref text := nullif(btrim(booking ->> 'rescheduledToUid'), '');
    host jsonb := case when jsonb_typeof(booking -> 'hosts') = 'array' then booking -> 'hosts' -> 0 end;
    first_attendee jsonb := case when jsonb_typeof(booking -> 'attendees') = 'array' then booking -> 'attendees' -> 0 end;
    location text := coalesce(booking ->> 'location', '');
    target text;
    organizer jsonb;
    attendee jsonb;
begin
    if jsonb_typeof(booking) is distinct from 'object' or nullif(btrim(booking ->> 'uid'), '') is null then
        return jsonb_build_object('unprocessable', 'malformed_booking');
    end if;
    begin
        perform (booking ->> 'start')::timestamptz, (booking ->> 'end')::timestamptz;
    exception
        when others then
            return jsonb_build_object('unprocessable', 'malformed_booking');
    end;
    if booking ->> 'start' is null or booking ->> 'end' is null then
        return jsonb_build_object('unprocessable', 'malformed_booking');
    end if;

    organizer := jsonb_build_object('cal_user_id', host ->> 'id', 'email', host ->> 'email');
    attendee := jsonb_strip_nulls(jsonb_build_object(
        'name', first_attendee ->> 'name',
        -- A phone-only booking's attendee has the made-up <digits>@sms.cal.com: no email.
        'email', case when first_attendee ->> 'email' !~* '@sms\.cal\.com$' then nullif(first_attendee ->> 'email', '') end,
        'phone', nullif(first_attendee ->> 'phoneNumber', '')
    ));

    if status in ('cancelled', 'rejected') and next_ref is not null then
        return jsonb_build_object(
            'provider', 'calcom', 'uid', next_ref, 'reschedule_uid', booking ->> 'uid', 'rescheduled', true,
            'organizer', organizer, 'attendee', attendee
        );
    end if;

    target := case
        when status in ('accepted', 'pending') and exists (
            select from jsonb_array_elements(
                case when jsonb_typeof(booking -> 'attendees') = 'array' then booking -> 'attendees' else '[]' end
            ) as a (one)
            where a.one ->> 'absent' = 'true'
        ) then 'no_show'
        when status = 'accepted' then 'scheduled'
        when status in ('pending', 'awaiting_host') then 'requested'
        when status in ('cancelled', 'rejected') then 'cancelled'
    end;
    return jsonb_build_object(
        'provider', 'calcom',
        'uid', booking ->> 'uid',
        'reschedule_uid', nullif(btrim(booking ->> 'rescheduledFromUid'), ''),
        'rescheduled', false,
        'target_status', target,
        'status_reason', case
            when target = 'no_show' then 'marked no-show in Cal.com'
            when status = 'rejected' then
                'rejected in Cal.com' || coalesce(': ' || nullif(btrim(booking ->> 'rejectionReason'), ''), '')
            when status = 'cancelled' then
                'cancelled in Cal.com' || coalesce(': ' || nullif(btrim(booking ->> 'cancellationReason'), ''), '')
        end,
        'starts_at', booking ->> 'start',
        'ends_at', booking ->> 'end',
        'mode', case
            when location ~* '^(integrations:|https?://)' or location = '' then 'video'
            when location ~* 'phone' then 'audio'
            else 'in_person'
        end,
        'reason', left(booking ->> 'description', 1000),
        'organizer', organizer,
        'attendee', attendee
    );
end;
$$;

comment on function private.calcom_api_booking_snapshot(jsonb) is
'Translates a booking as Cal.com''s API v2 shows it into the snapshot '
'private.calendar_apply_booking applies ({unprocessable: code} when it is not a booking).';

-- The one appointment that mirrors a booking (or the booking it replaces), as
-- calendar_apply_booking finds it; null when none or several do.
create function private.calendar_booking_holder(booking_ref text, previous_ref text)
returns public.appointments
language sql
stable
set search_path = ''
as $$
    with holders as (
        select r.appointment_id as id
        from private.appointment_external_refs as r
        where r.provider = 'calcom' and r.external_ref in (booking_ref, previous_ref)
        union
        select a.id
        from public.appointments as a
        where a.external_ref in (booking_ref, previous_ref)
    )

    select a.*
    from public.appointments as a
    where a.id = (select h.id from holders as h)
        and (select count(*) from holders) = 1;
$$;

-- Add counts to a run and its hospitals: {<hospital id | "none">: {checked, created, ...}}.
create function private.calendar_reconcile_tally(run_id uuid, tally jsonb)
returns void
language sql
volatile
set search_path = ''
as $$
    insert into private.calendar_reconciliation_counts as c (
        reconciliation_id, hospital_id, checked, created, updated, cancelled, flagged
    )
    select
        calendar_reconcile_tally.run_id, t.key::uuid, coalesce((t.value ->> 'checked')::integer, 0),
        coalesce((t.value ->> 'created')::integer, 0), coalesce((t.value ->> 'updated')::integer, 0),
        coalesce((t.value ->> 'cancelled')::integer, 0), coalesce((t.value ->> 'flagged')::integer, 0)
    from jsonb_each(calendar_reconcile_tally.tally) as t
    where t.key <> 'none'
    on conflict (reconciliation_id, hospital_id) do update
        set checked = c.checked + excluded.checked, created = c.created + excluded.created,
        updated = c.updated + excluded.updated, cancelled = c.cancelled + excluded.cancelled,
        flagged = c.flagged + excluded.flagged;

    update private.calendar_reconciliations as r
    set checked = r.checked + s.checked, created = r.created + s.created, updated = r.updated + s.updated,
        cancelled = r.cancelled + s.cancelled, flagged = r.flagged + s.flagged, skipped = r.skipped + s.skipped
    from (
        select
            coalesce(sum((t.value ->> 'checked')::integer), 0) as checked,
            coalesce(sum((t.value ->> 'created')::integer), 0) as created,
            coalesce(sum((t.value ->> 'updated')::integer), 0) as updated,
            coalesce(sum((t.value ->> 'cancelled')::integer), 0) as cancelled,
            coalesce(sum((t.value ->> 'flagged')::integer), 0) as flagged,
            coalesce(sum((t.value ->> 'skipped')::integer), 0) as skipped
        from jsonb_each(calendar_reconcile_tally.tally) as t
    ) as s
    where r.id = calendar_reconcile_tally.run_id;
$$;

-- One more booking seen, and what it came to (created, updated, cancelled, flagged, skipped or
-- nothing), at its hospital ("none" when it has none).
create function private.calendar_tally_add(tally jsonb, hospital uuid, effect text)
returns jsonb
language sql
immutable
set search_path = ''
as $$
    select calendar_tally_add.tally || jsonb_build_object(
        coalesce(calendar_tally_add.hospital::text, 'none'),
        coalesce(calendar_tally_add.tally -> coalesce(calendar_tally_add.hospital::text, 'none'), '{}')
        || jsonb_build_object(
            'checked',
            coalesce((calendar_tally_add.tally -> coalesce(calendar_tally_add.hospital::text, 'none') ->> 'checked')::integer, 0)
            + 1
        )
        || case
            when calendar_tally_add.effect in ('created', 'updated', 'cancelled', 'flagged', 'skipped') then
                jsonb_build_object(
                    calendar_tally_add.effect,
                    coalesce(
                        (
                            calendar_tally_add.tally -> coalesce(calendar_tally_add.hospital::text, 'none')
                            ->> calendar_tally_add.effect
                        )::integer,
                        0
                    ) + 1
                )
            else '{}'
        end
    );
$$;

-- Raise a run's flag unless the same one is open already, or was closed by a person saying
-- what they did (rpc/resolve_calendar_flag: their decision stands for that booking); true when
-- raised.
create function private.calendar_reconcile_flag(
    run_id uuid, flag_kind text, appt public.appointments, booking_ref text, details jsonb
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
    if exists (
        select from public.calendar_sync_flags as f
        where f.kind = flag_kind and (f.resolved_at is null or f.resolution is not null)
            and f.hospital_id = appt.hospital_id
            and f.appointment_id is not distinct from appt.id and f.external_ref is not distinct from booking_ref
    ) then
        return false;
    end if;
    perform private.raise_calendar_flag(
        appt.hospital_id, flag_kind, null, booking_ref, appt.doctor_id, appt.id, appt.starts_at, appt.ends_at,
        coalesce(details, '{}') || jsonb_build_object('reconciliation_id', run_id)
    );
    return true;
end;
$$;

-- The service role's door to the runs -----------------------------------------------------------
-- Security definer (each of them): the runs are private, and a run reads and writes the mirror
-- of every hospital.
create function private.calendar_reconcile_begin(run_trigger text, window_from timestamptz, window_to timestamptz)
returns uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    run_id uuid;
begin
    if run_trigger is null or run_trigger not in ('periodic', 'nightly', 'manual') then
        perform private.raise_invalid(
            'unknown reconciliation trigger', 'unknown_trigger', 'periodic, nightly or manual'
        );
    end if;
    if window_from is null or window_to is null or window_from >= window_to then
        perform private.raise_invalid('the window must end after it starts', 'invalid_window');
    end if;
    -- A run whose sidecar died before finishing it is not left looking as if still going.
    update private.calendar_reconciliations as r
    set finished_at = clock_timestamp(), error = 'abandoned: the run was never finished'
    where r.finished_at is null and r.started_at < clock_timestamp() - interval '6 hours';
    insert into private.calendar_reconciliations (run_trigger, window_from, window_to)
    values (calendar_reconcile_begin.run_trigger, calendar_reconcile_begin.window_from, calendar_reconcile_begin.window_to)
    returning id into run_id;
    return run_id;
end;
$$;

create function private.calendar_reconcile_open_run(run_id uuid)
returns private.calendar_reconciliations
language plpgsql
volatile
set search_path = ''
as $$
declare
    run private.calendar_reconciliations;
begin
    select r.* into run from private.calendar_reconciliations as r where r.id = run_id;
    if run.id is null then
        perform private.raise_not_found('no such reconciliation run', 'reconciliation_not_found');
    end if;
    if run.finished_at is not null then
        perform private.raise_conflict('this reconciliation run has finished', 'reconciliation_finished');
    end if;
    return run;
end;
$$;

-- Apply a page of Cal.com bookings (in the order given: the sidecar puts the older uids of a
-- reschedule chain first). Answers the page's counts.
create function private.calendar_reconcile_bookings(run_id uuid, bookings jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    run private.calendar_reconciliations := private.calendar_reconcile_open_run(run_id);
    item jsonb;
    snapshot jsonb;
    booking_ref text;
    remote_status text;
    tagged_id text;
    before public.appointments;
    after public.appointments;
    tagged public.appointments;
    result jsonb;
    effect text;
    hospital uuid;
    already_flagged boolean;
    failed_state text;
    failed_message text;
    tally jsonb := '{}';
begin
    if jsonb_typeof(bookings) is distinct from 'array' then
        perform private.raise_invalid('bookings must be a JSON array', 'invalid_bookings');
    end if;
    for item in select b.booking from jsonb_array_elements(bookings) as b (booking) loop
        effect := null;
        hospital := null;
        result := null;
        after := null;
        snapshot := private.calcom_api_booking_snapshot(item);
        if snapshot ? 'unprocessable' then
            tally := private.calendar_tally_add(tally, null, 'skipped');
            continue;
        end if;
        booking_ref := snapshot ->> 'uid';
        remote_status := lower(item ->> 'status');
        before := private.calendar_booking_holder(booking_ref, snapshot ->> 'reschedule_uid');
        hospital := before.hospital_id;
        tagged_id := item -> 'metadata' ->> 'carebase_appointment_id';
        tagged := null;
        if before.id is null and tagged_id ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' then
            select a.* into tagged from public.appointments as a where a.id = tagged_id::uuid;
        end if;

        if before.sync_state = 'pending' then
            -- A change made in carebase waits to go out: it wins until the push is done.
            effect := null;
        elsif tagged.id is not null then
            -- Made by carebase's push for that appointment, but not (or not yet) its booking:
            -- the push finds it again when it is pending; a second live copy is flagged.
            hospital := tagged.hospital_id;
            if tagged.sync_state = 'synced' and remote_status in ('accepted', 'pending') then
                effect := case when private.calendar_reconcile_flag(
                    run.id, 'duplicate_booking', tagged, booking_ref,
                    jsonb_build_object('appointment_external_ref', tagged.external_ref, 'remote_status', remote_status)
                ) then 'flagged' end;
            end if;
        else
            begin
                -- A flag already open for this booking as it is now, or closed by a person,
                -- is not raised again.
                already_flagged := exists (
                    select from public.calendar_sync_flags as f
                    where f.external_ref = booking_ref and (f.resolved_at is null or f.resolution is not null)
                        and f.starts_at is not distinct from (snapshot ->> 'starts_at')::timestamptz
                );
                result := private.calendar_apply_booking(snapshot, null);
                if result ->> 'outcome' = 'flagged' and already_flagged then
                    raise exception using errcode = 'RCN01', message = 'flagged already';
                end if;
            exception
                when sqlstate 'RCN01' then
                    result := jsonb_build_object('outcome', 'ignored', 'reason', 'already_flagged');
                when others then
                    get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
                    if failed_state in ('40001', '40P01', '55P03', '57014') then
                        raise;
                    end if;
                    result := jsonb_build_object(
                        'outcome', 'failed', 'detail', failed_state || ': ' || failed_message
                    );
            end;
            hospital := coalesce((result ->> 'hospital_id')::uuid, hospital);
            if result ->> 'appointment_id' is not null then
                select a.* into after from public.appointments as a where a.id = (result ->> 'appointment_id')::uuid;
            end if;

            if result ->> 'outcome' = 'applied' then
                effect := case
                    when before.id is null then 'created'
                    when after.status = 'cancelled' and before.status <> 'cancelled' then 'cancelled'
                    when (after.starts_at, after.ends_at, after.status)
                        is distinct from (before.starts_at, before.ends_at, before.status) then 'updated'
                end;
            elsif result ->> 'outcome' = 'flagged' then
                effect := 'flagged';
            elsif result ->> 'outcome' = 'failed' then
                effect := case
                    when before.id is null then 'skipped'
                    when private.calendar_reconcile_flag(
                        run.id, 'apply_failed', before, booking_ref, jsonb_build_object('error', result ->> 'detail')
                    ) then 'flagged'
                end;
            elsif result ->> 'outcome' = 'unprocessable' then
                -- A reschedule link of a chain carebase never mirrored is nothing to apply.
                effect := case when result ->> 'reason' <> 'unknown_booking' then 'skipped' end;
            elsif result ->> 'reason' = 'not_forward' and after.id is not null and (
                (snapshot ->> 'target_status' = 'cancelled' and after.status <> 'cancelled')
                or (
                    snapshot ->> 'target_status' in ('scheduled', 'requested') and after.status = 'cancelled'
                    and after.sync_state = 'synced'
                )
            ) then
                -- Carebase keeps its status (clinical, or cancelled here): a person looks. A
                -- cancellation whose push gave up (failed) has its push_failed flag already.
                effect := case when private.calendar_reconcile_flag(
                    run.id, 'status_conflict', after, booking_ref,
                    jsonb_build_object('remote_status', remote_status, 'local_status', after.status)
                ) then 'flagged' end;
            end if;
        end if;
        if hospital is null then
            -- Counted at the organizer's hospital when exactly one doctor link names them.
            select min(l.hospital_id::text)::uuid into hospital
            from private.calendar_links_for(
                case
                    when snapshot -> 'organizer' ->> 'cal_user_id' ~ '^[0-9]{1,18}$'
                        then (snapshot -> 'organizer' ->> 'cal_user_id')::bigint
                end,
                snapshot -> 'organizer' ->> 'email'
            ) as l
            having count(*) = 1;
        end if;
        tally := private.calendar_tally_add(tally, hospital, effect);
    end loop;
    perform private.calendar_reconcile_tally(run.id, tally);
    return tally;
end;
$$;

-- The mirrored appointments of the run's window whose booking was not in Cal.com's list: the
-- sidecar asks Cal.com for each by uid (it may have moved out of the window, or be gone).
create function private.calendar_reconcile_unseen(run_id uuid, seen_refs text[])
returns setof text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    run private.calendar_reconciliations;
begin
    select r.* into run from private.calendar_reconciliations as r where r.id = run_id;
    if run.id is null then
        perform private.raise_not_found('no such reconciliation run', 'reconciliation_not_found');
    end if;
    return query
    select a.external_ref
    from public.appointments as a
    inner join public.doctor_calendar_links as l on a.doctor_id = l.doctor_id and a.hospital_id = l.hospital_id
    where a.starts_at >= run.window_from and a.ends_at <= run.window_to
        and a.status in ('requested', 'scheduled') and a.sync_state = 'synced' and a.external_ref is not null
        and not a.external_ref = any(coalesce(seen_refs, '{}'))
    order by a.starts_at, a.id;
end;
$$;

-- The mirrored appointments whose bookings Cal.com answered 404 for.
create function private.calendar_reconcile_missing(run_id uuid, external_refs text[])
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    run private.calendar_reconciliations := private.calendar_reconcile_open_run(run_id);
    appt public.appointments;
    effect text;
    tally jsonb := '{}';
begin
    for appt in
        select a.* from public.appointments as a
        where a.external_ref = any(coalesce(external_refs, '{}'))
            and a.status in ('requested', 'scheduled') and a.sync_state = 'synced'
        order by a.id
        for update
    loop
        if appt.source <> 'calcom' then
            -- Carebase's own booking: pushed again (the uid stays in the lineage, superseded).
            insert into private.appointment_external_refs (provider, external_ref, appointment_id, superseded)
            values ('calcom', appt.external_ref, appt.id, true)
            on conflict (provider, external_ref) do update set superseded = true;
            update public.appointments as a
            set sync_state = 'pending', external_ref = null
            where a.id = appt.id;
            effect := 'updated';
        else
            effect := case when private.calendar_reconcile_flag(
                run.id, 'booking_vanished', appt, appt.external_ref, '{}'
            ) then 'flagged' end;
        end if;
        tally := private.calendar_tally_add(tally, appt.hospital_id, effect);
    end loop;
    perform private.calendar_reconcile_tally(run.id, tally);
    return tally;
end;
$$;

create function private.calendar_reconcile_finish(run_id uuid, error text default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    run private.calendar_reconciliations := private.calendar_reconcile_open_run(run_id);
begin
    update private.calendar_reconciliations as r
    set finished_at = clock_timestamp(), error = left(nullif(btrim(calendar_reconcile_finish.error), ''), 2000)
    where r.id = run.id
    returning r.* into run;
    return jsonb_build_object(
        'id', run.id, 'trigger', run.run_trigger, 'window_from', run.window_from, 'window_to', run.window_to,
        'started_at', run.started_at, 'finished_at', run.finished_at, 'checked', run.checked,
        'created', run.created, 'updated', run.updated, 'cancelled', run.cancelled, 'flagged', run.flagged,
        'skipped', run.skipped, 'error', run.error
    );
end;
$$;

create function public.calendar_reconcile_begin(run_trigger text, window_from timestamptz, window_to timestamptz)
returns uuid
language sql
volatile
set search_path = ''
as $$
    select private.calendar_reconcile_begin(
        calendar_reconcile_begin.run_trigger, calendar_reconcile_begin.window_from, calendar_reconcile_begin.window_to
    );
$$;

create function public.calendar_reconcile_bookings(run_id uuid, bookings jsonb)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.calendar_reconcile_bookings(calendar_reconcile_bookings.run_id, calendar_reconcile_bookings.bookings);
$$;

create function public.calendar_reconcile_unseen(run_id uuid, seen_refs text[])
returns setof text
language sql
stable
set search_path = ''
as $$
    select private.calendar_reconcile_unseen(calendar_reconcile_unseen.run_id, calendar_reconcile_unseen.seen_refs);
$$;

create function public.calendar_reconcile_missing(run_id uuid, external_refs text[])
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.calendar_reconcile_missing(calendar_reconcile_missing.run_id, calendar_reconcile_missing.external_refs);
$$;

create function public.calendar_reconcile_finish(run_id uuid, error text default null)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.calendar_reconcile_finish(calendar_reconcile_finish.run_id, calendar_reconcile_finish.error);
$$;

grant execute on function private.calendar_reconcile_begin(text, timestamptz, timestamptz) to service_role;
grant execute on function private.calendar_reconcile_bookings(uuid, jsonb) to service_role;
grant execute on function private.calendar_reconcile_unseen(uuid, text[]) to service_role;
grant execute on function private.calendar_reconcile_missing(uuid, text[]) to service_role;
grant execute on function private.calendar_reconcile_finish(uuid, text) to service_role;
-- The service role's alone (public functions are the API's by default).
revoke execute on function public.calendar_reconcile_begin(text, timestamptz, timestamptz) from authenticated;
revoke execute on function public.calendar_reconcile_bookings(uuid, jsonb) from authenticated;
revoke execute on function public.calendar_reconcile_unseen(uuid, text[]) from authenticated;
revoke execute on function public.calendar_reconcile_missing(uuid, text[]) from authenticated;
revoke execute on function public.calendar_reconcile_finish(uuid, text) from authenticated;
grant execute on function public.calendar_reconcile_begin(text, timestamptz, timestamptz) to service_role;
grant execute on function public.calendar_reconcile_bookings(uuid, jsonb) to service_role;
grant execute on function public.calendar_reconcile_unseen(uuid, text[]) to service_role;
grant execute on function public.calendar_reconcile_missing(uuid, text[]) to service_role;
grant execute on function public.calendar_reconcile_finish(uuid, text) to service_role;

comment on function public.calendar_reconcile_begin(text, timestamptz, timestamptz) is
'Service role only (the sidecar''s reconciler): records the start of a reconciliation run of '
'the Cal.com mirror over [window_from, window_to), trigger periodic, nightly or manual; answers '
'its id (and ends, as abandoned, any run left unfinished for 6 hours). Errors: 22023 (HTTP '
'400) unknown_trigger, invalid_window.';
comment on function public.calendar_reconcile_bookings(uuid, jsonb) is
'Service role only: applies a page of Cal.com bookings (as API v2 lists them, older uids of a '
'reschedule chain first) to the mirror through the webhook''s apply function, one '
'subtransaction per booking; answers the page''s counts per hospital '
'{<hospital id|none>: {checked, created, updated, cancelled, flagged, skipped}}. '
'Errors: PT404 reconciliation_not_found, PT409 reconciliation_finished.';
comment on function public.calendar_reconcile_unseen(uuid, text[]) is
'Service role only: the booking uids of the mirrored, still open appointments in the run''s '
'window that are not among seen_refs (the uids Cal.com listed), for the sidecar to look up.';
comment on function public.calendar_reconcile_missing(uuid, text[]) is
'Service role only: the appointments of these booking uids, which Cal.com no longer has: a '
'carebase-born one is pushed again (sync_state pending, external_ref cleared), a Cal.com-born '
'one is flagged booking_vanished and kept. Answers the counts like '
'rpc/calendar_reconcile_bookings.';
comment on function public.calendar_reconcile_finish(uuid, text) is
'Service role only: ends a reconciliation run (with the error that ended it early, if any); '
'answers the run with its counts.';

-- Admins: the runs, with their hospitals' counts ------------------------------------------------
-- Security definer: the runs are private; an admin gets a row per run and hospital they
-- administer that takes part in the mirror (that hospital's counts only), the service role one
-- per run with all counts.
create function private.calendar_reconciliations()
returns table (
    id uuid, run_trigger text, window_from timestamptz, window_to timestamptz, started_at timestamptz,
    finished_at timestamptz, hospital_id uuid, checked integer, created integer, updated integer,
    cancelled integer, flagged integer, skipped integer, error text
)
language sql
stable
security definer
set search_path = ''
as $$
    select
        r.id, r.run_trigger, r.window_from, r.window_to, r.started_at, r.finished_at, h.id,
        coalesce(c.checked, 0), coalesce(c.created, 0), coalesce(c.updated, 0), coalesce(c.cancelled, 0),
        coalesce(c.flagged, 0), null::integer, r.error
    from private.calendar_reconciliations as r
    cross join unnest(private.staff_hospital_ids('{hospital_admin}')) as h (id)
    left join private.calendar_reconciliation_counts as c on r.id = c.reconciliation_id and h.id = c.hospital_id
    where not private.acting_as_system()
        -- The runs the hospital takes part in: it had bookings checked, or it links doctors to
        -- Cal.com (so that a run that failed before reaching any booking is seen too).
        and (
            c.hospital_id is not null
            or exists (select from public.doctor_calendar_links as l where l.hospital_id = h.id)
        )
    union all
    select
        r.id, r.run_trigger, r.window_from, r.window_to, r.started_at, r.finished_at, null::uuid,
        r.checked, r.created, r.updated, r.cancelled, r.flagged, r.skipped, r.error
    from private.calendar_reconciliations as r
    where private.acting_as_system()
    order by 5 desc, 1, 7;
$$;

create function public.calendar_reconciliations()
returns table (
    id uuid, run_trigger text, window_from timestamptz, window_to timestamptz, started_at timestamptz,
    finished_at timestamptz, hospital_id uuid, checked integer, created integer, updated integer,
    cancelled integer, flagged integer, skipped integer, error text
)
language sql
stable
set search_path = ''
as $$
    select * from private.calendar_reconciliations();
$$;

grant execute on function private.calendar_reconciliations() to authenticated, service_role;
grant execute on function public.calendar_reconciliations() to authenticated, service_role;

comment on function public.calendar_reconciliations() is
'Reconciliation runs of the Cal.com mirror, newest first: window, trigger (periodic, nightly, '
'manual), start and end, the error that ended one early, and the counts (checked, created, '
'updated, cancelled, flagged). A hospital admin gets one row per run and hospital they '
'administer that takes part (bookings of it were checked, or it links doctors to Cal.com), '
'with that hospital''s counts (skipped: null); the service role one row per run '
'with all counts and skipped (bookings of no linked doctor); others nothing. What a run could '
'not fix is on calendar_sync_flags. Filter and page as any set-returning RPC '
'(?run_trigger=eq.nightly&limit=10).';

-- Runs are kept 90 days.
create function private.purge_calendar_reconciliations()
returns integer
language sql
volatile
set search_path = ''
as $$
    with gone as (
        delete from private.calendar_reconciliations as r
        where r.started_at < now() - interval '90 days'
        returning 1
    )

    select count(*)::integer from gone;
$$;

comment on function private.purge_calendar_reconciliations() is
'Deletes reconciliation runs older than 90 days; returns how many.';

select private.schedule_job(
    'carebase-calendar-reconciliation-retention', '47 2 * * *', 'select private.purge_calendar_reconciliations()'
);
