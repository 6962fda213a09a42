-- Invoices (issue 18, item 1; seed 003 /billing, seed 004 financial records): money handled
-- with the care money deserves.
--
--   * A service catalogue per hospital (codes, prices, HSN/SAC codes, GST rates), kept by its
--     admins and read by its staff and patients.
--   * Invoices are a state machine (data, like appointments): draft -> issued -> partially paid /
--     paid / overdue -> cancelled (an issued invoice only by a credit note covering it whole).
--     The status column is never written by a client: the RPCs below and the payments move it.
--   * Lines: quantity x unit price - discount = taxable value; GST on it as CGST + SGST (half
--     the rate each) when the place of supply is the hospital's state, else IGST; the line total
--     is split into an insurer share and a patient share that add up to it (CHECK).
--   * Amounts are numeric(.., 2) in the invoice's currency (INR unless said otherwise).
--   * Numbers are given at issue, never at draft: gapless and unique per hospital and Indian
--     fiscal year (April-March), e.g. NAB/2026-27/000123, from a counter row updated in the
--     issuing transaction (a rolled-back issue takes its number back with it; the row is locked
--     only from the number's assignment, the issue's last step, to the commit). Credit notes
--     (NAB/CN/2026-27/000001) and receipts (NAB/RCP/2026-27/000001) have their own series.
--   * An issued invoice and its lines never change again (trigger, for every role): corrections
--     are credit notes referencing it.
--   * Who: the front desk and the admins of the hospital write; the patient reads their own
--     invoices once issued; nobody else sees them. Every write is in the audit trail.

create type public.invoice_status as enum ('draft', 'issued', 'partially_paid', 'paid', 'overdue', 'cancelled');
create type public.gst_supply as enum ('intra_state', 'inter_state');
create type public.billing_item_kind as enum ('service', 'goods');

comment on type public.invoice_status is
'An invoice''s state (machine invoice in state_machine_transitions): draft, issued, '
'partially_paid, paid, overdue, cancelled.';
comment on type public.gst_supply is
'intra_state: CGST and SGST, half the rate each (the place of supply is the hospital''s state); '
'inter_state: IGST at the full rate.';
comment on type public.billing_item_kind is 'service (SAC code) or goods (HSN code).';

-- Indian fiscal year of a day: April to March, written 2026-27.
create function private.indian_fiscal_year(day date)
returns text
language sql
immutable
set search_path = ''
as $$
    select case
        when extract(month from day) >= 4
            then format('%s-%s', extract(year from day)::integer, lpad(((extract(year from day)::integer + 1) % 100)::text, 2, '0'))
        else format('%s-%s', extract(year from day)::integer - 1, lpad((extract(year from day)::integer % 100)::text, 2, '0'))
    end;
$$;

comment on function private.indian_fiscal_year(date) is
'The Indian fiscal year (April to March) of a day, as 2026-27.';

-- Document counters ---------------------------------------------------------------------------
create table private.document_counters (
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    series text not null,
    fiscal_year text not null,
    last_value bigint not null,
    updated_at timestamptz not null default now(),
    constraint document_counters_pkey primary key (hospital_id, series, fiscal_year),
    constraint document_counters_series_known check (series in ('invoice', 'credit_note', 'receipt')),
    constraint document_counters_fiscal_year_format check (fiscal_year ~ '^[0-9]{4}-[0-9]{2}$'),
    constraint document_counters_positive check (last_value > 0)
);

alter table private.document_counters enable row level security;
revoke all on private.document_counters from anon, authenticated, service_role;

comment on table private.document_counters is
'The last number given per hospital, document series (invoice, credit_note, receipt) and '
'fiscal year. Updated in the transaction that issues the document, so numbers never skip '
'(a rollback returns its number) nor repeat (the row is locked until that transaction ends).';

-- The next number of a series: the counter row is created or moved on by one, and stays locked
-- until the calling transaction ends. Call it last, so that the lock is short.
create function private.next_document_number(
    hospital uuid,
    series text,
    day date,
    out fiscal_year text,
    out sequence_no bigint,
    out number text
)
language plpgsql
volatile
set search_path = ''
as $$
declare
    code text;
begin
    fiscal_year := private.indian_fiscal_year(day);
    insert into private.document_counters as c (hospital_id, series, fiscal_year, last_value)
    values (hospital, next_document_number.series, next_document_number.fiscal_year, 1)
    on conflict on constraint document_counters_pkey do update
        set last_value = c.last_value + 1, updated_at = now()
    returning c.last_value into sequence_no;
    select h.code into code from public.hospitals as h where h.id = hospital;
    number := concat_ws(
        '/', code,
        case next_document_number.series when 'credit_note' then 'CN' when 'receipt' then 'RCP' end,
        next_document_number.fiscal_year, lpad(sequence_no::text, 6, '0')
    );
end;
$$;

comment on function private.next_document_number(uuid, text, date) is
'The next gapless number of a hospital''s document series in the fiscal year of day: '
'<code>/<fy>/000001 for invoices, <code>/CN/<fy>/... for credit notes, <code>/RCP/<fy>/... for '
'receipts. Locks the counter row until the transaction ends.';

-- The hospital's calendar day now (fiscal years and due dates are local).
create function private.hospital_today(hospital uuid)
returns date
language sql
stable
set search_path = ''
as $$
    select (now() at time zone h.time_zone)::date from public.hospitals as h where h.id = hospital;
$$;

comment on function private.hospital_today(uuid) is 'Today in the hospital''s time zone.';

