-- Reports (issue 18, item 4; seed 003 §10 /reports/dashboard, /reports/revenue,
-- /reports/appointments, /reports/patients), for a date range in the hospital's time zone with
-- an inclusive end date. Hospital admins see their hospital's figures; a doctor sees their own
-- (their appointments, their patients, the invoices of their visits); nobody else any.
--
-- The row reports are set-returning RPCs, so a client gets them as CSV from PostgREST itself
-- (`Accept: text/csv`); every text cell a person typed (a service's name, an insurer, a
-- doctor's name) is neutralized against formula injection: one that begins with =, +, -, @, a
-- tab or a carriage return gets a leading apostrophe, so a spreadsheet shows it as text.

-- A text cell as a spreadsheet must show it: as text, never as a formula.
create function private.csv_safe(value text)
returns text
language sql
immutable
set search_path = ''
as $$
    select case when value ~ '^[=+@\t\r-]' then '''' || value else value end;
$$;

comment on function private.csv_safe(text) is
'A text cell neutralized against spreadsheet formula injection: a leading apostrophe when it '
'begins with =, +, -, @, a tab or a carriage return.';

-- Who the report is for: the hospital's admins (everything), else the caller's own doctor
-- profile there (their figures); anyone else is refused.
create function private.report_scope(hospital uuid)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
    doctor uuid;
begin
    if hospital = any(private.staff_hospital_ids('{hospital_admin}')) then
        return null;
    end if;
    select d.id into doctor from public.doctors as d
    where d.hospital_id = hospital and d.id = any(private.own_doctor_ids());
    if doctor is null then
        perform private.raise_forbidden(
            'reports are for the hospital''s admins, and for its doctors about their own work', 'not_report_reader'
        );
    end if;
    return doctor;
end;
$$;

comment on function private.report_scope(uuid) is
'null for an admin of the hospital (every figure), the caller''s doctor id there for a doctor '
'(their own figures); 42501 not_report_reader otherwise.';

create function private.check_report_period(start_date date, end_date date)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
    if start_date is null or end_date is null or end_date < start_date or end_date - start_date > 3660 then
        perform private.raise_invalid(
            'a report covers start_date to end_date (inclusive), at most ten years', 'bad_period'
        );
    end if;
end;
$$;

comment on function private.check_report_period(
    date, date
) is 'Refuses a missing, reversed or over-long period (22023 bad_period).';

-- Money events of a hospital's invoices in a period, each spread over the invoice's lines by
-- their share of its total: issues and credit notes (billed), captures and refunds (collected).
-- Security definer: reports are computed across tables the reader may not read row by row; the
-- caller's scope is decided by private.report_scope first.
create function private.revenue_facts(hospital uuid, doctor uuid, start_date date, end_date date)
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
    with invoices as (
        select i.*, a.doctor_id
        from public.invoices as i
        left join public.appointments as a on a.id = i.appointment_id
        where i.hospital_id = hospital and i.status <> 'draft' and i.total > 0
            and (revenue_facts.doctor is null or a.doctor_id = revenue_facts.doctor)
    ),

    events as (
        select i.id as invoice_id, i.issued_at as at, i.total as billed, 0::numeric as collected from invoices as i
        union all
        select c.invoice_id, c.issued_at, -c.amount, 0 from public.credit_notes as c
        where c.invoice_id in (select i.id from invoices as i)
        union all
        select p.invoice_id, p.captured_at, 0, p.amount from public.payments as p
        where p.status = 'captured' and p.invoice_id in (select i.id from invoices as i)
        union all
        select p.invoice_id, r.processed_at, 0, -r.amount from public.refunds as r
        join public.payments as p on p.id = r.payment_id
        where r.status = 'processed' and p.invoice_id in (select i.id from invoices as i)
    ),

    dated as (
        select e.*, private.hospital_day(hospital, e.at) as day from events as e
    )

    select
        d.day,
        d.invoice_id,
        coalesce(s.code || ' ' || s.name, l.description),
        i.doctor_id,
        coalesce(nullif(btrim(i.insurer_name), ''), 'Self-pay'),
        d.billed * l.line_total / i.total,
        d.collected * l.line_total / i.total
    from dated as d
    join invoices as i on i.id = d.invoice_id
    join public.invoice_lines as l on l.invoice_id = i.id
    left join public.billing_services as s on s.id = l.service_id
    where d.day between start_date and end_date;
$$;

comment on function private.revenue_facts(uuid, uuid, date, date) is
'The billed (issues less credit notes) and collected (captures less refunds) amounts of a '
'hospital''s invoices (a doctor''s visits'' only, when doctor is given) per day of the period, '
'spread over each invoice''s lines by their share.';

-- Revenue -----------------------------------------------------------------------------------------
create function private.report_revenue(hospital_id uuid, start_date date, end_date date, group_by text)
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
    with facts as (
        select
            case report_revenue.group_by
                when 'month' then to_char(f.day, 'YYYY-MM')
                when 'service' then f.service
                when 'doctor' then coalesce(f.doctor_id::text, 'none')
                else f.insurer
            end as key,
            f.doctor_id,
            f.invoice_id,
            f.billed,
            f.collected
        from private.revenue_facts(report_revenue.hospital_id, doctor, start_date, end_date) as f
    )

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
        count(distinct x.invoice_id),
        round(sum(x.billed), 2),
        round(sum(x.collected), 2),
        'INR'::text
    from facts as x
    group by x.key
    order by x.key;
end;
$$;

grant execute on function private.report_revenue(uuid, date, date, text) to authenticated;

-- RPC: GET /rest/v1/rpc/report_revenue?hospital_id=...&start_date=2026-04-01&end_date=2027-03-31&group_by=service
-- (Accept: text/csv for the spreadsheet).
create function public.report_revenue(
    hospital_id uuid, start_date date, end_date date, group_by text default 'month'
)
returns table (
    dimension text, key text, label text, invoices bigint, billed numeric, collected numeric, currency text
)
language sql
stable
set search_path = ''
as $$
    select * from private.report_revenue(
        report_revenue.hospital_id, report_revenue.start_date, report_revenue.end_date, report_revenue.group_by
    );
$$;

grant execute on function public.report_revenue(uuid, date, date, text) to authenticated;

comment on function public.report_revenue(uuid, date, date, text) is
'Revenue report (seed 003 GET /reports/revenue) for a period in the hospital''s time zone, end '
'date included, grouped by month, service, doctor or insurer (dimension; key and label name the '
'group): per group the invoices, what was '
'billed (issued less credit notes) and collected (captured less refunds), an invoice''s amounts '
'spread over its lines by their share. Hospital admins: every invoice; a doctor: the invoices of '
'their own visits. As CSV with Accept: text/csv (text cells neutralized against formula '
'injection). Errors: 42501 not_report_reader, 22023 bad_period, unknown_grouping.';

-- Appointments ------------------------------------------------------------------------------------
create function private.report_appointments(hospital_id uuid, start_date date, end_date date)
returns table (
    day date, total bigint, completed bigint, cancelled bigint, no_show bigint, average_wait_minutes numeric
)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    doctor uuid := private.report_scope(report_appointments.hospital_id);
begin
    perform private.check_report_period(start_date, end_date);
    return query
    with visits as (
        select a.id, a.status, private.hospital_day(a.hospital_id, a.starts_at) as day
        from public.appointments as a
        where a.hospital_id = report_appointments.hospital_id
            and a.starts_at >= (start_date - 1)::timestamptz and a.starts_at < (end_date + 2)::timestamptz
            and (doctor is null or a.doctor_id = doctor)
    ),

    waits as (
        select
            h.subject_id,
            extract(epoch from min(h.occurred_at) filter (where h.to_state = 'in_consultation')
                - max(h.occurred_at) filter (where h.to_state = 'checked_in')) / 60 as minutes
        from public.status_history as h
        where h.machine = 'appointment' and h.subject_id in (select v.id from visits as v)
            and h.to_state in ('checked_in', 'in_consultation')
        group by h.subject_id
    )

    select
        v.day,
        count(*),
        count(*) filter (where v.status = 'completed'),
        count(*) filter (where v.status = 'cancelled'),
        count(*) filter (where v.status = 'no_show'),
        round(avg(w.minutes) filter (where w.minutes >= 0), 1)
    from visits as v
    left join waits as w on w.subject_id = v.id
    where v.day between start_date and end_date
    group by v.day
    order by v.day;
end;
$$;

grant execute on function private.report_appointments(uuid, date, date) to authenticated;

-- RPC: GET /rest/v1/rpc/report_appointments?hospital_id=...&start_date=...&end_date=...
create function public.report_appointments(hospital_id uuid, start_date date, end_date date)
returns table (
    day date, total bigint, completed bigint, cancelled bigint, no_show bigint, average_wait_minutes numeric
)
language sql
stable
set search_path = ''
as $$
    select * from private.report_appointments(
        report_appointments.hospital_id, report_appointments.start_date, report_appointments.end_date
    );
$$;

grant execute on function public.report_appointments(uuid, date, date) to authenticated;

comment on function public.report_appointments(uuid, date, date) is
'Appointments report (seed 003 GET /reports/appointments): per day of the period (the '
'hospital''s days, end date included) the appointments, completed, cancelled and no-shows, and '
'the average wait in minutes from check-in to the start of the consultation. Hospital admins: '
'every doctor; a doctor: their own. CSV with Accept: text/csv. Errors: 42501 not_report_reader, '
'22023 bad_period.';

-- Patients ---------------------------------------------------------------------------------------
create function private.report_patients(hospital_id uuid, start_date date, end_date date)
returns table (month text, new_patients bigint, patients_seen bigint, visits bigint)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    doctor uuid := private.report_scope(report_patients.hospital_id);
begin
    perform private.check_report_period(start_date, end_date);
    return query
    with registered as (
        select to_char(private.hospital_day(r.hospital_id, r.registered_at), 'YYYY-MM') as month, r.patient_id
        from public.patient_registrations as r
        where r.hospital_id = report_patients.hospital_id and r.deleted_at is null
            and private.hospital_day(r.hospital_id, r.registered_at) between start_date and end_date
            and (doctor is null or exists (
                select from public.appointments as a
                where a.patient_id = r.patient_id and a.hospital_id = r.hospital_id and a.doctor_id = doctor
            ))
    ),

    seen as (
        select to_char(private.hospital_day(a.hospital_id, a.starts_at), 'YYYY-MM') as month, a.patient_id
        from public.appointments as a
        where a.hospital_id = report_patients.hospital_id and a.status = 'completed' and a.patient_id is not null
            and a.starts_at >= (start_date - 1)::timestamptz and a.starts_at < (end_date + 2)::timestamptz
            and private.hospital_day(a.hospital_id, a.starts_at) between start_date and end_date
            and (doctor is null or a.doctor_id = doctor)
    ),

    months as (select r.month from registered as r union select s.month from seen as s)

    select
        m.month,
        (select count(distinct r.patient_id) from registered as r where r.month = m.month),
        (select count(distinct s.patient_id) from seen as s where s.month = m.month),
        (select count(*) from seen as s where s.month = m.month)
    from months as m
    order by m.month;
end;
$$;

grant execute on function private.report_patients(uuid, date, date) to authenticated;

-- RPC: GET /rest/v1/rpc/report_patients?hospital_id=...&start_date=...&end_date=...
create function public.report_patients(hospital_id uuid, start_date date, end_date date)
returns table (month text, new_patients bigint, patients_seen bigint, visits bigint)
language sql
stable
set search_path = ''
as $$
    select * from private.report_patients(
        report_patients.hospital_id, report_patients.start_date, report_patients.end_date
    );
$$;

grant execute on function public.report_patients(uuid, date, date) to authenticated;

comment on function public.report_patients(uuid, date, date) is
'Patients report (seed 003 GET /reports/patients): per month of the period, patients newly '
'registered, patients seen (completed visits) and the visits. Hospital admins: the hospital; a '
'doctor: their own patients. CSV with Accept: text/csv. Errors: 42501 not_report_reader, '
'22023 bad_period.';

-- Dashboard -------------------------------------------------------------------------------------
create function private.report_dashboard(hospital_id uuid, start_date date, end_date date)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    doctor uuid := private.report_scope(report_dashboard.hospital_id);
    answer jsonb;
begin
    perform private.check_report_period(start_date, end_date);
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
        'total_appointments', (select coalesce(sum(a.total), 0) from private.report_appointments(
            report_dashboard.hospital_id, start_date, end_date
        ) as a),
        'completed_appointments', (select coalesce(sum(a.completed), 0) from private.report_appointments(
            report_dashboard.hospital_id, start_date, end_date
        ) as a),
        'revenue', (select coalesce(round(sum(f.collected), 2), 0) from private.revenue_facts(
            report_dashboard.hospital_id, doctor, start_date, end_date
        ) as f),
        'pending_invoices', (
            select count(*) from public.invoices as i
            left join public.appointments as a on a.id = i.appointment_id
            where i.hospital_id = report_dashboard.hospital_id and i.status in ('issued', 'partially_paid', 'overdue')
                and (doctor is null or a.doctor_id = doctor)
        ),
        'average_wait_minutes', (
            select round(sum(a.average_wait_minutes * a.completed) / nullif(sum(a.completed) filter (
                where a.average_wait_minutes is not null
            ), 0), 1)
            from private.report_appointments(report_dashboard.hospital_id, start_date, end_date) as a
        ),
        'patient_satisfaction', null,
        'currency', 'INR'
    ) into answer;
    return answer;
end;
$$;

grant execute on function private.report_dashboard(uuid, date, date) to authenticated;

-- RPC: GET /rest/v1/rpc/report_dashboard?hospital_id=...&start_date=...&end_date=...
create function public.report_dashboard(hospital_id uuid, start_date date, end_date date)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select private.report_dashboard(report_dashboard.hospital_id, report_dashboard.start_date, report_dashboard.end_date);
$$;

grant execute on function public.report_dashboard(uuid, date, date) to authenticated;

comment on function public.report_dashboard(uuid, date, date) is
'Dashboard statistics (seed 003 GET /reports/dashboard) for a period in the hospital''s time '
'zone, end date included: total_patients (registered), active_patients (with a visit in the '
'period), new_patients, total_appointments, completed_appointments, revenue (collected: '
'captured less refunds), pending_invoices (unpaid, overdue included), average_wait_minutes '
'(check-in to consultation) and patient_satisfaction (null: not collected). Hospital admins: the '
'hospital; a doctor: their own work (scope doctor). Errors: 42501 not_report_reader, 22023 '
'bad_period.';
