-- Tickets (issue 19, item 3; seed 001 Tickets API): a patient's problem that the hospital
-- works on until it is resolved, with a priority, a category, an assignee, comments and an
-- optional journey instance (the column is a plain uuid until journeys exist).
--
-- Status is a state machine as data (machine `ticket`):
--   open -> in_progress -> resolved -> closed, with waiting_on_patient beside in_progress (the
--   SLA clock stops while the hospital waits for the patient), reopen from resolved or closed
--   (with a reason), and closing an unresolved ticket (duplicate, spam: with a reason).
-- The SLA (first response and resolution deadlines per priority, in the hospital's business
-- hours) is computed from the ticket's event history (status_history and its comments), never
-- from stored counters: rpc/ticket_sla for one ticket, rpc/ticket_sla_breaches for the list.
--
-- Writes go straight to the table (POST / PATCH /rest/v1/tickets); triggers check what RLS
-- cannot: the assignee is active staff of the ticket's hospital, a resolution says how.

create type public.ticket_priority as enum ('low', 'medium', 'high', 'urgent');

comment on type public.ticket_priority is
'How urgent a ticket is: low, medium, high, urgent. Each has its SLA (ticket_sla_targets).';

create table public.tickets (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id),
    patient_id uuid not null,
    journey_instance_id uuid,
    title text not null,
    description text,
    category text not null default 'general',
    priority public.ticket_priority not null default 'medium',
    status text not null default 'open',
    status_reason text,
    status_changed_at timestamptz not null default now(),
    assigned_to uuid references public.profiles (id),
    resolution_notes text,
    created_by uuid default auth.uid() references public.profiles (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint tickets_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict,
    constraint tickets_id_hospital_patient_key unique (id, hospital_id, patient_id),
    constraint tickets_title_length check (length(btrim(title)) between 1 and 200),
    constraint tickets_description_length check (length(description) <= 4000),
    constraint tickets_resolution_notes_length check (length(resolution_notes) <= 4000),
    constraint tickets_category_format check (category ~ '^[a-z][a-z_]{0,39}$')
);

create index tickets_registration_idx on public.tickets (patient_id, hospital_id);
-- The hospital's list, by status, newest first.
create index tickets_hospital_status_idx on public.tickets (hospital_id, status, created_at desc);
create index tickets_assigned_to_idx on public.tickets (assigned_to, status);
create index tickets_created_by_idx on public.tickets (created_by);
create index tickets_journey_instance_idx on public.tickets (journey_instance_id);

create table public.ticket_comments (
    id uuid primary key default gen_random_uuid(),
    ticket_id uuid not null,
    hospital_id uuid not null,
    patient_id uuid not null,
    author_id uuid default auth.uid() references public.profiles (id) on delete set null,
    body text not null,
    is_internal boolean not null default false,
    by_staff boolean not null default false,
    created_at timestamptz not null default clock_timestamp(),
    constraint ticket_comments_ticket_fkey foreign key (ticket_id, hospital_id, patient_id)
    references public.tickets (id, hospital_id, patient_id) on delete cascade,
    constraint ticket_comments_body_length check (length(btrim(body)) between 1 and 4000)
);

create index ticket_comments_ticket_idx on public.ticket_comments (ticket_id, hospital_id, patient_id, created_at);
create index ticket_comments_author_idx on public.ticket_comments (author_id);

create table public.ticket_sla_targets (
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    priority public.ticket_priority not null,
    first_response_minutes integer not null,
    resolution_minutes integer not null,
    updated_at timestamptz not null default now(),
    primary key (hospital_id, priority),
    constraint ticket_sla_targets_positive check (first_response_minutes > 0 and resolution_minutes > 0),
    constraint ticket_sla_targets_response_first check (resolution_minutes >= first_response_minutes)
);

-- The ticket machine -------------------------------------------------------------------------
insert into private.state_machine_states (machine, state, label, position, is_terminal)
values
('ticket', 'open', 'Open', 1, false),
('ticket', 'in_progress', 'In progress', 2, false),
('ticket', 'waiting_on_patient', 'Waiting on the patient', 3, false),
('ticket', 'resolved', 'Resolved', 4, false),
('ticket', 'closed', 'Closed', 5, false);

