-- The revenue summary (issue 18, bench "Revenue reports over 1M payments"): the reports read a
-- per-day summary kept by the billing writes, and give the same figures as the facts they were
-- computed from before, for every grouping, period and reader, through issues, partial
-- payments, refunds, credit notes, a cancellation, back-dated events, an appointment's new doctor
-- and a hospital's new time zone; the audit finds a tampered summary and the repair mends it.
begin;
select plan(21);

select tests.create_world();
select set_config('tests.today', private.hospital_today(tests.id_of('hospitals', 'TSTA'))::text, true);

-- Every grouping, for the admin (all) and each doctor, over periods that cut through the events'
-- days (a period that starts after an invoice's issue but holds its payment counts it once).
create temporary table periods (start_date date, end_date date) on commit drop;
insert into periods
select
    current_setting('tests.today')::date - s,
    current_setting('tests.today')::date + e
from (values (0, 0), (45, 0), (36, 0), (3, -1), (2, 0), (70, 1), (34, -30), (1, 0), (12, -8)) as p (s, e);
create temporary table readers (doctor uuid) on commit drop;
insert into readers values (null), (tests.id_of('doctors', 'a_doctor')), (tests.id_of('doctors', 'a_doctor2'));
create function pg_temp.report_mismatches()
returns table (
    start_date date, end_date date, doctor uuid, group_by text, key text, invoices bigint, billed numeric,
    collected numeric, side text
)
language sql
as $$
    with cases as (
        select p.start_date, p.end_date, r.doctor, g.group_by
        from periods as p cross join readers as r
        cross join unnest(array['month', 'service', 'doctor', 'insurer']) as g (group_by)
    ),

    summary as (
        select c.start_date, c.end_date, c.doctor, c.group_by, x.*
        from cases as c,
            private.revenue_groups(tests.id_of('hospitals', 'TSTA'), c.doctor, c.start_date, c.end_date, c.group_by) as x
    ),

    facts as (
        select c.start_date, c.end_date, c.doctor, c.group_by, x.*
        from cases as c,
            private.report_revenue_from_facts(
                tests.id_of('hospitals', 'TSTA'), c.doctor, c.start_date, c.end_date, c.group_by
            ) as x
    )

    select *, 'summary only' from (select * from summary except all select * from facts) as s
    union all
    select *, 'facts only' from (select * from facts except all select * from summary) as f;
$$;

select is_empty(
    $$ select * from private.revenue_summary_differences(tests.id_of('hospitals', 'TSTA')) $$,
    'the world''s summary is what its billing makes'
);

-- Invoices: a visit of a_patient1 with a_doctor (a consultation and an ECG, and a typed line whose
-- share of the total is a repeating fraction), an invoice to an insurer without a visit, and a
-- visit of a_patient2 with a_doctor2.
select tests.act_as('a_admin');
insert into public.billing_services (hospital_id, code, name, hsn_sac, unit_price, gst_rate, appointment_type)
values
(tests.id_of('hospitals', 'TSTA'), 'CONSULT', 'Consultation', '999312', 500, 0, 'consultation'),
(tests.id_of('hospitals', 'TSTA'), 'ECG', 'Electrocardiogram', '999316', 300, 0, null);
select tests.clear_authentication();
insert into public.appointments (id, hospital_id, doctor_id, patient_id, starts_at, ends_at, source)
values
(
    'a0000000-0000-4000-8000-0000000000a1', tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'),
    tests.id_of('patients', 'a_patient1'), now() - interval '3 hours', now() - interval '160 minutes', 'front_desk'
),
(
    'a0000000-0000-4000-8000-0000000000a2', tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor2'),
    tests.id_of('patients', 'a_patient2'), now() - interval '2 hours', now() - interval '100 minutes', 'front_desk'
);
update public.appointments set status = 'arrived'
where id in ('a0000000-0000-4000-8000-0000000000a1', 'a0000000-0000-4000-8000-0000000000a2');
update public.appointments set status = 'checked_in'
where id in ('a0000000-0000-4000-8000-0000000000a1', 'a0000000-0000-4000-8000-0000000000a2');
update public.appointments set status = 'in_consultation'
where id in ('a0000000-0000-4000-8000-0000000000a1', 'a0000000-0000-4000-8000-0000000000a2');
update public.appointments set status = 'completed'
where id in ('a0000000-0000-4000-8000-0000000000a1', 'a0000000-0000-4000-8000-0000000000a2');
select tests.act_as('a_front_desk');
insert into public.invoices (id, hospital_id, patient_id, appointment_id, insurer_name)
values
(
    'a0000000-0000-4000-8000-0000000000b1', tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'),
    'a0000000-0000-4000-8000-0000000000a1', null
),
(
    'a0000000-0000-4000-8000-0000000000b2', tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'),
    null, 'Star Health'
),
(
    'a0000000-0000-4000-8000-0000000000b3', tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient2'),
    'a0000000-0000-4000-8000-0000000000a2', ' '
);
insert into public.invoice_lines (invoice_id, service_id, description, hsn_sac, unit_price, quantity)
values
(
    'a0000000-0000-4000-8000-0000000000b1',
    (
        select id from public.billing_services
        where code = 'CONSULT'
    ), 'Consultation', '999312', 500, 1
),
(
    'a0000000-0000-4000-8000-0000000000b1',
    (
        select id from public.billing_services
        where code = 'ECG'
    ), 'Electrocardiogram', '999316', 300, 1
),
('a0000000-0000-4000-8000-0000000000b1', null, 'Dressing', '999312', 100, 1),
('a0000000-0000-4000-8000-0000000000b2', null, 'Dressing', '999312', 200, 1),
(
    'a0000000-0000-4000-8000-0000000000b3',
    (
        select id from public.billing_services
        where code = 'ECG'
    ), 'Electrocardiogram', '999316', 300, 3
);
select public.issue_invoice(i) is not null as issued
from unnest(array[
    'a0000000-0000-4000-8000-0000000000b1',
    'a0000000-0000-4000-8000-0000000000b2',
    'a0000000-0000-4000-8000-0000000000b3'
]::uuid[]) as i;

-- Partial payments, a refund, a credit note, and the third invoice paid, refunded and cancelled.
select tests.remember('cash', (public.record_payment('a0000000-0000-4000-8000-0000000000b1', 600, 'cash')).id);
select tests.remember('upi', (public.record_payment('a0000000-0000-4000-8000-0000000000b1', 133.33, 'upi')).id);
select tests.remember('refund', (public.request_refund(tests.recall('cash'), 100, 'ECG redone', 'refund-s1')).id);
select public.issue_credit_note('a0000000-0000-4000-8000-0000000000b2', 50, 'goodwill') is not null as credited;
select tests.remember('card', (public.record_payment('a0000000-0000-4000-8000-0000000000b3', 900, 'upi')).id);
select public.request_refund(tests.recall('card'), 900, 'visit cancelled', 'refund-s2') is not null as refunded;
select public.issue_credit_note('a0000000-0000-4000-8000-0000000000b3', 900, 'cancelled') is not null as cancelled;

select tests.clear_authentication();
select is(
    (
        select status::text from public.invoices
        where id = 'a0000000-0000-4000-8000-0000000000b3'
    ), 'cancelled',
    'the third invoice is cancelled by its credit note'
);
select is_empty(
    $$ select * from private.revenue_summary_differences(tests.id_of('hospitals', 'TSTA')) $$,
    'after issues, partial payments, refunds and credit notes the summary is what the billing makes'
);
select is_empty($$ select * from pg_temp.report_mismatches() $$, 'and every report of it equals the facts''');
select results_eq(
    $$ select key, invoices, billed, collected from private.revenue_groups(tests.id_of('hospitals', 'TSTA'), null,
        current_setting('tests.today')::date, current_setting('tests.today')::date, 'service') $$,
    $$ values ('CONSULT Consultation', 1::bigint, 500.00, 351.85), ('Dressing', 2, 250.00, 70.37),
        ('ECG Electrocardiogram', 2, 300.00, 211.11) $$,
    'by service today: each invoice''s amounts spread over its lines, the cancelled one netting to nothing'
);

-- Back-dated events (the days move): the first invoice issued 40 days ago, paid 35 days ago and
-- two days ago, refunded yesterday; the second issued 10 days ago.
alter table public.invoices disable trigger invoices_guard_issued;
update public.invoices set issued_at = now() - interval '40 days'
where id = 'a0000000-0000-4000-8000-0000000000b1';
update public.invoices set issued_at = now() - interval '10 days'
where id = 'a0000000-0000-4000-8000-0000000000b2';
alter table public.invoices enable trigger invoices_guard_issued;
update public.payments set captured_at = now() - interval '35 days'
where id = tests.recall('cash');
update public.payments set captured_at = now() - interval '2 days'
where id = tests.recall('upi');
update public.refunds set processed_at = now() - interval '1 day'
where id = tests.recall('refund');
select is_empty(
    $$ select * from private.revenue_summary_differences(tests.id_of('hospitals', 'TSTA')) $$,
    'back-dated events move the summary''s days'
);
select is_empty($$ select * from pg_temp.report_mismatches() $$, 'and every report still equals the facts''');
select results_eq(
    $$ select key, invoices from private.revenue_groups(tests.id_of('hospitals', 'TSTA'), null,
        current_setting('tests.today')::date - 36, current_setting('tests.today')::date, 'month') $$,
    $$ select key, invoices from private.report_revenue_from_facts(tests.id_of('hospitals', 'TSTA'), null,
        current_setting('tests.today')::date - 36, current_setting('tests.today')::date, 'month') $$,
    'an invoice issued before the period and paid in two of its months counts once in each'
);
select is(
    (select sum(
        invoices) from private.revenue_groups(
        tests.id_of('hospitals', 'TSTA'), null,
        current_setting('tests.today')::date - 36, current_setting('tests.today')::date, 'doctor'
    )),
    3::numeric,
    'and once in the period: three invoices had events in it'
);

-- The reports themselves, as their readers call them (what the facts give, kept first).
create temporary table expected on commit drop as
select
    'admin' as reader,
    private.csv_safe(f.key) as key,
    f.invoices,
    f.billed,
    f.collected
from
    private.report_revenue_from_facts(
        tests.id_of('hospitals', 'TSTA'), null, current_setting('tests.today')::date - 45,
        current_setting('tests.today')::date, 'insurer'
    ) as f
union all
select
    'doctor',
    private.csv_safe(f.key),
    f.invoices,
    f.billed,
    f.collected
from
    private.report_revenue_from_facts(
        tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), current_setting('tests.today')::date - 45,
        current_setting('tests.today')::date, 'service'
    ) as f
