-- Payments and refunds (issue 18, item 2; seed 003 /payments, /payments/process,
-- /payments/refund).
--
--   * carebase never receives card data (PCI DSS): no column holds one, the sidecar refuses a
--     request carrying card fields (422 card_data_refused), and a text written here that holds
--     a card number (13-19 digits passing the Luhn check) is refused too (22023 card_data_refused),
--     so that nothing of it is stored.
--   * Counter payments (cash, UPI, the card machine, bank transfer, cheque, insurer) are recorded
--     by the front desk with rpc/record_payment: captured at once, with a gapless receipt number
--     per hospital and fiscal year (NAB/RCP/2026-27/000001), idempotent with a key.
--   * Online payments go through Razorpay's hosted checkout: rpc/begin_online_payment makes the
--     payment (created), the sidecar creates Razorpay's order for it, the patient pays on
--     Razorpay's page, and the signed webhook (rpc/receive_razorpay_webhook, through the webhook
--     inbox: one entry per Razorpay event id, a replay changes nothing) moves it forward only
--     (created -> authorized -> captured, or failed), a payment id belonging to one payment.
--   * Refunds never exceed what was captured, across partial refunds and concurrent requests:
--     each one adds to payments.amount_refunded on the payment's locked row, and a CHECK keeps it
--     within the amount. A refund request carries an idempotency key: the same key answers the
--     same refund, never a second one. An online payment's refund goes through Razorpay (pending
--     until Razorpay processes it; a failure gives the amount back).
--   * Invoices follow: amount_paid and the paid statuses move with captures and refunds.

create type public.payment_status as enum ('created', 'authorized', 'captured', 'failed');
create type public.payment_method as enum (
    'cash', 'upi', 'card_terminal', 'bank_transfer', 'cheque', 'insurance', 'online'
);
create type public.refund_status as enum ('pending', 'processed', 'failed');

comment on type public.payment_status is
'A payment''s state (machine payment): created (an online payment waiting for the patient), '
'authorized, captured (the money is the hospital''s), failed. Forward only.';
comment on type public.payment_method is
'cash, upi, card_terminal (the counter''s card machine: the card never reaches carebase), '
'bank_transfer, cheque, insurance (the insurer pays), online (Razorpay''s hosted checkout).';
comment on type public.refund_status is
'A refund''s state (machine refund): pending (sent to the gateway), processed, failed.';

-- Card numbers: 13 to 19 digits (spaces or dashes between them) that pass the Luhn check.
create function private.luhn_valid(digits text)
returns boolean
language sql
immutable
set search_path = ''
as $$
    select digits ~ '^[0-9]{13,19}$' and (
        select sum(
            case
                when (length(digits) - d.i) % 2 = 1 then
                    case when substr(digits, d.i, 1)::integer * 2 > 9 then substr(digits, d.i, 1)::integer * 2 - 9
                    else substr(digits, d.i, 1)::integer * 2 end
                else substr(digits, d.i, 1)::integer
            end
        ) % 10 = 0
        from generate_series(1, length(digits)) as d (i)
    );
$$;

comment on function private.luhn_valid(
    text
) is 'Whether a string of 13-19 digits passes the Luhn check (a card number).';

create function private.holds_card_number(value text)
returns boolean
language sql
immutable
set search_path = ''
as $$
    select exists (
        select from regexp_matches(coalesce(value, ''), '[0-9](?:[ -]?[0-9]){12,18}', 'g') as m (found)
        where private.luhn_valid(regexp_replace(m.found[1], '[ -]', '', 'g'))
    );
$$;

comment on function private.holds_card_number(text) is
'Whether a text holds something that reads as a card number (13-19 digits passing the Luhn check).';

grant execute on function private.luhn_valid(text), private.holds_card_number(text) to authenticated, service_role;

-- Trigger: none of the free-text columns named in its arguments may hold a card number;
-- nothing of it is stored.
create function private.refuse_card_data()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if exists (
        select from unnest(tg_argv) as c (name)
        where private.holds_card_number(to_jsonb(new) ->> c.name)
    ) then
        perform private.raise_invalid(
            'carebase never stores card numbers: this looks like one', 'card_data_refused',
            'pay by card on the payment page (hosted checkout) or at the counter''s card machine, and '
            || 'record only its slip or transaction reference'
        );
    end if;
    return new;
end;
$$;

comment on function private.refuse_card_data() is
'Trigger: refuses a row whose free text (the columns named in its arguments) holds a card '
'number (22023 card_data_refused).';

create trigger invoices_refuse_card_data
before insert or update on public.invoices
for each row execute function private.refuse_card_data('notes');

create trigger invoice_lines_refuse_card_data
before insert or update on public.invoice_lines
for each row execute function private.refuse_card_data('description');

