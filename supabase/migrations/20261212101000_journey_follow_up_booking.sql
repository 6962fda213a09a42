-- Journeys: the stage action book_follow_up books the follow-up visit instead of asking for it
-- (issue 19). It opened a ticket "Book a follow-up visit in N days"; now it looks for the first
-- free slot of the doctor of the visit the journey started from (private.find_slots' rules: the
-- doctor's hours, time off and bookings), from N days after the stage is entered and for a week,
-- in the visit's mode, and books it for the patient through public.book_appointment (type
-- follow_up, source front_desk), as the caller who moved the journey. When it cannot (the
-- journey has no visit, no free slot that week, the booking refused), it opens the ticket as
-- before, saying why in its description. Re-created: private.run_journey_action, whose
-- book_follow_up branch now calls the helper (the other branches are unchanged).

create function private.book_journey_follow_up(
    instance public.journey_instances, stage public.journey_stages, action jsonb
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    days integer := coalesce(action ->> 'days', '0')::integer;
    visit public.appointments;
    target timestamptz;
    slot public.free_slot;
    booked public.appointments;
    why text;
    ticket uuid;
begin
    -- The visit is the instance's own (same patient and hospital: its foreign key says so).
    select a.* into visit from public.appointments as a
    where a.id = instance.appointment_id and a.patient_id = instance.patient_id
        and a.hospital_id = instance.hospital_id;
    if visit.id is null then
        why := 'the journey was not started from a visit, so there is no doctor to book with';
    else
        target := now() + make_interval(days => days);
        select s.* into slot
        from public.find_slots(target, target + interval '7 days', doctor_id => visit.doctor_id, mode => visit.mode) as s
        where s.hospital_id = instance.hospital_id
        order by s.starts_at
        limit 1;
        if slot.starts_at is null then
            why := format(
                'no free slot with the doctor of the visit in the 7 days from %s',
                to_char(target at time zone 'Asia/Kolkata', 'DD Mon YYYY')
            );
        else
            begin
                booked := public.book_appointment(
                    visit.doctor_id, slot.starts_at, slot.ends_at, instance.patient_id, 'follow_up', visit.mode,
                    format('Follow-up (%s)', stage.name), source => 'front_desk'
                );
                return action || jsonb_build_object(
                    'outcome', 'done', 'appointment_id', booked.id, 'starts_at', booked.starts_at
                );
            exception
                when others then
                    why := format('booking the free slot at %s was refused: %s', slot.starts_at, sqlerrm);
            end;
        end if;
    end if;
    insert into public.tickets (
        hospital_id, patient_id, journey_instance_id, title, description, category, priority
    )
    values (
        instance.hospital_id, instance.patient_id, instance.id,
        format('Book a follow-up visit in %s days (%s)', days, stage.name), why, 'appointment',
        coalesce(action ->> 'priority', 'medium')::public.ticket_priority
    )
    returning id into ticket;
    return action || jsonb_build_object('outcome', 'done', 'ticket_id', ticket, 'reason', why);
end;
$$;

comment on function private.book_journey_follow_up(public.journey_instances, public.journey_stages, jsonb) is
'The book_follow_up stage action: books the first free slot of the journey visit''s doctor from `days` '
'days on (a week long), else opens a ticket to book it by hand saying why.';

-- Runs one stage action for an instance; its outcome, never an error (a stage is entered even
-- when a message cannot go).
create or replace function private.run_journey_action(
    instance public.journey_instances, stage public.journey_stages, action jsonb
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    template public.message_templates;
    sent public.messages;
    ticket uuid;
    values_ jsonb;
    failure_detail text;
begin
    case action ->> 'type'
        when 'send_template' then
            select t.* into template from public.message_templates as t
            where t.hospital_id = instance.hospital_id and t.code = action ->> 'template_code'
                and t.channel = (action ->> 'channel')::public.message_channel and t.is_active;
            if template.id is null then
                return action || jsonb_build_object('outcome', 'skipped', 'reason', 'template_not_found');
            end if;
            values_ := private.journey_message_values(instance, stage.name);
            sent := private.send_message(
                instance.patient_id, template.channel, null, null, instance.hospital_id, template.id,
                coalesce((
                    select jsonb_object_agg(v.name, values_ -> v.name)
                    from unnest(template.variables) as v (name) where values_ ? v.name
                ), '{}'),
                null, instance.id
            );
            return action || jsonb_build_object('outcome', 'done', 'message_id', sent.id);
        when 'book_follow_up' then
            return private.book_journey_follow_up(instance, stage, action);
        when 'create_ticket' then
            insert into public.tickets (hospital_id, patient_id, journey_instance_id, title, category, priority)
            values (
                instance.hospital_id, instance.patient_id, instance.id, action ->> 'title',
                coalesce(action ->> 'category', 'journey'), coalesce(action ->> 'priority', 'medium')::public.ticket_priority
            )
            returning id into ticket;
            return action || jsonb_build_object('outcome', 'done', 'ticket_id', ticket);
        else
            return action || jsonb_build_object('outcome', 'skipped', 'reason', 'unknown_action');
    end case;
exception
    when others then
        get stacked diagnostics failure_detail = pg_exception_detail;
        return action || jsonb_build_object(
            'outcome', 'skipped', 'reason', coalesce(nullif(failure_detail, ''), 'failed'), 'message', sqlerrm
        );
end;
$$;

comment on function private.run_journey_action(public.journey_instances, public.journey_stages, jsonb) is
'Runs a stage action (send_template, create_ticket, book_follow_up: private.book_journey_follow_up) '
'and answers its outcome; a refusal (consent withdrawn, the WhatsApp window, no template) is an '
'outcome, not an error.';
