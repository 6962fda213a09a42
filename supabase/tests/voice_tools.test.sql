-- The voice agent's tools (issue 14, item 5): a caller known only by their number may find
-- slots and nothing else; a caller verified in the call with their voice PIN books, moves and
-- cancels their own appointments and hears their prescriptions' readiness, with the app's
-- rules; the verification holds for that call only; a call from another patient's number gets
-- nothing without that patient's PIN; 5 wrong PINs lock; the PIN is stored hashed; only the
-- service role runs the tools.
begin;
select plan(41);

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

-- A tool call in call `call_id` from `phone` (a_patient1 carries +919800010001, a_patient2
-- +919800010002).
create function tests.tool(call_id text, phone text, tool text, arguments jsonb default '{}')
returns jsonb
language sql
set search_path = ''
as $$
    select public.voice_tool_call(call_id, phone, 'pn-tsta', tool, arguments);
$$;
grant execute on function tests.tool(text, text, text, jsonb) to service_role;

create function tests.a_doctor_at(local_time text)
returns jsonb
language sql
set search_path = ''
as $$
    select jsonb_build_object('doctor_id', tests.id_of('doctors', 'a_doctor'), 'starts_at', local_time);
$$;
grant execute on function tests.a_doctor_at(text) to service_role;

-- The phone's carriers ------------------------------------------------------------------------

select is(
    private.phone_carriers('+919800010001'), array[tests.id_of('patients', 'a_patient1')],
    'one patient carries a_patient1''s number'
);
select is(private.phone_carriers('+919899999999'), '{}'::uuid[], 'nobody carries an unknown number');

-- Grants ------------------------------------------------------------------------------------------

select ok(
    has_function_privilege('service_role', 'public.voice_tool_call(text, text, text, text, jsonb)', 'EXECUTE')
    and not has_function_privilege('authenticated', 'public.voice_tool_call(text, text, text, text, jsonb)', 'EXECUTE')
    and not has_function_privilege('anon', 'public.voice_tool_call(text, text, text, text, jsonb)', 'EXECUTE'),
    'only the service role runs the voice tools'
);
select ok(
    not has_function_privilege('authenticated', 'private.voice_tool_call(text, text, text, text, jsonb)', 'EXECUTE')
    and not has_function_privilege('authenticated', 'private.voice_verify_caller(uuid, text, text)', 'EXECUTE')
    and not has_function_privilege('authenticated', 'private.voice_send_code(uuid)', 'EXECUTE')
    and not has_function_privilege('authenticated', 'private.voice_act_as(jsonb)', 'EXECUTE'),
    'no login reaches the tools or the acting helper through private'
);
select ok(
    has_function_privilege('authenticated', 'public.set_voice_pin(text)', 'EXECUTE')
    and not has_function_privilege('anon', 'public.set_voice_pin(text)', 'EXECUTE'),
    'a signed-in patient sets their PIN; anon may not'
);
select ok(
    not has_table_privilege('authenticated', 'private.voice_pins', 'SELECT')
    and not has_table_privilege('service_role', 'private.voice_pins', 'SELECT')
    and not has_table_privilege('service_role', 'private.voice_pin_attempts', 'SELECT')
    and not has_table_privilege('authenticated', 'private.voice_codes', 'SELECT')
    and not has_table_privilege('service_role', 'private.voice_codes', 'SELECT'),
    'no API role reads the PINs, the SMS codes or the attempts'
);

-- Setting a PIN -------------------------------------------------------------------------------------

select tests.act_as('a_patient1');
select ok(public.set_voice_pin('4821') ? 'set_at', 'a patient sets their voice PIN');
select is(
    tests.error_of($$ select public.set_voice_pin('1234') $$) ->> 'details', 'pin_too_simple',
    'a consecutive PIN is refused'
);
select is(
    tests.error_of($$ select public.set_voice_pin('0001') $$) ->> 'details', 'pin_too_simple',
    'the end of the patient''s phone number is refused'
);
select is(
    tests.error_of($$ select public.set_voice_pin('48a1') $$) ->> 'details', 'pin_format', 'a PIN is digits'
);
select tests.act_as('a_doctor');
select is(
    tests.error_of($$ select public.set_voice_pin('4821') $$) ->> 'code',
    '42501',
    'a login with no patient record has no PIN'
);
select tests.act_as('a_patient2');
select public.set_voice_pin('7305');
select tests.clear_authentication();

