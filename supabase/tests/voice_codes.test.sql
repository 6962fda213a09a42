-- The voice agent's SMS one-time codes (issue 14, item 5): a caller identified by their number
-- asks for a code (send_verification_code); carebase keeps only its hash and hands the text
-- and the patient's own phone on record to the sidecar, never to the agent; the code verifies
-- that call only, once, for 10 minutes; 3 codes a call and 5 a patient a day; wrong codes and
-- wrong PINs count toward the same lock. A caller showing another patient's number makes the
-- code go to that patient's real phone, so the spoofer stays unverified and hears nothing
-- clinical.
begin;
select plan(37);

select tests.create_world();

insert into public.voice_lines (hospital_id, vapi_phone_number_id, phone, label)
values (tests.id_of('hospitals', 'TSTA'), 'pn-tsta', '+911765500100', 'TSTA helpline');
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)
select
    tests.id_of('doctors', 'a_doctor'),
    tests.id_of('hospitals', 'TSTA'),
    w,
    '09:00',
    '17:00',
    30
from generate_series(1, 5) as w;

create function tests.tool(call_id text, phone text, tool text, arguments jsonb default '{}')
returns jsonb
language sql
set search_path = ''
as $$
    select public.voice_tool_call(call_id, phone, 'pn-tsta', tool, arguments);
$$;
grant execute on function tests.tool(text, text, text, jsonb) to service_role;

-- The answers of send_verification_code, by name, to read the texted codes back.
create temporary table texts (name text primary key, answer jsonb not null) on commit drop;
grant select, insert on pg_temp.texts to service_role;

create function tests.send_code(name text, call_id text, phone text, arguments jsonb default '{}')
returns jsonb
language sql
set search_path = ''
as $$
    insert into pg_temp.texts (name, answer)
    values (send_code.name, tests.tool(call_id, phone, 'send_verification_code', arguments))
    returning answer;
$$;
grant execute on function tests.send_code(text, text, text, jsonb) to service_role;

