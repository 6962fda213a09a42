-- Payment links (issue 18, items 2, 5 and 6): an invoice paid online through a Razorpay Payment
-- Link the patient opens from an email, an SMS or the invoice PDF's "Scan to pay" QR.
--
--   * rpc/open_payment_link (front desk, hospital admin of the invoice's hospital): one open
--     link per invoice (a partial unique index), for the invoice's outstanding patient share.
--     Asked again it answers the same link; when what is due has changed since (a counter
--     payment, a credit note), the old link is superseded (cancelled, its Razorpay id answered
--     so that the sidecar cancels it there too) and a new one opened. The sidecar then creates
--     Razorpay's link (POST /v1/payment_links, reference_id = the link's id) and records its
--     id and short_url (rpc/attach_payment_link, service role).
--   * Razorpay's payment_link.paid webhook (through rpc/receive_razorpay_webhook and its inbox:
--     one entry per event id, a replay changes nothing) records the payment exactly as an
--     order's capture is recorded: a payment (online, razorpay) with the link's order is made
--     and handed to private.razorpay_apply_payment, which captures it (its receipt number) and
--     pays the invoice. payment_link.cancelled and payment_link.expired close the link.
--   * rpc/email_payment_link queues the link to the patient's email through the communications
--     outbox (consent and address checked by private.send_message, and again when the worker
--     claims it), from the hospital's billing template `payment_link` (made on first use; its
--     variables: patient_name, invoice_number, amount_due, link; nothing clinical).

create table public.payment_links (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null,
    patient_id uuid not null,
    invoice_id uuid not null,
    amount numeric(14, 2) not null,
    currency text not null,
    status text not null default 'created',
    gateway_link_id text,
    short_url text,
    payment_id uuid,
    paid_at timestamptz,
    closed_at timestamptz,
    created_by uuid default auth.uid() references public.profiles (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint payment_links_invoice_fkey foreign key (invoice_id, patient_id, hospital_id)
    references public.invoices (id, patient_id, hospital_id) on delete restrict,
    constraint payment_links_payment_fkey foreign key (payment_id, patient_id, hospital_id)
    references public.payments (id, patient_id, hospital_id) on delete restrict,
    constraint payment_links_gateway_unique unique (gateway_link_id),
    constraint payment_links_status_known check (status in ('created', 'paid', 'cancelled', 'expired')),
    constraint payment_links_amount_positive check (amount > 0),
    constraint payment_links_currency_format check (currency ~ '^[A-Z]{3}$'),
    constraint payment_links_paid check ((status = 'paid') = (paid_at is not null and payment_id is not null)),
    constraint payment_links_gateway_format check (
        gateway_link_id ~ '^plink_[A-Za-z0-9]{1,60}$'
        and short_url ~ '^https?://\S+$' and length(short_url) <= 300
    ),
    constraint payment_links_attached_together check ((gateway_link_id is null) = (short_url is null))
);

-- One open link per invoice.
create unique index payment_links_one_open_idx on public.payment_links (invoice_id) where status = 'created';
create index payment_links_invoice_idx on public.payment_links (invoice_id, patient_id, hospital_id);
create index payment_links_payment_idx on public.payment_links (payment_id, patient_id, hospital_id);
create index payment_links_created_by_idx on public.payment_links (created_by);

alter table public.payment_links enable row level security;
revoke all on public.payment_links from anon, authenticated, service_role;
grant select on public.payment_links to authenticated, service_role;

create policy payment_links_select_front_office_or_patient on public.payment_links
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
    or patient_id = private.own_patient_id()
);

