-- The copilot's store (issue 15, items 3 and 4): the app's command box keeps each conversation
-- as a session in ai_sessions (channel copilot, beside the voice agent's calls), with its
-- messages, the tool calls the model made, and the writes it proposed, which run only once the
-- user confirms them.
--
-- The sidecar calls these RPCs with the user's own JWT (never the service role): each one
-- checks that the session belongs to the caller (auth.uid()). Another user's session or action
-- is "not found", never "forbidden", so that its existence is not revealed. The API roles
-- write none of these tables directly; the RPCs do (security definer, noted at each).
--
-- What was said, the arguments of tool calls and the summaries of proposed actions can hold
-- health information: they are encrypted (private.encrypt_field) and read in clear only
-- through rpc/copilot_session_history and rpc/copilot_decide_action, by the session's owner,
-- and each such read is logged. The rest (who, when, which tool, how it ended, token counts)
-- is read under RLS by the owner, and by the admins of the hospital the session was opened at
-- for a staff member's session (for audit; never the content).

-- Sessions ------------------------------------------------------------------------------------

alter table public.ai_sessions
alter column external_id drop not null,
add column user_id uuid references public.profiles (id) default auth.uid(),
add column started_roles public.app_role[],
add column session_status text,
add column input_tokens bigint not null default 0,
add column output_tokens bigint not null default 0,
add column last_activity_at timestamptz,
add constraint ai_sessions_voice_has_external_id check (channel <> 'voice' or external_id is not null),
add constraint ai_sessions_status_known check (session_status in ('open', 'closed')),
add constraint ai_sessions_copilot_has_owner check (
    channel <> 'copilot'
    or (
        user_id is not null and cardinality(started_roles) > 0 and session_status is not null
        and started_at is not null and last_activity_at is not null
    )
),
add constraint ai_sessions_only_copilot_has_owner check (channel = 'copilot' or user_id is null),
add constraint ai_sessions_tokens_not_negative check (input_tokens >= 0 and output_tokens >= 0);

-- A user's own sessions, most recently active first.
create index ai_sessions_user_idx on public.ai_sessions (user_id, last_activity_at desc);

grant select (user_id, started_roles, session_status, input_tokens, output_tokens, last_activity_at)
on public.ai_sessions to authenticated;

-- One select policy for both channels: the voice rule as it was; a copilot session is its
-- owner's (a patient's included), and its metadata is the audit's of the admins of the
-- hospital a staff member opened it at.
drop policy ai_sessions_select_patient_staff_or_care_team on public.ai_sessions;

create policy ai_sessions_select_by_channel on public.ai_sessions
for select to authenticated
using (
    (
        channel = 'voice'
        and (
            (patient_id is not null and patient_id = private.own_patient_id())
            or hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}'))
            or (patient_id is not null and private.on_care_team(patient_id, hospital_id))
        )
    )
    or (
        channel = 'copilot'
        and (
            user_id = (select auth.uid())
            or (
                hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
                and not started_roles @> '{patient}'
            )
        )
    )
);

comment on policy ai_sessions_select_by_channel on public.ai_sessions is
'Voice: the patient reads their own sessions; the front desk, CROs and admins of the line''s '
'hospital its sessions; the patient''s care team at that hospital theirs. Copilot: the owner '
'reads their own (a patient''s are theirs only); the admins of the hospital a staff member '
'opened one at read it for audit (not what was said).';

comment on table public.ai_sessions is
'AI sessions: calls to the voice agent (channel voice) and conversations in the app''s copilot '
'(channel copilot). Who, when, how long, how it ended and to whom it is attached; what was said '
'is read with rpc/voice_session or rpc/copilot_session_history (logged). Voice: read by the '
'patient (their own), the front desk, CROs and admins of the line''s hospital, and the '
'patient''s care team there; sessions needing a person (attention not null) are the front '
'desk''s to resolve. Copilot: written only by the copilot_* RPCs; read by their owner and, for '
'staff, the admins of the session''s hospital.';
comment on column public.ai_sessions.hospital_id is
'Voice: the hospital of the line that was called (null: a line not known to carebase). '
'Copilot: the hospital the staff member works at in this session (null: a patient''s session).';
comment on column public.ai_sessions.patient_id is
'The patient the session is about (voice; null: not yet known, see attention); a patient''s own '
'record for their copilot session (null for staff).';
comment on column public.ai_sessions.external_id is
'Vapi''s call id (voice, required): one session per call. Null for copilot sessions.';
comment on column public.ai_sessions.content_encrypted is
'Encrypted (private.encrypt_field). Voice: what was said, read with rpc/voice_session. Copilot: '
'{"summary": ...}, read with rpc/copilot_session_history.';
comment on column public.ai_sessions.user_id is 'Copilot: the user who typed (the session''s owner).';
comment on column public.ai_sessions.started_roles is
'Copilot: the owner''s roles at the hospital when the session opened ({patient} for a patient): '
'what chose its tool set.';
comment on column public.ai_sessions.session_status is
'Copilot: open (turns are recorded), closed (rpc/copilot_close_session; nothing more is added).';
comment on column public.ai_sessions.input_tokens is 'Copilot: input tokens spent so far (the per-session budget).';
comment on column public.ai_sessions.output_tokens is 'Copilot: output tokens spent so far.';
comment on column public.ai_sessions.last_activity_at is 'Copilot: when the last turn or action was recorded.';

