-- State machines as data (DESIGN.md): the states and allowed transitions of every machine
-- (appointment, prescription now; lead, ticket, invoice, ... later) live in two private
-- tables, and ONE generic trigger, attached to each machine's table with the machine name as
-- its argument, refuses any other change of status and records every transition.
--
-- Contract for a table that uses the trigger: columns `id uuid`, `status` (an enum or text
-- whose labels are the machine's states), `status_reason text`, `status_changed_at
-- timestamptz`, `hospital_id uuid` and optionally `patient_id uuid`.
--
-- Errors (stable, documented codes; PostgREST maps PTxyz to HTTP xyz):
--   PT409  the machine has no transition from the current state to the requested one
--          (HTTP 409 Conflict); the hint lists the states reachable from the current one
--   42501  the transition exists but none of the actor's roles may take it (HTTP 403)
--   22023  the transition needs a reason (status_reason) and none was given (HTTP 400)
--
-- Who acts in which role: the actor's active membership roles at the row's hospital, plus
-- 'patient' when the actor is the row's patient. Requests made with the service role, and
-- database jobs with no JWT (pg_cron), act as the system: they may take any transition the
-- machine defines, including those no person may take (roles = '{}', e.g. expiry).

create table private.state_machine_states (
    machine text not null constraint state_machine_states_machine_format check (machine ~ '^[a-z][a-z_]*$'),
    state text not null constraint state_machine_states_state_format check (state ~ '^[a-z][a-z_]*$'),
    label text not null,
    position integer not null,
    is_terminal boolean not null default false,
    primary key (machine, state)
);

create table private.state_transitions (
    machine text not null,
    -- null: the state a new row may be created in.
    from_state text,
    to_state text not null,
    -- Roles that may take the transition; empty: only the system (service role, jobs).
    roles public.app_role[] not null default '{}',
    requires_reason boolean not null default false,
    description text,
    constraint state_transitions_unique unique nulls not distinct (machine, from_state, to_state),
    constraint state_transitions_from_fkey foreign key (machine, from_state)
    references private.state_machine_states (machine, state) on delete cascade,
    constraint state_transitions_to_fkey foreign key (machine, to_state)
    references private.state_machine_states (machine, state) on delete cascade
);

create index state_transitions_to_idx on private.state_transitions (machine, to_state);

-- Every transition taken, readable under the RLS of the row it belongs to: each machine's
-- migration adds a select policy that dispatches to its own table.
create table public.status_history (
    id uuid primary key default gen_random_uuid(),
    machine text not null,
    subject_id uuid not null,
    hospital_id uuid,
    -- null: the row was created in to_state.
    from_state text,
    to_state text not null,
    actor_id uuid,
    -- null: the system (service role or a database job).
    actor_role public.app_role,
    reason text,
    -- Extra facts about the event, e.g. the old and new times of a reschedule.
    details jsonb not null default '{}',
    occurred_at timestamptz not null default clock_timestamp()
);

create index status_history_subject_idx on public.status_history (subject_id, occurred_at);
create index status_history_machine_idx on public.status_history (machine, occurred_at);

alter table public.status_history enable row level security;

revoke all on public.status_history from anon, authenticated;
grant select on public.status_history to authenticated;
grant select on public.status_history to service_role;

-- The definitions are not secret: UIs read them (metadata) and so may API roles.
grant select on private.state_machine_states, private.state_transitions to authenticated, service_role;

-- The caller's roles for a row of `hospital_id` whose patient is `patient_id` (the state
-- machine and the audit trail ask), plus `pharmacist` for a pharmacist of another hospital's
-- pharmacy holding a prescription of this patient from this hospital under the
-- external_pharmacy consent, so that the outside pharmacy approves, denies and hands over what
-- it was sent. Security definer: it reads memberships and prescriptions whatever the caller
-- may read of them; it only ever reports the caller's own roles.
create function private.actor_roles(hospital_id uuid, patient_id uuid default null)
returns public.app_role[]
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    roles public.app_role[];
begin
    select coalesce(array_agg(distinct m.role), '{}') into roles
    from public.staff_memberships as m
    join public.hospitals as h on h.id = m.hospital_id
    where m.user_id = (select auth.uid())
        and m.hospital_id = actor_roles.hospital_id
        and m.is_active
        and h.is_active;
    if actor_roles.patient_id is null then
        return roles;
    end if;
    if actor_roles.patient_id = private.own_patient_id() then
        roles := roles || '{patient}'::public.app_role[];
    end if;
    if not 'pharmacist' = any(roles)
        and exists (select from public.pharmacists as ph where ph.user_id = (select auth.uid()) and ph.is_active)
        and exists (
            select from public.prescriptions as p
            where p.patient_id = actor_roles.patient_id
                and p.hospital_id = actor_roles.hospital_id
                and p.pharmacy_id = any(private.own_pharmacy_ids())
                and private.pharmacy_may_receive(p.pharmacy_id, p.hospital_id, p.patient_id)
        ) then
        roles := roles || '{pharmacist}'::public.app_role[];
    end if;
    return roles;
end;
$$;

-- True when the current request acts as the system: the service role, or no JWT at all
-- (migrations, pg_cron jobs, the sidecar's own connection).
create function private.acting_as_system()
returns boolean
language sql
stable
set search_path = ''
as $$
    select coalesce(auth.role(), '') not in ('authenticated', 'anon');
$$;

-- Appends one history row. Security definer: nobody may write status_history directly.
create function private.record_transition(
    machine text,
    subject_id uuid,
    hospital_id uuid,
    from_state text,
    to_state text,
    actor_role public.app_role,
    reason text default null,
    details jsonb default '{}'
)
returns void
language sql
volatile
security definer
set search_path = ''
as $$
    insert into public.status_history (
        machine, subject_id, hospital_id, from_state, to_state, actor_id, actor_role, reason, details
    )
    values (
        record_transition.machine, record_transition.subject_id, record_transition.hospital_id,
        record_transition.from_state, record_transition.to_state, (select auth.uid()),
        record_transition.actor_role, record_transition.reason, coalesce(record_transition.details, '{}')
    );
$$;

-- The one generic trigger (BEFORE INSERT OR UPDATE, argument: the machine's name).
-- Security definer: it reads the private definitions and writes status_history, which the
-- API roles may not write; it decides with the caller's identity (auth.uid(), auth.role()).
create function private.enforce_state_machine()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    machine_name text := tg_argv[0];
    after_row jsonb := to_jsonb(new);
    old_state text;
    new_state text := after_row ->> 'status';
    reason text := nullif(btrim(after_row ->> 'status_reason'), '');
    transition private.state_transitions;
    actor public.app_role[];
    acting public.app_role;
    reachable text;
begin
    if tg_op = 'UPDATE' then
        old_state := to_jsonb(old) ->> 'status';
        if old_state is not distinct from new_state then
            return new;
        end if;
        -- A reason left over from the previous transition is not this transition's reason.
        if reason is not distinct from nullif(btrim(to_jsonb(old) ->> 'status_reason'), '') then
            reason := null;
        end if;
    end if;

    select t.* into transition
    from private.state_transitions as t
    where t.machine = machine_name
        and t.from_state is not distinct from old_state
        and t.to_state = new_state;

    if not found then
        select string_agg(t.to_state, ', ' order by s.position) into reachable
        from private.state_transitions as t
        join private.state_machine_states as s on s.machine = t.machine and s.state = t.to_state
        where t.machine = machine_name
            and t.from_state is not distinct from old_state;
        raise exception using
            errcode = 'PT409',
            message = case
                when old_state is null then format('a new %s cannot start as %s', machine_name, new_state)
                else format('%s cannot go from %s to %s', machine_name, old_state, new_state)
            end,
            detail = format('%s %s', machine_name, after_row ->> 'id'),
            hint = case
                when reachable is null then format('%s is a final state', old_state)
                else format('allowed next states: %s', reachable)
            end;
    end if;

    if transition.requires_reason and reason is null then
        perform private.raise_invalid(
            format('a reason is required to move a %s to %s', machine_name, new_state),
            hint => 'set status_reason together with status'
        );
    end if;

    if not private.acting_as_system() then
        actor := private.actor_roles(
            (after_row ->> 'hospital_id')::uuid, (after_row ->> 'patient_id')::uuid
        );
        -- The first role of the transition's list that the actor holds is the one recorded.
        select r into acting
        from unnest(transition.roles) with ordinality as allowed (r, n)
        where r = any(actor)
        order by n
        limit 1;
        if acting is null then
            raise exception using
                errcode = '42501',
                message = case
                    when old_state is null then format('you may not create a %s as %s', machine_name, new_state)
                    else format('you may not move a %s from %s to %s', machine_name, old_state, new_state)
                end,
                detail = format('your roles here: %s', coalesce(nullif(array_to_string(actor, ', '), ''), 'none')),
                hint = case
                    when cardinality(transition.roles) = 0 then 'only the system takes this transition'
                    else format('allowed for: %s', array_to_string(transition.roles, ', '))
                end;
        end if;
    end if;

    new := jsonb_populate_record(
        new, jsonb_build_object('status_reason', reason, 'status_changed_at', clock_timestamp())
    );
    perform private.record_transition(
        machine_name, (after_row ->> 'id')::uuid, (after_row ->> 'hospital_id')::uuid,
        old_state, new_state, acting, reason
    );
    return new;
end;
$$;

-- Metadata for dynamic UIs (seed 004 GET /api/metadata/enums): every enum of the API and
-- every machine's states and transitions. Security invoker views over the definitions.
create view public.state_machine_states
with (security_invoker = true) as
select
    s.machine,
    s.state,
    s.label,
    s.position,
    s.is_terminal,
    exists(
        select from private.state_transitions as t
        where t.machine = s.machine and t.from_state is null and t.to_state = s.state
    ) as is_initial
from private.state_machine_states as s;

create view public.state_machine_transitions
with (security_invoker = true) as
select
    t.machine,
    t.from_state,
    t.to_state,
    t.roles,
    t.requires_reason,
    t.description
from private.state_transitions as t;

revoke all on public.state_machine_states, public.state_machine_transitions from anon, authenticated;
grant select on public.state_machine_states, public.state_machine_transitions to authenticated, service_role;

-- RPC: GET /rest/v1/rpc/metadata_enums -> {"enums": {type: [labels]}, "state_machines":
-- {machine: {"states": [...], "transitions": [...]}}}.
create function public.metadata_enums()
returns jsonb
language sql
stable
set search_path = ''
as $$
    select jsonb_build_object(
        'enums', (
            select coalesce(jsonb_object_agg(e.type_name, e.labels), '{}')
            from (
                select t.typname as type_name, jsonb_agg(v.enumlabel order by v.enumsortorder) as labels
                from pg_catalog.pg_type as t
                join pg_catalog.pg_enum as v on v.enumtypid = t.oid
                where t.typnamespace = 'public'::regnamespace
                group by t.typname
            ) as e
        ),
        'state_machines', (
            select coalesce(jsonb_object_agg(m.machine, m.definition), '{}')
            from (
                select
                    s.machine,
                    jsonb_build_object(
                        'states', jsonb_agg(
                            jsonb_build_object(
                                'state', s.state, 'label', s.label, 'is_initial', s.is_initial,
                                'is_terminal', s.is_terminal
                            ) order by s.position
                        ),
                        'transitions', (
                            select coalesce(jsonb_agg(
                                jsonb_build_object(
                                    'from', t.from_state, 'to', t.to_state, 'roles', t.roles,
                                    'requires_reason', t.requires_reason
                                ) order by t.from_state nulls first, t.to_state
                            ), '[]')
                            from public.state_machine_transitions as t
                            where t.machine = s.machine
                        )
                    ) as definition
                from public.state_machine_states as s
                group by s.machine
            ) as m
        )
    );
$$;

grant execute on function public.metadata_enums() to authenticated, service_role;

grant execute on function private.actor_roles(uuid, uuid) to authenticated, service_role;
grant execute on function private.acting_as_system() to authenticated, service_role;
