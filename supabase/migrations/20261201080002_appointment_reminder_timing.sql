-- When a patient is reminded of an appointment. The reminder was due 24 hours before the
-- start, or at once when that was already past: a booking made less than a day ahead
-- reminded the patient right beside its booking notice, a duplicate message.
--
-- The rule (private.appointment_reminder_due): remind 24 hours before the start; if that is
-- less than an hour from now (when the appointment is booked, confirmed or moved), remind 2
-- hours before instead; if that too is less than an hour away, send no reminder: the notice
-- of the booking, confirmation or move the patient just got is reminder enough. The hour
-- keeps a reminder from following its notice within minutes.
--
-- Still one reminder per appointment (20261201040002): queued only for a scheduled
-- appointment when it is booked, confirmed or moved, and any pending one withdrawn first.

create function private.appointment_reminder_due(starts_at timestamptz, decided_at timestamptz default now())
returns timestamptz
language sql
stable
set search_path = ''
as $$
    select min(c.due)
    from (
        values
        (appointment_reminder_due.starts_at - interval '24 hours'),
        (appointment_reminder_due.starts_at - interval '2 hours')
    ) as c (due)
    where c.due >= appointment_reminder_due.decided_at + interval '1 hour';
$$;

-- Same function as in 20261201040002 but for when the reminder is due.
create or replace function private.notify_appointment_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    doctor_user uuid;
    kind text;
    reminder_due timestamptz;
    payload jsonb := jsonb_build_object(
        'appointment_id', new.id, 'doctor_id', new.doctor_id, 'starts_at', new.starts_at,
        'ends_at', new.ends_at, 'mode', new.mode, 'status', new.status
    );
begin
    select d.user_id into doctor_user from public.doctors as d where d.id = new.doctor_id;

    if tg_op = 'INSERT' then
        kind := 'appointment_booked';
    elsif new.status is distinct from old.status and new.status = 'cancelled' then
        kind := 'appointment_cancelled';
        payload := payload || jsonb_build_object('reason', new.status_reason);
    elsif new.status is distinct from old.status and new.status = 'scheduled' then
        kind := 'appointment_confirmed';
    elsif (new.starts_at, new.ends_at) is distinct from (old.starts_at, old.ends_at) then
        kind := 'appointment_rescheduled';
        payload := payload || jsonb_build_object(
            'previous_starts_at', old.starts_at, 'previous_ends_at', old.ends_at
        );
    end if;

    -- A reminder waits for its time; any change of time, confirmation or leaving
    -- `scheduled` withdraws the one waiting (a new one is queued below when due).
    if tg_op = 'UPDATE' and (
        (new.starts_at, new.ends_at) is distinct from (old.starts_at, old.ends_at)
        or new.status is distinct from old.status
    ) then
        update private.outbox as o
        set state = 'cancelled'
        where o.subject_id = new.id and o.kind = 'appointment_reminder' and o.state = 'pending';
    end if;

    if kind is null then
        return null;
    end if;

    if new.patient_id is not null then
        perform private.enqueue(
            kind, 'appointment', new.id, new.hospital_id, 'patient', new.patient_id,
            private.patient_channel(new.patient_id), payload
        );
        reminder_due := private.appointment_reminder_due(new.starts_at);
        if kind in ('appointment_booked', 'appointment_rescheduled', 'appointment_confirmed')
            and new.status = 'scheduled' and reminder_due is not null then
            perform private.enqueue(
                'appointment_reminder', 'appointment', new.id, new.hospital_id, 'patient', new.patient_id,
                private.patient_channel(new.patient_id), payload, reminder_due
            );
        end if;
    end if;
    if kind <> 'appointment_confirmed' then
        perform private.enqueue(kind, 'appointment', new.id, new.hospital_id, 'user', doctor_user, 'push', payload);
    end if;
    return null;
end;
$$;

revoke execute on function private.notify_appointment_change() from public;

revoke execute on function private.appointment_reminder_due(timestamptz, timestamptz) from public;
