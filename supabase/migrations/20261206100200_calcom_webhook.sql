-- Cal.com in (issue 14, item 2): the sidecar's POST /api/v1/webhooks/cal verifies
-- X-Cal-Signature-256 on the raw body, then hands the body, unparsed, to
-- rpc/receive_calcom_webhook (service role only), which records it in the inbox and applies it
-- in this one transaction (see 20261206100100_webhook_inbox.sql for the outcomes).
--
-- Events: BOOKING_CREATED, BOOKING_REQUESTED, BOOKING_RESCHEDULED, BOOKING_CANCELLED,
-- BOOKING_REJECTED (the booking under `payload`), BOOKING_NO_SHOW_UPDATED (`payload` is
-- {bookingUid, attendees [{email, noShow}]}), MEETING_STARTED and MEETING_ENDED (the booking
-- at the top level). Status values arrive upper case (ACCEPTED, PENDING, CANCELLED, REJECTED,
-- AWAITING_HOST). A reschedule is a new booking whose `rescheduleUid` is the uid it replaces,
-- whatever its trigger says. Anything else is stored and ignored (unsupported_trigger).

-- The booking a Cal.com webhook is about, as the snapshot private.calendar_apply_booking
-- applies; {unprocessable: <code>} or {ignored: <code>} when there is none.
create function private.calcom_booking_snapshot(body jsonb)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
declare
    trigger_event text := body ->> 'triggerEvent';
    booking jsonb;
    status text;
    target text;
    reason text;
    first_attendee jsonb;
    phone jsonb;
    location text;
