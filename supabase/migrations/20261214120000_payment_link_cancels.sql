-- Payment links cancelled on Razorpay too (issue 18, item 2): a link carebase no longer needs
-- must not stay payable on Razorpay's page, or the patient could pay twice.
--
--   * When an invoice's money changes (a counter payment, an order's checkout, a refund, a
--     credit note: its amount_paid, amount_credited or status), its open link is closed at the
--     end of the transaction when it no longer asks for what is due: the invoice is not payable
--     any more (paid, cancelled), or the outstanding patient share is another amount. A
--     deferred trigger, so that the payment_link.paid webhook, which captures the link's own
--     payment and then marks the link paid in the same transaction, is not taken for a payment
--     made another way. The deferred check is queued in a private table
--     (private.payment_link_checks), only for an invoice with an open link, so that no event
--     stays pending on public.invoices itself (an ALTER TABLE of it in the same transaction
--     would be refused). rpc/open_payment_link still supersedes a stale link itself.
--   * Every link carebase cancels (and one Razorpay attached after it was cancelled: a create
--     whose answer came late) is queued in private.payment_link_cancels; the worker
--     (sidecar/jobs/payment_link_cancels.py) claims it (rpc/claim_payment_link_cancels: a
--     lease, attempts with backoff), cancels it on Razorpay (POST /v1/payment_links/{id}/cancel;
--     a link whose Razorpay id carebase never stored is looked up by its reference_id, the link's
--     id) and reports with rpc/complete_payment_link_cancel (cancelled; paid: the patient paid it
--     first, the payment_link.paid webhook records that payment, and what it pays beyond what is
--     due stays on the invoice as a credit the front desk can refund; expired; not_created) or
--     rpc/fail_payment_link_cancel (retried with backoff, failed after max_attempts or a
--     refusal).

create table private.payment_link_cancels (
    link_id uuid primary key references public.payment_links (id) on delete cascade,
    state text not null default 'pending',
    outcome text,
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    claim_token uuid,
    lease_until timestamptz,
    last_error text,
    created_at timestamptz not null default now(),
    done_at timestamptz,
    constraint payment_link_cancels_state_known check (state in ('pending', 'done', 'failed')),
    constraint payment_link_cancels_outcome_known check (
        outcome in ('cancelled', 'paid', 'expired', 'not_created')
    ),
    constraint payment_link_cancels_done_with_outcome check ((state = 'done') = (outcome is not null))
);

create index payment_link_cancels_due_idx on private.payment_link_cancels (next_attempt_at) where state = 'pending';

alter table private.payment_link_cancels enable row level security;
revoke all on private.payment_link_cancels from anon, authenticated, service_role;

comment on table private.payment_link_cancels is
'Payment links carebase cancelled, to cancel on Razorpay too: the worker''s lease and attempts, '
'and what Razorpay answered (outcome cancelled, paid, expired or not_created).';

-- After a link is cancelled here (or gets its Razorpay id once cancelled): queued for Razorpay.
-- Security definer: the queue is private.
create function private.queue_payment_link_cancel()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if new.status = 'cancelled'
        and (old.status = 'created' or (old.gateway_link_id is null and new.gateway_link_id is not null)) then
        insert into private.payment_link_cancels as c (link_id)
        values (new.id)
        on conflict (link_id) do update
        set state = 'pending', outcome = null, attempts = 0, next_attempt_at = now(), last_error = null,
            done_at = null;
    end if;
    return null;
end;
$$;

comment on function private.queue_payment_link_cancel() is
'Queues a payment link cancelled in carebase (or attached to Razorpay''s link once cancelled) '
'for the worker to cancel on Razorpay.';

create trigger payment_links_queue_cancel
after update of status, gateway_link_id on public.payment_links
for each row execute function private.queue_payment_link_cancel();

-- Invoices whose money changed in this transaction while they had an open link: checked at the
-- end of it (the deferred trigger below), then forgotten.
create table private.payment_link_checks (
    invoice_id uuid primary key,
    created_at timestamptz not null default now()
);

alter table private.payment_link_checks enable row level security;
revoke all on private.payment_link_checks from anon, authenticated, service_role;

comment on table private.payment_link_checks is
'Invoices whose amount_paid, amount_credited or status changed in the running transaction while '
'they had an open payment link: their link is checked at commit (private.close_stale_payment_link) '
'and the row removed.';