-- Service catalogue ---------------------------------------------------------------------------
create table public.billing_services (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete restrict,
    code text not null,
    name text not null,
    kind public.billing_item_kind not null default 'service',
    hsn_sac text not null,
    unit_price numeric(12, 2) not null,
    currency text not null default 'INR',
    gst_rate numeric(5, 2) not null default 0,
    appointment_type public.appointment_type,
    is_active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint billing_services_code_format check (code ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
    constraint billing_services_name_present check (length(btrim(name)) between 1 and 200),
    constraint billing_services_hsn_sac_format check (hsn_sac ~ '^[0-9]{4}([0-9]{2}){0,2}$'),
    constraint billing_services_price_not_negative check (unit_price >= 0),
    constraint billing_services_currency_format check (currency ~ '^[A-Z]{3}$'),
    constraint billing_services_gst_rate_range check (gst_rate >= 0 and gst_rate <= 40),
    constraint billing_services_code_unique unique (hospital_id, code),
    constraint billing_services_id_hospital_key unique (id, hospital_id)
);

create unique index billing_services_appointment_type_idx on public.billing_services (hospital_id, appointment_type)
where appointment_type is not null and is_active;

alter table public.billing_services enable row level security;
revoke all on public.billing_services from anon, authenticated, service_role;
grant select on public.billing_services to authenticated, service_role;
grant insert (
    hospital_id, code, name, kind, hsn_sac, unit_price, currency, gst_rate, appointment_type, is_active
) on public.billing_services to authenticated;
grant update (name, kind, hsn_sac, unit_price, gst_rate, appointment_type, is_active)
on public.billing_services to authenticated;

create policy billing_services_select_staff_or_patients on public.billing_services
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids())
    or hospital_id = any(private.patient_hospital_ids())
);