insert into private.state_transitions (machine, from_state, to_state, roles, requires_reason, description)
values
(
    'ticket', null, 'open', '{front_desk,cro,hospital_admin,nurse,doctor,pharmacist,patient}', false,
    'a new ticket'
),
('ticket', 'open', 'in_progress', '{front_desk,cro,hospital_admin,nurse,doctor,pharmacist}', false, 'taken up'),
(
    'ticket', 'open', 'waiting_on_patient', '{front_desk,cro,hospital_admin,nurse,doctor,pharmacist}', false,
    'the hospital asked the patient and waits for the answer'
),
(
    'ticket', 'in_progress', 'waiting_on_patient', '{front_desk,cro,hospital_admin,nurse,doctor,pharmacist}', false,
    'the hospital asked the patient and waits for the answer'
),
(
    'ticket', 'waiting_on_patient', 'in_progress', '{front_desk,cro,hospital_admin,nurse,doctor,pharmacist}', false,
    'the patient answered'
),
('ticket', 'open', 'resolved', '{front_desk,cro,hospital_admin,nurse,doctor,pharmacist}', false, 'resolved'),
('ticket', 'in_progress', 'resolved', '{front_desk,cro,hospital_admin,nurse,doctor,pharmacist}', false, 'resolved'),
(
    'ticket', 'waiting_on_patient', 'resolved', '{front_desk,cro,hospital_admin,nurse,doctor,pharmacist}', false,
    'resolved'
),
('ticket', 'resolved', 'closed', '{front_desk,cro,hospital_admin,nurse,doctor,pharmacist,patient}', false, 'closed'),
(
    'ticket', 'open', 'closed', '{front_desk,cro,hospital_admin}', true,
    'closed without a resolution (duplicate, not a problem)'
),
(
    'ticket', 'in_progress', 'closed', '{front_desk,cro,hospital_admin}', true,
    'closed without a resolution (duplicate, not a problem)'
),
(
    'ticket', 'waiting_on_patient', 'closed', '{front_desk,cro,hospital_admin}', true,
    'closed: the patient never answered'
),
(
    'ticket', 'resolved', 'open', '{front_desk,cro,hospital_admin,nurse,doctor,pharmacist,patient}', true,
    'reopened: the problem is back'
),
('ticket', 'closed', 'open', '{front_desk,cro,hospital_admin}', true, 'reopened after it was closed');

create trigger tickets_state_machine
before insert or update of status on public.tickets
for each row execute function private.enforce_state_machine('ticket');

-- Whether a user is active staff of a hospital (an active membership at an active hospital).
-- Security definer: memberships of a hospital are not all visible to its members.
create function private.is_active_staff_at(member uuid, hospital uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (
        select from public.staff_memberships as m
        join public.hospitals as h on h.id = m.hospital_id
        where m.user_id = is_active_staff_at.member and m.hospital_id = is_active_staff_at.hospital
            and m.is_active and h.is_active
    );
$$;

comment on function private.is_active_staff_at(uuid, uuid) is
'Whether the user holds an active membership at the hospital, and the hospital is active.';

-- Field rules: a patient changes only the status (the machine lets them reopen or close); the
-- assignee is active staff of the ticket's hospital (checked when it is set,
-- so a ticket keeps an assignee who later left); a patient assigns nobody; a resolution says
-- how the problem was resolved.
create function private.guard_ticket()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if tg_op = 'UPDATE' and not private.acting_as_system()
        and not private.is_active_staff_at((select auth.uid()), new.hospital_id)
        and to_jsonb(new) - '{status,status_reason,status_changed_at,updated_at}'::text[]
        <> to_jsonb(old) - '{status,status_reason,status_changed_at,updated_at}'::text[]
        and not private.merge_repointing(to_jsonb(old), to_jsonb(new)) then
        perform private.raise_forbidden(
            'a patient only reopens or closes their ticket', 'ticket_patient_fields',
            'the hospital''s staff change the rest'
        );
    end if;
    if new.assigned_to is not null
        and (tg_op = 'INSERT' or new.assigned_to is distinct from old.assigned_to) then
        if not private.acting_as_system()
            and not private.is_active_staff_at((select auth.uid()), new.hospital_id) then
            perform private.raise_forbidden(
                'only the hospital''s staff assign tickets', 'ticket_assignment_staff_only'
            );
        end if;
        if not private.is_active_staff_at(new.assigned_to, new.hospital_id) then
            perform private.raise_invalid(
                'a ticket is assigned to active staff of its hospital only', 'ticket_assignee_not_staff',
                'choose someone with an active membership at the ticket''s hospital'
            );
        end if;
    end if;
    if new.status = 'resolved' and (tg_op = 'INSERT' or old.status is distinct from 'resolved')
        and coalesce(btrim(new.resolution_notes), '') = '' then
        perform private.raise_invalid(
            'a resolved ticket says how it was resolved', 'resolution_notes_required',
            'set resolution_notes together with status'
        );
    end if;
    return new;
