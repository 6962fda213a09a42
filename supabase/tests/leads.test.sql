-- Leads (issue 17 items 1, 3, 8, 9): who reads and writes them, creation with its repeat-inquiry
-- merge, the per-hospital lists, calls and notes (append-only), follow-ups, the website form's
-- create-only function, and the live "new lead" alert.
begin;
select plan(89);

select tests.create_world();

-- Fixtures: a TSTA lead entered by the front desk, a TSTB lead by its own.
select tests.act_as('a_front_desk');
select tests.remember(
    'a_lead',
    (public.create_lead(
        tests.id_of('hospitals', 'TSTA'), 'Harpreet Kaur', '98140 12345', 'google ads', 'ivf', age => 31,
        sex => 'female', problem => 'trying for 4 years'
    ) -> 'lead' ->> 'id')::uuid
);
select tests.act_as('b_front_desk');
select tests.remember(
    'b_lead',
    (public.create_lead(tests.id_of('hospitals', 'TSTB'), 'Simran Gill', '+919814099999') -> 'lead' ->> 'id')::uuid
);
select tests.clear_authentication();

-- What was stored ------------------------------------------------------------------------------------
select results_eq(
    $$ select phone::text, source, inquiry, status::text, created_by, created_via, inquiries
        from public.leads where id = tests.recall('a_lead') $$,
    $$ values ('+919814012345', 'Google Ads', 'IVF', 'new_inquiry', tests.user_id('a_front_desk'), 'app', 1) $$,
    'a lead is stored with its phone in E.164 and the list''s spelling of its source and inquiry'
);

-- Reading: the front office of the hospital; a doctor only through a booking; nobody else ---------------
select tests.action('read', $$ select full_name from public.leads where id = tests.recall('a_lead') $$);
select tests.expect('a_front_desk', 'Harpreet Kaur');
select tests.expect('a_cro', 'Harpreet Kaur');
select tests.expect('a_admin', 'Harpreet Kaur');
select tests.expect('a_doctor', 'none');
select tests.expect('a_nurse', 'none');
select tests.expect('a_pharmacist', 'none');
select tests.expect('a_patient1', 'none');
select tests.expect('b_front_desk', 'none');
select tests.expect('b_admin', 'none');
select tests.expect('nobody', 'none');
select tests.expect('anon', 'denied');
select * from tests.check_matrix('leads');

-- A doctor sees the lead once it is booked to them.
insert into public.appointments (
    hospital_id, doctor_id, patient_name_snapshot, phone_snapshot, lead_id, starts_at, ends_at, source
)
values (
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), 'Harpreet Kaur', '+919814012345',
    tests.recall('a_lead'), '2031-02-03 05:00Z', '2031-02-03 05:30Z', 'front_desk'
);
select tests.act_as('a_doctor');
select results_eq(
    $$ select full_name from public.leads $$, array['Harpreet Kaur'],
    'a doctor reads the leads booked to them'
);
select tests.act_as('a_doctor2');
select is_empty($$ select 1 from public.leads $$, 'and no other doctor does');
select tests.act_as('a_doctor');
select is(
    (
        select count(*)::integer from public.leads
        where id = tests.recall('a_lead') and status = 'new_inquiry'
    ),
    1, 'the booked doctor reads the lead''s status'
);
select throws_ok(
    $$ select public.create_lead(tests.id_of('hospitals', 'TSTA'), 'Doctor Lead', '+919800077777') $$,
    '42501', 'only the front desk, CROs and admins of the hospital enter its leads',
    'a doctor enters no lead'
);

-- Writing: the front office of the hospital only --------------------------------------------------------
select tests.clear_authentication();
select tests.action('create', $$ insert into public.leads (hospital_id, full_name, phone, source)
    values (tests.id_of('hospitals', 'TSTA'), 'Direct ' || current_setting('tests.actor'),
    '+91980000' || lpad((abs(hashtext(current_setting('tests.actor'))) % 10000)::text, 4, '0'), 'Walk-In')
    returning 'done' $$);
