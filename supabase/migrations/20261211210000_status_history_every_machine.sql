-- The transitions of every state machine, read as their subjects are. One permissive select
-- policy (Supabase's linter: one per table, role and command), so each machine's branch is
-- here; the leads, billing, engagement and radiology work each re-created it knowing only
-- their own.
-- supabase/tests/state_machines.test.sql fails when a machine has no branch.
drop policy status_history_select_of_visible_subjects on public.status_history;

create policy status_history_select_of_visible_subjects on public.status_history
for select to authenticated
using (
    (machine = 'prescription' and exists (
        select from public.prescriptions as p
        where p.id = status_history.subject_id
    ))
    or (
        machine = 'appointment' and exists (
            select from public.appointments as a
            where a.id = status_history.subject_id
        )
    )
    or (machine = 'lead' and exists (
        select from public.leads as l
        where l.id = status_history.subject_id
    ))
    or (machine = 'invoice' and exists (
        select from public.invoices as i
        where i.id = status_history.subject_id
    ))
    or (machine = 'payment' and exists (
        select from public.payments as p
        where p.id = status_history.subject_id
    ))
    or (machine = 'refund' and exists (
        select from public.refunds as r
        where r.id = status_history.subject_id
    ))
    or (machine = 'ticket' and exists (
        select from public.tickets as t
        where t.id = status_history.subject_id
    ))
    or (machine = 'message' and exists (
        select from public.messages as m
        where m.id = status_history.subject_id
    ))
    or (machine = 'journey_instance' and exists (
        select from public.journey_instances as j
        where j.id = status_history.subject_id
    ))
    or (machine = 'radiology_scan' and exists (
        select from public.radiology_scans as s
        where s.id = status_history.subject_id
    ))
    or (machine = 'cdss_analysis' and exists (
        select from public.cdss_analyses as c
        where c.id = status_history.subject_id
    ))
);

comment on policy status_history_select_of_visible_subjects on public.status_history is
'A transition is read by whoever may read its subject: a prescription, appointment, lead, invoice, '
'payment, refund, ticket, message, journey instance, radiology scan or CDSS analysis.';
