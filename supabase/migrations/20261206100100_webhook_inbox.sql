-- The webhook inbox (issue 14, item 1): every signed webhook the sidecar has verified is
-- recorded here and applied in the same transaction, by one function per provider event.
--
--   * One row per (provider, event key). A replay finds its row, counts the delivery and
--     changes nothing else; the sidecar answers it 200 as a duplicate.
--   * Outcomes: applied (the mirror changed), ignored (nothing to change: already there, an
--     event that would move an appointment backwards, an unsupported trigger), unprocessable
--     (with a stable reason code: unknown_organizer, malformed_json ...) and flagged (stored,
--     and put on the hospital's calendar_sync_flags for the front desk: a clash, several
--     matching patients). Nothing is dropped; every outcome is answered 200, so that Cal.com
--     never disables the webhook; only a transient failure (deadlock, serialization) rolls
--     back and is answered 503, for the provider to retry.
--   * The raw payload holds personal data (names, phones, emails of attendees). Only the
--     service role and, through rpc/webhook_inbox_payload (aal2, audited as a READ), the
--     hospital admins of the hospital the event was applied to read it; an entry that matched
--     no hospital (unknown organizer) is the service role's alone until a link claims it. The
--     payload is erased 30 days after an entry is applied or ignored, and 180 days after it was
--     last received otherwise (private.purge_webhook_payloads, daily); the row stays.
--   * A hospital admin lists the entries of their hospital (rpc/webhook_inbox_entries) and
--     re-applies one after fixing its cause (rpc/reapply_webhook), through the same apply
--     function, as themselves: the audit trail and status_history name them.

create table private.webhook_inbox (
    id uuid primary key default gen_random_uuid(),
    provider text not null,
    event_key text not null,
    event_type text,
    external_ref text,
    organizer_cal_user_id bigint,
    organizer_email extensions.citext,
    hospital_id uuid references public.hospitals (id) on delete set null,
    appointment_id uuid references public.appointments (id) on delete set null,
    payload jsonb,
    body_sha256 text not null,
    received_at timestamptz not null default now(),
    last_received_at timestamptz not null default now(),
    deliveries integer not null default 1,
    outcome text not null default 'received',
    reason text,
    detail text,
    attempts integer not null default 1,
    applied_at timestamptz,
    reapplied_by uuid references public.profiles (id) on delete set null,
    reapplied_at timestamptz,
    payload_erased_at timestamptz,
    -- The delivering request's id (X-Request-Id): the audit entries of what it changed carry it.
    request_id text,
    constraint webhook_inbox_provider_known check (provider in ('calcom', 'vapi')),
    constraint webhook_inbox_event_unique unique (provider, event_key),
    constraint webhook_inbox_outcome_known check (
        outcome in ('received', 'applied', 'ignored', 'unprocessable', 'flagged')
    ),
    constraint webhook_inbox_reason_code check (reason ~ '^[a-z][a-z_]*$'),
    constraint webhook_inbox_payload_kept_or_erased check ((payload is null) = (payload_erased_at is not null))
);

create index webhook_inbox_hospital_idx on private.webhook_inbox (hospital_id, received_at);
create index webhook_inbox_appointment_idx on private.webhook_inbox (appointment_id);
create index webhook_inbox_reapplied_by_idx on private.webhook_inbox (reapplied_by);
create index webhook_inbox_unclaimed_user_idx on private.webhook_inbox (organizer_cal_user_id)
where hospital_id is null;
create index webhook_inbox_unclaimed_email_idx on private.webhook_inbox (organizer_email)
where hospital_id is null;
create index webhook_inbox_retention_idx on private.webhook_inbox (last_received_at)
where payload is not null;

alter table private.webhook_inbox enable row level security;
revoke all on private.webhook_inbox from anon, authenticated, service_role;

comment on table private.webhook_inbox is
'Signed webhooks received, one row per provider event (replays counted in deliveries), with '
'the outcome of applying them. Read by hospital admins through rpc/webhook_inbox_entries.';
comment on column private.webhook_inbox.event_key is
'What makes two deliveries one event. Cal.com sends no delivery id: '
'<trigger>|<uid>|<start>|<end>|<status>|<rescheduleUid> for bookings (the fields that say '
'what changed; createdAt is left out because a re-send carries a new one), '
'<trigger>|<bookingUid>|<attendee:noShow...> for no-show updates, body:<sha256> when the body '
'names no booking.';

-- Every uid a mirrored booking has had (a reschedule gives it a new one), so that an event for
-- any uid of the chain finds the one appointment. superseded: a later uid replaced this one.
create table private.appointment_external_refs (
    provider text not null,
    external_ref text not null,
    appointment_id uuid not null references public.appointments (id) on delete cascade,
    superseded boolean not null default false,
    added_at timestamptz not null default now(),
    primary key (provider, external_ref)
);

create index appointment_external_refs_appointment_idx on private.appointment_external_refs (appointment_id);

