-- The fertility clinic's front office (seed 004, issue 17): leads, their pipeline, what was
-- done with them (calls, notes, repeat inquiries, assignments) and their follow-ups.
--
-- A lead is a person who asked about treatment (walk-in, Google Ads, a referral, the Sakhi
-- app, a camp, the website...) and is not a patient yet. The front desk and the CROs of the
-- hospital enter and work them; a converted lead becomes a patient (rpc/convert_lead,
-- 20261209170000). Their status is a state machine kept as data (machine `lead`, the generic
-- trigger of 20261122000100): every move is role-gated and recorded in status_history with who,
-- when and why. A second inquiry from the same phone while a lead is open is the same lead
-- again (rpc/create_lead records it on the lead; a direct POST is refused, naming the lead).
-- No lead data leaves its hospital; doctors see a lead only through an appointment booked for
-- them; patients never see leads.

create type public.lead_status as enum ('new_inquiry', 'contacted', 'stalling_sent_to_cro', 'converted', 'lost');

comment on type public.lead_status is
'Where a lead is in the pipeline (seed 004 LeadStatus): new_inquiry, contacted, stalling_sent_to_cro '
'(hesitant, in the CRO intervention queue), converted (an active patient), lost. The labels and the '
'moves each role may make: rpc/metadata_enums, machine lead.';

-- What a typed phone number is in E.164: spaces, dashes, dots and brackets dropped; a 10-digit
-- Indian mobile, 0 + 10 digits and 91 + 10 digits get +91; 00 becomes +. Anything else is
-- returned as typed (the phone_e164 domain then refuses it).
create function private.phone_to_e164(raw text)
returns text
language sql
immutable
set search_path = ''
as $$
    with digits as (select regexp_replace(btrim(raw), '[\s().-]', '', 'g') as d)
    select case
        when raw is null or btrim(raw) = '' then null
        when d ~ '^\+' then d
        when d ~ '^00[1-9]' then '+' || substr(d, 3)
        when d ~ '^[6-9][0-9]{9}$' then '+91' || d
        when d ~ '^0[6-9][0-9]{9}$' then '+91' || substr(d, 2)
        when d ~ '^91[6-9][0-9]{9}$' then '+' || d
        else d
    end
    from digits
$$;

comment on function private.phone_to_e164(text) is
'A typed phone number in E.164 (+91 for a 10-digit Indian number); other input as typed.';

grant execute on function private.phone_to_e164(text) to authenticated, service_role;

-- The per-hospital lists of the lead form ---------------------------------------------------------

create table public.lead_options (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    kind text not null constraint lead_options_kind_known check (kind in ('source', 'inquiry')),
    name text not null constraint lead_options_name_present check (length(btrim(name)) between 1 and 60),
    -- Inquiries: the specialty whose doctors instant booking looks at, and the appointment type.
    specialty text,
    appointment_type public.appointment_type,
    -- Sources: the one the public website form files its leads under.
    is_website boolean not null default false,
    is_active boolean not null default true,
    position integer not null default 100,
    created_at timestamptz not null default now(),
    constraint lead_options_booking_for_inquiries check (
        kind = 'inquiry' or (specialty is null and appointment_type is null)
    ),
    constraint lead_options_website_is_a_source check (not is_website or kind = 'source')
);

create unique index lead_options_name_unique on public.lead_options (hospital_id, kind, lower(name));
create unique index lead_options_one_website_source on public.lead_options (hospital_id) where is_website;

alter table public.lead_options enable row level security;
revoke all on public.lead_options from anon, authenticated, service_role;
grant select on public.lead_options to authenticated, service_role;
grant insert (
    hospital_id, kind, name, specialty, appointment_type, is_website, is_active, position
) on public.lead_options to authenticated;
-- A name is never changed (leads keep the text they were filed under): deactivate and add.
grant update (specialty, appointment_type, is_website, is_active, position) on public.lead_options to authenticated;

create policy lead_options_select_staff on public.lead_options
for select to authenticated
using (hospital_id = any(private.staff_hospital_ids()));

