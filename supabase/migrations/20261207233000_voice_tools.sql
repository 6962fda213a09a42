-- The voice agent's tools (issue 14, item 5: Vapi's tool-calls): during a call the agent finds
-- slots, books, moves and cancels the caller's own appointments, lists their next ones and
-- tells whether their medicine is ready. The sidecar hands each tool call to
-- rpc/voice_tool_call with the call's id; the caller is the patient of the call's session
-- (private.voice_caller: one live patient carries the number), never a patient named in the
-- tool's arguments.
--
-- Caller ID is not identity (a number can be spoofed, and a family shares one): without a
-- verification in the call the agent may only find slots. Anything that reveals or changes
-- the caller's record needs their voice PIN, set in the app (rpc/set_voice_pin, stored as a
-- bcrypt hash) and said in the call (the verify_caller tool), or a one-time code sent by SMS
-- to the patient's phone on record (send_verification_code: for patients on keypad phones
-- who have no app, so no PIN). The verification is stored on the call's session and holds
-- for that call only; 5 wrong PINs or codes lock the call, and 5 in a day lock the patient's
-- voice verification for the day, whichever number calls.
--
-- Why the SMS code is safe against a spoofed caller ID: the code goes to the phone on the
-- identified patient's record, never to a number the caller or the agent names. A spoofer
-- showing another patient's number makes carebase text that patient's real phone, which the
-- spoofer cannot read; without the code they stay unverified and hear nothing clinical.
--
-- A verified caller's tools act as the patient's own login (private.voice_act_as): the same
-- role and claims PostgREST sets for their request, so RLS, the state machine and the
-- booking-time checks of the app apply unchanged; the scheduling functions are called, not
-- repeated.

-- Who carries a phone ------------------------------------------------------------------------

-- The live patients carrying a number: one identifies a person; several (a family's phone)
-- identify nobody. Used by every lookup of a caller by number.
create function private.phone_carriers(phone public.phone_e164)
returns uuid[]
language sql
stable
set search_path = ''
as $$
    select coalesce(array_agg(p.id order by p.id), '{}')
    from public.patients as p
    where p.phone = phone_carriers.phone and p.deleted_at is null and p.merged_into is null;
$$;

comment on function private.phone_carriers(public.phone_e164) is
'The live (not deleted, not merged) patients carrying a number; a number identifies a patient '
'only when exactly one carries it.';

create or replace function private.voice_caller(phone public.phone_e164, hospital_id uuid, spoken_name text)
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
    carriers := private.phone_carriers(voice_caller.phone);
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

create or replace function private.voice_caller_context(phone text)
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
    carriers := private.phone_carriers(voice_caller_context.phone::public.phone_e164);
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

create or replace function private.request_voice_callback_by_sms(from_phone text, to_phone text, body text)
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
    carriers := private.phone_carriers(from_phone::public.phone_e164);
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

-- Voice PINs -------------------------------------------------------------------------------------

create table private.voice_pins (
    patient_id uuid primary key references public.patients (id) on delete cascade,
    pin_hash text not null,
    set_at timestamptz not null default now()
);

alter table private.voice_pins enable row level security;
revoke all on private.voice_pins from anon, authenticated, service_role;

comment on table private.voice_pins is
'Each patient''s voice PIN (rpc/set_voice_pin), as a bcrypt hash only: what a caller says to be '
'verified in a call to the voice agent.';
comment on constraint voice_pins_patient_id_fkey on private.voice_pins is
'Kept at a merge: a PIN belongs to the record it was set on; a merged record answers no call.';

-- Every PIN or SMS code said in a call, right or wrong: the lock counts the wrong ones of both.
create table private.voice_pin_attempts (
    id bigint generated always as identity primary key,
    session_id uuid not null references public.ai_sessions (id) on delete cascade,
    patient_id uuid not null references public.patients (id) on delete cascade,
    factor text not null default 'pin' check (factor in ('pin', 'code')),
    succeeded boolean not null,
    attempted_at timestamptz not null default now()
);

create index voice_pin_attempts_session_idx on private.voice_pin_attempts (session_id);
create index voice_pin_attempts_patient_idx on private.voice_pin_attempts (patient_id, attempted_at);

alter table private.voice_pin_attempts enable row level security;
revoke all on private.voice_pin_attempts from anon, authenticated, service_role;

comment on table private.voice_pin_attempts is
'The voice PINs and SMS codes said in calls (whether right, not what; factor pin or code): 5 '
'wrong in a call lock that call, 5 wrong for a patient in 24 hours lock their voice '
'verification (PIN and codes) until the day has passed.';
comment on constraint voice_pin_attempts_patient_id_fkey on private.voice_pin_attempts is
'Kept at a merge: attempts count against the record whose PIN was tried.';

-- The one-time codes sent by SMS in calls (send_verification_code), as bcrypt hashes only.
-- Bound to the call's session: the newest code of a call is its only live one (a new code
-- replaces the previous), for 10 minutes, once. The rows also count the codes sent: 3 per
-- call, 5 per patient in 24 hours.
create table private.voice_codes (
    id bigint generated always as identity primary key,
    session_id uuid not null references public.ai_sessions (id) on delete cascade,
    patient_id uuid not null references public.patients (id) on delete cascade,
    code_hash text not null,
    sent_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz
);

