-- The copilot's store (issue 15, items 3 and 4): a session is its owner's (the admins of the
-- hospital read a staff member's for audit, without what was said; a patient's is theirs
-- only); what was said is stored encrypted; a proposed write is decided once, by its owner,
-- before it expires; another user's session or action does not exist for the caller; the API
-- roles write none of these tables directly. A session closes once (by its owner, or after a
-- day idle) with the facts the database counted and a summary, read by the owner and, for a
-- staff member's session, the hospital's admins (logged).
begin;
select plan(74);

select tests.create_world();

-- Opening --------------------------------------------------------------------------------------

select tests.act_as('a_doctor', 'aal2');
select tests.remember('doctor_session', (public.copilot_open_session(tests.id_of('hospitals', 'TSTA')) ->> 'id')::uuid);
select results_eq(
    format(
        $$ select hospital_id, patient_id, user_id, started_roles::text, session_status, channel::text
            from public.ai_sessions where id = %L $$, tests.recall('doctor_session')
    ),
    format(
        $$ values (%L::uuid, null::uuid, %L::uuid, '{doctor}', 'open', 'copilot') $$,
        tests.id_of('hospitals', 'TSTA'), tests.user_id('a_doctor')
    ),
    'a doctor opens a session at their hospital, with their role there'
);
select is(
    tests.error_of(format('select public.copilot_open_session(%L)', tests.id_of('hospitals', 'TSTB'))) ->> 'details',
    'hospital_not_found', 'not at a hospital they do not work at (404)'
);
select is(
    tests.error_of('select public.copilot_open_session()') ->> 'details', 'hospital_required',
    'staff name their hospital (400)'
);
select tests.act_as('a_patient1');
select tests.remember('patient_session', (public.copilot_open_session() ->> 'id')::uuid);
select results_eq(
    format(
        'select hospital_id, patient_id, started_roles::text from public.ai_sessions where id = %L',
        tests.recall('patient_session')
    ),
    format($$ values (null::uuid, %L::uuid, '{patient}') $$, tests.id_of('patients', 'a_patient1')),
    'a patient opens a session of their own record, without a hospital'
);
select is(
    tests.error_of(format('select public.copilot_open_session(%L)', tests.id_of('hospitals', 'TSTA'))) ->> 'code',
    'PT404', 'a patient cannot open a staff session at the hospital they are registered at'
);

-- Turns -------------------------------------------------------------------------------------------

select tests.act_as('a_doctor', 'aal2');
select tests.remember(
    'booking',
    (public.copilot_propose_action(
        tests.recall('doctor_session'), 'book_appointment',
        jsonb_build_object('patient_id', tests.id_of('patients', 'a_patient1'), 'starts_at', '2026-12-20T10:00:00Z'),
        'Book Gurpreet Singh with you on 20 December at 10:00'
    ) ->> 'id')::uuid
);
select is(
    public.copilot_record_turn(
        tests.recall('doctor_session'), 'show my patients with abnormal labs this week',
        'Gurpreet Singh has an abnormal LDL of 190. I can book a follow-up.',
        jsonb_build_array(
            jsonb_build_object(
                'tool', 'list_lab_results', 'arguments', jsonb_build_object('status', 'abnormal'),
                'read_only', true, 'outcome', 'ok', 'row_count', 1, 'duration_ms', 42
            ),
            jsonb_build_object(
                'tool',
                'book_appointment',
                'arguments',
                jsonb_build_object('patient_id', tests.id_of('patients', 'a_patient1')),
                'read_only', false, 'outcome', 'proposed', 'action_id', tests.recall('booking')
            ),
            jsonb_build_object(
                'tool', 'read_clinical_note', 'arguments', '{}'::jsonb, 'read_only', true, 'outcome', 'refused',
                'code', 'PT404'
            )
        ),
        1200, 80, 'Abnormal labs this week; a follow-up proposed'
    ) #>> '{session,input_tokens}',
    '1200', 'a turn is recorded with its tool calls and tokens'
);
select
    public.copilot_record_turn(tests.recall('doctor_session'), 'and tomorrow?', 'Nothing tomorrow.', '[]', 300, 20)
    is not null as second_turn;
