-- The front office at scale (bench/lead_dashboard.py, 100,000 leads): the funnel, the dashboard
-- and the CRO queue read what they count from indexes instead of testing rows one by one.
--
-- - The funnel counts the stages each lead has been in. Reading every move of a year's cohort
--   from status_history took 0.9 s for 50,000 leads; each lead now keeps the states its moves
--   entered (leads.stages_reached, written by a trigger with each move, beside the history;
--   `carebase seed check` and a pgTAP test compare the two), and the cohort is counted from
--   the index (hospital_id, created_at) that includes status, source and the stages.
-- - The dashboard groups the cohort once by (source, status), and counts revenue now that
--   payments are kept (issue 18): payments captured less refunds processed in the range.
-- - The CRO queue is a page (max_results, after), read in order from (hospital_id, status,
--   status_changed_at) by a security definer function that limits itself to the caller's
--   front-office hospitals: under RLS a lead's status filter (an enum: its `=` is not
--   leakproof) ran after the policies, on every lead of the hospital (283 ms for the queue).

alter table public.leads add column stages_reached public.lead_status[] not null default '{}';

comment on column public.leads.stages_reached is
'Every status the lead has been in (the to_states of its moves in status_history, kept with each '
'move): what rpc/lead_funnel counts.';

-- The leads there are, from their history.
update public.leads as l
set stages_reached = coalesce(
    (
        select array_agg(m.to_state::public.lead_status order by m.first_at)
        from (
            select
                h.to_state,
                min(h.occurred_at) as first_at
            from public.status_history as h
            where h.machine = 'lead' and h.subject_id = l.id
            group by h.to_state
        ) as m
    ),
    array[l.status]
);