select tests.action('edit', $$ update public.leads set problem = 'edited by ' || current_setting('tests.actor')
    where id = tests.recall('a_lead') returning 'done' $$);
select tests.action('delete', $$ delete from public.leads where id = tests.recall('a_lead') returning 'done' $$);
select tests.expect('a_front_desk', 'done', 'done', 'denied');
select tests.expect('a_cro', 'done', 'done', 'denied');
select tests.expect('a_admin', 'done', 'done', 'denied');
select
    tests.expect(
        'a_doctor', '42501: only the front desk, CROs and admins of the hospital enter its leads', 'none', 'denied'
    );
select
    tests.expect(
        'a_nurse', '42501: only the front desk, CROs and admins of the hospital enter its leads', 'none', 'denied'
    );
select
    tests.expect(
        'a_patient1', '42501: only the front desk, CROs and admins of the hospital enter its leads', 'none', 'denied'
    );
select
    tests.expect(
        'b_front_desk', '42501: only the front desk, CROs and admins of the hospital enter its leads', 'none', 'denied'
    );
select tests.expect('anon', 'denied', 'denied', 'denied');
select * from tests.check_matrix('leads');

select tests.act_as('a_front_desk');
select throws_ok(
    $$ update public.leads set created_by = tests.user_id('a_cro') where id = tests.recall('a_lead') $$,
    '42501', 'permission denied for table leads',
    'who entered a lead is not writable'
);
select throws_ok(
    $$ update public.leads set inquiries = 9 where id = tests.recall('a_lead') $$,
    '42501', 'permission denied for table leads',
    'nor its counters'
);
select throws_ok(
    $$ update public.leads set assigned_to = tests.user_id('b_cro') where id = tests.recall('a_lead') $$,
    '42501', 'a lead is given only to a CRO, front desk or admin of its hospital',
    'a lead is not given to another hospital''s CRO'
);
select throws_ok(
    $$ update public.leads set assigned_to = tests.user_id('a_doctor') where id = tests.recall('a_lead') $$,
    '42501', 'a lead is given only to a CRO, front desk or admin of its hospital',
    'nor to a doctor'
);
update public.leads set assigned_to = tests.user_id('a_cro')
where id = tests.recall('a_lead');
select results_eq(
    $$ select assigned_to, assigned_at is not null from public.leads where id = tests.recall('a_lead') $$,
    $$ values (tests.user_id('a_cro'), true) $$,
    'the front desk gives a lead to a CRO by hand'
);
select throws_ok(
    $$ update public.leads set preferred_doctor_id = tests.id_of('doctors', 'b_doctor')
        where id = tests.recall('a_lead') $$,
    '23503', null,
    'a preferred doctor is a doctor of the lead''s hospital'
);
select throws_ok(
    $$ update public.leads set source = 'Billboard' where id = tests.recall('a_lead') $$,
    '22023', 'Billboard is not a lead source of this hospital',
    'a source is one of the hospital''s list'
);