alter table private.appointment_external_refs enable row level security;
revoke all on private.appointment_external_refs from anon, authenticated, service_role;

comment on table private.appointment_external_refs is
'The uid lineage of mirrored appointments: every external reference an appointment has had, '
'the current one (not superseded) also in appointments.external_ref.';

-- What the front desk must look at: a mirrored booking that could not be applied as it came.
create table public.calendar_sync_flags (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    provider text not null,
    kind text not null,
    inbox_entry_id uuid references private.webhook_inbox (id) on delete set null,
    external_ref text,
    doctor_id uuid,
    appointment_id uuid references public.appointments (id) on delete set null,
    starts_at timestamptz,
    ends_at timestamptz,
    details jsonb not null default '{}',
    created_at timestamptz not null default now(),
    resolved_at timestamptz,
    resolved_by uuid references public.profiles (id) on delete set null,
    constraint calendar_sync_flags_doctor_same_hospital_fkey foreign key (doctor_id, hospital_id)
    references public.doctors (id, hospital_id) on delete cascade,
    constraint calendar_sync_flags_kind_known check (kind in ('clash', 'ambiguous_patient', 'lineage_conflict'))
);

create index calendar_sync_flags_hospital_open_idx on public.calendar_sync_flags (hospital_id, created_at desc);
create index calendar_sync_flags_inbox_entry_idx on public.calendar_sync_flags (inbox_entry_id);
create index calendar_sync_flags_doctor_idx on public.calendar_sync_flags (doctor_id, hospital_id);
create index calendar_sync_flags_appointment_idx on public.calendar_sync_flags (appointment_id);
create index calendar_sync_flags_resolved_by_idx on public.calendar_sync_flags (resolved_by);

alter table public.calendar_sync_flags enable row level security;

create policy calendar_sync_flags_select_front_office on public.calendar_sync_flags
for select to authenticated
using (hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}')));

revoke all on public.calendar_sync_flags from anon, authenticated;
grant select on public.calendar_sync_flags to authenticated;
grant all on public.calendar_sync_flags to service_role;

create trigger audit_row_change
after insert or update or delete on public.calendar_sync_flags
for each row execute function private.audit_row_change('');

comment on table public.calendar_sync_flags is
'Bookings from Cal.com that need a person (seed 000 epic D), for the front desk and admins of '
'the hospital: kind clash (the booking overlaps a carebase appointment; details.clashes lists '
'what it clashes with, appointment ids of this hospital only), ambiguous_patient (several '
'patients of the hospital match the attendee: none was guessed) or lineage_conflict (two '
'appointments claim one reschedule chain). details.attendee is the attendee as Cal.com sent it '
'(name, email, phone). A flag is resolved when its inbox entry is re-applied '
'(rpc/reapply_webhook). Written only by the system.';
comment on column public.calendar_sync_flags.kind is
'clash, ambiguous_patient or lineage_conflict.';
comment on column public.calendar_sync_flags.appointment_id is
'The mirrored appointment the event was about, when it exists (a reschedule that clashes).';

-- A mirror may learn of a booking only once it is already cancelled (events out of order): it
-- is created cancelled, by the system alone, never as a booking that notifies anyone.
insert into private.state_transitions (machine, from_state, to_state, roles, requires_reason, description)
values (
    'appointment', null, 'cancelled', '{}', true,
    'A mirrored booking (Cal.com) first seen already cancelled'
);

-- The notification trigger's function is unchanged: the insert trigger takes a WHEN.
drop trigger appointments_notify on public.appointments;

create trigger appointments_notify
after insert on public.appointments
for each row when (new.status <> 'cancelled')
execute function private.notify_appointment_change();

create trigger appointments_notify_changes
after update on public.appointments
for each row execute function private.notify_appointment_change();

-- The shortest way forward from one state to another along a machine's transitions (null:
-- the target is behind, or unreachable). Webhooks and reconciliation move a mirrored
-- appointment only along it, one transition at a time, so that an event arriving late never
-- moves it backwards and every step is checked and recorded by the state machine trigger.
create function private.forward_path(machine text, from_state text, to_state text)
returns text[]
language sql
stable
set search_path = ''
as $$
    with recursive walk (state, path) as (
        select forward_path.from_state, array[]::text []
        union all
        select t.to_state, w.path || t.to_state
        from walk as w
        inner join private.state_transitions as t
            on t.machine = forward_path.machine and t.from_state = w.state
        where not t.to_state = any(w.path) and t.to_state <> forward_path.from_state and cardinality(w.path) < 12
    )

    select w.path
    from walk as w
    where w.state = forward_path.to_state and cardinality(w.path) > 0
    order by cardinality(w.path)
    limit 1;
$$;

comment on function private.forward_path(text, text, text) is
'The shortest sequence of states leading forward from from_state to to_state (null when '
'to_state is behind or unreachable).';

