-- Payment links cancelled on Razorpay too (issue 18): a link no longer needed (its invoice paid
-- at the counter, cancelled by a credit note, or what is due changed) is cancelled at the end of
-- the transaction and queued for the worker, which cancels it on Razorpay; a link Razorpay says
-- was paid first is recorded by its webhook all the same, the extra money a refundable credit.
-- The closing trigger is deferred (it runs at commit): `set constraints ... immediate` runs it
-- here, inside the test's transaction.
begin;
select plan(20);

select tests.create_world();

create function pg_temp.invoice(amount numeric)
returns uuid
language plpgsql
as $$
declare
    made uuid := gen_random_uuid();
begin
    insert into public.invoices (id, hospital_id, patient_id)
    values (made, tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'));
    insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price)
    values (made, 'Consultation', '999312', amount);
    perform public.issue_invoice(made);
    return made;
end;
$$;

create function pg_temp.link_of(invoice uuid)
returns uuid
language sql
as $$
    select (public.open_payment_link(invoice) -> 'link' ->> 'id')::uuid;
$$;

create function pg_temp.queued(link uuid)
returns text
language sql
security definer
as $$
    select c.state || coalesce('/' || c.outcome, '') from private.payment_link_cancels as c where c.link_id = link;
$$;

create function pg_temp.paid_event(link uuid, gateway_link text, paise integer, payment_id text)
returns text
language sql
as $$
    select jsonb_build_object(
        'entity', 'event', 'event', 'payment_link.paid',
        'payload', jsonb_build_object(
            'payment_link', jsonb_build_object('entity', jsonb_build_object(
                'id', gateway_link, 'status', 'paid', 'amount', paise, 'reference_id', link
            )),
            'payment', jsonb_build_object('entity', jsonb_build_object(
                'id', payment_id, 'entity', 'payment', 'amount', paise, 'currency', 'INR', 'status', 'captured',
                'order_id', 'order_' || payment_id, 'method', 'upi'
            ))
        )
    )::text
$$;

grant execute on all functions in schema pg_temp to authenticated, service_role;

-- A: 1000 due, its link made on Razorpay; then paid in full at the counter.
select tests.act_as('a_front_desk');
select tests.remember('a', pg_temp.invoice(1000));
select tests.remember('la', pg_temp.link_of(tests.recall('a')));
select tests.act_as_service_role();
select public.attach_payment_link(tests.recall('la'), 'plink_CA', 'https://rzp.io/rzp/CA');
select tests.act_as('a_front_desk');
select public.record_payment(tests.recall('a'), 1000, 'cash');
set constraints private.payment_link_checks_close_stale immediate;
set constraints private.payment_link_checks_close_stale deferred;
select results_eq(
    $$ select status, pg_temp.queued(id) from public.payment_links where id = tests.recall('la') $$,
    $$ values ('cancelled', 'pending') $$,
    'an invoice paid at the counter: its open link is cancelled and queued for Razorpay'
);

-- B: 800, a counter payment of 300 changes what is due.
select tests.remember('b', pg_temp.invoice(800));
select tests.remember('lb', pg_temp.link_of(tests.recall('b')));
select public.record_payment(tests.recall('b'), 300, 'upi');
set constraints private.payment_link_checks_close_stale immediate;
set constraints private.payment_link_checks_close_stale deferred;
select results_eq(
    $$ select status, pg_temp.queued(id) from public.payment_links where id = tests.recall('lb') $$,
    $$ values ('cancelled', 'pending') $$,
    'what is due changed: the link is cancelled and queued (Razorpay''s id is looked up there)'
);
select results_eq(
    $$ select (r -> 'link' ->> 'amount')::numeric, (r ->> 'reused')::boolean
        from public.open_payment_link(tests.recall('b')) as r $$,
    $$ values (500.00, false) $$,
    'the front desk opens a new one for what is left'
);

-- C: 400, cancelled by a credit note.
select tests.remember('c', pg_temp.invoice(400));
select tests.remember('lc', pg_temp.link_of(tests.recall('c')));
select public.issue_credit_note(tests.recall('c'), 400, 'billed by mistake');
set constraints private.payment_link_checks_close_stale immediate;
set constraints private.payment_link_checks_close_stale deferred;
select results_eq(
    $$ select status, pg_temp.queued(id) from public.payment_links where id = tests.recall('lc') $$,
    $$ values ('cancelled', 'pending') $$,
    'an invoice cancelled by a credit note: its link is cancelled and queued'
);

-- D: 600, its link paid by the patient on Razorpay.
select tests.remember('d', pg_temp.invoice(600));
select tests.remember('ld', pg_temp.link_of(tests.recall('d')));
select tests.act_as_service_role();
select public.attach_payment_link(tests.recall('ld'), 'plink_CD', 'https://rzp.io/rzp/CD');
set constraints private.payment_link_checks_close_stale immediate;
set constraints private.payment_link_checks_close_stale deferred;
select results_eq(
    $$ select status, pg_temp.queued(id) from public.payment_links where id = tests.recall('ld') $$,
    $$ values ('created', null::text) $$,
    'a link that still asks for what is due stays open'
);

