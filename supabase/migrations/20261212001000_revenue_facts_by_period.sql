-- The revenue reports read only their period (bench/revenue_report.py: over 1M payments the
-- year's report took seconds per 50,000 payments, since every event of the hospital's every
-- invoice was dated with a function call before the period was applied). Each event is now
-- found by the hospital and its moment within the period (the hospital's days as one range,
-- on the indexes below), then joined to its invoice; the answer is the same.
create index credit_notes_hospital_issued_idx on public.credit_notes (hospital_id, issued_at);
create index refunds_hospital_processed_idx on public.refunds (hospital_id, processed_at) where status = 'processed';

create or replace function private.revenue_facts(hospital uuid, doctor uuid, start_date date, end_date date)
returns table (
    day date,
    invoice_id uuid,
    service text,
    doctor_id uuid,
    insurer text,
    billed numeric,
    collected numeric
)
language sql
stable
security definer
set search_path = ''
as $$
    with zone as (
        select h.time_zone, private.hospital_days(h.id, start_date, end_date) as period
        from public.hospitals as h
        where h.id = hospital
    ),

    events as (
        select i.id as invoice_id, i.issued_at as at, i.total as billed, 0::numeric as collected
        from public.invoices as i, zone as z
        where i.hospital_id = hospital and i.issued_at >= lower(z.period) and i.issued_at < upper(z.period)
        union all
        select c.invoice_id, c.issued_at, -c.amount, 0
        from public.credit_notes as c, zone as z
        where c.hospital_id = hospital and c.issued_at >= lower(z.period) and c.issued_at < upper(z.period)
        union all
        select p.invoice_id, p.captured_at, 0, p.amount
        from public.payments as p, zone as z
        where p.hospital_id = hospital and p.status = 'captured'
            and p.captured_at >= lower(z.period) and p.captured_at < upper(z.period)
        union all
        select p.invoice_id, r.processed_at, 0, -r.amount
        from public.refunds as r
        join public.payments as p on p.id = r.payment_id, zone as z
        where r.hospital_id = hospital and r.status = 'processed'
            and r.processed_at >= lower(z.period) and r.processed_at < upper(z.period)
    )

    select
        (e.at at time zone z.time_zone)::date,
        e.invoice_id,
        coalesce(s.code || ' ' || s.name, l.description),
        a.doctor_id,
        coalesce(nullif(btrim(i.insurer_name), ''), 'Self-pay'),
        e.billed * l.line_total / i.total,
        e.collected * l.line_total / i.total
    from events as e
    cross join zone as z
    join public.invoices as i on i.id = e.invoice_id
    left join public.appointments as a on a.id = i.appointment_id
    join public.invoice_lines as l on l.invoice_id = i.id
    left join public.billing_services as s on s.id = l.service_id
    where i.status <> 'draft' and i.total > 0
        and (revenue_facts.doctor is null or a.doctor_id = revenue_facts.doctor);
$$;