create policy billing_services_insert_admin on public.billing_services
for insert to authenticated
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create policy billing_services_update_admin on public.billing_services
for update to authenticated
using (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')))
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create trigger billing_services_set_updated_at
before update on public.billing_services
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.billing_services
for each row execute function private.audit_row_change('');

comment on table public.billing_services is
'A hospital''s service catalogue (seed 003 billing): what it charges for, with its code, price, '
'HSN/SAC code and GST rate. Read by its staff and its patients; written by its admins (never '
'deleted: is_active false retires one). A price change never touches issued invoices, whose '
'lines keep their own copy.';
comment on column public.billing_services.code is 'The hospital''s code for it (CONSULT-GEN), unique there.';
comment on column public.billing_services.hsn_sac is
'HSN code (goods) or SAC code (services, e.g. 999312 for medical services), 4, 6 or 8 digits.';
comment on column public.billing_services.unit_price is 'Price of one unit before tax, in currency.';
comment on column public.billing_services.gst_rate is
'GST rate in percent (0 for exempt health care services): CGST and SGST half each, or IGST whole.';
comment on column public.billing_services.appointment_type is
'When set, the line rpc/invoice_appointment bills for a completed appointment of this type '
'(one active service per type and hospital).';
comment on policy billing_services_select_staff_or_patients on public.billing_services is
'The hospital''s staff and its registered patients read the catalogue.';
comment on policy billing_services_insert_admin on public.billing_services is
'Only the hospital''s admins add services.';
comment on policy billing_services_update_admin on public.billing_services is
'Only the hospital''s admins change or retire services.';

-- Invoices ------------------------------------------------------------------------------------
create table public.invoices (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete restrict,
    patient_id uuid not null,
    appointment_id uuid,
    number text,
    fiscal_year text,
    sequence_no bigint,
    status public.invoice_status not null default 'draft',
    status_reason text,
    status_changed_at timestamptz not null default now(),
    currency text not null default 'INR',
    place_of_supply text,
    supply public.gst_supply not null default 'intra_state',
    insurer_name text,
    insurer_policy_number text,
    due_date date,
    notes text,
    subtotal numeric(14, 2) not null default 0,
    discount_total numeric(14, 2) not null default 0,
    taxable_total numeric(14, 2) not null default 0,
    cgst_total numeric(14, 2) not null default 0,
    sgst_total numeric(14, 2) not null default 0,
    igst_total numeric(14, 2) not null default 0,
    total numeric(14, 2) not null default 0,
    insurer_total numeric(14, 2) not null default 0,
    patient_total numeric(14, 2) not null default 0,
    amount_paid numeric(14, 2) not null default 0,
    amount_credited numeric(14, 2) not null default 0,
    issued_at timestamptz,
    issued_by uuid references public.profiles (id) on delete set null,
    created_by uuid references public.profiles (id) on delete set null default auth.uid(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint invoices_patient_registered_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict,
    constraint invoices_appointment_same_patient_fkey foreign key (appointment_id, patient_id, hospital_id)
    references public.appointments (id, patient_id, hospital_id) on delete restrict,
    constraint invoices_id_hospital_key unique (id, hospital_id),
    constraint invoices_id_patient_hospital_key unique (id, patient_id, hospital_id),
    constraint invoices_number_unique unique (hospital_id, number),
    constraint invoices_sequence_unique unique (hospital_id, fiscal_year, sequence_no),
    constraint invoices_currency_format check (currency ~ '^[A-Z]{3}$'),
    constraint invoices_numbered_once_issued check (
        (number is null) = (issued_at is null)
        and (number is null) = (sequence_no is null)
        and (number is null) = (fiscal_year is null)
        and (number is not null or status in ('draft', 'cancelled'))
        and (number is null or status <> 'draft')
    ),
    constraint invoices_totals_add_up check (
        total = taxable_total + cgst_total + sgst_total + igst_total
        and taxable_total = subtotal - discount_total
        and insurer_total + patient_total = total
    ),
    constraint invoices_gst_split check (
        (supply = 'intra_state' and igst_total = 0 and cgst_total = sgst_total)
        or (supply = 'inter_state' and cgst_total = 0 and sgst_total = 0)
    ),
    constraint invoices_amounts_not_negative check (
        subtotal >= 0 and discount_total >= 0 and insurer_total >= 0 and patient_total >= 0 and amount_paid >= 0
    ),
    constraint invoices_credit_within_total check (amount_credited >= 0 and amount_credited <= total),
    constraint invoices_text_lengths check (
        length(insurer_name) <= 200 and length(insurer_policy_number) <= 100 and length(notes) <= 2000
        and length(place_of_supply) <= 100
    )
);

create index invoices_patient_idx on public.invoices (patient_id, hospital_id, created_at);
create index invoices_hospital_status_idx on public.invoices (hospital_id, status, due_date);
create index invoices_hospital_issued_idx on public.invoices (hospital_id, issued_at);
create index invoices_appointment_idx on public.invoices (appointment_id, patient_id, hospital_id);
create unique index invoices_one_per_appointment_idx on public.invoices (appointment_id)
where appointment_id is not null and status <> 'cancelled';
create index invoices_issued_by_idx on public.invoices (issued_by);
create index invoices_created_by_idx on public.invoices (created_by);

alter table public.invoices enable row level security;
revoke all on public.invoices from anon, authenticated, service_role;
grant select on public.invoices to authenticated, service_role;
grant insert (
    id, hospital_id, patient_id, appointment_id, currency, place_of_supply, insurer_name,
    insurer_policy_number, due_date, notes
) on public.invoices to authenticated;
grant update (insurer_name, insurer_policy_number, due_date, notes) on public.invoices to authenticated;

create policy invoices_select_front_office_or_patient on public.invoices
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
    or (patient_id = private.own_patient_id() and status <> 'draft')
);

create policy invoices_insert_front_office on public.invoices
for insert to authenticated
with check (hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}')));

create policy invoices_update_front_office on public.invoices
for update to authenticated
using (hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}')))
with check (hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}')));

comment on table public.invoices is
'Invoices (seed 003 /invoices, seed 004 financial records): a patient''s bill at a hospital, '
'optionally for one appointment (one open invoice per appointment). Created as a draft by the '
'front desk or an admin (POST, or rpc/invoice_appointment for a completed visit), lines added '
'in invoice_lines, then issued with rpc/issue_invoice, which gives the number; from then on it '
'never changes (PT409 invoice_issued): corrections are credit notes (rpc/issue_credit_note). '
'Totals are kept from the lines; amount_paid and the paid statuses from payments and refunds. '
'Read by the hospital''s front desk and admins, and by the patient once issued.';
comment on column public.invoices.number is
'Given at issue: <hospital code>/<fiscal year>/<6 digits>, gapless per hospital and fiscal year.';
comment on column public.invoices.fiscal_year is 'The Indian fiscal year (April-March) of the issue, e.g. 2026-27.';
comment on column public.invoices.sequence_no is
'The number''s position in its hospital''s series for the fiscal year.';
comment on column public.invoices.status is
'Changed only along state_machine_transitions (machine invoice), by the billing RPCs and '
'payments; every step is in status_history.';
comment on column public.invoices.place_of_supply is
'The state where the service is supplied; the hospital''s state when not given (care given in '
'person). Another state makes the GST IGST instead of CGST + SGST. Set when the draft is created.';
comment on column public.invoices.supply is 'intra_state (CGST + SGST) or inter_state (IGST), from place_of_supply.';
comment on column public.invoices.due_date is
'When payment is due; 15 days after the issue unless given. Past it, unpaid: overdue.';
comment on column public.invoices.total is 'taxable_total plus the taxes: what the invoice asks for, in currency.';
comment on column public.invoices.insurer_total is 'The lines'' insurer shares.';
comment on column public.invoices.patient_total is 'The lines'' patient shares.';
comment on column public.invoices.amount_paid is
'Captured payments less their refunds (pending ones included): what the hospital holds for it.';
comment on column public.invoices.amount_credited is 'The credit notes against it; all of total cancels it.';
comment on policy invoices_select_front_office_or_patient on public.invoices is
'The hospital''s front desk and admins read its invoices; a patient their own once issued.';
comment on policy invoices_insert_front_office on public.invoices is
'The front desk and admins create draft invoices for patients registered at their hospital.';
comment on policy invoices_update_front_office on public.invoices is
'The front desk and admins edit drafts (an issued invoice refuses every change).';

-- Lines -----------------------------------------------------------------------------------------
create table public.invoice_lines (
    id uuid primary key default gen_random_uuid(),
    invoice_id uuid not null,
    hospital_id uuid not null,
    patient_id uuid not null,
    line_no integer not null,
    service_id uuid,
    description text not null,
    kind public.billing_item_kind not null default 'service',
    hsn_sac text not null,
    quantity numeric(10, 3) not null default 1,
    unit_price numeric(12, 2) not null,
    discount numeric(12, 2) not null default 0,
    gst_rate numeric(5, 2) not null default 0,
    taxable_value numeric(14, 2) generated always as (round(quantity * unit_price, 2) - discount) stored,
    cgst numeric(12, 2) not null default 0,
    sgst numeric(12, 2) not null default 0,
    igst numeric(12, 2) not null default 0,
    line_total numeric(14, 2) generated always as (
        round(quantity * unit_price, 2) - discount + cgst + sgst + igst
    ) stored,
    insurer_share numeric(14, 2) not null default 0,
    patient_share numeric(14, 2) not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint invoice_lines_invoice_fkey foreign key (invoice_id, patient_id, hospital_id)
    references public.invoices (id, patient_id, hospital_id) on delete cascade,
    constraint invoice_lines_service_same_hospital_fkey foreign key (service_id, hospital_id)
    references public.billing_services (id, hospital_id) on delete restrict,
    constraint invoice_lines_line_no_unique unique (invoice_id, line_no),
    constraint invoice_lines_line_no_range check (line_no between 1 and 999),
    constraint invoice_lines_description_present check (length(btrim(description)) between 1 and 500),
    constraint invoice_lines_hsn_sac_format check (hsn_sac ~ '^[0-9]{4}([0-9]{2}){0,2}$'),
    constraint invoice_lines_quantity_positive check (quantity > 0),
    constraint invoice_lines_price_not_negative check (unit_price >= 0),
    constraint invoice_lines_discount_within_amount check (
        discount >= 0 and discount <= round(quantity * unit_price, 2)
    ),
    constraint invoice_lines_gst_rate_range check (gst_rate >= 0 and gst_rate <= 40),
    constraint invoice_lines_gst_split check ((igst = 0 and cgst = sgst) or (cgst = 0 and sgst = 0)),
    constraint invoice_lines_tax_not_negative check (cgst >= 0 and sgst >= 0 and igst >= 0),
    constraint invoice_lines_shares_not_negative check (insurer_share >= 0 and patient_share >= 0),
    constraint invoice_lines_shares_add_up check (insurer_share + patient_share = line_total)
);

create index invoice_lines_invoice_idx on public.invoice_lines (invoice_id, patient_id, hospital_id);
create index invoice_lines_patient_idx on public.invoice_lines (patient_id, hospital_id);
create index invoice_lines_service_idx on public.invoice_lines (service_id, hospital_id);

alter table public.invoice_lines enable row level security;
revoke all on public.invoice_lines from anon, authenticated, service_role;
grant select on public.invoice_lines to authenticated, service_role;
grant insert (
    invoice_id, line_no, service_id, description, kind, hsn_sac, quantity, unit_price, discount, gst_rate,
    insurer_share, patient_share
) on public.invoice_lines to authenticated;
grant update (description, quantity, unit_price, discount, gst_rate, insurer_share, patient_share)
on public.invoice_lines to authenticated;
grant delete on public.invoice_lines to authenticated;

create policy invoice_lines_select_front_office_or_patient on public.invoice_lines
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
    or (
        patient_id = private.own_patient_id()
        and exists (
            select from public.invoices as i
            where i.id = invoice_lines.invoice_id and i.status <> 'draft'
        )
    )
);

