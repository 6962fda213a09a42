-- The financial snapshot over 1M payments (bench/revenue_report.py): what was invoiced in the
-- period is found by the hospital and the moment (the hospital's days as one range, on
-- invoices_hospital_issued_idx) instead of dating every invoice of the hospital; the pending
-- and overdue invoices by a partial index of the open ones. The answer is the same.
create index invoices_hospital_open_idx on public.invoices (hospital_id, status)
where status in ('issued', 'partially_paid', 'overdue');

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
        select private.hospital_day(p.hospital_id, p.captured_at) as day, p.amount as amount, 'payment' as kind
        from public.payments as p
        where p.hospital_id = financial_snapshot.hospital_id and p.status = 'captured'
            and p.captured_at >= (first_day - 1)::timestamptz and p.captured_at < (greatest(last_day, today) + 2)::timestamptz
        union all
        select private.hospital_day(r.hospital_id, r.processed_at), -r.amount, 'refund'
        from public.refunds as r
        where r.hospital_id = financial_snapshot.hospital_id and r.status = 'processed'
            and r.processed_at >= (first_day - 1)::timestamptz and r.processed_at < (greatest(last_day, today) + 2)::timestamptz
    )

    select jsonb_build_object(
        'hospital_id', financial_snapshot.hospital_id,
        'currency', 'INR',
        'today', jsonb_build_object(
            'date', today,
            'revenue', coalesce(sum(m.amount) filter (where m.day = today), 0),
            'payments', count(*) filter (where m.day = today and m.kind = 'payment')
        ),
        'period', jsonb_build_object(
            'start', first_day,
            'end', last_day,
            'revenue', coalesce(sum(m.amount) filter (where m.day between first_day and last_day), 0),
            'payments', count(*) filter (where m.day between first_day and last_day and m.kind = 'payment'),
            'refunded', coalesce(-sum(m.amount) filter (where m.day between first_day and last_day and m.kind = 'refund'), 0),
            'invoiced', (
                select coalesce(sum(i.total), 0) from public.invoices as i
                where i.hospital_id = financial_snapshot.hospital_id and i.status <> 'draft'
                    and i.issued_at >= lower(private.hospital_days(financial_snapshot.hospital_id, first_day, last_day))
                    and i.issued_at < upper(private.hospital_days(financial_snapshot.hospital_id, first_day, last_day))
            )
        ),
        'pending_invoices', (
            select jsonb_build_object(
                'count', count(*), 'amount', coalesce(sum(i.total - i.amount_credited - i.amount_paid), 0)
            )
            from public.invoices as i
            where i.hospital_id = financial_snapshot.hospital_id and i.status in ('issued', 'partially_paid')
        ),
        'overdue_invoices', (
            select jsonb_build_object(
                'count', count(*), 'amount', coalesce(sum(i.total - i.amount_credited - i.amount_paid), 0)
            )
            from public.invoices as i
            where i.hospital_id = financial_snapshot.hospital_id and i.status = 'overdue'
        )
    ) into answer
    from money as m;
    return answer;
end;
$$;

-- The snapshot runs as its caller: it reads the hospital's days as private.hospital_day is read.
grant execute on function private.hospital_days(uuid, date, date) to authenticated;
