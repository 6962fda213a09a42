-- Voice sessions (issue 14, item 5): a call's end-of-call report becomes one session attached
-- to the one patient who carries the caller's number; a report twice is one session; statuses
-- move forward only; a number nobody carries makes a new patient registered at the line's
-- hospital, a number several carry attaches to nobody until the front desk assigns it; what
-- was said is read only through the logged RPC, by those who may read the session.
begin;
select plan(36);

select tests.create_world();

insert into public.voice_lines (hospital_id, vapi_phone_number_id, phone, label)
values (tests.id_of('hospitals', 'TSTA'), 'pn-tsta', '+911765500100', 'TSTA helpline');

-- A Vapi end-of-call report for a call from `phone` to `line`.
create function tests.report(call_id text, phone text, line text default 'pn-tsta', spoken_name text default null)
returns jsonb
language sql
set search_path = ''
as $$
    select jsonb_build_object(
        'message', jsonb_build_object(
            'type', 'end-of-call-report',
            'endedReason', 'customer-ended-call',
            'call', jsonb_build_object(
                'id', call_id, 'phoneNumberId', line, 'customer', jsonb_build_object('number', phone),
                'startedAt', '2026-12-03T09:00:00Z', 'endedAt', '2026-12-03T09:03:30Z'
            ),
            'artifact', jsonb_build_object(
                'transcript', 'AI: Sat Sri Akal. User: mera agla appointment kab hai?',
                'messages', jsonb_build_array(jsonb_build_object('role', 'user', 'message', 'mera agla appointment kab hai?')),
                'recordingUrl', 'https://storage.vapi.test/' || call_id || '.wav'
            ),
            'analysis', jsonb_build_object(
                'summary', 'The caller asked about their next appointment.',
                'structuredData', jsonb_strip_nulls(jsonb_build_object('name', spoken_name))
            ),
            'cost', 0.1234
        )
    ) -> 'message';
$$;

-- Security definer: the test's view of the row, whoever acts.
create function tests.session_of(call_id text)
returns public.ai_sessions
language sql
security definer
set search_path = ''
as $$
    select s.* from public.ai_sessions as s where s.channel = 'voice' and s.external_id = call_id;
$$;
grant execute on function tests.report(text, text, text, text), tests.session_of(text) to authenticated, service_role;

select tests.act_as_service_role();

-- A known caller ------------------------------------------------------------------------------

select is(
    public.record_voice_call(tests.report('call-1', '+919800010001')) ->> 'outcome',
    'recorded',
    'a report from a patient''s number is recorded'
);
select is(
    (tests.session_of('call-1')).patient_id, tests.id_of('patients', 'a_patient1'),
    'the session is attached to the one patient who carries the number'
);
select is(
    array[
        (tests.session_of('call-1')).call_status, (tests.session_of('call-1')).ended_reason,
        (tests.session_of('call-1')).duration_seconds::text, (tests.session_of('call-1')).hospital_id::text
    ],
    array['ended', 'customer-ended-call', '210.0', tests.id_of('hospitals', 'TSTA')::text],
    'status, ending, duration and the line''s hospital are kept'
);
select is(
    public.record_voice_call(tests.report('call-1', '+919800010001')) ->> 'outcome',
    'duplicate',
    'the same report again is a no-op'
);
select is((
    select count(*)::int from public.ai_sessions
    where external_id = 'call-1'
), 1, 'one session per call');
select is(
    public.record_voice_call(
        '{"type": "status-update", "status": "in-progress", "call": {"id": "call-1", "phoneNumberId": "pn-tsta"}}'
    ) ->> 'outcome',
    'unchanged',
    'a late status-update does not move an ended call backwards'
);
select is((tests.session_of('call-1')).call_status, 'ended', 'the call stays ended');

-- Status before the report: the session starts with the first message and moves forward.
select is(
    public.record_voice_call(
        '{"type": "status-update", "status": "ringing",
          "call": {"id": "call-2", "phoneNumberId": "pn-tsta", "customer": {"number": "+919800010002"}}}'
    ) ->> 'outcome',
    'recorded',
    'the first status-update makes the session'
);
select is(
    array[(tests.session_of('call-2')).call_status, (tests.session_of('call-2')).patient_id::text],
    array['ringing', tests.id_of('patients', 'a_patient2')::text],
    'a ringing call is already attached to its caller'
);
select is(
    public.record_voice_call(tests.report('call-2', '+919800010002')) ->> 'outcome',
    'recorded',
    'its report is recorded into the same session'
);

-- A number nobody carries --------------------------------------------------------------------

select is(
    public.record_voice_call(tests.report('call-3', '+919811122233', spoken_name => 'Kulwant Kaur')) ->> 'outcome',
    'recorded',
    'a call from an unknown number is recorded'
);
select is(
    (
        select array[p.full_name, p.phone::text, r.hospital_id::text, r.referral_source]
        from public.patients as p
        inner join public.patient_registrations as r on p.id = r.patient_id
        where p.id = (tests.session_of('call-3')).patient_id
    ),
    array['Kulwant Kaur', '+919811122233', tests.id_of('hospitals', 'TSTA')::text, 'voice agent'],
    'it made a patient with the number and the spoken name, registered at the line''s hospital'
);
select is(
    public.record_voice_call(tests.report('call-4', '+919811122233')) ->> 'outcome', 'recorded',
    'a second call from that number'
);
select is(
    (tests.session_of('call-4')).patient_id, (tests.session_of('call-3')).patient_id,
    'finds the same patient: one record per number'
);
select is(
    (
        select count(*)::int from public.patients
        where phone = '+919811122233'
    ), 1,
    'and made no second record'
);

-- A shared number ----------------------------------------------------------------------------