create policy invoice_lines_insert_front_office on public.invoice_lines
for insert to authenticated
with check (hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}')));

create policy invoice_lines_update_front_office on public.invoice_lines
for update to authenticated
using (hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}')))
with check (hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}')));

create policy invoice_lines_delete_front_office on public.invoice_lines
for delete to authenticated
using (hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}')));

comment on table public.invoice_lines is
'An invoice''s lines: a catalogue service (service_id fills description, HSN/SAC, price and GST '
'rate) or a free line, quantity, discount, GST (cgst + sgst or igst, computed from the '
'invoice''s supply), the line total and its insurer and patient shares (they add up to it: '
'23514 otherwise; the patient''s share defaults to what the insurer does not pay). Written by '
'the front desk and admins while the invoice is a draft (PT409 invoice_issued after); read as '
'the invoice is.';
comment on column public.invoice_lines.invoice_id is
'The invoice (a draft to write it); its hospital and patient are copied.';
comment on column public.invoice_lines.taxable_value is 'round(quantity x unit_price, 2) - discount.';
comment on column public.invoice_lines.cgst is 'Central GST: taxable_value x gst_rate / 2 %, for intra-state supply.';
comment on column public.invoice_lines.sgst is 'State GST: the same as cgst.';
comment on column public.invoice_lines.igst is 'Integrated GST: taxable_value x gst_rate %, for inter-state supply.';
comment on column public.invoice_lines.line_total is 'taxable_value plus the taxes.';
comment on column public.invoice_lines.insurer_share is 'What the insurer pays of line_total.';
comment on column public.invoice_lines.patient_share is
'What the patient pays: line_total - insurer_share unless given.';
comment on policy invoice_lines_select_front_office_or_patient on public.invoice_lines is
'As the invoice: the hospital''s front desk and admins; the patient once it is issued.';
comment on policy invoice_lines_insert_front_office on public.invoice_lines is
'The front desk and admins add lines to their hospital''s drafts.';
comment on policy invoice_lines_update_front_office on public.invoice_lines is
'The front desk and admins change lines of drafts.';
comment on policy invoice_lines_delete_front_office on public.invoice_lines is
'The front desk and admins remove lines of drafts.';

-- Credit notes ----------------------------------------------------------------------------------
create table public.credit_notes (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null,
    patient_id uuid not null,
    invoice_id uuid not null,
    number text not null,
    fiscal_year text not null,
    sequence_no bigint not null,
    currency text not null,
    amount numeric(14, 2) not null,
    taxable_value numeric(14, 2) not null,
    cgst numeric(12, 2) not null,
    sgst numeric(12, 2) not null,
    igst numeric(12, 2) not null,
    reason text not null,
    issued_at timestamptz not null default now(),
    issued_by uuid references public.profiles (id) on delete set null default auth.uid(),
    constraint credit_notes_invoice_fkey foreign key (invoice_id, patient_id, hospital_id)
    references public.invoices (id, patient_id, hospital_id) on delete restrict,
    constraint credit_notes_number_unique unique (hospital_id, number),
    constraint credit_notes_sequence_unique unique (hospital_id, fiscal_year, sequence_no),
    constraint credit_notes_amount_positive check (amount > 0),
    constraint credit_notes_amount_adds_up check (amount = taxable_value + cgst + sgst + igst),
    constraint credit_notes_reason_present check (length(btrim(reason)) between 1 and 500)
);

create index credit_notes_invoice_idx on public.credit_notes (invoice_id, patient_id, hospital_id);
create index credit_notes_patient_idx on public.credit_notes (patient_id, hospital_id);
create index credit_notes_issued_by_idx on public.credit_notes (issued_by);

alter table public.credit_notes enable row level security;
revoke all on public.credit_notes from anon, authenticated, service_role;
grant select on public.credit_notes to authenticated, service_role;

create policy credit_notes_select_front_office_or_patient on public.credit_notes
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
    or patient_id = private.own_patient_id()
);

comment on table public.credit_notes is
'Credit notes (GST): a correction of an issued invoice, with its own gapless number '
'(<code>/CN/<fy>/000001) and its share of the invoice''s taxes; never changed. Made by '
'rpc/issue_credit_note; the invoice is cancelled when its credit notes cover it whole. Read by '
'the hospital''s front desk and admins and by the patient.';
comment on column public.credit_notes.amount is 'The amount credited, taxes included, in currency.';
comment on column public.credit_notes.reason is 'Why the invoice is corrected.';
comment on policy credit_notes_select_front_office_or_patient on public.credit_notes is
'The hospital''s front desk and admins, and the patient.';

-- The invoice machine -------------------------------------------------------------------------
insert into private.state_machine_states (machine, state, label, position, is_terminal)
values
('invoice', 'draft', 'Draft', 1, false),
('invoice', 'issued', 'Issued', 2, false),
('invoice', 'partially_paid', 'Partially paid', 3, false),
('invoice', 'paid', 'Paid', 4, false),
('invoice', 'overdue', 'Overdue', 5, false),
('invoice', 'cancelled', 'Cancelled', 6, true);

