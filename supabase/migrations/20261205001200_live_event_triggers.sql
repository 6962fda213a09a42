-- What raises live events, to whom, with what (issue 13).
--
-- A payload says which row changed and how (ids, status, times), never names, notes,
-- diagnoses, medicines, reasons or any clinical text: the client reads the row itself through
-- the API, where RLS and the logged clinical reads apply. Every payload has occurred_at.
--
--   appointment_created, appointment_status_changed, appointment_rescheduled
--       → user:<patient's login> (if any), user:<doctor> (old and new when moved to another
--         doctor), hospital:<hospital>:front_desk
--       {appointment_id, hospital_id, doctor_id, status, starts_at, ends_at, occurred_at}
--       + previous_status when the status changed (cancelled is a status change),
--       + previous_starts_at, previous_ends_at when the time changed,
--       + previous_doctor_id when the doctor changed.
--   prescription_created, prescription_status_changed, prescription_rerouted
--       → user:<patient's login> (if any), user:<issuing doctor>,
--         hospital:<pharmacy's hospital>:pharmacist (old and new pharmacy when rerouted)
--       {prescription_id, hospital_id, doctor_id, pharmacy_id, status, valid_until, occurred_at}
--       + previous_status / previous_pharmacy_id when they changed.
--   lab_result_created → user:<ordering doctor> (if any), and user:<patient's login> when the
--       result is already final; lab_result_finalised → both, when it becomes final (patients
--       see final results only). {lab_result_id, hospital_id, finalised_at, occurred_at}: the
--       flag (normal/abnormal/critical) is not broadcast; a critical result reaches its
--       clinicians as a notification, below.
--   notification → user:<recipient> for every outbox message due now and addressed to a
--       user, or to a patient with a login (the in-app copy of a push/SMS; a critical lab
--       result's recipients are chosen by private.notify_critical_lab_result)
--       {notification_id, kind, subject_type, subject_id, hospital_id, occurred_at}.

create function private.user_topic(user_id uuid)
returns text
language sql
immutable
set search_path = ''
as $$
    select 'user:' || user_topic.user_id::text
$$;

comment on function private.user_topic(uuid) is 'The live-event topic of one user: user:<uuid>; null for null.';

create function private.hospital_topic(hospital_id uuid, role public.app_role)
returns text
language sql
stable
set search_path = ''
as $$
    select 'hospital:' || hospital_topic.hospital_id::text || ':' || hospital_topic.role::text
$$;

comment on function private.hospital_topic(uuid, public.app_role) is
'The live-event topic of everyone holding a role at a hospital: hospital:<uuid>:<role>.';

create function private.patient_user_topic(patient_id uuid)
returns text
language sql
stable
set search_path = ''
as $$
    select private.user_topic(p.user_id) from public.patients as p where p.id = patient_user_topic.patient_id
$$;

comment on function private.patient_user_topic(uuid) is
'The live-event topic of a patient''s app login; null when the patient has none.';

-- Appointments -------------------------------------------------------------------------------
create function private.live_appointment_events()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    event text;
    payload jsonb := jsonb_build_object(
        'appointment_id', new.id, 'hospital_id', new.hospital_id, 'doctor_id', new.doctor_id,
        'status', new.status, 'starts_at', new.starts_at, 'ends_at', new.ends_at, 'occurred_at', now()
    );
    previous_doctor_user uuid;
begin
    if tg_op = 'INSERT' then
        event := 'appointment_created';
    else
        if new.status is distinct from old.status then
            event := 'appointment_status_changed';
            payload := payload || jsonb_build_object('previous_status', old.status);
        end if;
        if (new.starts_at, new.ends_at) is distinct from (old.starts_at, old.ends_at) then
            event := coalesce(event, 'appointment_rescheduled');
            payload := payload || jsonb_build_object(
                'previous_starts_at', old.starts_at, 'previous_ends_at', old.ends_at
            );
        end if;
        if new.doctor_id is distinct from old.doctor_id then
            event := coalesce(event, 'appointment_rescheduled');
            payload := payload || jsonb_build_object('previous_doctor_id', old.doctor_id);
            previous_doctor_user := old.doctor_user_id;
        end if;
    end if;
    if event is null then
        return null;
    end if;
    perform private.raise_live_event(
        array[
            private.patient_user_topic(new.patient_id),
            private.user_topic(new.doctor_user_id),
            private.user_topic(previous_doctor_user),
            private.hospital_topic(new.hospital_id, 'front_desk')
        ],
        event,
        payload
    );
    return null;
end;
$$;

comment on function private.live_appointment_events() is
'Raises appointment_created / _status_changed / _rescheduled for the patient''s login, the '
'doctor and the hospital''s front desk (ids, status, times only).';

create trigger live_events_appointments
after insert or update of status, starts_at, ends_at, doctor_id on public.appointments
for each row execute function private.live_appointment_events();

-- Prescriptions ------------------------------------------------------------------------------
create function private.live_prescription_events()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    event text;
    payload jsonb := jsonb_build_object(
        'prescription_id', new.id, 'hospital_id', new.hospital_id, 'doctor_id', new.doctor_id,
        'pharmacy_id', new.pharmacy_id, 'status', new.status, 'valid_until', new.valid_until,
        'occurred_at', now()
    );
    previous_pharmacy uuid;
begin
    if tg_op = 'INSERT' then
        event := 'prescription_created';
    else
        if new.status is distinct from old.status then
            event := 'prescription_status_changed';
            payload := payload || jsonb_build_object('previous_status', old.status);
        end if;
        if new.pharmacy_id is distinct from old.pharmacy_id then
            event := coalesce(event, 'prescription_rerouted');
            payload := payload || jsonb_build_object('previous_pharmacy_id', old.pharmacy_id);
            previous_pharmacy := old.pharmacy_id;
        end if;
    end if;
    if event is null then
        return null;
    end if;
    perform private.raise_live_event(
        array[
            private.patient_user_topic(new.patient_id),
            (select private.user_topic(d.user_id) from public.doctors as d where d.id = new.doctor_id)
        ] || array(
            select private.hospital_topic(ph.hospital_id, 'pharmacist')
            from public.pharmacies as ph
            where ph.id in (new.pharmacy_id, previous_pharmacy)
        ),
        event,
        payload
    );
    return null;
end;
$$;

comment on function private.live_prescription_events() is
'Raises prescription_created / _status_changed / _rerouted for the patient''s login, the '
'issuing doctor and the pharmacists of the pharmacy''s hospital (ids, status, times only).';

create trigger live_events_prescriptions
after insert or update of status, pharmacy_id on public.prescriptions
for each row execute function private.live_prescription_events();

-- Lab results --------------------------------------------------------------------------------
create function private.live_lab_result_events()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    event text;
begin
    if tg_op = 'INSERT' then
        event := 'lab_result_created';
    elsif old.finalised_at is null and new.finalised_at is not null then
        event := 'lab_result_finalised';
    else
        return null;
    end if;
    perform private.raise_live_event(
        array[
            private.user_topic(new.ordered_by),
            -- Patients see final results only.
            case when new.finalised_at is not null then private.patient_user_topic(new.patient_id) end
        ],
        event,
        jsonb_build_object(
            'lab_result_id', new.id, 'hospital_id', new.hospital_id, 'finalised_at', new.finalised_at,
            'occurred_at', now()
        )
    );
    return null;
end;
$$;

comment on function private.live_lab_result_events() is
'Raises lab_result_created / _finalised for the ordering doctor and, once final, the patient''s '
'login (ids and times only; the result and its flag are read through the logged API).';

create trigger live_events_lab_results
after insert or update of finalised_at on public.lab_results
for each row execute function private.live_lab_result_events();

-- Notifications (the outbox) ------------------------------------------------------------------
create function private.live_notification_events()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform private.raise_live_event(
        array[
            case new.recipient_kind
                when 'user' then private.user_topic(new.recipient_id)
                when 'patient' then private.patient_user_topic(new.recipient_id)
            end
        ],
        'notification',
        jsonb_build_object(
            'notification_id', new.id, 'kind', new.kind, 'subject_type', new.subject_type,
            'subject_id', new.subject_id, 'hospital_id', new.hospital_id, 'occurred_at', now()
        )
    );
    return null;
end;
$$;

comment on function private.live_notification_events() is
'Raises notification {notification_id, kind, subject_type, subject_id, hospital_id} for the '
'user an outbox message due now is addressed to (never its text or payload).';

-- Due now and not withdrawn: a reminder queued for later is not news yet.
create trigger live_events_outbox
after insert on private.outbox
for each row
when (new.state = 'pending' and new.deliver_after <= new.created_at)
execute function private.live_notification_events();
