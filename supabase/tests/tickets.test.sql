-- Tickets (issue 19, item 3): who reads and writes them, the ticket machine (reopen included),
-- assignees only among the hospital's active staff, comments, and the SLA computed from the
-- ticket's history in the hospital's business hours: paused while waiting on the patient, and
-- the breach list right across a weekend and a closure.
begin;
select plan(49);

select tests.create_world();

-- A ticket of a_patient1 at TSTA, as its front desk opens it.
create function pg_temp.open_ticket(actor text, priority text default 'medium')
returns uuid
language plpgsql
as $$
declare
    made uuid;
begin
    perform tests.act_as(actor);
    insert into public.tickets (hospital_id, patient_id, title, category, priority)
    values (
        tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'), 'Refill request', 'prescription',
        priority::public.ticket_priority
    )
    returning id into made;
    perform tests.clear_authentication();
    return made;
end;
$$;

-- Moves a ticket as a user, then dates the step at `at` (as if it had been taken then; every
-- `at` of this file is in 2031, after the clock of the run).
create function pg_temp.move(ticket uuid, actor text, to_state text, at timestamptz, reason text default null)
returns void
language plpgsql
as $$
begin
    perform tests.act_as(actor);
    update public.tickets
    set status = to_state, status_reason = reason,
        resolution_notes = case when to_state = 'resolved' then 'done' else resolution_notes end
    where id = ticket;
    perform tests.clear_authentication();
    update public.status_history as s set occurred_at = move.at
    where s.subject_id = move.ticket and s.machine = 'ticket' and s.to_state = move.to_state
        and s.occurred_at < timestamptz '2030-01-01';
end;
$$;

-- Access --------------------------------------------------------------------------------------
select tests.remember('ticket', pg_temp.open_ticket('a_front_desk'));
select results_eq(
    $$ select status, created_by from public.tickets where id = tests.recall('ticket') $$,
    $$ values ('open', tests.user_id('a_front_desk')) $$,
    'the front desk opens a ticket for its patient: open, and it is theirs'
);
select results_eq(
    $$ select from_state, to_state, actor_role::text from public.status_history
        where subject_id = tests.recall('ticket') $$,
    $$ values (null::text, 'open', 'front_desk') $$,
    'its opening is in status_history'
);

select tests.act_as('b_front_desk');
select throws_ok(
    $$ insert into public.tickets (hospital_id, patient_id, title)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'), 'Forged') $$,
    '42501', 'you may not create a ticket as open',
    'another hospital''s front desk cannot open a ticket at TSTA'
);
select is_empty($$ select id from public.tickets where id = tests.recall('ticket') $$, 'nor read TSTA''s tickets');
select tests.act_as('a_patient1');
select isnt_empty(
    $$ select id from public.tickets where id = tests.recall('ticket') $$, 'the patient reads their ticket'
);
select lives_ok(
    $$ insert into public.tickets (hospital_id, patient_id, title)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'), 'My report is missing') $$,
    'a patient opens a ticket of their own'
);
select throws_ok(
    $$ insert into public.tickets (hospital_id, patient_id, title, assigned_to)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'), 'Assign', tests.user_id('a_nurse')) $$,
    '42501', null,
    'but assigns nobody'
);
select throws_ok(
    $$ update public.tickets set status = 'in_progress' where id = tests.recall('ticket') $$,
    '42501', 'you may not move a ticket from open to in_progress',
    'the patient does not work on the ticket'
);
select throws_ok(
    $$ update public.tickets set priority = 'urgent' where id = tests.recall('ticket') $$,
    '42501', 'a patient only reopens or closes their ticket',
    'nor changes its priority'
);
select tests.act_as('a_patient2');
select is_empty(
    $$ select id from public.tickets where id = tests.recall('ticket') $$, 'another patient does not see it'
);
select throws_ok(
    $$ insert into public.tickets (hospital_id, patient_id, title)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'), 'Not mine') $$,
    '42501', 'you may not create a ticket as open',
    'nor opens one for them'
);
select tests.clear_authentication();