insert into private.state_transitions (machine, from_state, to_state, roles, requires_reason, description)
values
('invoice', null, 'draft', '{front_desk,hospital_admin}', false, 'a new invoice, not yet numbered'),
('invoice', 'draft', 'issued', '{front_desk,hospital_admin}', false, 'numbered and final (rpc/issue_invoice)'),
('invoice', 'draft', 'cancelled', '{front_desk,hospital_admin}', true, 'a draft discarded (no number was given)'),
('invoice', 'issued', 'partially_paid', '{front_desk,hospital_admin}', false, 'a payment covers part of it'),
('invoice', 'issued', 'paid', '{front_desk,hospital_admin}', false, 'payments (or credits) cover it'),
('invoice', 'issued', 'overdue', '{front_desk,hospital_admin}', false, 'unpaid past its due date'),
('invoice', 'issued', 'cancelled', '{front_desk,hospital_admin}', true, 'credit notes cover it whole'),
('invoice', 'partially_paid', 'paid', '{front_desk,hospital_admin}', false, 'payments (or credits) cover it'),
('invoice', 'partially_paid', 'issued', '{front_desk,hospital_admin}', false, 'a refund took back what was paid'),
('invoice', 'partially_paid', 'overdue', '{front_desk,hospital_admin}', false, 'not paid whole by its due date'),
('invoice', 'partially_paid', 'cancelled', '{front_desk,hospital_admin}', true, 'credit notes cover it whole'),
('invoice', 'paid', 'partially_paid', '{front_desk,hospital_admin}', false, 'a refund reopened part of it'),
('invoice', 'paid', 'issued', '{front_desk,hospital_admin}', false, 'a refund took back what was paid'),
('invoice', 'paid', 'overdue', '{front_desk,hospital_admin}', false, 'a refund reopened it past its due date'),
('invoice', 'paid', 'cancelled', '{front_desk,hospital_admin}', true, 'credit notes cover it whole'),
('invoice', 'overdue', 'paid', '{front_desk,hospital_admin}', false, 'paid late'),
('invoice', 'overdue', 'cancelled', '{front_desk,hospital_admin}', true, 'credit notes cover it whole');

create trigger invoices_state_machine
before insert or update of status on public.invoices
for each row execute function private.enforce_state_machine('invoice');

-- Filling and guarding ----------------------------------------------------------------------------

