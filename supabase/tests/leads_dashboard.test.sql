-- The dashboard and the funnel (issue 17 item 7): for a seeded cohort of leads, every count equals a
-- hand count, a lead moved back a stage included; a lead from before the range is not in the
-- cohort; only the hospital's front office reads them.
begin;
select plan(14);

select tests.create_world();

-- The cohort, entered today at TSTA by the front desk (paths as the comments say).
create function pg_temp.lead(name text, source text)
returns uuid
language plpgsql
as $$
declare
    made uuid;
begin
    perform tests.act_as('a_front_desk');
    made := (public.create_lead(
        tests.id_of('hospitals', 'TSTA'), name, '+91720000' || lpad((ascii(name) % 100)::text, 4, '0'), source
    ) -> 'lead' ->> 'id')::uuid;
    perform tests.clear_authentication();
    return tests.remember(name, made);
end;
$$;
create function pg_temp.move(name text, actor text, state text, reason text default null)
returns void
language plpgsql
as $$
begin
    perform tests.act_as(actor);
    update public.leads set status = state::public.lead_status, status_reason = reason where id = tests.recall(name);
    perform tests.clear_authentication();
end;
$$;

select pg_temp.lead('A', 'Walk-In'); -- new
select pg_temp.lead('B', 'Walk-In'); -- new > contacted
select pg_temp.lead('C', 'Walk-In'); -- new > contacted > CRO queue > back to contacted > converted
select pg_temp.lead('D', 'Walk-In'); -- new > CRO queue > lost > re-engaged (contacted)
select pg_temp.lead('E', 'Google Ads'); -- new > lost
select pg_temp.lead('F', 'Google Ads'); -- new > CRO queue
select pg_temp.lead('G', 'Referral'); -- came in 40 days ago; contacted
select pg_temp.move('B', 'a_front_desk', 'contacted');
select pg_temp.move('C', 'a_front_desk', 'contacted');
select pg_temp.move('C', 'a_front_desk', 'stalling_sent_to_cro');
select pg_temp.move('C', 'a_cro', 'contacted');
select tests.act_as('a_front_desk');
select public.convert_lead(tests.recall('C'), create_new => true) is not null as converted;
select tests.clear_authentication();
select pg_temp.move('D', 'a_front_desk', 'stalling_sent_to_cro');
select pg_temp.move('D', 'a_cro', 'lost', 'price');
select pg_temp.move('D', 'a_front_desk', 'contacted');
select pg_temp.move('E', 'a_front_desk', 'lost', 'not interested');
select pg_temp.move('F', 'a_front_desk', 'stalling_sent_to_cro');
select pg_temp.move('G', 'a_front_desk', 'contacted');
update public.leads set created_at = now() - interval '40 days'
where id = tests.recall('G');

-- The funnel: reached (ever) and now, per stage, by hand -------------------------------------------------
select tests.act_as('a_cro');
select is(
    (public.lead_funnel(tests.id_of('hospitals', 'TSTA')) ->> 'cohort')::integer,
    6, 'the cohort is the leads that came in within the range (the last 30 days by default)'
);
select results_eq(
    $$ select s ->> 'state', (s ->> 'reached')::integer, (s ->> 'now')::integer
        from jsonb_array_elements(public.lead_funnel(tests.id_of('hospitals', 'TSTA')) -> 'stages') as s $$,
    $$ values
        ('new_inquiry', 6, 1),
        ('contacted', 3, 2),
        ('stalling_sent_to_cro', 3, 1),
        ('converted', 1, 1),
        ('lost', 2, 1) $$,
    'each stage counts the cohort''s leads that ever reached it (C and D, moved back, still count in '
    || 'the CRO queue) and those in it now, in pipeline order'
);
select is(
    (
        public.lead_funnel(
            tests.id_of('hospitals', 'TSTA'), (now() at time zone 'Asia/Kolkata')::date - 50
        ) -> 'stages' -> 1 ->> 'reached'
    )::integer,
    4, 'a wider range takes the older lead in (contacted: B, C, D and G)'
);

select tests.clear_authentication();
select is_empty(
    $$ select r.name from tests.remembered() as r
        join public.leads as l on l.id = r.id
        where l.stages_reached::text[] is distinct from array(
            select h.to_state from public.status_history as h
            where h.machine = 'lead' and h.subject_id = l.id
            group by h.to_state order by min(h.occurred_at)
        ) $$,
    'the stages a lead keeps are exactly the states its recorded moves entered, in the order first entered'
);
select tests.act_as('a_cro');

