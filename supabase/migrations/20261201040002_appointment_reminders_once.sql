-- One reminder per appointment. A booking made as `requested` queued a reminder, and its
-- confirmation (requested -> scheduled) queued a second one without withdrawing the first,
-- so the patient was reminded twice. A reminder now belongs to a confirmed (scheduled)
-- appointment only: it is queued when the appointment becomes or is booked as scheduled, or
-- is moved while scheduled, and withdrawn on any move or as soon as the appointment leaves
-- `scheduled` (arrived, in consultation, completed, cancelled, no show).
-- Same function as in 20261122000400 otherwise.
create or replace function private.notify_appointment_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    doctor_user uuid;
    kind text;
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
        if kind in ('appointment_booked', 'appointment_rescheduled', 'appointment_confirmed')
            and new.status = 'scheduled' and new.starts_at > now() then
            perform private.enqueue(
                'appointment_reminder', 'appointment', new.id, new.hospital_id, 'patient', new.patient_id,
                private.patient_channel(new.patient_id), payload,
                greatest(now(), new.starts_at - interval '24 hours')
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
