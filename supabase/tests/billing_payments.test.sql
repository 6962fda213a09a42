-- Payments and refunds (issue 18, item 2): counter payments get gapless receipts and are
-- idempotent; a card number is never stored; an online payment moves forward only on Razorpay's
-- webhook, a replayed event changing nothing; refunds never exceed what was captured, answer
-- the same refund for the same key, and go back when the gateway refuses them; the patient reads
-- their own payments, the hospital's front office theirs, nobody else.
-- (Concurrent refunds and issues: tests/test_billing_concurrency.py.)
begin;
select plan(48);

select tests.create_world();
select set_config(
    'tests.fy', private.indian_fiscal_year(private.hospital_today(tests.id_of('hospitals', 'TSTA'))), true
);

-- An issued invoice of 1000 for a_patient1, a second one of 500.
create function pg_temp.issued_invoice(amount numeric)
returns uuid
language plpgsql
as $$
declare
    made uuid := gen_random_uuid();
begin
    perform tests.act_as('a_front_desk');
    insert into public.invoices (id, hospital_id, patient_id)
    values (made, tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'));
    insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price)
    values (made, 'Consultation', '999312', amount);
    perform public.issue_invoice(made);
    perform tests.clear_authentication();
    return made;
end;
$$;
select tests.remember('invoice', pg_temp.issued_invoice(1000));
select tests.remember('online_invoice', pg_temp.issued_invoice(500));

-- Counter payments -----------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select results_eq(
    $$ select receipt_number, status::text, amount, method::text, recorded_by
        from public.record_payment(tests.recall('invoice'), 300, 'cash', idempotency_key => 'counter-key-1') $$,
    $$ values ('TSTA/RCP/' || current_setting('tests.fy') || '/000001', 'captured', 300.00, 'cash',
        tests.user_id('a_front_desk')) $$,
    'a counter payment is captured at once with the first receipt number of the fiscal year'
);
select results_eq(
    $$ select status::text, amount_paid from public.invoices where id = tests.recall('invoice') $$,
    $$ values ('partially_paid', 300.00) $$, 'the invoice is partially paid'
);
select results_eq(
    $$ select receipt_number, (select count(*) from public.payments where invoice_id = tests.recall('invoice'))
        from public.record_payment(tests.recall('invoice'), 300, 'cash', idempotency_key => 'counter-key-1') $$,
    $$ values ('TSTA/RCP/' || current_setting('tests.fy') || '/000001', 1::bigint) $$,
    'recording it again with the same key answers the same payment: no second receipt, no double payment'
);
select is(
    tests.error_of(
        $$ select public.record_payment(tests.recall('invoice'), 250, 'cash', idempotency_key => 'counter-key-1') $$
    )
    ->> 'details', 'idempotency_key_reused', 'the same key for another amount is refused'
);
select is(
    tests.error_of($$ select public.record_payment(tests.recall('invoice'), 800, 'upi') $$) ->> 'details',
    'payment_exceeds_balance', 'a payment never exceeds what is due'
);
select is(
    tests.error_of($$ select public.record_payment(tests.recall('invoice'), 100, 'online') $$) ->> 'details',
    'online_through_gateway', 'an online payment is not recorded at the counter'
);
select is(
    tests.error_of($$ select public.record_payment(tests.recall('invoice'), 100, 'card_terminal',
        reference => 'card 4111 1111 1111 1111 exp 12/26') $$) ->> 'details',
    'card_data_refused', 'a card number in the reference is refused'
);
select is(
    (
        select count(*) from public.payments
        where invoice_id = tests.recall('invoice') and reference like '%4111%'
    ), 0::bigint, 'and nothing of it is stored'
);
select results_eq(
    $$ select receipt_number, reference, amount from public.record_payment(tests.recall('invoice'), 700, 'upi',
        reference => '412345678901') $$,
    $$ values ('TSTA/RCP/' || current_setting('tests.fy') || '/000002', '412345678901', 700.00) $$,
    'a UPI reference is kept; the next receipt number follows'
);
select results_eq(
    $$ select status::text, amount_paid from public.invoices where id = tests.recall('invoice') $$,
    $$ values ('paid', 1000.00) $$, 'the invoice is paid'
);
select is(
    tests.error_of($$ select public.record_payment(tests.recall('invoice'), 1, 'cash') $$) ->> 'details',
    'invoice_not_payable', 'a paid invoice takes no more'
);
select is(
    tests.error_of(
        $$ insert into public.payments (hospital_id, patient_id, invoice_id, method, amount, currency, status)
        values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'), tests.recall('invoice'),
        'cash', 5, 'INR', 'captured') $$
    )
    ->> 'code',
    '42501', 'payments are written only by the billing functions'
);
select tests.act_as('a_patient1');
select is(
    tests.error_of($$ select public.record_payment(tests.recall('online_invoice'), 100, 'cash') $$) ->> 'code',
    'PT404', 'a patient records no counter payment'
);
select tests.act_as('b_front_desk');
select is(
    tests.error_of($$ select public.record_payment(tests.recall('online_invoice'), 100, 'cash') $$) ->> 'code',
    'PT404', 'nor another hospital''s front desk'
);