end;
$$;

comment on function private.guard_ticket() is
'Trigger: a patient changes only the status of their ticket; the assignee is active staff of the '
'ticket''s hospital, set by its staff; resolving needs resolution notes.';

create trigger tickets_guard
before insert or update on public.tickets
for each row execute function private.guard_ticket();

create trigger tickets_set_updated_at
before update on public.tickets
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.tickets
for each row execute function private.audit_row_change('patient_id');

create trigger refuse_merged_patient
before insert or update on public.tickets
for each row execute function private.refuse_merged_patient('patient_id');

-- A comment belongs to its ticket's hospital and patient, and says whether staff wrote it
-- (what counts as the hospital's first response). Security definer: the caller's RLS may hide
-- the ticket, and the insert is then refused by ticket_comments' own policy.
create function private.fill_ticket_comment()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    select t.hospital_id, t.patient_id into new.hospital_id, new.patient_id
    from public.tickets as t
    where t.id = new.ticket_id;
    new.author_id := coalesce((select auth.uid()), new.author_id);
    new.by_staff := new.author_id is not null and private.is_active_staff_at(new.author_id, new.hospital_id);
    return new;
end;
$$;

comment on function private.fill_ticket_comment() is
'Trigger: a comment takes its ticket''s hospital and patient, its author is the caller, and '
'by_staff says whether the author is staff of that hospital.';

create trigger ticket_comments_fill
before insert on public.ticket_comments
for each row execute function private.fill_ticket_comment();

create trigger audit_row_change
after insert or update or delete on public.ticket_comments
for each row execute function private.audit_row_change('patient_id');

create trigger refuse_merged_patient
before insert or update on public.ticket_comments
for each row execute function private.refuse_merged_patient('patient_id');

create trigger ticket_sla_targets_set_updated_at
before update on public.ticket_sla_targets
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.ticket_sla_targets
for each row execute function private.audit_row_change('');

-- Row-level security ---------------------------------------------------------------------------
alter table public.tickets enable row level security;
alter table public.ticket_comments enable row level security;
alter table public.ticket_sla_targets enable row level security;

revoke all on public.tickets, public.ticket_comments, public.ticket_sla_targets from anon, authenticated, service_role;
grant select on public.tickets, public.ticket_comments, public.ticket_sla_targets to authenticated;
grant insert (
    hospital_id, patient_id, journey_instance_id, title, description, category, priority, assigned_to
) on public.tickets to authenticated;
grant update (
    journey_instance_id, title, description, category, priority, status, status_reason, assigned_to,
    resolution_notes
) on public.tickets to authenticated;
grant insert (ticket_id, body, is_internal) on public.ticket_comments to authenticated;
grant insert (hospital_id, priority, first_response_minutes, resolution_minutes),
update (first_response_minutes, resolution_minutes), delete on public.ticket_sla_targets to authenticated;
grant select, insert, update on public.tickets, public.ticket_comments to service_role;
grant select on public.ticket_sla_targets to service_role;

-- Staff of the hospital (every role: a refill request concerns the pharmacist) and the patient.
create policy tickets_select on public.tickets
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids())
    or patient_id = (select private.own_patient_id())
);

create policy tickets_insert on public.tickets
for insert to authenticated
with check (
    hospital_id = any(private.staff_hospital_ids())
    or (
        patient_id = (select private.own_patient_id())
        and hospital_id = any(private.patient_hospital_ids())
        and assigned_to is null
    )
);

create policy tickets_update on public.tickets
for update to authenticated
using (
    hospital_id = any(private.staff_hospital_ids())
    or patient_id = (select private.own_patient_id())
)
with check (
    hospital_id = any(private.staff_hospital_ids())
    or patient_id = (select private.own_patient_id())
);

-- Internal notes are the staff's; the patient reads and writes the rest of their tickets'.
create policy ticket_comments_select on public.ticket_comments
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids())
    or (patient_id = (select private.own_patient_id()) and not is_internal)
);

