-- Converting a lead into a patient (seed 004 POST /api/leads/:id/convert, issue 17 item 5), in
-- one transaction: the lead is matched against the patients registered at its hospital with the
-- patient identity match (private.duplicate_score and its threshold, 20261205020300: never on a
-- shared phone alone, names at least half alike), and linked to the best match, or to the
-- patient the caller names; otherwise the patient and their registration are created, the UHID
-- (MRN) drawn from the hospital's gapless yearly counter (private.next_mrn). The lead then moves
-- to converted through the state machine (who may convert from where: machine lead), and its
-- appointments, booked by name, become the patient's. Any refusal undoes all of it.

-- The patients registered at the lead's hospital who may be the lead's person, best first: the
-- lead as a patient record (its name, phone, email, sex and the date of birth given), blocked on
-- the same phone, email or date of birth and the 50 nearest names, scored by the identity match.
-- Security definer: it reads every registration of the hospital; its callers check the caller.
create function private.lead_patient_matches(lead_id uuid, date_of_birth date default null)
returns table (patient_id uuid, score numeric, parts jsonb)
language sql
stable
security definer
set search_path = ''
as $$
    with lead as (
        select l.* from public.leads as l where l.id = lead_patient_matches.lead_id
    ),

    me as (
        select (jsonb_populate_record(
            null::public.patients,
            jsonb_build_object(
                'id', lead.id, 'full_name', lead.full_name, 'name_key', private.name_key(lead.full_name),
                'phone', lead.phone, 'email', lead.email, 'sex', lead.sex,
                'date_of_birth', lead_patient_matches.date_of_birth
            )
        )).*
        from lead
    ),

    blocked as (
        select o.id from me join public.patients as o on o.phone = me.phone
        union
        select o.id from me join public.patients as o on o.email operator(extensions.=) me.email
        union
        select o.id from me join public.patients as o on o.date_of_birth = me.date_of_birth
        union
        select n.id from me cross join lateral (
            select o.id from public.patients as o
            where o.name_key operator(extensions.%) me.name_key
            order by o.name_key operator(extensions.<->) me.name_key
            limit 50
        ) as n
    )

    select o.id, s.score, s.parts
    from me
    cross join lead
    join blocked as b on true
    join public.patients as o
        on o.id = b.id and o.deleted_at is null and o.merged_into is null
        and extensions.similarity(o.name_key, me.name_key) >= 0.5
    cross join lateral private.duplicate_score(me, o) as s
    where s.score >= private.duplicate_threshold()
        and exists (
            select from public.patient_registrations as r
            where r.patient_id = o.id and r.hospital_id = lead.hospital_id and r.deleted_at is null
        )
    order by s.score desc, o.id
$$;

comment on function private.lead_patient_matches(uuid, date) is
'The patients registered at a lead''s hospital who may be its person (identity match score from '
'the threshold, names at least half alike), best first.';

-- RPC: POST /rest/v1/rpc/lead_matches: who the lead may already be, before converting. Security
-- invoker: the lead and the patients are read under the caller's policies.
create function public.lead_matches(lead_id uuid, born_on date default null)
returns table (
    patient_id uuid, full_name text, date_of_birth date, sex public.sex, mrn text, score numeric, parts jsonb
)
language plpgsql
stable
set search_path = ''
as $$
declare
    lead_hospital uuid;
begin
    select l.hospital_id into lead_hospital from public.leads as l
    where l.id = lead_matches.lead_id
        and l.hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}'));
    if lead_hospital is null then
        perform private.raise_not_found('lead not found');
    end if;
    return query
    select p.id, p.full_name, p.date_of_birth, p.sex, r.mrn, m.score, m.parts
    from private.lead_patient_matches(lead_matches.lead_id, lead_matches.born_on) as m
    join public.patients as p on p.id = m.patient_id
    join public.patient_registrations as r
        on r.patient_id = p.id and r.hospital_id = lead_hospital and r.deleted_at is null
    order by m.score desc, p.id;
end;
$$;

grant execute on function private.lead_patient_matches(uuid, date) to authenticated;
grant execute on function public.lead_matches(uuid, date) to authenticated;

comment on function public.lead_matches(uuid, date) is
'The patients registered at the lead''s hospital who may be the lead''s person, best first, each '
'with its MRN, score (0..1, from 0.55) and its parts (as rpc/patient_duplicates; never on a shared '
'phone alone). born_on (the date of birth), if known, sharpens the match. For the front desk, CROs and admins of '
'the lead''s hospital; PT404 otherwise.';

