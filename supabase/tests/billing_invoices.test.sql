-- Invoices (issue 18, item 1): the catalogue is the admins', drafts are the front desk's, GST is
-- CGST + SGST or IGST, shares add up to each line, numbers are given at issue without a gap (a
-- rolled-back issue leaves no hole) per hospital and fiscal year, an issued invoice changes for
-- nobody, credit notes correct it in their own series, a completed visit is invoiced once,
-- unpaid invoices go overdue, and nobody but the hospital's front office and the patient reads
-- them.
begin;
select plan(42);

select tests.create_world();

-- The fiscal year of today at TSTA (numbers carry it).
select set_config('tests.today', private.hospital_today(tests.id_of('hospitals', 'TSTA'))::text, true);
select set_config('tests.fy', private.indian_fiscal_year(current_setting('tests.today')::date), true);

-- The catalogue ------------------------------------------------------------------------------------
select tests.act_as('a_admin');
insert into public.billing_services (hospital_id, code, name, hsn_sac, unit_price, gst_rate, appointment_type)
values
(tests.id_of('hospitals', 'TSTA'), 'CONSULT', 'Consultation', '999312', 500, 0, 'consultation'),
(tests.id_of('hospitals', 'TSTA'), 'ECG', 'Electrocardiogram', '999316', 300, 18, null);
select tests.clear_authentication();
select
    tests.remember('consult', (
        select id from public.billing_services
        where code = 'CONSULT' and hospital_id = tests.id_of('hospitals', 'TSTA')
    ));
select
    tests.remember('ecg', (
        select id from public.billing_services
        where code = 'ECG' and hospital_id = tests.id_of('hospitals', 'TSTA')
    ));

select tests.act_as('a_front_desk');
select is(
    tests.error_of($$ insert into public.billing_services (hospital_id, code, name, hsn_sac, unit_price)
        values (tests.id_of('hospitals', 'TSTA'), 'X', 'X', '999312', 1) $$) ->> 'code',
    '42501', 'the front desk does not write the catalogue: its admins do'
);
select tests.act_as('a_patient1');
select results_eq(
    $$ select code from public.billing_services order by code $$, array['CONSULT', 'ECG'],
    'a patient of the hospital reads its prices'
);
select tests.act_as('b_front_desk');
select is_empty(
    $$ select 1 from public.billing_services where code in ('CONSULT', 'ECG') $$,
    'another hospital does not'
);

-- A draft with GST -------------------------------------------------------------------------------------
select tests.act_as('a_front_desk');
insert into public.invoices (hospital_id, patient_id, insurer_name)
values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'), 'Star Health');
select tests.clear_authentication();
select tests.remember('draft', (
    select id from public.invoices
    where insurer_name = 'Star Health' and hospital_id = tests.id_of('hospitals', 'TSTA')
));
select tests.act_as('a_front_desk');
insert into public.invoice_lines (invoice_id, service_id) values (tests.recall('draft'), tests.recall('consult'));
insert into public.invoice_lines (invoice_id, service_id, quantity) values (
    tests.recall('draft'), tests.recall('ecg'), 2
);
insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price, gst_rate, insurer_share)
values (tests.recall('draft'), 'Dressing', '300590', 100, 12, 50);
select results_eq(
    $$ select line_no, description, hsn_sac, taxable_value, cgst, sgst, igst, line_total, insurer_share, patient_share
        from public.invoice_lines where invoice_id = tests.recall('draft') order by line_no $$,
    $$ values
        (1, 'Consultation', '999312', 500.00, 0.00, 0.00, 0.00, 500.00, 0.00, 500.00),
        (2, 'Electrocardiogram', '999316', 600.00, 54.00, 54.00, 0.00, 708.00, 0.00, 708.00),
        (3, 'Dressing', '300590', 100.00, 6.00, 6.00, 0.00, 112.00, 50.00, 62.00) $$,
    'lines take the catalogue''s name, code and price; intra-state GST is CGST + SGST, half the rate each; '
    || 'the patient pays what the insurer does not'
);
select results_eq(
    $$ select status::text, number, supply::text, subtotal, taxable_total, cgst_total, sgst_total, igst_total, total,
        insurer_total, patient_total
        from public.invoices where id = tests.recall('draft') $$,
    $$ values ('draft', null::text, 'intra_state', 1200.00, 1200.00, 60.00, 60.00, 0.00, 1320.00, 50.00, 1270.00) $$,
    'the draft has no number yet, and its totals are its lines'''
);
select is(
    tests.error_of(
        $$ insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price, insurer_share, patient_share)
        values (tests.recall('draft'), 'Bandage', '300590', 100, 30, 30) $$
    )
    ->> 'code',
    '23514', 'an insurer share and a patient share that do not add up to the line are refused (CHECK)'
);
select is(
    tests.error_of($$ insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price, discount)
        values (tests.recall('draft'), 'Bandage', '300590', 100, 150) $$) ->> 'code',
    '23514', 'so is a discount larger than the amount'
);

