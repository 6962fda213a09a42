-- The engagement half of a patient's 360 view (seed 001 GET /patients/{id}/360: active journey
-- instances, open tickets, recent communications and their counts), beside rpc/patient_360's
-- demographics and appointments: one call, each part read under the caller's own RLS.
create function public.patient_engagement(patient_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
    if not exists (select from public.patients as p where p.id = patient_engagement.patient_id) then
        -- The same answer for a patient who does not exist and one beyond the caller's reach.
        perform private.raise_not_found('patient not found');
    end if;
    return jsonb_build_object(
        'journeys', coalesce((
            select jsonb_agg(jsonb_build_object(
                'id', i.id, 'hospital_id', i.hospital_id, 'journey_id', i.journey_id, 'journey_name', j.name,
                'stage_id', i.current_stage_id, 'stage_name', s.name, 'stage_entered_at', i.stage_entered_at,
                'started_at', i.created_at
            ) order by i.created_at desc)
            from public.journey_instances as i
            join public.journeys as j on j.id = i.journey_id
            left join public.journey_stages as s on s.id = i.current_stage_id
            where i.patient_id = patient_engagement.patient_id and i.status = 'active'
        ), '[]'),
        'tickets', coalesce((
            select jsonb_agg(jsonb_build_object(
                'id', t.id, 'hospital_id', t.hospital_id, 'title', t.title, 'status', t.status,
                'priority', t.priority, 'category', t.category, 'assigned_to', t.assigned_to, 'created_at', t.created_at
            ) order by t.created_at desc)
            from public.tickets as t
            where t.patient_id = patient_engagement.patient_id and t.status in ('open', 'in_progress', 'waiting_on_patient')
        ), '[]'),
        'communications', coalesce((
            select jsonb_agg(to_jsonb(r) order by r.created_at desc)
            from (
                select m.id, m.hospital_id, m.channel, m.direction, m.status, m.subject, m.created_at
                from public.messages as m
                where m.patient_id = patient_engagement.patient_id and m.archived_at is null
                order by m.created_at desc
                limit 10
            ) as r
        ), '[]'),
        'active_journeys', (
            select count(*) from public.journey_instances as i
            where i.patient_id = patient_engagement.patient_id and i.status = 'active'
        ),
        'open_tickets', (
            select count(*) from public.tickets as t
            where t.patient_id = patient_engagement.patient_id and t.status in ('open', 'in_progress', 'waiting_on_patient')
        ),
        'recent_communications', (
            select count(*) from public.messages as m
            where m.patient_id = patient_engagement.patient_id and m.archived_at is null
                and m.created_at > now() - interval '30 days'
        )
    );
end;
$$;

comment on function public.patient_engagement(uuid) is
'A patient''s engagement at a glance, the other half of seed 001 GET /patients/{id}/360 beside '
'rpc/patient_360, each part as the caller may read it: journeys (active instances, current '
'stage), tickets (open, in progress, waiting on the patient), communications (the ten latest, '
'without their text), active_journeys, open_tickets, recent_communications (30 days). PT404 when '
'the patient does not exist or is beyond the caller''s reach.';

grant execute on function public.patient_engagement(uuid) to authenticated, service_role;