-- Patients of a hospital an attendee may be: by phone (E.164) when it has one and some
-- patient carries it, else by email among those without another phone. Archived and merged
-- records never match. Several: the caller flags, never picks one.
create function private.calendar_patient_matches(hospital uuid, phone text, email text)
returns uuid[]
language plpgsql
stable
set search_path = ''
as $$
declare
    found uuid [];
begin
    if phone is not null then
        select array_agg(p.id order by p.id) into found
        from public.patients as p
        where p.phone = calendar_patient_matches.phone and p.merged_into is null and p.deleted_at is null
            and exists (
                select from public.patient_registrations as r
                where r.patient_id = p.id and r.hospital_id = calendar_patient_matches.hospital and r.deleted_at is null
            );
    end if;
    if found is null and email is not null then
        select array_agg(p.id order by p.id) into found
        from public.patients as p
        where p.email = calendar_patient_matches.email::extensions.citext
            and p.merged_into is null and p.deleted_at is null
            and (p.phone is null or p.phone = calendar_patient_matches.phone)
            and exists (
                select from public.patient_registrations as r
                where r.patient_id = p.id and r.hospital_id = calendar_patient_matches.hospital and r.deleted_at is null
            );
    end if;
    return coalesce(found, '{}');
end;
$$;

comment on function private.calendar_patient_matches(uuid, text, text) is
'The patients of a hospital an attendee matches: by phone, else by email among those without '
'another phone.';

create function private.raise_calendar_flag(
    hospital uuid, flag_kind text, inbox_entry uuid, booking_ref text, doctor uuid,
    appointment uuid, starts timestamptz, ends timestamptz, details jsonb
)
returns void
language sql
set search_path = ''
as $$
    insert into public.calendar_sync_flags (
        hospital_id, provider, kind, inbox_entry_id, external_ref, doctor_id, appointment_id,
        starts_at, ends_at, details
    )
    values (
        raise_calendar_flag.hospital, 'calcom', raise_calendar_flag.flag_kind, raise_calendar_flag.inbox_entry,
        raise_calendar_flag.booking_ref, raise_calendar_flag.doctor, raise_calendar_flag.appointment,
        raise_calendar_flag.starts, raise_calendar_flag.ends, coalesce(raise_calendar_flag.details, '{}')
    );
$$;

-- What a booking at these times clashes with, as the front desk of this hospital may see it:
-- appointments of another hospital (the doctor works elsewhere too) are named only as such.
create function private.calendar_clashes(
    hospital uuid, doctor uuid, patient uuid, starts timestamptz, ends timestamptz, exclude_id uuid
)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select coalesce(jsonb_agg(jsonb_build_object(
        'clash_on', c.clash_on,
        'elsewhere', a.hospital_id is distinct from calendar_clashes.hospital,
        'appointment_id', case when a.hospital_id = calendar_clashes.hospital then c.appointment_id end,
        'starts_at', case when a.hospital_id = calendar_clashes.hospital then c.clash_starts_at end,
        'ends_at', case when a.hospital_id = calendar_clashes.hospital then c.clash_ends_at end
    )), '[]')
    from private.clash_report(
        calendar_clashes.doctor, calendar_clashes.starts, calendar_clashes.ends, calendar_clashes.patient,
        null, calendar_clashes.exclude_id
    ) as c
    left join public.appointments as a on c.appointment_id = a.id;
$$;

-- Apply one booking snapshot to the mirror: THE function for every way a Cal.com booking
-- reaches carebase (the webhook now, the reconciler later), so both take the same forward-only
-- steps. The snapshot is provider-neutral:
--   {provider, uid, reschedule_uid, rescheduled, target_status (an appointment status or null:
--    no opinion), status_reason, starts_at, ends_at, mode, reason,
--    organizer {cal_user_id, email}, attendee {name, email, phone}}
-- Answers {outcome, reason, detail, appointment_id, hospital_id}. Runs as its caller's
-- identity (the service role for a webhook; a hospital admin re-applying): the triggers of
-- appointments (state machine, audit, live events, outbox) see who acts.
-- Security definer: it must find a booking's appointment, doctor and patient across the
-- hospitals whatever the caller may read; it acts only within the doctor's hospital, and for a
-- user only where they are hospital admin.
create function private.calendar_apply_booking(snapshot jsonb, inbox_entry uuid default null)
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
            set external_ref = booking_ref, sync_state = 'synced'
            where a.id = appt.id
            returning * into appt;
            changed := true;
        end if;

        -- Times: only from the chain's newest uid, only while the appointment can still move.
        if not ref_superseded and starts is not null and ends is not null
            and (starts, ends) is distinct from (appt.starts_at, appt.ends_at) then
            if appt.status in ('requested', 'scheduled') and target is distinct from 'cancelled' then
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

comment on function private.calendar_apply_booking(jsonb, uuid) is
'Applies one booking snapshot (webhook or reconciliation) to the appointment mirror, forward '
'only; answers {outcome, reason, detail, appointment_id, hospital_id}.';