insert into public.invoices (hospital_id, patient_id, place_of_supply)
values (tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient2'), 'Haryana');
select tests.clear_authentication();
select tests.remember('interstate', (
    select id from public.invoices
    where place_of_supply = 'Haryana' and hospital_id = tests.id_of('hospitals', 'TSTA')
));
select tests.act_as('a_front_desk');
insert into public.invoice_lines (invoice_id, service_id, quantity) values (
    tests.recall('interstate'), tests.recall('ecg'), 2
);
select results_eq(
    $$ select i.supply::text, l.cgst, l.sgst, l.igst, i.total from public.invoices as i
        join public.invoice_lines as l on l.invoice_id = i.id where i.id = tests.recall('interstate') $$,
    $$ values ('inter_state', 0.00, 0.00, 108.00, 708.00) $$,
    'another state as place of supply (a teleconsultation): IGST at the whole rate'
);
select is(
    tests.error_of($$ update public.invoices set status = 'paid' where id = tests.recall('draft') $$) ->> 'code',
    '42501', 'nobody writes a status: the billing functions and payments move it'
);

-- Who reads ----------------------------------------------------------------------------------------------
create function pg_temp.invoices_seen(actor text)
returns bigint
language plpgsql
as $$
declare
    n bigint;
begin
    perform tests.act_as(actor);
    select count(*) into n from public.invoices where id in (tests.recall('draft'), tests.recall('interstate'));
    perform tests.clear_authentication();
    return n;
end;
$$;
select results_eq(
    $$ select a, pg_temp.invoices_seen(a) from unnest(array['a_front_desk', 'a_admin', 'a_patient1', 'a_doctor',
        'a_nurse',
        'a_cro', 'a_pharmacist', 'b_front_desk', 'b_admin', 'b_patient3', 'nobody']) as a $$,
    $$ values ('a_front_desk', 2::bigint), ('a_admin', 2), ('a_patient1', 0), ('a_doctor', 0), ('a_nurse', 0),
        ('a_cro', 0),
        ('a_pharmacist', 0), ('b_front_desk', 0), ('b_admin', 0), ('b_patient3', 0), ('nobody', 0) $$,
    'drafts: the hospital''s front desk and admins only (not the patient yet, nor clinicians, nor another hospital)'
);

-- Issue: gapless numbers -------------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select results_eq(
    $$ select number, status::text, fiscal_year, sequence_no, due_date, issued_by
        from public.issue_invoice(tests.recall('draft')) $$,
    $$ values ('TSTA/' || current_setting('tests.fy') || '/000001', 'issued', current_setting('tests.fy'), 1::bigint,
        current_setting('tests.today')::date + 15, tests.user_id('a_front_desk')) $$,
    'issuing gives the first number of the hospital''s fiscal year, and a due date 15 days on'
);
select is(
    tests.error_of($$ select public.issue_invoice(tests.recall('draft')) $$) ->> 'details', 'invoice_not_draft',
    'an invoice is issued once'
);
-- An issue that rolls back (the request failed after it) takes its number back.
do $$
begin
    perform public.issue_invoice(tests.recall('interstate'));
    raise exception 'the request failed afterwards';
exception
    when raise_exception then
        null;
end;
$$;
select results_eq(
    $$ select number, status::text from public.invoices where id = tests.recall('interstate') $$,
    $$ values (null::text, 'draft') $$,
    'a rolled-back issue leaves the draft a draft'
);
select is(
    (public.issue_invoice(tests.recall('interstate'))).number, 'TSTA/' || current_setting('tests.fy') || '/000002',
    'and leaves no hole: the next issue takes the number it gave back'
);
-- Five more, one after another.
select tests.clear_authentication();
create function pg_temp.issue_one(patient text)
returns text
language plpgsql
as $$
declare
    made uuid := gen_random_uuid();
begin
    insert into public.invoices (id, hospital_id, patient_id)
    values (made, tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', patient));
    insert into public.invoice_lines (invoice_id, service_id) values (made, tests.recall('consult'));
    return (public.issue_invoice(made)).number;
end;
$$;
grant execute on function pg_temp.issue_one(text) to authenticated;
select tests.act_as('a_front_desk');
select results_eq(
    $$ select pg_temp.issue_one('a_patient2') from generate_series(1, 5) $$,
    $$ select 'TSTA/' || current_setting('tests.fy') || '/' || lpad(n::text, 6, '0') from generate_series(3, 7) as n $$,
    'numbers follow one another without a gap or a repeat'
);
select tests.act_as('b_front_desk');
insert into public.invoices (id, hospital_id, patient_id)
values (
    'b0000000-0000-4000-8000-0000000000b1', tests.id_of('hospitals', 'TSTB'), tests.id_of('patients', 'b_patient3')
);
insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price)
values ('b0000000-0000-4000-8000-0000000000b1', 'Consultation', '999312', 400);
select is(
    (public.issue_invoice('b0000000-0000-4000-8000-0000000000b1')).number,
    'TSTB/' || current_setting('tests.fy') || '/000001',
    'each hospital has its own series'
);
select is(
    tests.error_of($$ select public.issue_invoice(tests.recall('draft')) $$) ->> 'code', 'PT404',
    'another hospital''s front desk cannot issue (or see) this hospital''s invoice'
);
select tests.act_as('a_front_desk');
insert into public.invoices (id, hospital_id, patient_id)
values (
    'a0000000-0000-4000-8000-0000000000e1', tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient2')
);
select is(
    tests.error_of($$ select public.issue_invoice('a0000000-0000-4000-8000-0000000000e1') $$) ->> 'details',
    'invoice_empty', 'an invoice without lines is not issued'
);

-- Issued: immutable for every role ------------------------------------------------------------------------
select tests.clear_authentication();
create temporary table issued_before as
select to_jsonb(i) as whole from public.invoices as i
where i.id = tests.recall('draft');
create temporary table lines_before as
select jsonb_agg(to_jsonb(l) order by l.line_no) as whole from public.invoice_lines as l
where l.invoice_id = tests.recall('draft');
grant select on issued_before, lines_before to authenticated, service_role;
create function pg_temp.change_as(actor text, statement text)
returns text
language plpgsql
as $$
declare
    outcome text;
begin
    if actor = 'service_role' then
        perform tests.act_as_service_role();
    elsif actor = 'owner' then
        perform tests.clear_authentication();
    else
        perform tests.act_as(actor);
    end if;
    outcome := coalesce(tests.error_of(statement) ->> 'code', 'done');
    perform tests.clear_authentication();
    return outcome;
end;
$$;
select results_eq(
    $$ select a, pg_temp.change_as(a, s) from
        unnest(array['a_front_desk', 'a_admin', 'owner']) as a,
        unnest(array[
            format('update public.invoices set notes = %L where id = %L', 'changed', tests.recall('draft')),
            format('update public.invoice_lines set quantity = 9 where invoice_id = %L', tests.recall('draft')),
            format('delete from public.invoice_lines where invoice_id = %L', tests.recall('draft')),
            format('insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price) values (%L, %L, %L, 1)',
                tests.recall('draft'), 'Extra', '999312')
        ]) with ordinality as s (s, n)
        order by a, n $$,
    $$ select a, 'PT409' from unnest(array['a_admin', 'a_front_desk', 'owner']) as a, generate_series(1, 4)
        order by a $$,
    'an issued invoice and its lines refuse every change (PT409 invoice_issued), the table owner''s too'
);
select results_eq(
    $$ select a, pg_temp.change_as(a, format('update public.invoices set total = 1 where id = %L',
        tests.recall('draft')))
        from unnest(array['service_role', 'a_patient1']) as a $$,
    $$ values ('service_role', '42501'), ('a_patient1', '42501') $$,
    'the service role and the patient hold no right to change invoices at all'
);
select ok(
    (select whole from issued_before)
    = (
        select to_jsonb(i) from public.invoices as i
        where i.id = tests.recall('draft')
    )
    and (select whole from lines_before) = (
        select jsonb_agg(to_jsonb(l) order by l.line_no)
        from public.invoice_lines as l
        where l.invoice_id = tests.recall('draft')
    ),
    'and it is exactly as it was issued'
);
select tests.act_as('a_patient1');
select results_eq(
    $$ select number, total from public.invoices where id = tests.recall('draft') $$,
    $$ values ('TSTA/' || current_setting('tests.fy') || '/000001', 1320.00) $$,
    'the patient reads their invoice once issued'
);
select is(
    (
        select count(*) from public.invoice_lines
        where invoice_id = tests.recall('draft')
    ), 3::bigint, 'with its lines'
);

-- Credit notes -------------------------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select results_eq(
    $$ select number, amount, taxable_value, cgst, sgst, igst
        from public.issue_credit_note(tests.recall('draft'), 132, 'ECG not done') $$,
    $$ values ('TSTA/CN/' || current_setting('tests.fy') || '/000001', 132.00, 120.00, 6.00, 6.00, 0.00) $$,
    'a credit note has its own series and the invoice''s share of taxes'
);
select is(
    tests.error_of($$ select public.issue_credit_note(tests.recall('draft'), 1200, 'too much') $$) ->> 'details',
    'credit_exceeds_invoice', 'credit notes never exceed the invoice'
);
select is(
    tests.error_of($$ select public.issue_credit_note(tests.recall('draft'), 10, ' ') $$) ->> 'details',
    'reason_required', 'a credit note says why'
);
select results_eq(
    $$ select (public.issue_credit_note(tests.recall('draft'), 1188, 'billed in error')).number $$,
    $$ values ('TSTA/CN/' || current_setting('tests.fy') || '/000002') $$,
    'the rest is credited'
);
select results_eq(
    $$ select status::text, amount_credited, status_reason from public.invoices where id = tests.recall('draft') $$,
    $$ values ('cancelled', 1320.00,
        'credit note TSTA/CN/' || current_setting('tests.fy') || '/000002: billed in error') $$,
    'an invoice credited whole is cancelled, saying by which credit note'
);
select tests.clear_authentication();
select is(
    pg_temp.change_as(
        'owner', format('update public.credit_notes set amount = 1 where invoice_id = %L', tests.recall('draft'))
    ),
    'PT409', 'credit notes are final'
);
select tests.act_as('a_patient1');
select is((select count(*) from public.credit_notes), 2::bigint, 'the patient reads their credit notes');
select tests.act_as('a_doctor');
select is((select count(*) from public.credit_notes), 0::bigint, 'a doctor does not');

-- Discarding a draft ------------------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select is(
    tests.error_of($$ select public.discard_invoice('a0000000-0000-4000-8000-0000000000e1', null) $$) ->> 'code',
    '22023', 'a draft is discarded with a reason'
);
select results_eq(
    $$ select status::text, number from public.discard_invoice('a0000000-0000-4000-8000-0000000000e1', 'duplicate') $$,
    $$ values ('cancelled', null::text) $$,
    'and never had a number'
);
select is(
    tests.error_of($$ select public.discard_invoice(tests.recall('interstate'), 'no') $$) ->> 'details',
    'invoice_not_draft', 'an issued invoice is not discarded (a credit note cancels it)'
);

-- A completed visit ----------------------------------------------------------------------------------------
select tests.clear_authentication();
insert into public.appointments (id, hospital_id, doctor_id, patient_id, starts_at, ends_at, source)
values
(
    'a0000000-0000-4000-8000-0000000000a1', tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'),
    tests.id_of('patients', 'a_patient1'),
    now() - interval '2 days',
    now() - interval '2 days' + interval '20 minutes',
    'web'
),
(
    'a0000000-0000-4000-8000-0000000000a2', tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'),
    tests.id_of('patients', 'a_patient1'),
    now() + interval '2 days',
    now() + interval '2 days' + interval '20 minutes',
    'web'
);
update public.appointments set status = 'in_consultation'
where id = 'a0000000-0000-4000-8000-0000000000a1';
update public.appointments set status = 'completed'
where id = 'a0000000-0000-4000-8000-0000000000a1';
select tests.act_as('a_front_desk');
select is(
    tests.error_of($$ select public.invoice_appointment('a0000000-0000-4000-8000-0000000000a2') $$) ->> 'details',
    'appointment_not_completed', 'a visit is invoiced once it is completed'
);
select tests.remember('visit_invoice', (public.invoice_appointment(
    'a0000000-0000-4000-8000-0000000000a1',
    jsonb_build_array(jsonb_build_object('service_id', tests.recall('ecg'), 'quantity', 1))
)).id);
select results_eq(
    $$ select i.status::text, i.appointment_id, l.description, l.line_total
        from public.invoices as i
        join public.invoice_lines as l on l.invoice_id = i.id where i.id = tests.recall('visit_invoice')
        order by l.line_no $$,
    $$ values ('draft', 'a0000000-0000-4000-8000-0000000000a1'::uuid, 'Consultation', 500.00),
        ('draft', 'a0000000-0000-4000-8000-0000000000a1'::uuid, 'Electrocardiogram', 354.00) $$,
    'a completed visit becomes a draft with the catalogue''s line for its type and the services named'
);
select is(
    tests.error_of($$ select public.invoice_appointment('a0000000-0000-4000-8000-0000000000a1') $$) ->> 'details',
    'appointment_invoiced', 'and is invoiced once'
);
select tests.act_as('b_front_desk');
select is(
    tests.error_of($$ select public.invoice_appointment('a0000000-0000-4000-8000-0000000000a1') $$) ->> 'code',
    'PT404', 'another hospital''s front desk does not reach the visit'
);

-- Overdue ------------------------------------------------------------------------------------------------
select tests.clear_authentication();
alter table public.invoices disable trigger invoices_guard_issued;
update public.invoices set due_date = private.hospital_today(hospital_id) - 1
where id = tests.recall('interstate');
alter table public.invoices enable trigger invoices_guard_issued;
select is(private.mark_overdue_invoices() >= 1, true, 'the hourly job finds invoices unpaid past their due date');
select results_eq(
    $$ select i.status::text, h.actor_role::text from public.invoices as i
        join public.status_history as h on h.subject_id = i.id and h.to_state = 'overdue'
        where i.id = tests.recall('interstate') $$,
    $$ values ('overdue', null::text) $$,
    'and moves them to overdue as the system, in the status history'
);
select results_eq(
    $$ select jobname::text collate "default", schedule::text collate "default" from cron.job
        where jobname = 'carebase-invoices-overdue' $$,
    $$ values ('carebase-invoices-overdue', '7 * * * *') $$,
    'the job is scheduled hourly with pg_cron'
);

-- The machine is data ------------------------------------------------------------------------------------
select tests.act_as('a_front_desk');
select ok(
    public.metadata_enums()
    #> '{state_machines,invoice,states}'
    @> '[{"state": "draft", "is_initial": true}, {"state": "cancelled", "is_terminal": true}]',
    'the invoice machine is listed for dynamic UIs'
);

select * from finish();
rollback;