union all
select
    'dashboard',
    null,
    null,
    null,
    round(sum(f.collected), 2)
from private.revenue_facts(
    tests.id_of('hospitals', 'TSTA'),
    null,
    current_setting('tests.today')::date - 30,
    current_setting('tests.today')::date
) as f;
grant select on expected to authenticated;
select tests.act_as('a_admin');
select results_eq(
    $$ select r.key, r.invoices, r.billed, r.collected from public.report_revenue(tests.id_of('hospitals', 'TSTA'),
        current_setting('tests.today')::date - 45, current_setting('tests.today')::date, 'insurer') as r $$,
    $$ select key, invoices, billed, collected from expected where reader = 'admin' $$,
    'the admin''s revenue report is the facts'''
);
select is(
    (public.report_dashboard(
        tests.id_of('hospitals', 'TSTA'), current_setting('tests.today')::date - 30,
        current_setting('tests.today')::date
    ) ->> 'revenue')::numeric,
    (
        select collected from expected
        where reader = 'dashboard'
    ),
    'the dashboard''s revenue is what the facts collected'
);
select tests.act_as('a_doctor');
select results_eq(
    $$ select r.key, r.invoices, r.billed, r.collected from public.report_revenue(tests.id_of('hospitals', 'TSTA'),
        current_setting('tests.today')::date - 45, current_setting('tests.today')::date, 'service') as r $$,
    $$ select key, invoices, billed, collected from expected where reader = 'doctor' $$,
    'a doctor''s report holds their own visits'' figures, the facts'''
);
select is(
    (public.report_dashboard(
        tests.id_of('hospitals', 'TSTA'), current_setting('tests.today')::date - 45,
        current_setting('tests.today')::date
    ) ->> 'revenue')::numeric,
    633.33,
    'and their dashboard their own revenue: two payments less a refund'
);
select tests.act_as('b_admin');
select is(
    tests.error_of(
        $$ select public.report_revenue(tests.id_of('hospitals', 'TSTA'), current_date - 45, current_date) $$
    )
    ->> 'details', 'not_report_reader', 'another hospital''s admin reads none of it'
);

