-- Journeys (issue 19): the actions of a stage entered automatically are the system's. A stage
-- entered by a trigger event ran its actions as whoever made the change that raised the event,
-- with their rights: a nurse recording a lab result moved a journey whose stage books a
-- follow-up, the booking was refused (a nurse does not book appointments) and a ticket asked
-- the front desk to book it instead; a doctor completing a visit booked the follow-up in their
-- own name. Entered by time (the pg_cron job) or by an event the system raised (a Cal.com
-- webhook), the same actions ran as the system. Now every automatic entry runs its actions as
-- the system: the identity claims are set aside for the actions (auth.uid() and auth.role()
-- empty, as in a pg_cron job) and put back after them, so bookings and tickets carry no person
-- in booked_by / created_by, the status history records no acting role, and the audit entries
-- keep the request they belong to (its database role, id, path and address). Entered by hand
-- (rpc/advance_journey_instance) or at the start, the actions stay the caller's, as before.
-- Re-created: private.enter_journey_stage (the action loop between the two identity switches).

-- The identity claims a request carries, as PostgREST sets them.
create function private.request_identity()
returns jsonb
language sql
stable
set search_path = ''
as $$
    select jsonb_build_object(
        'request.jwt.claims', coalesce(current_setting('request.jwt.claims', true), ''),
        'request.jwt.claim.sub', coalesce(current_setting('request.jwt.claim.sub', true), ''),
        'request.jwt.claim.role', coalesce(current_setting('request.jwt.claim.role', true), '')
    );
$$;

-- Sets the identity claims for the rest of the transaction (or of the enclosing exception
-- block): the given ones, or none ('{}': the system, as in a pg_cron job).
create function private.set_request_identity(identity jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    setting text;
begin
    foreach setting in array array['request.jwt.claims', 'request.jwt.claim.sub', 'request.jwt.claim.role'] loop
        perform set_config(setting, coalesce(identity ->> setting, ''), true);
    end loop;
end;
$$;

create or replace function private.enter_journey_stage(instance_id uuid, stage public.journey_stages, how text)
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
    automatic constant boolean := how not in ('manual', 'start');
    caller constant jsonb := private.request_identity();
begin
    update public.journey_instances as i
    set current_stage_id = stage.id, stage_entered_at = clock_timestamp()
    where i.id = enter_journey_stage.instance_id
    returning * into instance;
    insert into public.journey_stage_events (instance_id, hospital_id, patient_id, stage_id, entered_by_event)
    values (instance.id, instance.hospital_id, instance.patient_id, stage.id, how)
    returning id into event_id;
    if automatic then
        perform private.set_request_identity('{}');
    end if;
    for action in select a.value from jsonb_array_elements(stage.actions) as a (value) loop
        done := done || jsonb_build_array(private.run_journey_action(instance, stage, action));
    end loop;
    if automatic then
        perform private.set_request_identity(caller);
    end if;
    if jsonb_array_length(done) > 0 then
        update public.journey_stage_events as e set actions_done = done where e.id = event_id;
    end if;
end;
$$;

comment on function private.request_identity() is
'The identity claims of the request (request.jwt.claims, claim.sub, claim.role), to put back later.';
comment on function private.set_request_identity(jsonb) is
'Sets the request''s identity claims for the rest of the transaction: the given ones, or none '
'(''{}'': the system).';
