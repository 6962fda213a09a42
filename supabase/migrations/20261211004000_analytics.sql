-- Analytics (issue 19, item 4; seed 001 Analytics API): the dashboard's numbers for one hospital
-- and a period, computed in the hospital's time zone with inclusive end dates.
--
--   * Periods: TODAY, YESTERDAY, LAST_7_DAYS, LAST_30_DAYS, LAST_90_DAYS (ending today) or
--     CUSTOM (start_date and end_date, both included, at most 366 days), as local dates of the
--     hospital's time zone (Asia/Kolkata by default).
--   * Who: the hospital's admins and CROs. Every function checks that the caller holds one of
--     those roles at an active hospital before reading anything (security definer, because the
--     appointments rollup below cannot carry RLS); anyone else, another hospital's admin
--     included, gets PT404 for the hospital.
--   * Speed: appointments are the big table (1M a year for two hospitals). Settled days come from
--     a materialized daily rollup, private.appointment_day_counts (hospital, local day, doctor,
--     source, mode, status), refreshed concurrently by pg_cron every 10 minutes
--     (carebase-analytics-rollup); the days from the day before the last refresh onwards (and
--     everything before a first refresh) are counted live from the appointments index. A status
--     change of an appointment older than that shows at the next refresh. Messages, journeys,
--     tickets and calls are counted directly from their (hospital, time) indexes.

-- Periods -----------------------------------------------------------------------------------------------
create function private.analytics_period(hospital uuid, time_period text, start_date date, end_date date)
returns table (time_zone text, first_day date, last_day date, from_at timestamptz, to_at timestamptz)
language plpgsql
stable
set search_path = ''
as $$
declare
    today date;
    kind text := upper(coalesce(
        analytics_period.time_period,
        case when analytics_period.start_date is not null then 'CUSTOM' else 'LAST_30_DAYS' end
    ));
begin
    select h.time_zone into time_zone from public.hospitals as h where h.id = analytics_period.hospital;
    today := (now() at time zone time_zone)::date;
    case kind
        when 'TODAY' then first_day := today; last_day := today;
        when 'YESTERDAY' then first_day := today - 1; last_day := today - 1;
        when 'LAST_7_DAYS' then first_day := today - 6; last_day := today;
        when 'LAST_30_DAYS' then first_day := today - 29; last_day := today;
        when 'LAST_90_DAYS' then first_day := today - 89; last_day := today;
        when 'CUSTOM' then
            first_day := analytics_period.start_date;
            last_day := coalesce(analytics_period.end_date, today);
            if first_day is null or last_day < first_day or last_day - first_day > 365 then
                perform private.raise_invalid(
                    'a custom period runs from start_date to end_date (included), at most 366 days',
                    'period_invalid'
                );
            end if;
        else
            perform private.raise_invalid(
                format('unknown time_period %s', analytics_period.time_period), 'period_unknown',
                'TODAY, YESTERDAY, LAST_7_DAYS, LAST_30_DAYS, LAST_90_DAYS or CUSTOM'
            );
    end case;
    from_at := first_day::timestamp at time zone time_zone;
    to_at := (last_day + 1)::timestamp at time zone time_zone;
    return next;
end;
$$;

comment on function private.analytics_period(uuid, text, date, date) is
'A period as local dates of the hospital (first_day and last_day included) and the instants that '
'bound it (from_at included, to_at excluded).';

-- The hospital the caller asks about, once they may: its admins and CROs. Without one named,
-- the caller's only such hospital.
create function private.analytics_hospital(hospital_id uuid)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
    mine uuid [] := private.staff_hospital_ids('{hospital_admin,cro}');
begin
    if analytics_hospital.hospital_id is null then
        if cardinality(mine) = 1 then
            return mine[1];
        end if;
        perform private.raise_invalid('name the hospital', 'hospital_required');
    end if;
    if not analytics_hospital.hospital_id = any(mine) then
        perform private.raise_not_found('hospital not found');
    end if;
    return analytics_hospital.hospital_id;
end;
$$;

comment on function private.analytics_hospital(uuid) is
'The hospital an analytics call is about, refused (PT404) unless the caller is its admin or CRO.';

-- Appointments: the rollup and the live count --------------------------------------------------------------
create materialized view private.appointment_day_counts as
select
    a.hospital_id,
    (a.starts_at at time zone h.time_zone)::date as day,
    a.doctor_id,
    a.source,
    a.mode,
    a.status,
    count(*)::bigint as n
