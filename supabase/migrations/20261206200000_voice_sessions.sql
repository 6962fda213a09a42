-- The voice agent's calls (seed 000 epics B and F; issue 14, item 5): patients on keypad
-- phones call a hospital's line, answered by Vapi's AI agent; when a call ends, Vapi sends an
-- end-of-call report, which the sidecar verifies and hands to rpc/record_voice_call. The call
-- becomes a session in ai_sessions (channel voice; the copilot's sessions will share the
-- store, channel copilot), attached to the patient by the caller's number, so that it appears
-- in the app of the person who logs in with that phone.
--
-- A phone is not a person (families share one): a number carried by exactly one patient
-- attaches the call to that patient; a number nobody carries makes a new patient record
-- registered at the line's hospital (the phone login later links to it, see
-- 20261124000200); a number several patients carry attaches the call to none, and the front
-- desk assigns it (rpc/assign_voice_session) after listening to what was said.
--
-- What was said (transcript, messages, summary, structured data, the recording's address) is
-- health information: encrypted in the column, read only through rpc/voice_session, which
-- logs each read. The rest (who called, when, how long, how it ended) is read under RLS.

-- Lines -----------------------------------------------------------------------------------

create table public.voice_lines (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id),
    vapi_phone_number_id text not null,
    phone public.phone_e164 not null,
    label text,
    is_active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint voice_lines_vapi_phone_number_once unique (vapi_phone_number_id),
    constraint voice_lines_vapi_phone_number_id_present check (length(btrim(vapi_phone_number_id)) > 0)
);

create index voice_lines_hospital_idx on public.voice_lines (hospital_id);

alter table public.voice_lines enable row level security;
revoke all on public.voice_lines from anon, authenticated, service_role;
grant select, insert, update on public.voice_lines to authenticated;
grant select, insert, update, delete on public.voice_lines to service_role;

create policy voice_lines_select_staff on public.voice_lines
for select to authenticated
using (hospital_id = any(private.staff_hospital_ids()));

create policy voice_lines_insert_admin on public.voice_lines
for insert to authenticated
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create policy voice_lines_update_admin on public.voice_lines
for update to authenticated
using (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')))
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create trigger voice_lines_set_updated_at
before update on public.voice_lines
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.voice_lines
for each row execute function private.audit_row_change();

comment on table public.voice_lines is
'The phone numbers of the voice agent (Vapi phone numbers) and the hospital each answers for. '
'Calls to a line become that hospital''s voice sessions. Staff of the hospital read its lines; '
'its admins add and change them.';
comment on column public.voice_lines.vapi_phone_number_id is
'Vapi''s id of the phone number (call.phoneNumberId in its messages).';
comment on column public.voice_lines.phone is 'The number patients dial, in E.164.';
comment on column public.voice_lines.label is 'A name for staff, e.g. "Nabha helpline (Punjabi)".';
comment on column public.voice_lines.is_active is
'false: calls to it are still recorded, as sessions of no hospital (seen by the service role only).';
comment on policy voice_lines_select_staff on public.voice_lines is 'Staff of the hospital read its lines.';
comment on policy voice_lines_insert_admin on public.voice_lines is 'The hospital''s admins add lines.';
comment on policy voice_lines_update_admin on public.voice_lines is
'The hospital''s admins change its lines, and may not move one to another hospital.';

-- Sessions ----------------------------------------------------------------------------------

create type public.ai_channel as enum ('voice', 'copilot');

comment on type public.ai_channel is
'Where an AI session took place: voice (a phone call to the voice agent), copilot (the app''s command box).';

create table public.ai_sessions (
    id uuid primary key default gen_random_uuid(),
    channel public.ai_channel not null,
    hospital_id uuid references public.hospitals (id),
    patient_id uuid references public.patients (id),
    external_id text not null,
    caller_phone public.phone_e164,
    call_status text,
    started_at timestamptz,
    ended_at timestamptz,
    duration_seconds numeric(10, 1),
    cost numeric(10, 4),
    ended_reason text,
    content_encrypted bytea,
    attention text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint ai_sessions_external_id_once unique (channel, external_id),
    constraint ai_sessions_call_status_known check (
        call_status in ('scheduled', 'queued', 'ringing', 'in-progress', 'forwarding', 'ended')
    ),
    constraint ai_sessions_attention_known check (attention in ('shared_number', 'unknown_line')),
    constraint ai_sessions_ends_after_start check (ended_at >= started_at),
    constraint ai_sessions_voice_has_status check (channel <> 'voice' or call_status is not null)
);

create index ai_sessions_patient_idx on public.ai_sessions (patient_id, started_at desc);
-- The front desk's list: a hospital's sessions, newest first, those needing attention apart.
create index ai_sessions_hospital_idx on public.ai_sessions (hospital_id, started_at desc);
create index ai_sessions_attention_idx on public.ai_sessions (hospital_id, created_at)
where attention is not null;
create index ai_sessions_caller_phone_idx on public.ai_sessions (caller_phone);

alter table public.ai_sessions enable row level security;
revoke all on public.ai_sessions from anon, authenticated, service_role;
-- Every column but what was said: that is read through rpc/voice_session, which logs it.
grant select (
    id, channel, hospital_id, patient_id, external_id, caller_phone, call_status, started_at,
    ended_at, duration_seconds, cost, ended_reason, attention, created_at, updated_at
) on public.ai_sessions to authenticated;
grant select on public.ai_sessions to service_role;

-- Written only by rpc/record_voice_call (the service role) and rpc/assign_voice_session.
create policy ai_sessions_select_patient_staff_or_care_team on public.ai_sessions
for select to authenticated
using (
    (patient_id is not null and patient_id = private.own_patient_id())
    or hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}'))
    or (patient_id is not null and private.on_care_team(patient_id, hospital_id))
);