-- Payments --------------------------------------------------------------------------------------
create table public.payments (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null,
    patient_id uuid not null,
    invoice_id uuid not null,
    payer text not null default 'patient',
    method public.payment_method not null,
    gateway text,
    gateway_order_id text,
    gateway_payment_id text,
    amount numeric(14, 2) not null,
    currency text not null,
    amount_refunded numeric(14, 2) not null default 0,
    status public.payment_status not null,
    status_reason text,
    status_changed_at timestamptz not null default now(),
    receipt_number text,
    fiscal_year text,
    receipt_seq bigint,
    reference text,
    idempotency_key text,
    captured_at timestamptz,
    recorded_by uuid references public.profiles (id) on delete set null default auth.uid(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint payments_invoice_fkey foreign key (invoice_id, patient_id, hospital_id)
    references public.invoices (id, patient_id, hospital_id) on delete restrict,
    constraint payments_id_patient_hospital_key unique (id, patient_id, hospital_id),
    constraint payments_gateway_payment_unique unique (gateway_payment_id),
    constraint payments_receipt_unique unique (hospital_id, receipt_number),
    constraint payments_receipt_sequence_unique unique (hospital_id, fiscal_year, receipt_seq),
    constraint payments_idempotency_unique unique (hospital_id, idempotency_key),
    constraint payments_payer_known check (payer in ('patient', 'insurer')),
    constraint payments_amount_positive check (amount > 0),
    constraint payments_currency_format check (currency ~ '^[A-Z]{3}$'),
    -- Refunds never exceed what was captured, whatever the path and however many at once.
    constraint payments_refunds_within_captured check (
        amount_refunded >= 0 and amount_refunded <= amount and (amount_refunded = 0 or status = 'captured')
    ),
    constraint payments_receipt_once_captured check (
        (receipt_number is not null) = (status = 'captured')
        and (receipt_number is null) = (captured_at is null)
        and (receipt_number is null) = (receipt_seq is null)
        and (receipt_number is null) = (fiscal_year is null)
    ),
    constraint payments_online_through_gateway check (
        (method = 'online') = (gateway is not null)
        and (gateway is null or gateway = 'razorpay')
        and (gateway is not null or (gateway_order_id is null and gateway_payment_id is null))
        and (gateway is not null or status = 'captured')
    ),
    constraint payments_text_lengths check (
        length(reference) <= 100 and length(idempotency_key) between 8 and 200
        and length(gateway_order_id) <= 100 and length(gateway_payment_id) <= 100
    )
);

create index payments_invoice_idx on public.payments (invoice_id, patient_id, hospital_id);
create index payments_patient_idx on public.payments (patient_id, hospital_id, created_at);
create index payments_hospital_captured_idx on public.payments (hospital_id, captured_at) where status = 'captured';
create index payments_gateway_order_idx on public.payments (gateway_order_id) where gateway_order_id is not null;
create index payments_recorded_by_idx on public.payments (recorded_by);

alter table public.payments enable row level security;
revoke all on public.payments from anon, authenticated, service_role;
grant select on public.payments to authenticated, service_role;

create policy payments_select_front_office_or_patient on public.payments
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
    or patient_id = private.own_patient_id()
);

comment on table public.payments is
'Payments (seed 003 /payments): counter payments recorded by the front desk '
'(rpc/record_payment, captured at once with a receipt number) and online payments through '
'Razorpay (rpc/begin_online_payment, then the sidecar''s order and Razorpay''s webhook), each '
'against an invoice. Never a card number: the card is typed on Razorpay''s page or the '
'counter''s machine. Read by the hospital''s front desk and admins and by the patient; written '
'only by the billing functions.';
comment on column public.payments.status is
'Changed only along state_machine_transitions (machine payment), forward only; every step is in '
'status_history.';
comment on column public.payments.payer is 'patient or insurer.';
comment on column public.payments.gateway is 'razorpay for an online payment, else null (a counter payment).';
comment on column public.payments.gateway_order_id is 'Razorpay''s order (order_...) the patient pays.';
comment on column public.payments.gateway_payment_id is 'Razorpay''s payment (pay_...): one payment of carebase each.';
comment on column public.payments.amount_refunded is
'Refunds processed or on their way (pending): never more than amount.';
comment on column public.payments.receipt_number is
'Given at capture: <hospital code>/RCP/<fiscal year>/<6 digits>, gapless per hospital and fiscal year.';
comment on column public.payments.reference is
'The counter''s reference (UPI transaction id, card machine slip, cheque number); never a card number.';
comment on column public.payments.idempotency_key is
'The key a counter payment was recorded with: recording it again answers this payment.';
comment on policy payments_select_front_office_or_patient on public.payments is
'The hospital''s front desk and admins, and the patient.';

-- Refunds ---------------------------------------------------------------------------------------
create table public.refunds (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null,
    patient_id uuid not null,
    payment_id uuid not null,
    amount numeric(14, 2) not null,
    currency text not null,
    reason text not null,
    status public.refund_status not null,
    status_reason text,
    status_changed_at timestamptz not null default now(),
    idempotency_key text not null,
    gateway_refund_id text,
    processed_at timestamptz,
    requested_by uuid references public.profiles (id) on delete set null default auth.uid(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint refunds_payment_fkey foreign key (payment_id, patient_id, hospital_id)
    references public.payments (id, patient_id, hospital_id) on delete restrict,
    constraint refunds_idempotency_unique unique (payment_id, idempotency_key),
    constraint refunds_gateway_refund_unique unique (gateway_refund_id),
    constraint refunds_amount_positive check (amount > 0),
    constraint refunds_reason_present check (length(btrim(reason)) between 1 and 500),
    constraint refunds_key_length check (length(idempotency_key) between 8 and 200),
    constraint refunds_processed_at check ((status = 'processed') = (processed_at is not null))
);

create index refunds_patient_idx on public.refunds (patient_id, hospital_id, created_at);
create index refunds_hospital_idx on public.refunds (hospital_id, created_at);
create index refunds_payment_idx on public.refunds (payment_id, patient_id, hospital_id);
create index refunds_requested_by_idx on public.refunds (requested_by);

alter table public.refunds enable row level security;
revoke all on public.refunds from anon, authenticated, service_role;
grant select on public.refunds to authenticated, service_role;

create policy refunds_select_front_office_or_patient on public.refunds
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
    or patient_id = private.own_patient_id()
);