-- After an invoice's money changed. Security definer: it may follow a patient's own online
-- payment, and the checks are private.
create function private.note_payment_link_check()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if exists (select from public.payment_links as l where l.invoice_id = new.id and l.status = 'created') then
        insert into private.payment_link_checks (invoice_id) values (new.id)
        on conflict (invoice_id) do nothing;
    end if;
    return null;
end;
$$;

comment on function private.note_payment_link_check() is
'After an invoice''s amount_paid, amount_credited or status changed: when it has an open payment '
'link, queues the check of that link for the end of the transaction.';

create trigger invoices_note_payment_link_check
after update of amount_paid, amount_credited, status on public.invoices
for each row execute function private.note_payment_link_check();

-- At the end of the transaction: the invoice's open link, when it no longer asks for what is
-- due, is cancelled (and so queued for Razorpay). Security definer: see above.
create function private.close_stale_payment_link()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    invoice public.invoices;
    link public.payment_links;
begin
    delete from private.payment_link_checks as c where c.invoice_id = new.invoice_id;
    select l.* into link from public.payment_links as l
    where l.invoice_id = new.invoice_id and l.status = 'created'
    for update skip locked;
    -- None open, or one another transaction holds (the payment_link.paid webhook paying it, which
    -- locks the link before the invoice: waiting here could deadlock; rpc/open_payment_link
    -- supersedes a link left stale).
    if link.id is null then
        return null;
    end if;
    select i.* into invoice from public.invoices as i where i.id = new.invoice_id;
    if invoice.status in ('issued', 'partially_paid', 'overdue')
        and private.invoice_patient_due(invoice) = link.amount then
        return null;
    end if;
    update public.payment_links as l
    set status = 'cancelled', closed_at = now()
    where l.id = link.id;
    return null;
end;
$$;

comment on function private.close_stale_payment_link() is
'Deferred, at the end of a transaction that changed the money of an invoice with an open link: '
'cancels the link when the invoice is no longer payable or the outstanding patient share is no '
'longer the link''s amount (the cancellation is queued for Razorpay).';

create constraint trigger payment_link_checks_close_stale
after insert on private.payment_link_checks
deferrable initially deferred
for each row execute function private.close_stale_payment_link();