create index voice_codes_session_idx on private.voice_codes (session_id, id);
create index voice_codes_patient_idx on private.voice_codes (patient_id, sent_at);

alter table private.voice_codes enable row level security;
revoke all on private.voice_codes from anon, authenticated, service_role;

comment on table private.voice_codes is
'The one-time codes sent by SMS to a patient''s phone on record to verify a caller in a call '
'(bcrypt hash only, never the code): the newest of the call is live for 10 minutes and once; 3 '
'per call, 5 per patient in 24 hours.';
comment on constraint voice_codes_patient_id_fkey on private.voice_codes is
'Kept at a merge: a code was sent for the record the call identified; a merged record answers no call.';

-- The verification of a call: for its patient, in that call only.
alter table public.ai_sessions
add column verified_patient_id uuid references public.patients (id),
add column verified_at timestamptz,
add constraint ai_sessions_verified_together check ((verified_patient_id is null) = (verified_at is null));

create index ai_sessions_verified_patient_idx on public.ai_sessions (verified_patient_id);

-- A merged record is verified in no new call either.
drop trigger refuse_merged_patient on public.ai_sessions;
create trigger refuse_merged_patient
before insert or update on public.ai_sessions
for each row execute function private.refuse_merged_patient('patient_id', 'verified_patient_id');
grant select (verified_at) on public.ai_sessions to authenticated;

comment on column public.ai_sessions.verified_patient_id is
'The patient the caller proved to be in this call (their voice PIN): the voice agent''s tools '
'reveal and change only this patient''s record, and only in this call.';
comment on column public.ai_sessions.verified_at is 'When the caller was verified in the call.';

