-- Financial records and reports (issue 18, items 3 and 4): the patient ledger with its running
-- balance, the financial snapshot and its revenue, seed 004's Financial_Records view, and the
-- reports (dashboard, revenue by month / service / doctor / insurer, appointments, patients)
-- for admins, a doctor's own figures for a doctor, nothing for anyone else, and text cells that
-- a spreadsheet shows as text.
begin;
select plan(23);

select tests.create_world();
select set_config('tests.today', private.hospital_today(tests.id_of('hospitals', 'TSTA'))::text, true);

-- A visit of a_patient1 with a_doctor: checked in, 12 minutes' wait, completed; invoiced with an
-- ECG, paid in part. A second invoice, without a visit, to an insurer whose name is a formula.
select tests.act_as('a_admin');
insert into public.billing_services (hospital_id, code, name, hsn_sac, unit_price, gst_rate, appointment_type)
values
(tests.id_of('hospitals', 'TSTA'), 'CONSULT', 'Consultation', '999312', 500, 0, 'consultation'),
(tests.id_of('hospitals', 'TSTA'), 'ECG', 'Electrocardiogram', '999316', 500, 0, null);
select tests.clear_authentication();
insert into public.appointments (id, hospital_id, doctor_id, patient_id, starts_at, ends_at, source)
values (
    'a0000000-0000-4000-8000-0000000000a1', tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'),
    tests.id_of('patients', 'a_patient1'), now() - interval '1 hour', now() - interval '40 minutes', 'front_desk'
);
update public.appointments set status = 'arrived'
where id = 'a0000000-0000-4000-8000-0000000000a1';
update public.appointments set status = 'checked_in'
where id = 'a0000000-0000-4000-8000-0000000000a1';
update public.appointments set status = 'in_consultation'
where id = 'a0000000-0000-4000-8000-0000000000a1';
update public.appointments set status = 'completed'
where id = 'a0000000-0000-4000-8000-0000000000a1';
update public.status_history set occurred_at = occurred_at + interval '12 minutes'
where subject_id = 'a0000000-0000-4000-8000-0000000000a1' and to_state in ('in_consultation', 'completed');

select tests.act_as('a_front_desk');
select tests.remember('visit', (public.invoice_appointment('a0000000-0000-4000-8000-0000000000a1', jsonb_build_array(
    jsonb_build_object('service_id', (
        select id from public.billing_services
        where code = 'ECG'
    ))
))).id);
select public.issue_invoice(tests.recall('visit')) is not null as issued;
select tests.remember('cash', (public.record_payment(tests.recall('visit'), 600, 'cash')).id);
select tests.remember('refund', (public.request_refund(tests.recall('cash'), 100, 'ECG redone', 'refund-key-r1')).id);
insert into public.invoices (id, hospital_id, patient_id, insurer_name)
values (
    'a0000000-0000-4000-8000-0000000000b1', tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'),
    '=HYPERLINK("http://evil.test","Star")'
);
insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price)
values ('a0000000-0000-4000-8000-0000000000b1', '@SUM(1+1)', '999312', 200);
select public.issue_invoice('a0000000-0000-4000-8000-0000000000b1') is not null as issued;
select public.issue_credit_note('a0000000-0000-4000-8000-0000000000b1', 50, 'goodwill') is not null as credited;

-- One after another: a transaction's now() is one moment, so the test spreads them out.
select tests.clear_authentication();
alter table public.invoices disable trigger invoices_guard_issued;
alter table public.credit_notes disable trigger credit_notes_guard;
update public.invoices set issued_at = now() - interval '5 seconds'
where id = tests.recall('visit');
update public.payments set captured_at = now() - interval '4 seconds'
where id = tests.recall('cash');
update public.refunds set created_at = now() - interval '3 seconds'
where payment_id = tests.recall('cash');
update public.invoices set issued_at = now() - interval '2 seconds'
where id = 'a0000000-0000-4000-8000-0000000000b1';
update public.credit_notes set issued_at = now() - interval '1 second'
where invoice_id = 'a0000000-0000-4000-8000-0000000000b1';
alter table public.invoices enable trigger invoices_guard_issued;
alter table public.credit_notes enable trigger credit_notes_guard;
select tests.act_as('a_front_desk');