create policy ticket_comments_insert on public.ticket_comments
for insert to authenticated
with check (
    hospital_id = any(private.staff_hospital_ids())
    or (
        patient_id = (select private.own_patient_id())
        and hospital_id = any(private.patient_hospital_ids())
        and not is_internal
    )
);

create policy ticket_sla_targets_select_staff on public.ticket_sla_targets
for select to authenticated
using (hospital_id = any(private.staff_hospital_ids()));

create policy ticket_sla_targets_insert_admin on public.ticket_sla_targets
for insert to authenticated
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create policy ticket_sla_targets_update_admin on public.ticket_sla_targets
for update to authenticated
using (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')))
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create policy ticket_sla_targets_delete_admin on public.ticket_sla_targets
for delete to authenticated
using (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

-- Status history: the transitions of the subjects the caller can see, tickets now too.
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
        machine = 'ticket'
        and exists (
            select from public.tickets as t
            where t.id = status_history.subject_id
        )
    )
);

comment on table public.tickets is
'Support tickets (seed 001): a patient''s problem the hospital works on. Create with POST '
'(hospital_id, patient_id, title, optional description, category, priority, assigned_to, '
'journey_instance_id); change with PATCH (status along the ticket machine, priority, category, '
'assigned_to: active staff of the hospital only, resolution_notes: required to resolve). Read by '
'the hospital''s staff and by the patient; patients may open tickets at their hospitals but not '
'assign them. SLA: rpc/ticket_sla and rpc/ticket_sla_breaches.';
comment on column public.tickets.status is
'Changed only along state_machine_transitions (machine ticket): open, in_progress, '
'waiting_on_patient (the SLA clock stops), resolved, closed; reopen with a status_reason. Every '
'step is in status_history.';
comment on column public.tickets.status_reason is
'Why the last transition was taken (required to reopen, or to close unresolved).';
comment on column public.tickets.journey_instance_id is 'The patient journey instance the ticket belongs to, if any.';
comment on column public.tickets.category is
'A lower-case code, e.g. prescription, appointment, billing, general.';
comment on column public.tickets.assigned_to is
'The staff member working on it: a user with an active membership at the ticket''s hospital when assigned.';
comment on column public.tickets.resolution_notes is 'How the problem was resolved (required to resolve).';
comment on column public.tickets.created_by is 'Who opened the ticket (the caller, always).';
comment on table public.ticket_comments is
'Comments on a ticket. The hospital''s staff read and write all of them; the patient reads and '
'writes those not internal. A comment by staff that is not internal is the hospital''s first '
'response for the SLA. POST with ticket_id, body and is_internal.';
comment on column public.ticket_comments.hospital_id is 'The ticket''s hospital (filled in).';
comment on column public.ticket_comments.patient_id is 'The ticket''s patient (filled in).';
comment on column public.ticket_comments.author_id is 'Who wrote it (the caller, always).';
comment on column public.ticket_comments.is_internal is 'A note for staff only, hidden from the patient.';
comment on column public.ticket_comments.by_staff is
'Whether the author was staff of the hospital when writing it (filled in).';
comment on table public.ticket_sla_targets is
'A hospital''s SLA per priority, in business minutes of its calendar (hospital_business_hours). '
'Without a row the defaults apply: urgent 60 / 240, high 240 / 960, medium 480 / 2400, low 960 / '
'4800 (first response / resolution). Read by its staff, set by its admins.';
comment on column public.ticket_sla_targets.first_response_minutes is
'Business minutes from opening to the first response (a staff comment to the patient, or any step out of open).';
comment on column public.ticket_sla_targets.resolution_minutes is
'Business minutes of work (open or in_progress; waiting_on_patient does not count) until resolved.';
comment on policy tickets_select on public.tickets is 'The hospital''s staff, and the patient, read a ticket.';
comment on policy tickets_insert on public.tickets is
'The hospital''s staff open tickets for its patients; a patient opens their own, unassigned.';
comment on policy tickets_update on public.tickets is
'The hospital''s staff work on its tickets; the patient reopens or closes their own (guard_ticket).';
comment on policy ticket_comments_select on public.ticket_comments is
'The hospital''s staff read every comment; the patient those not internal.';
comment on policy ticket_comments_insert on public.ticket_comments is
'The hospital''s staff comment on its tickets; the patient on their own, never internal.';
comment on policy ticket_sla_targets_select_staff on public.ticket_sla_targets is 'The hospital''s staff read its SLA.';
comment on policy ticket_sla_targets_insert_admin on public.ticket_sla_targets is 'The hospital''s admins set its SLA.';
comment on policy ticket_sla_targets_update_admin on public.ticket_sla_targets is
'The hospital''s admins change its SLA.';
comment on policy ticket_sla_targets_delete_admin on public.ticket_sla_targets is
'The hospital''s admins go back to the default SLA.';