select ok(
    (
        select v.pin_hash <> '4821' and v.pin_hash like '$2a$08$%' and extensions.crypt('4821', v.pin_hash) = v.pin_hash
        from private.voice_pins as v
        where v.patient_id = tests.id_of('patients', 'a_patient1')
    ),
    'the PIN is stored as a bcrypt hash only'
);

-- Before verification: slots, and nothing of the record -------------------------------------------

select tests.act_as_service_role();

select ok(
    jsonb_array_length(
        tests.tool('call-1', '+919800010001', 'find_slots', '{"date": "2030-04-01", "specialty": "general medicine"}')
        #> '{result,slots}'
    ) > 0,
    'an unverified caller finds slots of the line''s hospital'
);
select is(
    tests.tool('call-1', '+919800010001', 'find_slots', '{"date": "2030-04-01", "doctor_name": "Dr A Doctor"}')
    #>> '{result,slots,0,starts_at}',
    '2030-04-01T09:00',
    'slots are found by the doctor''s name too, in the hospital''s local time'
);
select is(
    (
        select array_agg(k order by k)
        from jsonb_object_keys(tests.tool('call-1', '+919800010001', 'next_appointments') -> 'result') as k
    ) || (tests.tool('call-1', '+919800010001', 'next_appointments') #>> '{result,reason}'),
    array['done', 'reason', 'say', 'verification_required'],
    'an unverified caller hears no appointment, only that they must verify'
);
select is(
    tests.tool('call-1', '+919800010001', 'prescription_status') #>> '{result,reason}', 'verification_required',
    'nor their prescriptions'
);
select is(
    tests.tool('call-1', '+919800010001', 'book_appointment', tests.a_doctor_at('2030-04-01T10:30'))
    #>> '{result,reason}',
    'verification_required',
    'nor books in their name'
);
select is((
    select count(*)::int from public.appointments as a
    where a.patient_id = tests.id_of('patients', 'a_patient1') and a.source = 'voice_agent'
), 0, 'and nothing was booked');

-- Verification ----------------------------------------------------------------------------------------

select is(
    tests.tool('call-1', '+919800010001', 'verify_caller', '{"pin": "7305"}') -> 'result',
    '{"verified": false, "reason": "wrong_pin", "tries_left": 4}',
    'another patient''s PIN does not verify the caller'
);
select is(
    tests.tool('call-1', '+919800010001', 'verify_caller', '{"pin": "4821"}') -> 'result', '{"verified": true}',
    'the patient''s PIN verifies the caller'
);
select is(
    (
        select s.verified_patient_id from public.ai_sessions as s
        where s.external_id = 'call-1'
    ),
    tests.id_of('patients', 'a_patient1'),
    'the verification is stored on the call''s session'
);

-- A verified caller's own appointments ------------------------------------------------------------

select tests.remember('booked', (
    tests.tool(
        'call-1', '+919800010001', 'book_appointment',
        tests.a_doctor_at('2030-04-01T10:30') || jsonb_build_object('patient_id', tests.id_of('patients', 'a_patient2'))
    ) #>> '{result,appointment,appointment_id}'
)::uuid);
select is(
    (
        select array[a.patient_id::text, a.source::text, a.status::text, (a.starts_at = '2030-04-01 05:00Z')::text]
        from public.appointments as a
        where a.id = tests.recall('booked')
    ),
    array[tests.id_of('patients', 'a_patient1')::text, 'voice_agent', 'scheduled', 'true'],
    'a verified caller books for themselves (a patient_id in the arguments is ignored)'
);
select is(
    tests.tool('call-1', '+919800010001', 'book_appointment', tests.a_doctor_at('2030-04-01T10:30')) ->> 'code',
    '23P01',
    'a clash is refused as in the app'
);
select is(
    tests.tool('call-1', '+919800010001', 'book_appointment', tests.a_doctor_at('2030-04-01T20:00')) ->> 'code',
    'PT422',
    'outside the doctor''s hours the patient''s booking rule refuses it, as in the app'
);
select is(
    tests.tool('call-1', '+919800010001', 'next_appointments') #>> '{result,appointments,0,appointment_id}',
    tests.recall('booked')::text,
    'the caller hears their next appointments'
);
select is(
    tests.tool(
        'call-1', '+919800010001', 'reschedule_appointment',
        jsonb_build_object('appointment_id', tests.recall('booked'), 'starts_at', '2030-04-01T11:00')
    ) #>> '{result,appointment,starts_at}',
    '2030-04-01T11:00',
    'the caller moves their appointment'
);
select is(current_user::text, 'service_role', 'after acting as the patient the tool is back to the service role');

-- Someone else's appointment.
select tests.act_as('a_front_desk');
select tests.remember('theirs', (
    select a.id from public.book_appointment(
        tests.id_of('doctors', 'a_doctor'), '2030-04-02 05:00Z', patient_id => tests.id_of('patients', 'a_patient2')
    ) as a
));
select tests.act_as_service_role();
select is(
    tests.tool(
        'call-1', '+919800010001', 'cancel_appointment', jsonb_build_object('appointment_id', tests.recall('theirs'))
    ),
    '{"error": "no such appointment of the caller''s; list them with next_appointments"}',
    'another patient''s appointment cannot be cancelled'
);
select is(
    tests.tool(
        'call-1', '+919800010001', 'reschedule_appointment',
        jsonb_build_object('appointment_id', tests.recall('theirs'), 'starts_at', '2030-04-02T12:00')
    ) ->> 'error',
    'no such appointment of the caller''s; list them with next_appointments',
    'nor moved'
);
select is(
    (
        select array[a.status::text, a.starts_at::text] from public.appointments as a
        where a.id = tests.recall('theirs')
    ),
    array['scheduled', '2030-04-02 05:00:00+00'],
    'it is unchanged'
);
select is(
    tests.tool(
        'call-1', '+919800010001', 'cancel_appointment', jsonb_build_object('appointment_id', tests.recall('booked'))
    )
    #>> '{result,appointment,status}',
    'cancelled',
    'the caller cancels their own appointment'
);

-- Prescription readiness.
select tests.act_as('a_doctor');
select public.issue_prescription(tests.id_of('patients', 'a_patient1'), '[{"name": "Metformin", "quantity": 30}]');
select tests.act_as_service_role();
select is(
    tests.tool('call-1', '+919800010001', 'prescription_status') #>> '{result,prescriptions,0,status}', 'pending',
    'the caller hears whether their medicine is ready'
);
select ok(
    tests.tool('call-1', '+919800010001', 'prescription_status')::text !~* 'metformin',
    'readiness says nothing of what was prescribed'
);

-- The verification holds for its call only ----------------------------------------------------------

select is(
    tests.tool('call-2', '+919800010001', 'next_appointments') #>> '{result,reason}', 'verification_required',
    'a new call from the same number must verify again'
);

-- A call from another patient's number ----------------------------------------------------------------

select is(
    tests.tool('call-3', '+919800010002', 'verify_caller', '{"pin": "4821"}') #>> '{result,reason}', 'wrong_pin',
    'a caller on a_patient2''s number is not verified with a_patient1''s PIN'
);
select is(
    tests.tool('call-3', '+919800010002', 'next_appointments') #>> '{result,reason}', 'verification_required',
    'and hears nothing clinical'
);

-- Five wrong PINs lock ----------------------------------------------------------------------------------

select tests.tool('call-3', '+919800010002', 'verify_caller', jsonb_build_object('pin', p))
from unnest(array['1111', '2222', '3333']) as p;
select is(
    tests.tool('call-3', '+919800010002', 'verify_caller', '{"pin": "4444"}') -> 'result',
    '{"verified": false, "reason": "locked", "tries_left": 0}',
    'the fifth wrong PIN locks'
);
select is(
    tests.tool('call-3', '+919800010002', 'verify_caller', '{"pin": "7305"}') #>> '{result,reason}', 'locked',
    'after which even the right PIN does not verify the call'
);
select is(
    tests.tool('call-4', '+919800010002', 'verify_caller', '{"pin": "7305"}') #>> '{result,reason}', 'locked',
    'nor another call that day'
);

-- A shared number identifies nobody; an ended call runs nothing ----------------------------------------

select tests.clear_authentication();
insert into public.patients (full_name, phone) values ('Jaswant Kaur', '+919800010001');
select tests.act_as_service_role();
select is(
    tests.tool('call-5', '+919800010001', 'verify_caller', '{"pin": "4821"}') #>> '{result,reason}',
    'caller_not_identified',
    'a number two patients carry verifies nobody, even with a PIN'
);
select public.record_voice_call(jsonb_build_object(
    'type', 'status-update', 'status', 'ended', 'call', jsonb_build_object('id', 'call-1', 'phoneNumberId', 'pn-tsta')
));
select is(
    tests.tool('call-1', '+919800010001', 'next_appointments'), '{"error": "this call has ended"}',
    'a tool call for an ended call does nothing'
);

select * from finish();
rollback;
