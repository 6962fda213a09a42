-- Practitioners (issue 16, item 7): the doctor directory the PRM (seed 001) and the fertility
-- clinic's calendar (seed 004, GET /api/metadata/doctors) show, as a view under the RLS of
-- doctors and profiles (security invoker): staff see their hospitals' doctors, a patient the
-- active doctors of the hospitals where they are registered, nobody anything else. A doctor
-- whose membership was revoked has no visible profile, so leaves the directory. Only the
-- profile's name is shown, never the doctor's own phone or email.
create view public.practitioners
with (security_invoker = true)
as
select
    d.id,
    d.user_id,
    d.hospital_id,
    p.full_name as name,
    d.specialty,
    d.qualification,
    d.calendar_color,
    d.consultation_modes,
    d.languages,
    d.is_active
from public.doctors as d
inner join public.profiles as p on d.user_id = p.id;

revoke all on public.practitioners from anon, authenticated;
grant select on public.practitioners to authenticated, service_role;

comment on view public.practitioners is
'The doctor directory: each doctor of the hospitals the caller may see, with the name to show.

Seed 001: GET /practitioners = ?name=ilike.*<search>*&specialty=eq.<s>&is_active=eq.true
(page with limit/offset or Range, Prefer: count=exact for the total); /practitioners/simple =
?select=id,name,specialty,is_active&is_active=eq.true; /practitioners/{id} = ?id=eq.<id>
(Accept: application/vnd.pgrst.object+json). Seed 004: GET /api/metadata/doctors =
?select=id,name,calendar_color&is_active=eq.true. Distinct specialties: rpc/practitioner_specialties.';
comment on column public.practitioners.name is 'The doctor''s name as in their profile.';
comment on column public.practitioners.calendar_color is
'The colour the calendars show the doctor''s appointments in (seed 004 color_code).';

-- Seed 001's GET /practitioners/specialities: PostgREST has no DISTINCT, so a function.
create function public.practitioner_specialties(hospital_id uuid default null)
returns setof text
language sql
stable
set search_path = ''
as $$
    select distinct p.specialty
    from public.practitioners as p
    where p.specialty is not null and p.is_active
        and (practitioner_specialties.hospital_id is null or p.hospital_id = practitioner_specialties.hospital_id)
    order by p.specialty;
$$;

comment on function public.practitioner_specialties(uuid) is
'The specialties of the active doctors the caller may see (optionally at one hospital), each once,
in alphabetical order: the filter list of the practitioner directory.';

grant execute on function public.practitioner_specialties(uuid) to authenticated, service_role;