-- Creating: one open lead per phone; a repeat inquiry is recorded on it ----------------------------------
select results_eq(
    $$ select (r ->> 'merged')::boolean, (r -> 'lead' ->> 'id')::uuid, (r -> 'lead' ->> 'inquiries')::integer
        from public.create_lead(
            tests.id_of('hospitals', 'TSTA'), 'Harpreet K.', '+91 98140-12345', 'Referral', 'IUI',
            problem => 'referred by her sister'
        ) as r $$,
    $$ values (true, tests.recall('a_lead'), 2) $$,
    'a second inquiry from the same phone is the open lead again (merged), however the phone is typed'
);
select results_eq(
    $$ select details from public.lead_activities where lead_id = tests.recall('a_lead') and kind = 'repeat_inquiry' $$,
    $$ values ('{"via": "app", "source": "Referral", "inquiry": "IUI", "problem": "referred by her sister",
        "full_name": "Harpreet K."}'::jsonb) $$,
    'the repeat inquiry is recorded on the lead with its new source'
);
select results_eq(
    $$ select source, inquiry from public.leads where id = tests.recall('a_lead') $$,
    $$ values ('Google Ads', 'IVF') $$,
    'the lead keeps the source it first came from'
);
select throws_ok(
    $$ insert into public.leads (hospital_id, full_name, phone, source)
        values (tests.id_of('hospitals', 'TSTA'), 'Harpreet', '+919814012345', 'Walk-In') $$,
    'PT409', format('this phone already has an open lead (%s)', tests.recall('a_lead')),
    'a direct insert of a second open lead for the phone is refused, naming the lead'
);
select tests.act_as('b_front_desk');
select is(
    (public.create_lead(tests.id_of('hospitals', 'TSTB'), 'Harpreet Kaur', '+919814012345') ->> 'merged')::boolean,
    false,
    'the same phone at another hospital is a new lead there: nothing of hospital A''s lead is merged or told'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.create_lead(tests.id_of('hospitals', 'TSTA'), 'No Phone', '12345') $$,
    '22023', 'the phone number is not valid',
    'a phone that cannot be E.164 is refused'
);
select throws_ok(
    $$ select public.create_lead(tests.id_of('hospitals', 'TSTA'), 'Someone', '+919800011111', 'Billboard') $$,
    '22023', 'Billboard is not a lead source of this hospital',
    'a source that is not on the hospital''s list is refused'
);
-- A lost lead, or one whose last inquiry is older than the window, is not merged into.
select public.create_lead(tests.id_of('hospitals', 'TSTA'), 'Gone Away', '+919800022222');
update public.leads set status = 'lost', status_reason = 'not interested'
where phone = '+919800022222';
select is(
    (public.create_lead(tests.id_of('hospitals', 'TSTA'), 'Gone Away', '+919800022222') ->> 'merged')::boolean,
    false, 'an inquiry from a lost lead''s phone is a new lead'
);
select tests.clear_authentication();
update public.leads set last_inquiry_at = now() - interval '61 days'
where phone = '+919800022222' and status = 'new_inquiry';
select tests.act_as('a_cro');
select is(
    (public.create_lead(tests.id_of('hospitals', 'TSTA'), 'Gone Away', '+919800022222') ->> 'merged')::boolean,
    false, 'and so is one after 60 days without an inquiry'
);

-- The lists of the lead form -------------------------------------------------------------------------
select tests.clear_authentication();
select tests.action('read', $$ select string_agg(name, ',' order by position) from public.lead_options
    where hospital_id = tests.id_of('hospitals', 'TSTA') and kind = 'source' and is_active having count(*) > 0 $$);
select tests.action('add', $$ insert into public.lead_options (hospital_id, kind, name)
    values (tests.id_of('hospitals', 'TSTA'), 'source', 'Radio ' || current_setting('tests.actor')) returning 'done' $$);
select tests.expect(
    'a_front_desk', 'Walk-In,Google Ads,Referral,Sakhi App,Camp,Website,Phone Call,Social Media', 'refused'
);
select tests.expect(
    'a_doctor', 'Walk-In,Google Ads,Referral,Sakhi App,Camp,Website,Phone Call,Social Media', 'refused'
);
select tests.expect('a_admin', null, 'done');
select tests.expect('b_admin', 'none', 'refused');
select tests.expect('a_patient1', 'none', 'refused');
select * from tests.check_matrix('lead_options');
select tests.act_as('a_admin');
select throws_ok(
    $$ update public.lead_options set name = 'Renamed' where hospital_id = tests.id_of('hospitals', 'TSTA') $$,
    '42501', 'permission denied for table lead_options',
    'a choice is never renamed (leads keep the text they were filed under)'
);
select tests.clear_authentication();
insert into public.hospitals (code, name) values ('TSTN', 'Test Hospital New');
select is(
    (
        select count(*)::integer from public.lead_options as o inner join public.hospitals as h on o.hospital_id = h.id
        where h.code = 'TSTN'
    ),
    14, 'a new hospital starts with the default sources and inquiries'
);