-- The voice agent's reader reads only voice sessions: a copilot session of a hospital's staff
-- is not the front desk's to read.
create or replace function private.read_voice_session(session_id uuid)
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
    select s.* into session from public.ai_sessions as s
    where s.id = read_voice_session.session_id and s.channel = 'voice';
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

-- Messages, tool calls, pending actions ---------------------------------------------------------

create table public.ai_messages (
    id uuid primary key default gen_random_uuid(),
    session_id uuid not null references public.ai_sessions (id),
    seq integer not null,
    role text not null,
    content_encrypted bytea not null,
    input_tokens integer,
    output_tokens integer,
    created_at timestamptz not null default now(),
    constraint ai_messages_seq_once unique (session_id, seq),
    constraint ai_messages_role_known check (role in ('user', 'assistant')),
    constraint ai_messages_seq_positive check (seq > 0),
    constraint ai_messages_tokens_not_negative check (input_tokens >= 0 and output_tokens >= 0)
);

create table public.ai_pending_actions (
    id uuid primary key default gen_random_uuid(),
    session_id uuid not null references public.ai_sessions (id),
    tool text not null,
    arguments_encrypted bytea not null,
    arguments_hash text not null,
    summary_encrypted bytea not null,
    status text not null default 'pending',
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    decided_at timestamptz,
    decided_by uuid references public.profiles (id),
    finished_at timestamptz,
    outcome jsonb,
    constraint ai_pending_actions_status_known check (
        status in ('pending', 'confirmed', 'rejected', 'expired', 'failed', 'done')
    ),
    constraint ai_pending_actions_tool_named check (tool ~ '^[a-z][a-z0-9_]{0,63}$'),
    constraint ai_pending_actions_hash_sha256 check (arguments_hash ~ '^[0-9a-f]{64}$'),
    constraint ai_pending_actions_expires_after_creation check (expires_at > created_at),
    constraint ai_pending_actions_decided_when_decided check (
        (status in ('pending', 'expired')) = (decided_at is null)
        and (decided_at is null) = (decided_by is null)
    ),
    constraint ai_pending_actions_finished_when_run check ((status in ('done', 'failed')) = (finished_at is not null))
);

create table public.ai_tool_calls (
    id uuid primary key default gen_random_uuid(),
    session_id uuid not null references public.ai_sessions (id),
    message_id uuid not null references public.ai_messages (id),
    seq integer not null,
    tool text not null,
    arguments_encrypted bytea not null,
    read_only boolean not null,
    outcome text not null,
    code text,
    row_count integer,
    duration_ms integer,
    action_id uuid references public.ai_pending_actions (id),
    created_at timestamptz not null default now(),
    constraint ai_tool_calls_seq_once unique (session_id, seq),
    constraint ai_tool_calls_tool_named check (tool ~ '^[a-z][a-z0-9_]{0,63}$'),
    constraint ai_tool_calls_outcome_known check (outcome in ('ok', 'proposed', 'refused', 'error')),
    constraint ai_tool_calls_code_when_not_ok check ((outcome in ('refused', 'error')) = (code is not null)),
    constraint ai_tool_calls_counts_not_negative check (row_count >= 0 and duration_ms >= 0),
    -- A write never runs in the model loop: it is proposed, and runs on confirmation.
    constraint ai_tool_calls_writes_are_proposed check (read_only or outcome in ('proposed', 'refused', 'error')),
    constraint ai_tool_calls_proposed_names_action check ((outcome = 'proposed') = (action_id is not null))
);

create index ai_messages_session_idx on public.ai_messages (session_id, seq);
create index ai_tool_calls_message_idx on public.ai_tool_calls (message_id);
create index ai_tool_calls_action_idx on public.ai_tool_calls (action_id);
create index ai_pending_actions_session_idx on public.ai_pending_actions (session_id, created_at);
create index ai_pending_actions_decided_by_idx on public.ai_pending_actions (decided_by);

alter table public.ai_messages enable row level security;
alter table public.ai_tool_calls enable row level security;
alter table public.ai_pending_actions enable row level security;
revoke all on public.ai_messages, public.ai_tool_calls, public.ai_pending_actions
from anon, authenticated, service_role;
-- Every column but the ciphertexts, read through the logged RPCs.
grant select (id, session_id, seq, role, input_tokens, output_tokens, created_at)
on public.ai_messages to authenticated;
grant select (
    id, session_id, message_id, seq, tool, read_only, outcome, code, row_count, duration_ms, action_id, created_at
) on public.ai_tool_calls to authenticated;
grant select (
    id, session_id, tool, arguments_hash, status, created_at, expires_at, decided_at, decided_by, finished_at,
    outcome
) on public.ai_pending_actions to authenticated;
grant select on public.ai_messages, public.ai_tool_calls, public.ai_pending_actions to service_role;

