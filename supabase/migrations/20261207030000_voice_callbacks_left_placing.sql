-- A callback whose sidecar stopped between asking Vapi and recording the answer stays
-- `placing`: the patient waits for a call nobody knows about. Vapi takes no idempotency key,
-- so placing it again could ring the patient twice; instead the voice sweep looks for the
-- call in Vapi's list (to that number, from that line, made after the request was taken) and
-- finishes the request with it, or as failed once long enough has passed without one.

-- Security definer: the service role reads no table directly; this lists what the sweep settles.
create function private.voice_callbacks_left_placing(taken_before timestamptz)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
        'id', c.id, 'phone', c.phone, 'vapi_phone_number_id', l.vapi_phone_number_id, 'taken_at', c.updated_at
    ) order by c.updated_at), '[]')
    from public.voice_callbacks as c
    join public.voice_lines as l on l.id = c.voice_line_id
    where c.status = 'placing' and c.updated_at < voice_callbacks_left_placing.taken_before;
$$;

grant execute on function private.voice_callbacks_left_placing(timestamptz) to service_role;

-- RPC: POST /rest/v1/rpc/voice_callbacks_left_placing {"taken_before": ...} (the voice sweep).
create function public.voice_callbacks_left_placing(taken_before timestamptz)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select private.voice_callbacks_left_placing(voice_callbacks_left_placing.taken_before);
$$;

revoke execute on function public.voice_callbacks_left_placing(timestamptz) from authenticated;
grant execute on function public.voice_callbacks_left_placing(timestamptz) to service_role;

comment on function public.voice_callbacks_left_placing(timestamptz) is
'Service role only (the voice sweep): callbacks taken to be placed before the given time and '
'never finished, [{id, phone, vapi_phone_number_id, taken_at}], oldest first; the sweep '
'finishes each with rpc/finish_voice_callback.';

create index voice_callbacks_placing_idx on public.voice_callbacks (updated_at) where status = 'placing';