-- The code in a text, as the patient reads it on their phone.
create function tests.code(name text)
returns text
language sql
stable
set search_path = ''
as $$
    select substring(t.answer #>> '{sms,body}' from '^([0-9]{6}) ') from pg_temp.texts as t where t.name = code.name;
$$;
grant execute on function tests.code(text) to service_role;

-- A code that is not it.
create function tests.not_code(name text)
returns text
language sql
stable
set search_path = ''
as $$
    select lpad(((tests.code(name)::integer + 1) % 1000000)::text, 6, '0');
$$;
grant execute on function tests.not_code(text) to service_role;

-- ab_patient4 has no app login (as a record the voice agent made): the front desk booked them.
select tests.act_as('a_front_desk');
select tests.remember('their_visit', (
    select a.id from public.book_appointment(
        tests.id_of('doctors', 'a_doctor'), '2030-04-01 05:00Z', patient_id => tests.id_of('patients', 'ab_patient4')
    ) as a
));

-- Sending a code ----------------------------------------------------------------------------------

select tests.act_as_service_role();
select is(
    tests.send_code('c1', 'c-1', '+919800030004') -> 'result',
    jsonb_build_object(
        'sent', true,
        'say', 'A code was sent to the phone number on your record. Ask the caller to say it, then call '
        || 'verify_caller with {code}. It expires in 10 minutes.'
    ),
    'an identified caller without an app gets a code sent; the agent hears only that it was sent'
);
select is(
    (
        select t.answer #>> '{sms,to}' from pg_temp.texts as t
        where t.name = 'c1'
    ),
    '+919800030004',
    'the text goes to the patient''s phone on record'
);
select matches(tests.code('c1'), '^[0-9]{6}$', 'the text holds a 6-digit code');
select ok(
    (
        select t.answer -> 'result' from pg_temp.texts as t
        where t.name = 'c1'
    )::text !~ tests.code('c1')
    and (
        select t.answer -> 'result' from pg_temp.texts as t
        where t.name = 'c1'
    )::text !~ '9800030004',
    'what the agent hears holds neither the code nor the number'
);

select tests.clear_authentication();
select ok(
    (
        select
            c.code_hash like '$2a$08$%' and extensions.crypt(tests.code('c1'), c.code_hash) = c.code_hash
            and strpos(c::text, tests.code('c1')) = 0
        from private.voice_codes as c
        inner join public.ai_sessions as s on c.session_id = s.id
        where s.external_id = 'c-1'
    ),
    'the code is stored as a bcrypt hash only'
);
select ok(
    (
        select c.expires_at = now() + interval '10 minutes'
        from private.voice_codes as c inner join public.ai_sessions as s on c.session_id = s.id
        where s.external_id = 'c-1'
    ),
    'it expires in 10 minutes'
);
select tests.act_as_service_role();

-- Verifying with it -------------------------------------------------------------------------------

select is(
    tests.tool('c-1', '+919800030004', 'next_appointments') #>> '{result,reason}', 'verification_required',
    'before the code is said the caller hears nothing of the record'
);
select is(
    tests.tool('c-2', '+919800030004', 'verify_caller', jsonb_build_object('code', tests.code('c1'))) -> 'result',
    jsonb_build_object(
        'verified', false, 'reason', 'no_code_sent',
        'say', 'No code was sent in this call; call send_verification_code first.'
    ),
    'a code verifies only the call it was sent in'
);
select tests.send_code('c2', 'c-2', '+919800030004');
select is(
    tests.tool('c-2', '+919800030004', 'verify_caller', jsonb_build_object('code', tests.code('c1'))) -> 'result',
    '{"verified": false, "reason": "wrong_code", "tries_left": 4}',
    'another call''s code is a wrong code here'
);
select is(
    tests.tool('c-1', '+919800030004', 'verify_caller', jsonb_build_object('pin', '4821', 'code', tests.code('c1')))
    #>> '{result,reason}',
    'pin_or_code',
    'a PIN and a code together are refused'
);
select is(
    tests.tool('c-1', '+919800030004', 'verify_caller', jsonb_build_object('code', tests.code('c1'))) -> 'result',
    '{"verified": true}',
    'the code of the call verifies the caller'
);
select is(
    (
        select array[s.verified_patient_id::text, (s.verified_at = now())::text] from public.ai_sessions as s
        where s.external_id = 'c-1'
    ),
    array[tests.id_of('patients', 'ab_patient4')::text, 'true'],
    'the verification is stored on the call''s session, as with the PIN'
);
select is(
    tests.tool('c-1', '+919800030004', 'next_appointments') #>> '{result,appointments,0,appointment_id}',
    tests.recall('their_visit')::text,
    'a verified caller without an app hears their next appointments'
);
select is(
    tests.tool('c-1', '+919800030004', 'prescription_status') -> 'result', '{"prescriptions": []}',
    'and their medicine'
);
select is(
    tests.tool('c-1', '+919800030004', 'book_appointment', jsonb_build_object(
        'doctor_id', tests.id_of('doctors', 'a_doctor'), 'starts_at', '2030-04-01T12:00'
    )) #>> '{result,reason}',
    'no_app_login',
    'but books nothing without an app login to act as'
);
select is(
    tests.send_code('c1-again', 'c-1', '+919800030004') #>> '{result,reason}', 'already_verified',
    'a verified call gets no more codes'
);

-- Single use, expiry.
select tests.clear_authentication();
update public.ai_sessions set verified_patient_id = null, verified_at = null
where external_id = 'c-1';
select tests.act_as_service_role();
select is(
    tests.tool('c-1', '+919800030004', 'verify_caller', jsonb_build_object('code', tests.code('c1')))
    #>> '{result,reason}',
    'code_used',
    'a code is used once'
);
select tests.clear_authentication();
update private.voice_codes set expires_at = now() - interval '1 second'
where session_id = (
    select s.id from public.ai_sessions as s
    where s.external_id = 'c-2'
);
select tests.act_as_service_role();
select is(
    tests.tool('c-2', '+919800030004', 'verify_caller', jsonb_build_object('code', tests.code('c2')))
    #>> '{result,reason}',
    'code_expired',
    'an expired code does not verify'
);
select is(
    tests.tool('c-2', '+919800030004', 'next_appointments') #>> '{result,reason}', 'verification_required',
    'and the call stays unverified'
);
select tests.clear_authentication();
select is(
    (
        select array_agg(a.factor || ':' || a.succeeded order by a.id) from private.voice_pin_attempts as a
        where a.patient_id = tests.id_of('patients', 'ab_patient4')
    ),
    array['code:false', 'code:true'],
    'the attempts are counted as codes; an unsent, used or expired code is not a guess'
);

-- Limits, and a new code replacing the last ------------------------------------------------------

select tests.act_as_service_role();
select tests.send_code(n, 'l-1', '+919800010002') from unnest(array['l1a', 'l1b', 'l1c']) as n;
select is(
    (
        select array_agg(t.answer #>> '{result,sent}' order by t.name) from pg_temp.texts as t
        where t.name like 'l1_'
    ),
    array['true', 'true', 'true'],
    'three codes are sent in a call'
);
select is(
    tests.send_code('l1d', 'l-1', '+919800010002') -> 'result',
    '{"sent": false, "reason": "too_many_codes", "say": "Three codes were sent in this call; no more can be sent."}',
    'the fourth is refused'
);
select ok(
    (
        select not(t.answer ? 'sms') from pg_temp.texts as t
        where t.name = 'l1d'
    ),
    'and nothing is texted'
);
select tests.send_code(n, 'l-2', '+919800010002') from unnest(array['l2a', 'l2b']) as n;
select is(
    tests.send_code('l2c', 'l-2', '+919800010002') #>> '{result,reason}',
    'too_many_codes_today',
    'the sixth code for a patient in a day is refused, whichever call'
);
select is(
    tests.tool('l-2', '+919800010002', 'verify_caller', jsonb_build_object('code', tests.code('l2a')))
    #>> '{result,reason}',
    'wrong_code',
    'a new code replaces the previous one of the call'
);
select is(
    tests.tool('l-2', '+919800010002', 'verify_caller', jsonb_build_object('code', tests.code('l2b') || ' '))
    -> 'result',
    '{"verified": true}',
    'the newest code verifies (spaces the agent heard are ignored)'
);
select is(
    (
        select count(distinct tests.code(t.name)) from pg_temp.texts as t
        where t.name like 'l__'
    ) > 3,
    true,
    'codes differ from one another'
);

-- Wrong codes and wrong PINs share the lock --------------------------------------------------------

select tests.act_as('a_patient1');
select public.set_voice_pin('4821');
select tests.act_as_service_role();
select tests.send_code('k1', 'k-1', '+919800010001');
select tests.tool('k-1', '+919800010001', 'verify_caller', jsonb_build_object('pin', p))
from unnest(array['1111', '2222']) as p;
select is(
    tests.tool('k-1', '+919800010001', 'verify_caller', jsonb_build_object('code', tests.not_code('k1'))) -> 'result',
    '{"verified": false, "reason": "wrong_code", "tries_left": 2}',
    'a wrong code counts after wrong PINs'
);
select tests.tool('k-1', '+919800010001', 'verify_caller', '{"pin": "3333"}');
select is(
    tests.tool('k-1', '+919800010001', 'verify_caller', jsonb_build_object('code', tests.not_code('k1'))) -> 'result',
    '{"verified": false, "reason": "locked", "tries_left": 0}',
    'the fifth wrong PIN or code locks the call'
);
select is(
    tests.tool('k-1', '+919800010001', 'verify_caller', jsonb_build_object('code', tests.code('k1')))
    #>> '{result,reason}',
    'locked',
    'after which the right code does not verify'
);
select is(
    tests.tool('k-1', '+919800010001', 'verify_caller', '{"pin": "4821"}') #>> '{result,reason}', 'locked',
    'nor the right PIN'
);
select is(
    tests.send_code('k2', 'k-2', '+919800010001') -> 'result' ->> 'reason', 'locked',
    'and a locked patient is sent no code, in another call either'
);

-- A spoofed caller ID -------------------------------------------------------------------------------

-- The attacker's call shows b_patient3's number and names their own phone in the arguments.
select is(
    tests.send_code('spoof', 's-1', '+919800020003', '{"phone": "+919811111111", "to": "+919811111111"}')
    #>> '{sms,to}',
    '+919800020003',
    'a spoofed call makes the code go to the real patient''s phone on record, never to a number in the arguments'
);
select is(
    tests.tool('s-1', '+919800020003', 'verify_caller', jsonb_build_object('code', tests.not_code('spoof')))
    #>> '{result,reason}',
    'wrong_code',
    'the spoofer, who cannot read that phone, is not verified by a guess'
);
select is(
    tests.tool('s-1', '+919800020003', 'next_appointments') #>> '{result,reason}', 'verification_required',
    'and hears nothing clinical'
);

-- A number that identifies nobody ---------------------------------------------------------------------

select tests.clear_authentication();
insert into public.patients (full_name, phone) values ('Jaswant Kaur', '+919800020003');
select tests.act_as_service_role();
select is(
    tests.send_code('shared', 'n-1', '+919800020003') -> 'result' ->> 'reason', 'caller_not_identified',
    'a number two patients carry gets no code'
);
select ok(
    (
        select not(t.answer ? 'sms') from pg_temp.texts as t
        where t.name = 'shared'
    ),
    'and nothing is texted'
);

select * from finish();
rollback;
