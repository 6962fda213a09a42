-- The hospital's calendar (issue 19, item 3): the hours it is open on each weekday and the days
-- it is closed, in its own time zone. Ticket SLAs count business time on it: a deadline of four
-- business hours set on a Friday afternoon falls on Monday.
--
-- A hospital that has not set its hours is open Monday to Saturday, 09:00 to 18:00 (the usual
-- outpatient hours of the hospitals carebase serves); once it sets one weekday, only the
-- weekdays it set are open. One range per weekday (no split shifts).

create table public.hospital_business_hours (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    weekday smallint not null,
    opens_at time not null,
    closes_at time not null,
    updated_at timestamptz not null default now(),
    constraint hospital_business_hours_weekday_iso check (weekday between 1 and 7),
    constraint hospital_business_hours_range_order check (closes_at > opens_at),
    constraint hospital_business_hours_one_range_a_day unique (hospital_id, weekday)
);

create table public.hospital_closures (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    closed_on date not null,
    name text not null,
    constraint hospital_closures_name_present check (length(btrim(name)) between 1 and 200),
    constraint hospital_closures_once_a_day unique (hospital_id, closed_on)
);

alter table public.hospital_business_hours enable row level security;
alter table public.hospital_closures enable row level security;
revoke all on public.hospital_business_hours, public.hospital_closures from anon, authenticated, service_role;
grant select, delete on public.hospital_business_hours, public.hospital_closures to authenticated;
grant insert (hospital_id, weekday, opens_at, closes_at) on public.hospital_business_hours to authenticated;
grant update (opens_at, closes_at) on public.hospital_business_hours to authenticated;
grant insert (hospital_id, closed_on, name) on public.hospital_closures to authenticated;
grant update (name) on public.hospital_closures to authenticated;
grant select on public.hospital_business_hours, public.hospital_closures to service_role;

-- Not secret: staff and the hospital's patients read the calendar; its admins set it.
create policy hospital_business_hours_select on public.hospital_business_hours
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids())
    or hospital_id = any(private.patient_hospital_ids())
);

create policy hospital_business_hours_insert_admin on public.hospital_business_hours
for insert to authenticated
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create policy hospital_business_hours_update_admin on public.hospital_business_hours
for update to authenticated
using (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')))
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create policy hospital_business_hours_delete_admin on public.hospital_business_hours
for delete to authenticated
using (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create policy hospital_closures_select on public.hospital_closures
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids())
    or hospital_id = any(private.patient_hospital_ids())
);

