-- One door into the webhook inbox for every provider: the row for (provider, event key) is
-- inserted, or, when the event was received before, its delivery is counted and the first
-- row answered as a replay. receive_calcom_webhook and receive_vapi_message each repeated this
-- block; they are re-created here around the shared function, behaviour unchanged.

create function private.inbox_record(
    provider text,
    event_key text,
    event_type text,
    external_ref text,
    hospital_id uuid,
    payload jsonb,
    body_sha256 text,
    organizer_cal_user_id bigint default null,
    organizer_email text default null,
    out entry private.webhook_inbox,
    out replay boolean
)
language plpgsql
volatile
set search_path = ''
as $$
begin
    insert into private.webhook_inbox as i (
        provider, event_key, event_type, external_ref, hospital_id, organizer_cal_user_id,
        organizer_email, payload, body_sha256, request_id
    )
    values (
        inbox_record.provider, inbox_record.event_key, left(inbox_record.event_type, 100),
        left(inbox_record.external_ref, 200), inbox_record.hospital_id,
        inbox_record.organizer_cal_user_id, inbox_record.organizer_email, inbox_record.payload,
        inbox_record.body_sha256,
        left(nullif(current_setting('request.headers', true), '')::jsonb ->> 'x-request-id', 200)
    )
    on conflict on constraint webhook_inbox_event_unique do nothing
    returning i.* into entry;
    replay := entry.id is null;
    if replay then
        update private.webhook_inbox as i
        set deliveries = i.deliveries + 1, last_received_at = now()
        where i.provider = inbox_record.provider and i.event_key = inbox_record.event_key
        returning i.* into entry;
    end if;
end;
$$;

comment on function private.inbox_record(text, text, text, text, uuid, jsonb, text, bigint, text) is
'Records a webhook event in the inbox: the new entry, or (replay true) the first entry of the '
'same provider event with this delivery counted.';

create or replace function private.receive_calcom_webhook(body text)
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
    organizer jsonb;
    recorded record;
begin
    begin
        parsed := body::jsonb;
    exception
        when others then
            parsed := null;
    end;
    if jsonb_typeof(parsed) is distinct from 'object' then
        parsed := null;
        key := 'body:' || digest;
    else
        key := private.calcom_event_key(parsed, digest);
        organizer := private.calcom_booking_snapshot(parsed) -> 'organizer';
    end if;

    recorded := private.inbox_record(
        'calcom', key, parsed ->> 'triggerEvent',
        coalesce(parsed -> 'payload' ->> 'uid', parsed -> 'payload' ->> 'bookingUid', parsed ->> 'uid'),
        null,
        coalesce(parsed, jsonb_build_object('unparsed', left(body, 100000))),
        digest,
        case when organizer ->> 'cal_user_id' ~ '^[0-9]{1,18}$' then (organizer ->> 'cal_user_id')::bigint end,
        case when organizer ->> 'email' ~ '^[^@\s]+@[^@\s]+$' then organizer ->> 'email' end
    );
    if recorded.replay then
        return jsonb_build_object(
            'inbox_entry_id', (recorded.entry).id, 'outcome', 'duplicate',
            'first_outcome', (recorded.entry).outcome, 'appointment_id', (recorded.entry).appointment_id
        );
    end if;
    return private.apply_inbox_entry((recorded.entry).id);
end;
$$;

create or replace function private.receive_vapi_message(body text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    said constant text[] := '{artifact,analysis,transcript,messages,recordingUrl,summary}';
    digest constant text := encode(extensions.digest(convert_to(body, 'UTF8'), 'sha256'), 'hex');
    parsed jsonb;
    message jsonb;
    call_id text;
    key text;
    recorded record;
    entry_id uuid;
    called jsonb;
    result jsonb;
    failed_state text;
    failed_detail text;
begin
    begin
        parsed := body::jsonb;
    exception
        when others then
            parsed := null;
    end;
    if jsonb_typeof(parsed -> 'message') = 'object' then
        message := parsed -> 'message';
    end if;
    call_id := nullif(btrim(message #>> '{call,id}'), '');
    key := case
        when call_id is null then 'body:' || digest
        when message ->> 'type' = 'status-update' then concat_ws('|', 'status-update', call_id, message ->> 'status')
        else concat_ws('|', message ->> 'type', call_id)
    end;

    recorded := private.inbox_record(
        'vapi', key, message ->> 'type', call_id,
        (
            select l.hospital_id from public.voice_lines as l
            where l.vapi_phone_number_id = message #>> '{call,phoneNumberId}' and l.is_active
        ),
        case
            when message is null then jsonb_build_object('unparsed', left(body, 100000))
            else jsonb_build_object(
                'message', (message - said) || jsonb_strip_nulls(jsonb_build_object('call', (message -> 'call') - said))
            )
        end,
        digest
    );
    entry_id := (recorded.entry).id;
    if recorded.replay then
        return jsonb_build_object('inbox_entry_id', entry_id, 'outcome', 'duplicate', 'first_outcome', (recorded.entry).outcome);
    end if;

    if message is null then
        result := jsonb_build_object('outcome', 'unprocessable', 'reason', 'malformed_json');
    else
        begin
            called := private.record_voice_call(message);
            result := jsonb_build_object(
                'outcome', case when called ->> 'outcome' in ('recorded', 'status_changed') then 'applied' else 'ignored' end,
                'reason', case
                    when called ->> 'outcome' = 'duplicate' then 'already_recorded'
                    when called ->> 'outcome' = 'unchanged' then 'status_not_forward'
                end,
                'session_id', called ->> 'session_id'
            );
        exception
            when others then
                get stacked diagnostics failed_state = returned_sqlstate, failed_detail = pg_exception_detail;
                if failed_state <> '22023' then
                    raise;
                end if;
                result := jsonb_build_object('outcome', 'unprocessable', 'reason', failed_detail);
        end;
    end if;

    update private.webhook_inbox as i
    set
        outcome = result ->> 'outcome',
        reason = result ->> 'reason',
        applied_at = case when result ->> 'outcome' = 'applied' then now() end
    where i.id = entry_id;
    return result || jsonb_build_object('inbox_entry_id', entry_id);
end;
$$;
