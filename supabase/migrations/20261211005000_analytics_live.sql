-- The live metrics stream (issue 19, item 5; seed 001 GET /analytics/realtime): the sidecar's
-- server-sent events re-read rpc/analytics_realtime under the viewer's own token whenever the
-- database says the hospital's numbers moved. What says so is a live event (20261205001100)
-- that carries only a key: `analytics_changed` {hospital_id, occurred_at}, once per statement and
-- hospital that writes appointments, messages, tickets or journey instances, on the topics of
-- the hospital's admins and CROs (hospital:<id>:hospital_admin, hospital:<id>:cro). Its seq is
-- the stream's event id, so a reconnecting client's Last-Event-ID says what it has seen.

-- Security definer: live events are written only by the database (private.raise_live_event).
create function private.live_analytics_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    hospital uuid;
begin
    for hospital in select distinct c.hospital_id from changed as c where c.hospital_id is not null loop
        perform private.raise_live_event(
            array[private.hospital_topic(hospital, 'hospital_admin'), private.hospital_topic(hospital, 'cro')],
            'analytics_changed',
            jsonb_build_object('hospital_id', hospital, 'occurred_at', now())
        );
    end loop;
    return null;
end;
$$;

comment on function private.live_analytics_changed() is
'Statement trigger: raises analytics_changed {hospital_id} for each hospital whose rows the '
'statement wrote, to its admins'' and CROs'' topics.';

create trigger appointments_live_analytics_inserted
after insert on public.appointments
referencing new table as changed
for each statement execute function private.live_analytics_changed();

create trigger appointments_live_analytics_updated
after update on public.appointments
referencing new table as changed
for each statement execute function private.live_analytics_changed();

create trigger messages_live_analytics_inserted
after insert on public.messages
referencing new table as changed
for each statement execute function private.live_analytics_changed();

create trigger messages_live_analytics_updated
after update on public.messages
referencing new table as changed
for each statement execute function private.live_analytics_changed();

create trigger tickets_live_analytics_inserted
after insert on public.tickets
referencing new table as changed
for each statement execute function private.live_analytics_changed();

create trigger tickets_live_analytics_updated
after update on public.tickets
referencing new table as changed
for each statement execute function private.live_analytics_changed();

create trigger journey_instances_live_analytics_inserted
after insert on public.journey_instances
referencing new table as changed
for each statement execute function private.live_analytics_changed();

create trigger journey_instances_live_analytics_updated
after update on public.journey_instances
referencing new table as changed
for each statement execute function private.live_analytics_changed();

-- Today's numbers of a hospital, small enough to re-read on every change, with the version (the
-- last seq of the caller's analytics topic) they are as of. Security definer, as the other
-- analytics: private.analytics_hospital checks the caller first.
create function private.analytics_realtime(hospital_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    hospital uuid := private.analytics_hospital(analytics_realtime.hospital_id);
    own_topic text;
    p record;
    version bigint;
begin
    own_topic := private.hospital_topic(
        hospital,
        case when hospital = any(private.staff_hospital_ids('{hospital_admin}')) then 'hospital_admin' else 'cro' end
        ::public.app_role
    );
    select coalesce(max(e.seq), 0) into version from public.live_events as e where e.topic = own_topic;
    select * into p from private.analytics_period(hospital, 'TODAY', null, null);
    return jsonb_build_object(
        'hospital_id', hospital,
        'topic', own_topic,
        'version', version,
        'day', p.first_day,
        'as_of', now(),
        'appointments', (
            select jsonb_build_object(
                'today', count(*) filter (where a.starts_at >= p.from_at and a.starts_at < p.to_at),
                'completed_today', count(*) filter (
                    where a.starts_at >= p.from_at and a.starts_at < p.to_at and a.status = 'completed'
                ),
                'booked_today', count(*) filter (where a.created_at >= p.from_at and a.created_at < p.to_at)
            )
            from public.appointments as a
            where a.hospital_id = hospital
                and (
                    (a.starts_at >= p.from_at and a.starts_at < p.to_at)
                    or (a.created_at >= p.from_at and a.created_at < p.to_at)
                )
        ),
        'messages', (
            select jsonb_build_object(
                'queued_today', count(*),
                'sent_today', count(*) filter (where m.status in ('sent', 'delivered', 'read')),
                'failed_today', count(*) filter (where m.status = 'failed')
            )
            from public.messages as m
            where m.hospital_id = hospital and m.direction = 'outbound'
                and m.created_at >= p.from_at and m.created_at < p.to_at
        ),
        'tickets', (
            select jsonb_build_object(
                'open', count(*) filter (where t.status in ('open', 'in_progress', 'waiting_on_patient')),
                'opened_today', count(*) filter (where t.created_at >= p.from_at and t.created_at < p.to_at)
            )
            from public.tickets as t
            where t.hospital_id = hospital
        ),
        'journeys', (
            select jsonb_build_object('active', count(*))
            from public.journey_instances as i
            where i.hospital_id = hospital and i.status = 'active'
        )
    );
end;
$$;

comment on function private.analytics_realtime(uuid) is
'Today''s live numbers of a hospital with the version they are as of (see rpc/analytics_realtime).';

create function public.analytics_realtime(hospital_id uuid default null)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select private.analytics_realtime(analytics_realtime.hospital_id);
$$;

comment on function public.analytics_realtime(uuid) is
'Today''s live numbers of a hospital (what GET /api/v1/analytics/realtime streams): appointments '
'{today, completed_today, booked_today}, messages {queued_today, sent_today, failed_today}, '
'tickets {open, opened_today}, journeys {active}, as of `version`: the last seq of the caller''s '
'analytics topic (topic), which every write of those tables moves (live event analytics_changed). '
'The hospital''s admins and CROs; PT404 for anyone else.';

grant execute on function private.analytics_realtime(uuid) to authenticated, service_role;
grant execute on function public.analytics_realtime(uuid) to authenticated, service_role;