select results_eq(
    format(
        'select seq, role from public.ai_messages where session_id = %L order by seq', tests.recall('doctor_session')
    ),
    $$ values (1, 'user'), (2, 'assistant'), (3, 'user'), (4, 'assistant') $$,
    'the messages are in order'
);
select results_eq(
    format('select input_tokens, output_tokens from public.ai_sessions where id = %L', tests.recall('doctor_session')),
    $$ values (1500::bigint, 100::bigint) $$,
    'the session adds up the tokens'
);
select results_eq(
    format(
        'select tool, read_only, outcome, code from public.ai_tool_calls where session_id = %L order by seq',
        tests.recall('doctor_session')
    ),
    $$ values ('list_lab_results', true, 'ok', null::text), ('book_appointment', false, 'proposed', null),
        ('read_clinical_note', true, 'refused', 'PT404') $$,
    'every tool call is kept with how it ended'
);
select is(
    tests.error_of(format(
        $$ select public.copilot_record_turn(%L, 'book it', null,
            '[{"tool": "book_appointment", "arguments": {}, "read_only": false, "outcome": "ok"}]') $$,
        tests.recall('doctor_session')
    )) ->> 'details',
    'tool_calls_malformed', 'a write recorded as having run in the model loop is refused'
);
select is(
    tests.error_of(format(
        $$ select public.copilot_record_turn(%L, 'hi', 'hello', '[{"tool": "x", "read_only": true}]') $$,
        tests.recall('doctor_session')
    )) ->> 'details',
    'tool_calls_malformed', 'a tool call without its outcome is refused'
);
select is(
    tests.error_of(format($$ select public.copilot_record_turn(%L, '  ', 'hello') $$, tests.recall('doctor_session')))
    ->> 'details',
    'message_missing', 'a turn without what the user typed is refused'
);
select tests.act_as('a_patient1');
select public.copilot_record_turn(
    tests.recall('patient_session'), 'mera agla appointment kab hai', 'Aapka agla appointment 20 December ko hai.',
    '[{"tool": "my_appointments", "arguments": {}, "read_only": true, "outcome": "ok", "row_count": 1}]', 500, 40
) is not null as patient_turn;
select is(
    tests.error_of(format(
        $$ select public.copilot_record_turn(%L, 'hi', 'hello',
            '[{"tool": "book_appointment", "arguments": {}, "read_only": false, "outcome": "proposed", "action_id": %s}]') $$,
        tests.recall('patient_session'), to_json(tests.recall('booking'))
    )) ->> 'details',
    'action_not_in_session', 'a tool call cannot name another session''s action'
);
select tests.clear_authentication();

-- Stored encrypted ------------------------------------------------------------------------------------

select is_empty(
    $$ select m.id from public.ai_messages as m
        where position(convert_to('abnormal', 'UTF8') in m.content_encrypted) > 0
            or position(convert_to('agla appointment', 'UTF8') in m.content_encrypted) > 0 $$,
    'no message is stored in clear'
);
select is_empty(
    format(
        $$ select c.id from public.ai_tool_calls as c
            where position(convert_to('abnormal', 'UTF8') in c.arguments_encrypted) > 0
                or position(convert_to(%L, 'UTF8') in c.arguments_encrypted) > 0
        union all
        select a.id from public.ai_pending_actions as a
            where position(convert_to(%L, 'UTF8') in a.arguments_encrypted) > 0
                or position(convert_to('Gurpreet', 'UTF8') in a.summary_encrypted) > 0
        union all
        select s.id from public.ai_sessions as s
            where position(convert_to('Abnormal labs', 'UTF8') in s.content_encrypted) > 0 $$,
        tests.id_of('patients', 'a_patient1'), tests.id_of('patients', 'a_patient1')
    ),
    'nor any tool call''s arguments, action''s arguments or summary, or session summary'
);
select ok(
    not has_column_privilege('authenticated', 'public.ai_messages', 'content_encrypted', 'select')
    and not has_column_privilege('authenticated', 'public.ai_tool_calls', 'arguments_encrypted', 'select')
    and not has_column_privilege('authenticated', 'public.ai_pending_actions', 'arguments_encrypted', 'select')
    and not has_column_privilege('authenticated', 'public.ai_pending_actions', 'summary_encrypted', 'select'),
    'the ciphertexts are not even selectable by the API roles'
);

-- Who sees what -----------------------------------------------------------------------------------

