-- "Call me back" (seed 000 epic F, the SMS flow for rural users; issue 14, item 6): a patient
-- asks the voice agent to call them, from the app, through the front desk, or by texting a
-- keyword (CALL, also in Hindi and Punjabi) to the hospital's line. Each request is recorded
-- first, then the sidecar asks Vapi to place the call (rpc/claim_voice_callback, then
-- rpc/finish_voice_callback with the call's id or the failure), so that a request is placed
-- once. Per number: a request within 10 minutes of another one still going is that one again,
-- and at most 3 a day are placed (calls cost money, and a number must not be harassed).

create table public.voice_callbacks (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id),
    voice_line_id uuid not null references public.voice_lines (id),
    patient_id uuid references public.patients (id),
    phone public.phone_e164 not null,
    requested_via text not null,
    requested_by uuid references auth.users (id),
    status text not null default 'requested',
    vapi_call_id text,
    failure text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint voice_callbacks_requested_via_known check (requested_via in ('app', 'staff', 'sms')),
    constraint voice_callbacks_status_known check (status in ('requested', 'placing', 'placed', 'failed')),
    constraint voice_callbacks_call_once unique (vapi_call_id),
    constraint voice_callbacks_placed_has_call check ((status = 'placed') = (vapi_call_id is not null))
);

create index voice_callbacks_phone_idx on public.voice_callbacks (phone, created_at desc);
create index voice_callbacks_hospital_idx on public.voice_callbacks (hospital_id, created_at desc);
create index voice_callbacks_patient_idx on public.voice_callbacks (patient_id);
create index voice_callbacks_line_idx on public.voice_callbacks (voice_line_id);
create index voice_callbacks_requested_by_idx on public.voice_callbacks (requested_by);

alter table public.voice_callbacks enable row level security;
revoke all on public.voice_callbacks from anon, authenticated, service_role;
grant select on public.voice_callbacks to authenticated, service_role;

-- Written only by the functions below.
create policy voice_callbacks_select_patient_or_staff on public.voice_callbacks
for select to authenticated
using (
    (patient_id is not null and patient_id = private.own_patient_id())
    or hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}'))
);

create trigger voice_callbacks_set_updated_at
before update on public.voice_callbacks
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.voice_callbacks
for each row execute function private.audit_row_change('patient_id');

create trigger refuse_merged_patient
before insert or update on public.voice_callbacks
for each row execute function private.refuse_merged_patient('patient_id');

comment on table public.voice_callbacks is
'Requests for the voice agent to call a patient back (seed 000 epic F): from the app '
'(rpc/request_voice_callback), the front desk (the same, with patient_id) or an SMS keyword. '
'Read by the patient (their own) and the front desk, CROs and admins of the line''s hospital.';
comment on column public.voice_callbacks.voice_line_id is 'The line whose number calls.';
comment on column public.voice_callbacks.patient_id is
'Who asked, when known (an SMS from a number several patients share names nobody).';
comment on column public.voice_callbacks.phone is 'The number to call, in E.164.';
comment on column public.voice_callbacks.requested_via is 'app (the patient), staff or sms.';
comment on column public.voice_callbacks.requested_by is 'The login that asked (null for an SMS).';
comment on column public.voice_callbacks.status is
'requested, placing (Vapi is being asked), placed (with vapi_call_id) or failed (with failure).';
comment on column public.voice_callbacks.vapi_call_id is 'The call Vapi placed (its session in ai_sessions).';
comment on column public.voice_callbacks.failure is 'Why the call could not be placed.';
comment on policy voice_callbacks_select_patient_or_staff on public.voice_callbacks is
'The patient reads their own requests; the front desk, CROs and admins of the line''s hospital theirs.';

-- Requesting ----------------------------------------------------------------------------------

-- A request for `phone` through `line`: the one still going from the last 10 minutes, or a new
-- one unless 3 were made in the last 24 hours. Returns the request and whether it is new.
create function private.record_voice_callback(
    line public.voice_lines, patient_id uuid, phone public.phone_e164, via text
)
returns table (callback public.voice_callbacks, is_new boolean)
language plpgsql
volatile
set search_path = ''
as $$
declare
    recent public.voice_callbacks;
begin
    -- Requests for one number take turns, so that two at once make one call.
    perform pg_advisory_xact_lock(hashtextextended('voice_callback:' || record_voice_callback.phone, 0));
    select c.* into recent from public.voice_callbacks as c
    where c.phone = record_voice_callback.phone and c.status <> 'failed'
        and c.created_at > now() - interval '10 minutes'
    order by c.created_at desc
    limit 1;
    if recent.id is not null then
        return query select recent, false;
        return;
    end if;
    if (
        select count(*) from public.voice_callbacks as c
        where c.phone = record_voice_callback.phone and c.status <> 'failed'
            and c.created_at > now() - interval '24 hours'
    ) >= 3 then
        perform private.raise_error(
            'PT429', 'this number was already called back 3 times today', 'too_many_callbacks',
            'try again tomorrow, or call the hospital''s line'
        );
    end if;
    insert into public.voice_callbacks (hospital_id, voice_line_id, patient_id, phone, requested_via, requested_by)
    values (line.hospital_id, line.id, record_voice_callback.patient_id, record_voice_callback.phone, via, auth.uid())
    returning * into recent;
    return query select recent, true;
