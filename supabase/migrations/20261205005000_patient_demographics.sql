-- Patient demographics (issue 16, item 6; seed 001 GET /patients/stats/demographics): counts by
-- status, sex, age band and district over the patients the caller may read (security invoker),
-- optionally those registered at one hospital. Counts only, never a row; a hospital the caller
-- cannot see counts nothing.
create function public.patient_demographics(hospital_id uuid default null)
returns jsonb
language sql
stable
set search_path = ''
as $$
    with seen as (
        select
            case when p.deleted_at is null then 'active' else 'archived' end as status,
            coalesce(p.sex::text, 'unknown') as sex,
            coalesce(nullif(btrim(p.district), ''), 'unknown') as district,
            case
                when p.date_of_birth is null then 'unknown'
                when p.date_of_birth > current_date - interval '18 years' then '0-17'
                when p.date_of_birth > current_date - interval '40 years' then '18-39'
                when p.date_of_birth > current_date - interval '60 years' then '40-59'
                else '60+'
            end as age_band
        from public.patients as p
        where
            patient_demographics.hospital_id is null
            or exists (
                select from public.patient_registrations as r
                -- Archived registrations too, where the caller may read them (an admin): an
                -- archived patient still counts in by_status.
                where r.patient_id = p.id and r.hospital_id = patient_demographics.hospital_id
            )
    )
    select jsonb_build_object(
        'total', (select count(*) from seen),
        'by_status', coalesce((select jsonb_object_agg(s.status, s.n) from (
            select seen.status, count(*) as n from seen group by seen.status
        ) as s), '{}'),
        'by_sex', coalesce((select jsonb_object_agg(s.sex, s.n) from (
            select seen.sex, count(*) as n from seen group by seen.sex
        ) as s), '{}'),
        'by_age_band', coalesce((select jsonb_object_agg(s.age_band, s.n) from (
            select seen.age_band, count(*) as n from seen group by seen.age_band
        ) as s), '{}'),
        'by_district', coalesce((select jsonb_object_agg(s.district, s.n) from (
            select seen.district, count(*) as n from seen group by seen.district
        ) as s), '{}')
    );
$$;

comment on function public.patient_demographics(uuid) is
'Counts of the patients the caller may read (seed 001 GET /patients/stats/demographics), or of
those registered at hospital_id: total, by_status (active, archived), by_sex, by_age_band (0-17,
18-39, 40-59, 60+, unknown) and by_district. Counts only; a hospital the caller cannot see
counts nothing.';

grant execute on function public.patient_demographics(uuid) to authenticated, service_role;
