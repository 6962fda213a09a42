-- Cal.com out (issue 14, item 3): a doctor's working hours and exceptions are pushed to their
-- Cal.com schedule (doctor_calendar_links.cal_schedule_id) when they change, by the same
-- worker as the bookings (sidecar/jobs/calendar_push.py).
--
-- A change of doctor_working_hours or doctor_availability_exceptions (or a link getting its
-- schedule id) bumps the doctor's version in private.calendar_schedule_pushes; the worker
-- claims the doctors whose version is ahead of the pushed one (rpc/claim_schedule_pushes: a
-- lease, `for update skip locked`), sends the schedule private.calendar_schedule computes (the
-- weekly hours valid today, each date with an exception as dated overrides), and reports
-- (rpc/complete_schedule_push / rpc/fail_schedule_push: backoff, then a
-- schedule_push_failed flag). Pushing a schedule is idempotent: the whole week and every
-- override are sent each time.

create table private.calendar_schedule_pushes (
    doctor_id uuid primary key references public.doctors (id) on delete cascade,
    version bigint not null default 1,
    pushed_version bigint not null default 0,
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    claim_token uuid,
    lease_until timestamptz,
    last_error text,
    pushed_at timestamptz
);

create index calendar_schedule_pushes_due_idx on private.calendar_schedule_pushes (next_attempt_at);

alter table private.calendar_schedule_pushes enable row level security;
revoke all on private.calendar_schedule_pushes from anon, authenticated, service_role;

comment on table private.calendar_schedule_pushes is
'Per doctor: the version of their working hours and exceptions, the version last pushed to '
'their Cal.com schedule, and the worker''s lease and attempts.';

create function private.mark_schedule_push(doctor uuid)
returns void
language sql
volatile
set search_path = ''
as $$
    insert into private.calendar_schedule_pushes as s (doctor_id)
    select mark_schedule_push.doctor
    where exists (
        select from public.doctor_calendar_links as l
        where l.doctor_id = mark_schedule_push.doctor and l.cal_schedule_id is not null
    )
    on conflict (doctor_id) do update
    set version = s.version + 1, attempts = 0, next_attempt_at = now(), last_error = null;
$$;

-- Security definer: the writer of working hours (a doctor, the front desk) cannot read the
-- link or write the push state.
create function private.mark_schedule_push_on_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op in ('UPDATE', 'DELETE') then
        perform private.mark_schedule_push(old.doctor_id);
    end if;
    if tg_op in ('INSERT', 'UPDATE') and (tg_op = 'INSERT' or new.doctor_id <> old.doctor_id) then
        perform private.mark_schedule_push(new.doctor_id);
    end if;
    return null;
end;
$$;

create trigger doctor_working_hours_mark_schedule_push
after insert or update or delete on public.doctor_working_hours
for each row execute function private.mark_schedule_push_on_change();

create trigger doctor_availability_exceptions_mark_schedule_push
after insert or update or delete on public.doctor_availability_exceptions
for each row execute function private.mark_schedule_push_on_change();

create trigger doctor_calendar_links_mark_schedule_push
after insert or update of cal_schedule_id on public.doctor_calendar_links
for each row when (new.cal_schedule_id is not null)
execute function private.mark_schedule_push_on_change();