comment on table public.refunds is
'Refunds of payments (seed 003 /payments/refund): never more than the payment''s captured '
'amount in all, one per idempotency key. A counter payment''s refund is processed at once (cash '
'back); an online payment''s goes through Razorpay (the sidecar''s POST /api/v1/payments/refund): '
'pending, then processed or failed. Read by the hospital''s front desk and admins and by the '
'patient; written only by the billing functions.';
comment on column public.refunds.status is
'Changed only along state_machine_transitions (machine refund), forward only; every step is in '
'status_history.';
comment on column public.refunds.idempotency_key is
'The key the refund was asked with (the Idempotency-Key header): asking again answers this refund.';
comment on column public.refunds.gateway_refund_id is 'Razorpay''s refund (rfnd_...), for an online payment.';
comment on policy refunds_select_front_office_or_patient on public.refunds is
'The hospital''s front desk and admins, and the patient.';

-- The machines ------------------------------------------------------------------------------------
insert into private.state_machine_states (machine, state, label, position, is_terminal)
values
('payment', 'created', 'Created', 1, false),
('payment', 'authorized', 'Authorized', 2, false),
('payment', 'captured', 'Captured', 3, true),
('payment', 'failed', 'Failed', 4, true),
('refund', 'pending', 'Pending', 1, false),
('refund', 'processed', 'Processed', 2, true),
('refund', 'failed', 'Failed', 3, true);

insert into private.state_transitions (machine, from_state, to_state, roles, requires_reason, description)
values
(
    'payment', null, 'created', '{patient,front_desk,hospital_admin}', false,
    'an online payment waiting for the patient on the gateway''s page'
),
('payment', null, 'captured', '{front_desk,hospital_admin}', false, 'a payment taken at the counter'),
('payment', 'created', 'authorized', '{}', false, 'the gateway authorized it'),
('payment', 'created', 'captured', '{}', false, 'the gateway captured it'),
('payment', 'authorized', 'captured', '{}', false, 'the gateway captured it'),
('payment', 'created', 'failed', '{}', false, 'the gateway reported a failure'),
('payment', 'authorized', 'failed', '{}', false, 'the gateway reported a failure'),
('refund', null, 'pending', '{front_desk,hospital_admin}', false, 'sent to the gateway'),
('refund', null, 'processed', '{front_desk,hospital_admin}', false, 'paid back at the counter'),
('refund', 'pending', 'processed', '{}', false, 'the gateway paid it back'),
('refund', 'pending', 'failed', '{}', false, 'the gateway refused it; the amount is refundable again');

create trigger payments_state_machine
before insert or update of status on public.payments
for each row execute function private.enforce_state_machine('payment');

create trigger refunds_state_machine
before insert or update of status on public.refunds
for each row execute function private.enforce_state_machine('refund');

create trigger payments_refuse_card_data
before insert or update on public.payments
for each row execute function private.refuse_card_data('reference', 'status_reason');

create trigger refunds_refuse_card_data
before insert or update on public.refunds
for each row execute function private.refuse_card_data('reason');

create trigger payments_set_updated_at
before update on public.payments
for each row execute function private.set_updated_at();

create trigger refunds_set_updated_at
before update on public.refunds
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.payments
for each row execute function private.audit_row_change('patient_id');

create trigger audit_row_change
after insert or update or delete on public.refunds
for each row execute function private.audit_row_change('patient_id');

create trigger refuse_merged_patient
before insert or update on public.payments
for each row execute function private.refuse_merged_patient('patient_id');

create trigger refuse_merged_patient
before insert or update on public.refunds
for each row execute function private.refuse_merged_patient('patient_id');

-- Every billing transition is read as its subject is.
drop policy status_history_select_of_visible_subjects on public.status_history;

create policy status_history_select_of_visible_subjects on public.status_history
for select to authenticated
using (
    (
        machine = 'prescription'
        and exists (
            select from public.prescriptions as p
            where p.id = status_history.subject_id
        )
    )
    or (
        machine = 'appointment'
        and exists (
            select from public.appointments as a
            where a.id = status_history.subject_id
        )
    )
    or (
        machine = 'invoice'
        and exists (
            select from public.invoices as i
            where i.id = status_history.subject_id
        )
    )
    or (
        machine = 'payment'
        and exists (
            select from public.payments as p
            where p.id = status_history.subject_id
        )
    )
    or (
        machine = 'refund'
        and exists (
            select from public.refunds as r
            where r.id = status_history.subject_id
        )
    )
);

comment on policy status_history_select_of_visible_subjects on public.status_history is
'A transition is read by whoever may read its subject (prescription, appointment, invoice, '
'payment, refund).';

-- Posting -----------------------------------------------------------------------------------------

-- Money in or out of an invoice (a capture, a refund or its release), then its status.
create function private.post_to_invoice(invoice_id uuid, delta numeric)
returns public.invoices
language plpgsql
volatile
set search_path = ''
as $$
begin
    update public.invoices as i
    set amount_paid = i.amount_paid + delta
    where i.id = post_to_invoice.invoice_id;
    return private.settle_invoice(post_to_invoice.invoice_id);
end;
$$;

comment on function private.post_to_invoice(uuid, numeric) is
'Adds delta to an invoice''s amount_paid (a capture; a refund negative) and settles its status.';

-- What is still due on an invoice.
create function private.invoice_balance(invoice public.invoices)
returns numeric
language sql
immutable
set search_path = ''
as $$
    select invoice.total - invoice.amount_credited - invoice.amount_paid;
$$;

comment on function private.invoice_balance(public.invoices) is 'total - amount_credited - amount_paid.';

-- Counter payments ------------------------------------------------------------------------------
create function private.record_payment(
    invoice_id uuid,
    amount numeric,
    method public.payment_method,
    reference text default null,
    payer text default 'patient',
    idempotency_key text default null
)
returns public.payments
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    invoice public.invoices := private.front_office_invoice(record_payment.invoice_id);
    paid numeric := round(record_payment.amount, 2);
    key constant text := nullif(btrim(record_payment.idempotency_key), '');
    payment public.payments;
    assigned record;
