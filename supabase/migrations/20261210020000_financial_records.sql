-- Financial records (issue 18, item 3; seed 004): the patient ledger, the financial snapshot
-- widget and the revenue KPI, and seed 004's flat Financial_Records shape as a view over the
-- real tables. All read as the caller (security invoker): the patient their own, the hospital's
-- front desk and admins their hospital's, nobody else anything.
--
-- Revenue is money kept: payments captured less refunds processed, by the day they happened in
-- the hospital's time zone (seed 004: "sum of Financial_Records where type = 'Payment'").

-- The local day of a moment at a hospital. Security definer: the caller may not read every
-- hospital (a patient of a deactivated one), but its time zone is no secret.
create function private.hospital_day(hospital uuid, moment timestamptz)
returns date
language sql
stable
security definer
set search_path = ''
as $$
    select (moment at time zone h.time_zone)::date from public.hospitals as h where h.id = hospital;
$$;

comment on function private.hospital_day(
    uuid, timestamptz
) is 'The calendar day of a moment in the hospital''s time zone.';

grant execute on function private.hospital_day(uuid, timestamptz) to authenticated, service_role;

-- Seed 004 Financial_Records ------------------------------------------------------------------
create view public.financial_records
with (security_invoker = true) as
select
    i.id,
    i.patient_id,
    i.hospital_id,
    'Invoice'::text as type,
    i.total as amount,
    i.currency,
    private.hospital_day(i.hospital_id, i.issued_at) as date,
    'Invoice ' || i.number as description,
    case i.status
        when 'paid' then 'Paid'
        when 'overdue' then 'Overdue'
        when 'cancelled' then 'Cancelled'
        else 'Pending'
    end as status,
    null::text as payment_method,
    i.number as reference,
    i.created_at
from public.invoices as i
where i.status <> 'draft'
union all
select
    p.id,
    p.patient_id,
    p.hospital_id,
    'Payment'::text as type,
    p.amount - p.amount_refunded as amount,
    p.currency,
    private.hospital_day(p.hospital_id, p.captured_at) as date,
    'Receipt ' || p.receipt_number as description,
    case when p.amount_refunded = p.amount then 'Cancelled' else 'Paid' end as status,
    p.method::text as payment_method,
    p.receipt_number as reference,
    p.created_at
from public.payments as p
where p.status = 'captured';

revoke all on public.financial_records from anon, authenticated;
grant select on public.financial_records to authenticated, service_role;

comment on view public.financial_records is
'Seed 004 Financial_Records: one row per issued invoice (type Invoice, its total, status '
'Pending / Paid / Overdue / Cancelled) and per captured payment (type Payment, what the hospital '
'kept of it after refunds, status Paid, or Cancelled when refunded whole, with its payment_method), '
'dated in the hospital''s time zone. Read as the invoices and payments are: the patient their own, '
'the hospital''s front desk and admins theirs. The ledger with credit notes and refunds is '
'rpc/patient_financials.';
comment on column public.financial_records.type is 'Invoice or Payment.';
comment on column public.financial_records.status is 'Pending, Paid, Overdue or Cancelled.';
comment on column public.financial_records.amount is 'The invoice''s total, or the payment less its refunds.';