-- Calls and notes: append-only -----------------------------------------------------------------------
select tests.act_as('a_cro');
insert into public.lead_activities (lead_id, hospital_id, kind, outcome, notes)
values (tests.recall('a_lead'), tests.id_of('hospitals', 'TSTA'), 'call', 'hesitant', 'worried about the cost');
select results_eq(
    $$ select a.actor_id, a.outcome, l.last_contacted_at = a.occurred_at
        from public.lead_activities as a join public.leads as l on l.id = a.lead_id
        where a.lead_id = tests.recall('a_lead') and a.kind = 'call' $$,
    $$ values (tests.user_id('a_cro'), 'hesitant', true) $$,
    'a logged call names its caller and becomes the lead''s last contact'
);
select throws_ok(
    $$ insert into public.lead_activities (lead_id, hospital_id, kind, details)
        values (tests.recall('a_lead'), tests.id_of('hospitals', 'TSTA'), 'assigned', '{"to": "me"}') $$,
    '42501', 'permission denied for table lead_activities',
    'staff do not write the database''s own entries (details)'
);
select throws_ok(
    $$ insert into public.lead_activities (lead_id, hospital_id, kind)
        values (tests.recall('a_lead'), tests.id_of('hospitals', 'TSTA'), 'repeat_inquiry') $$,
    '22023', 'staff log calls and notes; repeat inquiries and assignments are recorded by the database',
    'nor their kinds'
);
select throws_ok(
    $$ insert into public.lead_activities (lead_id, hospital_id, kind)
        values (tests.recall('a_lead'), tests.id_of('hospitals', 'TSTA'), 'call') $$,
    '23514', null,
    'a call is logged with its outcome'
);
select throws_ok(
    $$ update public.lead_activities set notes = 'rewritten' where lead_id = tests.recall('a_lead') $$,
    '42501', 'permission denied for table lead_activities',
    'what was logged is not rewritten'
);
select throws_ok(
    $$ delete from public.lead_activities where lead_id = tests.recall('a_lead') $$,
    '42501', 'permission denied for table lead_activities',
    'nor deleted'
);
select tests.act_as('b_cro');
select throws_ok(
    $$ insert into public.lead_activities (lead_id, hospital_id, kind, outcome)
        values (tests.recall('a_lead'), tests.id_of('hospitals', 'TSTA'), 'call', 'busy') $$,
    '42501', 'new row violates row-level security policy for table "lead_activities"',
    'another hospital''s CRO logs nothing on the lead'
);
select throws_ok(
    $$ insert into public.lead_activities (lead_id, hospital_id, kind, outcome)
        values (tests.recall('a_lead'), tests.id_of('hospitals', 'TSTB'), 'call', 'busy') $$,
    '23503', null,
    'not even under their own hospital'
);
select is_empty(
    $$ select 1 from public.lead_activities where lead_id = tests.recall('a_lead') $$,
    'and reads none of it'
);

