-- Copilot sessions end with a summary (issue 15, item 4). The owner closes a session
-- (POST /api/v1/sessions/copilot/{session}/close: the sidecar asks Claude for a short summary
-- and passes it on), or a pg_cron job closes the sessions idle for a day. Either way the
-- database writes the session's facts as it counted them: the messages, the tool calls by tool
-- and outcome, the actions by decision and the tokens, never what was said. The facts are the
-- summary when the model gave none (not configured, failed, timed out, or the idle sweep).
--
-- The facts are read in clear under the session's RLS (its owner; the admins of the hospital a
-- staff member opened it at, for audit); the summary may quote records, so it stays encrypted
-- in content_encrypted and is read with rpc/copilot_session_summary (logged), by the same
-- readers.

alter table public.ai_sessions add column facts text;

grant select (facts) on public.ai_sessions to authenticated;

comment on column public.ai_sessions.facts is
'Copilot: once closed, what happened in the session as the database counted it (how it was '
'closed, messages typed and answered, tool calls by tool and outcome, actions by decision, '
'tokens); never what was said. The summary itself (encrypted) is read with '
'rpc/copilot_session_summary.';

comment on column public.ai_sessions.content_encrypted is
'Encrypted (private.encrypt_field). Voice: what was said, read with rpc/voice_session. Copilot: '
'{"summary", "summary_source": model | facts}, read with rpc/copilot_session_summary or '
'rpc/copilot_session_history.';
comment on column public.ai_sessions.session_status is
'Copilot: open (turns are recorded), closed (by its owner, rpc/copilot_close_session, or after a '
'day without activity, private.copilot_close_idle_sessions; nothing more is added).';

-- The idle sweep looks only at open copilot sessions.
create index ai_sessions_copilot_open_idx on public.ai_sessions (last_activity_at)
where channel = 'copilot' and session_status = 'open';

-- How long a copilot session may stay without activity before the sweep closes it: the
-- database setting carebase.copilot_idle_after (e.g. alter database postgres set
-- carebase.copilot_idle_after = '8 hours'), 24 hours when unset or not an interval.
create function private.copilot_idle_after()
returns interval
language plpgsql
stable
set search_path = ''
as $$
declare
    setting constant text := nullif(btrim(coalesce(current_setting('carebase.copilot_idle_after', true), '')), '');
    idle interval;
begin
    begin
        idle := setting::interval;
    exception
        when invalid_datetime_format or datetime_field_overflow or interval_field_overflow then
        raise warning 'carebase.copilot_idle_after is not an interval (%): 24 hours it is', setting;
    end;
    return case when idle > interval '0' then idle else interval '24 hours' end;
end;
$$;

comment on function private.copilot_idle_after() is
'How long a copilot session may stay idle before private.copilot_close_idle_sessions closes it: '
'the setting carebase.copilot_idle_after, else 24 hours.';

-- One line of what a session did, from its rows (tool names, outcomes, codes, statuses and
-- counts only: nothing the user typed or a tool returned).
create function private.copilot_session_facts(
    session_id uuid, closing text, input_tokens bigint, output_tokens bigint
)
returns text
language sql
stable
set search_path = ''
as $$
    with typed as (
        select
            count(*) filter (where m.role = 'user') as asked,
            count(*) filter (where m.role = 'assistant') as answered
        from public.ai_messages as m
        where m.session_id = copilot_session_facts.session_id
    ),

    calls as (
        select
            sum(g.n) as total,
            string_agg(g.line, '; ' order by g.first_seq) as lines
        from (
            select
                count(*) as n,
                min(c.seq) as first_seq,
                concat_ws(' ', c.tool, c.outcome, c.code)
                || case when count(*) > 1 then ' x' || count(*) else '' end as line
            from public.ai_tool_calls as c
            where c.session_id = copilot_session_facts.session_id
            group by c.tool, c.outcome, c.code
        ) as g
    ),

    actions as (
        select
            sum(g.n) as total,
            string_agg(g.line, '; ' order by g.first_at, g.line) as lines
        from (
            select
                count(*) as n,
                min(a.created_at) as first_at,
                a.tool || ' ' || a.status || case when count(*) > 1 then ' x' || count(*) else '' end as line
            from public.ai_pending_actions as a
            where a.session_id = copilot_session_facts.session_id
            group by a.tool, a.status
        ) as g
    )

    select format(
        '%s Messages: %s typed, %s answered. Tool calls (%s): %s. Actions (%s): %s. Tokens: %s in, %s out.',
        copilot_session_facts.closing, typed.asked, typed.answered, coalesce(calls.total, 0),
        coalesce(calls.lines, 'none'), coalesce(actions.total, 0), coalesce(actions.lines, 'none'),
        copilot_session_facts.input_tokens, copilot_session_facts.output_tokens
    )
    from typed, calls, actions;
