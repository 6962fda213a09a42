-- Payment links (issue 18, items 2 and 6): one open link per invoice, for the outstanding
-- patient share, opened only by the invoice's hospital's front office; Razorpay's
-- payment_link.paid records the payment as an order's capture is (its receipt, the invoice
-- paid), once; a wrong amount records nothing; the link emailed only with an address and
-- consent; read by the front office and the patient, written by nobody directly.
begin;
select plan(21);

select tests.create_world();

-- An issued invoice of 1000 for a_patient1 of which the insurer pays 400.
select tests.act_as('a_front_desk');
select tests.remember('invoice', gen_random_uuid());
insert into public.invoices (id, hospital_id, patient_id, insurer_name)
values (
    tests.recall('invoice'), tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'), 'Star Health'
);
insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price, insurer_share, patient_share)
values (tests.recall('invoice'), 'Consultation', '999312', 1000, 400, 600);
select public.issue_invoice(tests.recall('invoice'));

select results_eq(
    $$ select (r -> 'link' ->> 'amount')::numeric, r -> 'link' ->> 'status', (r ->> 'reused')::boolean
        from public.open_payment_link(tests.recall('invoice')) as r $$,
    $$ values (600.00, 'created', false) $$,
    'the front desk opens a link for the patient''s share, not the insurer''s'
);
select tests.remember('link', (
    select id from public.payment_links
    where invoice_id = tests.recall('invoice')
));
select results_eq(
    $$ select (r -> 'link' ->> 'id')::uuid, (r ->> 'reused')::boolean
        from public.open_payment_link(tests.recall('invoice')) as r $$,
    $$ values (tests.recall('link'), true) $$,
    'asked again, the same link'
);
select is(
    tests.error_of($$ insert into public.payment_links (hospital_id, patient_id, invoice_id, amount, currency)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'), tests.recall('invoice'), 1, 'INR') $$)
    ->> 'code', '42501', 'nobody writes a link directly'
);
select is(
    tests.error_of($$ select public.attach_payment_link(tests.recall('link'), 'plink_X', 'https://rzp.io/x') $$)
    ->> 'code', '42501', 'only the service role attaches Razorpay''s link'
);
select public.record_payment(tests.recall('invoice'), 100, 'cash');
select results_eq(
    $$ select (r -> 'link' ->> 'amount')::numeric, (r ->> 'reused')::boolean
        from public.open_payment_link(tests.recall('invoice')) as r $$,
    $$ values (500.00, false) $$,
    'after a counter payment, a new link for what is left'
);
select results_eq(
    $$ select status, count(*) over () from public.payment_links where invoice_id = tests.recall('invoice')
        order by created_at, status $$,
    $$ values ('cancelled', 2::bigint), ('created', 2::bigint) $$,
    'the old link is cancelled: one open link per invoice'
);
select
    tests.remember('link', (
        select id from public.payment_links
        where invoice_id = tests.recall('invoice') and status = 'created'
    ));
select results_eq(
    $$ select public.email_payment_link(tests.recall('invoice')) $$,
    $$ values ('{"queued": false, "reason": "no_open_link"}'::jsonb) $$,
    'a link Razorpay has not made yet is not emailed'
);

select tests.act_as('b_front_desk');
select is(
    tests.error_of($$ select public.open_payment_link(tests.recall('invoice')) $$) ->> 'code', 'PT404',
    'another hospital''s front desk cannot open one'
);
select is((select count(*) from public.payment_links), 0::bigint, 'nor read them');
select tests.act_as('a_patient1');
select is(
    tests.error_of($$ select public.open_payment_link(tests.recall('invoice')) $$) ->> 'code', 'PT404',
    'the patient does not open links (the front office does)'
);
select is(
    (
        select count(*) from public.payment_links
        where invoice_id = tests.recall('invoice')
    ), 2::bigint,
    'but reads their own'
);
select tests.act_as('a_patient2');
select is((select count(*) from public.payment_links), 0::bigint, 'another patient reads none');

select tests.act_as_service_role();
select is(
    (public.attach_payment_link(tests.recall('link'), 'plink_T1', 'https://rzp.io/rzp/T1')).short_url,
    'https://rzp.io/rzp/T1', 'the sidecar attaches Razorpay''s link'
);

create function pg_temp.paid(paise integer, payment_id text default 'pay_L1')
returns text
language sql
as $$
    select jsonb_build_object(
        'entity', 'event', 'event', 'payment_link.paid', 'contains', jsonb_build_array('payment_link', 'order', 'payment'),
        'payload', jsonb_build_object(
            'payment_link', jsonb_build_object('entity', jsonb_build_object(
                'id', 'plink_T1', 'status', 'paid', 'amount', paise, 'amount_paid', paise, 'order_id', 'order_L1',
                'reference_id', tests.recall('link')
            )),
            'order', jsonb_build_object('entity', jsonb_build_object('id', 'order_L1', 'amount', paise, 'status', 'paid')),
            'payment', jsonb_build_object('entity', jsonb_build_object(
                'id', payment_id, 'entity', 'payment', 'amount', paise, 'currency', 'INR', 'status', 'captured',
                'order_id', 'order_L1', 'method', 'upi'
            ))
        )
    )::text
$$;
grant execute on function pg_temp.paid(integer, text) to service_role;

select results_eq(
    $$ select outcome, reason from jsonb_to_record(
        public.receive_razorpay_webhook(pg_temp.paid(40000, 'pay_L0'), 'evt_L0')
    ) as r (outcome text, reason text) $$,
    $$ values ('unprocessable', 'amount_mismatch') $$,
    'a paid link reporting another amount is not applied'
);
select is(
    (
        select count(*) from public.payments
        where gateway_payment_id = 'pay_L0' or gateway_order_id = 'order_L1'
    ),
    0::bigint, 'and records no payment'
);
select results_eq(
    $$ select outcome, status from jsonb_to_record(public.receive_razorpay_webhook(pg_temp.paid(50000), 'evt_L1'))
        as r (outcome text, status text) $$,
    $$ values ('applied', 'captured') $$,
    'payment_link.paid captures the link''s payment'
);
select results_eq(
    $$ select outcome from jsonb_to_record(public.receive_razorpay_webhook(pg_temp.paid(50000), 'evt_L1'))
        as r (outcome text) $$,
    $$ values ('duplicate') $$,
    'a replay is a duplicate'
);
select tests.clear_authentication();
select results_eq(
    $$ select p.method::text, p.gateway_order_id, p.receipt_number is not null, l.status, i.status::text, i.amount_paid
        from public.payment_links as l
        join public.payments as p on p.id = l.payment_id
        join public.invoices as i on i.id = l.invoice_id
        where l.id = tests.recall('link') $$,
    $$ values ('online', 'order_L1', true, 'paid', 'partially_paid', 600.00) $$,
    'one online payment with its receipt number, the link paid, the patient''s share paid'
);
select is(
    (
        select count(*) from public.payments
        where invoice_id = tests.recall('invoice')
    ), 2::bigint,
    'the replay paid nothing twice'
);
select tests.act_as('a_front_desk');
select is(
    tests.error_of($$ select public.open_payment_link(tests.recall('invoice')) $$) ->> 'details', 'nothing_due',
    'the patient owes nothing more: no new link (the insurer''s share is the insurer''s)'
);
select tests.act_as_service_role();
select results_eq(
    $$ select outcome, reason from jsonb_to_record(public.receive_razorpay_webhook(
        jsonb_build_object('event', 'payment_link.expired', 'payload', jsonb_build_object(
            'payment_link', jsonb_build_object('entity', jsonb_build_object('id', 'plink_unknown'))))::text, 'evt_L2'))
        as r (outcome text, reason text) $$,
    $$ values ('unprocessable', 'unknown_payment_link') $$,
    'an event of a link carebase does not know is kept as unprocessable'
);

select * from finish();
rollback;