create policy lead_options_insert_admin on public.lead_options
for insert to authenticated
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create policy lead_options_update_admin on public.lead_options
for update to authenticated
using (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')))
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

comment on table public.lead_options is
'The choices of a hospital''s lead form (seed 004 lead source and inquiry lists): kind source '
'(Walk-In, Google Ads, Referral, Sakhi App, Camp, Website...) or inquiry (IVF, IUI, General...). '
'Read by the hospital''s staff (GET ?hospital_id=eq.<h>&is_active=eq.true&order=kind,position); '
'kept by its admins (names are never changed: deactivate one and add another). A new hospital '
'starts with the defaults.';
comment on column public.lead_options.kind is 'source or inquiry.';
comment on column public.lead_options.name is 'What the form shows and leads.source / leads.inquiry hold.';
comment on column public.lead_options.specialty is
'Inquiries: the doctors'' specialty instant booking looks at when no doctor is chosen (e.g. Reproductive Medicine).';
comment on column public.lead_options.appointment_type is
'Inquiries: the type of the appointment instant booking makes.';
comment on column public.lead_options.is_website is
'Sources: the public website form files its leads under this one; none active: the hospital takes no website leads.';
comment on column public.lead_options.is_active is 'Offered for new leads; leads filed under an inactive one keep it.';
comment on column public.lead_options.position is 'Order in the form.';
comment on policy lead_options_select_staff on public.lead_options is 'The hospital''s staff read its lists.';
comment on policy lead_options_insert_admin on public.lead_options is 'The hospital''s admins add choices.';
comment on policy lead_options_update_admin on public.lead_options is
'The hospital''s admins reorder, (de)activate and map choices.';

-- The defaults every hospital starts with (also what the demo data generator gives its hospitals).
create function private.default_lead_options()
returns table (
    kind text, name text, specialty text, appointment_type public.appointment_type, is_website boolean,
    sort_order integer
)
language sql
immutable
set search_path = ''
as $$
    select o.kind, o.name, o.specialty, o.appointment_type::public.appointment_type, o.is_website, o.position
    from (
        values
        ('source', 'Walk-In', null, null, false, 10),
        ('source', 'Google Ads', null, null, false, 20),
        ('source', 'Referral', null, null, false, 30),
        ('source', 'Sakhi App', null, null, false, 40),
        ('source', 'Camp', null, null, false, 50),
        ('source', 'Website', null, null, true, 60),
        ('source', 'Phone Call', null, null, false, 70),
        ('source', 'Social Media', null, null, false, 80),
        ('inquiry', 'IVF', 'Reproductive Medicine', 'ivf_consult', false, 10),
        ('inquiry', 'IUI', 'Reproductive Medicine', 'consultation', false, 20),
        ('inquiry', 'ICSI', 'Reproductive Medicine', 'ivf_consult', false, 30),
        ('inquiry', 'Egg Freezing', 'Reproductive Medicine', 'consultation', false, 40),
        ('inquiry', 'Male Infertility', 'Reproductive Medicine', 'consultation', false, 50),
        ('inquiry', 'General', null, 'consultation', false, 60)
    ) as o (kind, name, specialty, appointment_type, is_website, position)
$$;

comment on function private.default_lead_options() is
'The lead sources and inquiries a new hospital starts with.';

create function private.add_default_lead_options()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    -- Security definer: the hospital's creator (the platform) is nobody's admin yet.
    insert into public.lead_options (hospital_id, kind, name, specialty, appointment_type, is_website, position)
    select new.id, d.kind, d.name, d.specialty, d.appointment_type, d.is_website, d.sort_order
    from private.default_lead_options() as d
    on conflict do nothing;
    return null;
end;
$$;

comment on function private.add_default_lead_options() is
'Trigger on hospitals: a new hospital starts with the default lead sources and inquiries.';

create trigger hospitals_add_default_lead_options
after insert on public.hospitals
for each row execute function private.add_default_lead_options();

-- The hospitals there are already.
insert into public.lead_options (hospital_id, kind, name, specialty, appointment_type, is_website, position)
select
    h.id,
    d.kind,
    d.name,
    d.specialty,
    d.appointment_type,
    d.is_website,
    d.sort_order
from public.hospitals as h
cross join private.default_lead_options() as d
on conflict do nothing;

-- The name of the hospital's active choice of this kind matching `typed` (any case), or null.
create function private.lead_option_name(hospital_id uuid, kind text, typed text)
returns text
language sql
stable
set search_path = ''
as $$
    select o.name from public.lead_options as o
    where o.hospital_id = lead_option_name.hospital_id and o.kind = lead_option_name.kind
        and lower(o.name) = lower(btrim(lead_option_name.typed)) and o.is_active
$$;

comment on function private.lead_option_name(uuid, text, text) is
'The canonical name of a hospital''s active lead source or inquiry typed in any case; null when it has none such.';

grant execute on function private.lead_option_name(uuid, text, text) to authenticated;

-- Leads ---------------------------------------------------------------------------------------------

create table public.leads (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete restrict,
    full_name text not null constraint leads_full_name_present check (length(btrim(full_name)) between 1 and 200),
    phone public.phone_e164 not null,
    email extensions.citext,
    age integer constraint leads_age_plausible check (age between 0 and 120),
    sex public.sex,
    source text not null,
    inquiry text,
    problem text constraint leads_problem_length check (length(problem) <= 4000),
    -- Camp leads (seed 004): the doctor named at the camp and what they suggested, as written.
    treatment_doctor text,
    treatment_suggested text,
    preferred_doctor_id uuid,
    status public.lead_status not null default 'new_inquiry',
    status_reason text,
    status_changed_at timestamptz not null default now(),
    assigned_to uuid references public.profiles (id) on delete set null,
    assigned_at timestamptz,
    -- Inquiries made while the lead was open (a repeat from the same phone is the same lead).
    inquiries integer not null default 1 constraint leads_inquiries_positive check (inquiries > 0),
    last_inquiry_at timestamptz not null default now(),
    last_contacted_at timestamptz,
    patient_id uuid,
    converted_at timestamptz,
    created_via text not null default 'app' constraint leads_created_via_known check (
        created_via in ('app', 'website')
    ),
    created_by uuid references public.profiles (id) on delete set null default auth.uid(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint leads_id_hospital_key unique (id, hospital_id),
    constraint leads_preferred_doctor_same_hospital_fkey foreign key (preferred_doctor_id, hospital_id)
    references public.doctors (id, hospital_id) on delete restrict,
    constraint leads_patient_registered_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict,
    constraint leads_converted_has_patient check ((status = 'converted') = (patient_id is not null)),
    constraint leads_converted_at_with_patient check ((converted_at is null) = (patient_id is null))
);

-- The list (newest first), the funnel's cohorts and the dashboard read by hospital and date.
create index leads_hospital_created_idx on public.leads (hospital_id, created_at);
-- The CRO queue (a hospital's leads of one status, oldest first) and the assignment backlog.
create index leads_hospital_status_idx on public.leads (hospital_id, status, status_changed_at);
-- A repeat inquiry finds the open lead of its phone.
create index leads_hospital_phone_idx on public.leads (hospital_id, phone, last_inquiry_at);
create index leads_assigned_to_idx on public.leads (assigned_to, status);
create index leads_preferred_doctor_idx on public.leads (preferred_doctor_id, hospital_id);
create index leads_patient_idx on public.leads (patient_id, hospital_id);
create index leads_created_by_idx on public.leads (created_by);

create trigger leads_set_updated_at
before update on public.leads
for each row execute function private.set_updated_at();

create trigger leads_keep_status_reason
before update of status_reason on public.leads
for each row execute function private.keep_status_reason();

create trigger audit_row_change
after insert or update or delete on public.leads
for each row execute function private.audit_row_change('patient_id');

create trigger refuse_merged_patient
before insert or update on public.leads
for each row execute function private.refuse_merged_patient('patient_id');

-- How long an open lead takes a repeat inquiry from its phone instead of a new lead.
create function private.lead_repeat_window()
returns interval
language sql
immutable
set search_path = ''
as $$ select interval '60 days' $$;

comment on function private.lead_repeat_window() is
'An inquiry from the phone of an open lead whose last inquiry is this recent is that lead again.';

grant execute on function private.lead_repeat_window() to authenticated;

-- Inquiries for one phone at one hospital take turns (two form posts at once make one lead).
create function private.lock_lead_phone(hospital_id uuid, phone text)
returns void
language sql
volatile
set search_path = ''
as $$
    select pg_advisory_xact_lock(hashtextextended('lead:' || lock_lead_phone.hospital_id || ':' || lock_lead_phone.phone, 0));
$$;

comment on function private.lock_lead_phone(uuid, text) is
'Takes the transaction''s turn for new inquiries from one phone at one hospital.';

grant execute on function private.lock_lead_phone(uuid, text) to authenticated;

-- The open lead a new inquiry from this phone belongs to, if any (as the caller may read them:
-- the trigger and the website form read as the owner).
create function private.open_lead_of_phone(hospital_id uuid, phone text)
returns uuid
language sql
stable
set search_path = ''
as $$
    select l.id from public.leads as l
    where l.hospital_id = open_lead_of_phone.hospital_id and l.phone = open_lead_of_phone.phone
        and l.status in ('new_inquiry', 'contacted', 'stalling_sent_to_cro')
        and l.last_inquiry_at > now() - private.lead_repeat_window()
    order by l.last_inquiry_at desc
    limit 1
$$;

comment on function private.open_lead_of_phone(uuid, text) is
'The open lead of a phone at a hospital whose last inquiry is within the repeat window.';

grant execute on function private.open_lead_of_phone(uuid, text) to authenticated;

-- Who may be given a lead: an active CRO, front desk or admin of its hospital.
create function private.may_work_leads(member uuid, hospital uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    -- Security definer: reads the memberships of the hospital whatever the caller may read.
    select exists (
        select from public.staff_memberships as m
        join public.hospitals as h on h.id = m.hospital_id
        where m.user_id = may_work_leads.member and m.hospital_id = may_work_leads.hospital
            and m.role in ('cro', 'front_desk', 'hospital_admin') and m.is_active and h.is_active
    )
$$;

comment on function private.may_work_leads(uuid, uuid) is
'True for an active CRO, front desk or admin of the hospital (who may be given a lead or a follow-up).';

-- Field rules. Security definer: it reads other leads (a repeat inquiry) and the memberships of
-- the person a lead is given to, whatever the caller may read.
create function private.guard_lead()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    canonical text;
    existing uuid;
begin
    -- Nothing of a hospital's leads or lists is told to someone who may not enter its leads.
    if tg_op = 'INSERT' and not private.acting_as_system()
        and not coalesce(new.hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')), false) then
        perform private.raise_forbidden(
            'only the front desk, CROs and admins of the hospital enter its leads', 'not_front_office'
        );
    end if;
    if tg_op = 'INSERT' or new.source is distinct from old.source then
        canonical := private.lead_option_name(new.hospital_id, 'source', new.source);
        if canonical is null then
            perform private.raise_invalid(
                format('%s is not a lead source of this hospital', new.source), 'unknown_lead_source',
                'GET /rest/v1/lead_options?kind=eq.source lists them'
            );
        end if;
        new.source := canonical;
    end if;
    if new.inquiry is not null and (tg_op = 'INSERT' or new.inquiry is distinct from old.inquiry) then
        canonical := private.lead_option_name(new.hospital_id, 'inquiry', new.inquiry);
        if canonical is null then
            perform private.raise_invalid(
                format('%s is not an inquiry of this hospital', new.inquiry), 'unknown_lead_inquiry',
                'GET /rest/v1/lead_options?kind=eq.inquiry lists them'
            );
        end if;
        new.inquiry := canonical;
    end if;
    if new.assigned_to is not null and (tg_op = 'INSERT' or new.assigned_to is distinct from old.assigned_to)
        and not private.may_work_leads(new.assigned_to, new.hospital_id) then
        perform private.raise_forbidden(
            'a lead is given only to a CRO, front desk or admin of its hospital', 'assignee_not_front_office'
        );
    end if;
    if tg_op = 'INSERT' or new.assigned_to is distinct from old.assigned_to then
        new.assigned_at := case when new.assigned_to is not null then now() end;
    end if;
    if new.preferred_doctor_id is not null
        and (tg_op = 'INSERT' or new.preferred_doctor_id is distinct from old.preferred_doctor_id)
        and exists (
            select from public.doctors as d
            where d.id = new.preferred_doctor_id and d.hospital_id = new.hospital_id and not d.is_active
        ) then
        perform private.raise_unprocessable('this doctor is not taking appointments', 'doctor_inactive');
    end if;
    if new.status = 'converted' and new.patient_id is null then
        perform private.raise_conflict(
            'a lead is converted with rpc/convert_lead', 'convert_with_rpc',
            'POST /rest/v1/rpc/convert_lead {"lead_id": "..."} makes or finds the patient and moves the lead'
        );
    end if;

    if tg_op = 'INSERT' then
        -- A second inquiry from the phone of an open lead is that lead again: rpc/create_lead and
        -- the website form record it there; a direct insert is told which lead it is.
        perform private.lock_lead_phone(new.hospital_id, new.phone);
        existing := private.open_lead_of_phone(new.hospital_id, new.phone);
        if existing is not null then
            perform private.raise_conflict(
                format('this phone already has an open lead (%s)', existing), 'duplicate_lead',
                'POST /rest/v1/rpc/create_lead records a repeat inquiry on the open lead'
            );
        end if;
    end if;
    return new;
end;
$$;

comment on function private.guard_lead() is
'Trigger on leads: source and inquiry from the hospital''s lists, assignee of the front office, '
'an active preferred doctor, conversion only through rpc/convert_lead, no second open lead per phone.';

create trigger leads_guard
before insert or update on public.leads
for each row execute function private.guard_lead();

-- The pipeline ---------------------------------------------------------------------------------------
insert into private.state_machine_states (machine, state, label, position, is_terminal)
values
('lead', 'new_inquiry', 'New Inquiry', 1, false),
('lead', 'contacted', 'Contacted', 2, false),
('lead', 'stalling_sent_to_cro', 'Stalling - Sent to CRO', 3, false),
('lead', 'converted', 'Converted - Active Patient', 4, true),
('lead', 'lost', 'Lost', 5, false);

insert into private.state_transitions (machine, from_state, to_state, roles, requires_reason, description)
values
('lead', null, 'new_inquiry', '{front_desk,cro,hospital_admin}', false, 'entered (the website form: the system)'),
('lead', 'new_inquiry', 'contacted', '{front_desk,cro,hospital_admin}', false, 'reached, and interested'),
(
    'lead', 'new_inquiry', 'stalling_sent_to_cro', '{front_desk,cro,hospital_admin}', false,
    'hesitates at the first call (price, fear): handed to a CRO'
),
(
    'lead', 'contacted', 'stalling_sent_to_cro', '{front_desk,cro,hospital_admin}', false,
    'hesitates (price, fear): handed to a CRO'
),
(
    'lead', 'stalling_sent_to_cro', 'contacted', '{cro,hospital_admin}', false,
    'the CRO resolved the hesitation and hands the lead back'
),
('lead', 'new_inquiry', 'converted', '{front_desk,cro,hospital_admin}', false, 'agreed to treatment at once'),
('lead', 'contacted', 'converted', '{front_desk,cro,hospital_admin}', false, 'agreed to treatment'),
(
    'lead', 'stalling_sent_to_cro', 'converted', '{cro,hospital_admin}', false,
    'agreed to treatment after the CRO''s intervention'
),
('lead', 'new_inquiry', 'lost', '{front_desk,cro,hospital_admin}', true, 'not interested, or unreachable'),
('lead', 'contacted', 'lost', '{front_desk,cro,hospital_admin}', true, 'not interested after all'),
('lead', 'stalling_sent_to_cro', 'lost', '{cro,hospital_admin}', true, 'the CRO could not win them'),
('lead', 'lost', 'contacted', '{front_desk,cro,hospital_admin}', false, 're-engaged: interested again'),
('lead', 'lost', 'stalling_sent_to_cro', '{cro,hospital_admin}', false, 'a CRO tries to win them back');

create trigger leads_state_machine
before insert or update of status on public.leads
for each row execute function private.enforce_state_machine('lead');

-- Row-level security -------------------------------------------------------------------------------
alter table public.leads enable row level security;
revoke all on public.leads from anon, authenticated, service_role;
grant all on public.leads to service_role;
grant select on public.leads to authenticated;
grant insert (
    hospital_id, full_name, phone, email, age, sex, source, inquiry, problem, treatment_doctor,
    treatment_suggested, preferred_doctor_id, assigned_to
) on public.leads to authenticated;
grant update (
    full_name, phone, email, age, sex, source, inquiry, problem, treatment_doctor, treatment_suggested,
    preferred_doctor_id, status, status_reason, assigned_to
) on public.leads to authenticated;

-- The front office of the hospital works its leads; a doctor sees those booked to them.
create policy leads_select_front_office_or_booked_doctor on public.leads
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}'))
    or exists (
        select from public.appointments as a
        where a.lead_id = leads.id and a.doctor_id = any(private.own_doctor_ids())
    )
);

create policy leads_insert_front_office on public.leads
for insert to authenticated
with check (hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')));

create policy leads_update_front_office on public.leads
for update to authenticated
using (hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')))
with check (hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')));

comment on table public.leads is
'Leads (seed 004 Leads): people who asked about treatment and are not patients yet. Read and '
'worked by the front desk, CROs and admins of the hospital (a doctor reads only a lead with an '
'appointment booked to them; patients never). Create with rpc/create_lead (a repeat inquiry from '
'an open lead''s phone is recorded on it; instant booking); move with PATCH {status, '
'status_reason} along machine lead (status_history keeps every move); convert with '
'rpc/convert_lead. Errors: 22023 unknown_lead_source, unknown_lead_inquiry; 42501 '
'assignee_not_front_office or a move the role may not make; PT409 a move the machine does not '
'have, duplicate_lead, convert_with_rpc.';
comment on column public.leads.full_name is 'The person''s name as given.';
comment on column public.leads.phone is 'E.164; one open lead per phone and hospital.';
comment on column public.leads.age is 'Years, as given (seed 004 age).';
comment on column public.leads.source is 'Where the lead came from: a source of lead_options (first inquiry).';
comment on column public.leads.inquiry is 'What they asked about: an inquiry of lead_options (IVF, IUI, General...).';
comment on column public.leads.problem is 'What they told about their problem.';
comment on column public.leads.treatment_doctor is 'Camp leads: the doctor named at the camp, as written.';
comment on column public.leads.treatment_suggested is 'Camp leads: the treatment suggested there.';
comment on column public.leads.preferred_doctor_id is 'The doctor they asked for (instant booking books them today).';
comment on column public.leads.status is
'Changed only along state_machine_transitions (machine lead); every step is in status_history. '
'converted only through rpc/convert_lead; lost needs a status_reason.';
comment on column public.leads.status_reason is 'Why the last move was made (required for lost).';
comment on column public.leads.status_changed_at is 'When the lead entered its status (the CRO queue''s order).';
comment on column public.leads.assigned_to is
'Who works the lead: round-robin among the hospital''s CROs when it reaches the CRO queue, or set by hand.';
comment on column public.leads.assigned_at is 'When assigned_to was last set.';
comment on column public.leads.inquiries is 'Inquiries made while open (a repeat from the same phone counts here).';
comment on column public.leads.last_inquiry_at is 'When the last inquiry came in.';
comment on column public.leads.last_contacted_at is 'When the last call to them was logged (lead_activities).';
comment on column public.leads.patient_id is 'The patient the lead became (rpc/convert_lead).';
comment on column public.leads.converted_at is 'When the lead was converted.';
comment on column public.leads.created_via is 'app (staff) or website (the public form).';
comment on column public.leads.created_by is 'Who entered the lead (null: the website form).';
comment on policy leads_select_front_office_or_booked_doctor on public.leads is
'The front desk, CROs and admins of the hospital read its leads; a doctor those booked to them.';
comment on policy leads_insert_front_office on public.leads is 'The front desk, CROs and admins enter leads.';
comment on policy leads_update_front_office on public.leads is
'The front desk, CROs and admins work leads (moves further limited per role by the state machine).';

-- A lead's history is visible to whoever sees the lead (one policy per command: the earlier
-- machines' branches as they were, and the lead's).
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
        machine = 'lead'
        and exists (
            select from public.leads as l
            where l.id = status_history.subject_id
        )
    )
);

comment on policy status_history_select_of_visible_subjects on public.status_history is
'The transitions of the prescriptions, appointments and leads the caller can see.';

-- Appointments of a lead (seed 004 appointments.lead_id) name a lead of their hospital.
create index appointments_lead_idx on public.appointments (lead_id, hospital_id);
alter table public.appointments add constraint appointments_lead_same_hospital_fkey
foreign key (lead_id, hospital_id) references public.leads (id, hospital_id) on delete restrict;

comment on constraint appointments_lead_same_hospital_fkey on public.appointments is
'An appointment names a lead of its own hospital (seed 004 instant booking).';

-- What was done with a lead -------------------------------------------------------------------------
create table public.lead_activities (
    id uuid primary key default gen_random_uuid(),
    lead_id uuid not null,
    hospital_id uuid not null,
    kind text not null constraint lead_activities_kind_known check (
        kind in ('call', 'note', 'repeat_inquiry', 'assigned')
    ),
    outcome text constraint lead_activities_outcome_known check (
        outcome in (
            'interested', 'hesitant', 'not_interested', 'no_answer', 'busy', 'call_back_later', 'wrong_number'
        )
    ),
    notes text constraint lead_activities_notes_length check (length(notes) <= 4000),
    details jsonb not null default '{}',
    actor_id uuid references public.profiles (id) on delete set null default auth.uid(),
    occurred_at timestamptz not null default now(),
    constraint lead_activities_lead_fkey foreign key (lead_id, hospital_id)
    references public.leads (id, hospital_id) on delete cascade,
    constraint lead_activities_call_has_outcome check ((kind = 'call') = (outcome is not null))
);

create index lead_activities_lead_idx on public.lead_activities (lead_id, hospital_id, occurred_at);
create index lead_activities_actor_idx on public.lead_activities (actor_id);

-- Staff log calls and notes; the rest is written by the database. Not security definer: inside
-- the database's own functions the current user is their owner, not an API role.
create function private.guard_lead_activity()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if current_user::text = 'authenticated' and new.kind not in ('call', 'note') then
        perform private.raise_invalid(
            'staff log calls and notes; repeat inquiries and assignments are recorded by the database',
            'activity_kind_reserved'
        );
    end if;
    return new;
end;
$$;

comment on function private.guard_lead_activity() is
'Trigger on lead_activities: the API logs calls and notes only.';

create trigger lead_activities_guard
before insert on public.lead_activities
for each row execute function private.guard_lead_activity();

-- A call logged is the lead's last contact. Security definer: last_contacted_at is not
-- writable through the API.
create function private.note_lead_contact()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    update public.leads as l
    set last_contacted_at = greatest(l.last_contacted_at, new.occurred_at)
    where l.id = new.lead_id;
    return null;
end;
$$;

comment on function private.note_lead_contact() is
'Trigger on lead_activities: a logged call becomes the lead''s last_contacted_at.';

create trigger lead_activities_note_contact
after insert on public.lead_activities
for each row when (new.kind = 'call')
execute function private.note_lead_contact();

create trigger audit_row_change
after insert or update or delete on public.lead_activities
for each row execute function private.audit_row_change('');

alter table public.lead_activities enable row level security;
revoke all on public.lead_activities from anon, authenticated, service_role;
grant select, insert, update, delete on public.lead_activities to service_role;
grant select on public.lead_activities to authenticated;
-- Append-only for the API: nothing is updated or deleted.
grant insert (lead_id, hospital_id, kind, outcome, notes) on public.lead_activities to authenticated;

create policy lead_activities_select_front_office on public.lead_activities
for select to authenticated
using (hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')));

create policy lead_activities_insert_front_office on public.lead_activities
for insert to authenticated
with check (hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')));

comment on table public.lead_activities is
'What was done with a lead, append-only (seed 004 call outcomes): calls with their outcome and '
'notes written by the front office (POST {lead_id, hospital_id, kind: call, outcome, notes}); '
'repeat inquiries (details: source, inquiry, problem, name) and assignments (details: from, to, '
'how: manual, round_robin, reassigned) recorded by the database. Read by the front desk, CROs and '
'admins of the hospital. Errors: 22023 activity_kind_reserved.';
comment on column public.lead_activities.kind is 'call, note, repeat_inquiry or assigned.';
comment on column public.lead_activities.outcome is
'Calls: interested, hesitant, not_interested, no_answer, busy, call_back_later or wrong_number.';
comment on column public.lead_activities.notes is 'What was said.';
comment on column public.lead_activities.details is 'Repeat inquiries and assignments: what came in, who had it.';
comment on column public.lead_activities.actor_id is 'Who did it (null: the system).';
comment on policy lead_activities_select_front_office on public.lead_activities is
'The front desk, CROs and admins of the lead''s hospital read what was done with it.';
comment on policy lead_activities_insert_front_office on public.lead_activities is
'The front desk, CROs and admins of the lead''s hospital log calls and notes.';

-- Follow-up tasks --------------------------------------------------------------------------------------
create table public.lead_follow_ups (
    id uuid primary key default gen_random_uuid(),
    lead_id uuid not null,
    hospital_id uuid not null,
    assigned_to uuid not null references public.profiles (id) on delete cascade default auth.uid(),
    due_at timestamptz not null,
    note text constraint lead_follow_ups_note_length check (length(note) <= 2000),
    done_at timestamptz,
    done_by uuid references public.profiles (id) on delete set null,
    outcome text constraint lead_follow_ups_outcome_length check (length(outcome) <= 2000),
    created_by uuid references public.profiles (id) on delete set null default auth.uid(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint lead_follow_ups_lead_fkey foreign key (lead_id, hospital_id)
    references public.leads (id, hospital_id) on delete cascade,
    constraint lead_follow_ups_done_by_with_done_at check ((done_at is null) = (done_by is null))
);

create index lead_follow_ups_lead_idx on public.lead_follow_ups (lead_id, hospital_id, due_at);
-- A person's open follow-ups, soonest first.
create index lead_follow_ups_assigned_idx on public.lead_follow_ups (assigned_to, due_at);
create index lead_follow_ups_created_by_idx on public.lead_follow_ups (created_by);
create index lead_follow_ups_done_by_idx on public.lead_follow_ups (done_by);

-- Security definer: reads the assignee's memberships whatever the caller may read.
create function private.guard_lead_follow_up()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if (tg_op = 'INSERT' or new.assigned_to is distinct from old.assigned_to)
        and not private.may_work_leads(new.assigned_to, new.hospital_id) then
        perform private.raise_forbidden(
            'a follow-up is given only to a CRO, front desk or admin of the lead''s hospital',
            'assignee_not_front_office'
        );
    end if;
    if tg_op = 'UPDATE' and new.done_at is distinct from old.done_at then
        new.done_by := case when new.done_at is not null then auth.uid() end;
    elsif tg_op = 'INSERT' then
        new.done_by := case when new.done_at is not null then auth.uid() end;
    end if;
    return new;
end;
$$;

comment on function private.guard_lead_follow_up() is
'Trigger on lead_follow_ups: the assignee works the lead''s hospital''s front office; done_by is whoever set done_at.';

create trigger lead_follow_ups_guard
before insert or update on public.lead_follow_ups
for each row execute function private.guard_lead_follow_up();

create trigger lead_follow_ups_set_updated_at
before update on public.lead_follow_ups
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.lead_follow_ups
for each row execute function private.audit_row_change('');

alter table public.lead_follow_ups enable row level security;
revoke all on public.lead_follow_ups from anon, authenticated, service_role;
grant select, insert, update, delete on public.lead_follow_ups to service_role;
grant select on public.lead_follow_ups to authenticated;
grant insert (
    lead_id, hospital_id, assigned_to, due_at, note, done_at, outcome
) on public.lead_follow_ups to authenticated;
grant update (assigned_to, due_at, note, done_at, outcome) on public.lead_follow_ups to authenticated;

create policy lead_follow_ups_select_front_office on public.lead_follow_ups
for select to authenticated
using (hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')));

create policy lead_follow_ups_insert_front_office on public.lead_follow_ups
for insert to authenticated
with check (hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')));

create policy lead_follow_ups_update_front_office on public.lead_follow_ups
for update to authenticated
using (hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')))
with check (hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')));

comment on table public.lead_follow_ups is
'Follow-up tasks on leads (seed 004 CRO queue): who calls whom when. POST {lead_id, hospital_id, '
'due_at, note} (assigned_to defaults to you); done with PATCH {done_at, outcome}. One''s open '
'ones: ?assigned_to=eq.<me>&done_at=is.null&order=due_at. Read and kept by the front desk, CROs and '
'admins of the lead''s hospital. Errors: 42501 assignee_not_front_office.';
comment on column public.lead_follow_ups.assigned_to is 'Who is to follow up (a CRO, front desk or admin there).';
comment on column public.lead_follow_ups.due_at is 'When.';
comment on column public.lead_follow_ups.note is 'What to do.';
comment on column public.lead_follow_ups.done_at is 'When it was done (null: open).';
comment on column public.lead_follow_ups.done_by is 'Who marked it done.';
comment on column public.lead_follow_ups.outcome is 'What came of it.';
comment on column public.lead_follow_ups.created_by is 'Who set it.';
comment on policy lead_follow_ups_select_front_office on public.lead_follow_ups is
'The front desk, CROs and admins of the lead''s hospital read its follow-ups.';
comment on policy lead_follow_ups_insert_front_office on public.lead_follow_ups is
'The front desk, CROs and admins of the lead''s hospital set follow-ups.';
comment on policy lead_follow_ups_update_front_office on public.lead_follow_ups is
'The front desk, CROs and admins of the lead''s hospital reschedule and close follow-ups.';

-- Assignments are part of a lead's story: who had it, who has it, how it came to them
-- (carebase.lead_assignment: round_robin or reassigned when the database assigns; else manual).
-- Security definer: writes the activity log's reserved kind.
create function private.record_lead_assignment()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    insert into public.lead_activities (lead_id, hospital_id, kind, details)
    values (
        new.id, new.hospital_id, 'assigned',
        jsonb_build_object(
            'from', case when tg_op = 'UPDATE' then old.assigned_to end, 'to', new.assigned_to,
            'how', coalesce(nullif(current_setting('carebase.lead_assignment', true), ''), 'manual')
        )
    );
    return null;
end;
$$;

comment on function private.record_lead_assignment() is
'Trigger on leads: every change of assigned_to is an assigned activity {from, to, how}.';

create trigger leads_record_assignment
after insert on public.leads
for each row when (new.assigned_to is not null)
execute function private.record_lead_assignment();

create trigger leads_record_reassignment
after update of assigned_to on public.leads
for each row when (new.assigned_to is distinct from old.assigned_to)
execute function private.record_lead_assignment();

-- Live alerts (seed 004 §5, "new lead"): ids, status and source only, never a name or a phone.
create function private.live_lead_events()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    payload jsonb := jsonb_build_object(
        'lead_id', new.id, 'hospital_id', new.hospital_id, 'status', new.status, 'source', new.source,
        'assigned_to', new.assigned_to, 'occurred_at', now()
    );
begin
    if tg_op = 'INSERT' then
        perform private.raise_live_event(
            array[private.hospital_topic(new.hospital_id, 'front_desk'), private.hospital_topic(new.hospital_id, 'cro')],
            'lead_created', payload
        );
    end if;
    if new.assigned_to is not null and (tg_op = 'INSERT' or new.assigned_to is distinct from old.assigned_to) then
        perform private.raise_live_event(
            array[private.staff_user_topic(new.assigned_to, new.hospital_id)], 'lead_assigned', payload
        );
    end if;
    if tg_op = 'UPDATE' and new.status is distinct from old.status then
        perform private.raise_live_event(
            array[private.hospital_topic(new.hospital_id, 'front_desk'), private.hospital_topic(new.hospital_id, 'cro')],
            'lead_status_changed', payload || jsonb_build_object('previous_status', old.status)
        );
    end if;
    return null;
end;
$$;

comment on function private.live_lead_events() is
'Raises lead_created and lead_status_changed for the hospital''s front desk and CROs, and '
'lead_assigned for the assignee (ids, status and source only).';

create trigger live_events_leads
after insert or update of assigned_to, status on public.leads
for each row execute function private.live_lead_events();

-- Creating leads ---------------------------------------------------------------------------------------

-- A repeat inquiry on an open lead: counted, and recorded with what came in. Security
-- definer: the counters are not writable through the API; the caller is checked here (the
-- system, or the front office of the lead's hospital).
create function private.record_repeat_inquiry(lead_id uuid, inquiry jsonb)
returns public.leads
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    lead public.leads;
begin
    select l.* into lead from public.leads as l where l.id = record_repeat_inquiry.lead_id for update;
    if lead.id is null or not (
        private.acting_as_system()
        or lead.hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}'))
    ) then
        perform private.raise_not_found('lead not found');
    end if;
    update public.leads as l
    set inquiries = l.inquiries + 1, last_inquiry_at = now()
    where l.id = lead.id
    returning l.* into lead;
    insert into public.lead_activities (lead_id, hospital_id, kind, details)
    values (lead.id, lead.hospital_id, 'repeat_inquiry', jsonb_strip_nulls(record_repeat_inquiry.inquiry));
    return lead;
end;
$$;

comment on function private.record_repeat_inquiry(uuid, jsonb) is
'Counts a repeat inquiry on an open lead and records what came in (source, inquiry, problem, name).';

grant execute on function private.record_repeat_inquiry(uuid, jsonb) to authenticated;

-- Instant booking (seed 004 §3.3): the first free slot from now to the end of the hospital's
-- day, of the preferred doctor, else of a doctor of the inquiry's specialty, booked for the
-- lead by name (snapshot fields) in the caller's transaction. Two leads racing for one slot:
-- the exclusion constraint lets one have it; the other takes the next free one, or none.
-- Security invoker: the caller's own right to book decides (the system's for the website).
create function private.book_lead_today(lead public.leads, source public.appointment_source)
returns public.appointments
language plpgsql
volatile
set search_path = ''
as $$
declare
    inquiry public.lead_options;
    day_end timestamptz;
    slot public.free_slot;
    booked public.appointments;
begin
    select o.* into inquiry from public.lead_options as o
    where o.hospital_id = lead.hospital_id and o.kind = 'inquiry' and o.name = lead.inquiry;
    if lead.preferred_doctor_id is null and inquiry.specialty is null then
        return null;
    end if;
    select ((now() at time zone h.time_zone)::date + 1)::timestamp at time zone h.time_zone into day_end
    from public.hospitals as h where h.id = lead.hospital_id;
    for slot in
        select s.* from public.find_slots(
            now(), day_end,
            doctor_id => lead.preferred_doctor_id,
            specialty => case when lead.preferred_doctor_id is null then inquiry.specialty end,
            mode => 'in_person',
            hospital_id => lead.hospital_id
        ) as s
        order by s.starts_at, s.doctor_id
        limit 20
    loop
        begin
            insert into public.appointments (
                hospital_id, doctor_id, patient_name_snapshot, phone_snapshot, sex_snapshot, lead_id,
                starts_at, ends_at, appointment_type, mode, reason, source, status
            )
            values (
                lead.hospital_id, slot.doctor_id, lead.full_name, lead.phone, lead.sex, lead.id,
                slot.starts_at, slot.ends_at, coalesce(inquiry.appointment_type, 'consultation'), 'in_person',
                coalesce(lead.inquiry, 'first consultation'), book_lead_today.source, 'scheduled'
            )
            returning * into booked;
            return booked;
        exception when exclusion_violation then
            -- Taken since the slots were read (another lead raced for it): the next one.
            null;
        end;
    end loop;
    return null;
end;
$$;

comment on function private.book_lead_today(public.leads, public.appointment_source) is
'Books a new lead into the first free slot today of its preferred doctor or its inquiry''s '
'specialty; null when none is free. Runs with the caller''s rights.';

grant execute on function private.book_lead_today(public.leads, public.appointment_source) to authenticated;

-- RPC: POST /rest/v1/rpc/create_lead (seed 004 POST /api/leads). Security invoker: the lead is
-- written under the caller's policies; the repeat-inquiry counter through the checked helper.
create function public.create_lead(
    hospital_id uuid,
    full_name text,
    phone text,
    source text default 'Walk-In',
    inquiry text default null,
    email text default null,
    age integer default null,
    sex public.sex default null,
    problem text default null,
    treatment_doctor text default null,
    treatment_suggested text default null,
    preferred_doctor_id uuid default null,
    book_today boolean default true
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    e164 constant text := private.phone_to_e164(create_lead.phone);
    source_name text;
    inquiry_name text;
    existing uuid;
    lead public.leads;
    booked public.appointments;
begin
    if not coalesce(create_lead.hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')), false) then
        perform private.raise_forbidden(
            'only the front desk, CROs and admins of the hospital enter its leads', 'not_front_office'
        );
    end if;
    if e164 is null or e164 !~ '^\+[1-9][0-9]{7,14}$' then
        perform private.raise_invalid(
            'the phone number is not valid', 'invalid_phone', 'e.g. +919876543210 or 98765 43210'
        );
    end if;
    source_name := private.lead_option_name(create_lead.hospital_id, 'source', coalesce(create_lead.source, 'Walk-In'));
    if source_name is null then
        perform private.raise_invalid(
            format('%s is not a lead source of this hospital', create_lead.source), 'unknown_lead_source',
            'GET /rest/v1/lead_options?kind=eq.source lists them'
        );
    end if;
    if create_lead.inquiry is not null then
        inquiry_name := private.lead_option_name(create_lead.hospital_id, 'inquiry', create_lead.inquiry);
        if inquiry_name is null then
            perform private.raise_invalid(
                format('%s is not an inquiry of this hospital', create_lead.inquiry), 'unknown_lead_inquiry',
                'GET /rest/v1/lead_options?kind=eq.inquiry lists them'
            );
        end if;
    end if;

    perform private.lock_lead_phone(create_lead.hospital_id, e164);
    existing := private.open_lead_of_phone(create_lead.hospital_id, e164);
    if existing is not null then
        lead := private.record_repeat_inquiry(
            existing,
            jsonb_build_object(
                'source', source_name, 'inquiry', inquiry_name, 'problem', create_lead.problem,
                'full_name', nullif(btrim(create_lead.full_name), ''), 'via', 'app'
            )
        );
        return jsonb_build_object('lead', to_jsonb(lead), 'merged', true, 'appointment', null, 'booking', 'not_attempted');
    end if;

    insert into public.leads (
        hospital_id, full_name, phone, email, age, sex, source, inquiry, problem, treatment_doctor,
        treatment_suggested, preferred_doctor_id
    )
    values (
        create_lead.hospital_id, btrim(create_lead.full_name), e164, nullif(btrim(create_lead.email), ''),
        create_lead.age, create_lead.sex, source_name, inquiry_name, create_lead.problem,
        create_lead.treatment_doctor, create_lead.treatment_suggested, create_lead.preferred_doctor_id
    )
    returning * into lead;

    if create_lead.book_today then
        booked := private.book_lead_today(lead, 'front_desk');
    end if;
    return jsonb_build_object(
        'lead', to_jsonb(lead),
        'merged', false,
        'appointment', case when booked.id is not null then to_jsonb(booked) end,
        'booking', case
            when not create_lead.book_today then 'not_requested'
            when booked.id is not null then 'booked'
            when lead.preferred_doctor_id is null
                and not exists (
                    select from public.lead_options as o
                    where o.hospital_id = lead.hospital_id and o.kind = 'inquiry' and o.name = lead.inquiry
                        and o.specialty is not null
                ) then 'no_doctor_to_book'
            else 'no_free_slot_today'
        end
    );
end;
$$;

grant execute on function public.create_lead(
    uuid, text, text, text, text, text, integer, public.sex, text, text, text, uuid, boolean
) to authenticated;

comment on function public.create_lead(
    uuid, text, text, text, text, text, integer, public.sex, text, text, text, uuid, boolean
) is
'Enters a lead (seed 004 POST /api/leads) for the front desk, CROs and admins of the hospital. The '
'phone is read as E.164 (+91 for a 10-digit number). An inquiry from the phone of an open lead '
'(last inquiry within 60 days) is that lead again: counted and recorded on it (merged: true). '
'A new lead with a preferred doctor, or an inquiry mapped to a specialty, is booked into the '
'first free slot of today (instant booking; book_today false skips it). Returns {lead, merged, '
'appointment, booking: booked | no_free_slot_today | no_doctor_to_book | not_requested | '
'not_attempted}. Errors: 42501 not_front_office; 22023 invalid_phone, unknown_lead_source, '
'unknown_lead_inquiry; PT422 doctor_inactive.';

-- The public website form (through the sidecar's POST /api/v1/leads/website, which rate-limits
-- and checks the captcha first). Create only: the answer says nothing about what exists.
-- Security definer: the service role writes as the system; the hospital takes website leads
-- only while it has an active website source.
create function private.receive_website_lead(
    hospital_code text, full_name text, phone text, email text, inquiry text, message text
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    e164 constant text := private.phone_to_e164(receive_website_lead.phone);
    hospital uuid;
    source_name text;
    inquiry_name text;
    existing uuid;
begin
    select h.id, o.name into hospital, source_name
    from public.hospitals as h
    join public.lead_options as o on o.hospital_id = h.id and o.is_website and o.is_active
    where h.code = upper(btrim(receive_website_lead.hospital_code)) and h.is_active;
    if hospital is null then
        perform private.raise_not_found('this hospital takes no leads from its website', 'website_leads_off');
    end if;
    if coalesce(length(btrim(receive_website_lead.full_name)), 0) not between 1 and 200 then
        perform private.raise_invalid('give a name', 'name_required');
    end if;
    if e164 is null or e164 !~ '^\+[1-9][0-9]{7,14}$' then
        perform private.raise_invalid('the phone number is not valid', 'invalid_phone');
    end if;
    if length(receive_website_lead.message) > 4000 or length(receive_website_lead.email) > 254 then
        perform private.raise_invalid('the message or email is too long', 'too_long');
    end if;
    -- An inquiry the hospital does not list is kept in the message rather than refused.
    inquiry_name := private.lead_option_name(hospital, 'inquiry', receive_website_lead.inquiry);

    perform private.lock_lead_phone(hospital, e164);
    existing := private.open_lead_of_phone(hospital, e164);
    if existing is not null then
        perform private.record_repeat_inquiry(
            existing,
            jsonb_build_object(
                'source', source_name, 'inquiry', coalesce(inquiry_name, receive_website_lead.inquiry),
                'problem', receive_website_lead.message, 'full_name', btrim(receive_website_lead.full_name),
                'via', 'website'
            )
        );
        return jsonb_build_object('outcome', 'merged');
    end if;
    insert into public.leads (hospital_id, full_name, phone, email, source, inquiry, problem, created_via)
    values (
        hospital, btrim(receive_website_lead.full_name), e164, nullif(btrim(receive_website_lead.email), ''),
        source_name, inquiry_name,
        nullif(concat_ws(
            E'\n',
            case when inquiry_name is null then nullif(btrim(receive_website_lead.inquiry), '') end,
            nullif(btrim(receive_website_lead.message), '')
        ), ''),
        'website'
    );
    return jsonb_build_object('outcome', 'created');
end;
$$;

comment on function private.receive_website_lead(text, text, text, text, text, text) is
'Files a lead from a hospital''s public website form (or records a repeat inquiry on the open lead of the phone).';

grant execute on function private.receive_website_lead(text, text, text, text, text, text) to service_role;

-- RPC: POST /rest/v1/rpc/receive_website_lead, service role only (the sidecar).
create function public.receive_website_lead(
    hospital_code text, full_name text, phone text, email text default null, inquiry text default null,
    message text default null
)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.receive_website_lead(
        receive_website_lead.hospital_code, receive_website_lead.full_name, receive_website_lead.phone,
        receive_website_lead.email, receive_website_lead.inquiry, receive_website_lead.message
    );
$$;

grant execute on function public.receive_website_lead(text, text, text, text, text, text) to service_role;

comment on function public.receive_website_lead(text, text, text, text, text, text) is
'Service role only (the sidecar''s public POST /api/v1/leads/website, after its rate limit and '
'captcha): files a website lead at the hospital of that code under its website source, or '
'records a repeat inquiry on the open lead of the phone. Answers {outcome: created | merged} and '
'nothing about the lead. Errors: PT404 website_leads_off; 22023 name_required, invalid_phone, too_long.';