from public.appointments as a
inner join public.hospitals as h on a.hospital_id = h.id
group by 1, 2, 3, 4, 5, 6;

create unique index appointment_day_counts_key on private.appointment_day_counts (
    hospital_id, day, doctor_id, source, mode, status
);

revoke all on private.appointment_day_counts from public, anon, authenticated, service_role;

comment on materialized view private.appointment_day_counts is
'Appointments per hospital, local day, doctor, source, mode and status; refreshed by pg_cron '
'(carebase-analytics-rollup). Read only through the analytics functions.';

create table private.analytics_refreshes (
    name text primary key,
    refreshed_at timestamptz not null
);

alter table private.analytics_refreshes enable row level security;
revoke all on private.analytics_refreshes from public, anon, authenticated, service_role;

comment on table private.analytics_refreshes is 'When each analytics rollup was last refreshed.';

create function private.refresh_analytics()
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    started timestamptz := clock_timestamp();
begin
    refresh materialized view concurrently private.appointment_day_counts;
    insert into private.analytics_refreshes (name, refreshed_at) values ('appointment_day_counts', started)
    on conflict (name) do update set refreshed_at = excluded.refreshed_at;
end;
$$;

comment on function private.refresh_analytics() is
'Refreshes the analytics rollups (pg_cron: carebase-analytics-rollup, every 10 minutes).';

select private.schedule_job('carebase-analytics-rollup', '*/10 * * * *', 'select private.refresh_analytics()');

-- Appointment counts per local day, doctor, source, mode and status over a period: settled days
-- from the rollup, the rest live.
create function private.appointment_counts(
    hospital uuid, first_day date, last_day date, time_zone text, source public.appointment_source, doctor uuid
)
returns table (
    day date, doctor_id uuid, source public.appointment_source, mode public.consultation_mode,
    status public.appointment_status, n bigint
)
language sql
stable
set search_path = ''
as $$
    with settled as materialized (
        select coalesce(
            (
                select (r.refreshed_at at time zone appointment_counts.time_zone)::date - 1
                from private.analytics_refreshes as r where r.name = 'appointment_day_counts'
            ),
            date '0001-01-01'
        ) as until_day
    )

    select c.day, c.doctor_id, c.source, c.mode, c.status, c.n
    from private.appointment_day_counts as c, settled
    where c.hospital_id = appointment_counts.hospital
        and c.day between appointment_counts.first_day and least(appointment_counts.last_day, settled.until_day - 1)
        and (appointment_counts.source is null or c.source = appointment_counts.source)
        and (appointment_counts.doctor is null or c.doctor_id = appointment_counts.doctor)
    union all
    select (a.starts_at at time zone appointment_counts.time_zone)::date, a.doctor_id, a.source, a.mode, a.status,
        count(*)
    from public.appointments as a, settled
    where a.hospital_id = appointment_counts.hospital
        and a.starts_at >= greatest(appointment_counts.first_day, settled.until_day)::timestamp
        at time zone appointment_counts.time_zone
        and a.starts_at < (appointment_counts.last_day + 1)::timestamp at time zone appointment_counts.time_zone
        and (appointment_counts.source is null or a.source = appointment_counts.source)
        and (appointment_counts.doctor is null or a.doctor_id = appointment_counts.doctor)
    group by 1, 2, 3, 4, 5;
$$;

comment on function private.appointment_counts(
    uuid, date, date, text, public.appointment_source, uuid
) is 'Appointment counts per local day, doctor, source, mode and status: the rollup for settled days, live after.';

-- The analytics ----------------------------------------------------------------------------------------------

-- Security definer: reads the rollup (no RLS); private.analytics_hospital checks the caller.
create function private.analytics_appointments(
    hospital_id uuid, time_period text, start_date date, end_date date, channel_origin public.appointment_source,
    practitioner_id uuid, include_breakdown boolean
)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    hospital uuid := private.analytics_hospital(analytics_appointments.hospital_id);
    p record;