-- The patient ledger ----------------------------------------------------------------------------
-- RPC: POST /rest/v1/rpc/patient_financials {"patient_id", "hospital_id"} (seed 004 GET
-- /api/patients/:id/financials).
create function public.patient_financials(patient_id uuid, hospital_id uuid default null)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    answer jsonb;
begin
    if not exists (select from public.patients as p where p.id = patient_financials.patient_id) then
        perform private.raise_not_found('patient not found', 'patient_not_found');
    end if;
    with entries as (
        select
            'invoice' as kind, i.id, i.hospital_id, i.currency, i.issued_at as at, i.number as reference,
            'Invoice ' || i.number as description, i.total as debit, 0::numeric as credit, i.status::text as status,
            null::text as method, i.id as invoice_id
        from public.invoices as i
        where i.patient_id = patient_financials.patient_id and i.status <> 'draft'
        union all
        select
            'credit_note', c.id, c.hospital_id, c.currency, c.issued_at, c.number,
            'Credit note ' || c.number || ': ' || c.reason, 0, c.amount, 'issued', null, c.invoice_id
        from public.credit_notes as c
        where c.patient_id = patient_financials.patient_id
        union all
        select
            'payment', p.id, p.hospital_id, p.currency, p.captured_at, p.receipt_number,
            'Payment ' || p.receipt_number || ' (' || p.method || ')', 0, p.amount, p.status::text,
            p.method::text, p.invoice_id
        from public.payments as p
        where p.patient_id = patient_financials.patient_id and p.status = 'captured'
        union all
        select
            'refund', r.id, r.hospital_id, r.currency, r.created_at, p.receipt_number,
            'Refund of ' || p.receipt_number || ': ' || r.reason, r.amount, 0, r.status::text, p.method::text,
            p.invoice_id
        from public.refunds as r
        join public.payments as p on p.id = r.payment_id
        where r.patient_id = patient_financials.patient_id and r.status <> 'failed'
    ),

    scoped as (
        select
            e.*,
            array_position(array['invoice', 'payment', 'credit_note', 'refund'], e.kind) as rank,
            sum(e.debit - e.credit) over (
                partition by e.currency
                order by e.at, array_position(array['invoice', 'payment', 'credit_note', 'refund'], e.kind), e.id
                rows unbounded preceding
            ) as balance
        from entries as e
        where patient_financials.hospital_id is null or e.hospital_id = patient_financials.hospital_id
    )

    select jsonb_build_object(
        'patient_id', patient_financials.patient_id,
        'balances', coalesce((
            select jsonb_object_agg(b.currency, b.balance)
            from (select s.currency, sum(s.debit - s.credit) as balance from scoped as s group by s.currency) as b
        ), '{}'),
        'entries', coalesce(jsonb_agg(jsonb_build_object(
            'type', s.kind, 'id', s.id, 'hospital_id', s.hospital_id, 'invoice_id', s.invoice_id,
            'at', s.at, 'date', private.hospital_day(s.hospital_id, s.at), 'reference', s.reference,
            'description', s.description, 'debit', s.debit, 'credit', s.credit, 'currency', s.currency,
            'status', s.status, 'payment_method', s.method, 'balance', s.balance
        ) order by s.at, s.rank, s.id), '[]')
    ) into answer
    from scoped as s;
    return answer;
end;
$$;

grant execute on function public.patient_financials(uuid, uuid) to authenticated;

comment on function public.patient_financials(uuid, uuid) is
'A patient''s ledger (seed 004 GET /api/patients/:id/financials), optionally at one hospital: '
'issued invoices (debit), credit notes and captured payments (credit), refunds (debit), oldest '
'first, each with the running balance in its currency, and the balances (positive: the patient '
'owes; negative: the hospital does). Read as the caller may: the patient their own, the front '
'desk and admins of a hospital its part. Errors: PT404 patient_not_found (not readable).';

-- The financial snapshot widget ------------------------------------------------------------------
-- RPC: POST /rest/v1/rpc/financial_snapshot {"hospital_id", "period_start", "period_end"} (seed 004
-- GET /api/financials/snapshot).
create function public.financial_snapshot(
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
                    and private.hospital_day(i.hospital_id, i.issued_at) between first_day and last_day
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

grant execute on function public.financial_snapshot(uuid, date, date) to authenticated;

comment on function public.financial_snapshot(uuid, date, date) is
'The financial snapshot widget (seed 004 GET /api/financials/snapshot; its dashboard''s revenue '
'KPI), for the front desk and admins of the hospital: revenue today and over the period '
'(payments captured less refunds processed, by the hospital''s day; the period defaults to this '
'month up to today), payments counted, refunds, what was invoiced in the period, and the '
'pending and overdue invoices with what is still due on them. Errors: 42501 not_front_office, '
'22023 bad_period.';