-- The SLA --------------------------------------------------------------------------------------

-- A hospital's targets for a priority, or the defaults. Security definer: the SLA is computed
-- for the ticket's patient too, who does not read the hospital's settings.
create function private.ticket_sla_target(hospital uuid, priority public.ticket_priority)
returns table (first_response_minutes integer, resolution_minutes integer)
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(t.first_response_minutes, d.first_response_minutes),
        coalesce(t.resolution_minutes, d.resolution_minutes)
    from (
        values
        ('urgent'::public.ticket_priority, 60, 240),
        ('high'::public.ticket_priority, 240, 960),
        ('medium'::public.ticket_priority, 480, 2400),
        ('low'::public.ticket_priority, 960, 4800)
    ) as d (priority, first_response_minutes, resolution_minutes)
    left join public.ticket_sla_targets as t
        on t.hospital_id = ticket_sla_target.hospital and t.priority = d.priority
    where d.priority = ticket_sla_target.priority;
$$;

comment on function private.ticket_sla_target(uuid, public.ticket_priority) is
'The hospital''s SLA for a priority (ticket_sla_targets), or the default.';

-- The SLA of one ticket as of `at`, from its history: the transitions in status_history cut
-- its life into segments; the resolution clock runs in business time through open and
-- in_progress segments only (waiting_on_patient pauses it, resolved and closed stop it, a
-- reopen starts it again where it stopped). The first response is the first step out of open
-- or the first staff comment to the patient, whichever came first. Runs as the caller, who
-- can read the ticket (and so its history and the comments the patient may read).
create function private.ticket_sla(ticket public.tickets, at timestamptz)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    target record;
    step record;
    opened_at timestamptz;
    state_ text;
    since timestamptz;
    responded_at timestamptz;
    resolved_at timestamptz;
    worked numeric := 0;
    piece numeric;
    first_due timestamptz;
    resolution_due timestamptz;
begin
    select * into target from private.ticket_sla_target(ticket.hospital_id, ticket.priority);
    for step in
        select h.from_state, h.to_state, h.occurred_at
        from public.status_history as h
        where h.machine = 'ticket' and h.subject_id = ticket.id and h.occurred_at <= ticket_sla.at
        order by h.occurred_at
    loop
        if state_ is null then
            opened_at := step.occurred_at;
        else
            if state_ in ('open', 'in_progress') then
                piece := private.business_minutes(ticket.hospital_id, since, step.occurred_at);
                if resolution_due is null and worked + piece >= target.resolution_minutes then
                    resolution_due := private.add_business_minutes(
                        ticket.hospital_id, since, target.resolution_minutes - worked
                    );
                end if;
                worked := worked + piece;
            end if;
            if state_ = 'open' and responded_at is null then
                responded_at := step.occurred_at;
            end if;
        end if;
        -- Resolved when it first reached resolved or closed since it last ran.
        if step.to_state not in ('resolved', 'closed') then
            resolved_at := null;
        elsif resolved_at is null then
            resolved_at := step.occurred_at;
        end if;
        state_ := step.to_state;
        since := step.occurred_at;
    end loop;
    if opened_at is null then
        return null;
    end if;

    -- The segment still running at `at`.
    if state_ in ('open', 'in_progress') then
        piece := private.business_minutes(ticket.hospital_id, since, ticket_sla.at);
        if resolution_due is null then
            resolution_due := private.add_business_minutes(ticket.hospital_id, since, target.resolution_minutes - worked);
        end if;
        worked := worked + piece;
    end if;

    responded_at := least(responded_at, (
        select min(c.created_at) from public.ticket_comments as c
        where c.ticket_id = ticket.id and c.by_staff and not c.is_internal and c.created_at <= ticket_sla.at
    ));
    first_due := private.add_business_minutes(ticket.hospital_id, opened_at, target.first_response_minutes);

    return jsonb_build_object(
        'ticket_id', ticket.id,
        'hospital_id', ticket.hospital_id,
        'priority', ticket.priority,
        'status', state_,
        'paused', state_ = 'waiting_on_patient',
        'as_of', ticket_sla.at,
        'opened_at', opened_at,
        'first_response', jsonb_build_object(
            'target_minutes', target.first_response_minutes,
            'elapsed_minutes', round(private.business_minutes(
                ticket.hospital_id, opened_at, coalesce(responded_at, ticket_sla.at)
            ), 1),
            'due_at', first_due,
            'met_at', responded_at,
            'breached', coalesce(responded_at, ticket_sla.at) > first_due
        ),
        'resolution', jsonb_build_object(
            'target_minutes', target.resolution_minutes,
            'elapsed_minutes', round(worked, 1),
            'due_at', resolution_due,
            'met_at', resolved_at,
            'breached', worked > target.resolution_minutes
        )
    );