-- The stages a lead has been in, kept with each move (the funnel's counts).
create function private.note_lead_stage()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if not new.status = any(coalesce(new.stages_reached, '{}')) then
        new.stages_reached := coalesce(new.stages_reached, '{}') || new.status;
    end if;
    return new;
end;
$$;

comment on function private.note_lead_stage() is
'Trigger on leads: a lead''s status joins the stages it has reached (leads.stages_reached).';

create trigger leads_note_stage
before insert or update of status on public.leads
for each row execute function private.note_lead_stage();

-- The cohorts read from the index alone.
drop index public.leads_hospital_created_idx;
create index leads_hospital_created_idx on public.leads (hospital_id, created_at)
include (status, source, stages_reached);

-- The KPIs. Security definer: counts the hospital's leads and history directly (aggregates only)
-- for a caller checked first, instead of checking every row's policies.
create or replace function private.lead_dashboard(hospital_id uuid, from_date date, to_date date)
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
    -- One pass over the cohort: how many of each source are in each status now.
    with counted as materialized (
        select l.source, l.status, count(*) as n
        from public.leads as l
        where l.hospital_id = lead_dashboard.hospital_id
            and l.created_at >= lower(span) and l.created_at < upper(span)
        group by l.source, l.status
    ),

    totals as (
        select
            coalesce(sum(c.n), 0)::bigint as leads,
            coalesce(sum(c.n) filter (where c.status = 'converted'), 0)::bigint as converted,
            coalesce(sum(c.n) filter (where c.status = 'lost'), 0)::bigint as lost
        from counted as c
    ),

    by_source as (
        select coalesce(jsonb_agg(jsonb_build_object(
            'source', s.source, 'leads', s.leads, 'converted', s.converted
        ) order by s.leads desc, s.source), '[]') as list
        from (
            select
                c.source,
                sum(c.n)::bigint as leads,
                coalesce(sum(c.n) filter (where c.status = 'converted'), 0)::bigint as converted
            from counted as c
            group by c.source
        ) as s
    ),

    by_status as (
        select coalesce(jsonb_object_agg(s.status, s.n), '{}') as counts
        from (select c.status, sum(c.n)::bigint as n from counted as c group by c.status) as s
    ),

    now_open as (
        select
            count(*) filter (where l.status = 'stalling_sent_to_cro') as cro_queue,
            count(*) filter (where l.status = 'stalling_sent_to_cro' and l.assigned_to is null) as unassigned,
            count(*) filter (where l.status = 'new_inquiry') as new_inquiries
        from public.leads as l
        where l.hospital_id = lead_dashboard.hospital_id
            and l.status in ('new_inquiry', 'stalling_sent_to_cro')
    ),

    -- Revenue (seed 004: the payments), as rpc/financial_snapshot counts it: payments captured
    -- less refunds processed within the range, per currency.
    money as (
        select p.currency, p.amount
        from public.payments as p
        where p.hospital_id = lead_dashboard.hospital_id and p.status = 'captured'
            and p.captured_at >= lower(span) and p.captured_at < upper(span)
        union all
        select r.currency, -r.amount
        from public.refunds as r
        where r.hospital_id = lead_dashboard.hospital_id and r.status = 'processed'
            and r.processed_at >= lower(span) and r.processed_at < upper(span)
    ),

    revenue as (
        select
            coalesce(sum(m.amount) filter (where m.currency = 'INR'), 0) as inr,
            coalesce(jsonb_agg(jsonb_build_object('currency', m.currency, 'amount', m.amount)
                order by m.currency), '[]') as by_currency
        from (select y.currency, sum(y.amount) as amount from money as y group by y.currency) as m
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
        'revenue', jsonb_build_object('amount', rv.inr, 'currency', 'INR', 'by_currency', rv.by_currency)
    ) into answer
    from totals as t
    cross join by_source as bs
    cross join by_status as bst
    cross join now_open as o
    cross join revenue as rv
    cross join public.hospitals as h
    where h.id = lead_dashboard.hospital_id;
    return answer;
end;
$$;

comment on function private.lead_dashboard(uuid, date, date) is
'The front office''s KPIs of a hospital over a cohort of leads (for its front desk, CROs and admins).';

-- The funnel. Security definer: as lead_dashboard.
create or replace function private.lead_funnel(hospital_id uuid, from_date date, to_date date)
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
    -- One pass over the cohort (the index alone): how many leads have each status and set of
    -- stages reached; a few dozen combinations, whatever the cohort's size.
    with counted as materialized (
        select l.status, l.stages_reached, count(*) as n
        from public.leads as l
        where l.hospital_id = lead_funnel.hospital_id
            and l.created_at >= lower(span) and l.created_at < upper(span)
        group by l.status, l.stages_reached
    ),

    -- Each lead counts once in every stage it has been in.
    reached as (
        select r.state::text as state, sum(c.n)::bigint as n
        from counted as c
        cross join lateral unnest(c.stages_reached) as r (state)
        group by r.state
    ),

    standing as (
        select c.status::text as state, sum(c.n)::bigint as n from counted as c group by c.status
    )

    select jsonb_build_object(
        'from_date', (lower(span) at time zone ho.time_zone)::date,
        'to_date', (upper(span) at time zone ho.time_zone)::date - 1,
        'cohort', (select coalesce(sum(c.n), 0)::bigint from counted as c),
        'stages', jsonb_agg(
            jsonb_build_object(
                'state', s.state, 'label', s.label, 'position', s.position,
                'reached', coalesce(r.n, 0), 'now', coalesce(n.n, 0)
            ) order by s.position
        )
    ) into answer
    from private.state_machine_states as s
    left join reached as r on r.state = s.state
    left join standing as n on n.state = s.state
    cross join public.hospitals as ho
    where s.machine = 'lead' and ho.id = lead_funnel.hospital_id
    group by ho.time_zone;
    return answer;
end;
$$;

comment on function private.lead_funnel(uuid, date, date) is
'The funnel of a hospital''s cohort of leads from their moves (for its front desk, CROs and admins).';

drop function public.cro_queue(uuid, boolean);

-- The CRO intervention queue (seed 004 §3.2): leads in "Stalling - Sent to CRO", oldest first,
-- with their history and last contact, a page at a time (the details read for the page only).
-- Security definer: it reads the queue of the hospitals where the caller works at the front
-- office (the rows its policies would show them) from the queue's index, in order, instead of
-- checking the policies of every lead of the hospital (a lead's status is an enum, whose
-- comparison is not leakproof, so under RLS Postgres would test every row first).
create function private.cro_queue(
    hospital_id uuid default null,
    everyone boolean default false,
    max_results integer default 50,
    after timestamptz default null
)
returns table (
    lead_id uuid,
    hospital_id uuid,
    full_name text,
    phone text,
    inquiry text,
    source text,
    problem text,
    assigned_to uuid,
    waiting_since timestamptz,
    inquiries integer,
    last_contacted_at timestamptz,
    last_call_outcome text,
    next_follow_up_at timestamptz,
    open_follow_ups bigint,
    history jsonb
)
language sql
stable
security definer
set search_path = ''
as $$
    with page as (
        select l.*
        from public.leads as l
        where l.status = 'stalling_sent_to_cro'
            and l.hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}'))
            and (cro_queue.hospital_id is null or l.hospital_id = cro_queue.hospital_id)
            and (cro_queue.everyone or l.assigned_to is null or l.assigned_to = (select auth.uid()))
            and (cro_queue.after is null or l.status_changed_at > cro_queue.after)
        order by l.status_changed_at, l.id
        limit least(greatest(coalesce(cro_queue.max_results, 50), 1), 200)
    )

    select
        l.id,
        l.hospital_id,
        l.full_name,
        l.phone::text,
        l.inquiry,
        l.source,
        l.problem,
        l.assigned_to,
        l.status_changed_at,
        l.inquiries,
        l.last_contacted_at,
        (
            select a.outcome from public.lead_activities as a
            where a.lead_id = l.id and a.hospital_id = l.hospital_id and a.kind = 'call'
            order by a.occurred_at desc
            limit 1
        ),
        (
            select min(f.due_at) from public.lead_follow_ups as f
            where f.lead_id = l.id and f.hospital_id = l.hospital_id and f.done_at is null
        ),
        (
            select count(*) from public.lead_follow_ups as f
            where f.lead_id = l.id and f.hospital_id = l.hospital_id and f.done_at is null
        ),
        (
            select coalesce(jsonb_agg(
                jsonb_build_object(
                    'from', h.from_state, 'to', h.to_state, 'by', h.actor_id, 'role', h.actor_role,
                    'reason', h.reason, 'at', h.occurred_at
                ) order by h.occurred_at
            ), '[]')
            from public.status_history as h
            where h.machine = 'lead' and h.subject_id = l.id
        )
    from page as l
    order by l.status_changed_at, l.id
