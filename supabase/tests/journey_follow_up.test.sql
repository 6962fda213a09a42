-- The journey stage action book_follow_up: it books the first free slot of the visit's doctor
-- from `days` days on, for the journey's patient; without a visit or a free slot it opens a
-- ticket saying why.
begin;
select plan(7);
select tests.create_world();

-- a_doctor works every day, 09:00 to 17:00, in person; a_doctor2 has no hours at all.
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at, consultation_modes)
select
    tests.id_of('doctors', 'a_doctor'),
    tests.id_of('hospitals', 'TSTA'),
    d,
    time '09:00',
    time '17:00',
    '{in_person}'
from generate_series(1, 7) as d;
insert into public.appointments (id, hospital_id, doctor_id, patient_id, starts_at, ends_at, status, mode)
values
(
    tests.remember('visit1', gen_random_uuid()), tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'),
    tests.id_of('patients', 'a_patient1'), now() + interval '2 hours', now() + interval '135 minutes', 'scheduled',
    'in_person'
),
(
    tests.remember('visit2', gen_random_uuid()), tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor2'),
    tests.id_of('patients', 'a_patient2'), now() + interval '3 hours', now() + interval '195 minutes', 'scheduled',
    'in_person'
);

select tests.act_as('a_admin');
select tests.remember('journey', (
    public.create_journey(
        tests.id_of('hospitals', 'TSTA'), 'After the visit', 'post_visit',
        stages => $$[
            {"name": "Visit", "order_index": 1},
            {"name": "Follow-up", "order_index": 2, "actions": [{"type": "book_follow_up", "days": "10"}]}
        ]$$
    ) ->> 'id'
)::uuid);

select tests.act_as('a_front_desk');
select tests.remember('booked', (
    public.start_journey_instance(
        tests.recall('journey'), tests.id_of('patients', 'a_patient1'), appointment_id => tests.recall('visit1')
    )
).id);
select lives_ok(
    $$ select public.advance_journey_instance(tests.recall('booked')) $$,
    'the front desk moves the patient to the follow-up stage'
);
select results_eq(
    $$ select a.doctor_id, a.patient_id, a.appointment_type::text, a.status::text,
            a.starts_at >= now() + interval '10 days', a.starts_at < now() + interval '11 days'
        from public.journey_stage_events as e
        join public.appointments as a on a.id = (e.actions_done -> 0 ->> 'appointment_id')::uuid
        where e.instance_id = tests.recall('booked') and e.completed_at is null $$,
    $$ values (tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'a_patient1'), 'follow_up', 'scheduled',
        true, true) $$,
    'the follow-up is booked with the same doctor, at the first free slot 10 days on'
);
select is_empty(
    $$ select id from public.tickets where journey_instance_id = tests.recall('booked') $$,
    'and no ticket asks for it'
);

-- Nobody's hours: a ticket, saying why.
select tests.remember('no_slot', (
    public.start_journey_instance(
        tests.recall('journey'), tests.id_of('patients', 'a_patient2'), appointment_id => tests.recall('visit2')
    )
).id);
select public.advance_journey_instance(tests.recall('no_slot'));
select results_eq(
    $$ select title, description ~ '^no free slot with the doctor', category
        from public.tickets where journey_instance_id = tests.recall('no_slot') $$,
    $$ values ('Book a follow-up visit in 10 days (Follow-up)', true, 'appointment') $$,
    'without a free slot the doctor''s week, a ticket asks to book it and says why'
);
select is_empty(
    $$ select id from public.appointments where patient_id = tests.id_of('patients', 'a_patient2')
        and appointment_type = 'follow_up' $$,
    'and nothing is booked'
);

-- No visit to follow: a ticket, saying why.
select tests.remember('no_visit', (
    public.start_journey_instance(tests.recall('journey'), tests.id_of('patients', 'ab_patient4'))
).id);
select public.advance_journey_instance(tests.recall('no_visit'));
select results_eq(
    $$ select description from public.tickets where journey_instance_id = tests.recall('no_visit') $$,
    $$ values ('the journey was not started from a visit, so there is no doctor to book with') $$,
    'a journey not started from a visit gets the ticket'
);
select results_eq(
    $$ select e.actions_done -> 0 ->> 'outcome', e.actions_done -> 0 ? 'ticket_id'
        from public.journey_stage_events as e
        where e.instance_id = tests.recall('no_visit') and e.completed_at is null $$,
    $$ values ('done', true) $$,
    'the stage event records the ticket it opened'
);

select * from finish();
rollback;