create function tests.seen_by(actor text)
returns table (kind text, sessions bigint, messages bigint, tool_calls bigint, actions bigint)
language plpgsql
set search_path = ''
as $$
declare
    s record;
begin
    for s in select * from (values ('doctor', tests.recall('doctor_session')), ('patient', tests.recall('patient_session')))
        as v (kind, id) loop
        perform tests.act_as(actor, 'aal2');
        kind := s.kind;
        select count(*) into sessions from public.ai_sessions as x where x.id = s.id;
        select count(*) into messages from public.ai_messages as x where x.session_id = s.id;
        select count(*) into tool_calls from public.ai_tool_calls as x where x.session_id = s.id;
        select count(*) into actions from public.ai_pending_actions as x where x.session_id = s.id;
        perform tests.clear_authentication();
        return next;
    end loop;
end;
$$;

select results_eq(
    $$ select * from tests.seen_by('a_doctor') $$,
    $$ values ('doctor', 1::bigint, 4::bigint, 3::bigint, 1::bigint), ('patient', 0, 0, 0, 0) $$,
    'the doctor sees all of their own session'
);
select results_eq(
    $$ select * from tests.seen_by('a_patient1') $$,
    $$ values ('doctor', 0::bigint, 0::bigint, 0::bigint, 0::bigint), ('patient', 1, 2, 1, 0) $$,
    'the patient sees theirs, not the doctor''s session about them'
);
select results_eq(
    $$ select * from tests.seen_by('a_admin') $$,
    $$ values ('doctor', 1::bigint, 4::bigint, 3::bigint, 1::bigint), ('patient', 0, 0, 0, 0) $$,
    'the admin of the doctor''s hospital sees the doctor''s session (for audit), not the patient''s'
);
select set_eq(
    $$ select distinct s.* from unnest(array['a_doctor2', 'a_front_desk', 'a_cro', 'a_nurse', 'b_admin',
        'b_patient3', 'nobody']) as a (name) cross join lateral tests.seen_by(a.name) as s $$,
    $$ values ('doctor', 0::bigint, 0::bigint, 0::bigint, 0::bigint), ('patient', 0, 0, 0, 0) $$,
    'no other colleague, no admin of another hospital, no other patient sees either'
);
select is(
    (select count(*)::integer from tests.seen_by('a_doctor2')), 2, 'each check looked at both sessions'
);
select tests.act_as('a_revoked_doctor', 'aal2');
select is_empty(
    format('select id from public.ai_sessions where id = %L', tests.recall('doctor_session')),
    'a revoked doctor of the hospital sees nothing'
);

-- Reading what was said ---------------------------------------------------------------------------

select tests.act_as('a_doctor', 'aal2');
select is(
    public.copilot_session_history(tests.recall('doctor_session')) #>> '{messages,0,content}',
    'show my patients with abnormal labs this week', 'the owner reads what they typed'
);
select results_eq(
    format(
        $$ select h ->> 'summary', h #>> '{messages,1,content}', h #>> '{tool_calls,0,arguments,status}',
            h #>> '{actions,0,summary}', jsonb_array_length(h -> 'messages')
            from public.copilot_session_history(%L) as h $$,
        tests.recall('doctor_session')
    ),
    $$ values ('Abnormal labs this week; a follow-up proposed',
        'Gurpreet Singh has an abnormal LDL of 190. I can book a follow-up.', 'abnormal',
        'Book Gurpreet Singh with you on 20 December at 10:00', 4) $$,
    'with the answers, the tool calls'' arguments, the proposed actions and the summary'
);
select tests.clear_authentication();
select ok(
    exists (
        select from audit.log as l
        where
            l.action = 'READ'
            and l.table_name = 'public.ai_messages'
            and l.row_id = tests.recall('doctor_session')::text
            and l.actor_id = tests.user_id('a_doctor')
    ),
    'each read is logged, naming the reader'
);
select tests.act_as('a_doctor', 'aal1');
select is(
    tests.error_of(format('select public.copilot_session_history(%L)', tests.recall('doctor_session'))) ->> 'details',
    'insufficient_aal', 'staff read it only at aal2'
);
select tests.act_as('a_patient1');
select is(
    public.copilot_session_history(tests.recall('patient_session')) #>> '{messages,0,content}',
    'mera agla appointment kab hai', 'the patient reads their own'
);
select is(
    tests.error_of(format('select public.copilot_session_history(%L)', tests.recall('doctor_session'))) ->> 'code',
    'PT404', 'but not the doctor''s session about them'
);
select tests.act_as('a_admin', 'aal2');
select is(
    tests.error_of(format('select public.copilot_session_history(%L)', tests.recall('doctor_session'))) ->> 'code',
    'PT404', 'the admin reads the session''s record, never what was said'
);
select is(
    tests.error_of(format('select public.voice_session(%L)', tests.recall('doctor_session'))) ->> 'code',
    'PT404', 'not through the voice agent''s reader either'
);
select tests.act_as('a_front_desk', 'aal2');
select is(
    tests.error_of(format('select public.voice_session(%L)', tests.recall('doctor_session'))) ->> 'code',
    'PT404', 'nor the front desk'
);
select tests.act_as('a_doctor2', 'aal2');
select is(
    tests.error_of(format('select public.copilot_session_history(%L)', tests.recall('doctor_session'))) ->> 'code',
    'PT404', 'a colleague cannot read it'
);
select is(
    tests.error_of(format($$ select public.copilot_record_turn(%L, 'hi', 'hello') $$, tests.recall('doctor_session')))
    ->> 'code',
    'PT404', 'nor add to it'
);
select is(
    tests.error_of(format(
        $$ select public.copilot_propose_action(%L, 'cancel_appointment', '{}', 'Cancel') $$,
        tests.recall('doctor_session')
    )) ->> 'code',
    'PT404', 'nor propose an action in it'
);