-- A new draft: GST supply from the place of supply (the hospital's state when not given), the
-- invoice of an appointment only for a completed one. Security definer: it reads the hospital
-- and the appointment whatever the caller may read of them (the policies decide the write).
create function private.fill_invoice()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    hospital_state text;
begin
    select h.state into hospital_state from public.hospitals as h where h.id = new.hospital_id;
    new.place_of_supply := coalesce(nullif(btrim(new.place_of_supply), ''), hospital_state);
    new.supply := case
        when hospital_state is null or lower(new.place_of_supply) = lower(hospital_state) then 'intra_state'
        else 'inter_state'
    end::public.gst_supply;
    if new.appointment_id is not null and not exists (
        select from public.appointments as a where a.id = new.appointment_id and a.status = 'completed'
    ) then
        perform private.raise_conflict(
            'only a completed appointment is invoiced', 'appointment_not_completed',
            'invoice the visit once the doctor has completed it'
        );
    end if;
    return new;
end;
$$;

comment on function private.fill_invoice() is
'Trigger: a new invoice''s GST supply from its place of supply; an appointment''s invoice only '
'once it is completed (PT409 appointment_not_completed).';

create trigger invoices_fill
before insert on public.invoices
for each row execute function private.fill_invoice();

-- An issued invoice never changes, for any role: only what payments, refunds and credit notes
-- move (status, amounts paid and credited) may, and a merge's re-pointing to the surviving record.
create function private.guard_invoice()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    moving constant text[] := '{status,status_reason,status_changed_at,amount_paid,amount_credited,updated_at}';
begin
    if private.merge_repointing(to_jsonb(old), to_jsonb(new)) then
        return new;
    end if;
    if old.status <> 'draft' and (to_jsonb(new) - moving) is distinct from (to_jsonb(old) - moving) then
        perform private.raise_conflict(
            format('invoice %s is %s and cannot be changed', coalesce(old.number, '(a discarded draft)'), old.status),
            case when old.number is null then 'invoice_discarded' else 'invoice_issued' end,
            'correct it with a credit note (rpc/issue_credit_note)'
        );
    end if;
    return new;
end;
$$;

comment on function private.guard_invoice() is
'Trigger: an issued invoice refuses every change but its status and paid and credited amounts '
'(PT409 invoice_issued), whoever asks.';

create trigger invoices_guard_issued
before update on public.invoices
for each row execute function private.guard_invoice();

create trigger invoices_set_updated_at
before update on public.invoices
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.invoices
for each row execute function private.audit_row_change('patient_id');

create trigger refuse_merged_patient
before insert or update on public.invoices
for each row execute function private.refuse_merged_patient('patient_id');

-- A line: hospital and patient from its invoice (a draft), catalogue defaults, the next line
-- number, GST from the invoice's supply, the patient's share. Security definer: it reads the
-- invoice and the catalogue whatever the caller may read (the policies decide the write).
create function private.fill_invoice_line()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    invoice public.invoices;
    service public.billing_services;
    taxable numeric;
    total numeric;
begin
    if tg_op = 'UPDATE' and private.merge_repointing(to_jsonb(old), to_jsonb(new)) then
        return new;
    end if;
    select i.* into invoice from public.invoices as i
    where i.id = coalesce(new.invoice_id, old.invoice_id);
    if invoice.id is null or not (
        private.acting_as_system()
        or invoice.hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
    ) then
        perform private.raise_not_found('invoice not found', 'invoice_not_found');
    end if;
    if invoice.status is distinct from 'draft' then
        perform private.raise_conflict(
            format('invoice %s is %s and its lines cannot be changed', coalesce(invoice.number, '(a discarded draft)'),
                invoice.status),
            case when invoice.number is null then 'invoice_discarded' else 'invoice_issued' end,
            'correct it with a credit note (rpc/issue_credit_note)'
        );
    end if;
    if tg_op = 'DELETE' then
        return old;
    end if;
    new.hospital_id := invoice.hospital_id;
    new.patient_id := invoice.patient_id;
    if new.service_id is not null and (tg_op = 'INSERT' or new.service_id is distinct from old.service_id) then
        select s.* into service from public.billing_services as s
        where s.id = new.service_id and s.hospital_id = invoice.hospital_id;
        if service.id is null or not service.is_active then
            perform private.raise_invalid('no such active service in this hospital''s catalogue', 'unknown_service');
        end if;
        if service.currency <> invoice.currency then
            perform private.raise_invalid(
                format('the service is priced in %s, the invoice is in %s', service.currency, invoice.currency),
                'currency_mismatch'
            );
        end if;
        new.description := coalesce(new.description, service.name);
        new.kind := service.kind;
        new.hsn_sac := coalesce(new.hsn_sac, service.hsn_sac);
        new.unit_price := coalesce(new.unit_price, service.unit_price);
        if tg_op = 'INSERT' then
            new.gst_rate := service.gst_rate;
        end if;
    end if;
    if tg_op = 'INSERT' and new.line_no is null then
        select coalesce(max(l.line_no), 0) + 1 into new.line_no
        from public.invoice_lines as l where l.invoice_id = new.invoice_id;
    end if;
    if new.unit_price is null or new.quantity is null then
        return new;
    end if;
    taxable := round(new.quantity * new.unit_price, 2) - coalesce(new.discount, 0);
    if invoice.supply = 'intra_state' then
        new.cgst := round(taxable * new.gst_rate / 200, 2);
        new.sgst := new.cgst;
        new.igst := 0;
    else
        new.cgst := 0;
        new.sgst := 0;
        new.igst := round(taxable * new.gst_rate / 100, 2);
    end if;
    total := taxable + new.cgst + new.sgst + new.igst;
    if new.patient_share is null or (
        tg_op = 'UPDATE' and new.patient_share is not distinct from old.patient_share
    ) then
        new.patient_share := total - coalesce(new.insurer_share, 0);
    end if;
    return new;
end;
$$;

comment on function private.fill_invoice_line() is
'Trigger: a line of a draft (PT409 invoice_issued otherwise) gets its invoice''s hospital and '
'patient, the catalogue''s description, HSN/SAC, price and GST rate, the next line number, its '
'GST (CGST + SGST or IGST) and the patient''s share when not given.';

create trigger invoice_lines_fill
before insert or update or delete on public.invoice_lines
for each row execute function private.fill_invoice_line();

-- The invoice's totals, from its lines. Security definer: totals are not the caller's to write.
create function private.total_invoice()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    update public.invoices as i
    set (
        subtotal, discount_total, taxable_total, cgst_total, sgst_total, igst_total, total,
        insurer_total, patient_total
    ) = (
        select
            coalesce(sum(round(l.quantity * l.unit_price, 2)), 0),
            coalesce(sum(l.discount), 0),
            coalesce(sum(l.taxable_value), 0),
            coalesce(sum(l.cgst), 0),
            coalesce(sum(l.sgst), 0),
            coalesce(sum(l.igst), 0),
            coalesce(sum(l.line_total), 0),
            coalesce(sum(l.insurer_share), 0),
            coalesce(sum(l.patient_share), 0)
        from public.invoice_lines as l
        where l.invoice_id = i.id
    )
    where i.id = coalesce(new.invoice_id, old.invoice_id);
    return null;
end;
$$;

comment on function private.total_invoice() is 'Trigger: an invoice''s totals, summed from its lines.';

create trigger invoice_lines_total
after insert or delete or update of quantity, unit_price, discount, gst_rate, insurer_share, patient_share
on public.invoice_lines
for each row execute function private.total_invoice();

create trigger invoice_lines_set_updated_at
before update on public.invoice_lines
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.invoice_lines
for each row execute function private.audit_row_change('patient_id');

create trigger refuse_merged_patient
before insert or update on public.invoice_lines
for each row execute function private.refuse_merged_patient('patient_id');

-- Credit notes are never changed nor removed (a merge's re-pointing aside).
create function private.guard_credit_note()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if tg_op = 'UPDATE' and private.merge_repointing(to_jsonb(old), to_jsonb(new)) then
        return new;
    end if;
    perform private.raise_conflict('a credit note cannot be changed or removed', 'credit_note_issued');
    return null;
end;
$$;

comment on function private.guard_credit_note() is 'Trigger: credit notes are final (PT409 credit_note_issued).';

create trigger credit_notes_guard
before update or delete on public.credit_notes
for each row execute function private.guard_credit_note();

create trigger audit_row_change
after insert or update or delete on public.credit_notes
for each row execute function private.audit_row_change('patient_id');

create trigger refuse_merged_patient
before insert or update on public.credit_notes
for each row execute function private.refuse_merged_patient('patient_id');

-- The status an invoice's amounts call for (issued, partially paid, paid, overdue, cancelled),
-- taken when it differs. The caller holds the invoice's row lock.
create function private.settle_invoice(invoice_id uuid, reason text default null)
returns public.invoices
language plpgsql
volatile
set search_path = ''
as $$
declare
    invoice public.invoices;
    target public.invoice_status;
begin
    select i.* into invoice from public.invoices as i where i.id = settle_invoice.invoice_id;
    if invoice.status in ('draft', 'cancelled') then
        return invoice;
    end if;
    target := case
        when invoice.amount_credited >= invoice.total and invoice.total > 0 then 'cancelled'
        when invoice.amount_paid >= invoice.total - invoice.amount_credited then 'paid'
        when invoice.due_date < private.hospital_today(invoice.hospital_id) then 'overdue'
        when invoice.amount_paid > 0 then 'partially_paid'
        else 'issued'
    end;
    if target <> invoice.status then
        update public.invoices as i
        set status = target, status_reason = case when target = 'cancelled' then coalesce(reason, 'credited in full') end
        where i.id = invoice.id
        returning i.* into invoice;
    end if;
    return invoice;
end;
$$;

comment on function private.settle_invoice(uuid, text) is
'Moves an issued invoice to the status its amounts call for: cancelled (credited whole), paid, '
'overdue (past due), partially_paid or issued.';

-- RPCs ------------------------------------------------------------------------------------------

-- The invoice at the caller's reach as front desk or admin, locked; PT404 otherwise (also for a
-- patient reading their own: they do not bill).
create function private.front_office_invoice(invoice_id uuid)
returns public.invoices
language plpgsql
volatile
set search_path = ''
as $$
declare
    invoice public.invoices;
begin
    select i.* into invoice from public.invoices as i where i.id = front_office_invoice.invoice_id for update;
    if invoice.id is null
        or not invoice.hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}')) then
        perform private.raise_not_found('invoice not found', 'invoice_not_found');
    end if;
    return invoice;