-- Online: Razorpay -------------------------------------------------------------------------------
select tests.act_as('a_patient1');
select tests.remember('online', (public.begin_online_payment(tests.recall('online_invoice'))).id);
select results_eq(
    $$ select status::text, amount, method::text, gateway, receipt_number from public.payments
        where id = tests.recall('online') $$,
    $$ values ('created', 500.00, 'online', 'razorpay', null::text) $$,
    'the patient starts paying online what is due: a created payment, no receipt yet'
);
select is(
    (public.begin_online_payment(tests.recall('online_invoice'))).id, tests.recall('online'),
    'a second tap on "pay" answers the same payment'
);
select tests.act_as('b_patient3');
select is(
    tests.error_of($$ select public.begin_online_payment(tests.recall('online_invoice')) $$) ->> 'code', 'PT404',
    'another patient cannot pay on (or learn of) the invoice'
);
select tests.act_as('a_front_desk');
select is(
    tests.error_of($$ select public.receive_razorpay_webhook('{}', 'evt_x') $$) ->> 'code', '42501',
    'nobody but the service role (the sidecar, after the signature) hands in webhooks'
);
select tests.act_as_service_role();
select is(
    (public.attach_gateway_order(tests.recall('online'), 'order_T1')).gateway_order_id, 'order_T1',
    'the sidecar attaches the order Razorpay created'
);

create function pg_temp.event(kind text, payment_id text, paise integer, order_id text default 'order_T1')
returns text
language sql
as $$
    select jsonb_build_object(
        'entity', 'event', 'account_id', 'acc_test', 'event', kind, 'contains', jsonb_build_array('payment'),
        'payload', jsonb_build_object('payment', jsonb_build_object('entity', jsonb_build_object(
            'id', payment_id, 'entity', 'payment', 'amount', paise, 'currency', 'INR',
            'status', split_part(kind, '.', 2), 'order_id', order_id, 'method', 'card',
            'card', jsonb_build_object('last4', '1111', 'network', 'Visa'),
            'email', 'patient@example.test', 'contact', '+919800010001',
            'error_description', case when kind = 'payment.failed' then 'Payment declined by the bank' end
        ))),
        'created_at', 1767225600
    )::text
$$;
grant execute on function pg_temp.event(text, text, integer, text) to service_role;