-- The ledger ----------------------------------------------------------------------------------------
select results_eq(
    $$ select e ->> 'type', (e ->> 'debit')::numeric, (e ->> 'credit')::numeric, (e ->> 'balance')::numeric
        from jsonb_array_elements(public.patient_financials(tests.id_of('patients', 'a_patient1')) -> 'entries') as e $$,
    $$ values ('invoice', 1000.00, 0.00, 1000.00), ('payment', 0.00, 600.00, 400.00), ('refund', 100.00, 0.00, 500.00),
        ('invoice', 200.00, 0.00, 700.00), ('credit_note', 0.00, 50.00, 650.00) $$,
    'the ledger: invoices and refunds owed, payments and credit notes paid, with the running balance'
);
select is(
    public.patient_financials(tests.id_of('patients', 'a_patient1')) -> 'balances', '{"INR": 650.00}',
    'and what the patient owes'
);
select tests.act_as('a_patient1');
select is(
    public.patient_financials(tests.id_of('patients', 'a_patient1')) -> 'balances', '{"INR": 650.00}',
    'the patient reads their own ledger'
);
select tests.act_as('a_doctor');
select is(
    jsonb_array_length(public.patient_financials(tests.id_of('patients', 'a_patient1')) -> 'entries'), 0,
    'their doctor sees the patient but none of their money'
);
select tests.act_as('b_front_desk');
select is(
    tests.error_of($$ select public.patient_financials(tests.id_of('patients', 'a_patient1')) $$) ->> 'code', 'PT404',
    'another hospital does not reach the patient'
);

-- Seed 004 Financial_Records ---------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select results_eq(
    $$ select type, amount, status, payment_method from public.financial_records
        where patient_id = tests.id_of('patients', 'a_patient1') order by type, amount desc $$,
    $$ values ('Invoice', 1000.00, 'Pending', null::text), ('Invoice', 200.00, 'Pending', null),
        ('Payment', 500.00, 'Paid', 'cash') $$,
    'Financial_Records: invoices (Pending until paid) and payments less their refunds'
);
select is(
    (
        select count(*) from public.financial_records
        where date = current_setting('tests.today')::date
    ), 3::bigint,
    'dated by the hospital''s day'
);
select tests.act_as('b_front_desk');
select is((select count(*) from public.financial_records), 0::bigint, 'another hospital sees none of them');