insert into public.patients (id, full_name, phone) values
('00000000-0000-4000-8000-00000000f001', 'Jaswinder Singh', '+919822200001'),
('00000000-0000-4000-8000-00000000f002', 'Manjit Kaur', '+919822200001');
insert into public.patient_registrations (patient_id, hospital_id, mrn) values
('00000000-0000-4000-8000-00000000f001', tests.id_of('hospitals', 'TSTA'), 'TSTA-F0001'),
('00000000-0000-4000-8000-00000000f002', tests.id_of('hospitals', 'TSTA'), 'TSTA-F0002');

select public.record_voice_call(tests.report('call-5', '+919822200001'));
select is(
    array[(tests.session_of('call-5')).patient_id::text, (tests.session_of('call-5')).attention],
    array[null, 'shared_number'],
    'a number two patients carry attaches the call to neither and asks the front desk'
);

-- An unknown line ----------------------------------------------------------------------------

select public.record_voice_call(tests.report('call-6', '+919833300001', line => 'pn-nobody'));
select is(
    array[
        (tests.session_of('call-6')).hospital_id::text, (tests.session_of('call-6')).patient_id::text,
        (tests.session_of('call-6')).attention
    ],
    array[null, null, 'unknown_line'],
    'a call to a line carebase does not know belongs to no hospital and makes no patient'
);
select is((
    select count(*)::int from public.patients
    where phone = '+919833300001'
), 0, 'no record was made');

-- Malformed messages are refused with their code, and write nothing.
select is(
    tests.error_of($$select public.record_voice_call('{"type": "end-of-call-report", "call": {}}')$$) ->> 'details',
    'call_id_missing',
    'a report without a call id is refused'
);
select is(
    tests.error_of(
        $$select public.record_voice_call(
            '{"type": "end-of-call-report", "call": {"id": "call-7", "customer": {"number": "98123"}}}')$$
    ) ->> 'details',
    'caller_number_invalid',
    'a caller number that is not E.164 is refused'
);
select is((
    select count(*)::int from public.ai_sessions
    where external_id = 'call-7'
), 0, 'and nothing is written');

-- The caller's context for the greeting: nothing clinical, nothing for a shared number.
select is(
    public.voice_caller_context('+919800010001') ->> 'first_name', 'Gurmeet',
    'the greeting knows a single carrier''s first name'
);
select is(public.voice_caller_context('+919822200001'), '{}'::jsonb, 'and nothing of a shared number''s carriers');

-- Through the webhook inbox: one entry per event, applied once.
create temporary table inboxed on commit drop as
select public.receive_vapi_message(jsonb_build_object('message', tests.report('call-8', '+919800010001'))::text) as a
from generate_series(1, 2) as n (delivery)
order by n.delivery;
grant select on inboxed to service_role;
select is(
    (select array_agg(a ->> 'outcome' order by a ->> 'outcome') from inboxed),
    array['applied', 'duplicate'],
    'a report through the inbox is applied, its replay a duplicate'
);
select is(
    (select count(distinct a ->> 'inbox_entry_id')::int from inboxed), 1, 'both name one inbox entry'
);
select is(
    tests.error_of(format('select public.reapply_webhook(%L)', (select min(a ->> 'inbox_entry_id') from inboxed)))
    ->> 'details',
    'not_reapplicable',
    'a voice message is not applied again'
);

-- Who reads what -----------------------------------------------------------------------------

select tests.act_as('a_front_desk');
select is(
    (
        select count(*)::int from public.ai_sessions
        where external_id in ('call-1', 'call-5')
    ), 2,
    'the front desk of the line''s hospital lists its sessions'
);
select throws_ok(
    $$select content_encrypted from public.ai_sessions$$, '42501', null,
    'nobody selects what was said directly'
);
select is(
    public.voice_session((tests.session_of('call-5')).id) #>> '{content,summary}',
    'The caller asked about their next appointment.',
    'the front desk reads what was said, through the RPC'
);

select tests.act_as('a_patient1');
select is(
    (select array_agg(external_id order by external_id) from public.ai_sessions), array['call-1', 'call-8'],
    'a patient lists only their own sessions'
);
select is(
    public.voice_session((tests.session_of('call-1')).id) #>> '{content,transcript}',
    'AI: Sat Sri Akal. User: mera agla appointment kab hai?',
    'and reads their own transcript'
);
select is(
    (
        select count(*)::int from audit.log as l
        where
            l.action = 'READ' and l.table_name = 'public.ai_sessions'
            and l.row_id = (tests.session_of('call-1')).id::text
    ),
    1,
    'the read is in the audit trail'
);

select tests.act_as('b_front_desk');
select is(
    tests.error_of(format('select public.voice_session(%L)', (tests.session_of('call-1')).id)) ->> 'code',
    'PT404',
    'another hospital''s front desk cannot read the session'
);
select is(
    tests.error_of(
        format(
            'select public.assign_voice_session(%L, %L)',
            (tests.session_of('call-5')).id,
            '00000000-0000-4000-8000-00000000f001'
        )
    ) ->> 'code',
    'PT404',
    'nor assign it'
);

select tests.act_as('a_front_desk');
select is(
    tests.error_of(
        format(
            'select public.assign_voice_session(%L, %L)',
            (tests.session_of('call-5')).id,
            tests.id_of('patients', 'a_patient1')
        )
    ) ->> 'details',
    'patient_not_a_carrier',
    'the front desk may assign a shared number''s call only to a patient carrying that number'
);
select is(
    (public.assign_voice_session((tests.session_of('call-5')).id, '00000000-0000-4000-8000-00000000f002')).attention,
    null,
    'assigning it to one of the carriers settles it'
);

select * from finish();
rollback;
