-- What a nurse may change on an appointment: its status, nothing else. Nurses take the
-- patient through the visit (scheduled -> arrived -> checked_in, the steps the state machine
-- gives them), so they update appointments; but the staff update policy let them through
-- on every updatable column, so a nurse could move an appointment, switch its mode or type,
-- rewrite its reason or take its room. Booking and moving stay with those who book
-- (seed 004: the front desk schedules; the CRO books converted leads; seed 000: the admin
-- oversees all appointments), the appointment's own doctor, and the patient within the
-- limits of private.guard_appointment. Nobody changes an appointment's doctor or patient
-- (no column privilege): that is a new booking.
-- Security invoker, like the field guards of 20261121000800: it reads only the caller's own
-- memberships through the access helpers.
create function private.guard_appointment_nurse_fields()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    -- Written with a status change by the state machine and the updated_at trigger.
    status_fields constant text[] := array['status', 'status_reason', 'status_changed_at', 'updated_at'];
    changed text;
begin
    if private.acting_as_system()
        or old.hospital_id = any(private.staff_hospital_ids('{hospital_admin,front_desk,cro}'))
        or old.doctor_id = any(private.own_doctor_ids())
        or old.patient_id = private.own_patient_id() then
        return new;
    end if;
    select string_agg(n.key, ', ' order by n.key) into changed
    from jsonb_each(to_jsonb(new) - status_fields) as n
    where n.value is distinct from to_jsonb(old) -> n.key;
    if changed is not null then
        perform private.raise_forbidden(
            'a nurse may change only the status of an appointment',
            detail => format('changed: %s', changed),
            hint => 'ask the front desk to move it or to change its room, mode or type'
        );
    end if;
    return new;
end;
$$;

create trigger appointments_guard_nurse_fields
before update on public.appointments
for each row execute function private.guard_appointment_nurse_fields();