create trigger ai_sessions_set_updated_at
before update on public.ai_sessions
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.ai_sessions
for each row execute function private.audit_row_change('patient_id');

-- A merge moves a session to the surviving record; nothing new attaches to a merged one.
create trigger refuse_merged_patient
before insert or update on public.ai_sessions
for each row execute function private.refuse_merged_patient('patient_id');

comment on table public.ai_sessions is
'AI sessions: calls to the voice agent (channel voice) and, later, copilot conversations. Who '
'called, when, how long, how it ended and to whom it is attached; what was said is read with '
'rpc/voice_session (logged). Read by the patient (their own), the front desk, CROs and admins '
'of the line''s hospital, and the patient''s care team there. Sessions needing a person '
'(attention not null) are the front desk''s to resolve.';
comment on column public.ai_sessions.hospital_id is
'The hospital of the line that was called (null: a line not known to carebase).';
comment on column public.ai_sessions.patient_id is
'The patient the session is about (null: not yet known, see attention).';
comment on column public.ai_sessions.external_id is 'Vapi''s call id (voice): one session per call.';
comment on column public.ai_sessions.caller_phone is 'The number that called (Vapi''s customer.number).';
comment on column public.ai_sessions.call_status is
'Vapi''s call status, moving forward only: scheduled, queued, ringing, in-progress, forwarding, ended.';
comment on column public.ai_sessions.duration_seconds is 'How long the call lasted.';
comment on column public.ai_sessions.cost is 'What the call cost, in US dollars, as Vapi reports it.';
comment on column public.ai_sessions.ended_reason is 'Vapi''s endedReason, e.g. customer-ended-call.';
comment on column public.ai_sessions.content_encrypted is
'What was said, encrypted (private.encrypt_field): read with rpc/voice_session.';
comment on column public.ai_sessions.attention is
'Why a person must look at the session: shared_number (several patients carry the caller''s '
'number: assign it with rpc/assign_voice_session), unknown_line (a line carebase does not know).';
comment on policy ai_sessions_select_patient_staff_or_care_team on public.ai_sessions is
'The patient reads their own sessions; the front desk, CROs and admins of the line''s hospital '
'its sessions; the patient''s care team at that hospital theirs.';

-- Recording ---------------------------------------------------------------------------------

