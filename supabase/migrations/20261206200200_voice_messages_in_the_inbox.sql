-- Vapi's call messages go through the webhook inbox like Cal.com's (issue 14, item 1: every
-- webhook is recorded, unique per provider event, and applied in the same transaction): one
-- entry per event (end-of-call-report|<call id>, status-update|<call id>|<status>, or the
-- body's hash when it names no call), a replay counted and answered duplicate, a message that
-- cannot be recorded kept as unprocessable with its reason, never dropped. The entry keeps the
-- message without what was said (transcript, messages, summary, structured data, recording):
-- that is kept encrypted in the call's session only. A voice message is applied once, on
-- arrival (rpc/reapply_webhook refuses it): its call id already keeps a call one session.

-- Security definer: the service role holds no privilege on the inbox; this is its door for Vapi.
create function private.receive_vapi_message(body text)
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
    entry private.webhook_inbox;
    recorded jsonb;
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

    insert into private.webhook_inbox as i (
        provider, event_key, event_type, external_ref, hospital_id, payload, body_sha256, request_id
    )
    values (
        'vapi', key, left(message ->> 'type', 100), left(call_id, 200),
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
        digest,
        left(nullif(current_setting('request.headers', true), '')::jsonb ->> 'x-request-id', 200)
    )
    on conflict (provider, event_key) do nothing
    returning i.* into entry;

    if entry.id is null then
        update private.webhook_inbox as i
        set deliveries = i.deliveries + 1, last_received_at = now()
        where i.provider = 'vapi' and i.event_key = key
        returning i.* into entry;
        return jsonb_build_object('inbox_entry_id', entry.id, 'outcome', 'duplicate', 'first_outcome', entry.outcome);
    end if;

    if message is null then
        result := jsonb_build_object('outcome', 'unprocessable', 'reason', 'malformed_json');
    else
        begin
            recorded := private.record_voice_call(message);
            result := jsonb_build_object(
                'outcome', case when recorded ->> 'outcome' in ('recorded', 'status_changed') then 'applied' else 'ignored' end,
                'reason', case
                    when recorded ->> 'outcome' = 'duplicate' then 'already_recorded'
                    when recorded ->> 'outcome' = 'unchanged' then 'status_not_forward'
                end,
                'session_id', recorded ->> 'session_id'
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
    where i.id = entry.id;
    return result || jsonb_build_object('inbox_entry_id', entry.id);
end;
$$;

comment on function private.receive_vapi_message(text) is
'Records a Vapi status-update or end-of-call-report (the raw body, authenticated by the sidecar) '
'in the webhook inbox and into the call''s voice session, in one transaction.';

grant execute on function private.receive_vapi_message(text) to service_role;

-- RPC: POST /rest/v1/rpc/receive_vapi_message {"body": "<the raw body>"} (the sidecar).
create function public.receive_vapi_message(body text)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.receive_vapi_message(receive_vapi_message.body);
$$;

revoke execute on function public.receive_vapi_message(text) from authenticated;
grant execute on function public.receive_vapi_message(text) to service_role;

comment on function public.receive_vapi_message(text) is
'Service role only (the sidecar, after authenticating Vapi''s message): records a call''s '
'status-update or end-of-call-report in the webhook inbox and its voice session in one '
'transaction. Answers {inbox_entry_id, outcome: applied | ignored | unprocessable | duplicate, '
'reason (already_recorded, status_not_forward, malformed_json, call_id_missing, ...), session_id}.';
