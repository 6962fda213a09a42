-- The front office's dashboard (seed 004 GET /api/dashboard/stats and /funnel, issue 17 item 7).
--
-- Both count a cohort: the leads that came in within the date range (days in the hospital's time
-- zone). The funnel counts, for each stage of the pipeline, the cohort's leads that ever reached
-- it, read from status_history (the moves themselves), not from where the leads are now: a lead
-- sent to the CRO queue and handed back to the front desk still counts as having reached the
-- queue, and one lost and re-engaged counts as lost once and as contacted once. Revenue is 0
-- until financial records exist (issue 18), and says so.

-- The days from_date .. to_date of the hospital as a time range (default: the last 30 days).
create function private.hospital_days(hospital_id uuid, from_date date, to_date date)
returns tstzrange
language sql
stable
security definer
set search_path = ''
as $$
    -- Security definer: the service role and jobs read the hospital's time zone as its staff do.
    select tstzrange(
        coalesce(hospital_days.from_date, (now() at time zone h.time_zone)::date - 29)::timestamp at time zone h.time_zone,
        (coalesce(hospital_days.to_date, (now() at time zone h.time_zone)::date) + 1)::timestamp at time zone h.time_zone
    )
    from public.hospitals as h
    where h.id = hospital_days.hospital_id
$$;

comment on function private.hospital_days(uuid, date, date) is
'from_date 00:00 to the end of to_date in the hospital''s time zone (default: the last 30 days, today included).';