begin
    if key is not null then
        select p.* into payment from public.payments as p
        where p.hospital_id = invoice.hospital_id and p.idempotency_key = key;
        if payment.id is not null then
            if (payment.invoice_id, payment.amount, payment.method) is distinct from (invoice.id, paid, record_payment.method) then
                perform private.raise_conflict(
                    'this idempotency key was used for another payment', 'idempotency_key_reused',
                    'use a new key for a new payment'
                );
            end if;
            return payment;
        end if;
    end if;
    if record_payment.method = 'online' then
        perform private.raise_invalid(
            'online payments go through the payment page', 'online_through_gateway',
            'POST /api/v1/payments/process with payment_method online'
        );
    end if;
    if record_payment.payer not in ('patient', 'insurer') then
        perform private.raise_invalid('the payer is patient or insurer', 'unknown_payer');
    end if;
    if invoice.status not in ('issued', 'partially_paid', 'overdue') then
        perform private.raise_conflict(
            format('invoice %s is %s: nothing can be paid on it', coalesce(invoice.number, 'draft'), invoice.status),
            'invoice_not_payable'
        );
    end if;
    if paid is null or paid <= 0 then
        perform private.raise_invalid('the amount must be positive', 'amount_not_positive');
    end if;
    if paid > private.invoice_balance(invoice) then
        perform private.raise_invalid(
            format('only %s %s is due on %s', private.invoice_balance(invoice), invoice.currency, invoice.number),
            'payment_exceeds_balance'
        );
    end if;
    assigned := private.next_document_number(invoice.hospital_id, 'receipt', private.hospital_today(invoice.hospital_id));
    insert into public.payments (
        hospital_id, patient_id, invoice_id, payer, method, amount, currency, status, receipt_number,
        fiscal_year, receipt_seq, reference, idempotency_key, captured_at
    )
    values (
        invoice.hospital_id, invoice.patient_id, invoice.id, record_payment.payer, record_payment.method, paid,
        invoice.currency, 'captured', assigned.number, assigned.fiscal_year, assigned.sequence_no,
        nullif(btrim(record_payment.reference), ''), key, now()
    )
    returning * into payment;
    perform private.post_to_invoice(invoice.id, paid);
    return payment;
end;
$$;

grant execute on function private.record_payment(
    uuid, numeric, public.payment_method, text, text, text
) to authenticated;

-- RPC: POST /rest/v1/rpc/record_payment {"invoice_id", "amount", "method", "reference", "payer", "idempotency_key"}.
create function public.record_payment(
    invoice_id uuid,
    amount numeric,
    method public.payment_method,
    reference text default null,
    payer text default 'patient',
    idempotency_key text default null
)
returns public.payments
language sql
volatile
set search_path = ''
as $$
    select private.record_payment(
        record_payment.invoice_id, record_payment.amount, record_payment.method, record_payment.reference,
        record_payment.payer, record_payment.idempotency_key
    );
$$;

grant execute on function public.record_payment(
    uuid, numeric, public.payment_method, text, text, text
) to authenticated;

comment on function public.record_payment(uuid, numeric, public.payment_method, text, text, text) is
'Records a payment taken at the counter (front desk, hospital admin; seed 003 POST /payments): '
'cash, upi, card_terminal, bank_transfer, cheque or insurance, at most what is due. Captured at '
'once with the next gapless receipt number (NAB/RCP/2026-27/000001); the invoice becomes '
'partially_paid or paid. reference is the slip or transaction id, never a card number. With an '
'idempotency_key, recording again answers the first payment. Errors: PT404 invoice_not_found, '
'PT409 invoice_not_payable, idempotency_key_reused, 22023 online_through_gateway, '
'amount_not_positive, payment_exceeds_balance, unknown_payer, card_data_refused.';

-- Online payments -------------------------------------------------------------------------------
create function private.begin_online_payment(invoice_id uuid)
returns public.payments
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    invoice public.invoices;
    due numeric;
    payment public.payments;
begin
    select i.* into invoice from public.invoices as i where i.id = begin_online_payment.invoice_id for update;
    if invoice.id is null or not (
        invoice.hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
        or (invoice.patient_id = private.own_patient_id() and invoice.status <> 'draft')
    ) then
        perform private.raise_not_found('invoice not found', 'invoice_not_found');
    end if;
    if invoice.status not in ('issued', 'partially_paid', 'overdue') then
        perform private.raise_conflict(
            format('invoice %s is %s: nothing can be paid on it', coalesce(invoice.number, 'draft'), invoice.status),
            'invoice_not_payable'
        );
    end if;
    due := private.invoice_balance(invoice);
    if due <= 0 then
        perform private.raise_conflict('nothing is due on this invoice', 'nothing_due');
    end if;
    -- The same payment again (a second tap on "pay"): its order is reused.
    select p.* into payment from public.payments as p
    where p.invoice_id = invoice.id and p.status = 'created' and p.amount = due
        and p.gateway_payment_id is null and p.created_at > now() - interval '12 hours'
    order by p.created_at desc
    limit 1;
    if payment.id is not null then
        return payment;
    end if;
    insert into public.payments (
        hospital_id, patient_id, invoice_id, payer, method, gateway, amount, currency, status
    )
    values (
        invoice.hospital_id, invoice.patient_id, invoice.id, 'patient', 'online', 'razorpay', due,
        invoice.currency, 'created'
    )
    returning * into payment;
    return payment;
end;
$$;

grant execute on function private.begin_online_payment(uuid) to authenticated;