begin
    if practitioner_id is not null and not exists (
        select from public.doctors as d where d.id = practitioner_id and d.hospital_id = hospital
    ) then
        perform private.raise_not_found('practitioner not found');
    end if;
    select * into p from private.analytics_period(hospital, time_period, start_date, end_date);
    return (
        with counted as materialized (
            select c.day, c.doctor_id, c.source::text as source, c.mode::text as mode, c.status::text as status, c.n
            from private.appointment_counts(
                hospital, p.first_day, p.last_day, p.time_zone, channel_origin, practitioner_id
            ) as c
        )

        select jsonb_build_object(
            'hospital_id', hospital,
            'period', jsonb_build_object(
                'time_period', upper(coalesce(
                    time_period, case when start_date is not null then 'CUSTOM' else 'LAST_30_DAYS' end
                )),
                'first_day', p.first_day, 'last_day', p.last_day, 'time_zone', p.time_zone
            ),
            'total', coalesce(sum(r.n), 0),
            'completed', coalesce(sum(r.n) filter (where r.status = 'completed'), 0),
            'cancelled', coalesce(sum(r.n) filter (where r.status = 'cancelled'), 0),
            'no_show', coalesce(sum(r.n) filter (where r.status = 'no_show'), 0),
            'upcoming', coalesce(sum(r.n) filter (where r.status in ('requested', 'scheduled')), 0),
            'completion_rate', round(
                coalesce(sum(r.n) filter (where r.status = 'completed'), 0)::numeric
                / nullif(sum(r.n) filter (where r.status in ('completed', 'no_show')), 0), 4
            ),
            'no_show_rate', round(
                coalesce(sum(r.n) filter (where r.status = 'no_show'), 0)::numeric
                / nullif(sum(r.n) filter (where r.status in ('completed', 'no_show')), 0), 4
            ),
            'by_status', coalesce((
                select jsonb_object_agg(s.status, s.n)
                from (select x.status, sum(x.n) as n from counted as x group by x.status) as s
            ), '{}')
        ) || case when not coalesce(include_breakdown, true) then '{}'::jsonb else jsonb_build_object(
            'breakdown', jsonb_build_object(
                'by_day', coalesce((
                    select jsonb_agg(jsonb_build_object(
                        'day', d.day, 'total', d.total, 'completed', d.completed, 'cancelled', d.cancelled,
                        'no_show', d.no_show
                    ) order by d.day)
                    from (
                        select x.day, sum(x.n) as total,
                            coalesce(sum(x.n) filter (where x.status = 'completed'), 0) as completed,
                            coalesce(sum(x.n) filter (where x.status = 'cancelled'), 0) as cancelled,
                            coalesce(sum(x.n) filter (where x.status = 'no_show'), 0) as no_show
                        from counted as x group by x.day
                    ) as d
                ), '[]'),
                'by_channel', coalesce((
                    select jsonb_object_agg(s.source, s.n)
                    from (select x.source, sum(x.n) as n from counted as x group by x.source) as s
                ), '{}'),
                'by_mode', coalesce((
                    select jsonb_object_agg(s.mode, s.n)
                    from (select x.mode, sum(x.n) as n from counted as x group by x.mode) as s
                ), '{}'),
                'by_practitioner', coalesce((
                    select jsonb_agg(jsonb_build_object(
                        'practitioner_id', d.doctor_id, 'name', pr.full_name, 'total', d.total,
                        'completed', d.completed
                    ) order by d.total desc, pr.full_name)
                    from (
                        select x.doctor_id, sum(x.n) as total,
                            coalesce(sum(x.n) filter (where x.status = 'completed'), 0) as completed
                        from counted as x group by x.doctor_id
                    ) as d
                    left join public.doctors as doc on doc.id = d.doctor_id
                    left join public.profiles as pr on pr.id = doc.user_id
                ), '[]')
            )
        ) end
        from counted as r
    );
end;
$$;

comment on function private.analytics_appointments(
    uuid, text, date, date, public.appointment_source, uuid, boolean
) is 'Appointment analytics of one hospital and period (see rpc/analytics_appointments).';

create function public.analytics_appointments(
    hospital_id uuid default null,
    time_period text default 'LAST_30_DAYS',
    start_date date default null,
    end_date date default null,
    channel_origin public.appointment_source default null,
    practitioner_id uuid default null,
    include_breakdown boolean default true
)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select private.analytics_appointments(
        analytics_appointments.hospital_id, analytics_appointments.time_period, analytics_appointments.start_date,
        analytics_appointments.end_date, analytics_appointments.channel_origin, analytics_appointments.practitioner_id,
        analytics_appointments.include_breakdown
    );