-- A row is read by whoever may read its session (the session's policy decides).
create policy ai_messages_select_with_session on public.ai_messages
for select to authenticated
using (exists (
    select from public.ai_sessions as s
    where s.id = ai_messages.session_id
));

create policy ai_tool_calls_select_with_session on public.ai_tool_calls
for select to authenticated
using (exists (
    select from public.ai_sessions as s
    where s.id = ai_tool_calls.session_id
));

create policy ai_pending_actions_select_with_session on public.ai_pending_actions
for select to authenticated
using (exists (
    select from public.ai_sessions as s
    where s.id = ai_pending_actions.session_id
));

-- A decision is part of the record: who confirmed what, and when (arguments never in clear).
create trigger audit_row_change
after insert or update or delete on public.ai_pending_actions
for each row execute function private.audit_row_change('', 'arguments_encrypted', 'summary_encrypted');

insert into private.encrypted_columns (table_name, column_name)
values
('public.ai_messages', 'content_encrypted'),
('public.ai_tool_calls', 'arguments_encrypted'),
('public.ai_pending_actions', 'arguments_encrypted'),
('public.ai_pending_actions', 'summary_encrypted');

comment on table public.ai_messages is
'The messages of a copilot session, in order: what the user typed and what the assistant answered. '
'Written by rpc/copilot_record_turn; the text is read with rpc/copilot_session_history (the owner, '
'logged). Read (without the text) by whoever may read the session.';
comment on column public.ai_messages.seq is 'The message''s place in its session (1, 2, ...).';
comment on column public.ai_messages.role is 'user (what was typed) or assistant (the answer).';
comment on column public.ai_messages.content_encrypted is
'The text, encrypted (private.encrypt_field): read with rpc/copilot_session_history.';
comment on column public.ai_messages.input_tokens is 'Assistant messages: the input tokens the turn spent.';
comment on column public.ai_messages.output_tokens is 'Assistant messages: the output tokens the turn spent.';
comment on policy ai_messages_select_with_session on public.ai_messages is
'Whoever may read the session reads its messages (not their text).';

comment on table public.ai_tool_calls is
'The tool calls the copilot''s model made in a session: which tool, read-only or not, how it ended. '
'Written by rpc/copilot_record_turn; the arguments are read with rpc/copilot_session_history. Read '
'(without the arguments) by whoever may read the session.';
comment on column public.ai_tool_calls.message_id is
'The message of the turn: its answer, or what was typed when the turn ended without one.';
comment on column public.ai_tool_calls.seq is 'The call''s place in its session (1, 2, ...).';
comment on column public.ai_tool_calls.arguments_encrypted is
'The arguments (JSON), encrypted (private.encrypt_field): read with rpc/copilot_session_history.';
comment on column public.ai_tool_calls.read_only is
'true: a read that ran at once; false: a write, which never runs in the model loop (proposed).';
comment on column public.ai_tool_calls.outcome is
'ok (ran), proposed (a write waiting for confirmation: action_id), refused (the API refused it, '
'see code), error (it failed, see code).';
comment on column public.ai_tool_calls.code is 'Why it was refused or failed (e.g. PT404, not_in_care_team, timeout).';
comment on column public.ai_tool_calls.row_count is 'How many rows the tool answered.';
comment on column public.ai_tool_calls.duration_ms is 'How long the call took, in milliseconds.';
comment on column public.ai_tool_calls.action_id is 'The pending action a proposed write became.';

comment on table public.ai_pending_actions is
'Writes the copilot proposed: they run only when the session''s owner confirms them (once, before '
'they expire), with the owner''s rights at that moment. Written by rpc/copilot_propose_action, '
'rpc/copilot_decide_action and rpc/copilot_finish_action; read (without arguments and summary) by '
'whoever may read the session.';
comment on column public.ai_pending_actions.tool is 'The tool that would run (a write).';
comment on column public.ai_pending_actions.arguments_encrypted is
'The tool''s arguments (JSON), encrypted (private.encrypt_field): handed back by '
'rpc/copilot_decide_action on confirmation.';
comment on column public.ai_pending_actions.arguments_hash is
'sha256 (hex) of the arguments as Postgres prints the jsonb: what was shown is what runs.';
comment on column public.ai_pending_actions.summary_encrypted is
'What the action does, in words shown to the user, encrypted (private.encrypt_field).';
comment on column public.ai_pending_actions.status is
'pending (waiting for the owner) -> confirmed (to run) -> done | failed (rpc/copilot_finish_action); '
'pending -> rejected; pending -> expired (not decided before expires_at; so marked at the session''s '
'next write, and refused confirmation at once).';
comment on column public.ai_pending_actions.expires_at is 'After this, it can no longer be confirmed.';
comment on column public.ai_pending_actions.decided_at is 'When the owner confirmed or rejected it.';
comment on column public.ai_pending_actions.decided_by is 'Who decided (the session''s owner).';
comment on column public.ai_pending_actions.finished_at is 'When running it was recorded.';
comment on column public.ai_pending_actions.outcome is
'What running it did, as the sidecar recorded it (ids, the API''s answer or refusal).';
comment on policy ai_tool_calls_select_with_session on public.ai_tool_calls is
'Whoever may read the session reads its tool calls (not their arguments).';
comment on policy ai_pending_actions_select_with_session on public.ai_pending_actions is
'Whoever may read the session reads its pending actions (not their arguments or summary).';

-- The RPCs ---------------------------------------------------------------------------------------

-- The caller's open copilot session, locked for the write; 404 when it is not theirs (or not a
-- copilot session), 409 session_closed when closed. Security definer: ai_sessions grants the
-- API roles no update; called only by the copilot RPCs, which are security definer.
create function private.copilot_own_session(session_id uuid, for_write boolean default true)
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
    where s.id = copilot_own_session.session_id and s.channel = 'copilot' and s.user_id = (select auth.uid())
    for update;
    if session.id is null then
        perform private.raise_not_found('no such copilot session', detail => 'session_not_found');
    end if;
    if for_write and session.session_status <> 'open' then
        perform private.raise_conflict(
            'this copilot session is closed', detail => 'session_closed', hint => 'open a new session'
        );
    end if;
    -- Actions nobody decided in time are expired from now on.
    update public.ai_pending_actions as a
    set status = 'expired'
    where a.session_id = session.id and a.status = 'pending' and a.expires_at <= now();
    return session;