-- The schedule as Cal.com's API v2 takes it, in the hospital's time zone:
-- {timeZone, availability [{days, startTime, endTime}], overrides [{date, startTime, endTime}]}.
-- The weekly hours are those valid today; every date within horizon_days that an exception
-- touches becomes overrides: that day's weekly hours, minus time off, plus extra hours
-- (00:00-00:00 closes the day; an end at midnight is 23:59, Cal.com's last minute).
create function private.calendar_schedule(doctor uuid, horizon_days integer default 90)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    day_names constant text[] := array['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
    zone text;
    today date;
    weekly jsonb;
    overrides jsonb := '[]';
    day date;
    open_hours tsmultirange;
begin
    select h.time_zone into zone
    from public.doctors as d
    inner join public.hospitals as h on h.id = d.hospital_id
    where d.id = calendar_schedule.doctor;
    today := (now() at time zone zone)::date;

    select coalesce(jsonb_agg(jsonb_build_object(
        'days', g.days, 'startTime', to_char(g.starts_at, 'HH24:MI'), 'endTime', to_char(g.ends_at, 'HH24:MI')
    ) order by g.starts_at, g.ends_at), '[]') into weekly
    from (
        select w.starts_at, w.ends_at, jsonb_agg(day_names[w.weekday] order by w.weekday) as days
        from public.doctor_working_hours as w
        where w.doctor_id = calendar_schedule.doctor
            and (w.valid_from is null or w.valid_from <= today)
            and (w.valid_until is null or w.valid_until >= today)
        group by w.starts_at, w.ends_at
    ) as g;

    for day in
        select distinct d.day::date
        from public.doctor_availability_exceptions as x,
            generate_series(
                (x.starts_at at time zone zone)::date, ((x.ends_at - interval '1 microsecond') at time zone zone)::date,
                interval '1 day'
            ) as d (day)
        where x.doctor_id = calendar_schedule.doctor and x.ends_at > now()
            and d.day::date between today and today + horizon_days
        order by 1
    loop
        select coalesce(range_agg(tsrange(day + w.starts_at, day + w.ends_at)), '{}'::tsmultirange) into open_hours
        from public.doctor_working_hours as w
        where w.doctor_id = calendar_schedule.doctor and w.weekday = extract(isodow from day)
            and (w.valid_from is null or w.valid_from <= day)
            and (w.valid_until is null or w.valid_until >= day);
        open_hours := open_hours - coalesce((
            select range_agg(tsrange(x.starts_at at time zone zone, x.ends_at at time zone zone))
            from public.doctor_availability_exceptions as x
            where x.doctor_id = calendar_schedule.doctor and x.kind = 'time_off'
        ), '{}'::tsmultirange);
        open_hours := open_hours + coalesce((
            select range_agg(tsrange(x.starts_at at time zone zone, x.ends_at at time zone zone))
            from public.doctor_availability_exceptions as x
            where x.doctor_id = calendar_schedule.doctor and x.kind = 'extra_hours'
        ), '{}'::tsmultirange);
        open_hours := open_hours * tsmultirange(tsrange(day::timestamp, (day + 1)::timestamp));
        if isempty(open_hours) then
            overrides := overrides || jsonb_build_object('date', day, 'startTime', '00:00', 'endTime', '00:00');
        else
            overrides := overrides || (
                select jsonb_agg(jsonb_build_object(
                    'date', day,
                    'startTime', to_char(lower(r.window_), 'HH24:MI'),
                    'endTime', case
                        when upper(r.window_) >= (day + 1)::timestamp then '23:59'
                        else to_char(upper(r.window_), 'HH24:MI')
                    end
                ) order by lower(r.window_))
                from unnest(open_hours) as r (window_)
            );
        end if;
    end loop;

    return jsonb_build_object('timeZone', zone, 'availability', weekly, 'overrides', overrides);
end;
$$;

comment on function private.calendar_schedule(uuid, integer) is
'A doctor''s working hours and exceptions as a Cal.com schedule {timeZone, availability, overrides}.';

-- Claim, complete, fail. Security definer: the push state, the links and the credentials are
-- private; the service role is the only caller.
create function private.claim_schedule_pushes(
    batch integer, lease interval, max_attempts integer, default_key boolean
)
returns table (
    doctor_id uuid, claim_token uuid, attempts integer, version bigint, hospital_id uuid, schedule_id bigint,
    schedule jsonb
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
    stale record;
begin
    perform private.check_claim_arguments(batch, lease, max_attempts);

    for stale in
        select x.doctor_id, x.claim_token, x.attempts
        from private.calendar_schedule_pushes as x
        where x.lease_until <= now() and x.attempts >= max_attempts
        for update skip locked
    loop
        perform private.fail_schedule_push(
            stale.doctor_id, stale.claim_token,
            format('the worker pushing it stopped answering (attempt %s of %s)', stale.attempts, max_attempts),
            true, max_attempts
        );
    end loop;

    return query
    with claimed as (
        update private.calendar_schedule_pushes as s
        set attempts = s.attempts + 1, claim_token = gen_random_uuid(), lease_until = now() + lease
        where s.doctor_id in (
            select x.doctor_id
            from private.calendar_schedule_pushes as x
            inner join public.doctor_calendar_links as l on l.doctor_id = x.doctor_id
            where x.next_attempt_at <= now()
                and (x.lease_until is null or x.lease_until <= now())
                and x.version > x.pushed_version
                and l.cal_schedule_id is not null
                and (
                    default_key
                    or exists (select from private.doctor_calendar_credentials as c where c.doctor_id = x.doctor_id)
                )
            order by x.next_attempt_at
            limit batch
            for update of x skip locked
        )
        returning s.*
    )

    select c.doctor_id, c.claim_token, c.attempts, c.version, l.hospital_id, l.cal_schedule_id,
        private.calendar_schedule(c.doctor_id)
    from claimed as c
    inner join public.doctor_calendar_links as l on l.doctor_id = c.doctor_id;
end;
$$;

create function public.claim_schedule_pushes(
    batch integer default 20, lease interval default '2 minutes', max_attempts integer default 5,
    default_key boolean default false
)
returns table (
    doctor_id uuid, claim_token uuid, attempts integer, version bigint, hospital_id uuid, schedule_id bigint,
    schedule jsonb
)
language sql
volatile
set search_path = ''
as $$
    select * from private.claim_schedule_pushes(
        claim_schedule_pushes.batch, claim_schedule_pushes.lease, claim_schedule_pushes.max_attempts,
        claim_schedule_pushes.default_key
    );
$$;

create function private.complete_schedule_push(doctor_id uuid, claim_token uuid, version bigint)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    push private.calendar_schedule_pushes;
begin
    update private.calendar_schedule_pushes as s
    set pushed_version = greatest(s.pushed_version, complete_schedule_push.version), pushed_at = now(),
        claim_token = null, lease_until = null, attempts = 0, last_error = null,
        next_attempt_at = case when s.version > complete_schedule_push.version then now() else 'infinity' end
    where s.doctor_id = complete_schedule_push.doctor_id and s.claim_token = complete_schedule_push.claim_token
    returning s.* into push;
    if push.doctor_id is null then
        return 'lost';
    end if;
    return case when push.version > push.pushed_version then 'pending' else 'synced' end;
end;
$$;

create function public.complete_schedule_push(doctor_id uuid, claim_token uuid, version bigint)
returns text
language sql
volatile
set search_path = ''
as $$
    select private.complete_schedule_push(
        complete_schedule_push.doctor_id, complete_schedule_push.claim_token, complete_schedule_push.version
    );
$$;

create function private.fail_schedule_push(
    doctor_id uuid, claim_token uuid, error text, permanent boolean, max_attempts integer
)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    push private.calendar_schedule_pushes;
    message text := left(coalesce(nullif(btrim(error), ''), 'unknown error'), 1000);
    doctor public.doctors;
begin
    select s.* into push
    from private.calendar_schedule_pushes as s
    where s.doctor_id = fail_schedule_push.doctor_id and s.claim_token = fail_schedule_push.claim_token
    for update;
    if push.doctor_id is null then
        return 'lost';
    end if;
    if permanent or push.attempts >= fail_schedule_push.max_attempts then
        select d.* into doctor from public.doctors as d where d.id = push.doctor_id;
        perform private.raise_calendar_flag(
            doctor.hospital_id, 'schedule_push_failed', null, null, doctor.id, null, null, null,
            jsonb_build_object('error', message, 'attempts', push.attempts)
        );
        update private.calendar_schedule_pushes as s
        set claim_token = null, lease_until = null, last_error = message, next_attempt_at = 'infinity'
        where s.doctor_id = push.doctor_id;
        return 'failed';
    end if;
    update private.calendar_schedule_pushes as s
    set claim_token = null, lease_until = null, last_error = message,
        next_attempt_at = now() + least(interval '1 hour', interval '30 seconds' * power(2, greatest(s.attempts - 1, 0)))
    where s.doctor_id = push.doctor_id;
    return 'retry';
end;
$$;

create function public.fail_schedule_push(
    doctor_id uuid, claim_token uuid, error text, permanent boolean default false, max_attempts integer default 5
)
returns text
language sql
volatile
set search_path = ''
as $$
    select private.fail_schedule_push(
        fail_schedule_push.doctor_id, fail_schedule_push.claim_token, fail_schedule_push.error,
        fail_schedule_push.permanent, fail_schedule_push.max_attempts
    );
$$;

revoke execute on function public.claim_schedule_pushes(integer, interval, integer, boolean) from authenticated;
revoke execute on function public.complete_schedule_push(uuid, uuid, bigint) from authenticated;
revoke execute on function public.fail_schedule_push(uuid, uuid, text, boolean, integer) from authenticated;
grant execute on function private.claim_schedule_pushes(integer, interval, integer, boolean) to service_role;
grant execute on function public.claim_schedule_pushes(integer, interval, integer, boolean) to service_role;
grant execute on function private.complete_schedule_push(uuid, uuid, bigint) to service_role;
grant execute on function public.complete_schedule_push(uuid, uuid, bigint) to service_role;
grant execute on function private.fail_schedule_push(uuid, uuid, text, boolean, integer) to service_role;
grant execute on function public.fail_schedule_push(uuid, uuid, text, boolean, integer) to service_role;

comment on function public.claim_schedule_pushes(integer, interval, integer, boolean) is
'Leases up to batch doctors whose working hours or exceptions changed since they were last '
'pushed to their Cal.com schedule (service role only: the worker), each with the schedule to '
'send ({timeZone, availability, overrides}) and the version it is.';
comment on function public.complete_schedule_push(uuid, uuid, bigint) is
'Records that a doctor''s schedule of this version reached Cal.com (service role only). '
'Answers synced, pending (changed again meanwhile: pushed again) or lost.';
comment on function public.fail_schedule_push(uuid, uuid, text, boolean, integer) is
'Records a failed schedule push (service role only): retry with backoff, or failed (permanent '
'or max_attempts reached: a schedule_push_failed flag for the hospital).';