-- A patient sets or changes their voice PIN in the app. Security definer: writes the hash,
-- which no API role may read or write.
create function private.set_voice_pin(pin text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    patient public.patients;
    stored private.voice_pins;
begin
    select p.* into patient from public.patients as p where p.id = private.own_patient_id();
    if patient.id is null then
        perform private.raise_forbidden('only a patient sets a voice PIN', hint => 'sign in as the patient');
    end if;
    if pin is null or pin !~ '^[0-9]{4,6}$' then
        perform private.raise_invalid('a voice PIN is 4 to 6 digits', 'pin_format');
    end if;
    -- What anyone holding the phone could guess first.
    if pin ~ '^(.)\1*$' or strpos('0123456789', pin) > 0 or strpos('9876543210', pin) > 0
        or right(coalesce(patient.phone::text, ''), length(pin)) = pin then
        perform private.raise_invalid(
            'this PIN is too easy to guess', 'pin_too_simple',
            'avoid repeated or consecutive digits and the end of your phone number'
        );
    end if;
    insert into private.voice_pins (patient_id, pin_hash)
    values (patient.id, extensions.crypt(pin, extensions.gen_salt('bf', 8)))
    on conflict (patient_id) do update set pin_hash = excluded.pin_hash, set_at = now()
    returning * into stored;
    perform private.audit_append(
        'UPDATE', 'private.voice_pins', patient.id::text, null, patient.id, '{pin_hash}'
    );
    return jsonb_build_object('set_at', stored.set_at);
end;
$$;

grant execute on function private.set_voice_pin(text) to authenticated;

-- RPC: POST /rest/v1/rpc/set_voice_pin {"pin": "4821"}.
create function public.set_voice_pin(pin text)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.set_voice_pin(set_voice_pin.pin);
$$;

grant execute on function public.set_voice_pin(text) to authenticated;

comment on function public.set_voice_pin(text) is
'A patient sets or changes their voice PIN (4 to 6 digits): what they say to the voice agent '
'to be verified in a call before it tells or changes anything of their record. Stored as a '
'hash only. Returns {set_at}. Errors: 42501 not a patient, 22023 pin_format or pin_too_simple.';

-- The caller of a call ------------------------------------------------------------------------

-- The call's session (made here when the tool call is the first message about the call), its
-- line's hospital, and its caller: the session's patient, their login when it may act, and
-- whether the caller was verified in this call. Security definer: reads and makes sessions
-- for the service role.
create function private.voice_call_caller(call_id text, caller_phone text, phone_number_id text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    session public.ai_sessions;
    login uuid;
begin
    if nullif(btrim(call_id), '') is null then
        perform private.raise_invalid('the message names no call (call.id)', 'call_id_missing');
    end if;
    select s.* into session from public.ai_sessions as s
    where s.channel = 'voice' and s.external_id = call_id;
    if session.id is null then
        -- A tool call proves the call is in progress; its session is made as a status would.
        perform private.record_voice_call(jsonb_build_object(
            'type', 'status-update', 'status', 'in-progress',
            'call', jsonb_build_object(
                'id', call_id, 'phoneNumberId', phone_number_id, 'customer', jsonb_build_object('number', caller_phone)
            )
        ));
        select s.* into session from public.ai_sessions as s
        where s.channel = 'voice' and s.external_id = call_id;
    end if;
    -- The patient's login, unless it is banned or deleted (then nobody acts in its name).
    select u.id into login
    from public.patients as p
    join auth.users as u on u.id = p.user_id
    where p.id = session.patient_id and p.deleted_at is null and p.merged_into is null
        and u.deleted_at is null and (u.banned_until is null or u.banned_until < now());
    return jsonb_build_object(
        'session_id', session.id,
        'call_status', session.call_status,
        'hospital_id', session.hospital_id,
        'time_zone', (select h.time_zone from public.hospitals as h where h.id = session.hospital_id),
        'patient_id', session.patient_id,
        'login', login,
        'verified', coalesce(session.patient_id is not null and session.verified_patient_id = session.patient_id, false)
    );
end;
$$;

comment on function private.voice_call_caller(text, text, text) is
'The session of a call (made if needed) and its caller: {session_id, call_status, hospital_id, '
'time_zone, patient_id, login, verified}.';

-- Whether a patient's voice verification is locked for this call: 5 wrong PINs or SMS codes
-- (counted together) in the call, or for the patient in the last 24 hours.
create function private.voice_pin_locked(session_id uuid, patient_id uuid)
returns boolean
language sql
stable
set search_path = ''
as $$
    select
        (
            select count(*) from private.voice_pin_attempts as a
            where a.session_id = voice_pin_locked.session_id and not a.succeeded
        ) >= 5
        or (
            select count(*) from private.voice_pin_attempts as a
            where a.patient_id = voice_pin_locked.patient_id and not a.succeeded
                and a.attempted_at > now() - interval '24 hours'
        ) >= 5;
$$;

-- How many tries a patient has left in a call: 5 wrong (PINs and codes together) in the call,
-- or for the patient in the last 24 hours, lock.
create function private.voice_tries_left(session_id uuid, patient_id uuid)
returns integer
language sql
stable
set search_path = ''
as $$
    select greatest(0, 5 - greatest(
        (
            select count(*) from private.voice_pin_attempts as a
            where a.session_id = voice_tries_left.session_id and not a.succeeded
        ),
        (
            select count(*) from private.voice_pin_attempts as a
            where a.patient_id = voice_tries_left.patient_id and not a.succeeded
                and a.attempted_at > now() - interval '24 hours'
        )
    ))::integer;
$$;

-- The verify_caller tool: the PIN, or the SMS code of this call, said in the call against the
-- session's patient's. Wrong ones of both count toward the same lock. Security definer: reads
-- the hashes, counts the attempt, marks the session.
create function private.voice_verify_caller(session_id uuid, pin text, code text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    session public.ai_sessions;
    stored private.voice_pins;
    sent private.voice_codes;
    factor constant text := case when code is not null then 'code' else 'pin' end;
    said constant text := regexp_replace(code, '[\s-]', '', 'g');
    right_answer boolean;
    left_tries integer;
begin
    if pin is not null and code is not null then
        return jsonb_build_object(
            'verified', false, 'reason', 'pin_or_code', 'say', 'Pass either the PIN or the code, not both.'
        );
    end if;
    select s.* into session from public.ai_sessions as s where s.id = voice_verify_caller.session_id for update;
    if session.patient_id is null then
        return jsonb_build_object(
            'verified', false, 'reason', 'caller_not_identified',
            'say', 'This number does not identify one patient. The front desk can help with records.'
        );
    end if;
    if session.verified_patient_id = session.patient_id then
        return jsonb_build_object('verified', true);
    end if;
    -- Attempts for one patient take turns, so that the count of wrong ones is exact.
    perform pg_advisory_xact_lock(hashtextextended('voice_pin:' || session.patient_id, 0));
    if private.voice_pin_locked(session.id, session.patient_id) then
        return jsonb_build_object(
            'verified', false, 'reason', 'locked',
            'say', 'Too many wrong PINs or codes. Records cannot be given on the phone today; please contact the hospital.'
        );
    end if;
    if factor = 'code' then
        -- Only the newest code of this call counts: one sent in another call, or replaced, does not.
        select c.* into sent from private.voice_codes as c
        where c.session_id = session.id
        order by c.id desc
        limit 1;
        if sent.id is null then
            return jsonb_build_object(
                'verified', false, 'reason', 'no_code_sent',
                'say', 'No code was sent in this call; call send_verification_code first.'
            );
        elsif sent.used_at is not null then
            return jsonb_build_object(
                'verified', false, 'reason', 'code_used', 'say', 'That code was already used; send a new one.'
            );
        elsif sent.expires_at <= now() then
            return jsonb_build_object(
                'verified', false, 'reason', 'code_expired', 'say', 'The code has expired; send a new one.'
            );
        end if;
        right_answer := said ~ '^[0-9]{6}$' and extensions.crypt(said, sent.code_hash) = sent.code_hash;
    else
        select v.* into stored from private.voice_pins as v where v.patient_id = session.patient_id;
        if stored.patient_id is null then
            return jsonb_build_object(
                'verified', false, 'reason', 'no_pin_set',
                'say', 'No voice PIN is set for this number. The patient can set one in the app, or ask for a code by SMS (send_verification_code).'
            );
        end if;
        right_answer := pin is not null and extensions.crypt(pin, stored.pin_hash) = stored.pin_hash;
    end if;
    insert into private.voice_pin_attempts (session_id, patient_id, factor, succeeded)
    values (session.id, session.patient_id, factor, right_answer);
    if right_answer then
        if factor = 'code' then
            -- Single use.
            update private.voice_codes as c set used_at = now() where c.id = sent.id;
        end if;
        update public.ai_sessions as s
        set verified_patient_id = session.patient_id, verified_at = now()
        where s.id = session.id;
        return jsonb_build_object('verified', true);
    end if;
    left_tries := private.voice_tries_left(session.id, session.patient_id);
    return jsonb_build_object(
        'verified', false, 'reason', case when left_tries = 0 then 'locked' when factor = 'code' then 'wrong_code' else 'wrong_pin' end,
        'tries_left', left_tries
    );
end;
$$;

-- The send_verification_code tool: a 6-digit one-time code for the session's patient, to be
-- texted to the phone on their record. Only its hash is stored; the code and the number go
-- back in `sms`, for the sidecar to send, never in `result`, which is what the agent hears.
-- The number is the patient's own (a spoofed caller ID makes the real patient's phone get
-- the text, which the spoofer cannot read), never one from the tool's arguments. Security
-- definer: reads the patient's phone, writes the hash.
create function private.voice_send_code(session_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    session public.ai_sessions;
    patient public.patients;
    draw bigint;
    code text;
    hospital_name text;
begin
    select s.* into session from public.ai_sessions as s where s.id = voice_send_code.session_id for update;
    if session.patient_id is null then
        return jsonb_build_object('result', jsonb_build_object(
            'sent', false, 'reason', 'caller_not_identified',
            'say', 'This number does not identify one patient, so no code can be sent. The front desk can help.'
        ));
    end if;
    if session.verified_patient_id = session.patient_id then
        return jsonb_build_object('result', jsonb_build_object(
            'sent', false, 'reason', 'already_verified', 'say', 'The caller is already verified in this call.'
        ));
    end if;
    -- The same turn as the attempts: the counts below are exact.
    perform pg_advisory_xact_lock(hashtextextended('voice_pin:' || session.patient_id, 0));
    if private.voice_pin_locked(session.id, session.patient_id) then
        return jsonb_build_object('result', jsonb_build_object(
            'sent', false, 'reason', 'locked',
            'say', 'Too many wrong PINs or codes. Records cannot be given on the phone today; please contact the hospital.'
        ));
    end if;
    select p.* into patient from public.patients as p
    where p.id = session.patient_id and p.deleted_at is null and p.merged_into is null;
    if patient.phone is null then
        return jsonb_build_object('result', jsonb_build_object(
            'sent', false, 'reason', 'no_phone_on_record', 'say', 'There is no phone number on the record to send a code to.'
        ));
    end if;
    if (select count(*) from private.voice_codes as c where c.session_id = session.id) >= 3 then
        return jsonb_build_object('result', jsonb_build_object(
            'sent', false, 'reason', 'too_many_codes', 'say', 'Three codes were sent in this call; no more can be sent.'
        ));
    end if;
    if (
        select count(*) from private.voice_codes as c
        where c.patient_id = patient.id and c.sent_at > now() - interval '24 hours'
    ) >= 5 then
        return jsonb_build_object('result', jsonb_build_object(
            'sent', false, 'reason', 'too_many_codes_today',
            'say', 'Five codes were sent to this patient today; no more can be sent until tomorrow.'
        ));
    end if;
    -- A uniform draw from a CSPRNG: 32 random bits, redrawn above the last whole million.
    loop
        draw := ('x' || encode(extensions.gen_random_bytes(4), 'hex'))::bit(32)::bigint;
        exit when draw < 4294000000;
    end loop;
    code := lpad((draw % 1000000)::text, 6, '0');
    insert into private.voice_codes (session_id, patient_id, code_hash, expires_at)
    values (session.id, patient.id, extensions.crypt(code, extensions.gen_salt('bf', 8)), now() + interval '10 minutes');
    select h.name into hospital_name from public.hospitals as h where h.id = session.hospital_id;
    return jsonb_build_object(
        'result', jsonb_build_object(
            'sent', true,
            'say', 'A code was sent to the phone number on your record. Ask the caller to say it, then call verify_caller with {code}. It expires in 10 minutes.'
        ),
        'sms', jsonb_build_object(
            'to', patient.phone,
            'body', format(
                '%s is your code for your call with %s. It expires in 10 minutes. Do not tell it to anyone who calls you.',
                code, coalesce(hospital_name, 'the hospital')
            )
        )
    );
end;
$$;

-- The claims the patient's login carries in the app (Supabase Auth's, with the access token
-- hook's), at aal1 as a phone login signs in, marked as coming from the voice agent's call.
-- Security definer: reads auth.users and runs the hook.
create function private.voice_login_claims(login uuid, session_id uuid)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select private.custom_access_token_hook(jsonb_build_object(
        'user_id', u.id,
        'authentication_method', 'voice_pin',
        'claims', jsonb_build_object(
            'aud', 'authenticated', 'sub', u.id, 'role', 'authenticated', 'aal', 'aal1',
            'phone', coalesce(u.phone, ''), 'email', coalesce(u.email, ''), 'is_anonymous', false,
            'session_id', voice_login_claims.session_id,
            'app_metadata', u.raw_app_meta_data, 'user_metadata', u.raw_user_meta_data,
            'voice_session_id', voice_login_claims.session_id
        )
    )) -> 'claims'
    from auth.users as u where u.id = voice_login_claims.login;
$$;

-- Acting as the patient ---------------------------------------------------------------------------

-- How a tool runs as a given patient: the rest of the (sub)transaction takes the patient's
-- login's role and claims, exactly as PostgREST starts a request of theirs (transaction-local
-- `role` and `request.jwt.claims`; auth.uid() and every policy read them). Not security
-- definer, since a security definer function may not change the role; the caller (the tool
-- dispatcher, running as the service role) calls it at the start of a BEGIN ... EXCEPTION
-- block and restores its own role and claims at the end: an error rolls the block back, and
-- the settings with it.
create function private.voice_act_as(claims jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    if claims is null or claims ->> 'role' <> 'authenticated' or claims ->> 'sub' is null then
        perform private.raise_forbidden('no login to act as');
    end if;
    perform set_config('request.jwt.claims', claims::text, true);
    perform set_config('role', 'authenticated', true);
end;
$$;

comment on function private.voice_act_as(jsonb) is
'Makes the rest of the transaction (or of the enclosing exception block) run as a patient''s '
'login, as PostgREST runs their request: role authenticated and their claims.';

-- What the agent hears when a tool needs a verified caller. Changing the record (booking,
-- moving, cancelling) also needs the patient's app login to act as; hearing their own next
-- appointments and medicine does not (a voice-only patient verified by SMS code hears them).
create function private.voice_needs_verification(caller jsonb, tool text)
returns jsonb
language sql
immutable
set search_path = ''
as $$
    select case
        when caller ->> 'patient_id' is null then jsonb_build_object(
            'result', jsonb_build_object(
                'done', false, 'reason', 'caller_not_identified',
                'say', 'This number does not identify one patient, so no record can be given or changed on this call. The front desk can help.'
            )
        )
        when not coalesce((caller ->> 'verified')::boolean, false) then jsonb_build_object(
            'result', jsonb_build_object(
                'done', false, 'reason', 'verification_required',
                'say', 'Ask the caller for their voice PIN, or send them a code by SMS with send_verification_code, and call verify_caller with {pin} or {code} first. Nothing about their record can be told or changed before.'
            )
        )
        when caller ->> 'login' is null and tool not in ('next_appointments', 'prescription_status') then jsonb_build_object(
            'result', jsonb_build_object(
                'done', false, 'reason', 'no_app_login',
                'say', 'This patient has no app login to act for, so appointments cannot be booked, moved or cancelled on this call; the front desk can help.'
            )
        )
    end;
$$;

-- The tools ---------------------------------------------------------------------------------------

-- A local time the caller said (or an ISO time) at the hospital's time zone.
create function private.voice_time(value text, time_zone text)
returns timestamptz
language plpgsql
stable
set search_path = ''
as $$
begin
    if value ~ '([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$' then
        return value::timestamptz;
    end if;
    return value::timestamp at time zone coalesce(time_zone, 'Asia/Kolkata');
exception
    when invalid_datetime_format or datetime_field_overflow or invalid_text_representation then
    perform private.raise_invalid(format('%L is not a time (use 2026-12-08T10:30)', value), 'bad_time');
end;
$$;

-- find_slots: free slots of the line's hospital's doctors on a day (the hospital's local
-- day), by doctor, name or specialty. Nothing about the caller: open to every caller. Runs as
-- the service role, limited to the line's hospital. Security definer: reads doctor names.
create function private.voice_tool_find_slots(caller jsonb, arguments jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    hospital constant uuid := (caller ->> 'hospital_id')::uuid;
    zone constant text := coalesce(caller ->> 'time_zone', 'Asia/Kolkata');
    day date;
    doctor_ids uuid[];
    slots jsonb;
begin
    if hospital is null then
        return jsonb_build_object('error', 'this line belongs to no hospital');
    end if;
    begin
        day := coalesce((arguments ->> 'date')::date, (now() at time zone zone)::date);
    exception when invalid_datetime_format or datetime_field_overflow then
        return jsonb_build_object('error', 'date must be a day such as 2026-12-08');
    end;
    select coalesce(array_agg(d.id), '{}') into doctor_ids
    from public.doctors as d
    join public.profiles as pr on pr.id = d.user_id
    where d.hospital_id = hospital and d.is_active
        and (arguments ->> 'doctor_id' is null or d.id::text = arguments ->> 'doctor_id')
        and (arguments ->> 'specialty' is null or lower(d.specialty) = lower(btrim(arguments ->> 'specialty')))
        and (
            arguments ->> 'doctor_name' is null
            or pr.full_name ilike '%' || replace(btrim(regexp_replace(arguments ->> 'doctor_name', '^(dr\.?|doctor)\s+', '', 'i')), '%', '') || '%'
        );
    select coalesce(jsonb_agg(jsonb_build_object(
        'doctor_id', s.doctor_id,
        'doctor', pr.full_name,
        'specialty', d.specialty,
        'starts_at', to_char(s.starts_at at time zone zone, 'YYYY-MM-DD"T"HH24:MI'),
        'modes', s.modes
    ) order by s.starts_at, pr.full_name), '[]') into slots
    from (
        select f.*
        from unnest(doctor_ids) as i (id)
        cross join lateral public.find_slots(
            day::timestamp at time zone zone, (day + 1)::timestamp at time zone zone, doctor_id => i.id
        ) as f
        order by f.starts_at
        limit 12
    ) as s
    join public.doctors as d on d.id = s.doctor_id
    join public.profiles as pr on pr.id = d.user_id;
    return jsonb_build_object('result', jsonb_build_object(
        'date', day, 'time_zone', zone, 'doctors_matched', cardinality(doctor_ids), 'slots', slots
    ));
end;
$$;

-- The caller's next appointments and their prescriptions, read as the patient (RLS) and only
-- theirs; names added afterwards. Security definer for the names only.
create function private.voice_describe_appointments(appointment_ids uuid[], time_zone text)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
        'appointment_id', a.id,
        'starts_at', to_char(a.starts_at at time zone voice_describe_appointments.time_zone, 'YYYY-MM-DD"T"HH24:MI'),
        'doctor', pr.full_name, 'specialty', d.specialty, 'mode', a.mode, 'status', a.status
    ) order by a.starts_at), '[]')
    from public.appointments as a
    join public.doctors as d on d.id = a.doctor_id
    join public.profiles as pr on pr.id = d.user_id
    where a.id = any(appointment_ids);
$$;

create function private.voice_describe_prescriptions(prescription_ids uuid[])
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
        'prescription_id', p.id,
        'status', p.status,
        'ready_for_pickup', p.status = 'ready_for_pickup',
        'pharmacy', ph.name,
        'issued_on', p.issued_at::date,
        'valid_until', p.valid_until::date
    ) order by p.issued_at desc), '[]')
    from public.prescriptions as p
    join public.pharmacies as ph on ph.id = p.pharmacy_id
    where p.id = any(prescription_ids);
