-- Cal.com out meets Cal.com in (issue 14, item 3): the webhooks Cal.com sends about the
-- bookings carebase pushed.
--
--   * A booking carebase made carries the appointment id in its metadata; the snapshot now
--     passes it on (`appointment_id`), and the apply function puts the booking's uid in that
--     appointment's lineage when the worker has not recorded it yet (the create's answer was
--     late or lost and the webhook came first). Without this, the echo of our own booking was
--     taken for a new booking clashing with the appointment, and flagged. Only a carebase-born
--     appointment of the organizer's doctor with no booking in Cal.com yet is claimed so.
--   * While a change made in carebase waits to be pushed (sync_state pending; a Cal.com-born
--     appointment too, once someone moved or cancelled it here), a webhook carrying Cal.com's
--     older time does not move the appointment back (ignored, push_pending) and a new uid does
--     not mark it synced: the push makes Cal.com match carebase.

create or replace function private.calcom_booking_snapshot(body jsonb)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
declare
    trigger_event text := body ->> 'triggerEvent';
    booking jsonb;
    status text;
    target text;
    reason text;
    first_attendee jsonb;
    phone jsonb;
    location text;
begin
    if jsonb_typeof(body) is distinct from 'object' or trigger_event is null then
        return jsonb_build_object('unprocessable', 'malformed_event');
    end if;
    if trigger_event not in (
        'BOOKING_CREATED', 'BOOKING_REQUESTED', 'BOOKING_RESCHEDULED', 'BOOKING_CANCELLED', 'BOOKING_REJECTED',
        'BOOKING_NO_SHOW_UPDATED', 'MEETING_STARTED', 'MEETING_ENDED'
    ) then
        return jsonb_build_object('ignored', 'unsupported_trigger');
    end if;
    booking := case
        when trigger_event in ('MEETING_STARTED', 'MEETING_ENDED') and body ? 'uid' then body
        else body -> 'payload'
    end;
    if jsonb_typeof(booking) is distinct from 'object' then
        return jsonb_build_object('unprocessable', 'malformed_event');
    end if;

    if trigger_event = 'BOOKING_NO_SHOW_UPDATED' then
        if jsonb_typeof(booking -> 'attendees') is distinct from 'array' or booking ->> 'bookingUid' is null then
            return jsonb_build_object('unprocessable', 'malformed_event');
        end if;
        return jsonb_build_object(
            'provider', 'calcom',
            'uid', booking ->> 'bookingUid',
            'target_status', case
                when exists (
                    select from jsonb_array_elements(booking -> 'attendees') as a (attendee)
                    where jsonb_typeof(a.attendee) = 'object' and a.attendee ->> 'noShow' = 'true'
                ) then 'no_show'
            end,
            'status_reason', 'marked no-show in Cal.com'
        );
    end if;

    status := upper(booking ->> 'status');
    begin
        perform (booking ->> 'startTime')::timestamptz, (booking ->> 'endTime')::timestamptz;
    exception
        when others then
            return jsonb_build_object('unprocessable', 'malformed_event');
    end;
    if booking ->> 'uid' is null or booking ->> 'startTime' is null or booking ->> 'endTime' is null then
        return jsonb_build_object('unprocessable', 'malformed_event');
    end if;

    target := case trigger_event
        when 'BOOKING_CANCELLED' then 'cancelled'
        when 'BOOKING_REJECTED' then 'cancelled'
        when 'MEETING_STARTED' then 'in_consultation'
        when 'MEETING_ENDED' then 'completed'
        else case status
            when 'ACCEPTED' then 'scheduled'
            when 'PENDING' then 'requested'
            when 'AWAITING_HOST' then 'requested'
            when 'CANCELLED' then 'cancelled'
            when 'REJECTED' then 'cancelled'
            else case when trigger_event = 'BOOKING_REQUESTED' then 'requested' else 'scheduled' end
        end
    end;
    reason := case
        when trigger_event = 'BOOKING_REJECTED' or status = 'REJECTED' then
            'rejected in Cal.com' || coalesce(': ' || nullif(btrim(booking ->> 'rejectionReason'), ''), '')
        when target = 'cancelled' then
            'cancelled in Cal.com' || coalesce(': ' || nullif(btrim(booking ->> 'cancellationReason'), ''), '')
    end;

    first_attendee := case when jsonb_typeof(booking -> 'attendees') = 'array' then booking -> 'attendees' -> 0 end;
    -- JSON null is no phone: the next place is tried.
    phone := coalesce(
        nullif(first_attendee -> 'phoneNumber', 'null'),
        nullif(booking -> 'responses' -> 'attendeePhoneNumber' -> 'value', 'null'),
        nullif(booking -> 'responses' -> 'attendeePhoneNumber', 'null'),
        nullif(booking -> 'smsReminderNumber', 'null')
    );
    location := coalesce(booking ->> 'location', '');

    return jsonb_build_object(
        'provider', 'calcom',
        'uid', booking ->> 'uid',
        'reschedule_uid', coalesce(booking ->> 'rescheduleUid', booking ->> 'fromReschedule'),
        'rescheduled', coalesce(booking ->> 'rescheduled', 'false') = 'true',
        'target_status', target,
        'status_reason', reason,
        'starts_at', booking ->> 'startTime',
        'ends_at', booking ->> 'endTime',
        'mode', case
            when location ~* '^(integrations:|https?://)' or jsonb_typeof(booking -> 'videoCallData') = 'object' then 'video'
            when location ~* 'phone' then 'audio'
            when location = '' then 'video'
            else 'in_person'
        end,
        'reason', left(booking ->> 'additionalNotes', 1000),
        -- A booking carebase made carries its appointment id (sidecar/integrations/calcom.py).
        'appointment_id', case
            when booking -> 'metadata' ->> 'carebase_appointment_id'
                ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                then booking -> 'metadata' ->> 'carebase_appointment_id'
        end,
        'organizer', jsonb_build_object(
            'cal_user_id', coalesce(booking -> 'organizer' ->> 'id', booking -> 'user' ->> 'id', booking ->> 'userId'),
            'email', coalesce(booking -> 'organizer' ->> 'email', booking -> 'user' ->> 'email')
        ),
        'attendee', jsonb_strip_nulls(jsonb_build_object(
            'name', first_attendee ->> 'name',
            -- A phone-only booking's attendee has the made-up <digits>@sms.cal.com: no email.
            'email', case when first_attendee ->> 'email' !~* '@sms\.cal\.com$' then first_attendee ->> 'email' end,
            'phone', case when jsonb_typeof(phone) = 'string' then phone #>> '{}' end
        ))
    );