-- Vapi's call statuses in the order a call goes through them.
create function private.call_status_rank(status text)
returns integer
language sql
immutable
set search_path = ''
return array_position(
    array['scheduled', 'queued', 'ringing', 'in-progress', 'forwarding', 'ended'], status
);

-- Which patient a call is about, by the caller's number, and why: matched (the one live
-- patient with that number), new_patient (nobody carries it: a record is made and registered
-- at the line's hospital), shared_number (several carry it: none is chosen), no_number.
create function private.voice_caller(phone public.phone_e164, hospital_id uuid, spoken_name text)
returns table (patient_id uuid, outcome text)
language plpgsql
volatile
set search_path = ''
as $$
declare
    carriers uuid[];
    new_patient uuid;
begin
    if phone is null then
        return query select null::uuid, 'no_number';
        return;
    end if;
    -- Calls from one number take turns with each other and with the phone login (the same
    -- lock), so that two of them never make two records for one number.
    perform pg_advisory_xact_lock(hashtextextended('patient_phone_login:' || voice_caller.phone, 0));
    select coalesce(array_agg(p.id), '{}') into carriers
    from public.patients as p
    where p.phone = voice_caller.phone and p.deleted_at is null and p.merged_into is null;
    if cardinality(carriers) = 1 then
        return query select carriers[1], 'matched';
    elsif cardinality(carriers) > 1 then
        return query select null::uuid, 'shared_number';
    elsif voice_caller.hospital_id is null then
        return query select null::uuid, 'unknown_line';
    else
        insert into public.patients (full_name, phone)
        values (coalesce(nullif(btrim(spoken_name), ''), 'Unknown caller'), voice_caller.phone)
        returning id into new_patient;
        insert into public.patient_registrations (patient_id, hospital_id, referral_source)
        values (new_patient, voice_caller.hospital_id, 'voice agent');
        return query select new_patient, 'new_patient';
    end if;
end;
$$;

comment on function private.voice_caller(public.phone_e164, uuid, text) is
'The patient a call is about by the caller''s number (a new record for a number nobody carries, '
'none for a number several carry), and why: matched, new_patient, shared_number, unknown_line, no_number.';

-- A Vapi server message about a call (status-update or end-of-call-report) into its session.
-- Security definer: writes the session, patients and registrations for the service role, and
-- encrypts. Idempotent per call: a report that arrives twice changes nothing the second time,
-- and a status never moves backwards.
create function private.record_voice_call(message jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    kind constant text := message ->> 'type';
    call constant jsonb := coalesce(message -> 'call', '{}');
    call_id constant text := nullif(btrim(call ->> 'id'), '');
    phone_text constant text := coalesce(message #>> '{customer,number}', call #>> '{customer,number}');
    caller public.phone_e164;
    line public.voice_lines;
    session public.ai_sessions;
    status text := case kind when 'end-of-call-report' then 'ended' else message ->> 'status' end;
    who record;
    created boolean := false;
    content jsonb;
begin
    if kind not in ('status-update', 'end-of-call-report') then
        perform private.raise_invalid(
            'only status-update and end-of-call-report messages are recorded', 'unknown_message_type'
        );
    end if;
    if call_id is null then
        perform private.raise_invalid('the message names no call (call.id)', 'call_id_missing');
    end if;
    if private.call_status_rank(status) is null then
        perform private.raise_invalid(format('unknown call status %L', status), 'unknown_call_status');
    end if;
    if phone_text is not null and phone_text !~ '^\+[1-9][0-9]{6,14}$' then
        perform private.raise_invalid('the caller''s number is not in E.164', 'caller_number_invalid');
    end if;
    caller := phone_text::public.phone_e164;

    select l.* into line
    from public.voice_lines as l
    where l.vapi_phone_number_id = call ->> 'phoneNumberId' and l.is_active;

    -- One session per call: the first message about it makes it, the others find it.
    select s.* into session
    from public.ai_sessions as s
    where s.channel = 'voice' and s.external_id = call_id
    for update;
    if session.id is null then
        select * into who
        from private.voice_caller(caller, line.hospital_id, message #>> '{analysis,structuredData,name}');
        insert into public.ai_sessions (
            channel, hospital_id, patient_id, external_id, caller_phone, call_status, attention
        )
        values (
            'voice', line.hospital_id, who.patient_id, call_id, caller, status,
            case when who.outcome in ('shared_number', 'unknown_line') then who.outcome end
        )
        on conflict (channel, external_id) do nothing
        returning * into session;
        created := session.id is not null;
        if session.id is null then
            -- A concurrent message made it first (the caller lock serialises only known numbers).
            select s.* into session
            from public.ai_sessions as s
            where s.channel = 'voice' and s.external_id = call_id
            for update;
        end if;
    end if;

    if kind = 'status-update' then
        if created then
            return jsonb_build_object('session_id', session.id, 'outcome', 'recorded');
        elsif private.call_status_rank(status) > private.call_status_rank(session.call_status) then
            update public.ai_sessions as s set call_status = status where s.id = session.id;
            return jsonb_build_object('session_id', session.id, 'outcome', 'status_changed');
        end if;
        return jsonb_build_object('session_id', session.id, 'outcome', 'unchanged');
    end if;

    if session.content_encrypted is not null then
        return jsonb_build_object('session_id', session.id, 'outcome', 'duplicate');
    end if;
    content := jsonb_strip_nulls(jsonb_build_object(
        'transcript', message #> '{artifact,transcript}',
        'messages', message #> '{artifact,messages}',
        'recording_url', coalesce(message #> '{artifact,recordingUrl}', message -> 'recordingUrl'),
        'summary', coalesce(message #> '{analysis,summary}', message -> 'summary'),
        'structured_data', message #> '{analysis,structuredData}'
    ));
    update public.ai_sessions as s
    set
        call_status = 'ended',
        started_at = coalesce((message ->> 'startedAt')::timestamptz, (call ->> 'startedAt')::timestamptz),
        ended_at = coalesce((message ->> 'endedAt')::timestamptz, (call ->> 'endedAt')::timestamptz),
        duration_seconds = coalesce(
            (message ->> 'durationSeconds')::numeric,
            extract(epoch from (call ->> 'endedAt')::timestamptz - (call ->> 'startedAt')::timestamptz)
        ),
        cost = (message ->> 'cost')::numeric,
        ended_reason = message ->> 'endedReason',
        content_encrypted = private.encrypt_field(content::text)
    where s.id = session.id;
    return jsonb_build_object('session_id', session.id, 'outcome', 'recorded');
exception
    when invalid_datetime_format or datetime_field_overflow or invalid_text_representation
        or numeric_value_out_of_range then
    perform private.raise_invalid('a time or number in the report is malformed', 'malformed_report');
end;
$$;

comment on function private.record_voice_call(jsonb) is
'Records a Vapi status-update or end-of-call-report into the call''s voice session (one per '
'call; a report twice is recorded once; statuses only move forward).';

grant execute on function private.record_voice_call(jsonb) to service_role;

-- RPC: POST /rest/v1/rpc/record_voice_call {"message": {...}} (the sidecar, service role).
create function public.record_voice_call(message jsonb)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.record_voice_call(record_voice_call.message);
$$;

revoke execute on function public.record_voice_call(jsonb) from authenticated;
grant execute on function public.record_voice_call(jsonb) to service_role;

comment on function public.record_voice_call(jsonb) is
'Service role only (the sidecar, after verifying Vapi''s signature): records a status-update '
'or end-of-call-report message ({"message": <Vapi''s message>}). Returns {session_id, outcome: '
'recorded | duplicate | status_changed | unchanged}. Errors: 22023 with details '
'unknown_message_type, call_id_missing, unknown_call_status, caller_number_invalid, malformed_report.';

-- Reading -----------------------------------------------------------------------------------

-- What was said in a session, for those who may read the session (its policy decides, read
-- as the caller), staff at aal2. Each read is a READ entry naming the patient. Security
-- definer: decrypts and appends to the audit trail.
create function private.read_voice_session(session_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    session public.ai_sessions;
    visible boolean;
begin
    select s.* into session from public.ai_sessions as s where s.id = read_voice_session.session_id;
    visible := session.id is not null and (
        (session.patient_id is not null and session.patient_id = private.own_patient_id())
        or session.hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}'))
        or (session.patient_id is not null and private.on_care_team(session.patient_id, session.hospital_id))
    );
    if not coalesce(visible, false) then
        perform private.raise_not_found(
            'no such session', hint => 'sessions are read by the patient, the hospital''s front office and the care team'
        );
    end if;
    perform private.require_phi_aal2(session.patient_id);
    perform private.audit_append(
        'READ', 'public.ai_sessions', session.id::text, session.hospital_id, session.patient_id, '{content_encrypted}'
    );
    return jsonb_build_object(
        'id', session.id, 'channel', session.channel, 'hospital_id', session.hospital_id,
        'patient_id', session.patient_id, 'caller_phone', session.caller_phone,
        'call_status', session.call_status, 'started_at', session.started_at, 'ended_at', session.ended_at,
        'duration_seconds', session.duration_seconds, 'ended_reason', session.ended_reason,
        'attention', session.attention,
        'content', coalesce(private.decrypt_field(session.content_encrypted)::jsonb, '{}')
    );
end;
$$;

grant execute on function private.read_voice_session(uuid) to authenticated;

-- RPC: POST /rest/v1/rpc/voice_session {"session_id": ...}.
create function public.voice_session(session_id uuid)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.read_voice_session(voice_session.session_id);
$$;

grant execute on function public.voice_session(uuid) to authenticated;

comment on function public.voice_session(uuid) is
'A voice session with what was said: {..., content: {transcript, messages, summary, '
'structured_data, recording_url}}. For the patient, the front desk, CROs and admins of the '
'line''s hospital and the care team (staff at aal2); each read is logged. Errors: PT404 '
'(no such session, or not yours to read), PT403 insufficient_aal.';

-- Assigning ---------------------------------------------------------------------------------

-- The front office of the line's hospital names the patient of a call from a shared number:
-- one of the patients registered there who carry the caller's number. Security definer:
-- writes the session, which no API role may; it checks the caller itself.
create function private.assign_voice_session(session_id uuid, patient_id uuid)
returns public.ai_sessions
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    session public.ai_sessions;
begin
    select s.* into session from public.ai_sessions as s
    where s.id = assign_voice_session.session_id
        and s.hospital_id = any(private.staff_hospital_ids('{front_desk,cro}'))
    for update;
    if session.id is null then
        perform private.raise_not_found('no such session at your hospital');
    end if;
    if session.attention is distinct from 'shared_number' then
        perform private.raise_conflict(
            'this session is already attached to its patient', detail => 'session_not_shared'
        );
    end if;
    if not exists (
        select from public.patients as p
        join public.patient_registrations as r
            on r.patient_id = p.id and r.hospital_id = session.hospital_id and r.deleted_at is null
        where p.id = assign_voice_session.patient_id
            and p.phone = session.caller_phone
            and p.deleted_at is null and p.merged_into is null
    ) then
        perform private.raise_unprocessable(
            'the patient must be registered here and carry the number that called',
            detail => 'patient_not_a_carrier'
        );
    end if;
    update public.ai_sessions as s
    set patient_id = assign_voice_session.patient_id, attention = null
    where s.id = session.id
    returning * into session;
    return session;
end;
$$;

grant execute on function private.assign_voice_session(uuid, uuid) to authenticated;

-- RPC: POST /rest/v1/rpc/assign_voice_session {"session_id": ..., "patient_id": ...}.
create function public.assign_voice_session(session_id uuid, patient_id uuid)
returns public.ai_sessions
language sql
volatile
set search_path = ''
as $$
    select * from private.assign_voice_session(assign_voice_session.session_id, assign_voice_session.patient_id);
$$;

grant execute on function public.assign_voice_session(uuid, uuid) to authenticated;

comment on function public.assign_voice_session(uuid, uuid) is
'The front desk or a CRO of the line''s hospital attaches a call from a number several patients '
'share to one of them (registered there, carrying that number). Errors: PT404 no such session '
'at your hospital, PT409 session_not_shared, PT422 patient_not_a_carrier.';

-- The voice agent's greeting (Vapi's assistant-request): what it may say to a caller known only
-- by the number that called. Nothing clinical: the first name, the language, and the next
-- appointment's time and doctor; nothing at all for a number several patients (or none)
-- carry. Security definer: the service role's read, with only these fields out.
create function private.voice_caller_context(phone text)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    carriers uuid[];
    patient public.patients;
    next_visit record;
begin
    if phone is null or phone !~ '^\+[1-9][0-9]{6,14}$' then
        return '{}';
    end if;
    select coalesce(array_agg(p.id), '{}') into carriers
    from public.patients as p
    where p.phone = voice_caller_context.phone::public.phone_e164 and p.deleted_at is null and p.merged_into is null;
    if cardinality(carriers) <> 1 then
        return '{}';
    end if;
    select p.* into patient from public.patients as p where p.id = carriers[1];
    select a.starts_at, pr.full_name as doctor_name into next_visit
    from public.appointments as a
    join public.doctors as d on d.id = a.doctor_id
    join public.profiles as pr on pr.id = d.user_id
    where a.patient_id = patient.id and a.starts_at > now()
        and a.status in ('requested', 'scheduled')
    order by a.starts_at
    limit 1;
    return jsonb_strip_nulls(jsonb_build_object(
        'first_name', split_part(btrim(patient.full_name), ' ', 1),
        'language', patient.preferred_language,
        'next_appointment_at', next_visit.starts_at,
        'next_appointment_doctor', next_visit.doctor_name
    ));
end;
$$;

grant execute on function private.voice_caller_context(text) to service_role;

-- RPC: POST /rest/v1/rpc/voice_caller_context {"phone": "+91..."} (the sidecar, service role).
create function public.voice_caller_context(phone text)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select private.voice_caller_context(voice_caller_context.phone);
$$;

revoke execute on function public.voice_caller_context(text) from authenticated;
grant execute on function public.voice_caller_context(text) to service_role;

comment on function public.voice_caller_context(text) is
'Service role only (the sidecar answering Vapi''s assistant-request): what the voice agent may '
'say to a caller known only by their number: {first_name, language, next_appointment_at, '
'next_appointment_doctor}; {} when no patient, or several, carry the number.';

-- What was said is an encrypted column (rotated with the field keys, written only through
-- private.encrypt_field) and rpc/voice_session a clinical disclosure (logged per patient).
insert into private.encrypted_columns (table_name, column_name)
values ('public.ai_sessions', 'content_encrypted');

insert into private.audited_resources (resource, read_with)
values ('rpc/voice_session', 'POST /rest/v1/rpc/voice_session');

-- The sweep for reports Vapi never delivered (sidecar/jobs/voice_sweep.py): of these ended
-- calls, those without a recorded report. Security definer: reads sessions for the service role.
create function private.voice_calls_without_report(call_ids text[])
returns text[]
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(array_agg(c.id order by c.id), '{}')
    from unnest(call_ids) as c (id)
    where not exists (
        select from public.ai_sessions as s
        where s.channel = 'voice' and s.external_id = c.id and s.content_encrypted is not null
    );
$$;

-- RPC: POST /rest/v1/rpc/voice_calls_without_report {"call_ids": [...]} (the sidecar's sweep).
create function public.voice_calls_without_report(call_ids text[])
returns text[]
language sql
stable
set search_path = ''
as $$
    select private.voice_calls_without_report(voice_calls_without_report.call_ids);
$$;

grant execute on function private.voice_calls_without_report(text[]) to service_role;
revoke execute on function public.voice_calls_without_report(text[]) from authenticated;
grant execute on function public.voice_calls_without_report(text[]) to service_role;

comment on function public.voice_calls_without_report(text[]) is
'Service role only (the sidecar''s sweep): which of these Vapi call ids have no recorded '
'end-of-call report yet.';