comment on table public.payment_links is
'Razorpay Payment Links for invoices (POST /api/v1/invoices/{id}/payment-link): one open link '
'per invoice, for its outstanding patient share; paid through Razorpay''s page (never a card '
'number here), recorded by the payment_link.paid webhook as a captured online payment. Read by '
'the hospital''s front desk and admins and by the patient; written only by the billing functions.';
comment on column public.payment_links.status is
'created (open: payable), paid (payment_link.paid), cancelled (superseded when what is due '
'changed, or cancelled on Razorpay), expired (Razorpay''s expiry). Set only by the billing '
'functions, forward only; no state machine row (no role moves it by hand).';
comment on column public.payment_links.amount is 'What the link asks for: the patient share due when it was opened.';
comment on column public.payment_links.gateway_link_id is 'Razorpay''s payment link (plink_...).';
comment on column public.payment_links.short_url is
'Razorpay''s short URL of the link (the patient''s payment page; the PDF''s "Scan to pay" QR).';
comment on column public.payment_links.payment_id is 'The captured payment the link''s payment became.';
comment on policy payment_links_select_front_office_or_patient on public.payment_links is
'The hospital''s front desk and admins, and the patient.';

create trigger payment_links_set_updated_at
before update on public.payment_links
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.payment_links
for each row execute function private.audit_row_change('patient_id');

create trigger refuse_merged_patient
before insert or update on public.payment_links
for each row execute function private.refuse_merged_patient('patient_id');

insert into private.personal_data_columns (table_name, column_name, kind, note) values
('public.payment_links', 'gateway_link_id', 'none', 'Razorpay''s opaque id of the link'),
('public.payment_links', 'short_url', 'identifier', 'opens the patient''s payment page');

-- What the patient still owes on an invoice: the patient share less the patient's captured
-- payments net of refunds, never more than the invoice's balance.
create function private.invoice_patient_due(invoice public.invoices)
returns numeric
language sql
stable
set search_path = ''
as $$
    select greatest(least(
        private.invoice_balance(invoice),
        invoice.patient_total - coalesce((
            select sum(p.amount - p.amount_refunded) from public.payments as p
            where p.invoice_id = invoice.id and p.payer = 'patient' and p.status = 'captured'
        ), 0)
    ), 0);
$$;

comment on function private.invoice_patient_due(public.invoices) is
'The outstanding patient share of an invoice: patient_total less the patient''s captured payments '
'(net of refunds), at most the balance, never negative.';

