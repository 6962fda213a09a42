-- When a patient is reminded of an appointment: a day before; if that is less than an hour
-- away when it is booked, confirmed or moved, two hours before; if that too is less than an
-- hour away, not at all (the booking notice was just sent). Never more than one reminder
-- waiting, and a reschedule moves it. Bookings here are made relative to now(), which
-- stays fixed within the test's transaction.
begin;
select plan(17);

select tests.create_world();

-- The rule --------------------------------------------------------------------------------------
select results_eq(
    $$ select private.appointment_reminder_due(s.starts_at, '2030-04-01 10:00Z')
        from (values ('2030-04-04 10:00Z'::timestamptz), ('2030-04-02 11:00Z'), ('2030-04-02 10:59Z'),
            ('2030-04-01 13:00Z'), ('2030-04-01 12:59Z'), ('2030-04-01 09:00Z')) as s (starts_at)
        order by s.starts_at desc $$,
    $$ values ('2030-04-03 10:00Z'::timestamptz), ('2030-04-01 11:00Z'), ('2030-04-02 08:59Z'),
        ('2030-04-01 11:00Z'), (null), (null) $$,
    'a day before while that is an hour or more away, else two hours before, else none'
);

-- Who hears what, booking by booking ----------------------------------------------------------

create function tests.reminders(visit text)
returns table (state text, deliver_after timestamptz)
language sql
as $$
    select o.state, o.deliver_after
    from private.outbox as o
    where o.subject_id = tests.recall(visit)
        and o.kind = 'appointment_reminder'
    order by o.created_at, o.state;
$$;

create function tests.pending_reminder(visit text)
returns setof timestamptz
language sql
as $$
    select r.deliver_after from tests.reminders(visit) as r where r.state = 'pending';
$$;

select tests.act_as('a_front_desk');
select tests.remember('in_three_days', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor'), now() + interval '3 days', now() + interval '3 days 30 minutes',
    patient_id => tests.id_of('patients', 'a_patient1')
);
select tests.remember('tonight', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor'), now() + interval '10 hours', now() + interval '10 hours 30 minutes',
    patient_id => tests.id_of('patients', 'a_patient2')
);
select tests.remember('in_ninety_minutes', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor2'), now() + interval '90 minutes', now() + interval '2 hours',
    patient_id => tests.id_of('patients', 'ab_patient4')
);
select tests.clear_authentication();

select results_eq(
    $$ select * from tests.pending_reminder('in_three_days') $$,
    $$ values (now() + interval '2 days') $$,
    'booked three days ahead: reminded a day before'
);
select results_eq(
    $$ select * from tests.pending_reminder('tonight') $$,
    $$ values (now() + interval '8 hours') $$,
    'booked ten hours ahead: reminded two hours before, not at once beside the booking notice'
);
select is_empty(
    $$ select * from tests.reminders('in_ninety_minutes') $$,
    'booked ninety minutes ahead: no reminder at all'
);
select results_eq(
    $$ select kind from private.outbox
        where subject_id = tests.recall('in_ninety_minutes')
            and recipient_kind = 'patient' $$,
    $$ values ('appointment_booked') $$,
    'the patient still gets the booking notice itself'
);

-- A request confirmed late --------------------------------------------------------------------
select tests.act_as('a_front_desk');
select tests.remember('requested', id)
from public.book_appointment(
    tests.id_of('doctors', 'a_doctor2'), now() + interval '5 hours', now() + interval '5 hours 30 minutes',
    patient_id => tests.id_of('patients', 'a_patient1'), status => 'requested'
);
select tests.clear_authentication();
select is_empty($$ select * from tests.reminders('requested') $$, 'a request is not reminded');
select tests.act_as('a_front_desk');
update public.appointments set status = 'scheduled'
where id = tests.recall('requested');
select tests.clear_authentication();
select results_eq(
    $$ select * from tests.pending_reminder('requested') $$,
    $$ values (now() + interval '3 hours') $$,
    'confirmed five hours ahead: reminded two hours before'
);

-- A reschedule moves the one reminder ---------------------------------------------------------
select tests.act_as('a_front_desk');
select lives_ok(
    $$ select public.reschedule_appointment(
        tests.recall('in_three_days'), now() + interval '6 hours') $$,
    'the front desk moves the three-days-ahead visit to six hours from now'
);
select tests.clear_authentication();
select results_eq(
    $$ select * from tests.reminders('in_three_days') $$,
    $$ values ('cancelled', now() + interval '2 days'), ('pending', now() + interval '4 hours') $$,
    'the day-before reminder is withdrawn and one is due two hours before the new time'
);
select tests.act_as('a_front_desk');
select lives_ok(
    $$ select public.reschedule_appointment(
        tests.recall('in_three_days'), now() + interval '2 hours') $$,
    'moved again, to two hours from now'
);
select tests.clear_authentication();
select is_empty(
    $$ select * from tests.pending_reminder('in_three_days') $$,
    'too close for a reminder: none is waiting'
);
select results_eq(
    $$ select kind from private.outbox
        where subject_id = tests.recall('in_three_days')
            and recipient_kind = 'patient' and kind <> 'appointment_reminder'
        order by created_at, kind $$,
    $$ values ('appointment_booked'), ('appointment_rescheduled'), ('appointment_rescheduled') $$,
    'the patient is told of each move instead'
);
select tests.act_as('a_front_desk');
select lives_ok(
    $$ select public.reschedule_appointment(
        tests.recall('in_three_days'), now() + interval '4 days') $$,
    'moved once more, four days out'
);
select tests.clear_authentication();
select results_eq(
    $$ select * from tests.pending_reminder('in_three_days') $$,
    $$ values (now() + interval '3 days') $$,
    'one reminder waits again, a day before'
);
select is(
    (
        select count(*)::integer from private.outbox
        where
            subject_id = tests.recall('in_three_days')
            and kind = 'appointment_reminder'
    ),
    3, 'three reminders were queued in all, two of them withdrawn: never two waiting'
);

-- Cancelling withdraws it -------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select lives_ok(
    $$ select public.cancel_appointment(tests.recall('tonight'), 'doctor ill') $$,
    'the front desk cancels tonight''s visit'
);
select tests.clear_authentication();
select is_empty($$ select * from tests.pending_reminder('tonight') $$, 'and its reminder is withdrawn');

select * from finish();
rollback;
