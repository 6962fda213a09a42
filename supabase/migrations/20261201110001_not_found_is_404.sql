-- A "not found" from an RPC is an HTTP 404, not a 500. These functions raised SQLSTATE P0002
-- (no_data_found), and PostgREST answers every P0 code but P0001 with 500 ("PL/pgSQL
-- error"), so on Supabase a client asking for a missing appointment, doctor, pharmacist,
-- provisioning grant or notification got a server error. PostgREST's custom-status
-- convention PTxyz answers with HTTP xyz: they now raise PT404, with the same message,
-- detail and hint (the sidecar's machine codes such as doctor_not_found stay in DETAIL).
--
-- Each is its latest body with only the errcode changed; create or replace keeps the
-- signature, owner and grants. set_doctor_active, set_pharmacist_active and
-- set_doctor_schedule were changed in 20261201070001 and 20261201080001 themselves.

-- As in 20261122000600_appointment_api.sql; a doctor the caller cannot see is a 404.
create or replace function public.book_appointment(
    doctor_id uuid,
    starts_at timestamptz,
    ends_at timestamptz default null,
    patient_id uuid default null,
    appointment_type public.appointment_type default 'consultation',
    mode public.consultation_mode default 'in_person',
    reason text default null,
    resource text default null,
    source public.appointment_source default 'app',
    status public.appointment_status default 'scheduled',
    patient_name text default null,
    patient_phone text default null,
    patient_dob date default null,
    patient_sex public.sex default null,
    lead_id uuid default null
)
returns public.appointments
language plpgsql
volatile
set search_path = ''
as $$
declare
    doctor_hospital uuid;
    booked public.appointments;
    for_patient uuid := book_appointment.patient_id;
    new_end timestamptz := book_appointment.ends_at;
begin
    select d.hospital_id into doctor_hospital
    from public.doctors as d
    where d.id = book_appointment.doctor_id;
    if doctor_hospital is null then
        raise exception using
            errcode = 'PT404', message = 'no such doctor', hint = 'list doctors with GET /rest/v1/doctors';
    end if;

    if for_patient is null and book_appointment.patient_name is null then
        for_patient := private.own_patient_id();
        if for_patient is null then
            raise exception using
                errcode = '22023', message = 'say who the appointment is for',
                hint = 'give patient_id, or patient_name for a lead or walk-in';
        end if;
    end if;

    if new_end is null then
        select book_appointment.starts_at + make_interval(mins => w.slot_minutes) into new_end
        from private.availability_windows(
            array[book_appointment.doctor_id], book_appointment.starts_at, book_appointment.starts_at + interval '1 minute'
        ) as w
        where w.span @> book_appointment.starts_at
        limit 1;
        new_end := coalesce(new_end, book_appointment.starts_at + interval '30 minutes');
    end if;

    begin
        insert into public.appointments (
            hospital_id, doctor_id, patient_id, patient_name_snapshot, phone_snapshot, dob_snapshot,
            sex_snapshot, lead_id, starts_at, ends_at, appointment_type, mode, reason, resource, source, status
        )
        values (
            doctor_hospital, book_appointment.doctor_id, for_patient, book_appointment.patient_name,
            book_appointment.patient_phone, book_appointment.patient_dob, book_appointment.patient_sex,
            book_appointment.lead_id, book_appointment.starts_at, new_end, book_appointment.appointment_type,
            book_appointment.mode, book_appointment.reason, book_appointment.resource, book_appointment.source,
            book_appointment.status
        )
        returning * into booked;
    exception when exclusion_violation then
        perform private.raise_booking_clash(
            book_appointment.doctor_id, book_appointment.starts_at, new_end, for_patient,
            book_appointment.resource, null
        );
    end;
    return booked;
end;
$$;

-- As in 20261122000600_appointment_api.sql.
create or replace function public.reschedule_appointment(
    appointment_id uuid,
    starts_at timestamptz,
    ends_at timestamptz default null,
    reason text default null
)
returns public.appointments
language plpgsql
volatile
set search_path = ''
as $$
declare
    before_move public.appointments;
    moved public.appointments;
    new_end timestamptz;
begin
    select a.* into before_move from public.appointments as a where a.id = reschedule_appointment.appointment_id;
    if before_move.id is null then
        raise exception using errcode = 'PT404', message = 'appointment not found';
    end if;
    new_end := coalesce(
        reschedule_appointment.ends_at, reschedule_appointment.starts_at + (before_move.ends_at - before_move.starts_at)
    );
    begin
        update public.appointments as a
        set starts_at = reschedule_appointment.starts_at,
            ends_at = new_end,
            status_reason = coalesce(reschedule_appointment.reason, a.status_reason)
        where a.id = reschedule_appointment.appointment_id
        returning a.* into moved;
    exception when exclusion_violation then
        perform private.raise_booking_clash(
            before_move.doctor_id, reschedule_appointment.starts_at, new_end, before_move.patient_id, before_move.resource, before_move.id
        );
    end;
    if moved.id is null then
        raise exception using
            errcode = '42501', message = 'you may not reschedule this appointment';
    end if;
    return moved;
end;
$$;

-- As in 20261122000600_appointment_api.sql.
create or replace function public.cancel_appointment(appointment_id uuid, reason text)
returns public.appointments
language plpgsql
volatile
set search_path = ''
as $$
declare
    cancelled public.appointments;
begin
    if not exists (select from public.appointments as a where a.id = cancel_appointment.appointment_id) then
        raise exception using errcode = 'PT404', message = 'appointment not found';
    end if;
    update public.appointments as a
    set status = 'cancelled', status_reason = cancel_appointment.reason
    where a.id = cancel_appointment.appointment_id
    returning a.* into cancelled;
    if cancelled.id is null then
        raise exception using errcode = '42501', message = 'you may not cancel this appointment';
    end if;
    return cancelled;
end;
$$;

-- As in 20261124000300_staff_provisioning.sql. Security definer: reads the private grants
-- table and the login's app_metadata in auth.users.
create or replace function private.redeem_provisioning_grant(grant_id uuid, login uuid)
returns private.staff_provisioning_grants
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    issued private.staff_provisioning_grants;
    login_email text;
    login_grant text;
begin
    select g.* into issued from private.staff_provisioning_grants as g where g.id = grant_id for update;
    if not found or issued.created_by is distinct from auth.uid() then
        raise exception using
            errcode = 'PT404', message = 'no provisioning grant with this id was issued to you',
            detail = 'grant_not_found';
    end if;
    if issued.consumed_at is not null then
        raise exception using
            errcode = 'PT409', message = 'this provisioning grant was already used', detail = 'grant_used';
    end if;
    if issued.expires_at <= now() then
        raise exception using
            errcode = 'PT409', message = 'this provisioning grant has expired', detail = 'grant_expired',
            hint = 'start again';
    end if;
    perform private.require_hospital_admin(issued.hospital_id);
    select lower(u.email), u.raw_app_meta_data ->> 'provisioning_grant' into login_email, login_grant
    from auth.users as u where u.id = login;
    if login_grant is distinct from issued.id::text or login_email is distinct from issued.email::text then
        raise exception using
            errcode = '22023', message = 'this login was not created for this provisioning grant',
            detail = 'login_mismatch';
    end if;
    update private.staff_provisioning_grants as g
    set consumed_at = now(), user_id = login
    where g.id = issued.id
    returning g.* into issued;
    return issued;
end;
$$;

-- As in 20261124000300_staff_provisioning.sql.
create or replace function public.update_doctor(
    doctor_id uuid,
    full_name text default null,
    specialty text default null,
    qualification text default null,
    licence_number text default null,
    licence_council text default null,
    calendar_color text default null,
    consultation_modes public.consultation_mode[] default null,
    languages text[] default null,
    bio text default null
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    doctor public.doctors;
    person public.profiles;
begin
    if coalesce(btrim(update_doctor.full_name), 'unchanged') = '' then
        raise exception using
            errcode = '22023', message = 'the full name cannot be blank', detail = 'full_name_required';
    end if;
    perform from public.doctors as d where d.id = update_doctor.doctor_id;
    if not found then
        raise exception using
            errcode = 'PT404', message = 'no doctor with this id', detail = 'doctor_not_found';
    end if;
    update public.doctors as d
    set specialty = coalesce(update_doctor.specialty, d.specialty),
        qualification = coalesce(update_doctor.qualification, d.qualification),
        licence_number = coalesce(update_doctor.licence_number, d.licence_number),
        licence_council = coalesce(update_doctor.licence_council, d.licence_council),
        calendar_color = coalesce(update_doctor.calendar_color, d.calendar_color),
        consultation_modes = coalesce(update_doctor.consultation_modes, d.consultation_modes),
        languages = coalesce(update_doctor.languages, d.languages),
        bio = coalesce(update_doctor.bio, d.bio)
    where d.id = update_doctor.doctor_id
    returning d.* into doctor;
    if not found then
        raise exception using
            errcode = '42501',
            message = 'only an admin of the doctor''s hospital or the doctor can change this profile',
            detail = 'not_allowed';
    end if;
    update public.profiles as p
    set full_name = coalesce(btrim(update_doctor.full_name), p.full_name)
    where p.id = doctor.user_id
    returning p.* into person;
    return private.staff_record(to_jsonb(doctor), person.full_name, person.email::text);
exception
    when unique_violation then
        raise exception using
            errcode = '23505',
            message = 'another doctor of this hospital holds this licence number',
            detail = 'licence_number_exists';
end;
$$;

-- As in 20261124000300_staff_provisioning.sql.
create or replace function public.update_pharmacist(
    pharmacist_id uuid,
    full_name text default null,
    licence_number text default null,
    pharmacy_id uuid default null
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    pharmacist public.pharmacists;
    person public.profiles;
begin
    if coalesce(btrim(update_pharmacist.full_name), 'unchanged') = '' then
        raise exception using
            errcode = '22023', message = 'the full name cannot be blank', detail = 'full_name_required';
    end if;
    perform from public.pharmacists as ph where ph.id = update_pharmacist.pharmacist_id;
    if not found then
        raise exception using
            errcode = 'PT404', message = 'no pharmacist with this id', detail = 'pharmacist_not_found';
    end if;
    update public.pharmacists as ph
    set licence_number = coalesce(update_pharmacist.licence_number, ph.licence_number),
        pharmacy_id = coalesce(update_pharmacist.pharmacy_id, ph.pharmacy_id)
    where ph.id = update_pharmacist.pharmacist_id
    returning ph.* into pharmacist;
    if not found then
        raise exception using
            errcode = '42501',
            message = 'only an admin of the pharmacist''s hospital can change this profile',
            detail = 'not_allowed';
    end if;
    update public.profiles as p
    set full_name = coalesce(btrim(update_pharmacist.full_name), p.full_name)
    where p.id = pharmacist.user_id
    returning p.* into person;
    return private.staff_record(to_jsonb(pharmacist), person.full_name, person.email::text);
exception
    when foreign_key_violation then
        raise exception using
            errcode = 'PT422',
            message = 'no pharmacy of this hospital with this id',
            detail = 'pharmacy_not_found';
end;
$$;

-- As in 20261124000400_notification_delivery.sql. Security definer: writes the private outbox.
create or replace function private.retry_notification(notification_id uuid)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    row_ private.outbox;
begin
    select o.* into row_ from private.outbox as o where o.id = retry_notification.notification_id for update;
    if not found or not coalesce(row_.hospital_id = any(private.staff_hospital_ids('{hospital_admin}')), false) then
        if cardinality(private.staff_hospital_ids('{hospital_admin}')) = 0 then
            raise exception using
                errcode = '42501', message = 'only a hospital admin can retry a notification';
        end if;
        raise exception using errcode = 'PT404', message = 'no such notification in your hospital';
    end if;
    if row_.state <> 'dead' then
        raise exception using
            errcode = 'PT409', message = format('only a dead notification can be retried; this one is %s', row_.state);
    end if;
    if row_.recipient_kind = 'patient' and row_.channel in ('sms', 'whatsapp', 'email')
        and private.contact_withdrawn(row_.recipient_id, row_.hospital_id, row_.channel) then
        update private.outbox as o
        set state = 'cancelled', last_error = format('the patient withdrew consent to contact by %s', row_.channel)
        where o.id = row_.id;
        return 'cancelled';
    end if;
    update private.outbox as o
    set state = 'pending', attempts = 0, deliver_after = now()
    where o.id = row_.id;
    return 'pending';
end;
$$;