-- The dashboard ---------------------------------------------------------------------------------------
select results_eq(
    $$ select (d ->> 'new_leads')::integer, (d ->> 'converted')::integer, (d ->> 'lost')::integer,
            (d ->> 'conversion_rate')::numeric, (d ->> 'cro_queue')::integer, (d ->> 'cro_queue_unassigned')::integer,
            (d ->> 'new_inquiries_waiting')::integer, d -> 'revenue' ->> 'amount'
        from public.lead_dashboard(tests.id_of('hospitals', 'TSTA')) as d $$,
    $$ values (6, 1, 1, 16.7, 1, 0, 1, '0') $$,
    'the KPIs: new leads, converted, lost, conversion rate, the CRO queue now, new inquiries waiting; no revenue yet'
);
select is(
    public.lead_dashboard(tests.id_of('hospitals', 'TSTA')) -> 'leads_by_source',
    '[{"leads": 4, "source": "Walk-In", "converted": 1}, {"leads": 2, "source": "Google Ads", "converted": 0}]',
    'leads by source, with how many of each converted'
);
select is(
    public.lead_dashboard(tests.id_of('hospitals', 'TSTA')) -> 'leads_by_status',
    '{"lost": 1, "converted": 1, "contacted": 2, "new_inquiry": 1, "stalling_sent_to_cro": 1}',
    'leads by status, as they stand now'
);
select results_eq(
    $$ select d ->> 'from_date', d ->> 'to_date' from public.lead_dashboard(
        tests.id_of('hospitals', 'TSTA'), '2026-01-01', '2026-01-31') as d $$,
    $$ values ('2026-01-01', '2026-01-31') $$,
    'the range is days of the hospital'
);

-- Revenue: what the hospital was paid in the range, refunds taken off.
select tests.act_as('a_front_desk');
insert into public.invoices (id, hospital_id, patient_id)
values (
    'a0000000-0000-4000-8000-00000000d001', tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1')
);
insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price)
values ('a0000000-0000-4000-8000-00000000d001', 'IVF consultation', '999312', 1500);
select public.issue_invoice('a0000000-0000-4000-8000-00000000d001') is not null as issued;
select public.record_payment('a0000000-0000-4000-8000-00000000d001', 1200, 'cash') is not null as paid;
select tests.act_as('a_cro');
select is(
    public.lead_dashboard(tests.id_of('hospitals', 'TSTA')) -> 'revenue',
    '{"amount": 1200.00, "currency": "INR", "by_currency": [{"amount": 1200.00, "currency": "INR"}]}'::jsonb,
    'revenue is what the hospital was paid in the range (payments captured, refunds taken off)'
);

-- Who reads them -----------------------------------------------------------------------------------------
select tests.act_as('a_admin');
select is(
    (public.lead_funnel(tests.id_of('hospitals', 'TSTA')) ->> 'cohort')::integer, 6,
    'the hospital''s admin reads the funnel'
);
select tests.act_as('a_doctor');
select throws_ok(
    format($$ select public.lead_dashboard(%L) $$, tests.id_of('hospitals', 'TSTA')),
    '42501', 'only the front desk, CROs and admins of the hospital read its lead numbers',
    'a doctor does not'
);
select tests.act_as('b_admin');
select throws_ok(
    format($$ select public.lead_funnel(%L) $$, tests.id_of('hospitals', 'TSTA')),
    '42501', 'only the front desk, CROs and admins of the hospital read its lead numbers',
    'nor does another hospital''s admin'
);
select tests.act_as('a_front_desk');
select throws_ok(
    format($$ select public.lead_funnel(%L, '2026-02-01', '2026-01-01') $$, tests.id_of('hospitals', 'TSTA')),
    '22023', 'from_date must come before to_date, at most 10 years apart',
    'a range that ends before it starts is refused'
);
select is(
    public.metadata_enums() -> 'enums' -> 'lead_status',
    '["new_inquiry", "contacted", "stalling_sent_to_cro", "converted", "lost"]'::jsonb,
    'the lead statuses are among the enums (seed 004 metadata)'
);

select * from finish();
rollback;