select results_eq(
    $$ select outcome, status, payment_id from jsonb_to_record(
        public.receive_razorpay_webhook(pg_temp.event('payment.authorized', 'pay_T1', 50000), 'evt_1')
    ) as r (outcome text, status text, payment_id uuid) $$,
    $$ values ('applied', 'authorized', tests.recall('online')) $$,
    'payment.authorized moves the payment forward'
);
select results_eq(
    $$ select outcome, status from jsonb_to_record(
        public.receive_razorpay_webhook(pg_temp.event('payment.captured', 'pay_T1', 50000), 'evt_2')
    ) as r (outcome text, status text) $$,
    $$ values ('applied', 'captured') $$,
    'payment.captured captures it'
);
select tests.clear_authentication();
create temporary table after_capture as
select
    (
        select to_jsonb(p) from public.payments as p
        where p.id = tests.recall('online')
    ) as payment,
    (
        select to_jsonb(i) from public.invoices as i
        where i.id = tests.recall('online_invoice')
    ) as invoice,
    (select count(*) from public.status_history) as history,
    (
        select count(*) from private.webhook_inbox
        where provider = 'razorpay'
    ) as inbox;
select results_eq(
    $$ select payment ->> 'receipt_number', payment ->> 'gateway_payment_id', invoice ->> 'status',
        invoice ->> 'amount_paid'
        from after_capture $$,
    $$ values ('TSTA/RCP/' || current_setting('tests.fy') || '/000003', 'pay_T1', 'paid', '500.00') $$,
    'a captured online payment gets the next receipt number and pays the invoice'
);
select tests.act_as_service_role();
select is(
    public.receive_razorpay_webhook(pg_temp.event('payment.captured', 'pay_T1', 50000), 'evt_2') ->> 'outcome',
    'duplicate', 'the same event again (Razorpay retries) is a duplicate'
);
select is(
    public.receive_razorpay_webhook(pg_temp.event('order.paid', 'pay_T1', 50000), 'evt_3') ->> 'reason',
    'no_change', 'another event saying the same (order.paid) changes nothing'
);
select results_eq(
    $$ select r ->> 'outcome', r ->> 'reason' from
        public.receive_razorpay_webhook(pg_temp.event('payment.failed', 'pay_T1', 50000), 'evt_4') as r $$,
    $$ values ('ignored', 'not_forward') $$,
    'a late payment.failed never moves a captured payment back'
);
select tests.clear_authentication();
select ok(
    (select payment from after_capture) - 'updated_at' = (
        select to_jsonb(p) - 'updated_at' from public.payments as p
        where p.id = tests.recall('online')
    )
    and (select invoice from after_capture) = (
        select to_jsonb(i) from public.invoices as i
        where i.id = tests.recall('online_invoice')
    )
    and (select history from after_capture) = (select count(*) from public.status_history),
    'after the replay and the late events the payment, the invoice and the history are as they were'
);
select is(
    (
        select count(*) from private.webhook_inbox
        where provider = 'razorpay'
    ) - (select inbox from after_capture
    ),
    2::bigint, 'the replay counted a delivery; the other two events are stored with their outcome, none dropped'
);
select is(
    (
        select deliveries from private.webhook_inbox
        where provider = 'razorpay' and event_key = 'event:evt_2'
    ), 2,
    'the replay is counted on its entry'
);
select is_empty(
    $$ select 1 from private.webhook_inbox where provider = 'razorpay' and payload::text like '%1111%' $$,
    'the stored events keep no card details'
);
select tests.act_as_service_role();
select results_eq(
    $$ select r ->> 'outcome', r ->> 'reason' from (values
        (public.receive_razorpay_webhook(pg_temp.event('payment.captured', 'pay_T9', 50000, 'order_unknown'), 'evt_5')),
        (public.receive_razorpay_webhook('{not json', 'evt_6')),
        (public.receive_razorpay_webhook('{"event": "settlement.processed", "payload": {}}', 'evt_7'))
    ) as x (r) $$,
    $$ values ('unprocessable', 'unknown_order'), ('unprocessable', 'malformed_json'),
        ('ignored', 'unsupported_event') $$,
    'an unknown order, a malformed body and an unsupported event are stored with their reason'
);
-- A second order, whose first attempt failed and second succeeded with the wrong amount, then right.
select tests.clear_authentication();
select tests.remember('second_invoice', pg_temp.issued_invoice(200));
select tests.act_as('a_front_desk');
select tests.remember('second', (public.begin_online_payment(tests.recall('second_invoice'))).id);
select tests.act_as_service_role();
select public.attach_gateway_order(tests.recall('second'), 'order_T2') is not null as attached;
select results_eq(
    $$ select r ->> 'outcome', r ->> 'reason' from (values
        (public.receive_razorpay_webhook(pg_temp.event('payment.failed', 'pay_F1', 20000, 'order_T2'), 'evt_8')),
        (public.receive_razorpay_webhook(pg_temp.event('payment.captured', 'pay_F2', 19900, 'order_T2'), 'evt_9')),
        (public.receive_razorpay_webhook(pg_temp.event('payment.captured', 'pay_F2', 20000, 'order_T2'), 'evt_10'))
    ) as x (r) $$,
    $$ values ('applied', null), ('unprocessable', 'amount_mismatch'), ('applied', null) $$,
    'a failed attempt fails its payment; an amount that is not the order''s is refused; a later attempt '
    || 'that succeeds is recorded'
);
select tests.clear_authentication();
select results_eq(
    $$ select gateway_payment_id, status::text from public.payments where gateway_order_id = 'order_T2'
        order by created_at $$,
    $$ values ('pay_F1', 'failed'), ('pay_F2', 'captured') $$,
    'as its own payment: the money taken is never lost, the failed one stays failed'
);

