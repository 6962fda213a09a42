-- The notice of an appointment cancelled because Cal.com refused its time (issue 14: the
-- calendar push cancels it with the reason calendar_slot_taken) says why and what to do: the
-- time was taken in the doctor's calendar, please choose another. Other cancellations keep the
-- bare text: a status reason is free text a person typed and may be clinical, so it is never
-- shown; calendar_slot_taken is a code the system sets, about scheduling only.

create or replace function private.render_notification(
    kind text, recipient_kind text, payload jsonb, time_zone text
)
returns table (title text, body text)
language plpgsql
stable
set search_path = ''
as $$
declare
    starts_at text := coalesce(
        to_char(
            (render_notification.payload ->> 'starts_at')::timestamptz at time zone render_notification.time_zone,
            'DD Mon YYYY "at" HH24:MI'
        ),
        'the date shown in the app'
    );
    staff boolean := render_notification.recipient_kind <> 'patient';
begin
    case render_notification.kind
        when 'appointment_booked' then
            title := case when staff then 'New appointment' else 'Appointment booked' end;
            body := format(
                case when staff then 'An appointment was booked for %s.' else 'Your appointment is on %s.' end,
                starts_at
            );
        when 'appointment_confirmed' then
            title := 'Appointment confirmed';
            body := format('Your appointment on %s is confirmed.', starts_at);
        when 'appointment_rescheduled' then
            title := 'Appointment moved';
            body := format(
                case when staff then 'An appointment was moved to %s.' else 'Your appointment is now on %s.' end,
                starts_at
            );
        when 'appointment_cancelled' then
            title := 'Appointment cancelled';
            body := case
                -- The push found the time taken in the doctor's Cal.com calendar: say so, so that
                -- the patient books again instead of waiting or calling to ask.
                when render_notification.payload ->> 'reason' = 'calendar_slot_taken' then format(
                    case
                        when staff then 'The appointment on %s was cancelled: the time was taken in the doctor''s calendar.'
                        -- With the title, one SMS (160 characters).
                        else
                            'Your appointment on %s was cancelled: the time was taken in the doctor''s calendar. '
                            || 'Please choose another time.'
                    end,
                    starts_at
                )
                else format(
                    case when staff then 'The appointment on %s was cancelled.'
                        else 'Your appointment on %s was cancelled.' end,
                    starts_at
                )
            end;
        when 'appointment_reminder' then
            title := 'Appointment reminder';
            body := format('Reminder: your appointment is on %s.', starts_at);
        when 'prescription_issued' then
            title := 'New prescription';
            body := case when staff then 'A new prescription is waiting for review.'
                else 'Your doctor has issued a prescription.' end;
        when 'prescription_approved' then
            title := 'Prescription approved';
            body := 'The pharmacy has approved your prescription.';
        when 'prescription_ready' then
            title := 'Prescription ready';
            body := 'Your prescription is ready for pickup at the pharmacy.';
        when 'prescription_denied' then
            title := 'Prescription update';
            body := 'The pharmacy could not fill your prescription. Please contact the hospital.';
        when 'prescription_cancelled' then
            title := 'Prescription cancelled';
            body := case when staff then 'A prescription was cancelled.' else 'Your prescription was cancelled.' end;
        when 'prescription_expired' then
            title := 'Prescription expired';
            body := 'Your prescription has expired. Please contact the hospital.';
        when 'lab_result_critical' then
            title := 'Lab result needs attention';
            body := 'A lab result needs your review. Open carebase to see it.';
        else
            title := 'carebase';
            body := 'You have an update. Open the app for details.';
    end case;
    return next;
end;
$$;