$$;

comment on function public.analytics_appointments(
    uuid, text, date, date, public.appointment_source, uuid, boolean
) is
'Appointments of a hospital by the day they take place (seed 001 GET /analytics/appointments): '
'time_period TODAY, YESTERDAY, LAST_7_DAYS, LAST_30_DAYS (default), LAST_90_DAYS or CUSTOM '
'(start_date, end_date: local dates, both included), optionally of one channel_origin (source) or '
'practitioner: {period, total, completed, cancelled, no_show, upcoming, completion_rate and '
'no_show_rate (of completed plus no-shows), by_status, breakdown {by_day, by_channel, by_mode, '
'by_practitioner}}. The hospital''s admins and CROs; PT404 for anyone else, and for a '
'practitioner of another hospital.';

create function private.analytics_journeys(hospital_id uuid, time_period text, start_date date, end_date date)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    hospital uuid := private.analytics_hospital(analytics_journeys.hospital_id);
    p record;
begin
    select * into p from private.analytics_period(hospital, time_period, start_date, end_date);
    return (
        with per_journey as (
            select j.id, j.name,
                count(*) filter (where i.status = 'active') as active,
                count(*) filter (where i.created_at >= p.from_at and i.created_at < p.to_at) as started,
                count(*) filter (where i.completed_at >= p.from_at and i.completed_at < p.to_at) as completed,
                count(*) filter (
                    where i.status = 'cancelled' and i.status_changed_at >= p.from_at and i.status_changed_at < p.to_at
                ) as cancelled,
                count(*) filter (
                    where i.status = 'active' and s.due_days is not null
                        and i.stage_entered_at + make_interval(days => s.due_days) < now()
                ) as overdue
            from public.journeys as j
            left join public.journey_instances as i on i.journey_id = j.id
            left join public.journey_stages as s on s.id = i.current_stage_id
            where j.hospital_id = hospital
            group by j.id, j.name
        )

        select jsonb_build_object(
            'hospital_id', hospital,
            'period', jsonb_build_object('first_day', p.first_day, 'last_day', p.last_day, 'time_zone', p.time_zone),
            'active', coalesce(sum(x.active), 0),
            'started', coalesce(sum(x.started), 0),
            'completed', coalesce(sum(x.completed), 0),
            'cancelled', coalesce(sum(x.cancelled), 0),
            'overdue', coalesce(sum(x.overdue), 0),
            'by_journey', coalesce(jsonb_agg(jsonb_build_object(
                'journey_id', x.id, 'name', x.name, 'active', x.active, 'started', x.started,
                'completed', x.completed, 'cancelled', x.cancelled, 'overdue', x.overdue
            ) order by x.name) filter (where x.id is not null), '[]')
        )
        from per_journey as x
    );
end;
$$;

comment on function private.analytics_journeys(uuid, text, date, date) is
'Journey analytics of one hospital and period (see rpc/analytics_journeys).';

create function public.analytics_journeys(
    hospital_id uuid default null,
    time_period text default 'LAST_30_DAYS',
    start_date date default null,
    end_date date default null
)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select private.analytics_journeys(
        analytics_journeys.hospital_id, analytics_journeys.time_period, analytics_journeys.start_date,
        analytics_journeys.end_date
    );
$$;

comment on function public.analytics_journeys(uuid, text, date, date) is
'Journeys of a hospital (seed 001 GET /analytics/journeys): active and overdue now; started, '
'completed and cancelled in the period; the same per journey. Periods as rpc/analytics_appointments. '
'The hospital''s admins and CROs; PT404 for anyone else.';

create function private.analytics_communications(hospital_id uuid, time_period text, start_date date, end_date date)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    hospital uuid := private.analytics_hospital(analytics_communications.hospital_id);
    p record;
    volumes jsonb;
    replies jsonb;