$$;

comment on function private.copilot_session_facts(uuid, text, bigint, bigint) is
'The facts of a copilot session as one line: how it was closed, messages typed and answered, tool '
'calls by tool, outcome and code, actions by status, tokens.';

-- Closes a session (locked by the caller): actions nobody decided can no longer be, the facts
-- are written, the summary (the model's; null: the facts) stored encrypted, the tokens the
-- summary cost added. Called by the owner's rpc/copilot_close_session and by the idle sweep.
create function private.copilot_close(
    session public.ai_sessions, summary text, input_tokens integer, output_tokens integer, idle_for interval
)
returns public.ai_sessions
language plpgsql
volatile
set search_path = ''
as $$
declare
    counted text;
    closed public.ai_sessions;
begin
    update public.ai_pending_actions as a
    set status = 'expired'
    where a.session_id = session.id and a.status = 'pending';
    counted := private.copilot_session_facts(
        session.id,
        case
            when idle_for is null then 'Closed by its owner.'
            else format('Closed after %s without activity.', idle_for)
        end,
        session.input_tokens + input_tokens, session.output_tokens + output_tokens
    );
    update public.ai_sessions as s
    set
        session_status = 'closed',
        ended_at = coalesce(s.ended_at, now()),
        last_activity_at = case when idle_for is null then now() else s.last_activity_at end,
        input_tokens = s.input_tokens + copilot_close.input_tokens,
        output_tokens = s.output_tokens + copilot_close.output_tokens,
        facts = counted,
        content_encrypted = private.encrypt_field(jsonb_build_object(
            'summary', coalesce(copilot_close.summary, counted),
            'summary_source', case when copilot_close.summary is null then 'facts' else 'model' end
        )::text)
    where s.id = session.id
    returning s.* into closed;
    return closed;
end;
$$;

comment on function private.copilot_close(public.ai_sessions, text, integer, integer, interval) is
'Closes a copilot session: undecided actions expire, the facts are written, the summary (null: '
'the facts) stored encrypted with its source (model or facts), the summary''s tokens added. '
'idle_for: closed by the idle sweep after that long (null: by its owner).';

-- The owner closes their open session with the model's summary (null: the facts), adding the
-- tokens the summary cost. A closed session is 409 session_closed: closing happens once.
-- Security definer: writes ai_sessions and ai_pending_actions.
drop function public.copilot_close_session(uuid, text);
drop function private.copilot_close_session(uuid, text);

create function private.copilot_close_session(
    session_id uuid, summary text, input_tokens integer, output_tokens integer
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    session public.ai_sessions := private.copilot_own_session(copilot_close_session.session_id);
    given constant text := nullif(btrim(coalesce(summary, '')), '');
begin
    if coalesce(input_tokens, 0) < 0 or coalesce(output_tokens, 0) < 0 then
        perform private.raise_invalid('token counts cannot be negative', detail => 'tokens_invalid');
    end if;
    if length(given) > 4000 then
        perform private.raise_invalid('a summary is at most 4000 characters', detail => 'summary_too_long');
    end if;
    session := private.copilot_close(
        session, given, coalesce(input_tokens, 0), coalesce(output_tokens, 0), null
    );
    return private.copilot_session_json(session) || jsonb_build_object(
        'summary', coalesce(given, session.facts),
        'summary_source', case when given is null then 'facts' else 'model' end,
        'facts', session.facts
    );
end;
$$;

-- The sweep: closes every open copilot session idle for longer than idle_for (null: the
-- setting, private.copilot_idle_after) with its facts as the summary; returns how many. Run by
-- pg_cron as the database owner (no grant to the API roles); sessions another transaction
-- holds (a turn being recorded) are left for the next run.
create function private.copilot_close_idle_sessions(idle_for interval default null)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    idle constant interval := coalesce(idle_for, private.copilot_idle_after());
    session public.ai_sessions;
    closed integer := 0;
begin
    if idle <= interval '0' then
        perform private.raise_invalid('idle_for must be positive', detail => 'idle_for_invalid');
    end if;
    for session in
        select s.* from public.ai_sessions as s
        where s.channel = 'copilot' and s.session_status = 'open' and s.last_activity_at < now() - idle
        order by s.last_activity_at
        for update skip locked
    loop
        perform private.copilot_close(session, null, 0, 0, idle);
        closed := closed + 1;
    end loop;
    return closed;
end;
$$;

comment on function private.copilot_close_idle_sessions(interval) is
'Closes the copilot sessions without activity for longer than idle_for (null: '
'carebase.copilot_idle_after, else 24 hours), their facts as the summary; returns how many '
'(pg_cron job carebase-copilot-idle-sessions, every 15 minutes).';

select private.schedule_job(
    'carebase-copilot-idle-sessions', '7,22,37,52 * * * *', 'select private.copilot_close_idle_sessions()'
);

-- A session's summary for whoever may read the session: its owner, and the admins of the
-- hospital a staff member opened it at (the RLS of ai_sessions, checked here). Staff at aal2;
-- each read is logged. Security definer: decrypts and appends to the audit trail.
create function private.copilot_session_summary(session_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    session public.ai_sessions;
    content jsonb;
begin
    select s.* into session from public.ai_sessions as s
    where
        s.id = copilot_session_summary.session_id
        and s.channel = 'copilot'
        and (
            s.user_id = (select auth.uid())
            or (
                s.hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
                and not s.started_roles @> '{patient}'
            )
        );
    if session.id is null then
        perform private.raise_not_found('no such copilot session', detail => 'session_not_found');
    end if;
    perform private.require_phi_aal2(session.patient_id);
    perform private.audit_append(
        'READ', 'public.ai_sessions', session.id::text, session.hospital_id, session.patient_id,
        '{content_encrypted}', details => '{"via": "rpc/copilot_session_summary"}'
    );
    content := coalesce(private.decrypt_field(session.content_encrypted)::jsonb, '{}');
    return private.copilot_session_json(session) || jsonb_build_object(
        'summary', content ->> 'summary', 'summary_source', content ->> 'summary_source', 'facts', session.facts
    );
end;
$$;

grant execute on function private.copilot_close_session(uuid, text, integer, integer) to authenticated;
grant execute on function private.copilot_session_summary(uuid) to authenticated;

-- RPC: POST /rest/v1/rpc/copilot_close_session {"session_id": ..., "summary": ..., "input_tokens":
-- ..., "output_tokens": ...} (the sidecar's close route, user's JWT).
create function public.copilot_close_session(
    session_id uuid, summary text default null, input_tokens integer default 0, output_tokens integer default 0
)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.copilot_close_session(
        copilot_close_session.session_id, copilot_close_session.summary, copilot_close_session.input_tokens,
        copilot_close_session.output_tokens
    );
$$;

-- RPC: POST /rest/v1/rpc/copilot_session_summary {"session_id": ...} (logged).
create function public.copilot_session_summary(session_id uuid)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.copilot_session_summary(copilot_session_summary.session_id);
$$;

grant execute on function public.copilot_close_session(uuid, text, integer, integer) to authenticated;
grant execute on function public.copilot_session_summary(uuid) to authenticated;

comment on function public.copilot_close_session(uuid, text, integer, integer) is
'Closes the caller''s open session: nothing more is recorded, undecided actions expire. summary: '
'the model''s summary of the session (null: the facts, counted by the database, are the summary); '
'input_tokens, output_tokens: what writing it cost (added to the session''s). Returns the session '
'with summary, summary_source (model | facts) and facts. Errors: PT404 session_not_found, PT409 '
'session_closed (closed before: read it with rpc/copilot_session_summary), 400 tokens_invalid, '
'summary_too_long.';
comment on function public.copilot_session_summary(uuid) is
'A copilot session with its summary: {id, ..., status, ended_at, summary, summary_source: model | '
'facts, facts} (summary and facts null while open). For its owner, and for the admins of the '
'hospital a staff member opened it at (audit; never its messages). Staff at aal2; each read is '
'logged. Errors: PT404 session_not_found, PT403 insufficient_aal.';

insert into private.audited_resources (resource, read_with)
values ('rpc/copilot_session_summary', 'POST /rest/v1/rpc/copilot_session_summary');