-- Claim -------------------------------------------------------------------------------------
create function private.claim_payment_link_cancels(batch integer, lease interval, max_attempts integer)
returns table (
    link_id uuid, claim_token uuid, attempts integer, hospital_id uuid, invoice_id uuid, gateway_link_id text
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
    perform private.check_claim_arguments(batch, lease, max_attempts);

    -- Leases that ran out on their last attempt: the worker holding them stopped answering.
    update private.payment_link_cancels as c
    set state = 'failed', claim_token = null, lease_until = null, next_attempt_at = 'infinity',
        last_error = format('the worker cancelling it stopped answering (attempt %s of %s)', c.attempts, max_attempts)
    where c.state = 'pending' and c.lease_until <= now() and c.attempts >= max_attempts;

    return query
    with picked as (
        select c.link_id
        from private.payment_link_cancels as c
        where c.state = 'pending' and c.next_attempt_at <= now() and (c.lease_until is null or c.lease_until <= now())
        order by c.next_attempt_at
        limit batch
        for update skip locked
    ),

    claimed as (
        update private.payment_link_cancels as c
        set attempts = c.attempts + 1, claim_token = gen_random_uuid(), lease_until = now() + lease
        from picked
        where c.link_id = picked.link_id
        returning c.link_id, c.claim_token, c.attempts
    )

    select c.link_id, c.claim_token, c.attempts, l.hospital_id, l.invoice_id, l.gateway_link_id
    from claimed as c
    inner join public.payment_links as l on l.id = c.link_id;
end;
$$;

create function public.claim_payment_link_cancels(
    batch integer default 20, lease interval default '2 minutes', max_attempts integer default 5
)
returns table (
    link_id uuid, claim_token uuid, attempts integer, hospital_id uuid, invoice_id uuid, gateway_link_id text
)
language sql
volatile
set search_path = ''
as $$
    select * from private.claim_payment_link_cancels(
        claim_payment_link_cancels.batch, claim_payment_link_cancels.lease, claim_payment_link_cancels.max_attempts
    );
$$;

-- Complete ----------------------------------------------------------------------------------
create function private.complete_payment_link_cancel(link_id uuid, claim_token uuid, outcome text)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    found_link uuid;
begin
    if complete_payment_link_cancel.outcome is null
        or complete_payment_link_cancel.outcome not in ('cancelled', 'paid', 'expired', 'not_created') then
        perform private.raise_invalid('outcome is cancelled, paid, expired or not_created');
    end if;
    update private.payment_link_cancels as c
    set state = 'done', outcome = complete_payment_link_cancel.outcome, claim_token = null, lease_until = null,
        last_error = null, next_attempt_at = 'infinity', done_at = now()
    where c.link_id = complete_payment_link_cancel.link_id and c.claim_token = complete_payment_link_cancel.claim_token
    returning c.link_id into found_link;
    return case when found_link is null then 'lost' else 'done' end;
end;
$$;

create function public.complete_payment_link_cancel(link_id uuid, claim_token uuid, outcome text)
returns text
language sql
volatile
set search_path = ''
as $$
    select private.complete_payment_link_cancel(
        complete_payment_link_cancel.link_id, complete_payment_link_cancel.claim_token,
        complete_payment_link_cancel.outcome
    );
$$;

-- Fail --------------------------------------------------------------------------------------
create function private.fail_payment_link_cancel(
    link_id uuid, claim_token uuid, error text, permanent boolean, max_attempts integer
)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    queued private.payment_link_cancels;
    message constant text := left(coalesce(nullif(btrim(error), ''), 'unknown error'), 1000);
begin
    select c.* into queued from private.payment_link_cancels as c
    where c.link_id = fail_payment_link_cancel.link_id and c.claim_token = fail_payment_link_cancel.claim_token
    for update;
    if queued.link_id is null then
        return 'lost';
    end if;
    if permanent or queued.attempts >= coalesce(fail_payment_link_cancel.max_attempts, 5) then
        update private.payment_link_cancels as c
        set state = 'failed', claim_token = null, lease_until = null, last_error = message, next_attempt_at = 'infinity'
        where c.link_id = queued.link_id;
        return 'failed';
    end if;
    update private.payment_link_cancels as c
    set claim_token = null, lease_until = null, last_error = message,
        next_attempt_at = now() + least(interval '1 hour', interval '30 seconds' * power(2, greatest(c.attempts - 1, 0)))
    where c.link_id = queued.link_id;
    return 'retry';
end;
$$;

create function public.fail_payment_link_cancel(
    link_id uuid, claim_token uuid, error text, permanent boolean default false, max_attempts integer default 5
)
returns text
language sql
volatile
set search_path = ''
as $$
    select private.fail_payment_link_cancel(
        fail_payment_link_cancel.link_id, fail_payment_link_cancel.claim_token, fail_payment_link_cancel.error,
        fail_payment_link_cancel.permanent, fail_payment_link_cancel.max_attempts
    );
$$;

revoke execute on function public.claim_payment_link_cancels(integer, interval, integer) from authenticated;
revoke execute on function public.complete_payment_link_cancel(uuid, uuid, text) from authenticated;
revoke execute on function public.fail_payment_link_cancel(uuid, uuid, text, boolean, integer) from authenticated;
grant execute on function private.claim_payment_link_cancels(integer, interval, integer) to service_role;
grant execute on function public.claim_payment_link_cancels(integer, interval, integer) to service_role;
grant execute on function private.complete_payment_link_cancel(uuid, uuid, text) to service_role;
grant execute on function public.complete_payment_link_cancel(uuid, uuid, text) to service_role;
grant execute on function private.fail_payment_link_cancel(uuid, uuid, text, boolean, integer) to service_role;
grant execute on function public.fail_payment_link_cancel(uuid, uuid, text, boolean, integer) to service_role;

comment on function public.claim_payment_link_cancels(integer, interval, integer) is
'Service role only (the worker): leases up to batch payment links carebase cancelled that are '
'still to cancel on Razorpay, with their Razorpay id (null: never stored; look it up by '
'reference_id, the link''s id). A lease that runs out makes the link claimable again; one that '
'runs out on its last attempt fails it.';
comment on function public.complete_payment_link_cancel(uuid, uuid, text) is
'Service role only (the worker): what Razorpay answered: cancelled, paid (the patient paid it '
'first: the payment_link.paid webhook records the payment), expired, or not_created (Razorpay '
'has no link with this reference). Answers done, or lost (the lease was taken by another '
'worker: nothing recorded).';
comment on function public.fail_payment_link_cancel(uuid, uuid, text, boolean, integer) is
'Service role only (the worker): a failed cancel on Razorpay: retry (transient, with backoff) or '
'failed (permanent, or max_attempts reached), or lost.';

insert into private.personal_data_columns (table_name, column_name, kind, note) values
('private.payment_link_cancels', 'last_error', 'free_text', null);
