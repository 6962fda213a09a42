-- The billing tables' personal columns in the personal-data registry (20261209110000), so that
-- `carebase db masked-copy` replaces them: the two branches landed side by side. A policy number
-- and a payment's reference (UPI transaction, cheque number) identify a person; texts typed
-- about a bill may name one.
insert into private.personal_data_columns (table_name, column_name, kind, note) values
('public.billing_services', 'name', 'none', 'a service of the hospital''s catalogue (Consultation, ECG)'),
('public.invoices', 'insurer_name', 'none', 'an insurance company (Star Health), not a person'),
('public.invoices', 'insurer_policy_number', 'identifier', null),
('public.invoices', 'notes', 'free_text', null),
('public.invoices', 'status_reason', 'free_text', null),
('public.invoice_lines', 'description', 'free_text', null),
('public.credit_notes', 'reason', 'free_text', null),
('public.payments', 'reference', 'identifier', null),
('public.payments', 'status_reason', 'free_text', null),
('public.refunds', 'reason', 'free_text', null),
('public.refunds', 'status_reason', 'free_text', null);
