-- Journeys (issue 19, item 1; seed 001 Journeys and Journey Instances APIs): a hospital's
-- definitions of how a patient is accompanied between visits (post-surgery recovery, new
-- patient onboarding, an IVF cycle), as ordered stages, and the patients on them.
--
--   * Versioned definitions: a journey's stages and trigger conditions belong to a version.
--     Editing a definition whose latest version has instances makes a new version (a copy,
--     then the edit); an instance is pinned to the version it started on, and its current
--     stage is a stage of that version by foreign key. A version with instances never changes.
--   * A stage says how an instance enters it (trigger_event): manual (rpc/advance_journey_
--     instance), appointment_completed (the patient's appointment at the hospital completes),
--     lab_result_recorded, days_after_previous / days_after_start (wait_days; the pg_cron job
--     carebase-journeys-due advances them every 10 minutes). The first stage is entered when
--     the instance starts. Entering a stage runs its actions: send_template (a message from
--     the hospital's template, rendered by the worker with the patient's and the visit's
--     names and times, consent and the WhatsApp window checked), create_ticket, book_follow_up
--     (a ticket for the front desk to book the visit); each outcome is kept on the stage event.
--   * Instances: a state machine as data (machine journey_instance: active -> completed or
--     cancelled); at most one active instance of a journey per patient (an exclusion
--     constraint); every stage entered is a row of journey_stage_events (when, how, by whom
--     completed, notes, what its actions did). A stage with due_days is overdue when the
--     instance has been in it longer (rpc/journey_overdue_stages).
--   * Definitions are the hospital's admins' and CROs'; instances are started and advanced
--     by its staff; the patient reads their own instances.

create table public.journeys (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id),
    name text not null,
    description text,
    journey_type text not null default 'general',
    is_default boolean not null default false,
    is_active boolean not null default true,
    created_by uuid default auth.uid() references public.profiles (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint journeys_id_hospital_key unique (id, hospital_id),
    constraint journeys_name_length check (length(btrim(name)) between 1 and 200),
    constraint journeys_description_length check (length(description) <= 4000),
    constraint journeys_type_format check (journey_type ~ '^[a-z][a-z_]{0,39}$')
);

create index journeys_hospital_idx on public.journeys (hospital_id, journey_type);
create index journeys_created_by_idx on public.journeys (created_by);

create table public.journey_versions (
    id uuid primary key default gen_random_uuid(),
    journey_id uuid not null,
    hospital_id uuid not null,
    version integer not null,
    trigger_conditions jsonb not null default '{}',
    created_by uuid default auth.uid() references public.profiles (id) on delete set null,
    created_at timestamptz not null default clock_timestamp(),
    constraint journey_versions_journey_fkey foreign key (journey_id, hospital_id)
    references public.journeys (id, hospital_id) on delete cascade,
    constraint journey_versions_once unique (journey_id, version),
    constraint journey_versions_id_journey_hospital_key unique (id, journey_id, hospital_id),
    constraint journey_versions_positive check (version > 0),
    constraint journey_versions_conditions_object check (jsonb_typeof(trigger_conditions) = 'object')
);

create index journey_versions_journey_idx on public.journey_versions (journey_id, hospital_id);
create index journey_versions_created_by_idx on public.journey_versions (created_by);

-- Whether a stage's actions are well formed: an array of {type: send_template (template_code,
-- channel), create_ticket (title; priority, category), book_follow_up (days)}.
create function private.journey_actions_valid(actions jsonb)
returns boolean
language sql
immutable
set search_path = ''
as $$
    select jsonb_typeof(actions) = 'array' and jsonb_array_length(actions) <= 10 and not exists (
        select from jsonb_array_elements(actions) as a (action)
        where jsonb_typeof(a.action) <> 'object'
            or not case a.action ->> 'type'
                when 'send_template' then
                    coalesce(a.action ->> 'template_code', '') ~ '^[a-z][a-z0-9_]{0,62}$'
                    and coalesce(a.action ->> 'channel', '') in ('whatsapp', 'sms', 'email')
                when 'create_ticket' then
                    length(btrim(coalesce(a.action ->> 'title', ''))) between 1 and 200
                    and coalesce(a.action ->> 'priority', 'medium') in ('low', 'medium', 'high', 'urgent')
                    and coalesce(a.action ->> 'category', 'journey') ~ '^[a-z][a-z_]{0,39}$'
                when 'book_follow_up' then
                    coalesce(a.action ->> 'days', '0') ~ '^[0-9]{1,4}$'
                else false
            end
    );
$$;

comment on function private.journey_actions_valid(jsonb) is
'Whether a stage''s actions are an array of send_template {template_code, channel}, create_ticket '
'{title, priority, category} and book_follow_up {days} objects.';

create table public.journey_stages (
    id uuid primary key default gen_random_uuid(),
    journey_version_id uuid not null,
    journey_id uuid not null,
    hospital_id uuid not null,
    position integer not null,
    name text not null,
    description text,
    trigger_event text not null default 'manual',
    wait_days integer,
    due_days integer,
    actions jsonb not null default '[]',
    created_at timestamptz not null default clock_timestamp(),
    constraint journey_stages_version_fkey foreign key (journey_version_id, journey_id, hospital_id)
    references public.journey_versions (id, journey_id, hospital_id) on delete cascade,
    constraint journey_stages_position_once unique (journey_version_id, position),
    constraint journey_stages_id_version_hospital_key unique (id, journey_version_id, hospital_id),
    constraint journey_stages_position_positive check (position > 0),
    constraint journey_stages_name_length check (length(btrim(name)) between 1 and 200),
    constraint journey_stages_trigger_known check (
        trigger_event in (
            'manual', 'appointment_completed', 'lab_result_recorded', 'days_after_previous', 'days_after_start'
        )
    ),
    constraint journey_stages_wait_for_days check (
        (trigger_event like 'days_after_%') = (wait_days is not null)
    ),
    constraint journey_stages_days_range check (wait_days between 0 and 3650 and due_days between 0 and 3650),
    constraint journey_stages_actions_valid check (private.journey_actions_valid(actions))
);

create index journey_stages_version_idx on public.journey_stages (journey_version_id, journey_id, hospital_id);