-- The snapshot, against what it computed from the payments before the summary.
select tests.act_as('a_front_desk');
select results_eq(
    $$ select (s #>> '{today,revenue}')::numeric, (s #>> '{today,payments}')::integer,
        (s #>> '{period,revenue}')::numeric, (s #>> '{period,payments}')::integer,
        (s #>> '{period,refunded}')::numeric, (s #>> '{period,invoiced}')::numeric
        from public.financial_snapshot(tests.id_of('hospitals', 'TSTA'), current_setting('tests.today')::date - 36,
            current_setting('tests.today')::date) as s $$,
    $$ with money as (
            select private.hospital_day(p.hospital_id, p.captured_at) as day, p.amount, 'payment' as kind
            from public.payments as p where p.hospital_id = tests.id_of('hospitals', 'TSTA') and p.status = 'captured'
            union all
            select private.hospital_day(r.hospital_id, r.processed_at), -r.amount, 'refund'
            from public.refunds as r where r.hospital_id = tests.id_of('hospitals', 'TSTA') and r.status = 'processed'
        )
        select
            coalesce(sum(m.amount) filter (where m.day = current_setting('tests.today')::date), 0),
            (count(*) filter (where m.day = current_setting('tests.today')::date and m.kind = 'payment'))::integer,
            coalesce(sum(m.amount) filter (where m.day >= current_setting('tests.today')::date - 36), 0),
            (count(*) filter (where m.day >= current_setting('tests.today')::date - 36 and m.kind = 'payment'))::integer,
            coalesce(-sum(m.amount) filter (where m.day >= current_setting('tests.today')::date - 36
                and m.kind = 'refund'), 0),
            (select sum(i.total) from public.invoices as i where i.hospital_id = tests.id_of('hospitals', 'TSTA')
                and private.hospital_day(i.hospital_id, i.issued_at) >= current_setting('tests.today')::date - 36)
        from money as m $$,
    'the snapshot''s revenue, payments, refunds and invoiced are what the payments and invoices say'
);
select results_eq(
    $$ select a, (select tests.error_of(format('select public.financial_snapshot(%L)',
        tests.id_of('hospitals', 'TSTA')))
        ->> 'details' from (select tests.act_as(a)) as acting) from unnest(array['a_doctor', 'b_front_desk']) as a $$,
    $$ values ('a_doctor', 'not_front_office'), ('b_front_desk', 'not_front_office') $$,
    'the snapshot stays the front office''s'
);
select tests.act_as('b_front_desk');
select is(
    (select count(*) from private.revenue_money(tests.id_of('hospitals', 'TSTA'), current_date - 60, current_date + 1)),
    0::bigint, 'and its money per day gives another hospital nothing'
);

-- An appointment's new doctor moves its invoice's revenue; a new time zone re-dates it all.
select tests.clear_authentication();
update public.appointments set doctor_id = tests.id_of('doctors', 'a_doctor2')
where id = 'a0000000-0000-4000-8000-0000000000a1';
select is_empty(
    $$ select * from private.revenue_summary_differences(tests.id_of('hospitals', 'TSTA')) $$,
    'a visit''s new doctor takes its invoice''s revenue with it'
);
update public.hospitals set time_zone = 'America/Los_Angeles'
where id = tests.id_of('hospitals', 'TSTA');
select is_empty($$ select * from pg_temp.report_mismatches() $$, 'in a new time zone the reports equal the facts''');

-- The audit finds a tampered summary; the repair recomputes it.
update private.revenue_days set collected = collected + 0.01
where id = (
    select min(id) from private.revenue_days
    where hospital_id = tests.id_of('hospitals', 'TSTA')
);
select isnt_empty(
    $$ select * from private.revenue_summary_differences(tests.id_of('hospitals', 'TSTA')) $$,
    'a summary row changed behind the billing''s back shows in the audit'
);
select private.revenue_summary_rebuild(tests.id_of('hospitals', 'TSTA'));
select is_empty(
    $$ select * from private.revenue_summary_differences(tests.id_of('hospitals', 'TSTA')) $$,
    'and the repair recomputes it'
);

select * from finish();
rollback;
