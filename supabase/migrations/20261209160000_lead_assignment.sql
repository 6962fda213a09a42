-- Round-robin assignment of the CRO intervention queue (seed 004 §3.2, "auto-assignment",
-- issue 17 item 4) and the queue itself.
--
-- Every CRO of a hospital has a row in cro_rotation: whether they are on shift, their daily cap,
-- how many leads they were given today (in the hospital's time zone) and their last turn. A lead
-- that enters "Stalling - Sent to CRO" without a CRO is given to the next CRO in turn, in one
-- statement (private.assign_leads) that locks the leads and the CRO rows it uses with
-- `for update skip locked`: two assignments running at once lock different CROs, so no CRO gets
-- two leads out of turn, and neither waits for the other. A lead nobody can take (no CRO on
-- shift under their cap, or all busy assigning) stays in the queue unassigned, visible to all,
-- and is taken by the next assignment: rpc/assign_leads, or the pg_cron job every 5 minutes,
-- which drain the backlog oldest first. A CRO whose membership is deactivated hands back their
-- open leads: those in the queue go to the next CROs in turn, the others to the front desk.

create table public.cro_rotation (
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    user_id uuid not null,
    role public.app_role not null default 'cro' constraint cro_rotation_role_is_cro check (role = 'cro'),
    on_shift boolean not null default true,
    daily_cap integer constraint cro_rotation_daily_cap_positive check (daily_cap > 0),
    assigned_on date,
    assigned_today integer not null default 0,
    last_turn bigint,
    last_assigned_at timestamptz,
    updated_at timestamptz not null default now(),
    primary key (hospital_id, user_id),
    constraint cro_rotation_membership_fkey foreign key (user_id, hospital_id, role)
    references public.staff_memberships (user_id, hospital_id, role) on delete cascade
);

create index cro_rotation_user_idx on public.cro_rotation (user_id);

create trigger cro_rotation_set_updated_at
before update on public.cro_rotation
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.cro_rotation
for each row execute function private.audit_row_change('');

-- An admin sets caps and shifts; a CRO puts themselves on or off shift, nothing more. The
-- database's own writes (the assignment's counters, as the functions' owner) pass. Not security
-- definer, so that current_user is the writer.
create function private.guard_cro_rotation()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if current_user::text <> 'authenticated' or new.hospital_id = any(private.staff_hospital_ids('{hospital_admin}')) then
        return new;
    end if;
    if new.user_id is distinct from auth.uid() or new.daily_cap is distinct from old.daily_cap then
        perform private.raise_forbidden(
            'a CRO changes only their own shift; caps are set by the hospital''s admin', 'rotation_admin_only'
        );
    end if;
    return new;
end;
$$;

comment on function private.guard_cro_rotation() is
'Trigger on cro_rotation: admins change anything; a CRO only their own on_shift.';

create trigger cro_rotation_guard
before update on public.cro_rotation
for each row execute function private.guard_cro_rotation();

alter table public.cro_rotation enable row level security;
revoke all on public.cro_rotation from anon, authenticated, service_role;
grant select, insert, update, delete on public.cro_rotation to service_role;
grant select on public.cro_rotation to authenticated;
grant update (on_shift, daily_cap) on public.cro_rotation to authenticated;

create policy cro_rotation_select_front_office on public.cro_rotation
for select to authenticated
using (hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')));

create policy cro_rotation_update_admin_or_self on public.cro_rotation
for update to authenticated
using (
    hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
    or (user_id = (select auth.uid()) and hospital_id = any(private.staff_hospital_ids('{cro}')))
)
with check (
    hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
    or (user_id = (select auth.uid()) and hospital_id = any(private.staff_hospital_ids('{cro}')))
);

comment on table public.cro_rotation is
'The round-robin of a hospital''s CROs for the intervention queue: one row per CRO (made with '
'their membership). on_shift and daily_cap decide who is given leads; assigned_today and '
'last_turn are the rotation''s state. Read by the front desk, CROs and admins of the hospital; '
'admins set caps and shifts (PATCH {daily_cap, on_shift}), a CRO their own on_shift. Errors: '
'42501 rotation_admin_only.';
comment on column public.cro_rotation.role is 'Always cro (ties the row to the CRO membership).';
comment on column public.cro_rotation.on_shift is 'Given leads only while on shift.';
comment on column public.cro_rotation.daily_cap is 'At most this many leads a day (hospital time); null: no cap.';
comment on column public.cro_rotation.assigned_on is 'The hospital''s day assigned_today counts.';
comment on column public.cro_rotation.assigned_today is 'Leads given on assigned_on.';
comment on column public.cro_rotation.last_turn is 'Their place in the rotation: the lowest goes next (null: never).';
comment on column public.cro_rotation.last_assigned_at is 'When they were last given a lead.';
comment on policy cro_rotation_select_front_office on public.cro_rotation is
'The front desk, CROs and admins of the hospital read its rotation.';
comment on policy cro_rotation_update_admin_or_self on public.cro_rotation is
'The hospital''s admins set caps and shifts; a CRO their own shift (column rules: guard_cro_rotation).';

-- Turns grow across statements: a batch takes turns base + 1, base + 2, ... from one draw.
create sequence private.cro_rotation_turns;

-- The one assignment statement: the leads waiting in the hospital's CRO queue without a CRO
-- (all, or those named), oldest first, each given to the next CRO in turn among those on shift
-- and under their daily cap; leads and CROs locked with skip locked, so concurrent
-- assignments share nothing. `how` is recorded on each assignment (round_robin, reassigned).
-- Security definer: it writes assignments and the rotation whoever triggers it; its callers
-- check who may (rpc/assign_leads), or are the database's own triggers and job.
create function private.assign_leads(
    hospital_id uuid, lead_ids uuid[] default null, max_leads integer default 100, how text default 'round_robin'
)
returns table (lead_id uuid, assigned_to uuid)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    today date;
    turn_base bigint;
    batch constant integer := least(greatest(coalesce(max_leads, 100), 1), 10000);
begin
    select (now() at time zone h.time_zone)::date into today
    from public.hospitals as h where h.id = assign_leads.hospital_id and h.is_active;
    if today is null then
        return;
    end if;
    turn_base := nextval('private.cro_rotation_turns') * 100000;
    perform set_config('carebase.lead_assignment', coalesce(how, 'round_robin'), true);
    return query
    with waiting as materialized (
        select l.id, l.status_changed_at
        from public.leads as l
        where l.hospital_id = assign_leads.hospital_id
            and l.status = 'stalling_sent_to_cro'
            and (assign_leads.lead_ids is null or l.id = any(assign_leads.lead_ids))
            and (
                l.assigned_to is null
                or not exists (
                    select from public.staff_memberships as m
                    where m.user_id = l.assigned_to and m.hospital_id = l.hospital_id and m.role = 'cro' and m.is_active
                )
            )
        order by l.status_changed_at, l.id
        limit batch
        for update of l skip locked
    ),

    cro as materialized (
        select
            r.user_id,
            r.last_turn,
            case when r.assigned_on = today then r.assigned_today else 0 end as taken_today,
            r.daily_cap
        from public.cro_rotation as r
        where r.hospital_id = assign_leads.hospital_id
            and r.on_shift
            and (r.daily_cap is null or case when r.assigned_on = today then r.assigned_today else 0 end < r.daily_cap)
            and exists (
                select from public.staff_memberships as m
                where m.user_id = r.user_id and m.hospital_id = r.hospital_id and m.role = 'cro' and m.is_active
            )
        order by r.last_turn nulls first, r.user_id
        limit (select count(*) from waiting)
        for update of r skip locked
    ),

    -- Round k gives each CRO with room their k-th lead of the batch, in rotation order.
    slot as (
        select
            c.user_id,
            row_number() over (order by k.round, c.last_turn nulls first, c.user_id) as n
        from cro as c
        cross join lateral generate_series(1, coalesce(c.daily_cap - c.taken_today, batch)) as k (round)
    ),

    backlog as (
        select w.id, row_number() over (order by w.status_changed_at, w.id) as n
        from waiting as w
    ),

    pair as (
        select b.id, s.user_id, s.n
        from backlog as b
        join slot as s on s.n = b.n
    ),

    assigned as (
        update public.leads as l
        set assigned_to = p.user_id
        from pair as p
        where l.id = p.id
        returning l.id, l.assigned_to
    ),

    turns as (
        select p.user_id, count(*) as taken, max(p.n) as last_n
        from pair as p
        group by p.user_id
    ),

    counted as (
        update public.cro_rotation as r
        set
            assigned_today = case when r.assigned_on = today then r.assigned_today else 0 end + t.taken,
            assigned_on = today,
            last_turn = turn_base + t.last_n,
            last_assigned_at = now()
        from turns as t
        where r.hospital_id = assign_leads.hospital_id and r.user_id = t.user_id
        returning r.user_id
    )

    select a.id, a.assigned_to from assigned as a;
    perform set_config('carebase.lead_assignment', '', true);
end;
$$;

comment on function private.assign_leads(uuid, uuid[], integer, text) is
'Gives the hospital''s CRO queue leads without a CRO (oldest first; all, or those named) to its '
'CROs in turn, on shift and under their daily cap, in one statement with for update skip locked.';

-- A lead sent to the CRO queue goes to the next CRO in turn at once. Security definer: the
-- assignment writes what the mover may not.
create function private.assign_lead_sent_to_cro()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform private.assign_leads(new.hospital_id, array[new.id], 1, 'round_robin');
    return null;
end;
$$;

comment on function private.assign_lead_sent_to_cro() is
'Trigger on leads: a lead entering stalling_sent_to_cro without a CRO is assigned round-robin.';

create trigger leads_assign_sent_to_cro
after update of status on public.leads
for each row when (new.status = 'stalling_sent_to_cro' and old.status is distinct from new.status)
execute function private.assign_lead_sent_to_cro();

-- Every CRO membership has its row in the rotation; a deactivated CRO hands back their open
-- leads. Security definer: the admin who deactivates may not write other people's leads.
create function private.follow_cro_membership()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    handed_back uuid[];
begin
    if new.is_active then
        insert into public.cro_rotation (hospital_id, user_id) values (new.hospital_id, new.user_id)
        on conflict do nothing;
        return null;
    end if;
    if tg_op = 'UPDATE' and old.is_active then
        perform set_config('carebase.lead_assignment', 'reassigned', true);
        with released as (
            update public.leads as l
            set assigned_to = null
            where l.assigned_to = new.user_id and l.hospital_id = new.hospital_id
                and l.status in ('new_inquiry', 'contacted', 'stalling_sent_to_cro')
            returning l.id, l.status
        )
        select coalesce(array_agg(r.id) filter (where r.status = 'stalling_sent_to_cro'), '{}') into handed_back
        from released as r;
        perform set_config('carebase.lead_assignment', '', true);
        if cardinality(handed_back) > 0 then
            perform private.assign_leads(new.hospital_id, handed_back, cardinality(handed_back), 'reassigned');
        end if;
    end if;
    return null;
end;
$$;

comment on function private.follow_cro_membership() is
'Trigger on staff_memberships (CROs): an active CRO is in the rotation; a deactivated one''s open '
'leads are released, those in the CRO queue reassigned round-robin.';

create trigger staff_memberships_follow_cro
after insert or update of is_active on public.staff_memberships
for each row when (new.role = 'cro')
execute function private.follow_cro_membership();

-- The CROs there are already.
insert into public.cro_rotation (hospital_id, user_id)
select
    m.hospital_id,
    m.user_id
from public.staff_memberships as m
where m.role = 'cro' and m.is_active
on conflict do nothing;

-- The backlog of every hospital, drained every 5 minutes (leads nobody could take at the time).
create function private.drain_lead_backlog()
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    hospital uuid;
    given integer := 0;
    n integer;
begin
    for hospital in
        select distinct l.hospital_id from public.leads as l
        where l.status = 'stalling_sent_to_cro' and l.assigned_to is null
    loop
        select count(*) into n from private.assign_leads(hospital, null, 500, 'round_robin');
        given := given + n;
    end loop;
    return given;
end;
$$;

comment on function private.drain_lead_backlog() is
'Assigns the waiting CRO queue leads of every hospital (the pg_cron job carebase-lead-backlog); returns how many.';

select private.schedule_job('carebase-lead-backlog', '*/5 * * * *', 'select private.drain_lead_backlog()');

-- The front office drains its hospital's backlog now. Security definer: the assignment writes
-- what the caller may not; the caller is checked first.
create function private.assign_waiting_leads(hospital_id uuid, max_leads integer)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    given jsonb;
begin
    if not coalesce(assign_waiting_leads.hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')), false) then
        perform private.raise_forbidden(
            'only the front desk, CROs and admins of the hospital assign its leads', 'not_front_office'
        );
    end if;
    if max_leads is null or max_leads not between 1 and 500 then
        perform private.raise_invalid('max_leads is 1 to 500', 'max_leads_out_of_range');
    end if;
    select coalesce(jsonb_agg(jsonb_build_object('lead_id', a.lead_id, 'assigned_to', a.assigned_to)), '[]')
    into given
    from private.assign_leads(assign_waiting_leads.hospital_id, null, assign_waiting_leads.max_leads, 'round_robin') as a;
    return jsonb_build_object(
        'assigned', given,
        'waiting', (
            select count(*) from public.leads as l
            where l.hospital_id = assign_waiting_leads.hospital_id and l.status = 'stalling_sent_to_cro'
                and l.assigned_to is null
        )
    );
end;
$$;

comment on function private.assign_waiting_leads(uuid, integer) is
'Assigns a hospital''s waiting CRO queue leads for its front office (checked here).';

grant execute on function private.assign_waiting_leads(uuid, integer) to authenticated;

-- RPC: POST /rest/v1/rpc/assign_leads.
create function public.assign_leads(hospital_id uuid, max_leads integer default 50)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.assign_waiting_leads(assign_leads.hospital_id, assign_leads.max_leads);
$$;

grant execute on function public.assign_leads(uuid, integer) to authenticated;

comment on function public.assign_leads(uuid, integer) is
'Gives the hospital''s CRO queue leads without a CRO to its CROs round-robin (on shift, under their '
'daily cap), oldest first, at most max_leads (1-500). For its front desk, CROs and admins. Returns '
'{assigned: [{lead_id, assigned_to}], waiting: leads still without a CRO}. Errors: 42501 '
'not_front_office, 22023 max_leads_out_of_range.';

-- The CRO intervention queue (seed 004 §3.2): leads in "Stalling - Sent to CRO", oldest first,
-- with their history and last contact. Security invoker: the caller's policies decide.
create function public.cro_queue(hospital_id uuid default null, everyone boolean default false)
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
    from public.leads as l
    where l.status = 'stalling_sent_to_cro'
        and l.hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}'))
        and (cro_queue.hospital_id is null or l.hospital_id = cro_queue.hospital_id)
        and (cro_queue.everyone or l.assigned_to is null or l.assigned_to = (select auth.uid()))
    order by l.status_changed_at, l.id
$$;

grant execute on function public.cro_queue(uuid, boolean) to authenticated;

comment on function public.cro_queue(uuid, boolean) is
'The CRO intervention queue (seed 004): the leads in stalling_sent_to_cro of the hospitals where '
'the caller is front desk, CRO or admin (or the one given), oldest first, each with its last call '
'outcome, next follow-up and its moves (history). By default the caller''s own and the unassigned '
'ones; everyone: true for all. GET /rest/v1/rpc/cro_queue takes filters, order and limit.';