-- Refunds ------------------------------------------------------------------------------------------
select tests.remember(
    'cash', (
        select id from public.payments
        where idempotency_key = 'counter-key-1'
    )
);
select tests.act_as('a_front_desk');
select results_eq(
    $$ select status::text, amount, processed_at is not null from public.request_refund(tests.recall('cash'), 100,
        'overcharged', 'refund-key-0001') $$,
    $$ values ('processed', 100.00, true) $$,
    'a counter payment''s refund is processed at once (cash back)'
);
select is(
    (public.request_refund(tests.recall('cash'), 100, 'overcharged', 'refund-key-0001')).id,
    (
        select id from public.refunds
        where idempotency_key = 'refund-key-0001'
    ),
    'asking again with the same key answers the same refund'
);
select is(
    tests.error_of($$ select public.request_refund(tests.recall('cash'), 150, 'overcharged', 'refund-key-0001') $$)
    ->> 'details', 'idempotency_key_reused', 'the same key for another amount is refused'
);
select is(
    (public.request_refund(tests.recall('cash'), 150, 'second part', 'refund-key-0002')).amount, 150.00,
    'a second partial refund'
);
select is(
    tests.error_of($$ select public.request_refund(tests.recall('cash'), 50.01, 'too much', 'refund-key-0003') $$)
    ->> 'details', 'refund_exceeds_captured', 'one paisa beyond what was captured is refused'
);
select results_eq(
    $$ select p.amount_refunded, i.amount_paid, i.status::text from public.payments as p
        join public.invoices as i on i.id = p.invoice_id where p.id = tests.recall('cash') $$,
    $$ values (250.00, 750.00, 'partially_paid') $$,
    'the refunds are counted on the payment, and the invoice is open again for what went back'
);
select is(
    tests.error_of($$ select public.request_refund(tests.recall('cash'), 10, 'x', 'short') $$) ->> 'details',
    'idempotency_key_required', 'a refund needs a proper idempotency key'
);
select tests.clear_authentication();
select is(
    tests.error_of($$ update public.payments set amount_refunded = amount + 1 where id = tests.recall('cash') $$)
    ->> 'code',
    '23514', 'and even the table owner cannot count more refunded than captured (CHECK)'
);
select tests.act_as('a_patient1');
select is(
    tests.error_of($$ select public.request_refund(tests.recall('cash'), 10, 'mine', 'refund-key-0009') $$) ->> 'code',
    'PT404', 'the patient does not refund themselves'
);