begin
    if jsonb_typeof(body) is distinct from 'object' or trigger_event is null then
        return jsonb_build_object('unprocessable', 'malformed_event');
    end if;
    if trigger_event not in (
        'BOOKING_CREATED', 'BOOKING_REQUESTED', 'BOOKING_RESCHEDULED', 'BOOKING_CANCELLED', 'BOOKING_REJECTED',
        'BOOKING_NO_SHOW_UPDATED', 'MEETING_STARTED', 'MEETING_ENDED'
    ) then
        return jsonb_build_object('ignored', 'unsupported_trigger');
    end if;
    booking := case
        when trigger_event in ('MEETING_STARTED', 'MEETING_ENDED') and body ? 'uid' then body
        else body -> 'payload'
    end;
    if jsonb_typeof(booking) is distinct from 'object' then
        return jsonb_build_object('unprocessable', 'malformed_event');
    end if;

    if trigger_event = 'BOOKING_NO_SHOW_UPDATED' then
        if jsonb_typeof(booking -> 'attendees') is distinct from 'array' or booking ->> 'bookingUid' is null then
            return jsonb_build_object('unprocessable', 'malformed_event');
        end if;
        return jsonb_build_object(
            'provider', 'calcom',
            'uid', booking ->> 'bookingUid',
            'target_status', case
                when exists (
                    select from jsonb_array_elements(booking -> 'attendees') as a (attendee)
                    where jsonb_typeof(a.attendee) = 'object' and a.attendee ->> 'noShow' = 'true'
                ) then 'no_show'
            end,
            'status_reason', 'marked no-show in Cal.com'
        );
    end if;

    status := upper(booking ->> 'status');
    begin
        perform (booking ->> 'startTime')::timestamptz, (booking ->> 'endTime')::timestamptz;
    exception
        when others then
            return jsonb_build_object('unprocessable', 'malformed_event');
    end;
    if booking ->> 'uid' is null or booking ->> 'startTime' is null or booking ->> 'endTime' is null then
        return jsonb_build_object('unprocessable', 'malformed_event');
    end if;

    target := case trigger_event
        when 'BOOKING_CANCELLED' then 'cancelled'
        when 'BOOKING_REJECTED' then 'cancelled'
        when 'MEETING_STARTED' then 'in_consultation'
        when 'MEETING_ENDED' then 'completed'
        else case status
            when 'ACCEPTED' then 'scheduled'
            when 'PENDING' then 'requested'
            when 'AWAITING_HOST' then 'requested'
            when 'CANCELLED' then 'cancelled'
            when 'REJECTED' then 'cancelled'
            else case when trigger_event = 'BOOKING_REQUESTED' then 'requested' else 'scheduled' end
        end
    end;
    reason := case
        when trigger_event = 'BOOKING_REJECTED' or status = 'REJECTED' then
            'rejected in Cal.com' || coalesce(': ' || nullif(btrim(booking ->> 'rejectionReason'), ''), '')
        when target = 'cancelled' then
            'cancelled in Cal.com' || coalesce(': ' || nullif(btrim(booking ->> 'cancellationReason'), ''), '')
    end;

    first_attendee := case when jsonb_typeof(booking -> 'attendees') = 'array' then booking -> 'attendees' -> 0 end;
    -- JSON null is no phone: the next place is tried.
    phone := coalesce(
        nullif(first_attendee -> 'phoneNumber', 'null'),
        nullif(booking -> 'responses' -> 'attendeePhoneNumber' -> 'value', 'null'),
        nullif(booking -> 'responses' -> 'attendeePhoneNumber', 'null'),
        nullif(booking -> 'smsReminderNumber', 'null')
    );
    location := coalesce(booking ->> 'location', '');

    return jsonb_build_object(
        'provider', 'calcom',
        'uid', booking ->> 'uid',
        'reschedule_uid', coalesce(booking ->> 'rescheduleUid', booking ->> 'fromReschedule'),
        'rescheduled', coalesce(booking ->> 'rescheduled', 'false') = 'true',
        'target_status', target,
        'status_reason', reason,
        'starts_at', booking ->> 'startTime',
        'ends_at', booking ->> 'endTime',
        'mode', case
            when location ~* '^(integrations:|https?://)' or jsonb_typeof(booking -> 'videoCallData') = 'object' then 'video'
            when location ~* 'phone' then 'audio'
            when location = '' then 'video'
            else 'in_person'
        end,
        'reason', left(booking ->> 'additionalNotes', 1000),
        'organizer', jsonb_build_object(
            'cal_user_id', coalesce(booking -> 'organizer' ->> 'id', booking -> 'user' ->> 'id', booking ->> 'userId'),
            'email', coalesce(booking -> 'organizer' ->> 'email', booking -> 'user' ->> 'email')
        ),
        'attendee', jsonb_strip_nulls(jsonb_build_object(
            'name', first_attendee ->> 'name',
            -- A phone-only booking's attendee has the made-up <digits>@sms.cal.com: no email.
            'email', case when first_attendee ->> 'email' !~* '@sms\.cal\.com$' then first_attendee ->> 'email' end,
            'phone', case when jsonb_typeof(phone) = 'string' then phone #>> '{}' end
        ))
    );
end;
$$;

comment on function private.calcom_booking_snapshot(jsonb) is
'Translates a Cal.com webhook body into the booking snapshot private.calendar_apply_booking '
'applies ({unprocessable|ignored: code} when it carries none).';

-- See private.webhook_inbox.event_key.
create function private.calcom_event_key(body jsonb, body_sha256 text)
returns text
language sql
immutable
set search_path = ''
as $$
    with event as (
        select
            body ->> 'triggerEvent' as trigger_event,
            case
                when body ->> 'triggerEvent' in ('MEETING_STARTED', 'MEETING_ENDED') and body ? 'uid' then body
                when jsonb_typeof(body -> 'payload') = 'object' then body -> 'payload'
            end as booking
    )

    select case
        when e.trigger_event is null or jsonb_typeof(e.booking) is distinct from 'object' then 'body:' || body_sha256
        when e.trigger_event = 'BOOKING_NO_SHOW_UPDATED' and e.booking ? 'bookingUid' then concat_ws(
            '|', e.trigger_event, e.booking ->> 'bookingUid',
            (
                select string_agg(
                    lower(coalesce(a.attendee ->> 'email', '')) || ':' || coalesce(a.attendee ->> 'noShow', ''),
                    ',' order by lower(coalesce(a.attendee ->> 'email', '')), a.attendee ->> 'noShow'
                )
                from jsonb_array_elements(
                    case when jsonb_typeof(e.booking -> 'attendees') = 'array' then e.booking -> 'attendees' else '[]' end
                ) as a (attendee)
            )
        )
        when e.booking ? 'uid' then concat_ws(
            '|', e.trigger_event, e.booking ->> 'uid', coalesce(e.booking ->> 'startTime', ''),
            coalesce(e.booking ->> 'endTime', ''), coalesce(upper(e.booking ->> 'status'), ''),
            coalesce(e.booking ->> 'rescheduleUid', '')
        )
        else 'body:' || body_sha256
    end
    from event as e;
