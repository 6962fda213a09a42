-- Tables naming a patient that hold no clinical content, each with the reason (issue 10's
-- disclosure test, supabase/tests/audit_disclosures.test.sql): every public table naming a
-- patient is either clinical (private.audited_resources: its reads are logged) or registered
-- here. A registry instead of a list in the test, so that a branch adding such a table
-- registers it in its own migration and parallel branches do not collide on the test.
create table private.non_clinical_patient_tables (
    table_name regclass primary key,
    reason text not null constraint non_clinical_patient_tables_reason_given check (length(btrim(reason)) > 0)
);

revoke all on private.non_clinical_patient_tables from public, anon, authenticated, service_role;

comment on table private.non_clinical_patient_tables is
'Public tables naming a patient (a patient_id column, or a reference to a clinical table) that '
'hold no clinical content, and why: their reads are not disclosure-logged. Every other such '
'table must be in private.audited_resources (audit_disclosures.test.sql).';

insert into private.non_clinical_patient_tables (table_name, reason)
values
('public.ai_sessions', 'what was said encrypted; in clear only through its logged RPCs'),
('public.appointments', 'scheduling: type, times, status'),
('public.care_team_members', 'who treats whom'),
('public.messages', 'PRM messages: no clinical content by rule (templates refuse it)'),
('public.consent_events', 'consent decisions, read by the patient and front desk'),
('public.leads', 'an inquiry before a record exists: contact, what they asked about'),
('public.credit_notes', 'billing: an amount, its taxes and why'),
('public.invoice_lines', 'billing: the services charged, with their codes and prices'),
('public.invoices', 'billing: amounts, status, due date, the insurer''s name'),
('public.journey_instances', 'a patient on a journey: stage, times, a status'),
('public.journey_stage_events', 'stages entered and completed, staff notes on logistics'),
('public.diagnosis_code_findings', 'which diagnosis ids carry an unknown code: no code, no patient'),
('public.patient_duplicate_pairs', 'pairs of record ids, a score and its parts'' names'),
('public.patient_identifiers', 'masked; in clear only through rpc/reveal_patient_identifier'),
('public.patient_pharmacy_choices', 'where prescriptions go'),
('public.patient_registrations', 'the person at a hospital'),
('public.payment_links', 'billing: an amount and Razorpay''s link to pay it'),
('public.payments', 'billing: amounts, method, receipt number'),
('public.prescriptions', 'contents encrypted; in clear only through rpc/read_prescriptions'),
('public.record_shares', 'which hospital may read the record'),
('public.refunds', 'billing: amounts and why'),
('public.ticket_comments', 'support conversation about a ticket, not the record'),
('public.tickets', 'support requests: logistics (refills, reports, bills), a status'),
('public.voice_callbacks', 'requests for a call back: a number, times, a status');

insert into private.personal_data_columns (table_name, column_name, kind, note) values
(
    'private.non_clinical_patient_tables',
    'reason',
    'none',
    'why a table holds no clinical content: schema documentation'
);