-- An online refund: pending, refused by the gateway (given back), then processed by the webhook.
select tests.act_as('a_front_desk');
select
    tests.remember(
        'online_refund', (public.request_refund(tests.recall('online'), 200, 'not seen', 'refund-key-0010')).id
    );
select
    tests.remember(
        'online_refund2', (public.request_refund(tests.recall('online'), 300, 'rest', 'refund-key-0011')).id
    );
select is(
    tests.error_of($$ select public.request_refund(tests.recall('online'), 1, 'x', 'refund-key-0012') $$) ->> 'details',
    'refund_exceeds_captured', 'pending refunds count: nothing is left to refund'
);
select tests.act_as_service_role();
select results_eq(
    $$ select status::text, gateway_refund_id
        from public.record_gateway_refund(tests.recall('online_refund'), 'rfnd_1', 'failed') $$,
    $$ values ('failed', 'rfnd_1') $$,
    'the gateway refused the first refund'
);
select is(
    public.receive_razorpay_webhook(jsonb_build_object(
        'entity', 'event', 'event', 'refund.processed', 'contains', jsonb_build_array('refund'),
        'payload', jsonb_build_object('refund', jsonb_build_object('entity', jsonb_build_object(
            'id', 'rfnd_2', 'entity', 'refund', 'amount', 30000, 'currency', 'INR', 'payment_id', 'pay_T1',
            'status', 'processed', 'notes', jsonb_build_object('refund_id', tests.recall('online_refund2'))
        )))
    )::text, 'evt_20') ->> 'outcome',
    'applied', 'refund.processed settles the second, found by the refund id carebase sent in its notes'
);
select is(
    public.receive_razorpay_webhook(jsonb_build_object(
        'event', 'refund.failed',
        'payload', jsonb_build_object('refund', jsonb_build_object('entity', jsonb_build_object(
            'id', 'rfnd_2', 'amount', 30000, 'currency', 'INR', 'status', 'failed'
        )))
    )::text, 'evt_21') ->> 'reason',
    'not_forward', 'a processed refund never fails afterwards'
);
select tests.clear_authentication();
select results_eq(
    $$ select p.amount_refunded, i.amount_paid, i.status::text from public.payments as p
        join public.invoices as i on i.id = p.invoice_id where p.id = tests.recall('online') $$,
    $$ values (300.00, 200.00, 'partially_paid') $$,
    'the refused refund''s amount is the patient''s payment again; the processed one is not'
);

-- Who reads -------------------------------------------------------------------------------------------
create function pg_temp.seen(actor text)
returns text
language plpgsql
as $$
declare
    answer text;
begin
    perform tests.act_as(actor);
    select format('%s payments, %s refunds', (select count(*) from public.payments), (select count(*) from public.refunds))
    into answer;
    perform tests.clear_authentication();
    return answer;
end;
$$;
select results_eq(
    $$ select a, pg_temp.seen(a) from unnest(array['a_front_desk', 'a_admin', 'a_patient1', 'a_patient2', 'a_doctor',
        'a_nurse', 'b_front_desk', 'nobody']) as a $$,
    $$ values ('a_front_desk', '5 payments, 4 refunds'), ('a_admin', '5 payments, 4 refunds'),
        ('a_patient1', '5 payments, 4 refunds'), ('a_patient2', '0 payments, 0 refunds'), ('a_doctor', '0 payments, 0 refunds'),
        ('a_nurse', '0 payments, 0 refunds'), ('b_front_desk', '0 payments, 0 refunds'), ('nobody', '0 payments, 0 refunds') $$,
    'payments and refunds: the patient''s own, the hospital''s front desk and admins, nobody else'
);
select results_eq(
    $$ select machine, from_state, to_state from public.status_history where subject_id = tests.recall('online')
        order by occurred_at $$,
    $$ values ('payment', null, 'created'), ('payment', 'created', 'authorized'),
        ('payment', 'authorized', 'captured') $$,
    'every step of a payment is in the status history'
);

select * from finish();
rollback;