end;
$$;

comment on function private.front_office_invoice(uuid) is
'The invoice, locked, when the caller is front desk or admin of its hospital; PT404 invoice_not_found otherwise.';

-- Issue: the number, the issue date, the due date. Security definer: the number comes from the
-- private counters; the caller's reach is checked first (front_office_invoice).
create function private.issue_invoice(invoice_id uuid, due_date date default null)
returns public.invoices
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    invoice public.invoices := private.front_office_invoice(issue_invoice.invoice_id);
    today date := private.hospital_today(invoice.hospital_id);
    due date := coalesce(issue_invoice.due_date, invoice.due_date, today + 15);
    assigned record;
begin
    if invoice.status <> 'draft' then
        perform private.raise_conflict(
            format('invoice %s is %s: only a draft is issued', invoice.number, invoice.status), 'invoice_not_draft'
        );
    end if;
    if not exists (select from public.invoice_lines as l where l.invoice_id = invoice.id) then
        perform private.raise_invalid('an invoice without lines cannot be issued', 'invoice_empty', 'add lines first');
    end if;
    if due < today then
        perform private.raise_invalid('the due date is in the past', 'due_date_in_past');
    end if;
    -- Last: the counter row stays locked until the commit.
    assigned := private.next_document_number(invoice.hospital_id, 'invoice', today);
    update public.invoices as i
    set status = 'issued',
        number = assigned.number,
        fiscal_year = assigned.fiscal_year,
        sequence_no = assigned.sequence_no,
        issued_at = now(),
        issued_by = auth.uid(),
        due_date = due
    where i.id = invoice.id;
    -- A zero invoice is paid at once.
    return private.settle_invoice(invoice.id);
end;
$$;

grant execute on function private.issue_invoice(uuid, date) to authenticated;

-- RPC: POST /rest/v1/rpc/issue_invoice {"invoice_id": ..., "due_date": "2027-01-15"}.
create function public.issue_invoice(invoice_id uuid, due_date date default null)
returns public.invoices
language sql
volatile
set search_path = ''
as $$
    select private.issue_invoice(issue_invoice.invoice_id, issue_invoice.due_date);
$$;

grant execute on function public.issue_invoice(uuid, date) to authenticated;

comment on function public.issue_invoice(uuid, date) is
'Issues a draft invoice (front desk, hospital admin): gives it the next gapless number of its '
'hospital and fiscal year (NAB/2026-27/000123), the issue time and a due date (the one given, '
'the draft''s, else 15 days on); from then on it never changes. A zero invoice is paid at once. '
'Errors: PT404 invoice_not_found, PT409 invoice_not_draft, 22023 invoice_empty, due_date_in_past.';

-- Discard a draft (it never had a number).
create function private.discard_invoice(invoice_id uuid, reason text)
returns public.invoices
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    invoice public.invoices := private.front_office_invoice(discard_invoice.invoice_id);
begin
    if invoice.status <> 'draft' then
        perform private.raise_conflict(
            'only a draft is discarded; an issued invoice is cancelled by a credit note', 'invoice_not_draft',
            'rpc/issue_credit_note'
        );
    end if;
    update public.invoices as i
    set status = 'cancelled', status_reason = discard_invoice.reason
    where i.id = invoice.id
    returning i.* into invoice;
    return invoice;
end;
$$;

grant execute on function private.discard_invoice(uuid, text) to authenticated;

-- RPC: POST /rest/v1/rpc/discard_invoice {"invoice_id": ..., "reason": "..."}.
create function public.discard_invoice(invoice_id uuid, reason text)
returns public.invoices
language sql
volatile
set search_path = ''
as $$
    select private.discard_invoice(discard_invoice.invoice_id, discard_invoice.reason);
$$;

grant execute on function public.discard_invoice(uuid, text) to authenticated;

comment on function public.discard_invoice(uuid, text) is
'Discards a draft invoice (front desk, hospital admin; a reason is required): it becomes '
'cancelled without ever having had a number (seed 003 DELETE /invoices/:id). Errors: PT404 '
'invoice_not_found, PT409 invoice_not_draft, 22023 a reason is required.';

-- Credit note: a correction of an issued invoice, with its share of the taxes.
create function private.issue_credit_note(invoice_id uuid, amount numeric, reason text)
returns public.credit_notes
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    invoice public.invoices := private.front_office_invoice(issue_credit_note.invoice_id);
    said constant text := nullif(btrim(issue_credit_note.reason), '');
    credit numeric := round(issue_credit_note.amount, 2);
    half_rate numeric;
    note public.credit_notes;
    assigned record;
    c numeric := 0;
    i numeric := 0;
begin
    if invoice.status not in ('issued', 'partially_paid', 'paid', 'overdue') then
        perform private.raise_conflict(
            format('a credit note corrects an issued invoice; this one is %s', invoice.status), 'invoice_not_issued'
        );
    end if;
    if said is null or length(said) > 500 then
        perform private.raise_invalid('say why the invoice is corrected (at most 500 characters)', 'reason_required');
    end if;
    if credit is null or credit <= 0 then
        perform private.raise_invalid('the amount must be positive', 'amount_not_positive');
    end if;
    if credit > invoice.total - invoice.amount_credited then
        perform private.raise_invalid(
            format('at most %s %s is left to credit on %s', invoice.total - invoice.amount_credited, invoice.currency,
                invoice.number),
            'credit_exceeds_invoice'
        );
    end if;
    -- The taxes in the same proportion as on the invoice.
    if invoice.total > 0 then
        half_rate := invoice.cgst_total / invoice.total;
        c := round(credit * half_rate, 2);
        i := round(credit * invoice.igst_total / invoice.total, 2);
    end if;
    assigned := private.next_document_number(invoice.hospital_id, 'credit_note', private.hospital_today(invoice.hospital_id));
    insert into public.credit_notes (
        hospital_id, patient_id, invoice_id, number, fiscal_year, sequence_no, currency, amount,
        taxable_value, cgst, sgst, igst, reason
    )
    values (
        invoice.hospital_id, invoice.patient_id, invoice.id, assigned.number, assigned.fiscal_year,
        assigned.sequence_no, invoice.currency, credit, credit - 2 * c - i, c, c, i, said
    )
    returning * into note;
    update public.invoices as x
    set amount_credited = x.amount_credited + credit
    where x.id = invoice.id;
    perform private.settle_invoice(invoice.id, 'credit note ' || note.number || ': ' || said);
    return note;
