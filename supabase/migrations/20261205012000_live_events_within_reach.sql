-- Live events only within the receiver's reach (issue 13, found after it landed):
-- - prescription events went to every pharmacist of the pharmacy's hospital, so a pharmacist
--   of one pharmacy learnt the ids, doctors and statuses of prescriptions routed to another
--   pharmacy of the hospital, which its RLS does not let them read. They now go to the
--   pharmacy's own topic, pharmacy:<pharmacy uuid>, which the pharmacists of that pharmacy
--   may join (private.own_pharmacy_ids: an active pharmacist row, membership and hospital);
-- - a doctor whose membership was revoked (or whose hospital was deactivated) kept receiving,
--   on their own user topic, the events of their former appointments, prescriptions and lab
--   orders. A staff member's user topic now gets a hospital's events only while they hold an
--   active membership there.

create function private.pharmacy_topic(pharmacy_id uuid)
returns text
language sql
immutable
set search_path = ''
as $$
    select 'pharmacy:' || pharmacy_topic.pharmacy_id::text
$$;

comment on function private.pharmacy_topic(uuid) is
'The live-event topic of one pharmacy''s pharmacists: pharmacy:<uuid>; null for null.';

-- Security definer: a hospital's memberships are not all visible to whoever raises the event.
create function private.staff_user_topic(user_id uuid, hospital_id uuid)
returns text
language sql
stable
security definer
set search_path = ''
as $$
    select private.user_topic(m.user_id)
    from public.staff_memberships as m
    join public.hospitals as h on h.id = m.hospital_id
    where m.user_id = staff_user_topic.user_id and m.hospital_id = staff_user_topic.hospital_id
        and m.is_active and h.is_active
    limit 1
$$;

comment on function private.staff_user_topic(uuid, uuid) is
'A staff member''s user topic for the events of a hospital: null unless they hold an active '
'membership at it (a revoked doctor hears nothing more of their former patients).';

create or replace function private.joinable_topics()
returns text[]
language sql
stable
security definer
set search_path = ''
as $$
    select case when (select auth.uid()) is null then '{}'::text[] else
        array['user:' || (select auth.uid())::text] || coalesce(
            (
                select array_agg('hospital:' || m.hospital_id::text || ':' || m.role::text order by m.hospital_id, m.role)
                from public.staff_memberships as m
                join public.hospitals as h on h.id = m.hospital_id
                where m.user_id = (select auth.uid()) and m.is_active and h.is_active
            ),
            '{}'
        ) || array(
            select 'pharmacy:' || p.pharmacy_id::text
            from unnest(private.own_pharmacy_ids()) as p (pharmacy_id)
            order by p.pharmacy_id
        )
    end
$$;

comment on function private.joinable_topics() is
'The live-event topics the caller may join and read: user:<own uid>, '
'hospital:<hospital>:<role> for each active membership at an active hospital, and '
'pharmacy:<pharmacy> for each pharmacy where they are an active pharmacist.';

comment on function public.live_topics() is
'The live-event topics the caller may join now: user:<own uid>, hospital:<hospital>:<role> '
'for each active membership and pharmacy:<pharmacy> for a pharmacist''s pharmacy. Subscribe to '
'the private channel realtime:<topic> of each; catch up from live_events.';

create or replace function private.live_appointment_events()
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
            private.staff_user_topic(new.doctor_user_id, new.hospital_id),
            private.staff_user_topic(previous_doctor_user, new.hospital_id),
            private.hospital_topic(new.hospital_id, 'front_desk')
        ],
        event,
        payload
    );
    return null;
end;
$$;

create or replace function private.live_prescription_events()
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
            (
                select private.staff_user_topic(d.user_id, new.hospital_id)
                from public.doctors as d where d.id = new.doctor_id
            ),
            private.pharmacy_topic(new.pharmacy_id),
            private.pharmacy_topic(previous_pharmacy)
        ],
        event,
        payload
    );
    return null;
end;
$$;

comment on function private.live_prescription_events() is
'Raises prescription_created / _status_changed / _rerouted for the patient''s login, the '
'issuing doctor while they work at the hospital, and the pharmacists of the pharmacy (old and '
'new when rerouted): ids, status, times only.';

create or replace function private.live_lab_result_events()
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
            private.staff_user_topic(new.ordered_by, new.hospital_id),
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