-- Opening ----------------------------------------------------------------------------------------
create function private.open_payment_link(invoice_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    invoice public.invoices := private.front_office_invoice(open_payment_link.invoice_id);
    due numeric;
    link public.payment_links;
    superseded text;
begin
    if invoice.status not in ('issued', 'partially_paid', 'overdue') then
        perform private.raise_conflict(
            format('invoice %s is %s: nothing can be paid on it', coalesce(invoice.number, 'draft'), invoice.status),
            'invoice_not_payable'
        );
    end if;
    due := private.invoice_patient_due(invoice);
    if due <= 0 then
        perform private.raise_conflict('the patient owes nothing on this invoice', 'nothing_due');
    end if;
    select l.* into link from public.payment_links as l
    where l.invoice_id = invoice.id and l.status = 'created'
    for update;
    if link.id is not null and link.amount = due then
        return jsonb_build_object('link', to_jsonb(link), 'reused', true, 'superseded_gateway_link_id', null);
    end if;
    if link.id is not null then
        update public.payment_links as l
        set status = 'cancelled', closed_at = now()
        where l.id = link.id;
        superseded := link.gateway_link_id;
    end if;
    insert into public.payment_links (hospital_id, patient_id, invoice_id, amount, currency)
    values (invoice.hospital_id, invoice.patient_id, invoice.id, due, invoice.currency)
    returning * into link;
    return jsonb_build_object('link', to_jsonb(link), 'reused', false, 'superseded_gateway_link_id', superseded);
end;
$$;

grant execute on function private.open_payment_link(uuid) to authenticated;

-- RPC: POST /rest/v1/rpc/open_payment_link {"invoice_id"} (the sidecar's payment-link route calls it).
create function public.open_payment_link(invoice_id uuid)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.open_payment_link(open_payment_link.invoice_id);
$$;

grant execute on function public.open_payment_link(uuid) to authenticated;

comment on function public.open_payment_link(uuid) is
'Front desk, hospital admin of the invoice''s hospital: the invoice''s open payment link for its '
'outstanding patient share, made if there is none (POST /api/v1/invoices/{id}/payment-link makes '
'it on Razorpay too). Asked again, the same link (reused true); when what is due changed, the '
'old link is cancelled (superseded_gateway_link_id, to cancel on Razorpay) and a new one opened. '
'Answers {link, reused, superseded_gateway_link_id}. Errors: PT404 invoice_not_found, PT409 '
'invoice_not_payable, nothing_due.';

-- The sidecar records the link Razorpay made. Security definer: the service role writes no billing row.
create function private.attach_payment_link(link_id uuid, gateway_link_id text, short_url text)
returns public.payment_links
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    link public.payment_links;
begin
    select l.* into link from public.payment_links as l where l.id = attach_payment_link.link_id for update;
    if link.id is null then
        perform private.raise_not_found('payment link not found', 'payment_link_not_found');
    end if;
    if link.gateway_link_id is not null then
        if link.gateway_link_id <> attach_payment_link.gateway_link_id then
            perform private.raise_conflict('the link has another Razorpay link already', 'link_attached');
        end if;
        return link;
    end if;
    update public.payment_links as l
    set gateway_link_id = attach_payment_link.gateway_link_id, short_url = attach_payment_link.short_url
    where l.id = link.id
    returning l.* into link;
    return link;
end;
$$;

grant execute on function private.attach_payment_link(uuid, text, text) to service_role;

-- RPC (service role): the Razorpay link made for a payment link.
create function public.attach_payment_link(link_id uuid, gateway_link_id text, short_url text)
returns public.payment_links
language sql
volatile
set search_path = ''
as $$
    select private.attach_payment_link(
        attach_payment_link.link_id, attach_payment_link.gateway_link_id, attach_payment_link.short_url
    );
$$;

revoke execute on function public.attach_payment_link(uuid, text, text) from authenticated;
grant execute on function public.attach_payment_link(uuid, text, text) to service_role;

comment on function public.attach_payment_link(uuid, text, text) is
'Service role only (the sidecar, after Razorpay made the link): records its plink_ id and '
'short_url. Again with the same id, the same link. Errors: PT404 payment_link_not_found, PT409 '
'link_attached.';

-- The webhook's payment link events ---------------------------------------------------------------
create function private.razorpay_apply_payment_link(parsed jsonb)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    kind constant text := parsed ->> 'event';
    entity constant jsonb := parsed #> '{payload,payment_link,entity}';
    paid_with constant jsonb := parsed #> '{payload,payment,entity}';
    ours constant text := entity ->> 'reference_id';
    link public.payment_links;
    payment public.payments;
    result jsonb;
begin
    if nullif(btrim(entity ->> 'id'), '') is null then
        return jsonb_build_object('outcome', 'unprocessable', 'reason', 'missing_payment_link');
    end if;
    select l.* into link from public.payment_links as l where l.gateway_link_id = entity ->> 'id' for update;
    if link.id is null and ours ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
        select l.* into link from public.payment_links as l
        where l.id = ours::uuid and l.gateway_link_id is null
        for update;
    end if;
    if link.id is null then
        return jsonb_build_object(
            'outcome', 'unprocessable', 'reason', 'unknown_payment_link',
            'detail', 'no payment link of carebase has this id'
        );
    end if;
    if kind in ('payment_link.cancelled', 'payment_link.expired') then
        if link.status <> 'created' then
            return jsonb_build_object('outcome', 'ignored', 'reason', 'no_change', 'hospital_id', link.hospital_id);
        end if;
        update public.payment_links as l
        set status = case kind when 'payment_link.expired' then 'expired' else 'cancelled' end, closed_at = now()
        where l.id = link.id;
        return jsonb_build_object('outcome', 'applied', 'hospital_id', link.hospital_id);
    end if;
    -- payment_link.paid: the payment made on the link's order, recorded as an order's is.
    if paid_with is null or nullif(btrim(paid_with ->> 'order_id'), '') is null then
        return jsonb_build_object('outcome', 'unprocessable', 'reason', 'missing_payment', 'hospital_id', link.hospital_id);
    end if;
    if link.status = 'paid' then
        return jsonb_build_object(
            'outcome', 'ignored', 'reason', 'no_change', 'hospital_id', link.hospital_id, 'payment_id', link.payment_id
        );
    end if;
    if paid_with ->> 'amount' is distinct from round(link.amount * 100)::text
        or paid_with ->> 'currency' is distinct from link.currency then
        return jsonb_build_object(
            'outcome', 'unprocessable', 'reason', 'amount_mismatch', 'hospital_id', link.hospital_id,
            'detail', format('Razorpay reports %s %s, the link is %s %s', paid_with ->> 'amount',
                paid_with ->> 'currency', round(link.amount * 100), link.currency)
        );
    end if;
    -- The money is real even on a link superseded in the meantime: it is recorded all the same.
    select p.* into payment from public.payments as p where p.gateway_payment_id = paid_with ->> 'id';
    if payment.id is null then
        insert into public.payments (
            hospital_id, patient_id, invoice_id, payer, method, gateway, gateway_order_id, amount, currency, status
        )
        values (
            link.hospital_id, link.patient_id, link.invoice_id, 'patient', 'online', 'razorpay',
            paid_with ->> 'order_id', link.amount, link.currency, 'created'
        );
    end if;
    result := private.razorpay_apply_payment(paid_with, 'captured');
    if result ->> 'outcome' = 'applied' or result ->> 'reason' = 'no_change' then
        update public.payment_links as l
        set status = 'paid', paid_at = now(), payment_id = (result ->> 'payment_id')::uuid
        where l.id = link.id;
    end if;
    return result;
end;
$$;

comment on function private.razorpay_apply_payment_link(jsonb) is
'Applies a Razorpay payment_link.paid / .cancelled / .expired event to its link (by Razorpay''s '
'id, else reference_id): a paid link''s payment is made on the link''s order and captured by '
'private.razorpay_apply_payment, as an order''s payment is. Answers as razorpay_apply_payment.';

-- The inbox entry the webhook recorded, applied to a payment link event. The webhook's own
-- function records every event and applies the order and refund events; a payment link event
-- it leaves as unsupported_event is applied here, in the same transaction.
create function private.receive_razorpay_event(body text, event_id text default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    received jsonb := private.receive_razorpay_webhook(receive_razorpay_event.body, receive_razorpay_event.event_id);
    parsed jsonb;
    result jsonb;
begin
    if received ->> 'outcome' is distinct from 'ignored' or received ->> 'reason' is distinct from 'unsupported_event' then
        return received;
    end if;
    parsed := body::jsonb;
    if parsed ->> 'event' not in ('payment_link.paid', 'payment_link.cancelled', 'payment_link.expired') then
        return received;
    end if;
    result := private.razorpay_apply_payment_link(parsed);
    update private.webhook_inbox as i
    set
        outcome = result ->> 'outcome',
        reason = result ->> 'reason',
        detail = result ->> 'detail',
        hospital_id = coalesce((result ->> 'hospital_id')::uuid, i.hospital_id),
        applied_at = case when result ->> 'outcome' = 'applied' then now() end
    where i.id = (received ->> 'inbox_entry_id')::uuid;
    return (result - 'hospital_id') || jsonb_build_object('inbox_entry_id', received ->> 'inbox_entry_id');
end;
$$;

comment on function private.receive_razorpay_event(text, text) is
'private.receive_razorpay_webhook (inbox, order and refund events), then a payment link event '
'applied by private.razorpay_apply_payment_link and its inbox entry updated.';

grant execute on function private.receive_razorpay_event(text, text) to service_role;

create or replace function public.receive_razorpay_webhook(body text, event_id text default null)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.receive_razorpay_event(receive_razorpay_webhook.body, receive_razorpay_webhook.event_id);
$$;

comment on function public.receive_razorpay_webhook(text, text) is
'Service role only (the sidecar, after checking X-Razorpay-Signature on the raw body): records '
'a Razorpay webhook in the inbox (provider razorpay, one entry per x-razorpay-event-id) and '
'applies it in one transaction: payment.authorized / payment.captured / order.paid / '
'payment.failed move the payment forward only (a capture gives its receipt number and pays the '
'invoice), refund.processed / refund.failed settle a refund, payment_link.paid records the '
'link''s payment as captured (payment_link.cancelled / .expired close the link). Answers '
'{inbox_entry_id, outcome: applied | ignored | unprocessable | duplicate, reason (no_change, '
'not_forward, unknown_order, unknown_payment_link, amount_mismatch, unsupported_event, '
'malformed_json...), payment_id, refund_id, status}.';

-- Email ------------------------------------------------------------------------------------------

-- A hospital's template for a code, made from the given text the first time it is needed (the
-- hospital may then edit it like any other).
create function private.hospital_template(
    hospital_id uuid,
    code text,
    channel public.message_channel,
    category text,
    name text,
    subject text,
    body text,
    variables text[]
)
returns public.message_templates
language plpgsql
volatile
set search_path = ''
as $$
declare
    template public.message_templates;
begin
    insert into public.message_templates (hospital_id, code, name, channel, category, subject, body, variables, created_by)
    values (
        hospital_template.hospital_id, hospital_template.code, hospital_template.name, hospital_template.channel,
        hospital_template.category, hospital_template.subject, hospital_template.body, hospital_template.variables, null
    )
    on conflict on constraint message_templates_code_unique do nothing;
    select t.* into template from public.message_templates as t
    where t.hospital_id = hospital_template.hospital_id and t.channel = hospital_template.channel
        and t.code = hospital_template.code;
    return template;
end;
$$;

comment on function private.hospital_template(
    uuid, text, public.message_channel, text, text, text, text, text[]
) is 'A hospital''s template (hospital, channel, code), made from the given text when it has none yet.';

create function private.email_payment_link(invoice_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    invoice public.invoices := private.front_office_invoice(email_payment_link.invoice_id);
    link public.payment_links;
    person public.patients;
    template public.message_templates;
    message public.messages;
begin
    select l.* into link from public.payment_links as l
    where l.invoice_id = invoice.id and l.status = 'created' and l.short_url is not null;
    if link.id is null then
        return jsonb_build_object('queued', false, 'reason', 'no_open_link');
    end if;
    select p.* into person from public.patients as p where p.id = invoice.patient_id;
    if person.email is null then
        return jsonb_build_object('queued', false, 'reason', 'patient_has_no_email');
    end if;
    if private.contact_withdrawn(person.id, invoice.hospital_id, 'email') then
        return jsonb_build_object('queued', false, 'reason', 'contact_consent_withdrawn');
    end if;
    template := private.hospital_template(
        invoice.hospital_id, 'payment_link', 'email', 'billing', 'Invoice payment link',
        'Invoice {{ invoice_number }}: {{ amount_due }} to pay',
        E'Dear {{ patient_name }},\n\nYour invoice {{ invoice_number }} has {{ amount_due }} to pay. '
        || E'You can pay it online, securely on Razorpay''s page:\n\n{{ link }}\n\n'
        || E'If you have already paid, please ignore this message.\n',
        '{patient_name,invoice_number,amount_due,link}'
    );
    message := private.send_message(
        person.id, 'email', null, null, invoice.hospital_id, template.id,
        jsonb_build_object(
            'patient_name', person.full_name,
            'invoice_number', invoice.number,
            'amount_due', link.currency || ' ' || to_char(link.amount, 'FM999999999990.00'),
            'link', link.short_url
        ),
        null, null
    );
    return jsonb_build_object('queued', true, 'message_id', message.id);
end;
$$;

grant execute on function private.email_payment_link(uuid) to authenticated;

-- RPC: POST /rest/v1/rpc/email_payment_link {"invoice_id"}.
create function public.email_payment_link(invoice_id uuid)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.email_payment_link(email_payment_link.invoice_id);
$$;

grant execute on function public.email_payment_link(uuid) to authenticated;

comment on function public.email_payment_link(uuid) is
'Front desk, hospital admin of the invoice''s hospital: queues the invoice''s open payment link '
'to the patient''s email through the communications outbox, from the hospital''s billing '
'template payment_link (made on first use; variables patient_name, invoice_number, amount_due, '
'link; nothing clinical). Consent is checked again when the worker sends it. Answers {queued: '
'true, message_id}, or {queued: false, reason: no_open_link | patient_has_no_email | '
'contact_consent_withdrawn}. Errors: PT404 invoice_not_found.';
