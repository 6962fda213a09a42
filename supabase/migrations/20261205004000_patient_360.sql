-- Patient 360 (issue 16, item 2; seed 001 GET /patients/{id}/360): what a screen shows about one
-- patient, in one call, each part read under the caller's own RLS (security invoker): the
-- demographics and MRNs they may read, the appointments they may see (the ten most recent,
-- the next one, the last visit, counts), the prescriptions still open. No clinical content:
-- notes, diagnoses, vitals and labs are read through the logged calls (rpc/patient_timeline,
-- rpc/clinical_note), so a front desk learns nothing clinical here and nothing needs logging.
-- Journeys, tickets and communications join as their tables land (issue 19).
create function public.patient_360(patient_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    person jsonb;
begin
    select jsonb_build_object(
        'id', p.id,
        'full_name', p.full_name,
        'date_of_birth', p.date_of_birth,
        'sex', p.sex,
        'phone', p.phone,
        'email', p.email,
        'status', case when p.deleted_at is null then 'active' else 'archived' end,
        'mrns', array(
            select r.mrn from public.patient_registrations as r
            where r.patient_id = p.id and r.deleted_at is null
            order by r.mrn
        )
    )
    into person
    from public.patients as p
    where p.id = patient_360.patient_id;
    if person is null then
        -- The same answer for a patient who does not exist and one beyond the caller's reach.
        perform private.raise_not_found('patient not found');
    end if;
    return jsonb_build_object(
        'patient', person,
        'appointments', (
            with seen as (
                select
                    a.id, a.hospital_id, a.doctor_id, pr.name as doctor_name, a.starts_at,
                    a.ends_at, a.status, a.mode, a.appointment_type
                from public.appointments as a
                left join public.practitioners as pr on pr.id = a.doctor_id
                where a.patient_id = patient_360.patient_id
            )
            select jsonb_build_object(
                'recent', coalesce((
                    select jsonb_agg(to_jsonb(r) order by r.starts_at desc)
                    from (select * from seen where seen.starts_at < now() order by seen.starts_at desc limit 10) as r
                ), '[]'),
                'next', (
                    select to_jsonb(n) from seen as n
                    where n.starts_at >= now() and n.status in ('requested', 'scheduled')
                    order by n.starts_at limit 1
                ),
                'last_visit', (
                    select to_jsonb(v) from seen as v
                    where v.status = 'completed' order by v.starts_at desc limit 1
                ),
                'upcoming_count', (
                    select count(*) from seen as u
                    where u.starts_at >= now() and u.status in ('requested', 'scheduled')
                ),
                'counts', (
                    select jsonb_build_object(
                        'total', count(*),
                        'completed', count(*) filter (where c.status = 'completed'),
                        'cancelled', count(*) filter (where c.status = 'cancelled'),
                        'no_show', count(*) filter (where c.status = 'no_show')
                    )
                    from seen as c
                )
            )
        ),
        'prescriptions', jsonb_build_object(
            'open_count', (
                select count(*) from public.prescriptions as rx
                where rx.patient_id = patient_360.patient_id
                    and rx.status in ('pending', 'approved', 'ready_for_pickup')
            )
        )
    );
end;
$$;

comment on function public.patient_360(uuid) is
'One patient at a glance (seed 001 GET /patients/{id}/360), each part as the caller may read it:
patient (demographics, status, MRNs), appointments (recent: the last ten before now with the
doctor''s name; next; last_visit; upcoming_count; counts by outcome) and prescriptions
(open_count). No clinical content: read notes and results through rpc/patient_timeline.
PT404 when the patient does not exist or is beyond the caller''s reach.';

grant execute on function public.patient_360(uuid) to authenticated, service_role;