-- The conversion. Security definer: it writes the lead's patient, moves the lead's appointments
-- to the patient and puts their doctors on the care team, which the API roles may not write;
-- the caller is checked first (the front office of the lead's hospital), and the state machine
-- then decides whether their role may convert from the lead's status.
create function private.convert_lead(lead_id uuid, patient_id uuid, born_on date, create_new boolean)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    lead public.leads;
    target uuid;
    match_score numeric;
    match_parts jsonb;
    linked boolean := false;
    registration public.patient_registrations;
    moved integer;
begin
    select l.* into lead from public.leads as l where l.id = convert_lead.lead_id for update;
    if lead.id is null
        or not lead.hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')) then
        perform private.raise_not_found('lead not found');
    end if;
    if lead.status = 'converted' then
        perform private.raise_conflict(
            'this lead was converted already', 'already_converted',
            format('its patient is %s', lead.patient_id)
        );
    end if;

    if convert_lead.patient_id is not null then
        -- The patient the caller names: one registered at the lead's hospital.
        select p.id into target from public.patients as p
        where p.id = convert_lead.patient_id and p.deleted_at is null and p.merged_into is null
            and exists (
                select from public.patient_registrations as r
                where r.patient_id = p.id and r.hospital_id = lead.hospital_id and r.deleted_at is null
            );
        if target is null then
            perform private.raise_not_found(
                'patient not found', 'patient_not_registered_here',
                'name a patient registered at the lead''s hospital, or leave patient_id out'
            );
        end if;
        linked := true;
    elsif not coalesce(convert_lead.create_new, false) then
        select m.patient_id, m.score, m.parts into target, match_score, match_parts
        from private.lead_patient_matches(lead.id, convert_lead.born_on) as m
        limit 1;
        linked := target is not null;
    end if;

    if target is null then
        insert into public.patients (full_name, phone, email, sex, date_of_birth)
        values (lead.full_name, lead.phone, lead.email, lead.sex, convert_lead.born_on)
        returning id into target;
        insert into public.patient_registrations (patient_id, hospital_id, referral_source)
        values (target, lead.hospital_id, lead.source)
        returning * into registration;
    else
        select r.* into registration from public.patient_registrations as r
        where r.patient_id = target and r.hospital_id = lead.hospital_id;
    end if;

    -- The lead's appointments (booked by name) are the patient's now; their doctors treat them.
    begin
        update public.appointments as a
        set patient_id = target
        where a.lead_id = lead.id and a.hospital_id = lead.hospital_id and a.patient_id is null;
        get diagnostics moved = row_count;
    exception when exclusion_violation then
        perform private.raise_conflict(
            'an appointment of the lead overlaps one of the patient''s', 'appointment_clash',
            'cancel or move one of them, then convert again'
        );
    end;
    insert into public.care_team_members (patient_id, hospital_id, member_id, member_role, assigned_by)
    select distinct target, lead.hospital_id, a.doctor_user_id, 'doctor'::public.app_role, auth.uid()
    from public.appointments as a
    where a.lead_id = lead.id and a.hospital_id = lead.hospital_id and a.status not in ('cancelled', 'no_show')
        and private.holds_active_role(a.doctor_user_id, lead.hospital_id, 'doctor')
    on conflict do nothing;

    -- The move itself: the state machine checks the caller's role from the lead's status.
    update public.leads as l
    set status = 'converted', patient_id = target, converted_at = now()
    where l.id = lead.id;

    return jsonb_build_object(
        'lead_id', lead.id,
        'patient_id', target,
        'mrn', registration.mrn,
        'linked', linked,
        'match', case when match_score is not null
            then jsonb_build_object('score', match_score, 'parts', match_parts)
        end,
        'appointments_moved', moved
    );
end;
$$;

comment on function private.convert_lead(uuid, uuid, date, boolean) is
'Converts a lead into a patient (found, named or created) in one transaction, for the front office '
'of its hospital.';

grant execute on function private.convert_lead(uuid, uuid, date, boolean) to authenticated;

-- RPC: POST /rest/v1/rpc/convert_lead.
create function public.convert_lead(
    lead_id uuid, patient_id uuid default null, born_on date default null, create_new boolean default false
)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.convert_lead(
        convert_lead.lead_id, convert_lead.patient_id, convert_lead.born_on, convert_lead.create_new
    );
$$;

grant execute on function public.convert_lead(uuid, uuid, date, boolean) to authenticated;

comment on function public.convert_lead(uuid, uuid, date, boolean) is
'Converts a lead into a patient (seed 004 POST /api/leads/:id/convert), in one transaction: links '
'it to the patient named (patient_id, registered at the lead''s hospital), else to the best '
'identity match among the patients registered there (rpc/lead_matches; create_new: true skips '
'it; born_on, the date of birth, sharpens it and is recorded), else creates the patient and '
'their registration with the next MRN (UHID) of the hospital''s year; moves the lead to converted '
'(the front desk from new_inquiry or contacted; CROs and admins also from stalling_sent_to_cro) '
'and makes its appointments the patient''s. Returns {lead_id, '
'patient_id, mrn, linked, match: {score, parts} | null, appointments_moved}. Errors: PT404 lead '
'not found, patient_not_registered_here; PT409 already_converted, appointment_clash, a move the '
'machine does not have (e.g. from lost); 42501 a role that may not convert from the lead''s status.';