end;
$$;

-- The caller's pending action, locked, with its session (the caller's); 404 otherwise.
-- Security definer: the API roles read no ciphertext and write nothing here.
create function private.copilot_own_action(action_id uuid)
returns public.ai_pending_actions
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    action public.ai_pending_actions;
begin
    select a.* into action
    from public.ai_pending_actions as a
    join public.ai_sessions as s on s.id = a.session_id
    where a.id = copilot_own_action.action_id and s.channel = 'copilot' and s.user_id = (select auth.uid())
    for update of a;
    if action.id is null then
        perform private.raise_not_found('no such pending action', detail => 'action_not_found');
    end if;
    return action;
end;
$$;

-- What a session looks like to its owner (no content).
create function private.copilot_session_json(session public.ai_sessions)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select jsonb_build_object(
        'id', session.id, 'channel', session.channel, 'hospital_id', session.hospital_id,
        'patient_id', session.patient_id, 'user_id', session.user_id, 'roles', to_jsonb(session.started_roles),
        'status', session.session_status, 'input_tokens', session.input_tokens, 'output_tokens', session.output_tokens,
        'started_at', session.started_at, 'last_activity_at', session.last_activity_at, 'ended_at', session.ended_at
    );
$$;

-- Opens a session for the caller: at a hospital where they are staff (their roles there), or,
-- without one, as a patient (their own record). Security definer: writes ai_sessions.
create function private.copilot_open_session(hospital_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    caller constant uuid := (select auth.uid());
    roles public.app_role [];
    patient uuid;
    session public.ai_sessions;
begin
    if caller is null then
        perform private.raise_forbidden('sign in to use the copilot', detail => 'not_signed_in');
    end if;
    if copilot_open_session.hospital_id is not null then
        select coalesce(array_agg(distinct m.role order by m.role), '{}') into roles
        from public.staff_memberships as m
        join public.hospitals as h on h.id = m.hospital_id
        where m.user_id = caller and m.hospital_id = copilot_open_session.hospital_id and m.is_active and h.is_active;
        if cardinality(roles) = 0 then
            perform private.raise_not_found(
                'no such hospital among those you work at', detail => 'hospital_not_found',
                hint => 'patients open a session without a hospital'
            );
        end if;
    else
        patient := private.own_patient_id();
        if patient is null then
            perform private.raise_invalid(
                'name the hospital you work at for this session', detail => 'hospital_required'
            );
        end if;
        roles := '{patient}';
    end if;
    insert into public.ai_sessions (
        channel, hospital_id, patient_id, user_id, started_roles, session_status, started_at, last_activity_at
    )
    values ('copilot', copilot_open_session.hospital_id, patient, caller, roles, 'open', now(), now())
    returning * into session;
    return private.copilot_session_json(session);
end;
$$;

-- Appends one turn: what the user typed, the answer (null when the turn ended without one:
-- the upstream failed or timed out), the tool calls made in between, the tokens spent, and
-- optionally a new summary. One transaction: all of it or nothing. Security definer: writes
-- the session's tables and encrypts.
create function private.copilot_record_turn(
    session_id uuid,
    user_message text,
    assistant_message text,
    tool_calls jsonb,
    input_tokens integer,
    output_tokens integer,
    summary text
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    session public.ai_sessions := private.copilot_own_session(copilot_record_turn.session_id);
    next_seq integer;
    next_call integer;
    asked_id uuid;
    answer_id uuid;
    call jsonb;
    call_ids uuid[] := '{}';
    call_id uuid;
begin
    if nullif(btrim(coalesce(user_message, '')), '') is null then
        perform private.raise_invalid('the turn has no user message', detail => 'message_missing');
    end if;
    if coalesce(input_tokens, 0) < 0 or coalesce(output_tokens, 0) < 0 then
        perform private.raise_invalid('token counts cannot be negative', detail => 'tokens_invalid');
    end if;
    if jsonb_typeof(coalesce(tool_calls, '[]')) <> 'array' then
        perform private.raise_invalid('tool_calls must be an array', detail => 'tool_calls_malformed');
    end if;
    select coalesce(max(m.seq), 0) + 1 into next_seq from public.ai_messages as m where m.session_id = session.id;
    select coalesce(max(c.seq), 0) + 1 into next_call from public.ai_tool_calls as c where c.session_id = session.id;

    insert into public.ai_messages (session_id, seq, role, content_encrypted)
    values (session.id, next_seq, 'user', private.encrypt_field(user_message))
    returning id into asked_id;
    if assistant_message is not null then
        insert into public.ai_messages (session_id, seq, role, content_encrypted, input_tokens, output_tokens)
        values (
            session.id, next_seq + 1, 'assistant', private.encrypt_field(assistant_message),
            coalesce(input_tokens, 0), coalesce(output_tokens, 0)
        )
        returning id into answer_id;
    end if;

    for call in select c.value from jsonb_array_elements(coalesce(tool_calls, '[]')) as c loop
        if jsonb_typeof(call) is distinct from 'object'
            or jsonb_typeof(call -> 'tool') is distinct from 'string'
            or jsonb_typeof(call -> 'read_only') is distinct from 'boolean'
            or jsonb_typeof(call -> 'outcome') is distinct from 'string'
            or coalesce(jsonb_typeof(call -> 'arguments'), 'object') <> 'object' then
            perform private.raise_invalid(
                'each tool call is {tool, arguments, read_only, outcome, code, row_count, duration_ms, action_id}',
                detail => 'tool_calls_malformed'
            );
        end if;
        if call ? 'action_id' and not exists (
            select from public.ai_pending_actions as a
            where a.id::text = call ->> 'action_id' and a.session_id = session.id
        ) then
            perform private.raise_invalid(
                'a tool call names a pending action of another session', detail => 'action_not_in_session'
            );
        end if;
        insert into public.ai_tool_calls (
            session_id, message_id, seq, tool, arguments_encrypted, read_only, outcome, code, row_count,
            duration_ms, action_id
        )
        values (
            session.id, coalesce(answer_id, asked_id), next_call, call ->> 'tool',
            private.encrypt_field(coalesce(call -> 'arguments', '{}')::text), (call ->> 'read_only')::boolean,
            call ->> 'outcome', call ->> 'code', (call ->> 'row_count')::integer, (call ->> 'duration_ms')::integer,
            (call ->> 'action_id')::uuid
        )
        returning id into call_id;
        call_ids := call_ids || call_id;
        next_call := next_call + 1;
    end loop;

    update public.ai_sessions as s
    set
        input_tokens = s.input_tokens + coalesce(copilot_record_turn.input_tokens, 0),
        output_tokens = s.output_tokens + coalesce(copilot_record_turn.output_tokens, 0),
        last_activity_at = now(),
        content_encrypted = case
            when copilot_record_turn.summary is null then s.content_encrypted
            else private.encrypt_field(jsonb_build_object('summary', copilot_record_turn.summary)::text)
        end
    where s.id = session.id
    returning * into session;
    return jsonb_build_object(
        'session', private.copilot_session_json(session),
        'user_message_id', asked_id, 'assistant_message_id', answer_id, 'tool_call_ids', to_jsonb(call_ids)
    );
exception
    when check_violation or not_null_violation or invalid_text_representation or numeric_value_out_of_range then
    perform private.raise_invalid(
        'a tool call is malformed: ' || sqlerrm, detail => 'tool_calls_malformed',
        hint => 'tool: a lower-case name; outcome: ok, proposed (with action_id, writes), refused or error '
        || '(with code); a write (read_only false) is never ok'
    );
end;
$$;

-- Closes a session (nothing more is added), with an optional final summary.
-- Security definer: writes ai_sessions.
create function private.copilot_close_session(session_id uuid, summary text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    session public.ai_sessions := private.copilot_own_session(copilot_close_session.session_id, false);
begin
    update public.ai_sessions as s
    set
        session_status = 'closed',
        ended_at = coalesce(s.ended_at, now()),
        last_activity_at = now(),
        content_encrypted = case
            when copilot_close_session.summary is null then s.content_encrypted
            else private.encrypt_field(jsonb_build_object('summary', copilot_close_session.summary)::text)
        end
    where s.id = session.id
    returning * into session;
    return private.copilot_session_json(session);
end;
$$;

-- Everything the owner said and was answered in a session, in clear: messages, tool calls with
-- their arguments, pending actions with their summaries, and the summary. The owner only
-- (staff at aal2: a copilot turn can carry clinical content). Each read is a READ entry.
-- Security definer: decrypts and appends to the audit trail.
create function private.copilot_session_history(session_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    session public.ai_sessions := private.copilot_own_session(copilot_session_history.session_id, false);
begin
    perform private.require_phi_aal2(session.patient_id);
    perform private.audit_append(
        'READ', 'public.ai_messages', session.id::text, session.hospital_id, session.patient_id,
        '{content_encrypted}', details => '{"via": "rpc/copilot_session_history"}'
    );
    return private.copilot_session_json(session) || jsonb_build_object(
        'summary', private.decrypt_field(session.content_encrypted)::jsonb ->> 'summary',
        'messages', coalesce((
            select jsonb_agg(jsonb_build_object(
                'id', m.id, 'seq', m.seq, 'role', m.role, 'content', private.decrypt_field(m.content_encrypted),
                'input_tokens', m.input_tokens, 'output_tokens', m.output_tokens, 'created_at', m.created_at
            ) order by m.seq)
            from public.ai_messages as m where m.session_id = session.id
        ), '[]'),
        'tool_calls', coalesce((
            select jsonb_agg(jsonb_build_object(
                'id', c.id, 'seq', c.seq, 'message_id', c.message_id, 'tool', c.tool,
                'arguments', private.decrypt_field(c.arguments_encrypted)::jsonb, 'read_only', c.read_only,
                'outcome', c.outcome, 'code', c.code, 'row_count', c.row_count, 'duration_ms', c.duration_ms,
                'action_id', c.action_id, 'created_at', c.created_at
            ) order by c.seq)
            from public.ai_tool_calls as c where c.session_id = session.id
        ), '[]'),
        'actions', coalesce((
            select jsonb_agg(jsonb_build_object(
                'id', a.id, 'tool', a.tool, 'summary', private.decrypt_field(a.summary_encrypted),
                'arguments', private.decrypt_field(a.arguments_encrypted)::jsonb, 'arguments_hash', a.arguments_hash,
                'status', a.status, 'created_at', a.created_at, 'expires_at', a.expires_at,
                'decided_at', a.decided_at, 'finished_at', a.finished_at, 'outcome', a.outcome
            ) order by a.created_at, a.id)
            from public.ai_pending_actions as a where a.session_id = session.id
        ), '[]')
    );
end;
$$;

-- The longest a proposed action waits for its confirmation.
create function private.copilot_action_ttl_cap()
returns interval
language sql
immutable
set search_path = ''
return interval '30 minutes';

-- What an action looks like to its owner, without its arguments or summary.
create function private.copilot_action_json(action public.ai_pending_actions)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select jsonb_build_object(
        'id', action.id, 'session_id', action.session_id, 'tool', action.tool,
        'arguments_hash', action.arguments_hash, 'status', action.status, 'created_at', action.created_at,
        'expires_at', action.expires_at, 'decided_at', action.decided_at, 'decided_by', action.decided_by,
        'finished_at', action.finished_at, 'outcome', action.outcome
    );
$$;

-- Records a write the model asked for, to run only on the owner's confirmation, within
-- ttl_seconds (the caller's setting, capped). Security definer: writes and encrypts.
create function private.copilot_propose_action(
    session_id uuid, tool text, arguments jsonb, summary text, ttl_seconds integer
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    session public.ai_sessions := private.copilot_own_session(copilot_propose_action.session_id);
    action public.ai_pending_actions;
begin
    if tool is null or tool !~ '^[a-z][a-z0-9_]{0,63}$' then
        perform private.raise_invalid('the tool must be named in lower case (a-z, 0-9, _)', detail => 'tool_invalid');
    end if;
    if jsonb_typeof(arguments) is distinct from 'object' then
        perform private.raise_invalid('the arguments must be a JSON object', detail => 'arguments_invalid');
    end if;
    if nullif(btrim(coalesce(summary, '')), '') is null then
        perform private.raise_invalid('say what the action does (summary)', detail => 'summary_missing');
    end if;
    if coalesce(ttl_seconds, 0) <= 0 then
        perform private.raise_invalid('ttl_seconds must be positive', detail => 'ttl_invalid');
    end if;
    insert into public.ai_pending_actions (
        session_id, tool, arguments_encrypted, arguments_hash, summary_encrypted, expires_at
    )
    values (
        session.id, tool, private.encrypt_field(arguments::text),
        encode(extensions.digest(convert_to(arguments::text, 'UTF8'), 'sha256'), 'hex'),
        private.encrypt_field(summary),
        now() + least(make_interval(secs => ttl_seconds), private.copilot_action_ttl_cap())
    )
    returning * into action;
    update public.ai_sessions as s set last_activity_at = now() where s.id = session.id;
    return private.copilot_action_json(action);
end;
$$;

-- The owner confirms or rejects a pending action. The first decision wins (the row is locked):
-- a decision like the one made returns what is known (first: false, the outcome once
-- recorded), so that the caller never runs it twice; the other decision is 409
-- (action_rejected, action_confirmed), and so is any decision after expires_at
-- (action_expired). A first confirmation hands back the arguments to run, and is logged as a
-- READ of them. Security definer: writes, decrypts, appends to the audit trail.
create function private.copilot_decide_action(action_id uuid, decision text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    action public.ai_pending_actions;
    session public.ai_sessions;
    wanted text := case decision when 'confirm' then 'confirmed' when 'reject' then 'rejected' end;
begin
    if wanted is null then
        perform private.raise_invalid('decision is confirm or reject', detail => 'decision_invalid');
    end if;
    action := private.copilot_own_action(copilot_decide_action.action_id);
    if action.status = 'expired' or (action.status = 'pending' and action.expires_at <= now()) then
        perform private.raise_conflict(
            'this action expired before it was decided', detail => 'action_expired',
            hint => 'ask the copilot again'
        );
    end if;
    if action.status <> 'pending' then
        if (wanted = 'confirmed' and action.status in ('confirmed', 'done', 'failed'))
            or (wanted = 'rejected' and action.status = 'rejected') then
            return private.copilot_action_json(action) || jsonb_build_object('first', false);
        end if;
        perform private.raise_conflict(
            format('this action was already %s', case action.status when 'rejected' then 'rejected' else 'confirmed' end),
            detail => case action.status when 'rejected' then 'action_rejected' else 'action_confirmed' end
        );
    end if;
    select s.* into session from public.ai_sessions as s where s.id = action.session_id;
    if session.session_status <> 'open' then
        perform private.raise_conflict('this copilot session is closed', detail => 'session_closed');
    end if;
    update public.ai_pending_actions as a
    set status = wanted, decided_at = now(), decided_by = (select auth.uid())
    where a.id = action.id
    returning * into action;
    update public.ai_sessions as s set last_activity_at = now() where s.id = session.id;
    if wanted = 'rejected' then
        return private.copilot_action_json(action) || jsonb_build_object('first', true);
    end if;
    perform private.audit_append(
        'READ', 'public.ai_pending_actions', action.id::text, session.hospital_id, session.patient_id,
        '{arguments_encrypted}', details => '{"via": "rpc/copilot_decide_action"}'
    );
    return private.copilot_action_json(action) || jsonb_build_object(
        'first', true,
        'arguments', private.decrypt_field(action.arguments_encrypted)::jsonb,
        'summary', private.decrypt_field(action.summary_encrypted)
    );
end;
$$;

-- Records what running a confirmed action did: once, only after confirmation.
-- Security definer: writes ai_pending_actions.
create function private.copilot_finish_action(action_id uuid, outcome jsonb, ok boolean)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    action public.ai_pending_actions;
begin
    if ok is null then
        perform private.raise_invalid('say whether it ran (ok)', detail => 'ok_missing');
    end if;
    action := private.copilot_own_action(copilot_finish_action.action_id);
    if action.status in ('done', 'failed') then
        perform private.raise_conflict('what this action did is already recorded', detail => 'action_finished');
    end if;
    if action.status <> 'confirmed' then
        perform private.raise_conflict('this action was not confirmed', detail => 'action_not_confirmed');
    end if;
    update public.ai_pending_actions as a
    set
        status = case when copilot_finish_action.ok then 'done' else 'failed' end,
        finished_at = now(),
        outcome = coalesce(copilot_finish_action.outcome, '{}')
    where a.id = action.id
    returning * into action;
    update public.ai_sessions as s set last_activity_at = now() where s.id = action.session_id;
    return private.copilot_action_json(action);
end;
$$;

grant execute on function private.copilot_own_session(uuid, boolean) to authenticated;
grant execute on function private.copilot_own_action(uuid) to authenticated;
grant execute on function private.copilot_session_json(public.ai_sessions) to authenticated;
grant execute on function private.copilot_action_json(public.ai_pending_actions) to authenticated;
grant execute on function private.copilot_action_ttl_cap() to authenticated;
grant execute on function private.copilot_open_session(uuid) to authenticated;
grant execute on function private.copilot_record_turn(uuid, text, text, jsonb, integer, integer, text)
to authenticated;
grant execute on function private.copilot_close_session(uuid, text) to authenticated;
grant execute on function private.copilot_session_history(uuid) to authenticated;
grant execute on function private.copilot_propose_action(uuid, text, jsonb, text, integer) to authenticated;
grant execute on function private.copilot_decide_action(uuid, text) to authenticated;
grant execute on function private.copilot_finish_action(uuid, jsonb, boolean) to authenticated;

-- RPC: POST /rest/v1/rpc/copilot_open_session {"hospital_id": ...} (the sidecar, user's JWT).
create function public.copilot_open_session(hospital_id uuid default null)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.copilot_open_session(copilot_open_session.hospital_id);
$$;

-- RPC: POST /rest/v1/rpc/copilot_record_turn {...} (the sidecar, user's JWT).
create function public.copilot_record_turn(
    session_id uuid,
    user_message text,
    assistant_message text default null,
    tool_calls jsonb default '[]',
    input_tokens integer default 0,
    output_tokens integer default 0,
    summary text default null
)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.copilot_record_turn(
        copilot_record_turn.session_id, copilot_record_turn.user_message, copilot_record_turn.assistant_message,
        copilot_record_turn.tool_calls, copilot_record_turn.input_tokens, copilot_record_turn.output_tokens,
        copilot_record_turn.summary
    );
$$;

-- RPC: POST /rest/v1/rpc/copilot_close_session {"session_id": ..., "summary": ...}.
create function public.copilot_close_session(session_id uuid, summary text default null)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.copilot_close_session(copilot_close_session.session_id, copilot_close_session.summary);
$$;

-- RPC: POST /rest/v1/rpc/copilot_session_history {"session_id": ...} (logged).
create function public.copilot_session_history(session_id uuid)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.copilot_session_history(copilot_session_history.session_id);
$$;

-- RPC: POST /rest/v1/rpc/copilot_propose_action {...} (the sidecar, user's JWT).
create function public.copilot_propose_action(
    session_id uuid, tool text, arguments jsonb, summary text, ttl_seconds integer default 600
)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.copilot_propose_action(
        copilot_propose_action.session_id, copilot_propose_action.tool, copilot_propose_action.arguments,
        copilot_propose_action.summary, copilot_propose_action.ttl_seconds
    );
$$;

-- RPC: POST /rest/v1/rpc/copilot_decide_action {"action_id": ..., "decision": "confirm"}.
create function public.copilot_decide_action(action_id uuid, decision text)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.copilot_decide_action(copilot_decide_action.action_id, copilot_decide_action.decision);
$$;

-- RPC: POST /rest/v1/rpc/copilot_finish_action {"action_id": ..., "outcome": {...}, "ok": true}.
create function public.copilot_finish_action(action_id uuid, outcome jsonb, ok boolean)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.copilot_finish_action(
        copilot_finish_action.action_id, copilot_finish_action.outcome, copilot_finish_action.ok
    );
$$;

grant execute on function public.copilot_open_session(uuid) to authenticated;
grant execute on function public.copilot_record_turn(uuid, text, text, jsonb, integer, integer, text) to authenticated;
grant execute on function public.copilot_close_session(uuid, text) to authenticated;
grant execute on function public.copilot_session_history(uuid) to authenticated;
grant execute on function public.copilot_propose_action(uuid, text, jsonb, text, integer) to authenticated;
grant execute on function public.copilot_decide_action(uuid, text) to authenticated;
grant execute on function public.copilot_finish_action(uuid, jsonb, boolean) to authenticated;

comment on function public.copilot_open_session(uuid) is
'Opens a copilot session for the caller: at a hospital where they work (hospital_id; their roles '
'there are the session''s), or without one for a patient (their own record). Returns {id, channel, '
'hospital_id, patient_id, user_id, roles, status, input_tokens, output_tokens, started_at, '
'last_activity_at, ended_at}. Errors: PT404 hospital_not_found (not a hospital you work at), 400 '
'hospital_required (staff must name one).';
comment on function public.copilot_record_turn(uuid, text, text, jsonb, integer, integer, text) is
'Appends one turn to the caller''s open session, all or nothing: the user''s message, the answer '
'(null when the turn ended without one), tool_calls [{tool, arguments, read_only, outcome: '
'ok|proposed|refused|error, code, row_count, duration_ms, action_id}], the tokens spent (added to '
'the session''s) and optionally a new summary. Text and arguments are stored encrypted. Returns '
'{session, user_message_id, assistant_message_id, tool_call_ids}. Errors: PT404 session_not_found, '
'PT409 session_closed, 400 message_missing, tokens_invalid, tool_calls_malformed, action_not_in_session.';
comment on function public.copilot_close_session(uuid, text) is
'Closes the caller''s session (nothing more is recorded), with an optional final summary. Returns '
'the session. Errors: PT404 session_not_found.';
comment on function public.copilot_session_history(uuid) is
'The caller''s own session in clear: {..., summary, messages [{seq, role, content, ...}], tool_calls '
'[{tool, arguments, read_only, outcome, code, ...}], actions [{tool, summary, arguments, status, '
'outcome, ...}]}. The owner only (staff at aal2); each read is logged. Errors: PT404 '
'session_not_found (no such session, or not yours), PT403 insufficient_aal.';
comment on function public.copilot_propose_action(uuid, text, jsonb, text, integer) is
'Records a write the copilot proposes in the caller''s open session; it runs only once they '
'confirm it (rpc/copilot_decide_action) within ttl_seconds (default 600, at most 1800). Returns '
'{id, session_id, tool, arguments_hash (sha256 hex of the arguments as Postgres prints the jsonb), '
'status: pending, created_at, expires_at, ...}. Errors: PT404 session_not_found, PT409 session_closed, '
'400 tool_invalid, arguments_invalid, summary_missing, ttl_invalid.';
comment on function public.copilot_decide_action(uuid, text) is
'The owner confirms or rejects a pending action (decision: confirm | reject). The first decision '
'wins: {..., status, first: true} and, on confirmation, the arguments and summary to run (logged). '
'The same decision again returns the action as it stands (first: false, outcome once recorded) and '
'must not run it again. Errors: PT404 action_not_found (no such action, or not yours), PT409 '
'action_expired, action_rejected (confirm after reject), action_confirmed (reject after confirm), '
'session_closed, 400 decision_invalid.';
comment on function public.copilot_finish_action(uuid, jsonb, boolean) is
'Records what running a confirmed action did: status done (ok) or failed, and its outcome; once. '
'Returns the action. Errors: PT404 action_not_found, PT409 action_not_confirmed, action_finished, '
'400 ok_missing.';

-- Reading the content of a session or an action is a disclosure (logged).
insert into private.audited_resources (resource, read_with)
values
('rpc/copilot_session_history', 'POST /rest/v1/rpc/copilot_session_history'),
('rpc/copilot_decide_action', 'POST /rest/v1/rpc/copilot_decide_action');