-- Deciding ------------------------------------------------------------------------------------------

select tests.act_as('a_doctor2', 'aal2');
select is(
    tests.error_of(format($$ select public.copilot_decide_action(%L, 'confirm') $$, tests.recall('booking'))),
    jsonb_build_object('code', 'PT404', 'message', 'no such pending action', 'details', 'action_not_found', 'hint', ''),
    'another user''s action does not exist for a colleague'
);
select tests.act_as('a_admin', 'aal2');
select is(
    tests.error_of(format($$ select public.copilot_decide_action(%L, 'confirm') $$, tests.recall('booking')))
    ->> 'code',
    'PT404', 'nor for the admin who audits the session'
);
select is(
    tests.error_of(format($$ select public.copilot_finish_action(%L, '{}', true) $$, tests.recall('booking')))
    ->> 'code',
    'PT404', 'who cannot record its outcome either'
);

select tests.act_as('a_doctor', 'aal2');
select results_eq(
    format(
        $$ select a.status,
                a.arguments_hash = encode(extensions.digest(convert_to(%L::jsonb::text, 'UTF8'), 'sha256'), 'hex')
            from public.ai_pending_actions as a where a.id = %L $$,
        jsonb_build_object('patient_id', tests.id_of('patients', 'a_patient1'), 'starts_at', '2026-12-20T10:00:00Z'),
        tests.recall('booking')
    ),
    $$ values ('pending', true) $$,
    'a proposed action waits, with the hash of its arguments'
);
select is(
    tests.error_of(format($$ select public.copilot_finish_action(%L, '{}', true) $$, tests.recall('booking')))
    ->> 'details',
    'action_not_confirmed', 'it cannot be recorded as run before it is confirmed'
);
select is(
    tests.error_of(format($$ select public.copilot_decide_action(%L, 'maybe') $$, tests.recall('booking')))
    ->> 'details',
    'decision_invalid', 'a decision is confirm or reject'
);
create temporary table first_confirm on commit drop as
select public.copilot_decide_action(tests.recall('booking'), 'confirm') as answer;
select results_eq(
    $$ select answer ->> 'status', answer ->> 'first', answer #>> '{arguments,starts_at}', answer ->> 'summary'
        from first_confirm $$,
    $$ values ('confirmed', 'true', '2026-12-20T10:00:00Z', 'Book Gurpreet Singh with you on 20 December at 10:00') $$,
    'the first confirmation wins and hands back what to run'
);
select results_eq(
    format(
        $$ select a ->> 'status', a ->> 'first', a ? 'arguments'
            from public.copilot_decide_action(%L, 'confirm') as a $$,
        tests.recall('booking')
    ),
    $$ values ('confirmed', 'false', false) $$,
    'a second confirmation is told it is not the first, and gets nothing to run again'
);
select is(
    tests.error_of(format($$ select public.copilot_decide_action(%L, 'reject') $$, tests.recall('booking')))
    ->> 'details',
    'action_confirmed', 'a confirmed action cannot be rejected'
);
select is(
    public.copilot_finish_action(tests.recall('booking'), '{"appointment_id": "x"}', true) ->> 'status', 'done',
    'what running it did is recorded'
);
select is(
    tests.error_of(format($$ select public.copilot_finish_action(%L, '{}', false) $$, tests.recall('booking')))
    ->> 'details',
    'action_finished', 'once'
);
select results_eq(
    format($$ select a ->> 'status', a ->> 'first', a #>> '{outcome,appointment_id}'
        from public.copilot_decide_action(%L, 'confirm') as a $$, tests.recall('booking')),
    $$ values ('done', 'false', 'x') $$,
    'a confirmation after it ran returns the first outcome'
);
select tests.clear_authentication();
select ok(
    exists (
        select from audit.log as l
        where
            l.action = 'READ'
            and l.table_name = 'public.ai_pending_actions'
            and l.row_id = tests.recall('booking')::text
    ),
    'handing back the arguments is logged'
);
select is(
    (
        select count(*)::integer from audit.log as l
        where
            l.action = 'UPDATE'
            and l.table_name = 'public.ai_pending_actions'
            and l.row_id = tests.recall('booking')::text
    ),
    2, 'the confirmation and the outcome are in the audit trail'
);

