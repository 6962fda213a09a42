-- Call me back (issue 14, item 6): a patient asks for themselves, staff for a patient registered
-- at their hospital, anyone by texting CALL (also in Hindi and Punjabi) to the line; a request
-- still going is not made twice, a number is called at most 3 times a day, a request is placed
-- once; nobody but the service role places or texts.
begin;
select plan(22);

select tests.create_world();

insert into public.voice_lines (hospital_id, vapi_phone_number_id, phone)
values (tests.id_of('hospitals', 'TSTA'), 'pn-tsta', '+911765500100');

-- A patient asks for themselves ------------------------------------------------------------------
select tests.act_as('a_patient1');
create temporary table asked on commit drop as select public.request_voice_callback() as answer;
grant select on asked to authenticated, service_role;
select is((select answer ->> 'new' from asked), 'true', 'a patient asks to be called back');
select is(
    (select array[c.phone::text, c.requested_via, c.status] from public.voice_callbacks as c),
    array['+919800010001', 'app', 'requested'],
    'the request is for their own number, from the app, waiting'
);
select is(
    public.request_voice_callback() ->> 'id', (select answer ->> 'id' from asked),
    'asking again while it is still going is the same request'
);
select is(
    tests.error_of(format('select public.request_voice_callback(%L)', tests.id_of('patients', 'a_patient2')))
    ->> 'code',
    'PT404',
    'a patient cannot ask for someone else'
);

-- Placing it: once -------------------------------------------------------------------------------
select tests.act_as_service_role();
select is(
    public.claim_voice_callback((select (answer ->> 'id')::uuid from asked)) - 'id',
    '{"phone": "+919800010001", "vapi_phone_number_id": "pn-tsta"}'::jsonb,
    'the sidecar takes it to place, with the number and the line'
);
select is(
    public.claim_voice_callback((select (answer ->> 'id')::uuid from asked)), null,
    'nobody takes it a second time'
);
select is(
    (public.finish_voice_callback((select (answer ->> 'id')::uuid from asked), 'call-77')).status, 'placed',
    'the call Vapi placed is recorded'
);
select is(
    tests.error_of(
        format('select public.finish_voice_callback(%L, %L)', (select answer ->> 'id' from asked), 'call-78')
    ) ->> 'details',
    'callback_not_placing',
    'a placed request is not finished again'
);

-- At most 3 a day per number ----------------------------------------------------------------------
select tests.clear_authentication();
insert into public.voice_callbacks (
    hospital_id, voice_line_id, patient_id, phone, requested_via, status, failure, created_at
)
select
    tests.id_of('hospitals', 'TSTA'),
    l.id,
    tests.id_of('patients', 'a_patient2'),
    '+919800010002',
    'app',
    s.status,
    case when s.status = 'failed' then 'busy' end,
    now() - s.age
from public.voice_lines as l
cross join (
    values ('failed', interval '2 hours'), ('placing', interval '3 hours'), ('requested', interval '4 hours')
) as s (status, age)
where l.vapi_phone_number_id = 'pn-tsta';
select tests.act_as('a_patient2');
select is(
    public.request_voice_callback() ->> 'new', 'true',
    'a third request of the day is taken (a failed one does not count)'
);
select is(
    tests.error_of('select public.request_voice_callback()') ->> 'details', null,
    'a fourth within 10 minutes is the third again'
);
select tests.clear_authentication();
update public.voice_callbacks set created_at = now() - interval '1 hour'
where phone = '+919800010002' and status = 'requested' and created_at > now() - interval '1 minute';
select tests.act_as('a_patient2');
select is(
    tests.error_of('select public.request_voice_callback()') ->> 'code', 'PT429',
    'a fourth in 24 hours is refused'
);

-- Staff for a patient of their hospital ------------------------------------------------------------
select tests.act_as('a_front_desk');
select public.request_voice_callback(tests.id_of('patients', 'ab_patient4'), tests.id_of('hospitals', 'TSTA')) ->> 'new'
    as asked_by_staff;
select is(
    (
        select c.requested_via from public.voice_callbacks as c
        where c.patient_id = tests.id_of('patients', 'ab_patient4')
    ),
    'staff',
    'the front desk asks for a patient registered at their hospital'
);
select is(
    tests.error_of(
        format(
            'select public.request_voice_callback(%L, %L)', tests.id_of('patients', 'b_patient3'),
            tests.id_of('hospitals', 'TSTA')
        )
    ) ->> 'code',
    'PT404',
    'not for a patient registered elsewhere'
);
select tests.act_as('b_front_desk');
select is(
    tests.error_of(
        format(
            'select public.request_voice_callback(%L, %L)', tests.id_of('patients', 'ab_patient4'),
            tests.id_of('hospitals', 'TSTB')
        )
    ) ->> 'details',
    'no_voice_line',
    'a hospital without a line cannot call'
);
select is((select count(*)::int from public.voice_callbacks), 0, 'another hospital''s front desk sees none of TSTA''s');

-- By SMS -----------------------------------------------------------------------------------------
select tests.act_as_service_role();
select is(
    public.request_voice_callback_by_sms('+919811100055', '+911765500100', 'CALL me please') ->> 'outcome', 'requested',
    'CALL texted to the line asks for a call back'
);
select is(
    public.request_voice_callback_by_sms('+919811100056', '+911765500100', 'ਕਾਲ ਕਰੋ') ->> 'outcome', 'requested',
    'so does ਕਾਲ in Punjabi'
);
select is(
    public.request_voice_callback_by_sms('+919811100057', '+911765500100', 'कॉल करो') ->> 'outcome', 'requested',
    'and कॉल in Hindi'
);
select is(
    public.request_voice_callback_by_sms('+919811100058', '+911765500100', 'thank you') ->> 'outcome', 'not_a_request',
    'other words ask for nothing'
);
select is(
    public.request_voice_callback_by_sms('+919811100059', '+911765509999', 'CALL') ->> 'outcome', 'unknown_line',
    'a text to a number that is no line asks for nothing'
);

select tests.act_as('a_patient1');
select throws_ok(
    $$select public.claim_voice_callback(gen_random_uuid())$$, '42501', null,
    'a user cannot place a call'
);
select throws_ok(
    $$select public.request_voice_callback_by_sms('+919800010002', '+911765500100', 'CALL')$$, '42501', null,
    'nor ask in someone else''s name as if by SMS'
);

select * from finish();
rollback;