create table public.journey_instances (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null,
    patient_id uuid not null,
    journey_id uuid not null,
    journey_version_id uuid not null,
    appointment_id uuid,
    encounter_id uuid,
    context jsonb not null default '{}',
    status text not null default 'active',
    status_reason text,
    status_changed_at timestamptz not null default now(),
    current_stage_id uuid,
    stage_entered_at timestamptz,
    started_by uuid default auth.uid() references public.profiles (id) on delete set null,
    created_at timestamptz not null default clock_timestamp(),
    updated_at timestamptz not null default now(),
    completed_at timestamptz,
    constraint journey_instances_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict,
    constraint journey_instances_version_fkey foreign key (journey_version_id, journey_id, hospital_id)
    references public.journey_versions (id, journey_id, hospital_id) on delete restrict,
    -- The current stage is a stage of the version the instance is pinned to.
    constraint journey_instances_stage_of_version_fkey foreign key (current_stage_id, journey_version_id, hospital_id)
    references public.journey_stages (id, journey_version_id, hospital_id) on delete restrict,
    constraint journey_instances_appointment_same_patient_fkey foreign key (appointment_id, patient_id, hospital_id)
    references public.appointments (id, patient_id, hospital_id) on delete restrict,
    constraint journey_instances_encounter_same_patient_fkey foreign key (encounter_id, patient_id, hospital_id)
    references public.encounters (id, patient_id, hospital_id) on delete restrict,
    constraint journey_instances_id_patient_hospital_key unique (id, patient_id, hospital_id),
    constraint journey_instances_context_object check (jsonb_typeof(context) = 'object'),
    -- At most one active instance of a journey per patient.
    constraint journey_instances_one_active exclude using btree (
        patient_id with =, journey_id with =
    ) where (status = 'active')
);

create index journey_instances_registration_idx on public.journey_instances (patient_id, hospital_id);
create index journey_instances_hospital_status_idx on public.journey_instances (hospital_id, status, journey_id);
create index journey_instances_version_idx on public.journey_instances (journey_version_id, journey_id, hospital_id);
create index journey_instances_stage_idx on public.journey_instances (
    current_stage_id, journey_version_id, hospital_id
);
create index journey_instances_appointment_idx on public.journey_instances (appointment_id, patient_id, hospital_id);
create index journey_instances_encounter_idx on public.journey_instances (encounter_id, patient_id, hospital_id);
create index journey_instances_started_by_idx on public.journey_instances (started_by);

create table public.journey_stage_events (
    id uuid primary key default gen_random_uuid(),
    instance_id uuid not null,
    hospital_id uuid not null,
    patient_id uuid not null,
    stage_id uuid not null references public.journey_stages (id) on delete restrict,
    entered_at timestamptz not null default clock_timestamp(),
    entered_by_event text not null,
    completed_at timestamptz,
    completed_by uuid references public.profiles (id) on delete set null,
    notes text,
    actions_done jsonb not null default '[]',
    constraint journey_stage_events_instance_fkey foreign key (instance_id, patient_id, hospital_id)
    references public.journey_instances (id, patient_id, hospital_id) on delete cascade,
    constraint journey_stage_events_notes_length check (length(notes) <= 4000)
);

create index journey_stage_events_instance_idx on public.journey_stage_events (
    instance_id, patient_id, hospital_id, entered_at
);
create index journey_stage_events_stage_idx on public.journey_stage_events (stage_id);
create index journey_stage_events_completed_by_idx on public.journey_stage_events (completed_by);

-- Tickets and messages of a journey belong to one of the same patient at the same hospital.
alter table public.tickets add constraint tickets_journey_instance_same_patient_fkey
foreign key (journey_instance_id, patient_id, hospital_id)
references public.journey_instances (id, patient_id, hospital_id) on delete restrict;
drop index public.tickets_journey_instance_idx;
create index tickets_journey_instance_idx on public.tickets (journey_instance_id, patient_id, hospital_id);
alter table public.messages add constraint messages_journey_instance_same_patient_fkey
foreign key (journey_instance_id, patient_id, hospital_id)
references public.journey_instances (id, patient_id, hospital_id) on delete restrict;
drop index public.messages_journey_instance_idx;
create index messages_journey_instance_idx on public.messages (journey_instance_id, patient_id, hospital_id);

-- The journey instance machine -------------------------------------------------------------------
insert into private.state_machine_states (machine, state, label, position, is_terminal)
values
('journey_instance', 'active', 'Active', 1, false),
('journey_instance', 'completed', 'Completed', 2, true),
('journey_instance', 'cancelled', 'Cancelled', 3, true);

insert into private.state_transitions (machine, from_state, to_state, roles, requires_reason, description)
values
(
    'journey_instance', null, 'active', '{front_desk,cro,hospital_admin,nurse,doctor}', false,
    'the patient starts the journey'
),
(
    'journey_instance', 'active', 'completed', '{front_desk,cro,hospital_admin,nurse,doctor}', false,
    'the last stage was completed'
),
(
    'journey_instance', 'active', 'cancelled', '{front_desk,cro,hospital_admin,nurse,doctor}', true,
    'the patient leaves the journey'
);

create trigger journey_instances_state_machine
before insert or update of status on public.journey_instances
for each row execute function private.enforce_state_machine('journey_instance');

-- A version that has instances never changes (they are pinned to it).
create function private.guard_journey_version_frozen()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    version_id uuid := case when tg_table_name = 'journey_versions' then old.id else old.journey_version_id end;
begin
    if exists (select from public.journey_instances as i where i.journey_version_id = version_id) then
        perform private.raise_conflict(
            'a journey version with instances does not change', 'journey_version_frozen',
            'edit the journey: the edit makes a new version'
        );
    end if;
    return case when tg_op = 'DELETE' then old else new end;
end;
$$;

comment on function private.guard_journey_version_frozen() is
'Trigger: refuses changing or removing a journey version (or its stages) that instances are pinned to.';

create trigger journey_versions_frozen
before update or delete on public.journey_versions
for each row execute function private.guard_journey_version_frozen();

create trigger journey_stages_frozen
before update or delete on public.journey_stages
for each row execute function private.guard_journey_version_frozen();

create trigger journeys_set_updated_at
before update on public.journeys
for each row execute function private.set_updated_at();

create trigger journey_instances_set_updated_at
before update on public.journey_instances
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.journeys
for each row execute function private.audit_row_change('');

create trigger audit_row_change
after insert or update or delete on public.journey_versions
for each row execute function private.audit_row_change('');

create trigger audit_row_change
after insert or update or delete on public.journey_stages
for each row execute function private.audit_row_change('');

create trigger audit_row_change
after insert or update or delete on public.journey_instances
for each row execute function private.audit_row_change('patient_id');

create trigger audit_row_change
after insert or update or delete on public.journey_stage_events
for each row execute function private.audit_row_change('patient_id');

create trigger refuse_merged_patient
before insert or update on public.journey_instances
for each row execute function private.refuse_merged_patient('patient_id');

create trigger refuse_merged_patient
before insert or update on public.journey_stage_events
for each row execute function private.refuse_merged_patient('patient_id');

-- Row-level security ----------------------------------------------------------------------------------
alter table public.journeys enable row level security;
alter table public.journey_versions enable row level security;
alter table public.journey_stages enable row level security;
alter table public.journey_instances enable row level security;
alter table public.journey_stage_events enable row level security;

revoke all on public.journeys, public.journey_versions, public.journey_stages, public.journey_instances,
public.journey_stage_events from anon, authenticated, service_role;
-- Written only through the RPCs below, which check the caller's reach.
grant select on public.journeys, public.journey_versions, public.journey_stages, public.journey_instances,
public.journey_stage_events to authenticated, service_role;