-- Rejecting, expiry -----------------------------------------------------------------------------------

select tests.act_as('a_doctor', 'aal2');
select tests.remember(
    'cancel', (public.copilot_propose_action(
        tests.recall('doctor_session'), 'cancel_appointment', '{"appointment_id": "y"}',
        'Cancel tomorrow''s visit'
    ) ->> 'id')::uuid
);
select results_eq(
    format(
        $$ select a ->> 'status', a ->> 'first' from public.copilot_decide_action(%L, 'reject') as a $$,
        tests.recall('cancel')
    ),
    $$ values ('rejected', 'true') $$,
    'the owner rejects an action'
);
select is(
    tests.error_of(format($$ select public.copilot_decide_action(%L, 'confirm') $$, tests.recall('cancel')))
    ->> 'details',
    'action_rejected', 'a rejected action cannot be confirmed afterwards (409)'
);
select is(
    public.copilot_decide_action(tests.recall('cancel'), 'reject') ->> 'first', 'false',
    'rejecting twice is told it is not the first'
);
select is(
    tests.error_of(format($$ select public.copilot_finish_action(%L, '{}', true) $$, tests.recall('cancel')))
    ->> 'details',
    'action_not_confirmed', 'a rejected action is never recorded as run'
);

select tests.remember(
    'late', (public.copilot_propose_action(
        tests.recall('doctor_session'), 'approve_prescription', '{"id": "z"}',
        'Approve the prescription', 99999
    ) ->> 'id')::uuid
);
select tests.clear_authentication();
select ok(
    (
        select expires_at <= now() + interval '30 minutes' from public.ai_pending_actions
        where id = tests.recall('late')
    ),
    'a long time to decide is capped at 30 minutes'
);
update public.ai_pending_actions
set created_at = now() - interval '20 minutes', expires_at = now() - interval '10 minutes'
where id = tests.recall('late');
select tests.act_as('a_doctor', 'aal2');
select is(
    tests.error_of(format($$ select public.copilot_decide_action(%L, 'confirm') $$, tests.recall('late'))),
    jsonb_build_object(
        'code', 'PT409', 'message', 'this action expired before it was decided', 'details', 'action_expired',
        'hint', 'ask the copilot again'
    ),
    'an expired action cannot be confirmed (409 action_expired)'
);
select public.copilot_record_turn(tests.recall('doctor_session'), 'ok', 'ok') is not null as next_turn;
select tests.clear_authentication();
select is(
    (
        select status from public.ai_pending_actions
        where id = tests.recall('late')
    ), 'expired',
    'the session''s next write marks it expired'
);
select tests.act_as('a_doctor', 'aal2');
select is(
    tests.error_of(format($$ select public.copilot_decide_action(%L, 'reject') $$, tests.recall('late'))) ->> 'details',
    'action_expired', 'and it stays so'
);
select is(
    tests.error_of(format(
        $$ select public.copilot_propose_action(%L, 'cancel_appointment', '[1]', 'Cancel') $$,
        tests.recall('doctor_session')
    )) ->> 'details',
    'arguments_invalid', 'arguments are a JSON object'
);