end;
$$;

grant execute on function private.issue_credit_note(uuid, numeric, text) to authenticated;

-- RPC: POST /rest/v1/rpc/issue_credit_note {"invoice_id", "amount", "reason"}.
create function public.issue_credit_note(invoice_id uuid, amount numeric, reason text)
returns public.credit_notes
language sql
volatile
set search_path = ''
as $$
    select private.issue_credit_note(issue_credit_note.invoice_id, issue_credit_note.amount, issue_credit_note.reason);
$$;

grant execute on function public.issue_credit_note(uuid, numeric, text) to authenticated;

comment on function public.issue_credit_note(uuid, numeric, text) is
'Corrects an issued invoice (front desk, hospital admin) with a credit note of the amount '
'(taxes included, split as on the invoice) and its own gapless number (NAB/CN/2026-27/000001). '
'Credit notes covering the whole total cancel the invoice; what was paid beyond what is left '
'due may then be refunded. Errors: PT404 invoice_not_found, PT409 invoice_not_issued, 22023 '
'reason_required, amount_not_positive, credit_exceeds_invoice.';

-- Invoicing a completed appointment: a draft with the catalogue's line for the appointment's
-- type, and any other services named.
create function private.invoice_appointment(appointment_id uuid, services jsonb default '[]')
returns public.invoices
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    visit public.appointments;
    invoice public.invoices;
    item jsonb;
    service_for_type uuid;
begin
    select a.* into visit from public.appointments as a where a.id = invoice_appointment.appointment_id;
    if visit.id is null
        or not visit.hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}')) then
        perform private.raise_not_found('appointment not found', 'appointment_not_found');
    end if;
    if visit.patient_id is null then
        perform private.raise_conflict(
            'the appointment has no registered patient to invoice', 'appointment_without_patient',
            'register the walk-in first'
        );
    end if;
    if jsonb_typeof(coalesce(services, '[]')) <> 'array' then
        perform private.raise_invalid('services is a list of {service_id, quantity}', 'services_not_a_list');
    end if;
    select s.id into service_for_type from public.billing_services as s
    where s.hospital_id = visit.hospital_id and s.appointment_type = visit.appointment_type and s.is_active;
    if service_for_type is null and jsonb_array_length(coalesce(services, '[]')) = 0 then
        perform private.raise_conflict(
            format('the catalogue has no service for a %s', visit.appointment_type), 'no_catalogue_service',
            'an admin sets appointment_type on a billing_services row, or name the services'
        );
    end if;
    begin
        insert into public.invoices (hospital_id, patient_id, appointment_id)
        values (visit.hospital_id, visit.patient_id, visit.id)
        returning * into invoice;
    exception
        when unique_violation then
            perform private.raise_conflict(
                'the appointment is invoiced already', 'appointment_invoiced',
                'correct that invoice with a credit note, or discard its draft'
            );
    end;
    if service_for_type is not null then
        insert into public.invoice_lines (invoice_id, service_id, quantity)
        values (invoice.id, service_for_type, 1);
    end if;
    for item in select x.value from jsonb_array_elements(coalesce(services, '[]')) as x loop
        insert into public.invoice_lines (invoice_id, service_id, quantity)
        values (invoice.id, (item ->> 'service_id')::uuid, coalesce((item ->> 'quantity')::numeric, 1));
    end loop;
    select i.* into invoice from public.invoices as i where i.id = invoice.id;
    return invoice;
end;
$$;

grant execute on function private.invoice_appointment(uuid, jsonb) to authenticated;

-- RPC: POST /rest/v1/rpc/invoice_appointment {"appointment_id", "services": [{"service_id", "quantity"}]}.
create function public.invoice_appointment(appointment_id uuid, services jsonb default '[]')
returns public.invoices
language sql
volatile
set search_path = ''
as $$
    select private.invoice_appointment(invoice_appointment.appointment_id, invoice_appointment.services);
$$;

grant execute on function public.invoice_appointment(uuid, jsonb) to authenticated;

comment on function public.invoice_appointment(uuid, jsonb) is
'Drafts the invoice of a completed appointment (front desk, hospital admin): a line for the '
'catalogue service of the appointment''s type, and one per service named in services '
'([{service_id, quantity}], of the same hospital''s catalogue). Issue it with rpc/issue_invoice. '
'Errors: PT404 appointment_not_found, PT409 appointment_not_completed, appointment_invoiced, '
'no_catalogue_service, appointment_without_patient, 22023 unknown_service.';

-- Overdue: issued or part-paid invoices past their due date, hourly (each hospital's own day).
create function private.mark_overdue_invoices()
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    moved integer;
begin
    with due as (
        select i.id from public.invoices as i
        join public.hospitals as h on h.id = i.hospital_id
        where i.status in ('issued', 'partially_paid')
            and i.due_date < (now() at time zone h.time_zone)::date
        for update of i skip locked
    )
    update public.invoices as i
    set status = 'overdue'
    from due
    where i.id = due.id;
    get diagnostics moved = row_count;
    return moved;
end;
$$;

comment on function private.mark_overdue_invoices() is
'Moves issued and partly paid invoices past their due date (the hospital''s day) to overdue; '
'returns how many. Run hourly by pg_cron (carebase-invoices-overdue).';

select private.schedule_job('carebase-invoices-overdue', '7 * * * *', 'select private.mark_overdue_invoices()');