-- Assignees -------------------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select lives_ok(
    $$ update public.tickets set assigned_to = tests.user_id('a_nurse'), priority = 'high'
        where id = tests.recall('ticket') $$,
    'the front desk assigns the ticket to a nurse of the hospital and raises its priority'
);
select throws_ok(
    $$ update public.tickets set assigned_to = tests.user_id('b_nurse') where id = tests.recall('ticket') $$,
    '22023', 'a ticket is assigned to active staff of its hospital only',
    'not to another hospital''s nurse'
);
select throws_ok(
    $$ update public.tickets set assigned_to = tests.user_id('a_revoked_doctor') where id = tests.recall('ticket') $$,
    '22023', 'a ticket is assigned to active staff of its hospital only',
    'nor to a doctor whose membership was revoked'
);
select throws_ok(
    $$ update public.tickets set assigned_to = tests.user_id('a_patient2') where id = tests.recall('ticket') $$,
    '22023', 'a ticket is assigned to active staff of its hospital only',
    'nor to a patient'
);
select results_eq(
    $$ select assigned_to, priority::text from public.tickets where id = tests.recall('ticket') $$,
    $$ values (tests.user_id('a_nurse'), 'high') $$,
    'the nurse stays assigned'
);

-- The ticket machine ----------------------------------------------------------------------------
select throws_ok(
    $$ update public.tickets set status = 'closed' where id = tests.recall('ticket') $$,
    '22023', 'a reason is required to move a ticket to closed',
    'closing an unresolved ticket needs a reason'
);
select tests.act_as('a_nurse');
select lives_ok(
    $$ update public.tickets set status = 'in_progress' where id = tests.recall('ticket') $$,
    'the nurse takes it up'
);
select throws_ok(
    $$ update public.tickets set status = 'resolved' where id = tests.recall('ticket') $$,
    '22023', 'a resolved ticket says how it was resolved',
    'resolving needs resolution notes'
);
select lives_ok(
    $$ update public.tickets set status = 'resolved', resolution_notes = 'Refill sent to the pharmacy'
        where id = tests.recall('ticket') $$,
    'and resolves it, saying how'
);
select throws_ok(
    $$ update public.tickets set status = 'in_progress' where id = tests.recall('ticket') $$,
    'PT409', 'ticket cannot go from resolved to in_progress',
    'a resolved ticket does not go back to work without a reopen'
);
select lives_ok(
    $$ update public.tickets set status = 'closed' where id = tests.recall('ticket') $$,
    'a resolved ticket is closed'
);
select throws_ok(
    $$ update public.tickets set status = 'open', status_reason = 'again' where id = tests.recall('ticket') $$,
    '42501', 'you may not move a ticket from closed to open',
    'a nurse does not reopen a closed ticket'
);
select tests.act_as('a_front_desk');
select lives_ok(
    $$ update public.tickets set status = 'open', status_reason = 'The pharmacy never got it'
        where id = tests.recall('ticket') $$,
    'the front desk reopens it, with a reason'
);
select results_eq(
    $$ select array_agg(to_state order by occurred_at) from public.status_history
        where subject_id = tests.recall('ticket') $$,
    $$ values (array['open', 'in_progress', 'resolved', 'closed', 'open']) $$,
    'every step is in the history'
);
select ok(
    (public.metadata_enums() -> 'state_machines' -> 'ticket' -> 'states') @> '[{"state": "waiting_on_patient"}]',
    'the ticket machine is published in metadata_enums'
);

-- Comments --------------------------------------------------------------------------------------
insert into public.ticket_comments (ticket_id, body, is_internal)
values (tests.recall('ticket'), 'We have called the pharmacy.', false),
(tests.recall('ticket'), 'Pharmacy slow again', true);
select tests.act_as('a_patient1');
select results_eq(
    $$ select body from public.ticket_comments where ticket_id = tests.recall('ticket') $$,
    $$ values ('We have called the pharmacy.') $$,
    'the patient reads the comments, not the internal note'
);
select lives_ok(
    $$ insert into public.ticket_comments (ticket_id, body) values (tests.recall('ticket'), 'Thank you') $$,
    'and answers'
);
select throws_ok(
    $$ insert into public.ticket_comments (ticket_id, body, is_internal) values (tests.recall('ticket'), 'x', true) $$,
    '42501', 'new row violates row-level security policy for table "ticket_comments"',
    'but writes no internal note'
);
select results_eq(
    $$ select author_id, by_staff, patient_id from public.ticket_comments where body = 'Thank you' $$,
    $$ values (tests.user_id('a_patient1'), false, tests.id_of('patients', 'a_patient1')) $$,
    'a comment names its author and takes the ticket''s patient; a patient''s is not staff'
);
select tests.act_as('b_admin');
select throws_ok(
    $$ insert into public.ticket_comments (ticket_id, body) values (tests.recall('ticket'), 'Hello from B') $$,
    '42501', 'new row violates row-level security policy for table "ticket_comments"',
    'another hospital''s staff cannot comment on it'
);
select is_empty($$ select body from public.ticket_comments where ticket_id = tests.recall('ticket') $$, 'nor read it');
select tests.clear_authentication();