-- Closing ------------------------------------------------------------------------------------------------

select tests.remember(
    'undecided', (public.copilot_propose_action(
        tests.recall('doctor_session'), 'cancel_appointment', '{"appointment_id": "w"}', 'Cancel a visit'
    ) ->> 'id')::uuid
);
select results_eq(
    format(
        $$ select c ->> 'status', c ->> 'summary', c ->> 'summary_source', c ->> 'facts'
            from public.copilot_close_session(%L, 'Labs reviewed', 40, 7) as c $$,
        tests.recall('doctor_session')
    ),
    $$ values (
        'closed', 'Labs reviewed', 'model',
        'Closed by its owner. Messages: 3 typed, 3 answered. Tool calls (3): list_lab_results ok; '
        || 'book_appointment proposed; read_clinical_note refused PT404. Actions (4): approve_prescription '
        || 'expired; book_appointment done; cancel_appointment expired; cancel_appointment rejected. '
        || 'Tokens: 1540 in, 107 out.'
    ) $$,
    'the owner closes the session with the model''s summary; the database writes its facts, tokens included'
);
select is(
    tests.error_of(
        format($$ select public.copilot_record_turn(%L, 'one more', 'no') $$, tests.recall('doctor_session'))
    )
    ->> 'details',
    'session_closed', 'nothing more is recorded in a closed session'
);
select is(
    tests.error_of(format($$ select public.copilot_close_session(%L) $$, tests.recall('doctor_session'))) ->> 'details',
    'session_closed', 'a session is closed once (409)'
);
select is(
    public.copilot_session_history(tests.recall('doctor_session')) ->> 'summary', 'Labs reviewed',
    'the final summary is kept'
);
select tests.clear_authentication();
select is(
    (
        select status from public.ai_pending_actions
        where id = tests.recall('undecided')
    ), 'expired',
    'an action nobody decided can no longer be once the session is closed'
);

select tests.act_as('a_admin', 'aal2');
select results_eq(
    format(
        $$ select facts like 'Closed by its owner. Messages: 3 typed%%', input_tokens, output_tokens
            from public.ai_sessions where id = %L $$,
        tests.recall('doctor_session')
    ),
    $$ values (true, 1540::bigint, 107::bigint) $$,
    'the hospital''s admin reads the facts under RLS'
);
select results_eq(
    format(
        $$ select s ->> 'summary', s ->> 'summary_source', s ->> 'status'
            from public.copilot_session_summary(%L) as s $$,
        tests.recall('doctor_session')
    ),
    $$ values ('Labs reviewed', 'model', 'closed') $$,
    'and the summary, for audit'
);
select tests.clear_authentication();
select ok(
    exists (
        select from audit.log as l
        where
            l.action = 'READ' and l.table_name = 'public.ai_sessions'
            and l.row_id = tests.recall('doctor_session')::text and l.actor_id = tests.user_id('a_admin')
            and l.details ->> 'via' = 'rpc/copilot_session_summary'
    ),
    'the admin''s read of the summary is logged with the reader'
);
select tests.act_as('a_admin', 'aal1');
select is(
    tests.error_of(format('select public.copilot_session_summary(%L)', tests.recall('doctor_session'))) ->> 'details',
    'insufficient_aal', 'staff read a summary only at aal2'
);
select is_empty(
    format(
        $$ select a.name from unnest(array['b_admin', 'a_doctor2', 'a_front_desk', 'a_patient1']) as a (name)
            where (select tests.act_as(a.name, 'aal2')) is null
                and tests.error_of(format('select public.copilot_session_summary(%%L)', %L)) ->> 'details'
                <> 'session_not_found' $$,
        tests.recall('doctor_session')
    ),
    'another hospital''s admin, a colleague, the front desk and the patient find no such session'
);

-- The idle sweep -------------------------------------------------------------------------------------------