-- The link paid through its own webhook is paid, not cancelled.
select results_eq(
    $$ select outcome, status from jsonb_to_record(public.receive_razorpay_webhook(
        pg_temp.paid_event(tests.recall('ld'), 'plink_CD', 60000, 'pay_CD'), 'evt_CD'
    )) as r (outcome text, status text) $$,
    $$ values ('applied', 'captured') $$,
    'payment_link.paid pays the invoice'
);
set constraints private.payment_link_checks_close_stale immediate;
set constraints private.payment_link_checks_close_stale deferred;
select results_eq(
    $$ select status, pg_temp.queued(id) from public.payment_links where id = tests.recall('ld') $$,
    $$ values ('paid', null::text) $$,
    'and its own link is paid, nothing to cancel'
);

-- The worker.
select tests.act_as('a_front_desk');
select is(
    tests.error_of($$ select * from public.claim_payment_link_cancels() $$) ->> 'code', '42501',
    'only the service role claims links to cancel'
);
select tests.act_as_service_role();
create temporary table claimed on commit drop as
select * from public.claim_payment_link_cancels(10, '1 minute', 3);
grant select on claimed to service_role;
create function pg_temp.lease(link uuid)
returns uuid
language sql
as $$
    select c.claim_token from claimed as c where c.link_id = link;
$$;
grant execute on function pg_temp.lease(uuid) to service_role;
select results_eq(
    $$ select link_id, attempts, gateway_link_id from claimed order by gateway_link_id nulls last, link_id $$,
    $$ select * from (values
        (tests.recall('la'), 1, 'plink_CA'),
        (least(tests.recall('lb'), tests.recall('lc')), 1, null),
        (greatest(tests.recall('lb'), tests.recall('lc')), 1, null)
    ) as v (link_id, attempts, gateway_link_id) $$,
    'the worker claims the three cancelled links, with Razorpay''s id when carebase has it'
);
select is(
    (select count(*) from public.claim_payment_link_cancels(10, '1 minute', 3)), 0::bigint,
    'a claimed link is not claimed twice while leased'
);
select is(
    public.fail_payment_link_cancel(
        tests.recall('la'), pg_temp.lease(tests.recall('la')),
        'Razorpay answered 503', false, 3
    ),
    'retry', 'Razorpay unavailable: retried later'
);
select is(
    public.complete_payment_link_cancel(tests.recall('la'), gen_random_uuid(), 'cancelled'), 'lost',
    'a report without the lease records nothing'
);
select is(
    public.complete_payment_link_cancel(
        tests.recall('lb'), pg_temp.lease(tests.recall('lb')), 'not_created'
    ),
    'done', 'a link Razorpay never made: done'
);
select is(
    public.fail_payment_link_cancel(
        tests.recall('lc'), pg_temp.lease(tests.recall('lc')),
        'Razorpay refused: bad request', true, 3
    ),
    'failed', 'a refusal it cannot explain: failed'
);

-- A create whose answer came after the link was cancelled: queued again, with Razorpay's id.
select public.attach_payment_link(tests.recall('lb'), 'plink_CB', 'https://rzp.io/rzp/CB');
select is(pg_temp.queued(tests.recall('lb')), 'pending', 'a link attached once cancelled is queued again');

-- A was paid on Razorpay before the cancel reached it: the worker says so, the webhook records it.
set local role postgres;
update private.payment_link_cancels set next_attempt_at = now()
where link_id = tests.recall('la');
select tests.act_as_service_role();
select is(
    public.complete_payment_link_cancel(
        tests.recall('la'),
        (
            select claim_token from public.claim_payment_link_cancels(10, '1 minute', 3)
            where link_id = tests.recall('la')
        ),
        'paid'
    ),
    'done', 'Razorpay says the patient paid the link first'
);
select results_eq(
    $$ select outcome, status from jsonb_to_record(public.receive_razorpay_webhook(
        pg_temp.paid_event(tests.recall('la'), 'plink_CA', 100000, 'pay_CA'), 'evt_CA'
    )) as r (outcome text, status text) $$,
    $$ values ('applied', 'captured') $$,
    'its payment_link.paid is recorded all the same: the money is real'
);
select tests.clear_authentication();
select results_eq(
    $$ select i.status::text, i.amount_paid, private.invoice_balance(i), l.status
        from public.invoices as i join public.payment_links as l on l.invoice_id = i.id
        where l.id = tests.recall('la') $$,
    $$ values ('paid', 2000.00, -1000.00, 'paid') $$,
    'the invoice is paid twice over: a credit of 1000'
);
select tests.act_as('a_front_desk');
select results_eq(
    $$ select r.amount, r.status::text from public.request_refund(
            (select payment_id from public.payment_links where id = tests.recall('la')), 1000, 'paid twice', 'cancel-la'
        ) as r $$,
    $$ values (1000.00, 'pending') $$,
    'the front desk refunds it through Razorpay'
);
select tests.clear_authentication();
select is(
    (
        select private.invoice_balance(i) from public.invoices as i
        where i.id = tests.recall('a')
    ),
    0.00, 'and nothing is owed either way'
);

select * from finish();
rollback;