-- SLA across a weekend ----------------------------------------------------------------------------
-- TSTA works Monday to Friday, 09:00 to 17:00 (Asia/Kolkata). 2031-01-03 is a Friday.
insert into public.hospital_business_hours (hospital_id, weekday, opens_at, closes_at)
select
    tests.id_of('hospitals', 'TSTA'),
    d,
    '09:00',
    '17:00'
from generate_series(1, 5) as d;

-- A high ticket (first response 240, resolution 960) opened Friday 15:00.
select tests.remember('weekend', pg_temp.open_ticket('a_front_desk', 'high'));
update public.status_history set occurred_at = '2031-01-03 15:00+05:30'
where subject_id = tests.recall('weekend');

select results_eq(
    $$ select (s -> 'first_response' ->> 'elapsed_minutes')::numeric, (s -> 'first_response' ->> 'breached')::boolean,
            (s -> 'first_response' ->> 'due_at')::timestamptz
        from public.ticket_sla(tests.recall('weekend'), '2031-01-04 12:00+05:30') as s $$,
    $$ values (120.0, false, '2031-01-06 11:00+05:30'::timestamptz) $$,
    'Saturday noon: two business hours have passed (Friday 15:00-17:00), the first response is due Monday 11:00'
);
select is_empty(
    $$ select ticket_id from public.ticket_sla_breaches(tests.id_of('hospitals', 'TSTA'), '2031-01-05 23:00+05:30')
        where ticket_id = tests.recall('weekend') $$,
    'nothing is breached all weekend'
);
select tests.act_as('a_front_desk');
select results_eq(
    $$ select breach, due_at, elapsed_minutes
        from public.ticket_sla_breaches(tests.id_of('hospitals', 'TSTA'), '2031-01-06 11:30+05:30')
        where ticket_id = tests.recall('weekend') $$,
    $$ values ('first_response', '2031-01-06 11:00+05:30'::timestamptz, 270.0) $$,
    'Monday 11:30 the first response is half an hour late, and listed'
);
select tests.act_as('b_admin');
select is_empty(
    $$ select ticket_id from public.ticket_sla_breaches(tests.id_of('hospitals', 'TSTA'), '2031-01-06 11:30+05:30') $$,
    'another hospital''s admin sees none of TSTA''s breaches'
);
select tests.clear_authentication();
insert into public.hospital_closures (hospital_id, closed_on, name)
values (tests.id_of('hospitals', 'TSTA'), '2031-01-06', 'Guru Gobind Singh Jayanti');
select results_eq(
    $$ select (s -> 'first_response' ->> 'due_at')::timestamptz, (s -> 'first_response' ->> 'breached')::boolean
        from public.ticket_sla(tests.recall('weekend'), '2031-01-06 11:30+05:30') as s $$,
    $$ values ('2031-01-07 11:00+05:30'::timestamptz, false) $$,
    'a closure on Monday moves the deadline to Tuesday 11:00'
);
delete from public.hospital_closures
where hospital_id = tests.id_of('hospitals', 'TSTA');
select tests.act_as('a_front_desk');
insert into public.ticket_comments (ticket_id, body) values (tests.recall('weekend'), 'Looking into it')
returning tests.remember('reply', id);
select tests.clear_authentication();
update public.ticket_comments set created_at = '2031-01-06 10:00+05:30'
where id = tests.recall('reply');
select tests.act_as('a_front_desk');
select results_eq(
    $$ select (s -> 'first_response' ->> 'met_at')::timestamptz, (s -> 'first_response' ->> 'breached')::boolean
        from public.ticket_sla(tests.recall('weekend'), '2031-01-06 11:30+05:30') as s $$,
    $$ values ('2031-01-06 10:00+05:30'::timestamptz, false) $$,
    'a staff comment to the patient Monday 10:00 was the first response, in time'
);
select tests.clear_authentication();