-- The snapshot ------------------------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select results_eq(
    $$ select (s #>> '{today,revenue}')::numeric, (s #>> '{period,revenue}')::numeric,
        (s #>> '{period,invoiced}')::numeric, (s #>> '{pending_invoices,count}')::integer,
        (s #>> '{pending_invoices,amount}')::numeric, (s #>> '{overdue_invoices,count}')::integer
        from public.financial_snapshot(tests.id_of('hospitals', 'TSTA')) as s $$,
    $$ values (500.00, 500.00, 1200.00, 2, 650.00, 0) $$,
    'the snapshot: revenue kept today and this month, invoiced, what is pending'
);
select results_eq(
    $$ select a, (select tests.error_of(format('select public.financial_snapshot(%L)',
        tests.id_of('hospitals', 'TSTA')))
        ->> 'details' from (select tests.act_as(a)) as acting) from unnest(array['a_doctor', 'a_patient1', 'b_admin']) as a $$,
    $$ values ('a_doctor', 'not_front_office'), ('a_patient1', 'not_front_office'), ('b_admin', 'not_front_office') $$,
    'only the hospital''s front desk and admins read it'
);

-- Reports -----------------------------------------------------------------------------------------------
select tests.act_as('a_admin');
select results_eq(
    $$ select dimension, key, invoices, billed, collected from public.report_revenue(tests.id_of('hospitals', 'TSTA'),
        current_setting('tests.today')::date, current_setting('tests.today')::date) $$,
    $$ values ('month', to_char(current_setting('tests.today')::date, 'YYYY-MM'), 2::bigint, 1150.00, 500.00) $$,
    'revenue by month: billed less credit notes, collected less refunds'
);
select results_eq(
    $$ select key, billed, collected from public.report_revenue(tests.id_of('hospitals', 'TSTA'),
        current_setting('tests.today')::date, current_setting('tests.today')::date, 'service') order by billed, key $$,
    $$ values ('''@SUM(1+1)', 150.00, 0.00), ('CONSULT Consultation', 500.00, 250.00),
        ('ECG Electrocardiogram', 500.00, 250.00) $$,
    'by service, an invoice''s amounts spread over its lines; a typed line that looks like a formula is text'
);
select results_eq(
    $$ select label, billed, collected from public.report_revenue(tests.id_of('hospitals', 'TSTA'),
        current_setting('tests.today')::date, current_setting('tests.today')::date, 'insurer') order by billed $$,
    $$ values ('''=HYPERLINK("http://evil.test","Star")', 150.00, 0.00), ('Self-pay', 1000.00, 500.00) $$,
    'by insurer; an insurer''s name that would run as a formula in a spreadsheet starts with an apostrophe'
);
select results_eq(
    $$ select key, label, invoices from public.report_revenue(tests.id_of('hospitals', 'TSTA'),
        current_setting('tests.today')::date, current_setting('tests.today')::date, 'doctor') order by key = 'none' $$,
    $$ values (tests.id_of('doctors', 'a_doctor')::text, (select p.full_name from public.profiles as p
        where p.id = tests.user_id('a_doctor')), 1::bigint), ('none', 'No appointment', 1) $$,
    'by doctor, with their name'
);
select tests.clear_authentication();
select is(
    private.csv_safe('-2+3'), '''-2+3', 'a cell beginning with - is neutralized too'
);
select tests.act_as('a_admin');
select results_eq(
    $$ select total, completed, average_wait_minutes from public.report_appointments(tests.id_of('hospitals', 'TSTA'),
        current_setting('tests.today')::date - 1, current_setting('tests.today')::date + 1)
        where day = ((now() - interval '1 hour') at time zone 'Asia/Kolkata')::date $$,
    $$ values (1::bigint, 1::bigint, 12.0) $$,
    'appointments per day, with the wait from check-in to consultation'
);
select results_eq(
    $$ select (d ->> 'completed_appointments')::integer, (d ->> 'revenue')::numeric,
        (d ->> 'pending_invoices')::integer,
        (d ->> 'average_wait_minutes')::numeric, d ->> 'scope', (d ->> 'active_patients')::integer
        from public.report_dashboard(tests.id_of('hospitals', 'TSTA'), current_setting('tests.today')::date - 30,
            current_setting('tests.today')::date) as d $$,
    $$ values (1, 500.00, 2, 12.0, 'hospital', 1) $$,
    'the admin''s dashboard: visits, revenue collected, pending invoices, wait'
);
select ok(
    (select bool_and(p.visits >= 0) from public.report_patients(
        tests.id_of('hospitals', 'TSTA'),
        current_setting('tests.today')::date - 30,
        current_setting('tests.today')::date
    ) as p)
    and exists (select from
        public.report_patients(
            tests.id_of('hospitals', 'TSTA'),
            current_setting('tests.today')::date - 30,
            current_setting('tests.today')::date
        ) as p
    where p.month = to_char(current_setting('tests.today')::date, 'YYYY-MM') and p.patients_seen = 1),
    'patients per month: the patient seen this month'
);
select tests.act_as('a_doctor');
select results_eq(
    $$ select d ->> 'scope', (d ->> 'revenue')::numeric, (d ->> 'pending_invoices')::integer
        from public.report_dashboard(tests.id_of('hospitals', 'TSTA'), current_setting('tests.today')::date - 30,
            current_setting('tests.today')::date) as d $$,
    $$ values ('doctor', 500.00, 1) $$,
    'a doctor''s dashboard holds their own figures: their visit''s invoice, not the other'
);
select tests.act_as('a_doctor2');
select results_eq(
    $$ select (d ->> 'revenue')::numeric, (d ->> 'completed_appointments')::integer
        from public.report_dashboard(tests.id_of('hospitals', 'TSTA'), current_setting('tests.today')::date - 30,
            current_setting('tests.today')::date) as d $$,
    $$ values (0.00, 0) $$,
    'another doctor''s figures are theirs alone'
);
select results_eq(
    $$ select a, (select tests.error_of(format(
            'select public.report_revenue(%L, current_date, current_date)', tests.id_of('hospitals', 'TSTA')
        )) ->> 'details' from (select tests.act_as(a)) as acting)
        from unnest(array['a_front_desk', 'a_patient1', 'a_nurse', 'b_admin', 'b_doctor']) as a $$,
    $$ values ('a_front_desk', 'not_report_reader'), ('a_patient1', 'not_report_reader'),
        ('a_nurse', 'not_report_reader'),
        ('b_admin', 'not_report_reader'), ('b_doctor', 'not_report_reader') $$,
    'reports are for the hospital''s admins and doctors only'
);
select tests.act_as('a_admin');
select is(
    tests.error_of($$ select public.report_revenue(tests.id_of('hospitals', 'TSTA'), current_date, current_date - 1) $$)
    ->> 'details', 'bad_period', 'a reversed period is refused'
);
select is(
    tests.error_of($$ select public.report_revenue(tests.id_of('hospitals', 'TSTA'), current_date, current_date,
        'colour') $$) ->> 'details', 'unknown_grouping', 'so is an unknown grouping'
);

select * from finish();
rollback;