$$;

comment on function private.cro_queue(uuid, boolean, integer, timestamptz) is
'A page of the CRO queue of the hospitals where the caller is front desk, CRO or admin.';

grant execute on function private.cro_queue(uuid, boolean, integer, timestamptz) to authenticated;

-- RPC: GET or POST /rest/v1/rpc/cro_queue.
create function public.cro_queue(
    hospital_id uuid default null,
    everyone boolean default false,
    max_results integer default 50,
    after timestamptz default null
)
returns table (
    lead_id uuid,
    hospital_id uuid,
    full_name text,
    phone text,
    inquiry text,
    source text,
    problem text,
    assigned_to uuid,
    waiting_since timestamptz,
    inquiries integer,
    last_contacted_at timestamptz,
    last_call_outcome text,
    next_follow_up_at timestamptz,
    open_follow_ups bigint,
    history jsonb
)
language sql
stable
set search_path = ''
as $$
    select * from private.cro_queue(
        cro_queue.hospital_id, cro_queue.everyone, cro_queue.max_results, cro_queue.after
    );
$$;

grant execute on function public.cro_queue(uuid, boolean, integer, timestamptz) to authenticated;
comment on function public.cro_queue(uuid, boolean, integer, timestamptz) is
'The CRO intervention queue (seed 004): the leads in stalling_sent_to_cro of the hospitals where '
'the caller is front desk, CRO or admin (or the one given), oldest first, each with its last call '
'outcome, next follow-up and its moves (history). By default the caller''s own and the unassigned '
'ones; everyone: true for all. A page of max_results (1-200, default 50); the next page: after = '
'the last row''s waiting_since.';

comment on function public.lead_funnel(uuid, date, date) is
'The lead funnel (seed 004 GET /api/dashboard/funnel) of the leads that came in from from_date to '
'to_date (days in the hospital''s time zone; default the last 30 days): cohort, and per stage of '
'the pipeline in order {state, label, position, reached: how many of the cohort ever entered it '
'(from their moves, so a lead moved back still counts where it was), now: how many are in it}. '
'For the hospital''s front desk, CROs and admins. Errors: 42501 not_front_office; 22023 bad_date_range.';

comment on function public.lead_dashboard(uuid, date, date) is
'The front office''s KPIs (seed 004 GET /api/dashboard/stats) for the leads that came in from '
'from_date to to_date (days in the hospital''s time zone; default the last 30 days): new_leads, '
'converted and lost (of those, as they stand now), conversion_rate (converted / new_leads x 100), '
'leads_by_source [{source, leads, converted}], leads_by_status; and now: cro_queue, '
'cro_queue_unassigned, new_inquiries_waiting; revenue {amount (INR), currency, by_currency}: '
'payments captured less refunds processed within the range, as rpc/financial_snapshot counts '
'them. For the hospital''s front desk, CROs and admins. Errors: 42501 not_front_office; 22023 '
'bad_date_range.';