-- Paused while waiting on the patient: an urgent ticket (60 / 240) opened Friday 15:00, taken up
-- 15:30, waiting on the patient from 16:00 until Monday 10:00.
select tests.remember('paused', pg_temp.open_ticket('a_front_desk', 'urgent'));
update public.status_history set occurred_at = '2031-01-03 15:00+05:30'
where subject_id = tests.recall('paused');
select pg_temp.move(tests.recall('paused'), 'a_nurse', 'in_progress', '2031-01-03 15:30+05:30');
select pg_temp.move(tests.recall('paused'), 'a_nurse', 'waiting_on_patient', '2031-01-03 16:00+05:30');
select results_eq(
    $$ select (s ->> 'paused')::boolean, (s -> 'resolution' ->> 'elapsed_minutes')::numeric,
            s -> 'resolution' ->> 'due_at', (s -> 'first_response' ->> 'met_at')::timestamptz
        from public.ticket_sla(tests.recall('paused'), '2031-01-04 12:00+05:30') as s $$,
    $$ values (true, 60.0, null::text, '2031-01-03 15:30+05:30'::timestamptz) $$,
    'waiting on the patient: the clock stopped after an hour of work and there is no deadline'
);
select pg_temp.move(tests.recall('paused'), 'a_nurse', 'in_progress', '2031-01-06 10:00+05:30');
select results_eq(
    $$ select (s -> 'resolution' ->> 'elapsed_minutes')::numeric, (s -> 'resolution' ->> 'due_at')::timestamptz,
            (s -> 'resolution' ->> 'breached')::boolean
        from public.ticket_sla(tests.recall('paused'), '2031-01-06 12:00+05:30') as s $$,
    $$ values (180.0, '2031-01-06 13:00+05:30'::timestamptz, false) $$,
    'Monday noon: three hours worked (the pause not counted), due at 13:00; without the pause it would be late'
);
select is_empty(
    $$ select ticket_id from public.ticket_sla_breaches(tests.id_of('hospitals', 'TSTA'), '2031-01-06 12:00+05:30')
        where ticket_id = tests.recall('paused') $$,
    'so it is not in the breach list at noon'
);
select results_eq(
    $$ select breach, due_at from public.ticket_sla_breaches(tests.id_of('hospitals', 'TSTA'), '2031-01-06 13:30+05:30')
        where ticket_id = tests.recall('paused') $$,
    $$ values ('resolution', '2031-01-06 13:00+05:30'::timestamptz) $$,
    'at 13:30 its resolution is late'
);
select pg_temp.move(tests.recall('paused'), 'a_nurse', 'resolved', '2031-01-06 14:00+05:30');
select results_eq(
    $$ select (s -> 'resolution' ->> 'met_at')::timestamptz, (s -> 'resolution' ->> 'breached')::boolean
        from public.ticket_sla(tests.recall('paused'), '2031-01-07 12:00+05:30') as s $$,
    $$ values ('2031-01-06 14:00+05:30'::timestamptz, true) $$,
    'resolved at 14:00, an hour late: the SLA says so'
);
select is_empty(
    $$ select ticket_id from public.ticket_sla_breaches(tests.id_of('hospitals', 'TSTA'), '2031-01-07 12:00+05:30')
        where ticket_id = tests.recall('paused') $$,
    'a resolved ticket leaves the breach list'
);
select pg_temp.move(tests.recall('paused'), 'a_patient1', 'open', '2031-01-07 10:00+05:30', 'It happened again');
select results_eq(
    $$ select (s -> 'resolution' ->> 'elapsed_minutes')::numeric, s -> 'resolution' ->> 'met_at'
        from public.ticket_sla(tests.recall('paused'), '2031-01-07 12:00+05:30') as s $$,
    $$ values (420.0, null::text) $$,
    'reopened by the patient Tuesday 10:00: the clock runs on from where it stopped'
);

-- A hospital's own targets.
select tests.act_as('a_admin');
insert into public.ticket_sla_targets (hospital_id, priority, first_response_minutes, resolution_minutes)
values (tests.id_of('hospitals', 'TSTA'), 'urgent', 30, 600);
select tests.clear_authentication();
select is(
    (public.ticket_sla(tests.recall('paused'), '2031-01-07 12:00+05:30') -> 'resolution' ->> 'breached')::boolean,
    false, 'with the admin''s 600-minute target it is not late'
);
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.ticket_sla_targets (hospital_id, priority, first_response_minutes, resolution_minutes)
        values (tests.id_of('hospitals', 'TSTA'), 'low', 30, 600) $$,
    '42501', 'new row violates row-level security policy for table "ticket_sla_targets"',
    'only admins set the targets'
);
select tests.clear_authentication();
select tests.act_as('b_admin');
select throws_ok(
    $$ select public.ticket_sla(tests.recall('paused')) $$,
    'PT404', 'ticket not found', 'another hospital''s staff get no SLA for the ticket'
);
select tests.clear_authentication();
select tests.act_as('a_front_desk');
select throws_ok(
    $$ insert into public.hospital_business_hours (hospital_id, weekday, opens_at, closes_at)
        values (tests.id_of('hospitals', 'TSTA'), 6, '09:00', '13:00') $$,
    '42501', 'new row violates row-level security policy for table "hospital_business_hours"',
    'only admins set the hospital''s hours'
);

select * from finish();
rollback;