end;
$$;

comment on function private.ticket_sla(public.tickets, timestamptz) is
'A ticket''s SLA as of a time, computed from its status history and comments in the hospital''s '
'business hours (see rpc/ticket_sla).';

-- GET /rest/v1/rpc/ticket_sla?ticket_id=...
create function public.ticket_sla(ticket_id uuid, at timestamptz default null)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    subject public.tickets;
begin
    select t.* into subject from public.tickets as t where t.id = ticket_sla.ticket_id;
    if subject.id is null then
        perform private.raise_not_found('ticket not found');
    end if;
    return private.ticket_sla(subject, coalesce(ticket_sla.at, clock_timestamp()));
end;
$$;

comment on function public.ticket_sla(uuid, timestamptz) is
'The SLA of a ticket the caller may read, as of `at` (default: now), in the business hours of its '
'hospital: {ticket_id, hospital_id, priority, status, paused (waiting on the patient), opened_at, '
'first_response {target_minutes, elapsed_minutes, due_at, met_at, breached}, resolution '
'{target_minutes, elapsed_minutes (business minutes worked: open and in_progress), due_at (null '
'while paused and not yet breached), met_at (resolved or closed), breached}}. Computed from the '
'ticket''s status history and comments. PT404 for a ticket the caller cannot read.';

-- GET /rest/v1/rpc/ticket_sla_breaches?hospital_id=...: the unresolved tickets past a deadline.
create function public.ticket_sla_breaches(hospital_id uuid default null, at timestamptz default null)
returns table (
    ticket_id uuid,
    hospital_id uuid,
    patient_id uuid,
    title text,
    priority public.ticket_priority,
    status text,
    assigned_to uuid,
    breach text,
    due_at timestamptz,
    elapsed_minutes numeric,
    target_minutes integer
)
language sql
stable
set search_path = ''
as $$
    select s.ticket_id, s.hospital_id, s.patient_id, s.title, s.priority, s.status, s.assigned_to, b.breach,
        (s.sla -> b.breach ->> 'due_at')::timestamptz,
        (s.sla -> b.breach ->> 'elapsed_minutes')::numeric,
        (s.sla -> b.breach ->> 'target_minutes')::integer
    from (
        select t.id as ticket_id, t.hospital_id, t.patient_id, t.title, t.priority, t.status, t.assigned_to,
            private.ticket_sla(t, coalesce(ticket_sla_breaches.at, clock_timestamp())) as sla
        from public.tickets as t
        where t.status in ('open', 'in_progress', 'waiting_on_patient')
            and (ticket_sla_breaches.hospital_id is null or t.hospital_id = ticket_sla_breaches.hospital_id)
    ) as s
    cross join lateral (values ('first_response'), ('resolution')) as b (breach)
    where (s.sla -> b.breach ->> 'breached')::boolean
    order by (s.sla -> b.breach ->> 'due_at')::timestamptz, s.ticket_id, b.breach;
$$;

comment on function public.ticket_sla_breaches(uuid, timestamptz) is
'The SLA breaches of the unresolved tickets (open, in_progress, waiting_on_patient) the caller may '
'read, optionally of one hospital, as of `at` (default: now): one row per breached deadline '
'(breach first_response or resolution) with its due time and the business minutes elapsed, '
'oldest due first.';

grant execute on function private.is_active_staff_at(uuid, uuid) to authenticated, service_role;
grant execute on function private.ticket_sla_target(uuid, public.ticket_priority) to authenticated, service_role;
grant execute on function private.ticket_sla(public.tickets, timestamptz) to authenticated, service_role;
grant execute on function public.ticket_sla(uuid, timestamptz) to authenticated, service_role;
grant execute on function public.ticket_sla_breaches(uuid, timestamptz) to authenticated, service_role;
