-- One pending reminder per appointment, by construction: whatever writes the outbox (the
-- appointment trigger, a worker, an admin, a script), a second pending appointment_reminder
-- for the same appointment is refused; a reminder coming back to `pending` while a newer one
-- of its appointment waits (a worker's retry, an admin's retry) is withdrawn or refused
-- instead of doubling the reminder.
begin;
select plan(8);

select tests.create_world();

select tests.act_as('a_front_desk');
select tests.remember('in_three_days', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor'), now() + interval '3 days', now() + interval '3 days 30 minutes',
    patient_id => tests.id_of('patients', 'a_patient1')
);
select tests.clear_authentication();

create function tests.pending_reminders()
returns setof uuid
language sql
as $$
    select o.id from private.outbox as o
    where o.subject_id = tests.recall('in_three_days')
        and o.kind = 'appointment_reminder' and o.state = 'pending';
$$;

select is(
    (select count(*)::integer from tests.pending_reminders()), 1, 'booked: one reminder waits'
);

-- A second pending reminder, written past the trigger: refused ---------------------------------
select throws_ok(
    $$ select private.enqueue('appointment_reminder', 'appointment',
        tests.recall('in_three_days'), tests.id_of('hospitals', 'TSTA'),
        'patient', tests.id_of('patients', 'a_patient1'), 'push', '{}', now() + interval '1 day') $$,
    '23505', null,
    'a second pending reminder for the same appointment is refused'
);
select lives_ok(
    $$ select private.enqueue('appointment_booked', 'appointment',
        tests.recall('in_three_days'), tests.id_of('hospitals', 'TSTA'),
        'patient', tests.id_of('patients', 'a_patient1'), 'push') $$,
    'other kinds of message about the appointment are not limited'
);

-- A worker's retry after the appointment moved: the stale reminder is withdrawn -----------------
-- A worker holds the reminder (as claim_notifications leaves it) when the visit is moved.
update private.outbox
set
    state = 'processing', attempts = 1, lease_until = now() + interval '2 minutes',
    claim_token = '00000000-0000-4000-8000-000000000001'
where id = (select tests.pending_reminders());
create temporary table claimed on commit drop as
select id from private.outbox
where claim_token = '00000000-0000-4000-8000-000000000001';
grant select on claimed to authenticated, service_role;

select tests.act_as('a_front_desk');
select public.reschedule_appointment(
    tests.recall('in_three_days'), now() + interval '4 days'
) is not null as moved;
select tests.clear_authentication();
select is(
    (select count(*)::integer from tests.pending_reminders()), 1, 'moved: one new reminder waits'
);

select tests.act_as_service_role();
select results_eq(
    $$ select state from public.fail_notification(
        (select id from claimed), '00000000-0000-4000-8000-000000000001', 'FCM timeout') $$,
    $$ values ('cancelled') $$,
    'the worker''s failed delivery of the stale reminder is not retried: it is withdrawn'
);
select tests.clear_authentication();
select is(
    (select count(*)::integer from tests.pending_reminders()), 1, 'still one reminder waiting, the new one'
);

-- An admin's retry of a dead stale reminder while a newer one waits: refused --------------------
update private.outbox set state = 'dead', last_error = 'gave up'
where id = (select id from claimed);
select tests.act_as('a_admin');
select throws_ok(
    $$ select public.retry_notification((select id from claimed)) $$,
    'PT409', 'a newer reminder of this appointment is already waiting',
    'an admin cannot send a stale reminder again beside the waiting one'
);
select tests.clear_authentication();
select is(
    (
        select o.state from private.outbox as o
        where o.id = (select c.id from claimed as c)
    ), 'dead', 'the dead letter stays as it was'
);

select * from finish();
rollback;
