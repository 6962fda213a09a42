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
-- Still one reminder per appointment (20261122000400): queued only for a scheduled
-- appointment when it is booked, confirmed or moved, and any pending one withdrawn first.
--
-- The changed function is defined once, in final form, in the migration that created it:
-- private.notify_appointment_change (20261122000400).

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