select tests.act_as('a_doctor2', 'aal2');
select tests.remember('fresh', (public.copilot_open_session(tests.id_of('hospitals', 'TSTA')) ->> 'id')::uuid);
select tests.clear_authentication();
update public.ai_sessions set last_activity_at = now() - interval '25 hours'
where id = tests.recall('patient_session');
select ok(private.copilot_close_idle_sessions() >= 1, 'the sweep closes sessions idle for a day');
select results_eq(
    format(
        $$ select id, session_status, facts from public.ai_sessions where id in (%L, %L) order by id = %L $$,
        tests.recall('patient_session'), tests.recall('fresh'), tests.recall('fresh')
    ),
    format(
        $$ values
            (%L::uuid, 'closed', 'Closed after 24:00:00 without activity. Messages: 1 typed, 1 answered. '
                || 'Tool calls (1): my_appointments ok. Actions (0): none. Tokens: 500 in, 40 out.'),
            (%L::uuid, 'open', null) $$,
        tests.recall('patient_session'), tests.recall('fresh')
    ),
    'with its facts; a session in use stays open'
);
select tests.act_as('a_patient1');
select results_eq(
    format(
        $$ select s ->> 'summary' like 'Closed after 24:00:00 without activity.%%', s ->> 'summary_source'
            from public.copilot_session_summary(%L) as s $$,
        tests.recall('patient_session')
    ),
    $$ values (true, 'facts') $$,
    'the facts are its summary, which the patient reads'
);
select tests.act_as('a_admin', 'aal2');
select is(
    tests.error_of(format('select public.copilot_session_summary(%L)', tests.recall('patient_session'))) ->> 'details',
    'session_not_found', 'a patient''s session is not the admin''s to audit'
);
select tests.clear_authentication();
select set_config('carebase.copilot_idle_after', '2 hours', true);
select is(private.copilot_idle_after(), interval '2 hours', 'the idle period is the setting''s');
select set_config('carebase.copilot_idle_after', 'a while', true);
set local client_min_messages = error; -- its warning says so
select is(private.copilot_idle_after(), interval '24 hours', 'a day when the setting is not an interval');

-- Grants: only the RPCs write ------------------------------------------------------------------------

select tests.clear_authentication();

create function tests.direct_writes(actor text)
returns setof text
language plpgsql
set search_path = ''
as $$
declare
    statement text;
    state text;
begin
    foreach statement in array array[
        format($q$ insert into public.ai_sessions (channel, user_id, started_roles, session_status, started_at, last_activity_at)
            values ('copilot', %L, '{doctor}', 'open', now(), now()) $q$, tests.user_id('a_doctor')),
        format($q$ update public.ai_sessions set session_status = 'open' where id = %L $q$, tests.recall('doctor_session')),
        format($q$ insert into public.ai_messages (session_id, seq, role, content_encrypted)
            values (%L, 99, 'user', private.encrypt_field('x')) $q$, tests.recall('doctor_session')),
        format($q$ insert into public.ai_tool_calls (session_id, message_id, seq, tool, arguments_encrypted, read_only, outcome)
            select session_id, id, 99, 'x', private.encrypt_field('{}'), true, 'ok' from public.ai_messages
            where session_id = %L limit 1 $q$, tests.recall('doctor_session')),
        format($q$ update public.ai_pending_actions set status = 'pending', decided_at = null, decided_by = null,
            finished_at = null where id = %L $q$, tests.recall('cancel')),
        format($q$ delete from public.ai_messages where session_id = %L $q$, tests.recall('doctor_session'))
    ] loop
        begin
            if actor = 'service_role' then
                perform tests.act_as_service_role();
            else
                perform tests.act_as(actor, 'aal2');
            end if;
            execute statement;
            state := 'accepted';
        exception when others then
            state := sqlstate;
        end;
        perform set_config('role', 'none', true);
        perform set_config('request.jwt.claims', '', true);
        if state <> '42501' then
            return next actor || ': ' || left(statement, 60) || ' -> ' || state;
        end if;
    end loop;
end;
$$;

select is_empty(
    $$ select tests.direct_writes(a.name)
        from unnest(array['a_doctor', 'a_admin', 'a_patient1', 'service_role']) as a (name) $$,
    'no API role inserts, updates or deletes copilot rows directly, not even the owner or the service role'
);

select * from finish();
rollback;