create policy hospital_closures_insert_admin on public.hospital_closures
for insert to authenticated
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create policy hospital_closures_update_admin on public.hospital_closures
for update to authenticated
using (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')))
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create policy hospital_closures_delete_admin on public.hospital_closures
for delete to authenticated
using (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create trigger hospital_business_hours_set_updated_at
before update on public.hospital_business_hours
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.hospital_business_hours
for each row execute function private.audit_row_change('');

create trigger audit_row_change
after insert or update or delete on public.hospital_closures
for each row execute function private.audit_row_change('');

comment on table public.hospital_business_hours is
'When a hospital is open, per ISO weekday (1 = Monday ... 7 = Sunday), in its local time: the '
'calendar that ticket SLAs count business time on. A hospital with no rows is open Monday to '
'Saturday 09:00-18:00; once it has rows, a weekday without one is closed. Read by its staff '
'and patients, set by its admins.';
comment on column public.hospital_business_hours.weekday is 'ISO weekday: 1 = Monday ... 7 = Sunday.';
comment on column public.hospital_business_hours.opens_at is 'Local wall-clock time in the hospital''s time zone.';
comment on column public.hospital_business_hours.closes_at is
'Local wall-clock time in the hospital''s time zone; may be 24:00 (midnight).';
comment on table public.hospital_closures is
'Days a hospital is closed (public holidays, ...): no business time is counted on them.';
comment on column public.hospital_closures.closed_on is 'The local date the hospital is closed.';
comment on policy hospital_business_hours_select on public.hospital_business_hours is
'Staff and registered patients of the hospital read its hours.';
comment on policy hospital_business_hours_insert_admin on public.hospital_business_hours is
'The hospital''s admins set its hours.';
comment on policy hospital_business_hours_update_admin on public.hospital_business_hours is
'The hospital''s admins change its hours.';
comment on policy hospital_business_hours_delete_admin on public.hospital_business_hours is
'The hospital''s admins remove a weekday''s hours.';
comment on policy hospital_closures_select on public.hospital_closures is
'Staff and registered patients of the hospital read its closures.';
comment on policy hospital_closures_insert_admin on public.hospital_closures is 'The hospital''s admins add closures.';
comment on policy hospital_closures_update_admin on public.hospital_closures is
'The hospital''s admins rename closures.';
comment on policy hospital_closures_delete_admin on public.hospital_closures is
'The hospital''s admins remove closures.';

-- The open windows of one hospital between two instants, each clipped to them, in order.
-- Security definer: the calendar is not secret, and a caller whose RLS hid it (a job, another
-- hospital's SLA list) must not silently get the default hours instead.
create function private.business_windows(hospital uuid, from_at timestamptz, to_at timestamptz)
returns table (opens timestamptz, closes timestamptz)
language sql
stable
security definer
set search_path = ''
as $$
    with zone as (
        select h.time_zone,
            exists (select from public.hospital_business_hours as b where b.hospital_id = h.id) as configured
        from public.hospitals as h
        where h.id = business_windows.hospital
    ),

    hours as (
        select b.weekday, b.opens_at, b.closes_at
        from public.hospital_business_hours as b, zone
        where b.hospital_id = business_windows.hospital and zone.configured
        union all
        select d.weekday, time '09:00', time '18:00'
        from generate_series(1, 6) as d (weekday), zone
        where not zone.configured
    ),

    days as (
        select d::date as day, zone.time_zone
        from zone,
            generate_series(
                (business_windows.from_at at time zone zone.time_zone)::date,
                (business_windows.to_at at time zone zone.time_zone)::date,
                interval '1 day'
            ) as d
    ),

    windows as (
        select
            (days.day + hours.opens_at) at time zone days.time_zone as opens,
            (days.day + hours.closes_at) at time zone days.time_zone as closes
        from days
        inner join hours on hours.weekday = extract(isodow from days.day)
        where not exists (
            select from public.hospital_closures as c
            where c.hospital_id = business_windows.hospital and c.closed_on = days.day
        )
    )

    select greatest(w.opens, business_windows.from_at), least(w.closes, business_windows.to_at)
    from windows as w
    where least(w.closes, business_windows.to_at) > greatest(w.opens, business_windows.from_at)
    order by w.opens;
$$;

comment on function private.business_windows(uuid, timestamptz, timestamptz) is
'The hospital''s open windows between two instants (its hours, or Monday-Saturday 09:00-18:00 '
'when it set none, less its closures), clipped to them, in order.';

-- Business minutes between two instants: how much of it the hospital was open.
create function private.business_minutes(hospital uuid, from_at timestamptz, to_at timestamptz)
returns numeric
language sql
stable
set search_path = ''
as $$
    select coalesce(sum(extract(epoch from w.closes - w.opens) / 60), 0)
    from private.business_windows(business_minutes.hospital, business_minutes.from_at, business_minutes.to_at) as w
    where business_minutes.to_at > business_minutes.from_at;
$$;

comment on function private.business_minutes(uuid, timestamptz, timestamptz) is
'How many minutes between two instants fall in the hospital''s open hours (0 when to_at is not after from_at).';

-- The instant `minutes` business minutes after from_at (from_at itself for 0 or less). Looks a
-- year ahead, a month of windows at a time; null when the hospital is never open in that year.
create function private.add_business_minutes(hospital uuid, from_at timestamptz, minutes numeric)
returns timestamptz
language plpgsql
stable
set search_path = ''
as $$
declare
    remaining numeric := minutes;
    chunk_start timestamptz := from_at;
    w record;
    length_ numeric;
begin
    if remaining is null or remaining <= 0 then
        return from_at;
    end if;
    for month_ in 1..13 loop
        for w in
            select * from private.business_windows(hospital, chunk_start, chunk_start + interval '31 days')
        loop
            length_ := extract(epoch from w.closes - w.opens) / 60;
            if remaining <= length_ then
                return w.opens + make_interval(secs => remaining * 60);
            end if;
            remaining := remaining - length_;
        end loop;
        chunk_start := chunk_start + interval '31 days';
    end loop;
    return null;
end;
$$;

comment on function private.add_business_minutes(uuid, timestamptz, numeric) is
'The instant that many business minutes of the hospital after from_at (null when it is not open '
'within a year).';

grant execute on function private.business_windows(uuid, timestamptz, timestamptz) to authenticated, service_role;
grant execute on function private.business_minutes(uuid, timestamptz, timestamptz) to authenticated, service_role;
grant execute on function private.add_business_minutes(uuid, timestamptz, numeric) to authenticated, service_role;