create policy journeys_select_staff on public.journeys
for select to authenticated
using (hospital_id = any(private.staff_hospital_ids()));

create policy journey_versions_select_staff on public.journey_versions
for select to authenticated
using (hospital_id = any(private.staff_hospital_ids()));

create policy journey_stages_select_staff on public.journey_stages
for select to authenticated
using (hospital_id = any(private.staff_hospital_ids()));

create policy journey_instances_select on public.journey_instances
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids())
    or patient_id = (select private.own_patient_id())
);

create policy journey_stage_events_select on public.journey_stage_events
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids())
    or patient_id = (select private.own_patient_id())
);

-- Status history: journey instances too.
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
    or (
        machine = 'message'
        and exists (
            select from public.messages as m
            where m.id = status_history.subject_id
        )
    )
    or (
        machine = 'journey_instance'
        and exists (
            select from public.journey_instances as j
            where j.id = status_history.subject_id
        )
    )
);

comment on table public.journeys is
'Journey definitions of a hospital (seed 001): name, journey_type (post_procedure, onboarding, '
'ivf_cycle...), is_default, is_active. Their stages and trigger conditions are in versions '
'(journey_versions, journey_stages; rpc/journey gives the current one). Created and edited with '
'rpc/create_journey, rpc/update_journey, rpc/add_journey_stage, rpc/update_journey_stage by the '
'hospital''s admins and CROs; read by its staff.';
comment on column public.journeys.journey_type is
'A lower-case code: post_procedure, onboarding, ivf_cycle, general...';
comment on column public.journeys.is_default is 'Offered first for its type.';
comment on table public.journey_versions is
'Versions of a journey: editing a journey whose latest version has instances makes a new one; '
'instances stay on theirs. A version with instances never changes.';
comment on column public.journey_versions.trigger_conditions is
'When the journey applies (free-form, for the hospital''s staff).';
comment on table public.journey_stages is
'The ordered stages of a journey version. trigger_event says how an instance enters the stage: '
'manual (rpc/advance_journey_instance), appointment_completed, lab_result_recorded, '
'days_after_previous or days_after_start (wait_days). actions run on entering it. due_days: '
'overdue when an instance stays in the stage longer.';
comment on column public.journey_stages.position is 'The order, from 1 (the stage an instance starts in).';
comment on column public.journey_stages.actions is
'Run when an instance enters the stage: [{"type": "send_template", "template_code", "channel"}, '
'{"type": "create_ticket", "title", "priority", "category"}, {"type": "book_follow_up", "days"}].';
comment on table public.journey_instances is
'A patient on a journey (seed 001 instances), pinned to the version they started on, at one '
'stage of it at a time. Started with rpc/start_journey_instance, moved with '
'rpc/advance_journey_instance (and automatically by trigger events), cancelled with '
'rpc/cancel_journey_instance; rpc/journey_instance gives it with its stages. At most one active '
'instance of a journey per patient. Read by the hospital''s staff and the patient.';
comment on column public.journey_instances.status is
'Changed only along state_machine_transitions (machine journey_instance): active, completed, '
'cancelled. Every step is in status_history.';
comment on column public.journey_instances.status_reason is 'Why it was cancelled.';
comment on column public.journey_instances.context is
'Values for the journey''s messages (text values; e.g. {"procedure_date": "5 Jan"}).';
comment on column public.journey_instances.current_stage_id is
'The stage the patient is in (null once completed or cancelled).';
comment on column public.journey_instances.stage_entered_at is 'When the patient entered the current stage.';
comment on table public.journey_stage_events is
'Every stage a journey instance entered: when and how (start, manual, appointment_completed...), '
'when it was completed, by whom, with what notes, and what its actions did.';
comment on column public.journey_stage_events.actions_done is
'One outcome per action: {type, outcome: done | skipped | failed, message_id / ticket_id, reason}.';
comment on policy journeys_select_staff on public.journeys is 'The hospital''s staff read its journeys.';
comment on policy journey_versions_select_staff on public.journey_versions is 'The hospital''s staff read them.';
comment on policy journey_stages_select_staff on public.journey_stages is 'The hospital''s staff read them.';
comment on policy journey_instances_select on public.journey_instances is
'The hospital''s staff read its instances; the patient their own.';
comment on policy journey_stage_events_select on public.journey_stage_events is
'The hospital''s staff read them; the patient their own.';

-- Definitions -------------------------------------------------------------------------------------------

-- The caller may manage the hospital's journeys (its admins and CROs; the system).
create function private.require_journey_office(hospital uuid)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
    if not private.acting_as_system()
        and not coalesce(hospital = any(private.staff_hospital_ids('{hospital_admin,cro}')), false) then
        perform private.raise_not_found('journey not found');
    end if;
end;
$$;

comment on function private.require_journey_office(uuid) is
'Refuses (PT404, as for a journey that does not exist) anyone but the hospital''s admins and CROs.';

-- The version an edit of a journey applies to: its latest version, or a new copy of it when
-- instances are pinned to the latest one.
create function private.journey_version_for_edit(journey uuid)
returns public.journey_versions
language plpgsql
volatile
set search_path = ''
as $$
declare
    latest public.journey_versions;
    copy public.journey_versions;
begin
    select v.* into latest
    from public.journey_versions as v
    where v.journey_id = journey_version_for_edit.journey
    order by v.version desc
    limit 1
    for update;
    if not exists (select from public.journey_instances as i where i.journey_version_id = latest.id) then
        return latest;
    end if;
    insert into public.journey_versions (journey_id, hospital_id, version, trigger_conditions)
    values (latest.journey_id, latest.hospital_id, latest.version + 1, latest.trigger_conditions)
    returning * into copy;
    insert into public.journey_stages (
        journey_version_id, journey_id, hospital_id, position, name, description, trigger_event, wait_days,
        due_days, actions
    )
    select copy.id, s.journey_id, s.hospital_id, s.position, s.name, s.description, s.trigger_event, s.wait_days,
        s.due_days, s.actions
    from public.journey_stages as s
    where s.journey_version_id = latest.id;
    return copy;
end;
$$;

comment on function private.journey_version_for_edit(uuid) is
'The version a journey edit goes to: the latest, or a new copy of it when instances are pinned to it.';