end;
$$;

comment on function private.record_voice_callback(public.voice_lines, uuid, public.phone_e164, text) is
'Records a callback request for a number (or returns the one still going from the last 10 '
'minutes); refuses a fourth in 24 hours (PT429 too_many_callbacks).';

-- A patient asks to be called back (patient_id: their own, the default), or staff of a
-- hospital where the patient is registered ask for them (hospital_id: which hospital's line;
-- for a patient, the default is the hospital of their latest registration with a line).
-- Security definer: writes the request, which no API role may; it checks the caller itself.
create function private.request_voice_callback(patient_id uuid, hospital_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    own constant uuid := private.own_patient_id();
    patient public.patients;
    line public.voice_lines;
    as_staff boolean;
    made record;
begin
    select p.* into patient from public.patients as p
    where p.id = coalesce(request_voice_callback.patient_id, own) and p.deleted_at is null and p.merged_into is null;
    as_staff := patient.id is distinct from own;
    -- Only the patient themselves, or staff of the chosen hospital where the patient is registered.
    if patient.id is null or (
        as_staff and not (
            request_voice_callback.hospital_id = any(private.staff_hospital_ids())
            and exists (
                select from public.patient_registrations as r
                where r.patient_id = patient.id and r.hospital_id = request_voice_callback.hospital_id
                    and r.deleted_at is null
            )
        )
    ) then
        perform private.raise_not_found('no such patient', hint => 'staff name the hospital where the patient is registered');
    end if;
    select l.* into line
    from public.voice_lines as l
    join public.patient_registrations as r on r.hospital_id = l.hospital_id and r.patient_id = patient.id
    where l.is_active and r.deleted_at is null
        and (request_voice_callback.hospital_id is null or l.hospital_id = request_voice_callback.hospital_id)
    order by r.registered_at desc, l.created_at
    limit 1;
    if line.id is null then
        perform private.raise_unprocessable(
            'the hospital has no voice line to call from', detail => 'no_voice_line'
        );
    end if;
    if patient.phone is null then
        perform private.raise_unprocessable('the patient has no phone number', detail => 'no_phone');
    end if;
    select * into made from private.record_voice_callback(
        line, patient.id, patient.phone, case when as_staff then 'staff' else 'app' end
    );
    return jsonb_build_object(
        'id', (made.callback).id, 'status', (made.callback).status, 'created_at', (made.callback).created_at,
        'new', made.is_new
    );
end;
$$;

grant execute on function private.request_voice_callback(uuid, uuid) to authenticated;

-- RPC: POST /rest/v1/rpc/request_voice_callback (through POST /api/v1/voice/callback).
create function public.request_voice_callback(patient_id uuid default null, hospital_id uuid default null)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.request_voice_callback(request_voice_callback.patient_id, request_voice_callback.hospital_id);
$$;

grant execute on function public.request_voice_callback(uuid, uuid) to authenticated;

comment on function public.request_voice_callback(uuid, uuid) is
'Records a request for the voice agent to call a patient back: the patient for themselves (no '
'arguments), or staff for a patient registered at their hospital (patient_id, hospital_id). '
'Placed by POST /api/v1/voice/callback, which calls this first. Returns {id, status, created_at, '
'new} (new false: a request from the last 10 minutes is still going). Errors: PT404 no such '
'patient, PT422 no_voice_line or no_phone, PT429 too_many_callbacks (3 a day per number).';

-- The words that ask for a call by SMS: English, Hindi and Punjabi, in their scripts and as
-- typed in Latin letters. The first word decides ("CALL", "call me", "कॉल करो", "ਕਾਲ ਕਰੋ").
create function private.asks_for_callback(body text)
returns boolean
language sql
immutable
set search_path = ''
return lower(split_part(btrim(regexp_replace(coalesce(body, ''), '[[:punct:]]', ' ', 'g')), ' ', 1)) = any(
    array['call', 'callback', 'callme', 'phone', 'kol', 'kaal', 'कॉल', 'काल', 'फोन', 'फ़ोन', 'ਕਾਲ', 'ਫੋਨ', 'ਫ਼ੋਨ']
);

comment on function private.asks_for_callback(text) is
'Whether an SMS asks for a call back: its first word is CALL (or callback, phone) in English, '
'Hindi or Punjabi, in their scripts or in Latin letters.';

-- An SMS to a line (Twilio's inbound message, verified by the sidecar). Security definer:
-- the service role's request, on behalf of whoever holds the phone. The patient is the one
-- who carries the number, if exactly one does; the call goes to the number either way.
create function private.request_voice_callback_by_sms(from_phone text, to_phone text, body text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    line public.voice_lines;
    carriers uuid[];
    made record;
begin
    if from_phone is null or from_phone !~ '^\+[1-9][0-9]{6,14}$' then
        return jsonb_build_object('outcome', 'invalid_number');
    end if;
    select l.* into line from public.voice_lines as l where l.phone = to_phone and l.is_active;
    if line.id is null then
        return jsonb_build_object('outcome', 'unknown_line');
    end if;
    if not private.asks_for_callback(body) then
        return jsonb_build_object('outcome', 'not_a_request');
    end if;
    select coalesce(array_agg(p.id), '{}') into carriers from public.patients as p
    where p.phone = from_phone::public.phone_e164 and p.deleted_at is null and p.merged_into is null;
    begin
        select * into made from private.record_voice_callback(
            line, case when cardinality(carriers) = 1 then carriers[1] end, from_phone::public.phone_e164, 'sms'
        );
    exception when sqlstate 'PT429' then
        return jsonb_build_object('outcome', 'too_many_callbacks');
    end;
    return jsonb_build_object(
        'outcome', case when made.is_new then 'requested' else 'already_requested' end,
        'id', (made.callback).id
    );
end;
$$;

grant execute on function private.request_voice_callback_by_sms(text, text, text) to service_role;

-- RPC: POST /rest/v1/rpc/request_voice_callback_by_sms (the sidecar's Twilio webhook).
create function public.request_voice_callback_by_sms(from_phone text, to_phone text, body text)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.request_voice_callback_by_sms(
        request_voice_callback_by_sms.from_phone, request_voice_callback_by_sms.to_phone,
        request_voice_callback_by_sms.body
    );
$$;

revoke execute on function public.request_voice_callback_by_sms(text, text, text) from authenticated;
grant execute on function public.request_voice_callback_by_sms(text, text, text) to service_role;

comment on function public.request_voice_callback_by_sms(text, text, text) is
'Service role only (the sidecar, after verifying Twilio''s signature): an SMS to a line asking '
'for a call back. Returns {outcome: requested | already_requested | not_a_request | '
'unknown_line | invalid_number | too_many_callbacks, id}.';

-- Placing ---------------------------------------------------------------------------------------

-- The sidecar takes a new request to place it: what to call, from which Vapi number; null when
-- the request is not waiting (placed already, or being placed by another request).
-- Security definer: the service role's step of a request no API role may write.
create function private.claim_voice_callback(callback_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    claimed public.voice_callbacks;
begin
    update public.voice_callbacks as c set status = 'placing'
    where c.id = claim_voice_callback.callback_id and c.status = 'requested'
    returning * into claimed;
    if claimed.id is null then
        return null;
    end if;
    return jsonb_build_object(
        'id', claimed.id, 'phone', claimed.phone,
        'vapi_phone_number_id', (select l.vapi_phone_number_id from public.voice_lines as l where l.id = claimed.voice_line_id)
    );
end;
$$;

-- The outcome: the call Vapi placed, or why it could not.
create function private.finish_voice_callback(callback_id uuid, vapi_call_id text, failure text)
returns public.voice_callbacks
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    finished public.voice_callbacks;
begin
    update public.voice_callbacks as c
    set
        status = case when finish_voice_callback.vapi_call_id is null then 'failed' else 'placed' end,
        vapi_call_id = finish_voice_callback.vapi_call_id,
        failure = case when finish_voice_callback.vapi_call_id is null then coalesce(finish_voice_callback.failure, 'unknown') end
    where c.id = finish_voice_callback.callback_id and c.status = 'placing'
    returning * into finished;
    if finished.id is null then
        perform private.raise_conflict('this callback is not being placed', detail => 'callback_not_placing');
    end if;
    return finished;
end;
$$;

grant execute on function private.claim_voice_callback(uuid), private.finish_voice_callback(uuid, text, text)
to service_role;

-- RPCs: POST /rest/v1/rpc/claim_voice_callback and finish_voice_callback (the sidecar).
create function public.claim_voice_callback(callback_id uuid)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.claim_voice_callback(claim_voice_callback.callback_id);
$$;

create function public.finish_voice_callback(
    callback_id uuid, vapi_call_id text default null, failure text default null
)
returns public.voice_callbacks
language sql
volatile
set search_path = ''
as $$
    select * from private.finish_voice_callback(
        finish_voice_callback.callback_id, finish_voice_callback.vapi_call_id, finish_voice_callback.failure
    );
$$;

revoke execute on function public.claim_voice_callback(uuid), public.finish_voice_callback(uuid, text, text)
from authenticated;
grant execute on function public.claim_voice_callback(uuid), public.finish_voice_callback(uuid, text, text)
to service_role;

comment on function public.claim_voice_callback(uuid) is
'Service role only (the sidecar): takes a requested callback to place it ({id, phone, '
'vapi_phone_number_id}), or null when it is not waiting (placed, or being placed).';
comment on function public.finish_voice_callback(uuid, text, text) is
'Service role only (the sidecar): the callback was placed (vapi_call_id) or failed (failure). '
'Errors: PT409 callback_not_placing.';