-- Follow-ups -----------------------------------------------------------------------------------------
select tests.act_as('a_cro');
insert into public.lead_follow_ups (lead_id, hospital_id, due_at, note)
values (tests.recall('a_lead'), tests.id_of('hospitals', 'TSTA'), now() + interval '1 day', 'call about EMI options');
select results_eq(
    $$ select assigned_to, created_by, done_at from public.lead_follow_ups where lead_id = tests.recall('a_lead') $$,
    $$ values (tests.user_id('a_cro'), tests.user_id('a_cro'), null::timestamptz) $$,
    'a follow-up is the setter''s own by default'
);
select throws_ok(
    $$ insert into public.lead_follow_ups (lead_id, hospital_id, due_at, assigned_to)
        values (tests.recall('a_lead'), tests.id_of('hospitals', 'TSTA'), now(), tests.user_id('b_cro')) $$,
    '42501', 'a follow-up is given only to a CRO, front desk or admin of the lead''s hospital',
    'a follow-up is not given to another hospital''s CRO'
);
select tests.act_as('a_front_desk');
update public.lead_follow_ups set done_at = now(), outcome = 'called; will visit Monday'
where lead_id = tests.recall('a_lead');
select results_eq(
    $$ select done_by, outcome from public.lead_follow_ups where lead_id = tests.recall('a_lead') $$,
    $$ values (tests.user_id('a_front_desk'), 'called; will visit Monday') $$,
    'closing a follow-up records who closed it'
);
select tests.act_as('b_front_desk');
select is_empty(
    $$ select 1 from public.lead_follow_ups where lead_id = tests.recall('a_lead') $$,
    'another hospital reads none of the follow-ups'
);

-- The website form: the service role creates, and is told nothing ---------------------------------------
select tests.act_as_service_role();
select is(
    public.receive_website_lead('tsta', 'Kiran Bala', '9876501234', 'kiran@example.test', 'IVF', 'please call after 6'),
    '{"outcome": "created"}'::jsonb,
    'a website lead is filed at the hospital of the code'
);
select is(
    public.receive_website_lead('TSTA', 'Kiran', '+919876501234', null, 'Surrogacy', 'again'),
    '{"outcome": "merged"}'::jsonb,
    'a second form from the phone is recorded on the open lead'
);
select tests.clear_authentication();
select results_eq(
    $$ select source, inquiry, problem, created_via, created_by, inquiries from public.leads
        where phone = '+919876501234' $$,
    $$ values ('Website', 'IVF', 'please call after 6', 'website', null::uuid, 2) $$,
    'under the hospital''s website source, as the system'
);
select results_eq(
    $$ select details ->> 'inquiry', details ->> 'via' from public.lead_activities as a
        join public.leads as l on l.id = a.lead_id
        where l.phone = '+919876501234' and a.kind = 'repeat_inquiry' $$,
    $$ values ('Surrogacy', 'website') $$,
    'an inquiry the hospital does not list is kept as typed'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ select public.receive_website_lead('TSTA', 'X', '+919800033333') $$,
    '42501', 'permission denied for function receive_website_lead',
    'signed-in users cannot call the website function'
);
select tests.act_as_anon();
select throws_ok(
    $$ select public.receive_website_lead('TSTA', 'X', '+919800033333') $$,
    '42501', 'permission denied for function receive_website_lead',
    'nor can anonymous requests: only the sidecar, after its rate limit and captcha'
);
select tests.act_as('a_admin');
update public.lead_options set is_active = false
where hospital_id = tests.id_of('hospitals', 'TSTA') and is_website;
select tests.act_as_service_role();
select throws_ok(
    $$ select public.receive_website_lead('TSTA', 'X', '+919800033333') $$,
    'PT404', 'this hospital takes no leads from its website',
    'a hospital whose admin switched the website source off takes no website leads'
);
select throws_ok(
    $$ select public.receive_website_lead('NOPE', 'X', '+919800033333') $$,
    'PT404', 'this hospital takes no leads from its website',
    'nor does a code that is no hospital (the same answer)'
);

-- Live alerts: "new lead" to the hospital's front desk and CROs, ids only --------------------------------
select tests.clear_authentication();
select results_eq(
    $$ select topic, event, payload ? 'full_name' or payload ? 'phone' from private.live_events_pending
        where payload ->> 'lead_id' = tests.recall('b_lead')::text order by topic $$,
    $$ values
        ('hospital:' || tests.id_of('hospitals', 'TSTB') || ':cro', 'lead_created', false),
        ('hospital:' || tests.id_of('hospitals', 'TSTB') || ':front_desk', 'lead_created', false) $$,
    'a new lead alerts the hospital''s front desk and CROs, without a name or a phone'
);

select * from finish();
rollback;