end;
$$;

create or replace function private.calendar_apply_booking(snapshot jsonb, inbox_entry uuid default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    source text := coalesce(snapshot ->> 'provider', 'calcom');
    booking_ref text := nullif(btrim(snapshot ->> 'uid'), '');
    previous_ref text := nullif(btrim(snapshot ->> 'reschedule_uid'), '');
    target public.appointment_status := (snapshot ->> 'target_status')::public.appointment_status;
    target_reason text := nullif(btrim(snapshot ->> 'status_reason'), '');
    starts timestamptz := (snapshot ->> 'starts_at')::timestamptz;
    ends timestamptz := (snapshot ->> 'ends_at')::timestamptz;
    attendee jsonb := coalesce(snapshot -> 'attendee', '{}');
    attendee_phone text := attendee ->> 'phone';
    attendee_email text := nullif(btrim(attendee ->> 'email'), '');
    organizer_id bigint;
    holders uuid [];
    appt public.appointments;
    link public.doctor_calendar_links;
    link_count integer;
    matches uuid [];
    patient uuid;
    new_patient boolean := false;
    ref_superseded boolean;
    changed boolean := false;
    step text;
    path text [];
    note text;
    skip_reason text;
    lock_key bigint;
begin
    if booking_ref is null then
        return jsonb_build_object('outcome', 'unprocessable', 'reason', 'missing_uid');
    end if;
    if attendee_phone is not null then
        attendee_phone := regexp_replace(attendee_phone, '[\s().-]', '', 'g');
        if attendee_phone !~ '^\+[1-9][0-9]{7,14}$' then
            attendee_phone := null;
        end if;
    end if;
    if attendee_email is not null and attendee_email !~ '^[^@\s]+@[^@\s]+$' then
        attendee_email := null;
    end if;

    -- Events of one booking (or of the two ends of a reschedule) take turns, so that two of
    -- them arriving together agree on one appointment. Locks in a fixed order: no deadlock.
    for lock_key in
        select distinct hashtextextended('calendar_booking:' || source || ':' || k.ref, 0)
        from unnest(array[booking_ref, previous_ref]) as k (ref)
        where k.ref is not null
        order by 1
    loop
        perform pg_advisory_xact_lock(lock_key);
    end loop;

    -- A booking carebase made, whose uid the worker has not recorded yet (its answer was late
    -- or lost, and Cal.com's webhook came first): it joins the lineage of the appointment its
    -- metadata names, if that appointment is carebase's own, of the organizer's doctor, and
    -- has no booking in Cal.com yet (metadata anyone can set claims nothing else).
    if snapshot ->> 'appointment_id' is not null and previous_ref is null then
        insert into private.appointment_external_refs (provider, external_ref, appointment_id, superseded)
        select coalesce(snapshot ->> 'provider', 'calcom'), booking_ref, a.id, false
        from public.appointments as a
        where a.id = (snapshot ->> 'appointment_id')::uuid
            and a.source <> 'calcom' and a.external_ref is null
            and a.doctor_id = (
                select l.doctor_id
                from private.calendar_links_for(
                    case
                        when snapshot -> 'organizer' ->> 'cal_user_id' ~ '^[0-9]{1,18}$'
                            then (snapshot -> 'organizer' ->> 'cal_user_id')::bigint
                    end,
                    snapshot -> 'organizer' ->> 'email'
                ) as l
                limit 1
            )
            and not exists (
                select from private.appointment_external_refs as r
                where r.appointment_id = a.id and r.provider = coalesce(snapshot ->> 'provider', 'calcom')
            )
        on conflict (provider, external_ref) do nothing;
    end if;

    select array_agg(distinct r.appointment_id) into holders
    from private.appointment_external_refs as r
    where r.provider = source and r.external_ref in (booking_ref, previous_ref);
    if holders is null then
        select array_agg(a.id) into holders
        from public.appointments as a
        where a.external_ref in (booking_ref, previous_ref);
    end if;

    if cardinality(holders) > 1 then
        select a.* into appt from public.appointments as a where a.id = holders[1];
        perform private.raise_calendar_flag(
            appt.hospital_id, 'lineage_conflict', inbox_entry, booking_ref, appt.doctor_id, appt.id, starts, ends,
            jsonb_build_object('appointment_ids', to_jsonb(holders), 'reschedule_uid', previous_ref)
        );
        return jsonb_build_object(
            'outcome', 'flagged', 'reason', 'lineage_conflict', 'hospital_id', appt.hospital_id,
            'detail', 'the booking and the one it replaces are mirrored by two appointments'
        );
    end if;

    -- A booking seen for the first time ------------------------------------------------------
    if holders is null then
        if starts is null or ends is null then
            return jsonb_build_object(
                'outcome', 'unprocessable', 'reason', 'unknown_booking',
                'detail', 'no appointment mirrors this booking, and the event does not carry it whole'
            );
        end if;
        organizer_id := case
            when snapshot -> 'organizer' ->> 'cal_user_id' ~ '^[0-9]{1,18}$'
                then (snapshot -> 'organizer' ->> 'cal_user_id')::bigint
        end;
        select count(*) into link_count
        from private.calendar_links_for(organizer_id, snapshot -> 'organizer' ->> 'email');
        if link_count <> 1 then
            return jsonb_build_object(
                'outcome', 'unprocessable',
                'reason', case when link_count = 0 then 'unknown_organizer' else 'ambiguous_organizer' end,
                'detail', case
                    when link_count = 0 then 'no doctor is linked to this Cal.com organizer'
                    else 'several doctors are linked to this Cal.com organizer'
                end
            );
        end if;
        select l.* into link from private.calendar_links_for(organizer_id, snapshot -> 'organizer' ->> 'email') as l;
        if not private.acting_as_system()
            and not link.hospital_id = any(private.staff_hospital_ids('{hospital_admin}')) then
            return jsonb_build_object(
                'outcome', 'unprocessable', 'reason', 'not_permitted',
                'detail', 'the organizer''s doctor works at a hospital you do not administer'
            );
        end if;
        if attendee_phone is null and attendee_email is null and nullif(btrim(attendee ->> 'name'), '') is null then
            return jsonb_build_object(
                'outcome', 'unprocessable', 'reason', 'no_attendee', 'hospital_id', link.hospital_id,
                'detail', 'the booking names no attendee'
            );
        end if;

        -- One attendee's phone or email at a time, so that two bookings of a new person
        -- agree on one patient (the phone login takes the same lock).
        perform pg_advisory_xact_lock(hashtextextended('patient_phone_login:' || attendee_phone, 0))
        where attendee_phone is not null;
        perform pg_advisory_xact_lock(hashtextextended('calendar_attendee_email:' || lower(attendee_email), 0))
        where attendee_email is not null;
        matches := private.calendar_patient_matches(link.hospital_id, attendee_phone, attendee_email);
        if cardinality(matches) > 1 then
            perform private.raise_calendar_flag(
                link.hospital_id, 'ambiguous_patient', inbox_entry, booking_ref, link.doctor_id, null, starts, ends,
                jsonb_build_object('attendee', attendee, 'candidates', cardinality(matches))
            );
            return jsonb_build_object(
                'outcome', 'flagged', 'reason', 'ambiguous_patient', 'hospital_id', link.hospital_id,
                'detail', format('%s patients of the hospital match the attendee', cardinality(matches))
            );
        end if;
        patient := matches[1];

        begin
            if patient is null then
                -- An unknown attendee: a new, unverified patient (no login has proven the phone)
                -- registered at the doctor's hospital, where the duplicate queue sees it.
                new_patient := true;
                patient := gen_random_uuid();
                insert into public.patients (id, full_name, phone, email)
                values (
                    patient,
                    coalesce(nullif(btrim(attendee ->> 'name'), ''), attendee_email, attendee_phone),
                    attendee_phone,
                    attendee_email
                );
                insert into public.patient_registrations (patient_id, hospital_id, referral_source)
                values (patient, link.hospital_id, 'calcom');
            end if;
            insert into public.appointments (
                hospital_id, doctor_id, patient_id, starts_at, ends_at, mode, reason, source, external_ref,
                sync_state, status, status_reason
            )
            values (
                link.hospital_id, link.doctor_id, patient, starts, ends,
                coalesce((snapshot ->> 'mode')::public.consultation_mode, 'video'),
                nullif(btrim(snapshot ->> 'reason'), ''), 'calcom', booking_ref, 'synced',
                case when target in ('requested', 'cancelled') then target else 'scheduled' end,
                case when target = 'cancelled' then coalesce(target_reason, 'cancelled in Cal.com') end
            )
            returning * into appt;
        exception
            when exclusion_violation then
                perform private.raise_calendar_flag(
                    link.hospital_id, 'clash', inbox_entry, booking_ref, link.doctor_id, null, starts, ends,
                    jsonb_build_object(
                        'attendee', attendee,
                        'clashes', private.calendar_clashes(
                            link.hospital_id, link.doctor_id, case when not new_patient then patient end,
                            starts, ends, null
                        )
                    )
                );
                return jsonb_build_object(
                    'outcome', 'flagged', 'reason', 'clash', 'hospital_id', link.hospital_id,
                    'detail', 'the booking clashes with an appointment in carebase'
                );
        end;
        insert into private.appointment_external_refs (provider, external_ref, appointment_id, superseded)
        values (source, booking_ref, appt.id, false);
        if previous_ref is not null then
            insert into private.appointment_external_refs (provider, external_ref, appointment_id, superseded)
            values (source, previous_ref, appt.id, true);
        end if;
        changed := true;
    else
        -- A booking already mirrored ------------------------------------------------------------
        select a.* into appt from public.appointments as a where a.id = holders[1] for update;
        if not private.acting_as_system()
            and not appt.hospital_id = any(private.staff_hospital_ids('{hospital_admin}')) then
            return jsonb_build_object(
                'outcome', 'unprocessable', 'reason', 'not_permitted',
                'detail', 'the appointment is at a hospital you do not administer'
            );
        end if;
        -- The lineage: the appointment's own reference (an appointment carebase sent to Cal.com
        -- has no lineage yet), this event's uid, and the uid it replaces, now superseded.
        insert into private.appointment_external_refs (provider, external_ref, appointment_id, superseded)
        select source, appt.external_ref, appt.id, false
        where appt.external_ref is not null
        on conflict (provider, external_ref) do nothing;
        insert into private.appointment_external_refs (provider, external_ref, appointment_id, superseded)
        values (source, booking_ref, appt.id, false)
        on conflict (provider, external_ref) do nothing;
        if previous_ref is not null then
            insert into private.appointment_external_refs (provider, external_ref, appointment_id, superseded)
            values (source, previous_ref, appt.id, true)
            on conflict (provider, external_ref) do update set superseded = true;
        end if;
        select r.superseded into ref_superseded
        from private.appointment_external_refs as r
        where r.provider = source and r.external_ref = booking_ref;

        -- The newest uid of the chain is the appointment's reference; an older one never
        -- takes it back.
        if not ref_superseded and appt.external_ref is distinct from booking_ref then
            update public.appointments as a
            set external_ref = booking_ref,
                sync_state = case when a.sync_state = 'pending' then 'pending' else 'synced' end::public.sync_state
            where a.id = appt.id
            returning * into appt;
            changed := true;
        end if;

        -- Times: only from the chain's newest uid, only while the appointment can still move.
        if not ref_superseded and starts is not null and ends is not null
            and (starts, ends) is distinct from (appt.starts_at, appt.ends_at) then
            if appt.sync_state = 'pending' then
                -- carebase changed it (whichever side made the booking) and will push that
                -- change: Cal.com's view is older.
                note := 'a change made in carebase is waiting to be pushed to Cal.com';
                skip_reason := 'push_pending';
            elsif appt.status in ('requested', 'scheduled') and target is distinct from 'cancelled' then
                begin
                    update public.appointments as a
                    set starts_at = starts, ends_at = ends
                    where a.id = appt.id
                    returning * into appt;
                    changed := true;
                exception
                    when exclusion_violation then
                        perform private.raise_calendar_flag(
                            appt.hospital_id, 'clash', inbox_entry, booking_ref, appt.doctor_id, appt.id, starts, ends,
                            jsonb_build_object(
                                'attendee', attendee,
                                'clashes', private.calendar_clashes(
                                    appt.hospital_id, appt.doctor_id, appt.patient_id, starts, ends, appt.id
                                )
                            )
                        );
                        return jsonb_build_object(
                            'outcome', 'flagged', 'reason', 'clash', 'hospital_id', appt.hospital_id,
                            'appointment_id', appt.id,
                            'detail', 'the new time clashes with an appointment in carebase; the appointment keeps its time'
                        );
                end;
            else
                note := format('a %s appointment keeps its time', appt.status);
                skip_reason := 'not_forward';
            end if;
        end if;

        -- A cancellation of a uid that a reschedule replaced is the reschedule, not the end.
        if target = 'cancelled' and ref_superseded and coalesce((snapshot ->> 'rescheduled')::boolean, false) then
            target := null;
            note := 'the cancelled booking was replaced by a reschedule';
            skip_reason := 'superseded';
        end if;
    end if;

    -- Status: forward only, one checked transition at a time.
    if target is not null and target <> appt.status then
        path := private.forward_path('appointment', appt.status::text, target::text);
        if path is null then
            note := format('the appointment is %s; %s would move it back', appt.status, target);
            skip_reason := 'not_forward';
        else
            foreach step in array path loop
                update public.appointments as a
                set status = step::public.appointment_status,
                    status_reason = case
                        when step = 'cancelled' then coalesce(target_reason, 'cancelled in Cal.com')
                        when step::public.appointment_status = target then target_reason
                    end
                where a.id = appt.id
                returning * into appt;
            end loop;
            changed := true;
        end if;
    end if;

    return jsonb_build_object(
        'outcome', case when changed then 'applied' else 'ignored' end,
        'reason', case when not changed then coalesce(skip_reason, 'no_change') end,
        'detail', note,
        'appointment_id', appt.id,
        'hospital_id', appt.hospital_id
    );
end;
$$;