begin
    select * into p from private.analytics_period(hospital, time_period, start_date, end_date);
    with outbound as (
        select m.channel::text as channel, m.status, count(*) as n
        from public.messages as m
        where m.hospital_id = hospital and m.direction = 'outbound'
            and m.created_at >= p.from_at and m.created_at < p.to_at
        group by m.channel, m.status
    )

    select jsonb_build_object(
        'sent', coalesce(sum(o.n), 0),
        'by_channel', coalesce((
            select jsonb_object_agg(c.channel, c.n)
            from (select x.channel, sum(x.n) as n from outbound as x group by x.channel) as c
        ), '{}'),
        'by_status', coalesce((
            select jsonb_object_agg(s.status, s.n)
            from (select x.status, sum(x.n) as n from outbound as x group by x.status) as s
        ), '{}'),
        'delivered', coalesce(sum(o.n) filter (where o.status in ('delivered', 'read')), 0),
        'read', coalesce(sum(o.n) filter (where o.status = 'read'), 0),
        'failed', coalesce(sum(o.n) filter (where o.status = 'failed'), 0),
        'delivery_rate', round(
            coalesce(sum(o.n) filter (where o.status in ('delivered', 'read')), 0)::numeric
            / nullif(sum(o.n) filter (where o.status in ('sent', 'delivered', 'read', 'failed')), 0), 4
        ),
        'read_rate', round(
            coalesce(sum(o.n) filter (where o.status = 'read'), 0)::numeric
            / nullif(sum(o.n) filter (where o.status in ('sent', 'delivered', 'read', 'failed')), 0), 4
        )
    ) into volumes
    from outbound as o;
    -- Response time: from a patient's message to the hospital's next message to them.
    with answered as (
        select extract(epoch from (
            select min(r.created_at) from public.messages as r
            where r.hospital_id = m.hospital_id and r.patient_id = m.patient_id and r.direction = 'outbound'
                and r.created_at > m.created_at
        ) - m.created_at) / 60 as minutes
        from public.messages as m
        where m.hospital_id = hospital and m.direction = 'inbound'
            and m.created_at >= p.from_at and m.created_at < p.to_at
    )

    select jsonb_build_object(
        'inbound', count(*),
        'answered', count(a.minutes),
        'median_minutes', round((percentile_cont(0.5) within group (order by a.minutes))::numeric, 1),
        'p90_minutes', round((percentile_cont(0.9) within group (order by a.minutes))::numeric, 1)
    ) into replies
    from answered as a;
    return jsonb_build_object(
        'hospital_id', hospital,
        'period', jsonb_build_object('first_day', p.first_day, 'last_day', p.last_day, 'time_zone', p.time_zone)
    ) || volumes || jsonb_build_object('response_time', replies);
end;
$$;

comment on function private.analytics_communications(uuid, text, date, date) is
'Communication analytics of one hospital and period (see rpc/analytics_communications).';

create function public.analytics_communications(
    hospital_id uuid default null,
    time_period text default 'LAST_30_DAYS',
    start_date date default null,
    end_date date default null
)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select private.analytics_communications(
        analytics_communications.hospital_id, analytics_communications.time_period,
        analytics_communications.start_date, analytics_communications.end_date
    );
$$;

comment on function public.analytics_communications(uuid, text, date, date) is
'Messages of a hospital queued in a period (seed 001 GET /analytics/communication): sent (all '
'outbound), by_channel, by_status, delivered, read, failed, delivery_rate and read_rate (of those '
'that left), and response_time {inbound, answered, median_minutes, p90_minutes}: from a '
'patient''s message to the hospital''s next message to them. Periods as '
'rpc/analytics_appointments. The hospital''s admins and CROs; PT404 for anyone else.';

create function private.analytics_voice_calls(hospital_id uuid, time_period text, start_date date, end_date date)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    hospital uuid := private.analytics_hospital(analytics_voice_calls.hospital_id);
    p record;
begin
    select * into p from private.analytics_period(hospital, time_period, start_date, end_date);
    return (
        with calls as (
            select s.call_status, s.ended_reason, s.duration_seconds, s.cost, s.patient_id
            from public.ai_sessions as s
            where s.hospital_id = hospital and s.channel = 'voice'
                and coalesce(s.started_at, s.created_at) >= p.from_at and coalesce(s.started_at, s.created_at) < p.to_at
        )

        select jsonb_build_object(
            'hospital_id', hospital,
            'period', jsonb_build_object('first_day', p.first_day, 'last_day', p.last_day, 'time_zone', p.time_zone),
            'total', count(*),
            'ended', count(*) filter (where c.call_status = 'ended'),
            'identified_patient', count(c.patient_id),
            'total_duration_seconds', coalesce(sum(c.duration_seconds), 0),
            'average_duration_seconds', round(avg(c.duration_seconds), 1),
            'cost', coalesce(sum(c.cost), 0),
            'by_outcome', coalesce((
                select jsonb_object_agg(o.reason, o.n) from (
                    select coalesce(x.ended_reason, 'unknown') as reason, count(*) as n from calls as x group by 1
                ) as o
            ), '{}'),
            'by_status', coalesce((
                select jsonb_object_agg(o.call_status, o.n) from (
                    select x.call_status, count(*) as n from calls as x group by 1
                ) as o
            ), '{}')
        )
        from calls as c
    );