-- RPC: POST /rest/v1/rpc/begin_online_payment {"invoice_id"} (the sidecar's /payments/process calls it).
create function public.begin_online_payment(invoice_id uuid)
returns public.payments
language sql
volatile
set search_path = ''
as $$
    select private.begin_online_payment(begin_online_payment.invoice_id);
$$;

grant execute on function public.begin_online_payment(uuid) to authenticated;

comment on function public.begin_online_payment(uuid) is
'Starts paying an issued invoice online (the patient, or the front desk or an admin for them): '
'a payment of what is due, created, for which the sidecar then creates Razorpay''s order '
'(POST /api/v1/payments/process does both). Asked again while it waits, answers the same '
'payment. Errors: PT404 invoice_not_found, PT409 invoice_not_payable, nothing_due.';

-- The sidecar records the order it created for a payment.
-- Security definer: the service role reads payments but writes none.
create function private.attach_gateway_order(payment_id uuid, gateway_order_id text)
returns public.payments
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    payment public.payments;
begin
    select p.* into payment from public.payments as p where p.id = attach_gateway_order.payment_id for update;
    if payment.id is null or payment.gateway is null then
        perform private.raise_not_found('online payment not found', 'payment_not_found');
    end if;
    if payment.gateway_order_id is not null and payment.gateway_order_id <> attach_gateway_order.gateway_order_id then
        perform private.raise_conflict('the payment has another order already', 'order_attached');
    end if;
    update public.payments as p
    set gateway_order_id = attach_gateway_order.gateway_order_id
    where p.id = payment.id
    returning p.* into payment;
    return payment;
end;
$$;

grant execute on function private.attach_gateway_order(uuid, text) to service_role;

-- RPC (service role): the order Razorpay created for a payment.
create function public.attach_gateway_order(payment_id uuid, gateway_order_id text)
returns public.payments
language sql
volatile
set search_path = ''
as $$
    select private.attach_gateway_order(attach_gateway_order.payment_id, attach_gateway_order.gateway_order_id);
$$;

revoke execute on function public.attach_gateway_order(uuid, text) from authenticated;
grant execute on function public.attach_gateway_order(uuid, text) to service_role;

comment on function public.attach_gateway_order(uuid, text) is
'Service role only (the sidecar, after Razorpay created the order): records the payment''s '
'Razorpay order id. Errors: PT404 payment_not_found, PT409 order_attached.';

-- Captures an online payment: its receipt number, the invoice's amount paid. The caller holds
-- the payment's row lock.
create function private.capture_payment(payment_id uuid)
returns public.payments
language plpgsql
volatile
set search_path = ''
as $$
declare
    payment public.payments;
    assigned record;
begin
    select p.* into payment from public.payments as p where p.id = capture_payment.payment_id;
    perform from public.invoices as i where i.id = payment.invoice_id for update;
    assigned := private.next_document_number(payment.hospital_id, 'receipt', private.hospital_today(payment.hospital_id));
    update public.payments as p
    set status = 'captured', receipt_number = assigned.number, fiscal_year = assigned.fiscal_year,
        receipt_seq = assigned.sequence_no, captured_at = now()
    where p.id = payment.id
    returning p.* into payment;
    perform private.post_to_invoice(payment.invoice_id, payment.amount);
    return payment;
end;
$$;

comment on function private.capture_payment(uuid) is
'Moves a payment to captured with the next receipt number and adds it to its invoice.';

-- Gives a refund's amount back to its payment (a refund the gateway refused).
create function private.release_refund(refund_id uuid)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    refund public.refunds;
    invoice uuid;
begin
    select r.* into refund from public.refunds as r where r.id = release_refund.refund_id;
    update public.payments as p
    set amount_refunded = p.amount_refunded - refund.amount
    where p.id = refund.payment_id
    returning p.invoice_id into invoice;
    perform private.post_to_invoice(invoice, refund.amount);
end;
$$;

comment on function private.release_refund(uuid) is
'A failed refund: its amount is refundable again on the payment and paid again on the invoice.';

-- Razorpay's payment events, forward only. `entity` is Razorpay's payment entity (amounts in
-- paise), `target` the state the event reports.
create function private.razorpay_apply_payment(entity jsonb, target public.payment_status)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    gateway_payment constant text := nullif(btrim(entity ->> 'id'), '');
    gateway_order constant text := nullif(btrim(entity ->> 'order_id'), '');
    paise bigint;
    payment public.payments;
    first_of_order public.payments;
    step text;
    path text[];
begin
    if gateway_payment is null or gateway_order is null then
        return jsonb_build_object('outcome', 'unprocessable', 'reason', 'missing_ids');
    end if;
    if coalesce(entity ->> 'amount', '') !~ '^[0-9]{1,15}$' then
        return jsonb_build_object('outcome', 'unprocessable', 'reason', 'missing_amount');
    end if;
    paise := (entity ->> 'amount')::bigint;
    -- Events of one order take turns.
    perform pg_advisory_xact_lock(hashtextextended('razorpay_order:' || gateway_order, 0));

    select p.* into payment from public.payments as p where p.gateway_payment_id = gateway_payment for update;
    if payment.id is null then
        select p.* into payment from public.payments as p
        where p.gateway_order_id = gateway_order and p.gateway_payment_id is null and p.status = 'created'
        order by p.created_at
        limit 1
        for update;
    end if;
    if payment.id is null then
        select p.* into first_of_order from public.payments as p
        where p.gateway_order_id = gateway_order
        order by p.created_at
        limit 1;
        if first_of_order.id is null then
            return jsonb_build_object(
                'outcome', 'unprocessable', 'reason', 'unknown_order',
                'detail', 'no payment of carebase has this order'
            );
        end if;
        if target = 'failed' then
            return jsonb_build_object(
                'outcome', 'ignored', 'reason', 'other_attempt', 'hospital_id', first_of_order.hospital_id,
                'detail', 'a failed attempt on an order whose payment is another attempt'
            );
        end if;
        if paise <> round(first_of_order.amount * 100) or entity ->> 'currency' is distinct from first_of_order.currency then
            return jsonb_build_object(
                'outcome', 'unprocessable', 'reason', 'amount_mismatch', 'hospital_id', first_of_order.hospital_id
            );
        end if;
        -- A later attempt on the order succeeded after an earlier one failed: the money is real,
        -- it becomes a payment of its own.
        insert into public.payments (
            hospital_id, patient_id, invoice_id, payer, method, gateway, gateway_order_id, gateway_payment_id,
            amount, currency, status
        )
        values (
            first_of_order.hospital_id, first_of_order.patient_id, first_of_order.invoice_id, 'patient', 'online',
            'razorpay', gateway_order, gateway_payment, first_of_order.amount, first_of_order.currency, 'created'
        )
        returning * into payment;
    end if;
    if paise <> round(payment.amount * 100) or entity ->> 'currency' is distinct from payment.currency then
        return jsonb_build_object(
            'outcome', 'unprocessable', 'reason', 'amount_mismatch', 'hospital_id', payment.hospital_id,
            'detail', format('Razorpay reports %s %s, the payment is %s %s', paise, entity ->> 'currency',
                round(payment.amount * 100), payment.currency)
        );
    end if;
    if payment.gateway_payment_id is null then
        update public.payments as p set gateway_payment_id = gateway_payment
        where p.id = payment.id
        returning p.* into payment;
    end if;
    if payment.status = target then
        return jsonb_build_object(
            'outcome', 'ignored', 'reason', 'no_change', 'hospital_id', payment.hospital_id, 'payment_id', payment.id
        );
    end if;
    path := private.forward_path('payment', payment.status::text, target::text);
    if path is null then
        return jsonb_build_object(
            'outcome', 'ignored', 'reason', 'not_forward', 'hospital_id', payment.hospital_id, 'payment_id', payment.id,
            'detail', format('the payment is %s; %s would move it back', payment.status, target)
        );
    end if;
    foreach step in array path loop
        if step = 'captured' then
            payment := private.capture_payment(payment.id);
        else
            update public.payments as p
            set status = step::public.payment_status,
                status_reason = case when step = 'failed' then left(entity ->> 'error_description', 500) end
            where p.id = payment.id
            returning p.* into payment;
        end if;
    end loop;
    return jsonb_build_object(
        'outcome', 'applied', 'hospital_id', payment.hospital_id, 'payment_id', payment.id,
        'status', payment.status
    );
end;
$$;

comment on function private.razorpay_apply_payment(jsonb, public.payment_status) is
'Applies a Razorpay payment entity reported as authorized, captured or failed to its payment '
'(found by payment id, else its order), forward only; a capture gives the receipt number and '
'pays the invoice. Answers {outcome, reason, detail, hospital_id, payment_id, status}.';

-- Razorpay's refund events: pending -> processed, or failed (the amount given back).
create function private.razorpay_apply_refund(entity jsonb, target public.refund_status)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    gateway_refund constant text := nullif(btrim(entity ->> 'id'), '');
    ours constant text := entity #>> '{notes,refund_id}';
    refund public.refunds;
begin
    if gateway_refund is null then
        return jsonb_build_object('outcome', 'unprocessable', 'reason', 'missing_ids');
    end if;
    select r.* into refund from public.refunds as r where r.gateway_refund_id = gateway_refund for update;
    if refund.id is null and ours ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
        select r.* into refund from public.refunds as r where r.id = ours::uuid for update;
    end if;
    if refund.id is null then
        return jsonb_build_object(
            'outcome', 'unprocessable', 'reason', 'unknown_refund',
            'detail', 'no refund of carebase has this id (a refund made on the gateway''s dashboard?)'
        );
    end if;
    if refund.gateway_refund_id is null then
        update public.refunds as r set gateway_refund_id = gateway_refund
        where r.id = refund.id
        returning r.* into refund;
    elsif refund.gateway_refund_id <> gateway_refund then
        return jsonb_build_object(
            'outcome', 'unprocessable', 'reason', 'refund_id_conflict', 'hospital_id', refund.hospital_id
        );
    end if;
    if refund.status = target then
        return jsonb_build_object('outcome', 'ignored', 'reason', 'no_change', 'hospital_id', refund.hospital_id);
    end if;
    if refund.status <> 'pending' then
        return jsonb_build_object(
            'outcome', 'ignored', 'reason', 'not_forward', 'hospital_id', refund.hospital_id,
            'detail', format('the refund is %s; %s would move it back', refund.status, target)
        );
    end if;
    perform from public.payments as p where p.id = refund.payment_id for update;
    update public.refunds as r
    set status = target,
        processed_at = case when target = 'processed' then now() end,
        status_reason = case when target = 'failed' then 'the gateway refused the refund' end
    where r.id = refund.id
    returning r.* into refund;
    if target = 'failed' then
        perform private.release_refund(refund.id);
    end if;
    return jsonb_build_object('outcome', 'applied', 'hospital_id', refund.hospital_id, 'refund_id', refund.id);
end;
$$;

comment on function private.razorpay_apply_refund(jsonb, public.refund_status) is
'Applies a Razorpay refund entity (processed or failed) to its refund (by Razorpay''s id, else '
'notes.refund_id), forward only; a failure makes the amount refundable again.';

-- The webhook: recorded in the inbox (one entry per Razorpay event id; a replay is a
-- duplicate), applied in the same transaction. The stored payload keeps no card details.
create function private.receive_razorpay_webhook(body text, event_id text default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    digest constant text := encode(extensions.digest(convert_to(body, 'UTF8'), 'sha256'), 'hex');
    parsed jsonb;
    kind text;
    entity jsonb;
    key text;
    recorded record;
    entry_id uuid;
    result jsonb;
    hospital uuid;
begin
    begin
        parsed := body::jsonb;
    exception
        when others then
            parsed := null;
    end;
    if jsonb_typeof(parsed) is distinct from 'object' then
        parsed := null;
    end if;
    kind := parsed ->> 'event';
    key := coalesce('event:' || nullif(btrim(left(receive_razorpay_webhook.event_id, 200)), ''), 'body:' || digest);
    entity := coalesce(parsed #> '{payload,payment,entity}', parsed #> '{payload,refund,entity}');
    select p.hospital_id into hospital from public.payments as p
    where p.gateway_payment_id = entity ->> 'id' or p.gateway_order_id = entity ->> 'order_id'
        or p.id in (select r.payment_id from public.refunds as r where r.gateway_refund_id = entity ->> 'id')
    limit 1;
    recorded := private.inbox_record(
        'razorpay', key, kind, entity ->> 'id', hospital,
        coalesce(
            parsed #- '{payload,payment,entity,card}' #- '{payload,payment,entity,bank_account}'
            #- '{payload,payment,entity,token}',
            jsonb_build_object('unparsed', left(body, 100000))
        ),
        digest
    );
    entry_id := (recorded.entry).id;
    if recorded.replay then
        return jsonb_build_object(
            'inbox_entry_id', entry_id, 'outcome', 'duplicate', 'first_outcome', (recorded.entry).outcome
        );
    end if;

    if parsed is null then
        result := jsonb_build_object('outcome', 'unprocessable', 'reason', 'malformed_json');
    elsif kind in ('payment.authorized', 'payment.captured', 'payment.failed', 'order.paid') then
        if parsed #> '{payload,payment,entity}' is null then
            result := jsonb_build_object('outcome', 'unprocessable', 'reason', 'missing_payment');
        else
            result := private.razorpay_apply_payment(
                parsed #> '{payload,payment,entity}',
                case kind when 'payment.failed' then 'failed' when 'payment.authorized' then 'authorized' else 'captured' end
                ::public.payment_status
            );
        end if;
    elsif kind in ('refund.processed', 'refund.failed') then
        if parsed #> '{payload,refund,entity}' is null then
            result := jsonb_build_object('outcome', 'unprocessable', 'reason', 'missing_refund');
        else
            result := private.razorpay_apply_refund(
                parsed #> '{payload,refund,entity}',
                case kind when 'refund.failed' then 'failed' else 'processed' end::public.refund_status
            );
        end if;
    else
        result := jsonb_build_object('outcome', 'ignored', 'reason', 'unsupported_event');
    end if;

    update private.webhook_inbox as i
    set
        outcome = result ->> 'outcome',
        reason = result ->> 'reason',
        detail = result ->> 'detail',
        hospital_id = coalesce((result ->> 'hospital_id')::uuid, i.hospital_id),
        applied_at = case when result ->> 'outcome' = 'applied' then now() end
    where i.id = entry_id;
    return (result - 'hospital_id') || jsonb_build_object('inbox_entry_id', entry_id);
end;
$$;

comment on function private.receive_razorpay_webhook(text, text) is
'Records a Razorpay webhook in the inbox (one entry per x-razorpay-event-id, else per body) and '
'applies it in the same transaction.';

alter table private.webhook_inbox drop constraint webhook_inbox_provider_known;
alter table private.webhook_inbox add constraint webhook_inbox_provider_known check (
    provider in ('calcom', 'vapi', 'razorpay')
);

grant execute on function private.receive_razorpay_webhook(text, text) to service_role;

-- RPC (service role): POST /rest/v1/rpc/receive_razorpay_webhook {"body", "event_id"}.
create function public.receive_razorpay_webhook(body text, event_id text default null)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.receive_razorpay_webhook(receive_razorpay_webhook.body, receive_razorpay_webhook.event_id);
$$;

revoke execute on function public.receive_razorpay_webhook(text, text) from authenticated;
grant execute on function public.receive_razorpay_webhook(text, text) to service_role;

comment on function public.receive_razorpay_webhook(text, text) is
'Service role only (the sidecar, after checking X-Razorpay-Signature on the raw body): records '
'a Razorpay webhook in the inbox (provider razorpay, one entry per x-razorpay-event-id) and '
'applies it in one transaction: payment.authorized / payment.captured / order.paid / '
'payment.failed move the payment forward only (a capture gives its receipt number and pays the '
'invoice), refund.processed / refund.failed settle a refund. Answers {inbox_entry_id, outcome: '
'applied | ignored | unprocessable | duplicate, reason (no_change, not_forward, unknown_order, '
'amount_mismatch, unsupported_event, malformed_json...), payment_id, refund_id, status}.';

-- Refunds -----------------------------------------------------------------------------------------
create function private.request_refund(payment_id uuid, amount numeric, reason text, idempotency_key text)
returns public.refunds
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    payment public.payments;
    back numeric := round(request_refund.amount, 2);
    key constant text := nullif(btrim(request_refund.idempotency_key), '');
    said constant text := nullif(btrim(request_refund.reason), '');
    refund public.refunds;
begin
    -- The payment's row lock: refunds of one payment take turns.
    select p.* into payment from public.payments as p where p.id = request_refund.payment_id for update;
    if payment.id is null
        or not payment.hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}')) then
        perform private.raise_not_found('payment not found', 'payment_not_found');
    end if;
    if key is null or length(key) not between 8 and 200 then
        perform private.raise_invalid(
            'a refund needs an idempotency key of 8 to 200 characters', 'idempotency_key_required',
            'send the same key when retrying the same refund'
        );
    end if;
    select r.* into refund from public.refunds as r where r.payment_id = payment.id and r.idempotency_key = key;
    if refund.id is not null then
        if refund.amount is distinct from back then
            perform private.raise_conflict(
                'this idempotency key was used for another refund', 'idempotency_key_reused',
                'use a new key for a new refund'
            );
        end if;
        return refund;
    end if;
    if payment.status <> 'captured' then
        perform private.raise_conflict(
            format('the payment is %s: only a captured payment is refunded', payment.status), 'payment_not_captured'
        );
    end if;
    if back is null or back <= 0 then
        perform private.raise_invalid('the amount must be positive', 'amount_not_positive');
    end if;
    if said is null or length(said) > 500 then
        perform private.raise_invalid('say why the money goes back (at most 500 characters)', 'reason_required');
    end if;
    if back > payment.amount - payment.amount_refunded then
        perform private.raise_invalid(
            format('at most %s %s of this payment can still be refunded', payment.amount - payment.amount_refunded,
                payment.currency),
            'refund_exceeds_captured'
        );
    end if;
    insert into public.refunds (
        hospital_id, patient_id, payment_id, amount, currency, reason, status, idempotency_key, processed_at
    )
    values (
        payment.hospital_id, payment.patient_id, payment.id, back, payment.currency, said,
        case when payment.gateway is null then 'processed' else 'pending' end::public.refund_status,
        key, case when payment.gateway is null then now() end
    )
    returning * into refund;
    update public.payments as p
    set amount_refunded = p.amount_refunded + back
    where p.id = payment.id;
    perform private.post_to_invoice(payment.invoice_id, -back);
    return refund;
end;
$$;

grant execute on function private.request_refund(uuid, numeric, text, text) to authenticated;

-- RPC: POST /rest/v1/rpc/request_refund {"payment_id", "amount", "reason", "idempotency_key"}.
create function public.request_refund(payment_id uuid, amount numeric, reason text, idempotency_key text)
returns public.refunds
language sql
volatile
set search_path = ''
as $$
    select private.request_refund(
        request_refund.payment_id, request_refund.amount, request_refund.reason, request_refund.idempotency_key
    );
$$;

grant execute on function public.request_refund(uuid, numeric, text, text) to authenticated;

comment on function public.request_refund(uuid, numeric, text, text) is
'Refunds (part of) a captured payment (front desk, hospital admin): never more than what is '
'left of it, across partial and concurrent refunds. A counter payment''s refund is processed '
'at once; an online payment''s is pending until Razorpay processes it (POST '
'/api/v1/payments/refund sends it). The same idempotency_key answers the same refund, never a '
'second one. The invoice''s amount paid goes down with it. Errors: PT404 payment_not_found, '
'PT409 payment_not_captured, idempotency_key_reused, 22023 idempotency_key_required, '
'amount_not_positive, reason_required, refund_exceeds_captured.';

-- What the gateway answered to a refund the sidecar sent.
-- Security definer: the service role reads refunds but writes none.
create function private.record_gateway_refund(refund_id uuid, gateway_refund_id text, outcome text)
returns public.refunds
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    refund public.refunds;
begin
    if outcome not in ('pending', 'processed', 'failed') then
        perform private.raise_invalid('outcome is pending, processed or failed', 'unknown_outcome');
    end if;
    select r.* into refund from public.refunds as r where r.id = record_gateway_refund.refund_id for update;
    if refund.id is null then
        perform private.raise_not_found('refund not found', 'refund_not_found');
    end if;
    if record_gateway_refund.gateway_refund_id is not null and refund.gateway_refund_id is null then
        update public.refunds as r set gateway_refund_id = record_gateway_refund.gateway_refund_id
        where r.id = refund.id
        returning r.* into refund;
    elsif refund.gateway_refund_id is distinct from record_gateway_refund.gateway_refund_id
        and record_gateway_refund.gateway_refund_id is not null then
        perform private.raise_conflict('the refund has another gateway id already', 'refund_id_conflict');
    end if;
    if refund.status <> 'pending' or outcome = 'pending' then
        return refund;
    end if;
    perform from public.payments as p where p.id = refund.payment_id for update;
    update public.refunds as r
    set status = outcome::public.refund_status,
        processed_at = case when outcome = 'processed' then now() end,
        status_reason = case when outcome = 'failed' then 'the gateway refused the refund' end
    where r.id = refund.id
    returning r.* into refund;
    if outcome = 'failed' then
        perform private.release_refund(refund.id);
    end if;
    return refund;
end;
$$;

grant execute on function private.record_gateway_refund(uuid, text, text) to service_role;

-- RPC (service role): the sidecar records Razorpay's answer to a refund.
create function public.record_gateway_refund(refund_id uuid, gateway_refund_id text, outcome text)
returns public.refunds
language sql
volatile
set search_path = ''
as $$
    select private.record_gateway_refund(
        record_gateway_refund.refund_id, record_gateway_refund.gateway_refund_id, record_gateway_refund.outcome
    );
$$;

revoke execute on function public.record_gateway_refund(uuid, text, text) from authenticated;
grant execute on function public.record_gateway_refund(uuid, text, text) to service_role;

comment on function public.record_gateway_refund(uuid, text, text) is
'Service role only (the sidecar): records Razorpay''s answer to a refund it sent: its refund id '
'and outcome pending (the webhook settles it), processed, or failed (the amount is refundable '
'again). A settled refund stays as it is. Errors: PT404 refund_not_found, PT409 '
'refund_id_conflict, 22023 unknown_outcome.';