-- Adds one stage from its JSON (seed 001's stage shape; order_index or position).
create function private.insert_journey_stage(version public.journey_versions, stage jsonb, at_position integer)
returns public.journey_stages
language plpgsql
volatile
set search_path = ''
as $$
declare
    made public.journey_stages;
begin
    if jsonb_typeof(stage) is distinct from 'object' then
        perform private.raise_invalid('a stage is an object', 'stage_malformed');
    end if;
    insert into public.journey_stages (
        journey_version_id, journey_id, hospital_id, position, name, description, trigger_event, wait_days,
        due_days, actions
    )
    values (
        version.id, version.journey_id, version.hospital_id, at_position, stage ->> 'name', stage ->> 'description',
        coalesce(stage ->> 'trigger_event', 'manual'), (stage ->> 'wait_days')::integer,
        (stage ->> 'due_days')::integer, coalesce(stage -> 'actions', '[]')
    )
    returning * into made;
    return made;
exception
    when check_violation or not_null_violation or invalid_text_representation then
        perform private.raise_invalid(
            format('the stage is not valid: %s', sqlerrm), 'stage_invalid',
            'name; trigger_event manual, appointment_completed, lab_result_recorded, days_after_previous or '
            || 'days_after_start (with wait_days); due_days; actions (see journey_stages.actions)'
        );
end;
$$;

comment on function private.insert_journey_stage(public.journey_versions, jsonb, integer) is
'Adds a stage (its JSON: name, description, trigger_event, wait_days, due_days, actions) to a version.';

-- The journey with its current version and stages, as jsonb.
create function private.journey_json(journey uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select to_jsonb(j) || jsonb_build_object(
        'version', v.version,
        'journey_version_id', v.id,
        'trigger_conditions', v.trigger_conditions,
        'stages', coalesce((
            select jsonb_agg(to_jsonb(s) order by s.position)
            from public.journey_stages as s where s.journey_version_id = v.id
        ), '[]'),
        'instances', jsonb_build_object(
            'active', (select count(*) from public.journey_instances as i where i.journey_id = j.id and i.status = 'active'),
            'total', (select count(*) from public.journey_instances as i where i.journey_id = j.id)
        )
    )
    from public.journeys as j
    cross join lateral (
        select x.* from public.journey_versions as x where x.journey_id = j.id order by x.version desc limit 1
    ) as v
    where j.id = journey_json.journey;
$$;

comment on function private.journey_json(uuid) is 'A journey with its current version''s stages.';

-- Security definer: journeys are written only here; the caller's reach is checked first.
create function private.create_journey(
    hospital_id uuid, name text, journey_type text, description text, is_default boolean,
    trigger_conditions jsonb, stages jsonb
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    made public.journeys;
    version public.journey_versions;
    stage jsonb;
    n integer := 0;
begin
    perform private.require_journey_office(create_journey.hospital_id);
    if jsonb_typeof(coalesce(stages, '[]')) <> 'array' then
        perform private.raise_invalid('stages is an array', 'stages_malformed');
    end if;
    insert into public.journeys (hospital_id, name, journey_type, description, is_default)
    values (
        create_journey.hospital_id, create_journey.name, coalesce(create_journey.journey_type, 'general'),
        create_journey.description, coalesce(create_journey.is_default, false)
    )
    returning * into made;
    insert into public.journey_versions (journey_id, hospital_id, version, trigger_conditions)
    values (made.id, made.hospital_id, 1, coalesce(create_journey.trigger_conditions, '{}'))
    returning * into version;
    for stage in
        select s.value from jsonb_array_elements(coalesce(stages, '[]')) with ordinality as s (value, n)
        order by coalesce((s.value ->> 'order_index')::integer, (s.value ->> 'position')::integer, s.n::integer), s.n
    loop
        n := n + 1;
        perform private.insert_journey_stage(version, stage, n);
    end loop;
    return private.journey_json(made.id);
exception
    when check_violation or not_null_violation then
        perform private.raise_invalid(format('the journey is not valid: %s', sqlerrm), 'journey_invalid');
end;
$$;

comment on function private.create_journey(uuid, text, text, text, boolean, jsonb, jsonb) is
'Creates a journey, its version 1 and its stages (admins and CROs of the hospital).';

create function public.create_journey(
    hospital_id uuid,
    name text,
    journey_type text default 'general',
    description text default null,
    is_default boolean default false,
    trigger_conditions jsonb default '{}',
    stages jsonb default '[]'
)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.create_journey(
        create_journey.hospital_id, create_journey.name, create_journey.journey_type, create_journey.description,
        create_journey.is_default, create_journey.trigger_conditions, create_journey.stages
    );
$$;

comment on function public.create_journey(uuid, text, text, text, boolean, jsonb, jsonb) is
'Creates a journey (seed 001 POST /journeys) with its stages, in order of order_index: [{name, '
'description, trigger_event, wait_days, due_days, actions}]. The hospital''s admins and CROs; '
'PT404 for anyone else. Answers the journey as rpc/journey does.';

create function private.update_journey(
    journey_id uuid, name text, journey_type text, description text, is_default boolean, is_active boolean,
    trigger_conditions jsonb
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    found_journey public.journeys;
    version public.journey_versions;
begin
    select j.* into found_journey from public.journeys as j where j.id = update_journey.journey_id for update;
    if found_journey.id is null then
        perform private.raise_not_found('journey not found');
    end if;
    perform private.require_journey_office(found_journey.hospital_id);
    update public.journeys as j
    set name = coalesce(update_journey.name, j.name),
        journey_type = coalesce(update_journey.journey_type, j.journey_type),
        description = coalesce(update_journey.description, j.description),
        is_default = coalesce(update_journey.is_default, j.is_default),
        is_active = coalesce(update_journey.is_active, j.is_active)
    where j.id = found_journey.id;
    if update_journey.trigger_conditions is not null then
        version := private.journey_version_for_edit(found_journey.id);
        if version.trigger_conditions is distinct from update_journey.trigger_conditions then
            update public.journey_versions as v set trigger_conditions = update_journey.trigger_conditions
            where v.id = version.id;
        end if;
    end if;
    return private.journey_json(found_journey.id);
exception
    when check_violation then
        perform private.raise_invalid(format('the journey is not valid: %s', sqlerrm), 'journey_invalid');
end;
$$;

comment on function private.update_journey(uuid, text, text, text, boolean, boolean, jsonb) is
'Changes a journey; new trigger conditions go to a new version when instances use the current one.';

create function public.update_journey(
    journey_id uuid,
    name text default null,
    journey_type text default null,
    description text default null,
    is_default boolean default null,
    is_active boolean default null,
    trigger_conditions jsonb default null
)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.update_journey(
        update_journey.journey_id, update_journey.name, update_journey.journey_type, update_journey.description,
        update_journey.is_default, update_journey.is_active, update_journey.trigger_conditions
    );
$$;

comment on function public.update_journey(uuid, text, text, text, boolean, boolean, jsonb) is
'Changes a journey (seed 001 PATCH /journeys/{id}); arguments left out stay. New trigger '
'conditions make a new version when instances are on the current one. An inactive journey starts '
'no new instance. PT404 for anyone but the hospital''s admins and CROs.';

create function private.add_journey_stage(journey_id uuid, stage jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    found_journey public.journeys;
    version public.journey_versions;
    at_position integer;
    last_position integer;
begin
    select j.* into found_journey from public.journeys as j where j.id = add_journey_stage.journey_id for update;
    if found_journey.id is null then
        perform private.raise_not_found('journey not found');
    end if;
    perform private.require_journey_office(found_journey.hospital_id);
    version := private.journey_version_for_edit(found_journey.id);
    select coalesce(max(s.position), 0) into last_position
    from public.journey_stages as s where s.journey_version_id = version.id;
    at_position := least(
        greatest(coalesce((stage ->> 'order_index')::integer, (stage ->> 'position')::integer, last_position + 1), 1),
        last_position + 1
    );
    -- Make room (from the end, so that no two stages share a position meanwhile).
    update public.journey_stages as s set position = s.position + 1000
    where s.journey_version_id = version.id and s.position >= at_position;
    update public.journey_stages as s set position = s.position - 999
    where s.journey_version_id = version.id and s.position >= at_position + 1000;
    return to_jsonb(private.insert_journey_stage(version, stage, at_position))
        || jsonb_build_object('version', version.version);
end;
$$;

comment on function private.add_journey_stage(uuid, jsonb) is
'Adds a stage to a journey at a position (default: last), in a new version when instances use the current one.';

create function public.add_journey_stage(journey_id uuid, stage jsonb)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.add_journey_stage(add_journey_stage.journey_id, add_journey_stage.stage);
$$;

comment on function public.add_journey_stage(uuid, jsonb) is
'Adds a stage to a journey (seed 001 POST /journeys/{id}/stages): {name, order_index (default: '
'last), description, trigger_event, wait_days, due_days, actions}. When instances are on the '
'current version the stage goes to a new version (a copy of it); running instances keep theirs. '
'Answers the stage with the version it is in.';

create function private.update_journey_stage(stage_id uuid, changes jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    old_stage public.journey_stages;
    version public.journey_versions;
    target public.journey_stages;
begin
    select s.* into old_stage from public.journey_stages as s where s.id = update_journey_stage.stage_id;
    if old_stage.id is null then
        perform private.raise_not_found('stage not found');
    end if;
    perform private.require_journey_office(old_stage.hospital_id);
    perform from public.journeys as j where j.id = old_stage.journey_id for update;
    if exists (
        select from public.journey_versions as v
        where v.journey_id = old_stage.journey_id
            and v.version > (select x.version from public.journey_versions as x where x.id = old_stage.journey_version_id)
    ) then
        perform private.raise_conflict(
            'the stage is of an older version of the journey', 'stage_of_old_version', 'edit the current version''s stage'
        );
    end if;
    version := private.journey_version_for_edit(old_stage.journey_id);
    select s.* into target from public.journey_stages as s
    where s.journey_version_id = version.id and s.position = old_stage.position;
    update public.journey_stages as s
    set name = coalesce(changes ->> 'name', s.name),
        description = coalesce(changes ->> 'description', s.description),
        trigger_event = coalesce(changes ->> 'trigger_event', s.trigger_event),
        wait_days = case when changes ? 'wait_days' then (changes ->> 'wait_days')::integer else s.wait_days end,
        due_days = case when changes ? 'due_days' then (changes ->> 'due_days')::integer else s.due_days end,
        actions = coalesce(changes -> 'actions', s.actions)
    where s.id = target.id
    returning * into target;
    return to_jsonb(target) || jsonb_build_object('version', version.version);
exception
    when check_violation or invalid_text_representation then
        perform private.raise_invalid(format('the stage is not valid: %s', sqlerrm), 'stage_invalid');
end;
$$;

comment on function private.update_journey_stage(uuid, jsonb) is
'Changes a stage of a journey''s current version, in a new version when instances use it.';

create function public.update_journey_stage(stage_id uuid, changes jsonb)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.update_journey_stage(update_journey_stage.stage_id, update_journey_stage.changes);
$$;

comment on function public.update_journey_stage(uuid, jsonb) is
'Changes a stage (seed 001 PATCH /journeys/{id}/stages/{stage_id}): changes {name, description, '
'trigger_event, wait_days, due_days, actions}. When instances are on the stage''s version the '
'change goes to a new version and the answer is the new version''s stage (a new id). PT409 '
'stage_of_old_version for a stage a newer version replaced.';

-- GET /journeys/{id}
create function public.journey(journey_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    answer jsonb;
begin
    if not exists (select from public.journeys as j where j.id = journey.journey_id) then
        perform private.raise_not_found('journey not found');
    end if;
    answer := private.journey_json(journey.journey_id);
    return answer;
end;
$$;

comment on function public.journey(uuid) is
'A journey with its current version, trigger conditions, ordered stages and instance counts (seed '
'001 GET /journeys/{id}), for the hospital''s staff; PT404 otherwise.';

-- Instances -----------------------------------------------------------------------------------------------

-- What a journey's messages may say: names and times, never clinical content. Instance
-- context values (text) come first, then the facts carebase knows.
create function private.journey_message_values(instance public.journey_instances, stage_name text)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select coalesce((
        select jsonb_object_agg(c.key, c.value) from jsonb_each(instance.context) as c
        where jsonb_typeof(c.value) in ('string', 'number', 'boolean')
    ), '{}') || jsonb_strip_nulls(jsonb_build_object(
        'patient_name', p.full_name,
        'hospital_name', h.name,
        'journey_name', j.name,
        'stage_name', journey_message_values.stage_name,
        'appointment_date', to_char(a.starts_at at time zone h.time_zone, 'DD Mon YYYY'),
        'appointment_time', to_char(a.starts_at at time zone h.time_zone, 'HH24:MI'),
        'practitioner_name', pr.full_name
    ))
    from public.patients as p
    join public.hospitals as h on h.id = instance.hospital_id
    join public.journeys as j on j.id = instance.journey_id
    left join public.appointments as a on a.id = instance.appointment_id
    left join public.doctors as d on d.id = a.doctor_id
    left join public.profiles as pr on pr.id = d.user_id
    where p.id = instance.patient_id;
$$;

comment on function private.journey_message_values(public.journey_instances, text) is
'The values a journey''s message templates may use: the instance context, patient_name, '
'hospital_name, journey_name, stage_name, appointment_date, appointment_time, practitioner_name.';

-- Runs one stage action for an instance; its outcome, never an error (a stage is entered even
-- when a message cannot go).
create function private.run_journey_action(instance public.journey_instances, stage public.journey_stages, action jsonb)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    template public.message_templates;
    sent public.messages;
    ticket uuid;
    values_ jsonb;
    failure_detail text;
begin
    case action ->> 'type'
        when 'send_template' then
            select t.* into template from public.message_templates as t
            where t.hospital_id = instance.hospital_id and t.code = action ->> 'template_code'
                and t.channel = (action ->> 'channel')::public.message_channel and t.is_active;
            if template.id is null then
                return action || jsonb_build_object('outcome', 'skipped', 'reason', 'template_not_found');
            end if;
            values_ := private.journey_message_values(instance, stage.name);
            sent := private.send_message(
                instance.patient_id, template.channel, null, null, instance.hospital_id, template.id,
                coalesce((
                    select jsonb_object_agg(v.name, values_ -> v.name)
                    from unnest(template.variables) as v (name) where values_ ? v.name
                ), '{}'),
                null, instance.id
            );
            return action || jsonb_build_object('outcome', 'done', 'message_id', sent.id);
        when 'create_ticket', 'book_follow_up' then
            insert into public.tickets (hospital_id, patient_id, journey_instance_id, title, category, priority)
            values (
                instance.hospital_id, instance.patient_id, instance.id,
                case when action ->> 'type' = 'book_follow_up'
                    then format('Book a follow-up visit in %s days (%s)', coalesce(action ->> 'days', '0'), stage.name)
                    else action ->> 'title'
                end,
                case when action ->> 'type' = 'book_follow_up' then 'appointment' else coalesce(action ->> 'category', 'journey') end,
                coalesce(action ->> 'priority', 'medium')::public.ticket_priority
            )
            returning id into ticket;
            return action || jsonb_build_object('outcome', 'done', 'ticket_id', ticket);
        else
            return action || jsonb_build_object('outcome', 'skipped', 'reason', 'unknown_action');
    end case;
exception
    when others then
        get stacked diagnostics failure_detail = pg_exception_detail;
        return action || jsonb_build_object(
            'outcome', 'skipped', 'reason', coalesce(nullif(failure_detail, ''), 'failed'), 'message', sqlerrm
        );
end;
$$;

comment on function private.run_journey_action(public.journey_instances, public.journey_stages, jsonb) is
'Runs a stage action (send_template, create_ticket, book_follow_up) and answers its outcome; a '
'refusal (consent withdrawn, the WhatsApp window, no template) is an outcome, not an error.';

-- Puts an instance into a stage (recorded as a stage event) and runs the stage's actions.
create function private.enter_journey_stage(instance_id uuid, stage public.journey_stages, how text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    instance public.journey_instances;
    event_id uuid;
    done jsonb := '[]';
    action jsonb;
begin
    update public.journey_instances as i
    set current_stage_id = stage.id, stage_entered_at = clock_timestamp()
    where i.id = enter_journey_stage.instance_id
    returning * into instance;
    insert into public.journey_stage_events (instance_id, hospital_id, patient_id, stage_id, entered_by_event)
    values (instance.id, instance.hospital_id, instance.patient_id, stage.id, how)
    returning id into event_id;
    for action in select a.value from jsonb_array_elements(stage.actions) as a (value) loop
        done := done || jsonb_build_array(private.run_journey_action(instance, stage, action));
    end loop;
    if jsonb_array_length(done) > 0 then
        update public.journey_stage_events as e set actions_done = done where e.id = event_id;
    end if;
end;
$$;

comment on function private.enter_journey_stage(uuid, public.journey_stages, text) is
'Moves an instance into a stage: recorded in journey_stage_events, with what its actions did.';

-- Completes the current stage and enters the next one (or completes the instance), as `how`.
create function private.advance_journey(instance_id uuid, notes text, how text)
returns public.journey_instances
language plpgsql
volatile
set search_path = ''
as $$
declare
    instance public.journey_instances;
    current_position integer;
    next_stage public.journey_stages;
begin
    select i.* into instance from public.journey_instances as i where i.id = advance_journey.instance_id for update;
    if instance.status <> 'active' then
        perform private.raise_conflict(
            format('the journey is %s', instance.status), 'journey_not_active', 'only an active journey moves on'
        );
    end if;
    update public.journey_stage_events as e
    set completed_at = clock_timestamp(), completed_by = (select auth.uid()), notes = advance_journey.notes
    where e.instance_id = instance.id and e.stage_id = instance.current_stage_id and e.completed_at is null;
    select s.position into current_position from public.journey_stages as s where s.id = instance.current_stage_id;
    select s.* into next_stage from public.journey_stages as s
    where s.journey_version_id = instance.journey_version_id and s.position > current_position
    order by s.position
    limit 1;
    if next_stage.id is null then
        update public.journey_instances as i
        set status = 'completed', current_stage_id = null, stage_entered_at = null, completed_at = clock_timestamp()
        where i.id = instance.id;
    else
        perform private.enter_journey_stage(instance.id, next_stage, how);
    end if;
    select i.* into instance from public.journey_instances as i where i.id = advance_journey.instance_id;
    return instance;
end;
$$;

comment on function private.advance_journey(uuid, text, text) is
'Completes an instance''s current stage (with notes) and enters the next, or completes the instance.';

-- The caller works on the hospital's journeys (its staff but pharmacists; the system).
create function private.require_journey_staff(hospital uuid)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
    if not private.acting_as_system()
        and not coalesce(hospital = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin,nurse,doctor}')), false) then
        perform private.raise_not_found('journey instance not found');
    end if;
end;
$$;

comment on function private.require_journey_staff(uuid) is
'Refuses (PT404) anyone but the hospital''s front desk, CROs, admins, nurses and doctors.';

create function private.start_journey_instance(
    journey_id uuid, patient_id uuid, appointment_id uuid, encounter_id uuid, context jsonb
)
returns public.journey_instances
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    found_journey public.journeys;
    version public.journey_versions;
    first_stage public.journey_stages;
    made public.journey_instances;
begin
    select j.* into found_journey from public.journeys as j where j.id = start_journey_instance.journey_id;
    if found_journey.id is null then
        perform private.raise_not_found('journey not found');
    end if;
    if not private.acting_as_system()
        and not coalesce(found_journey.hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin,nurse,doctor}')), false) then
        perform private.raise_not_found('journey not found');
    end if;
    if not found_journey.is_active then
        perform private.raise_conflict('the journey is inactive', 'journey_inactive');
    end if;
    if not exists (
        select from public.patient_registrations as r
        where r.patient_id = start_journey_instance.patient_id and r.hospital_id = found_journey.hospital_id
            and r.deleted_at is null
    ) then
        perform private.raise_not_found('patient not found');
    end if;
    select v.* into version from public.journey_versions as v
    where v.journey_id = found_journey.id order by v.version desc limit 1;
    select s.* into first_stage from public.journey_stages as s
    where s.journey_version_id = version.id order by s.position limit 1;
    if first_stage.id is null then
        perform private.raise_invalid('the journey has no stages', 'journey_has_no_stages');
    end if;
    begin
        insert into public.journey_instances (
            hospital_id, patient_id, journey_id, journey_version_id, appointment_id, encounter_id, context
        )
        values (
            found_journey.hospital_id, start_journey_instance.patient_id, found_journey.id, version.id,
            start_journey_instance.appointment_id, start_journey_instance.encounter_id,
            coalesce(start_journey_instance.context, '{}')
        )
        returning * into made;
    exception
        when exclusion_violation then
            perform private.raise_conflict(
                'the patient is already on this journey', 'journey_already_active',
                'complete or cancel the active instance first'
            );
        when foreign_key_violation then
            perform private.raise_not_found('appointment or encounter not found');
        when check_violation then
            perform private.raise_invalid('context is an object', 'context_malformed');
    end;
    perform private.enter_journey_stage(made.id, first_stage, 'start');
    select i.* into made from public.journey_instances as i where i.id = made.id;
    return made;
end;
$$;

comment on function private.start_journey_instance(uuid, uuid, uuid, uuid, jsonb) is
'Starts a patient on the current version of a journey, in its first stage.';

create function public.start_journey_instance(
    journey_id uuid,
    patient_id uuid,
    appointment_id uuid default null,
    encounter_id uuid default null,
    context jsonb default '{}'
)
returns public.journey_instances
language sql
volatile
set search_path = ''
as $$
    select private.start_journey_instance(
        start_journey_instance.journey_id, start_journey_instance.patient_id, start_journey_instance.appointment_id,
        start_journey_instance.encounter_id, start_journey_instance.context
    );
$$;

comment on function public.start_journey_instance(uuid, uuid, uuid, uuid, jsonb) is
'Starts a patient on a journey (seed 001 POST /journeys/instances): pinned to the journey''s '
'current version, in its first stage, whose actions run. Optional appointment and encounter of '
'the same patient at the hospital; context: values for its messages. The hospital''s front desk, '
'CROs, admins, nurses and doctors. PT404 journey or patient not found (or beyond reach); PT409 '
'journey_already_active (one active instance of a journey per patient), journey_inactive.';

create function private.advance_journey_instance(instance_id uuid, notes text)
returns public.journey_instances
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    hospital uuid;
begin
    select i.hospital_id into hospital from public.journey_instances as i where i.id = advance_journey_instance.instance_id;
    if hospital is null then
        perform private.raise_not_found('journey instance not found');
    end if;
    perform private.require_journey_staff(hospital);
    return private.advance_journey(advance_journey_instance.instance_id, advance_journey_instance.notes, 'manual');
end;
$$;

comment on function private.advance_journey_instance(
    uuid, text
) is 'Advances an instance by hand, for the hospital''s staff.';

create function public.advance_journey_instance(instance_id uuid, notes text default null)
returns public.journey_instances
language sql
volatile
set search_path = ''
as $$
    select private.advance_journey_instance(advance_journey_instance.instance_id, advance_journey_instance.notes);
$$;

comment on function public.advance_journey_instance(uuid, text) is
'Completes the current stage with notes and moves to the next (seed 001 POST '
'/journeys/instances/{id}/advance), whatever its trigger; after the last stage the instance is '
'completed. PT404 beyond reach; PT409 journey_not_active.';

create function private.cancel_journey_instance(instance_id uuid, reason text)
returns public.journey_instances
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    changed public.journey_instances;
begin
    select i.* into changed from public.journey_instances as i where i.id = cancel_journey_instance.instance_id for update;
    if changed.id is null then
        perform private.raise_not_found('journey instance not found');
    end if;
    perform private.require_journey_staff(changed.hospital_id);
    update public.journey_instances as i
    set status = 'cancelled', status_reason = cancel_journey_instance.reason, current_stage_id = null,
        stage_entered_at = null
    where i.id = changed.id
    returning * into changed;
    return changed;
end;
$$;

comment on function private.cancel_journey_instance(uuid, text) is 'Cancels an instance, for the hospital''s staff.';

create function public.cancel_journey_instance(instance_id uuid, reason text)
returns public.journey_instances
language sql
volatile
set search_path = ''
as $$
    select private.cancel_journey_instance(cancel_journey_instance.instance_id, cancel_journey_instance.reason);
$$;

comment on function public.cancel_journey_instance(uuid, text) is
'Takes the patient off the journey (active -> cancelled, with a reason). PT404 beyond reach.';

-- GET /journeys/instances/{id}: the instance with the stages of its version and where it is.
create function public.journey_instance(instance_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    instance public.journey_instances;
begin
    select i.* into instance from public.journey_instances as i where i.id = journey_instance.instance_id;
    if instance.id is null then
        perform private.raise_not_found('journey instance not found');
    end if;
    return to_jsonb(instance) || jsonb_build_object(
        'journey_name', (select j.name from public.journeys as j where j.id = instance.journey_id),
        'version', (select v.version from public.journey_versions as v where v.id = instance.journey_version_id),
        'stages', coalesce((
            select jsonb_agg(
                jsonb_build_object(
                    'stage_id', s.id, 'position', s.position, 'name', s.name, 'trigger_event', s.trigger_event,
                    'due_days', s.due_days,
                    'status', case
                        when s.id = instance.current_stage_id then 'current'
                        when e.completed_at is not null then 'completed'
                        when e.entered_at is not null then 'skipped'
                        else 'pending'
                    end,
                    'entered_at', e.entered_at, 'completed_at', e.completed_at, 'notes', e.notes,
                    'actions', e.actions_done
                ) order by s.position
            )
            from public.journey_stages as s
            left join lateral (
                select x.* from public.journey_stage_events as x
                where x.instance_id = instance.id and x.stage_id = s.id
                order by x.entered_at desc limit 1
            ) as e on true
            where s.journey_version_id = instance.journey_version_id
        ), '[]')
    );
end;
$$;

comment on function public.journey_instance(uuid) is
'A journey instance with the stages of its version (seed 001 GET /journeys/instances/{id}): each '
'stage''s status (completed, current, pending), when it was entered and completed, the notes and '
'what its actions did. PT404 beyond reach.';

-- GET /journeys/instances/stats
create function public.journey_instance_stats(hospital_id uuid default null, journey_id uuid default null)
returns jsonb
language sql
stable
set search_path = ''
as $$
    with counted as (
        select i.status, j.name, count(*) as n
        from public.journey_instances as i
        join public.journeys as j on j.id = i.journey_id
        where (journey_instance_stats.hospital_id is null or i.hospital_id = journey_instance_stats.hospital_id)
            and (journey_instance_stats.journey_id is null or i.journey_id = journey_instance_stats.journey_id)
        group by i.status, j.name
    )

    select jsonb_build_object(
        'total', coalesce(sum(c.n), 0),
        'active', coalesce(sum(c.n) filter (where c.status = 'active'), 0),
        'completed', coalesce(sum(c.n) filter (where c.status = 'completed'), 0),
        'cancelled', coalesce(sum(c.n) filter (where c.status = 'cancelled'), 0),
        'by_status', coalesce((
            select jsonb_object_agg(s.status, s.n)
            from (select x.status, sum(x.n) as n from counted as x group by x.status) as s
        ), '{}'),
        'by_journey', coalesce((
            select jsonb_object_agg(s.name, s.n)
            from (select x.name, sum(x.n) as n from counted as x group by x.name) as s
        ), '{}')
    )
    from counted as c;
$$;

comment on function public.journey_instance_stats(uuid, uuid) is
'Counts of the journey instances the caller may read (seed 001 GET /journeys/instances/stats), '
'optionally of one hospital or journey: {total, active, completed, cancelled, by_status, '
'by_journey (by name)}.';

-- Overdue stages.
create function public.journey_overdue_stages(hospital_id uuid default null, at timestamptz default null)
returns table (
    instance_id uuid,
    hospital_id uuid,
    patient_id uuid,
    journey_id uuid,
    journey_name text,
    stage_id uuid,
    stage_name text,
    entered_at timestamptz,
    due_at timestamptz
)
language sql
stable
set search_path = ''
as $$
    select i.id, i.hospital_id, i.patient_id, i.journey_id, j.name, s.id, s.name, i.stage_entered_at,
        i.stage_entered_at + make_interval(days => s.due_days)
    from public.journey_instances as i
    join public.journey_stages as s on s.id = i.current_stage_id
    join public.journeys as j on j.id = i.journey_id
    where i.status = 'active' and s.due_days is not null
        and i.stage_entered_at + make_interval(days => s.due_days) < coalesce(journey_overdue_stages.at, now())
        and (journey_overdue_stages.hospital_id is null or i.hospital_id = journey_overdue_stages.hospital_id)
    order by i.stage_entered_at + make_interval(days => s.due_days), i.id;
$$;

comment on function public.journey_overdue_stages(uuid, timestamptz) is
'The active instances the caller may read whose current stage is overdue (in it longer than its '
'due_days) as of `at` (default now), optionally of one hospital, oldest due first.';

-- Trigger events ------------------------------------------------------------------------------------------

-- Moves on every active instance of the patient at the hospital whose next stage is entered by
-- this event. Runs as the caller of the change that raised it (a doctor completing a visit).
create function private.journey_event(patient uuid, hospital uuid, event text)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    instance public.journey_instances;
    moved integer := 0;
begin
    for instance in
        select i.* from public.journey_instances as i
        join public.journey_stages as cur on cur.id = i.current_stage_id
        join public.journey_stages as nxt
            on nxt.journey_version_id = i.journey_version_id
            and nxt.position = (
                select min(s.position) from public.journey_stages as s
                where s.journey_version_id = i.journey_version_id and s.position > cur.position
            )
        where i.patient_id = journey_event.patient and i.hospital_id = journey_event.hospital
            and i.status = 'active' and nxt.trigger_event = journey_event.event
        order by i.id
    loop
        perform private.advance_journey(instance.id, null, journey_event.event);
        moved := moved + 1;
    end loop;
    return moved;
end;
$$;

comment on function private.journey_event(uuid, uuid, text) is
'Advances the patient''s active instances at the hospital whose next stage this event enters.';

-- Security definer: journeys move whatever the caller (a doctor) may write of them.
create function private.journey_appointment_completed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform private.journey_event(new.patient_id, new.hospital_id, 'appointment_completed');
    return null;
end;
$$;

comment on function private.journey_appointment_completed() is
'Trigger: a completed appointment advances the patient''s journeys waiting for one.';

create trigger appointments_journey_event
after update of status on public.appointments
for each row when (new.status = 'completed' and old.status is distinct from 'completed')
execute function private.journey_appointment_completed();

create function private.journey_lab_result_recorded()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform private.journey_event(new.patient_id, new.hospital_id, 'lab_result_recorded');
    return null;
end;
$$;

comment on function private.journey_lab_result_recorded() is
'Trigger: a recorded lab result advances the patient''s journeys waiting for one.';

create trigger lab_results_journey_event
after insert on public.lab_results
for each row execute function private.journey_lab_result_recorded();

-- The time-triggered stages whose time has come (pg_cron every 10 minutes): days after the
-- previous stage was entered, or after the instance started.
create function private.advance_due_journeys()
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    instance record;
    moved integer := 0;
begin
    for instance in
        select i.id, nxt.trigger_event
        from public.journey_instances as i
        join public.journey_stages as cur on cur.id = i.current_stage_id
        join public.journey_stages as nxt
            on nxt.journey_version_id = i.journey_version_id
            and nxt.position = (
                select min(s.position) from public.journey_stages as s
                where s.journey_version_id = i.journey_version_id and s.position > cur.position
            )
        where i.status = 'active'
            and (
                (nxt.trigger_event = 'days_after_previous' and i.stage_entered_at + make_interval(days => nxt.wait_days) <= now())
                or (nxt.trigger_event = 'days_after_start' and i.created_at + make_interval(days => nxt.wait_days) <= now())
            )
        order by i.stage_entered_at
        limit 1000
    loop
        perform private.advance_journey(instance.id, null, instance.trigger_event);
        moved := moved + 1;
    end loop;
    return moved;
end;
$$;

comment on function private.advance_due_journeys() is
'Advances the instances whose next stage is time-triggered and due (pg_cron: carebase-journeys-due).';

select private.schedule_job('carebase-journeys-due', '*/10 * * * *', 'select private.advance_due_journeys()');

grant execute on function private.journey_actions_valid(jsonb) to authenticated, service_role;
grant execute on function private.require_journey_office(uuid) to authenticated, service_role;
grant execute on function private.require_journey_staff(uuid) to authenticated, service_role;
grant execute on function private.journey_json(uuid) to authenticated, service_role;
grant execute on function private.create_journey(uuid, text, text, text, boolean, jsonb, jsonb) to authenticated,
service_role;
grant execute on function private.update_journey(uuid, text, text, text, boolean, boolean, jsonb)
to authenticated, service_role;
grant execute on function private.add_journey_stage(uuid, jsonb) to authenticated, service_role;
grant execute on function private.update_journey_stage(uuid, jsonb) to authenticated, service_role;
grant execute on function private.start_journey_instance(uuid, uuid, uuid, uuid, jsonb) to authenticated, service_role;
grant execute on function private.advance_journey_instance(uuid, text) to authenticated, service_role;
grant execute on function private.cancel_journey_instance(uuid, text) to authenticated, service_role;
grant execute on function public.create_journey(uuid, text, text, text, boolean, jsonb, jsonb) to authenticated,
service_role;
grant execute on function public.update_journey(uuid, text, text, text, boolean, boolean, jsonb) to authenticated,
service_role;
grant execute on function public.add_journey_stage(uuid, jsonb) to authenticated, service_role;
grant execute on function public.update_journey_stage(uuid, jsonb) to authenticated, service_role;
grant execute on function public.journey(uuid) to authenticated, service_role;
grant execute on function public.start_journey_instance(uuid, uuid, uuid, uuid, jsonb) to authenticated, service_role;
grant execute on function public.advance_journey_instance(uuid, text) to authenticated, service_role;
grant execute on function public.cancel_journey_instance(uuid, text) to authenticated, service_role;
grant execute on function public.journey_instance(uuid) to authenticated, service_role;
grant execute on function public.journey_instance_stats(uuid, uuid) to authenticated, service_role;
grant execute on function public.journey_overdue_stages(uuid, timestamptz) to authenticated, service_role;