$$;

comment on function private.calcom_event_key(jsonb, text) is
'The inbox key of a Cal.com webhook (see private.webhook_inbox.event_key).';

-- Apply one inbox entry through its provider's translation and the one apply function, and
-- record the outcome. Any failure other than a transient one becomes an unprocessable outcome
-- with the error (apply_failed, not_permitted), so that the event is never lost; a transient
-- one rolls everything back for the provider to retry.
create function private.apply_inbox_entry(inbox_entry_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    entry private.webhook_inbox;
    snapshot jsonb;
    result jsonb;
    failed_state text;
    failed_message text;
begin
    select i.* into entry from private.webhook_inbox as i where i.id = inbox_entry_id for update;
    if entry.payload is null then
        result := jsonb_build_object('outcome', 'unprocessable', 'reason', 'payload_erased');
    elsif entry.payload ? 'unparsed' then
        result := jsonb_build_object('outcome', 'unprocessable', 'reason', 'malformed_json');
    else
        snapshot := private.calcom_booking_snapshot(entry.payload);
        if snapshot ? 'unprocessable' then
            result := jsonb_build_object('outcome', 'unprocessable', 'reason', snapshot ->> 'unprocessable');
        elsif snapshot ? 'ignored' then
            result := jsonb_build_object('outcome', 'ignored', 'reason', snapshot ->> 'ignored');
        else
            -- The flags of an earlier attempt are settled by this one (it raises its own).
            update public.calendar_sync_flags as f
            set resolved_at = now(), resolved_by = auth.uid()
            where f.inbox_entry_id = entry.id and f.resolved_at is null;
            begin
                result := private.calendar_apply_booking(snapshot, entry.id);
            exception
                when others then
                    get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
                    if failed_state in ('40001', '40P01', '55P03', '57014') then
                        raise;
                    end if;
                    result := jsonb_build_object(
                        'outcome', 'unprocessable',
                        'reason', case when failed_state = '42501' then 'not_permitted' else 'apply_failed' end,
                        'detail', failed_state || ': ' || failed_message
                    );
            end;
        end if;
    end if;

    update private.webhook_inbox as i
    set outcome = result ->> 'outcome',
        reason = result ->> 'reason',
        detail = result ->> 'detail',
        appointment_id = coalesce((result ->> 'appointment_id')::uuid, i.appointment_id),
        hospital_id = coalesce((result ->> 'hospital_id')::uuid, i.hospital_id),
        applied_at = case when result ->> 'outcome' = 'applied' then now() else i.applied_at end
    where i.id = entry.id
    returning i.* into entry;
    return jsonb_build_object(
        'inbox_entry_id', entry.id, 'outcome', entry.outcome, 'reason', entry.reason, 'detail', entry.detail,
        'appointment_id', entry.appointment_id
    );
end;
$$;

comment on function private.apply_inbox_entry(uuid) is
'Applies an inbox entry (webhook or re-apply) and records its outcome; answers '
'{inbox_entry_id, outcome, reason, detail, appointment_id}.';

-- Record and apply one Cal.com webhook whose signature the sidecar has verified. The body is
-- the raw request body (parsed here, so that a malformed one is stored too). A replay is
-- answered {outcome: duplicate} and changes only the delivery count.
-- Security definer: the service role holds no privilege on the inbox; this is its one door.
create function private.receive_calcom_webhook(body text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    parsed jsonb;
    digest text := encode(extensions.digest(convert_to(body, 'UTF8'), 'sha256'), 'hex');
    key text;
    booking_ref text;
    organizer jsonb;
    entry private.webhook_inbox;
begin
    begin
        parsed := body::jsonb;
    exception
        when others then
            parsed := null;
    end;
    if parsed is null or jsonb_typeof(parsed) <> 'object' then
        key := 'body:' || digest;
    else
        key := private.calcom_event_key(parsed, digest);
        organizer := private.calcom_booking_snapshot(parsed) -> 'organizer';
        booking_ref := coalesce(
            parsed -> 'payload' ->> 'uid', parsed -> 'payload' ->> 'bookingUid', parsed ->> 'uid'
        );
    end if;

    insert into private.webhook_inbox as i (
        provider, event_key, event_type, external_ref, organizer_cal_user_id, organizer_email, payload,
        body_sha256, request_id
    )
    values (
        'calcom', key, left(parsed ->> 'triggerEvent', 100), left(booking_ref, 200),
        case when organizer ->> 'cal_user_id' ~ '^[0-9]{1,18}$' then (organizer ->> 'cal_user_id')::bigint end,
        case when organizer ->> 'email' ~ '^[^@\s]+@[^@\s]+$' then organizer ->> 'email' end,
        coalesce(
            case when jsonb_typeof(parsed) = 'object' then parsed end,
            jsonb_build_object('unparsed', left(body, 100000))
        ),
        digest,
        left(nullif(current_setting('request.headers', true), '')::jsonb ->> 'x-request-id', 200)
    )
    on conflict (provider, event_key) do nothing
    returning i.* into entry;

    if entry.id is null then
        update private.webhook_inbox as i
        set deliveries = i.deliveries + 1, last_received_at = now()
        where i.provider = 'calcom' and i.event_key = key
        returning i.* into entry;
        return jsonb_build_object(
            'inbox_entry_id', entry.id, 'outcome', 'duplicate', 'first_outcome', entry.outcome,
            'appointment_id', entry.appointment_id
        );
    end if;
    return private.apply_inbox_entry(entry.id);
end;
$$;

create function public.receive_calcom_webhook(body text)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.receive_calcom_webhook(receive_calcom_webhook.body);
$$;

grant execute on function private.receive_calcom_webhook(text) to service_role;
grant execute on function public.receive_calcom_webhook(text) to service_role;

comment on function public.receive_calcom_webhook(text) is
'Records a Cal.com webhook (the raw body, signature already verified by the sidecar) in the '
'inbox and applies it to the appointment mirror in one transaction (service role only). '
'Answers {inbox_entry_id, outcome: applied|ignored|unprocessable|flagged|duplicate, reason, '
'detail, appointment_id}. A replay is a duplicate and changes nothing.';

-- Admins: the inbox of their hospitals --------------------------------------------------------
create function private.webhook_inbox_entries()
returns table (
    id uuid, provider text, event_type text, external_ref text, hospital_id uuid, appointment_id uuid,
    outcome text, reason text, detail text, received_at timestamptz, last_received_at timestamptz,
    deliveries integer, attempts integer, applied_at timestamptz, reapplied_by uuid, reapplied_at timestamptz,
    payload_erased_at timestamptz, request_id text
)
language sql
stable
security definer
set search_path = ''
as $$
    select i.id, i.provider, i.event_type, i.external_ref, i.hospital_id, i.appointment_id, i.outcome, i.reason,
        i.detail, i.received_at, i.last_received_at, i.deliveries, i.attempts, i.applied_at, i.reapplied_by,
        i.reapplied_at, i.payload_erased_at, i.request_id
    from private.webhook_inbox as i
    where i.hospital_id = any(private.staff_hospital_ids('{hospital_admin}')) or private.acting_as_system()
    order by i.received_at desc, i.id;
$$;

create function public.webhook_inbox_entries()
returns table (
    id uuid, provider text, event_type text, external_ref text, hospital_id uuid, appointment_id uuid,
    outcome text, reason text, detail text, received_at timestamptz, last_received_at timestamptz,
    deliveries integer, attempts integer, applied_at timestamptz, reapplied_by uuid, reapplied_at timestamptz,
    payload_erased_at timestamptz, request_id text
)
language sql
stable
set search_path = ''
as $$
    select * from private.webhook_inbox_entries();
$$;

grant execute on function private.webhook_inbox_entries() to authenticated, service_role;
grant execute on function public.webhook_inbox_entries() to authenticated, service_role;

comment on function public.webhook_inbox_entries() is
'The webhook inbox of the caller''s hospitals (hospital admins; the service role: all of it, '
'the entries that matched no hospital too; empty for others), newest '
'first: each received event with its outcome (applied, ignored, unprocessable, flagged), its '
'reason code, the appointment it reached and the delivering request''s id (its audit entries '
'carry it), without the payload (rpc/webhook_inbox_payload). '
'Filter and page as any set-returning RPC (?outcome=eq.unprocessable&limit=50). An event that '
'matched no hospital (unknown_organizer) appears once a doctor link of the hospital names its '
'organizer.';

-- Security definer: the payload is read only here, by the admin of its hospital, aal2, and
-- the read is audited (a volatile function: the READ entry is written in the same request).
create function private.webhook_inbox_payload(inbox_entry_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    entry private.webhook_inbox;
begin
    select i.* into entry from private.webhook_inbox as i where i.id = inbox_entry_id;
    if entry.id is null or not coalesce(
        private.acting_as_system() or entry.hospital_id = any(private.staff_hospital_ids('{hospital_admin}')), false
    ) then
        perform private.raise_not_found('webhook inbox entry not found', 'inbox_entry_not_found');
    end if;
    perform private.require_phi_aal2(null);
    perform private.audit_append(
        'READ', 'private.webhook_inbox', entry.id::text, entry.hospital_id, null, '{payload}', null, null,
        jsonb_build_object('via', 'rpc/webhook_inbox_payload', 'provider', entry.provider)
    );
    return entry.payload;
end;
$$;

create function public.webhook_inbox_payload(inbox_entry_id uuid)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.webhook_inbox_payload(webhook_inbox_payload.inbox_entry_id);
$$;

grant execute on function private.webhook_inbox_payload(uuid) to authenticated, service_role;
grant execute on function public.webhook_inbox_payload(uuid) to authenticated, service_role;

comment on function public.webhook_inbox_payload(uuid) is
'The raw payload of one webhook inbox entry (hospital admin of its hospital, aal2, or the '
'service role; the read is audited). null once erased (30 days after it was applied). '
'Errors: PT404 no such entry '
'in your hospitals, PT403 insufficient_aal.';

-- Security definer: the inbox is not the admin's to write; the entry must be of a hospital
-- they administer (or the caller the service role), and the apply runs as them.
create function private.reapply_webhook(inbox_entry_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    entry private.webhook_inbox;
    result jsonb;
    after private.webhook_inbox;
begin
    select i.* into entry from private.webhook_inbox as i where i.id = inbox_entry_id for update;
    if entry.id is null or not coalesce(
        private.acting_as_system() or entry.hospital_id = any(private.staff_hospital_ids('{hospital_admin}')), false
    ) then
        perform private.raise_not_found('webhook inbox entry not found', 'inbox_entry_not_found');
    end if;
    -- A voice call's message is applied once, on arrival: its call id keeps it one session.
    if entry.provider <> 'calcom' then
        perform private.raise_conflict('only Cal.com events are applied again', 'not_reapplicable');
    end if;
    if entry.outcome = 'applied' then
        perform private.raise_conflict(
            'this event has been applied already', 'already_applied',
            'a later event or a reconciliation changes the appointment from here'
        );
    end if;
    update private.webhook_inbox as i
    set attempts = i.attempts + 1, reapplied_by = auth.uid(), reapplied_at = now()
    where i.id = entry.id;
    result := private.apply_inbox_entry(entry.id);
    select i.* into after from private.webhook_inbox as i where i.id = entry.id;
    perform private.audit_append(
        'UPDATE', 'private.webhook_inbox', entry.id::text, entry.hospital_id, null,
        '{attempts,outcome,reason,reapplied_at,reapplied_by}',
        jsonb_build_object(
            'outcome', entry.outcome, 'reason', entry.reason, 'attempts', entry.attempts,
            'reapplied_by', entry.reapplied_by, 'reapplied_at', entry.reapplied_at
        ),
        jsonb_build_object(
            'outcome', after.outcome, 'reason', after.reason, 'attempts', after.attempts,
            'reapplied_by', after.reapplied_by, 'reapplied_at', after.reapplied_at,
            'appointment_id', after.appointment_id
        ),
        jsonb_build_object('action', 'reapply', 'provider', entry.provider)
    );
    return result;
end;
$$;

create function public.reapply_webhook(inbox_entry_id uuid)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.reapply_webhook(reapply_webhook.inbox_entry_id);
$$;

grant execute on function private.reapply_webhook(uuid) to authenticated, service_role;
grant execute on function public.reapply_webhook(uuid) to authenticated, service_role;

comment on function public.reapply_webhook(uuid) is
'Applies a webhook inbox entry again after its cause was fixed (a doctor linked, a clash '
'resolved), through the same function as the webhook, as the calling hospital admin or the '
'service role (audited; '
'the transitions are theirs, so an event only a doctor may apply stays not_permitted). '
'Answers {inbox_entry_id, outcome, reason, detail, appointment_id}. Errors: PT404 no such entry '
'in your hospitals, PT409 already_applied, PT409 not_reapplicable (a voice call''s message).';

-- A link names an organizer whose events matched no hospital: they become this hospital's to
-- see and re-apply (when the organizer now resolves to exactly this link's doctor).
-- Security definer: the link's author cannot read the unclaimed inbox, and sees only what
-- their own link now claims.
create function private.claim_calendar_inbox_entries()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    update private.webhook_inbox as i
    set hospital_id = new.hospital_id
    where i.provider = 'calcom' and i.hospital_id is null
        and i.reason in ('unknown_organizer', 'ambiguous_organizer')
        and (
            i.organizer_cal_user_id = new.cal_user_id
            or i.organizer_email = new.cal_email
        )
        and (
            select array_agg(l.id)
            from private.calendar_links_for(i.organizer_cal_user_id, i.organizer_email) as l
        ) = array[new.id];
    return null;
end;
$$;

create trigger doctor_calendar_links_claim_inbox
after insert or update of cal_user_id, cal_email on public.doctor_calendar_links
for each row execute function private.claim_calendar_inbox_entries();

-- Retention of raw payloads (personal data): erased 30 days after the event was applied or
-- ignored, 180 days after it was last received when it never was; the row, its key and outcome
-- stay (replays keep being recognised).
create function private.purge_webhook_payloads()
returns integer
language sql
volatile
set search_path = ''
as $$
    with erased as (
        update private.webhook_inbox as i
        set payload = null, payload_erased_at = now()
        where i.payload is not null
            and (
                (i.outcome in ('applied', 'ignored') and i.last_received_at < now() - interval '30 days')
                or i.last_received_at < now() - interval '180 days'
            )
        returning 1
    )

    select count(*)::integer from erased;
$$;

comment on function private.purge_webhook_payloads() is
'Erases webhook payloads past their retention (30 days once applied or ignored, 180 days '
'otherwise); returns how many.';

select private.schedule_job(
    'carebase-webhook-payload-retention', '41 2 * * *', 'select private.purge_webhook_payloads()'
);