-- Who may read a hospital's front-office numbers: its front desk, CROs and admins.
create function private.check_lead_dashboard_reader(hospital_id uuid, from_date date, to_date date)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
    if not coalesce(check_lead_dashboard_reader.hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')), false) then
        perform private.raise_forbidden(
            'only the front desk, CROs and admins of the hospital read its lead numbers', 'not_front_office'
        );
    end if;
    if check_lead_dashboard_reader.to_date < check_lead_dashboard_reader.from_date
        or check_lead_dashboard_reader.to_date - check_lead_dashboard_reader.from_date > 3660 then
        perform private.raise_invalid('from_date must come before to_date, at most 10 years apart', 'bad_date_range');
    end if;
end;
$$;

comment on function private.check_lead_dashboard_reader(uuid, date, date) is
'Refuses a caller who is not front desk, CRO or admin of the hospital (42501 not_front_office), and a bad range.';

-- The KPIs. Security definer: counts the hospital's leads and history directly (aggregates only)
-- for a caller checked first, instead of checking every row's policies.
create function private.lead_dashboard(hospital_id uuid, from_date date, to_date date)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    span tstzrange;
    answer jsonb;
begin
    perform private.check_lead_dashboard_reader(hospital_id, from_date, to_date);
    span := private.hospital_days(lead_dashboard.hospital_id, lead_dashboard.from_date, lead_dashboard.to_date);
    with cohort as materialized (
        select l.status, l.source
        from public.leads as l
        where l.hospital_id = lead_dashboard.hospital_id
            and l.created_at >= lower(span) and l.created_at < upper(span)
    ),

    totals as (
        select
            count(*) as leads,
            count(*) filter (where c.status = 'converted') as converted,
            count(*) filter (where c.status = 'lost') as lost
        from cohort as c
    ),

    by_source as (
        select coalesce(jsonb_agg(jsonb_build_object(
            'source', s.source, 'leads', s.leads, 'converted', s.converted
        ) order by s.leads desc, s.source), '[]') as list
        from (
            select c.source, count(*) as leads, count(*) filter (where c.status = 'converted') as converted
            from cohort as c
            group by c.source
        ) as s
    ),

    by_status as (
        select coalesce(jsonb_object_agg(s.status, s.n), '{}') as counts
        from (select c.status, count(*) as n from cohort as c group by c.status) as s
    ),

    now_open as (
        select
            count(*) filter (where l.status = 'stalling_sent_to_cro') as cro_queue,
            count(*) filter (where l.status = 'stalling_sent_to_cro' and l.assigned_to is null) as unassigned,
            count(*) filter (where l.status = 'new_inquiry') as new_inquiries
        from public.leads as l
        where l.hospital_id = lead_dashboard.hospital_id
            and l.status in ('new_inquiry', 'stalling_sent_to_cro')
    )

    select jsonb_build_object(
        'from_date', (lower(span) at time zone h.time_zone)::date,
        'to_date', (upper(span) at time zone h.time_zone)::date - 1,
        'new_leads', t.leads,
        'converted', t.converted,
        'lost', t.lost,
        'conversion_rate', case when t.leads = 0 then 0 else round(100.0 * t.converted / t.leads, 1) end,
        'leads_by_source', bs.list,
        'leads_by_status', bst.counts,
        'cro_queue', o.cro_queue,
        'cro_queue_unassigned', o.unassigned,
        'new_inquiries_waiting', o.new_inquiries,
        'revenue', jsonb_build_object(
            'amount', 0, 'currency', 'INR', 'note', 'financial records are not kept yet: 0 until they are'
        )
    ) into answer
    from totals as t
    cross join by_source as bs
    cross join by_status as bst
    cross join now_open as o
    cross join public.hospitals as h
    where h.id = lead_dashboard.hospital_id;
    return answer;
end;
$$;

comment on function private.lead_dashboard(uuid, date, date) is
'The front office''s KPIs of a hospital over a cohort of leads (for its front desk, CROs and admins).';

grant execute on function private.lead_dashboard(uuid, date, date) to authenticated;

-- RPC: GET or POST /rest/v1/rpc/lead_dashboard (seed 004 GET /api/dashboard/stats).
create function public.lead_dashboard(hospital_id uuid, from_date date default null, to_date date default null)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select private.lead_dashboard(lead_dashboard.hospital_id, lead_dashboard.from_date, lead_dashboard.to_date);
$$;

grant execute on function public.lead_dashboard(uuid, date, date) to authenticated;

comment on function public.lead_dashboard(uuid, date, date) is
'The front office''s KPIs (seed 004 GET /api/dashboard/stats) for the leads that came in from '
'from_date to to_date (days in the hospital''s time zone; default the last 30 days): new_leads, '
'converted and lost (of those, as they stand now), conversion_rate (converted / new_leads x 100), '
'leads_by_source [{source, leads, converted}], leads_by_status; and now: cro_queue, '
'cro_queue_unassigned, new_inquiries_waiting. revenue is 0 until financial records are kept. For '
'the hospital''s front desk, CROs and admins. Errors: 42501 not_front_office; 22023 bad_date_range.';

-- The funnel. Security definer: as lead_dashboard.
create function private.lead_funnel(hospital_id uuid, from_date date, to_date date)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    span tstzrange;
    answer jsonb;
begin
    perform private.check_lead_dashboard_reader(hospital_id, from_date, to_date);
    span := private.hospital_days(lead_funnel.hospital_id, lead_funnel.from_date, lead_funnel.to_date);
    with cohort as materialized (
        select l.id, l.status
        from public.leads as l
        where l.hospital_id = lead_funnel.hospital_id
            and l.created_at >= lower(span) and l.created_at < upper(span)
    ),

    reached as (
        select h.to_state, count(distinct h.subject_id) as n
        from cohort as c
        join public.status_history as h on h.subject_id = c.id and h.machine = 'lead'
        group by h.to_state
    ),

    standing as (
        select c.status::text as state, count(*) as n from cohort as c group by c.status
    )

    select jsonb_build_object(
        'from_date', (lower(span) at time zone ho.time_zone)::date,
        'to_date', (upper(span) at time zone ho.time_zone)::date - 1,
        'cohort', (select count(*) from cohort),
        'stages', jsonb_agg(
            jsonb_build_object(
                'state', s.state, 'label', s.label, 'position', s.position,
                'reached', coalesce(r.n, 0), 'now', coalesce(n.n, 0)
            ) order by s.position
        )
    ) into answer
    from private.state_machine_states as s
    left join reached as r on r.to_state = s.state
    left join standing as n on n.state = s.state
    cross join public.hospitals as ho
    where s.machine = 'lead' and ho.id = lead_funnel.hospital_id
    group by ho.time_zone;
    return answer;
end;
$$;

comment on function private.lead_funnel(uuid, date, date) is
'The funnel of a hospital''s cohort of leads from their moves (for its front desk, CROs and admins).';

grant execute on function private.lead_funnel(uuid, date, date) to authenticated;

-- RPC: GET or POST /rest/v1/rpc/lead_funnel (seed 004 GET /api/dashboard/funnel).
create function public.lead_funnel(hospital_id uuid, from_date date default null, to_date date default null)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select private.lead_funnel(lead_funnel.hospital_id, lead_funnel.from_date, lead_funnel.to_date);
$$;

grant execute on function public.lead_funnel(uuid, date, date) to authenticated;

comment on function public.lead_funnel(uuid, date, date) is
'The lead funnel (seed 004 GET /api/dashboard/funnel) of the leads that came in from from_date to '
'to_date (days in the hospital''s time zone; default the last 30 days): cohort, and per stage of '
'the pipeline in order {state, label, position, reached: how many of the cohort ever entered it '
'(from status_history, so a lead moved back still counts where it was), now: how many are in it}. '
'For the hospital''s front desk, CROs and admins. Errors: 42501 not_front_office; 22023 bad_date_range.';