$$;

-- Whether an appointment is the caller's own (a login that is also staff could otherwise reach
-- other patients' appointments with its staff rights). Security definer: the service role's read.
create function private.voice_owns_appointment(patient_id uuid, appointment_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (
        select from public.appointments as a
        where a.id = voice_owns_appointment.appointment_id and a.patient_id = voice_owns_appointment.patient_id
    );
$$;

-- The dispatcher: one tool call of a call. Not security definer: it switches to the patient's
-- login for the tools that act for them (private.voice_act_as), which a security definer
-- function may not do. Runs as the service role; every tool's answer is {result} or {error}.
create function private.voice_tool_call(
    call_id text, caller_phone text, phone_number_id text, tool text, arguments jsonb
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    caller jsonb;
    args constant jsonb := case when jsonb_typeof(arguments) = 'object' then arguments else '{}' end;
    patient uuid;
    zone text;
    claims jsonb;
    saved_role constant text := current_setting('role');
    saved_claims constant text := coalesce(current_setting('request.jwt.claims', true), '');
    gate jsonb;
    target uuid;
    starts timestamptz;
    done public.appointments;
    ids uuid[];
    answer jsonb;
    failed_state text;
    failed_message text;
    failed_hint text;
begin
    caller := private.voice_call_caller(call_id, caller_phone, phone_number_id);
    if caller ->> 'call_status' = 'ended' then
        return jsonb_build_object('error', 'this call has ended');
    end if;
    patient := (caller ->> 'patient_id')::uuid;
    zone := coalesce(caller ->> 'time_zone', 'Asia/Kolkata');

    if tool = 'find_slots' then
        return private.voice_tool_find_slots(caller, args);
    elsif tool = 'verify_caller' then
        return jsonb_build_object('result', private.voice_verify_caller(
            (caller ->> 'session_id')::uuid, args ->> 'pin', args ->> 'code'
        ));
    elsif tool = 'send_verification_code' then
        -- {result, sms}: the sidecar sends `sms` and gives the agent only `result`.
        return private.voice_send_code((caller ->> 'session_id')::uuid);
    elsif tool not in (
        'book_appointment', 'reschedule_appointment', 'cancel_appointment', 'next_appointments', 'prescription_status'
    ) or tool is null then
        return jsonb_build_object('error', format('unknown tool %s', coalesce(tool, '(none)')));
    end if;

    gate := private.voice_needs_verification(caller, tool);
    if gate is not null then
        return gate;
    end if;
    if caller ->> 'login' is not null then
        claims := private.voice_login_claims((caller ->> 'login')::uuid, (caller ->> 'session_id')::uuid);
    end if;

    begin
        if tool in ('reschedule_appointment', 'cancel_appointment') then
            begin
                target := (args ->> 'appointment_id')::uuid;
            exception when invalid_text_representation then
                target := null;
            end;
            if target is null or not private.voice_owns_appointment(patient, target) then
                return jsonb_build_object('error', 'no such appointment of the caller''s; list them with next_appointments');
            end if;
        end if;
        if tool in ('book_appointment', 'reschedule_appointment') then
            starts := private.voice_time(args ->> 'starts_at', zone);
        end if;

        -- From here to the restore, every statement runs as the patient's login. A verified
        -- patient without one (a voice-only record) only reads, as the service role, and only
        -- rows of that patient (the queries below name them).
        if claims is not null then
            perform private.voice_act_as(claims);
        end if;
        if tool = 'book_appointment' then
            if not exists (
                select from public.doctors as d
                where d.id::text = args ->> 'doctor_id' and d.hospital_id = (caller ->> 'hospital_id')::uuid
            ) then
                perform private.raise_not_found('no such doctor at this hospital', hint => 'use a doctor_id from find_slots');
            end if;
            done := public.book_appointment(
                doctor_id => (args ->> 'doctor_id')::uuid, starts_at => starts, patient_id => patient,
                mode => coalesce(args ->> 'mode', 'in_person')::public.consultation_mode,
                reason => args ->> 'reason', source => 'voice_agent'
            );
            ids := array[done.id];
        elsif tool = 'reschedule_appointment' then
            done := public.reschedule_appointment(target, starts, reason => 'moved by the patient on a call');
            ids := array[done.id];
        elsif tool = 'cancel_appointment' then
            done := public.cancel_appointment(target, coalesce(args ->> 'reason', 'cancelled by the patient on a call'));
            ids := array[done.id];
        elsif tool = 'next_appointments' then
            select coalesce(array_agg(a.id), '{}') into ids from (
                select a.id from public.appointments as a
                where a.patient_id = patient and a.starts_at > now() and a.status in ('requested', 'scheduled')
                order by a.starts_at
                limit 5
            ) as a;
        elsif tool = 'prescription_status' then
            select coalesce(array_agg(p.id), '{}') into ids from (
                select p.id from public.prescriptions as p
                where p.patient_id = patient
                    and (p.status in ('pending', 'approved', 'ready_for_pickup') or p.status_changed_at > now() - interval '14 days')
                order by p.issued_at desc
                limit 5
            ) as p;
        end if;
        perform set_config('role', saved_role, true);
        perform set_config('request.jwt.claims', saved_claims, true);
    exception
        when others then
            -- The block is rolled back, and the role and claims with it.
            get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text,
                failed_hint = pg_exception_hint;
            if failed_state in ('XX000', '57014', '40001', '40P01', '53000', '53200', '53300') then
                raise;
            end if;
            return jsonb_build_object(
                'error', failed_message || coalesce(' (' || nullif(failed_hint, '') || ')', ''), 'code', failed_state
            );
    end;

    if tool = 'prescription_status' then
        answer := jsonb_build_object('prescriptions', private.voice_describe_prescriptions(ids));
    elsif tool = 'next_appointments' then
        answer := jsonb_build_object('appointments', private.voice_describe_appointments(ids, zone));
    else
        answer := jsonb_build_object(
            'done', true, 'appointment', private.voice_describe_appointments(ids, zone) -> 0
        );
    end if;
    return jsonb_build_object('result', answer);
end;
$$;

grant execute on function private.voice_tool_call(text, text, text, text, jsonb) to service_role;
grant execute on function private.voice_call_caller(text, text, text) to service_role;
grant execute on function private.voice_tool_find_slots(jsonb, jsonb) to service_role;
grant execute on function private.voice_verify_caller(uuid, text, text) to service_role;
grant execute on function private.voice_send_code(uuid) to service_role;
grant execute on function private.voice_needs_verification(jsonb, text) to service_role;
grant execute on function private.voice_login_claims(uuid, uuid) to service_role;
grant execute on function private.voice_act_as(jsonb) to service_role;
grant execute on function private.voice_time(text, text) to service_role;
grant execute on function private.voice_owns_appointment(uuid, uuid) to service_role;
grant execute on function private.voice_describe_appointments(uuid[], text) to service_role;
grant execute on function private.voice_describe_prescriptions(uuid[]) to service_role;

comment on function private.voice_tool_call(text, text, text, text, jsonb) is
'One tool call of the voice agent for the caller of a call: find_slots (anyone), '
'send_verification_code (an SMS code to the patient''s phone on record), verify_caller (the '
'voice PIN or that code), and for a caller verified in this call book_appointment, '
'reschedule_appointment, cancel_appointment, next_appointments, prescription_status, run as '
'the patient''s login. Returns {result} or {error}; send_verification_code also {sms: {to, '
'body}} for the sidecar to send, never for the agent.';

-- RPC: POST /rest/v1/rpc/voice_tool_call (the sidecar, for each of Vapi's tool calls).
create function public.voice_tool_call(
    call_id text, caller_phone text, phone_number_id text, tool text, arguments jsonb default '{}'
)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.voice_tool_call(
        voice_tool_call.call_id, voice_tool_call.caller_phone, voice_tool_call.phone_number_id,
        voice_tool_call.tool, voice_tool_call.arguments
    );
$$;

revoke execute on function public.voice_tool_call(text, text, text, text, jsonb) from authenticated;
grant execute on function public.voice_tool_call(text, text, text, text, jsonb) to service_role;

comment on function public.voice_tool_call(text, text, text, text, jsonb) is
'Service role only (the sidecar answering Vapi''s tool-calls): runs one voice agent tool for '
'the caller of the call (call.id, customer.number, call.phoneNumberId). The caller is the '
'patient of the call''s session, never one named in the arguments. find_slots {date, '
'specialty | doctor_name | doctor_id} is open to any caller; send_verification_code makes a '
'6-digit code for the identified caller''s patient, valid 10 minutes in this call (3 per call, '
'5 per patient a day), and returns {result, sms: {to, body}}: the sidecar texts body to the '
'patient''s phone on record and gives the agent only result; verify_caller {pin} or {code} '
'checks the voice PIN or that code (5 wrong of both lock the call, 5 in a day the patient); '
'book_appointment {doctor_id, starts_at, mode}, reschedule_appointment {appointment_id, '
'starts_at}, cancel_appointment {appointment_id, reason} need a caller verified in this call '
'and run with the patient''s own rights (their app login); next_appointments and '
'prescription_status need a verified caller and read only their rows. Returns {result} or '
'{error}.';
