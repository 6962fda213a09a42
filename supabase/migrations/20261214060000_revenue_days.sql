-- The revenue reports from a per-day summary (issue 18; bench/REPORT.md "Revenue reports over 1M
-- payments": a 30-day report took 5-7 s and a year's ~25 s, joining the period's events to their
-- invoices and lines). The summary is kept in the same transaction as the billing writes, by
-- triggers on invoices, credit notes, payments and refunds (and on an appointment's doctor and a
-- hospital's time zone), so a report is exact and current; it reads at most a row per day and
-- group of the period.
--
--   private.revenue_days          per hospital, local day, service (catalogue service, else the
--                                 line's text), doctor and insurer: billed (issues less credit
--                                 notes), collected (captures less refunds), credited, refunded;
--                                 each event spread over its invoice's lines by their share,
--                                 exactly as private.revenue_facts spreads it (the same numeric
--                                 expression; sums of numeric are exact, so the report's rounded
--                                 sums are the facts' own).
--   private.revenue_invoice_days  per invoice, the local days it has events on (and how many).
--   private.revenue_day_invoices  the distinct-invoice counts: an invoice counts in a period when
--                                 one of its event days falls in it, i.e. exactly once at its
--                                 first day there, the day whose previous event day (kept in the
--                                 row) lies before the period. So a period's count is a sum over
--                                 its days of the rows whose previous_day < start (or null).
--                                 Rows per invoice level (per_service false: month, doctor,
--                                 insurer) and per service of its lines (per_service true).
--   private.revenue_money_days    per hospital and day, the financial snapshot's figures:
--                                 invoiced (totals of issued invoices), captured payments and
--                                 processed refunds, with their counts.
--
-- Locks: every billing event upserts its hospital-day row of revenue_money_days first, then the
-- day's group rows, and holds them until commit: one hot row per hospital-day. That adds no
-- wait: every write to invoices, credit notes, payments and refunds is audited, and the audit
-- trigger (audit_row_change, which fires before the revenue_summary triggers of the same row)
-- locks the single audit.chain_head row until commit, so billing writers already take turns from
-- their first audited write on; the summary's rows are always locked after it, hence no new
-- deadlock either. (Issues also queue on the hospital's invoice counter, counter payments on its
-- receipt counter.) A hot row in the billing transaction was chosen over a periodic refresh
-- because money reports must be exact and current; should the audit chain ever stop
-- serializing, writers of one hospital-day would still queue on its row in a fixed order.
--
-- Repair and audit: private.revenue_summary_rebuild(hospital) recomputes a hospital's summary
-- from the billing tables (used below for the existing rows, by the seed loader and the bench
-- after their bulk loads with triggers off); private.revenue_summary_differences(hospital) lists
-- the rows where the kept summary and the recomputation differ (none when consistent).

create table private.revenue_days (
    id bigint generated always as identity primary key,
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    day date not null,
    service_id uuid,
    description text,
    doctor_id uuid,
    insurer text not null,
    billed numeric not null default 0,
    collected numeric not null default 0,
    credited numeric not null default 0,
    refunded numeric not null default 0,
    constraint revenue_days_key unique nulls not distinct (
        hospital_id, day, service_id, description, doctor_id, insurer
    )
);

comment on table private.revenue_days is
'Revenue per hospital, local day, service (service_id, else the line''s description), doctor and '
'insurer: billed (issues less credit notes), collected (captures less refunds), credited and '
'refunded, each event spread over its invoice''s lines. Kept by the billing triggers.';

create table private.revenue_invoice_days (
    invoice_id uuid not null,
    day date not null,
    events integer not null,
    primary key (invoice_id, day)
);

comment on table private.revenue_invoice_days is
'The local days on which an invoice has revenue events (issue, credit notes, captures, refunds), '
'with their number; no foreign key: issued invoices are never removed, and bulk rebuilds stay fast.';

create table private.revenue_day_invoices (
    id bigint generated always as identity primary key,
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    day date not null,
    previous_day date,
    per_service boolean not null,
    service_id uuid,
    description text,
    doctor_id uuid,
    insurer text not null,
    invoices integer not null default 0,
    constraint revenue_day_invoices_key unique nulls not distinct (
        hospital_id, day, previous_day, per_service, service_id, description, doctor_id, insurer
    )
);

comment on table private.revenue_day_invoices is
'Invoices with an event on day whose previous event day is previous_day (null: none), per '
'invoice (per_service false) or per service of its lines: the distinct invoices of a period are '
'the sum over its days of the rows whose previous_day lies before the period.';

create table private.revenue_money_days (
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    day date not null,
    invoiced numeric not null default 0,
    payments integer not null default 0,
    captured numeric not null default 0,
    refunds integer not null default 0,
    refunded numeric not null default 0,
    primary key (hospital_id, day)
);

comment on table private.revenue_money_days is
'Per hospital and local day: the totals of the invoices issued, the captured payments and the '
'processed refunds (amounts and counts), for the financial snapshot.';

-- A typed line's text (no catalogue service) may name a person, as the line's own does.
insert into private.personal_data_columns (table_name, column_name, kind, note) values
('private.revenue_days', 'description', 'free_text', null),
('private.revenue_day_invoices', 'description', 'free_text', null);

-- The service key of a line: its catalogue service, else its text (labels are resolved when read,
-- so a renamed service shows its new name, as the facts do).
create function private.revenue_line_description(service_id uuid, description text)
returns text
language sql
immutable
set search_path = ''
as $$
    select case when service_id is null then description end;
$$;

comment on function private.revenue_line_description(uuid, text) is
'The description kept for a line''s revenue: null when it has a catalogue service (named when read).';

-- Counts an invoice once more (sign 1) or once less (-1) at day after previous_day: at invoice
-- level and at each service of its lines.
create function private.revenue_count(
    invoice uuid, hospital uuid, doctor uuid, insurer text, day date, previous_day date, sign integer
)
returns void
language sql
security definer
set search_path = ''
as $$
    insert into private.revenue_day_invoices as c (
        hospital_id, day, previous_day, per_service, service_id, description, doctor_id, insurer, invoices
    )
    select hospital, day, previous_day, false, null, null, doctor, insurer, sign
    union all
    select distinct
        hospital, day, previous_day, true, l.service_id,
        private.revenue_line_description(l.service_id, l.description), doctor, insurer, sign
    from public.invoice_lines as l
    where l.invoice_id = invoice
    order by 4, 5, 6
    on conflict on constraint revenue_day_invoices_key do update set invoices = c.invoices + excluded.invoices;
$$;

comment on function private.revenue_count(uuid, uuid, uuid, text, date, date, integer) is
'Adds sign to the invoice''s counts at day after previous_day (invoice level and each service).';

-- One revenue event of an invoice added (sign 1) or taken back (-1): an issue (amount: its total),
-- a credit note, a captured payment or a processed refund (amount: theirs) at moment.
create function private.revenue_post(
    invoice uuid, moment timestamptz, kind text, amount numeric, sign integer,
    doctor_given boolean default false, given_doctor uuid default null
)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
    i record;
    -- As private.revenue_facts signs it: billed for issues and credit notes, collected for
    -- captures and refunds.
    signed numeric := case when revenue_post.kind in ('issue', 'capture') then revenue_post.amount else -revenue_post.amount end;
    written integer;
    day_events integer;
    prev_day date;
    next_day date;
begin
    if moment is null then
        return;
    end if;
    select
        inv.hospital_id,
        inv.status,
        inv.total,
        coalesce(nullif(btrim(inv.insurer_name), ''), 'Self-pay') as insurer,
        case when doctor_given then given_doctor else a.doctor_id end as doctor_id,
        (moment at time zone h.time_zone)::date as day
    into i
    from public.invoices as inv
    join public.hospitals as h on h.id = inv.hospital_id
    left join public.appointments as a on a.id = inv.appointment_id
    where inv.id = revenue_post.invoice;
    if not found then
        return;
    end if;
    -- The hospital's day first: the writers of a day queue here (see the header).
    insert into private.revenue_money_days as m (hospital_id, day, invoiced, payments, captured, refunds, refunded)
    values (
        i.hospital_id, i.day,
        case when revenue_post.kind = 'issue' then sign * revenue_post.amount else 0 end,
        case when revenue_post.kind = 'capture' then sign else 0 end,
        case when revenue_post.kind = 'capture' then sign * revenue_post.amount else 0 end,
        case when revenue_post.kind = 'refund' then sign else 0 end,
        case when revenue_post.kind = 'refund' then sign * revenue_post.amount else 0 end
    )
    on conflict on constraint revenue_money_days_pkey do update set
        invoiced = m.invoiced + excluded.invoiced,
        payments = m.payments + excluded.payments,
        captured = m.captured + excluded.captured,
        refunds = m.refunds + excluded.refunds,
        refunded = m.refunded + excluded.refunded;
    -- The reports count what private.revenue_facts counts: issued invoices with a total.
    if i.status = 'draft' or i.total <= 0 then
        return;
    end if;
    insert into private.revenue_days as r (
        hospital_id, day, service_id, description, doctor_id, insurer, billed, collected, credited, refunded
    )
    select
        i.hospital_id,
        i.day,
        l.service_id,
        private.revenue_line_description(l.service_id, l.description),
        i.doctor_id,
        i.insurer,
        sign * coalesce(sum(signed * l.line_total / i.total) filter (where revenue_post.kind in ('issue', 'credit')), 0),
        sign * coalesce(sum(signed * l.line_total / i.total) filter (where revenue_post.kind in ('capture', 'refund')), 0),
        sign * coalesce(sum(revenue_post.amount * l.line_total / i.total) filter (where revenue_post.kind = 'credit'), 0),
        sign * coalesce(sum(revenue_post.amount * l.line_total / i.total) filter (where revenue_post.kind = 'refund'), 0)
    from public.invoice_lines as l
    where l.invoice_id = revenue_post.invoice
    group by l.service_id, private.revenue_line_description(l.service_id, l.description)
    order by 3, 4
    on conflict on constraint revenue_days_key do update set
        billed = r.billed + excluded.billed,
        collected = r.collected + excluded.collected,
        credited = r.credited + excluded.credited,
        refunded = r.refunded + excluded.refunded;
    get diagnostics written = row_count;
    if written = 0 then
        return; -- no lines, no facts
    end if;
    insert into private.revenue_invoice_days as d (invoice_id, day, events)
    values (revenue_post.invoice, i.day, sign)
    on conflict on constraint revenue_invoice_days_pkey do update set events = d.events + excluded.events
    returning d.events into day_events;
    if sign > 0 and day_events = 1 or sign < 0 and day_events = 0 then
        -- A day the invoice had no event on before, or has none on now: its neighbours' links move.
        if day_events = 0 then
            delete from private.revenue_invoice_days as d
            where d.invoice_id = revenue_post.invoice and d.day = i.day;
        end if;
        select max(d.day) filter (where d.day < i.day), min(d.day) filter (where d.day > i.day)
        into prev_day, next_day
        from private.revenue_invoice_days as d
        where d.invoice_id = revenue_post.invoice;
        if next_day is not null then
            perform private.revenue_count(invoice, i.hospital_id, i.doctor_id, i.insurer, next_day, prev_day, -sign);
            perform private.revenue_count(invoice, i.hospital_id, i.doctor_id, i.insurer, next_day, i.day, sign);
        end if;
        perform private.revenue_count(invoice, i.hospital_id, i.doctor_id, i.insurer, i.day, prev_day, sign);
    end if;
end;
$$;

comment on function private.revenue_post(uuid, timestamptz, text, numeric, integer, boolean, uuid) is
'Adds (sign 1) or takes back (-1) one revenue event of an invoice (issue, credit, capture, refund) '
'in the revenue summary, in the caller''s transaction (as given_doctor''s when doctor_given).';

-- Every event of an invoice added or taken back (an appointment's doctor changes its rows).
create function private.revenue_post_invoice(
    invoice uuid, sign integer, doctor_given boolean default false, given_doctor uuid default null
)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform private.revenue_post(invoice, e.at, e.kind, e.amount, sign, doctor_given, given_doctor)
    from (
        select i.issued_at as at, 'issue' as kind, i.total as amount from public.invoices as i
        where i.id = invoice and i.status <> 'draft'
        union all
        select c.issued_at, 'credit', c.amount from public.credit_notes as c
        where c.invoice_id = invoice
        union all
        select p.captured_at, 'capture', p.amount from public.payments as p
        where p.invoice_id = invoice and p.status = 'captured'
        union all
        select r.processed_at, 'refund', r.amount from public.refunds as r
        join public.payments as p on p.id = r.payment_id
        where p.invoice_id = invoice and r.status = 'processed'
    ) as e;
end;
$$;

comment on function private.revenue_post_invoice(uuid, integer, boolean, uuid) is
'Adds (1) or takes back (-1) every revenue event of an invoice in the summary.';

-- Triggers ----------------------------------------------------------------------------------------
create function private.revenue_on_invoice()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op <> 'INSERT' and old.status <> 'draft' then
        perform private.revenue_post(old.id, old.issued_at, 'issue', old.total, -1);
    end if;
    if tg_op <> 'DELETE' and new.status <> 'draft' then
        perform private.revenue_post(new.id, new.issued_at, 'issue', new.total, 1);
    end if;
    return null;
end;
$$;

comment on function private.revenue_on_invoice() is
'Trigger: an invoice''s issue (total, day) in the revenue summary.';

create trigger revenue_summary_insert
after insert on public.invoices
for each row when (new.status <> 'draft')
execute function private.revenue_on_invoice();

create trigger revenue_summary_update
after update of status, issued_at, total on public.invoices
for each row when (
    (old.status = 'draft') <> (new.status = 'draft')
    or (new.status <> 'draft' and (old.issued_at, old.total) is distinct from (new.issued_at, new.total))
)
execute function private.revenue_on_invoice();

create trigger revenue_summary_delete
after delete on public.invoices
for each row when (old.status <> 'draft')
execute function private.revenue_on_invoice();

create function private.revenue_on_credit_note()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op <> 'INSERT' then
        perform private.revenue_post(old.invoice_id, old.issued_at, 'credit', old.amount, -1);
    end if;
    if tg_op <> 'DELETE' then
        perform private.revenue_post(new.invoice_id, new.issued_at, 'credit', new.amount, 1);
    end if;
    return null;
end;
$$;

comment on function private.revenue_on_credit_note() is 'Trigger: a credit note in the revenue summary.';

create trigger revenue_summary
after insert or delete on public.credit_notes
for each row execute function private.revenue_on_credit_note();

create trigger revenue_summary_update
after update on public.credit_notes
for each row when (
    (old.invoice_id, old.issued_at, old.amount) is distinct from (new.invoice_id, new.issued_at, new.amount)
)
execute function private.revenue_on_credit_note();

create function private.revenue_on_payment()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op <> 'INSERT' and old.status = 'captured' then
        perform private.revenue_post(old.invoice_id, old.captured_at, 'capture', old.amount, -1);
    end if;
    if tg_op <> 'DELETE' and new.status = 'captured' then
        perform private.revenue_post(new.invoice_id, new.captured_at, 'capture', new.amount, 1);
    end if;
    return null;
end;
$$;

comment on function private.revenue_on_payment() is 'Trigger: a captured payment in the revenue summary.';

create trigger revenue_summary
after insert or delete on public.payments
for each row execute function private.revenue_on_payment();

create trigger revenue_summary_update
after update on public.payments
for each row when (
    (old.status = 'captured' or new.status = 'captured')
    and (old.status, old.invoice_id, old.captured_at, old.amount)
    is distinct from (new.status, new.invoice_id, new.captured_at, new.amount)
)
execute function private.revenue_on_payment();

create function private.revenue_on_refund()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op <> 'INSERT' and old.status = 'processed' then
        perform private.revenue_post(
            (select p.invoice_id from public.payments as p where p.id = old.payment_id),
            old.processed_at, 'refund', old.amount, -1
        );
    end if;
    if tg_op <> 'DELETE' and new.status = 'processed' then
        perform private.revenue_post(
            (select p.invoice_id from public.payments as p where p.id = new.payment_id),
            new.processed_at, 'refund', new.amount, 1
        );
    end if;
    return null;
end;
$$;

comment on function private.revenue_on_refund() is 'Trigger: a processed refund in the revenue summary.';

create trigger revenue_summary
after insert or delete on public.refunds
for each row execute function private.revenue_on_refund();

create trigger revenue_summary_update
after update on public.refunds
for each row when (
    (old.status = 'processed' or new.status = 'processed')
    and (old.status, old.payment_id, old.processed_at, old.amount)
    is distinct from (new.status, new.payment_id, new.processed_at, new.amount)
)
execute function private.revenue_on_refund();

-- An appointment's doctor names the doctor of its invoice's revenue: its rows move, taken back
-- as the old doctor's and added as the new one's (after the row's audit entry, as every summary
-- write: see the header on locks).
create function private.revenue_on_appointment_doctor()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform private.revenue_post_invoice(i.id, -1, true, old.doctor_id), private.revenue_post_invoice(i.id, 1)
    from public.invoices as i
    where i.appointment_id = new.id and i.status <> 'draft';
    return null;
end;
$$;

comment on function private.revenue_on_appointment_doctor() is
'Trigger: the revenue of an appointment''s invoices moves to its new doctor.';

create trigger revenue_summary_doctor
after update of doctor_id on public.appointments
for each row when (old.doctor_id is distinct from new.doctor_id)
execute function private.revenue_on_appointment_doctor();

-- Recomputation from the billing tables ------------------------------------------------------------
-- The revenue events of a hospital's invoices as private.revenue_facts reads them (issued
-- invoices with a total and lines), dated in the hospital's time zone.
create function private.revenue_events(hospital uuid)
returns table (
    invoice_id uuid, day date, kind text, signed numeric, amount numeric, total numeric, doctor_id uuid, insurer text
)
language sql
stable
security definer
set search_path = ''
as $$
    with zone as (
        select h.time_zone from public.hospitals as h
        where h.id = hospital
    ),

    invoices as (
        select
            i.id,
            i.total,
            i.issued_at,
            coalesce(nullif(btrim(i.insurer_name), ''), 'Self-pay') as insurer,
            a.doctor_id
        from public.invoices as i
        left join public.appointments as a on a.id = i.appointment_id
        where i.hospital_id = hospital and i.status <> 'draft' and i.total > 0
            and exists (select from public.invoice_lines as l where l.invoice_id = i.id)
    ),

    events as (
        select i.id as invoice_id, i.issued_at as at, 'issue' as kind, i.total as amount from invoices as i
        union all
        select c.invoice_id, c.issued_at, 'credit', c.amount from public.credit_notes as c
        where c.hospital_id = hospital
        union all
        select p.invoice_id, p.captured_at, 'capture', p.amount from public.payments as p
        where p.hospital_id = hospital and p.status = 'captured'
        union all
        select p.invoice_id, r.processed_at, 'refund', r.amount from public.refunds as r
        join public.payments as p on p.id = r.payment_id
        where r.hospital_id = hospital and r.status = 'processed'
    )

    select
        e.invoice_id,
        (e.at at time zone z.time_zone)::date,
        e.kind,
        case when e.kind in ('issue', 'capture') then e.amount else -e.amount end,
        e.amount,
        i.total,
        i.doctor_id,
        i.insurer
    from events as e
    join invoices as i on i.id = e.invoice_id
    cross join zone as z
    where e.at is not null;
$$;

comment on function private.revenue_events(uuid) is
'A hospital''s revenue events (issue, credit, capture, refund) of its issued invoices with a total, '
'per local day, as private.revenue_facts reads them: the recomputation of the summary.';

create function private.revenue_days_computed(hospital uuid)
returns table (
    hospital_id uuid, day date, service_id uuid, description text, doctor_id uuid, insurer text,
    billed numeric, collected numeric, credited numeric, refunded numeric
)
language sql
stable
security definer
set search_path = ''
as $$
    select
        hospital,
        e.day,
        l.service_id,
        private.revenue_line_description(l.service_id, l.description),
        e.doctor_id,
        e.insurer,
        coalesce(sum(e.signed * l.line_total / e.total) filter (where e.kind in ('issue', 'credit')), 0),
        coalesce(sum(e.signed * l.line_total / e.total) filter (where e.kind in ('capture', 'refund')), 0),
        coalesce(sum(e.amount * l.line_total / e.total) filter (where e.kind = 'credit'), 0),
        coalesce(sum(e.amount * l.line_total / e.total) filter (where e.kind = 'refund'), 0)
    from private.revenue_events(hospital) as e
    join public.invoice_lines as l on l.invoice_id = e.invoice_id
    group by 2, 3, 4, 5, 6;
$$;

comment on function private.revenue_days_computed(uuid) is
'private.revenue_days of a hospital recomputed from the billing tables.';

create function private.revenue_invoice_days_computed(hospital uuid)
returns table (invoice_id uuid, day date, events integer, previous_day date, doctor_id uuid, insurer text)
language sql
stable
security definer
set search_path = ''
as $$
    select
        e.invoice_id,
        e.day,
        count(*)::integer,
        lag(e.day) over (partition by e.invoice_id order by e.day),
        e.doctor_id,
        e.insurer
    from private.revenue_events(hospital) as e
    group by e.invoice_id, e.day, e.doctor_id, e.insurer;
$$;

comment on function private.revenue_invoice_days_computed(uuid) is
'private.revenue_invoice_days of a hospital recomputed, with each day''s previous event day.';

create function private.revenue_day_invoices_computed(hospital uuid)
returns table (
    hospital_id uuid, day date, previous_day date, per_service boolean, service_id uuid, description text,
    doctor_id uuid, insurer text, invoices integer
)
language sql
stable
security definer
set search_path = ''
as $$
    with days as (
        select d.* from private.revenue_invoice_days_computed(hospital) as d
    ),

    services as (
        select distinct l.invoice_id, l.service_id, private.revenue_line_description(l.service_id, l.description) as description
        from public.invoice_lines as l
        where l.hospital_id = hospital
    )

    select hospital, d.day, d.previous_day, false, null::uuid, null::text, d.doctor_id, d.insurer, count(*)::integer
    from days as d
    group by d.day, d.previous_day, d.doctor_id, d.insurer
    union all
    select hospital, d.day, d.previous_day, true, s.service_id, s.description, d.doctor_id, d.insurer, count(*)::integer
    from days as d
    join services as s on s.invoice_id = d.invoice_id
    group by d.day, d.previous_day, s.service_id, s.description, d.doctor_id, d.insurer;
$$;

comment on function private.revenue_day_invoices_computed(uuid) is
'private.revenue_day_invoices of a hospital recomputed from the billing tables.';

create function private.revenue_money_days_computed(hospital uuid)
returns table (
    hospital_id uuid, day date, invoiced numeric, payments integer, captured numeric, refunds integer, refunded numeric
)
language sql
stable
security definer
set search_path = ''
as $$
    select
        hospital,
        (m.at at time zone h.time_zone)::date,
        coalesce(sum(m.amount) filter (where m.kind = 'issue'), 0),
        (count(*) filter (where m.kind = 'capture'))::integer,
        coalesce(sum(m.amount) filter (where m.kind = 'capture'), 0),
        (count(*) filter (where m.kind = 'refund'))::integer,
        coalesce(sum(m.amount) filter (where m.kind = 'refund'), 0)
    from (
        select i.issued_at as at, 'issue' as kind, i.total as amount from public.invoices as i
        where i.hospital_id = hospital and i.status <> 'draft'
        union all
        select p.captured_at, 'capture', p.amount from public.payments as p
        where p.hospital_id = hospital and p.status = 'captured'
        union all
        select r.processed_at, 'refund', r.amount from public.refunds as r
        where r.hospital_id = hospital and r.status = 'processed'
    ) as m
    cross join public.hospitals as h
    where h.id = hospital and m.at is not null
    group by 2;
$$;

comment on function private.revenue_money_days_computed(uuid) is
'private.revenue_money_days of a hospital recomputed from the billing tables.';

-- Repair: a hospital's summary recomputed (the backfill below; the seed loader and the bench after
-- a bulk load with the triggers off; a hospital's new time zone).
create function private.revenue_summary_rebuild(hospital uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    delete from private.revenue_days as r where r.hospital_id = hospital;
    delete from private.revenue_day_invoices as c where c.hospital_id = hospital;
    delete from private.revenue_money_days as m where m.hospital_id = hospital;
    delete from private.revenue_invoice_days as d
    using public.invoices as i
    where i.id = d.invoice_id and i.hospital_id = hospital;
    insert into private.revenue_days (
        hospital_id, day, service_id, description, doctor_id, insurer, billed, collected, credited, refunded
    )
    select c.* from private.revenue_days_computed(hospital) as c;
    insert into private.revenue_invoice_days (invoice_id, day, events)
    select c.invoice_id, c.day, c.events from private.revenue_invoice_days_computed(hospital) as c;
    insert into private.revenue_day_invoices (
        hospital_id, day, previous_day, per_service, service_id, description, doctor_id, insurer, invoices
    )
    select c.* from private.revenue_day_invoices_computed(hospital) as c;
    insert into private.revenue_money_days (hospital_id, day, invoiced, payments, captured, refunds, refunded)
    select c.* from private.revenue_money_days_computed(hospital) as c;
end;
$$;

comment on function private.revenue_summary_rebuild(uuid) is
'Recomputes a hospital''s revenue summary from the billing tables (repair; after bulk loads).';

-- Audit: the rows where the kept summary and the recomputation differ (rows that net to zero are
-- left out on both sides).
create function private.revenue_summary_differences(hospital uuid)
returns table (summary text, side text, row_data jsonb)
language sql
stable
security definer
set search_path = ''
as $$
    with kept_days as (
        select r.hospital_id, r.day, r.service_id, r.description, r.doctor_id, r.insurer,
            r.billed, r.collected, r.credited, r.refunded
        from private.revenue_days as r
        where r.hospital_id = hospital and (r.billed, r.collected, r.credited, r.refunded) <> (0, 0, 0, 0)
    ),

    computed_days as (
        select c.* from private.revenue_days_computed(hospital) as c
        where (c.billed, c.collected, c.credited, c.refunded) <> (0, 0, 0, 0)
    ),

    kept_counts as (
        select c.hospital_id, c.day, c.previous_day, c.per_service, c.service_id, c.description, c.doctor_id,
            c.insurer, c.invoices
        from private.revenue_day_invoices as c
        where c.hospital_id = hospital and c.invoices <> 0
    ),

    computed_counts as (
        select c.* from private.revenue_day_invoices_computed(hospital) as c
    ),

    kept_invoice_days as (
        select d.invoice_id, d.day, d.events from private.revenue_invoice_days as d
        join public.invoices as i on i.id = d.invoice_id
        where i.hospital_id = hospital
    ),

    computed_invoice_days as (
        select c.invoice_id, c.day, c.events from private.revenue_invoice_days_computed(hospital) as c
    ),

    kept_money as (
        select m.hospital_id, m.day, m.invoiced, m.payments, m.captured, m.refunds, m.refunded
        from private.revenue_money_days as m
        where m.hospital_id = hospital and (m.invoiced, m.payments, m.captured, m.refunds, m.refunded) <> (0, 0, 0, 0, 0)
    ),

    computed_money as (
        select c.* from private.revenue_money_days_computed(hospital) as c
        where (c.invoiced, c.payments, c.captured, c.refunds, c.refunded) <> (0, 0, 0, 0, 0)
    )

    select 'revenue_days', 'kept', to_jsonb(x) from (select * from kept_days except all select * from computed_days) as x
    union all
    select 'revenue_days', 'recomputed', to_jsonb(x)
    from (select * from computed_days except all select * from kept_days) as x
    union all
    select 'revenue_day_invoices', 'kept', to_jsonb(x)
    from (select * from kept_counts except all select * from computed_counts) as x
    union all
    select 'revenue_day_invoices', 'recomputed', to_jsonb(x)
    from (select * from computed_counts except all select * from kept_counts) as x
    union all
    select 'revenue_invoice_days', 'kept', to_jsonb(x)
    from (select * from kept_invoice_days except all select * from computed_invoice_days) as x
    union all
    select 'revenue_invoice_days', 'recomputed', to_jsonb(x)
    from (select * from computed_invoice_days except all select * from kept_invoice_days) as x
    union all
    select 'revenue_money_days', 'kept', to_jsonb(x)
    from (select * from kept_money except all select * from computed_money) as x
    union all
    select 'revenue_money_days', 'recomputed', to_jsonb(x)
    from (select * from computed_money except all select * from kept_money) as x;
$$;

comment on function private.revenue_summary_differences(uuid) is
'Audit: the rows of a hospital''s revenue summary that differ from the recomputation (kept: only in '
'the summary; recomputed: only in the recomputation); none when they agree.';

create function private.revenue_on_hospital_time_zone()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform private.revenue_summary_rebuild(new.id);
    return null;
end;
$$;

comment on function private.revenue_on_hospital_time_zone() is
'Trigger: a hospital''s new time zone re-dates its revenue summary.';

create trigger revenue_summary_time_zone
after update of time_zone on public.hospitals
for each row when (old.time_zone is distinct from new.time_zone)
execute function private.revenue_on_hospital_time_zone();

-- The reports --------------------------------------------------------------------------------------
-- The revenue report as it was computed before the summary, from private.revenue_facts: kept to
-- prove the summary's figures equal (pgTAP) and to audit them. No reach check: private.
create function private.report_revenue_from_facts(
    hospital uuid, doctor uuid, start_date date, end_date date, group_by text
)
returns table (key text, invoices bigint, billed numeric, collected numeric)
language sql
stable
security definer
set search_path = ''
as $$
    select x.key, count(distinct x.invoice_id), round(sum(x.billed), 2), round(sum(x.collected), 2)
    from (
        select
            case group_by
                when 'month' then to_char(f.day, 'YYYY-MM')
                when 'service' then f.service
                when 'doctor' then coalesce(f.doctor_id::text, 'none')
                else f.insurer
            end as key,
            f.invoice_id,
            f.billed,
            f.collected
        from private.revenue_facts(hospital, doctor, start_date, end_date) as f
    ) as x
    group by x.key
    order by x.key;
$$;

comment on function private.report_revenue_from_facts(uuid, uuid, date, date, text) is
'The revenue report''s groups (key, invoices, billed, collected) computed from the facts, as before '
'the summary: for proofs and audits that the summary-based report is the same.';

-- The revenue report's groups from the summary: at most a row per day and group of the period.
create function private.revenue_groups(hospital uuid, doctor uuid, start_date date, end_date date, group_by text)
returns table (key text, invoices bigint, billed numeric, collected numeric)
language sql
stable
security definer
set search_path = ''
as $$
    with counted as (
        select
            case group_by
                when 'month' then to_char(c.day, 'YYYY-MM')
                when 'service' then coalesce(s.code || ' ' || s.name, c.description)
                when 'doctor' then coalesce(c.doctor_id::text, 'none')
                else c.insurer
            end as key,
            sum(c.invoices) as invoices
        from private.revenue_day_invoices as c
        left join public.billing_services as s on s.id = c.service_id
        where c.hospital_id = hospital and c.day between start_date and end_date
            and c.per_service = (group_by = 'service')
            and (doctor is null or c.doctor_id = doctor)
            and (c.previous_day is null or c.previous_day < case
                when group_by = 'month' then greatest(start_date, date_trunc('month', c.day)::date)
                else start_date
            end)
        group by 1
    ),

    amounts as (
        select
            case group_by
                when 'month' then to_char(r.day, 'YYYY-MM')
                when 'service' then coalesce(s.code || ' ' || s.name, r.description)
                when 'doctor' then coalesce(r.doctor_id::text, 'none')
                else r.insurer
            end as key,
            sum(r.billed) as billed,
            sum(r.collected) as collected
        from private.revenue_days as r
        left join public.billing_services as s on s.id = r.service_id
        where r.hospital_id = hospital and r.day between start_date and end_date
            and (doctor is null or r.doctor_id = doctor)
        group by 1
    )

    select c.key, c.invoices::bigint, round(coalesce(a.billed, 0), 2), round(coalesce(a.collected, 0), 2)
    from counted as c
    left join amounts as a on a.key is not distinct from c.key
    where c.invoices > 0
    order by c.key;
$$;

comment on function private.revenue_groups(uuid, uuid, date, date, text) is
'The revenue report''s groups (key, invoices, billed, collected) from the summary: the same figures '
'as private.report_revenue_from_facts.';

create or replace function private.report_revenue(hospital_id uuid, start_date date, end_date date, group_by text)
returns table (
    dimension text, key text, label text, invoices bigint, billed numeric, collected numeric, currency text
)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    doctor uuid := private.report_scope(report_revenue.hospital_id);
begin
    perform private.check_report_period(start_date, end_date);
    if report_revenue.group_by not in ('month', 'service', 'doctor', 'insurer') then
        perform private.raise_invalid('group_by is month, service, doctor or insurer', 'unknown_grouping');
    end if;
    return query
    select
        report_revenue.group_by,
        private.csv_safe(x.key),
        private.csv_safe(case
            when report_revenue.group_by = 'doctor' then coalesce(
                (select p.full_name from public.doctors as d join public.profiles as p on p.id = d.user_id
                    where d.id::text = x.key),
                'No appointment'
            )
            else x.key
        end),
        x.invoices,
        x.billed,
        x.collected,
        'INR'::text
    from private.revenue_groups(report_revenue.hospital_id, doctor, start_date, end_date, report_revenue.group_by) as x
    order by x.key;
end;
$$;

-- What was collected in a period (captures less refunds), a doctor's visits' only when doctor is
-- given: the dashboard's revenue.
create function private.revenue_collected(hospital uuid, doctor uuid, start_date date, end_date date)
returns numeric
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(round(sum(r.collected), 2), 0)
    from private.revenue_days as r
    where r.hospital_id = hospital and r.day between start_date and end_date
        and (doctor is null or r.doctor_id = doctor);
$$;

comment on function private.revenue_collected(uuid, uuid, date, date) is
'The revenue collected (captures less refunds) in a period, of a doctor''s visits when doctor is given.';

create or replace function private.report_dashboard(hospital_id uuid, start_date date, end_date date)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    doctor uuid := private.report_scope(report_dashboard.hospital_id);
    visits record;
    answer jsonb;
begin
    perform private.check_report_period(start_date, end_date);
    -- The appointments report once (it dates every visit of the period), for three figures.
    select
        coalesce(sum(a.total), 0) as total,
        coalesce(sum(a.completed), 0) as completed,
        round(sum(a.average_wait_minutes * a.completed) / nullif(sum(a.completed) filter (
            where a.average_wait_minutes is not null
        ), 0), 1) as wait
    into visits
    from private.report_appointments(report_dashboard.hospital_id, start_date, end_date) as a;
    select jsonb_build_object(
        'hospital_id', report_dashboard.hospital_id,
        'scope', case when doctor is null then 'hospital' else 'doctor' end,
        'start_date', start_date,
        'end_date', end_date,
        'total_patients', (
            select count(*) from public.patient_registrations as r
            where r.hospital_id = report_dashboard.hospital_id and r.deleted_at is null
                and (doctor is null or exists (
                    select from public.appointments as a
                    where a.patient_id = r.patient_id and a.hospital_id = r.hospital_id and a.doctor_id = doctor
                ))
        ),
        'active_patients', (
            select count(distinct a.patient_id) from public.appointments as a
            where a.hospital_id = report_dashboard.hospital_id and a.status not in ('cancelled', 'no_show')
                and a.starts_at >= (start_date - 1)::timestamptz and a.starts_at < (end_date + 2)::timestamptz
                and private.hospital_day(a.hospital_id, a.starts_at) between start_date and end_date
                and (doctor is null or a.doctor_id = doctor)
        ),
        'new_patients', (select coalesce(sum(p.new_patients), 0) from private.report_patients(
            report_dashboard.hospital_id, start_date, end_date
        ) as p),
        'total_appointments', visits.total,
        'completed_appointments', visits.completed,
        'revenue', private.revenue_collected(report_dashboard.hospital_id, doctor, start_date, end_date),
        'pending_invoices', (
            select count(*) from public.invoices as i
            left join public.appointments as a on a.id = i.appointment_id
            where i.hospital_id = report_dashboard.hospital_id and i.status in ('issued', 'partially_paid', 'overdue')
                and (doctor is null or a.doctor_id = doctor)
        ),
        'average_wait_minutes', visits.wait,
        'patient_satisfaction', null,
        'currency', 'INR'
    ) into answer;
    return answer;
end;
$$;

-- The snapshot's money per day of a hospital, for its front desk and admins (nothing for others).
create function private.revenue_money(hospital uuid, first_day date, last_day date)
returns table (day date, invoiced numeric, payments integer, captured numeric, refunds integer, refunded numeric)
language sql
stable
security definer
set search_path = ''
as $$
    select m.day, m.invoiced, m.payments, m.captured, m.refunds, m.refunded
    from private.revenue_money_days as m
    where m.hospital_id = hospital and m.day between first_day and last_day
        and hospital = any(private.staff_hospital_ids('{front_desk,hospital_admin}'));
$$;

comment on function private.revenue_money(uuid, date, date) is
'A hospital''s invoiced totals, captured payments and processed refunds per local day, for its '
'front desk and admins only.';

grant execute on function private.revenue_money(uuid, date, date) to authenticated;

-- The snapshot's open invoices per status, for the front desk and admins (nothing for others):
-- past row-level security, which would have every row's policy checked on the heap, so that the
-- sums come from invoices_hospital_open_idx alone.
create function private.open_invoices(hospital uuid)
returns table (status public.invoice_status, invoices bigint, amount numeric)
language sql
stable
security definer
set search_path = ''
as $$
    select i.status, count(*), coalesce(sum(i.total - i.amount_credited - i.amount_paid), 0)
    from public.invoices as i
    where i.hospital_id = hospital and i.status in ('issued', 'partially_paid', 'overdue')
        and hospital = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
    group by i.status;
$$;

comment on function private.open_invoices(uuid) is
'A hospital''s open invoices (issued, partially paid, overdue) per status: how many and what they '
'still ask for; for its front desk and admins only.';

grant execute on function private.open_invoices(uuid) to authenticated;

create or replace function public.financial_snapshot(
    hospital_id uuid, period_start date default null, period_end date default null
)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    today date;
    first_day date;
    last_day date;
    answer jsonb;
begin
    if hospital_id is null or not hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}')) then
        perform private.raise_forbidden(
            'the financial snapshot is for the front desk and admins of the hospital', 'not_front_office'
        );
    end if;
    today := private.hospital_day(financial_snapshot.hospital_id, now());
    first_day := coalesce(period_start, date_trunc('month', today)::date);
    last_day := coalesce(period_end, today);
    if last_day < first_day or last_day - first_day > 3660 then
        perform private.raise_invalid('the period runs from period_start to period_end, at most ten years', 'bad_period');
    end if;
    with money as (
        select
            m.*,
            m.day = today as is_today,
            m.day between first_day and last_day as in_period,
            m.captured - m.refunded as revenue,
            m.payments <> 0 or m.refunds <> 0 as moved
        from private.revenue_money(financial_snapshot.hospital_id, least(first_day, today), greatest(last_day, today)) as m
    )

    select jsonb_build_object(
        'hospital_id', financial_snapshot.hospital_id,
        'currency', 'INR',
        'today', jsonb_build_object(
            'date', today,
            'revenue', coalesce(sum(m.revenue) filter (where m.is_today and m.moved), 0),
            'payments', coalesce(sum(m.payments) filter (where m.is_today), 0)
        ),
        'period', jsonb_build_object(
            'start', first_day,
            'end', last_day,
            'revenue', coalesce(sum(m.revenue) filter (where m.in_period and m.moved), 0),
            'payments', coalesce(sum(m.payments) filter (where m.in_period), 0),
            'refunded', coalesce(sum(m.refunded) filter (where m.in_period and m.refunds <> 0), 0),
            'invoiced', coalesce(sum(m.invoiced) filter (where m.in_period), 0)
        ),
        'pending_invoices', (
            select jsonb_build_object('count', coalesce(sum(o.invoices), 0), 'amount', coalesce(sum(o.amount), 0))
            from private.open_invoices(financial_snapshot.hospital_id) as o
            where o.status in ('issued', 'partially_paid')
        ),
        'overdue_invoices', (
            select jsonb_build_object('count', coalesce(sum(o.invoices), 0), 'amount', coalesce(sum(o.amount), 0))
            from private.open_invoices(financial_snapshot.hospital_id) as o
            where o.status = 'overdue'
        )
    ) into answer
    from money as m;
    return answer;
end;
$$;

-- The snapshot's and the dashboard's pending and overdue invoices: summed from the open invoices'
-- index alone (an index-only scan; over 1M payments the heap visits cost about a second).
create index invoices_hospital_open_idx on public.invoices (hospital_id, status)
include (total, amount_credited, amount_paid, appointment_id)
where status in ('issued', 'partially_paid', 'overdue');

-- The summary of the rows billed so far.
select private.revenue_summary_rebuild(h.id) from public.hospitals as h;