end;
$$;

comment on function private.analytics_voice_calls(uuid, text, date, date) is
'Voice call analytics of one hospital and period (see rpc/analytics_voice_calls).';

create function public.analytics_voice_calls(
    hospital_id uuid default null,
    time_period text default 'LAST_30_DAYS',
    start_date date default null,
    end_date date default null
)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select private.analytics_voice_calls(
        analytics_voice_calls.hospital_id, analytics_voice_calls.time_period, analytics_voice_calls.start_date,
        analytics_voice_calls.end_date
    );
$$;

comment on function public.analytics_voice_calls(uuid, text, date, date) is
'Calls to the voice agent''s lines of a hospital started in a period (seed 001 GET '
'/analytics/voice-calls): total, ended, identified_patient, total and average duration (seconds), '
'cost, by_outcome (Vapi''s endedReason), by_status. Periods as rpc/analytics_appointments. The '
'hospital''s admins and CROs; PT404 for anyone else.';

create function public.analytics_dashboard(hospital_id uuid default null, time_period text default 'TODAY')
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    appointments jsonb := public.analytics_appointments(
        analytics_dashboard.hospital_id, analytics_dashboard.time_period, include_breakdown => false
    );
    hospital uuid := (appointments ->> 'hospital_id')::uuid;
begin
    return jsonb_build_object(
        'hospital_id', hospital,
        'period', appointments -> 'period',
        'appointments', appointments - 'hospital_id' - 'period',
        'journeys', public.analytics_journeys(hospital, analytics_dashboard.time_period) - 'hospital_id' - 'period',
        'communications', public.analytics_communications(hospital, analytics_dashboard.time_period)
        - 'hospital_id' - 'period',
        'voice_calls', public.analytics_voice_calls(hospital, analytics_dashboard.time_period) - 'hospital_id' - 'period',
        'tickets', (
            select jsonb_build_object(
                'open', count(*) filter (where t.status in ('open', 'in_progress', 'waiting_on_patient')),
                'urgent_open', count(*) filter (
                    where t.status in ('open', 'in_progress', 'waiting_on_patient') and t.priority = 'urgent'
                )
            )
            from public.tickets as t where t.hospital_id = hospital
        )
    );
end;
$$;

comment on function public.analytics_dashboard(uuid, text) is
'Every dashboard number of a hospital in one call (seed 001 GET /analytics/dashboard): '
'appointments, journeys, communications, voice_calls of the period (default TODAY; as the '
'analytics_* calls) and open tickets now. The hospital''s admins and CROs; PT404 for anyone else.';

grant execute on function private.analytics_period(uuid, text, date, date) to authenticated, service_role;
grant execute on function private.analytics_hospital(uuid) to authenticated, service_role;
grant execute on function private.analytics_appointments(
    uuid, text, date, date, public.appointment_source, uuid, boolean
) to authenticated, service_role;
grant execute on function private.analytics_journeys(uuid, text, date, date) to authenticated, service_role;
grant execute on function private.analytics_communications(uuid, text, date, date) to authenticated, service_role;
grant execute on function private.analytics_voice_calls(uuid, text, date, date) to authenticated, service_role;
grant execute on function public.analytics_appointments(
    uuid, text, date, date, public.appointment_source, uuid, boolean
) to authenticated, service_role;
grant execute on function public.analytics_journeys(uuid, text, date, date) to authenticated, service_role;
grant execute on function public.analytics_communications(uuid, text, date, date) to authenticated, service_role;
grant execute on function public.analytics_voice_calls(uuid, text, date, date) to authenticated, service_role;
grant execute on function public.analytics_dashboard(uuid, text) to authenticated, service_role;
