-- Staff provisioning (seed 000 epic C): a hospital admin creates a doctor's or a pharmacist's
-- login and staff records together or not at all, changes their profile, deactivates and
-- reactivates them. The sidecar drives it (POST /api/v1/doctors ...); the database decides.
--
-- Creating one takes three steps, the first and last with the admin's own JWT:
--   1. rpc/begin_doctor_provisioning or rpc/begin_pharmacist_provisioning: checks that the
--      caller is an active admin of the hospital, that no login has the email yet and (for a
--      pharmacist) that the pharmacy is one of the hospital's, and stores the checked request
--      as a grant: single use, valid for 5 minutes, redeemable only by the admin who asked.
--   2. the sidecar creates the login with the Auth admin API (service role), marking it with
--      the grant id in app_metadata, which only the service role can write.
--   3. rpc/complete_staff_provisioning (20261202160001, with the invitations): redeems the
--      grant for exactly that login and creates the membership and the doctor or pharmacist
--      row, recording the admin as the one who decided. The tables' constraints (licence
--      number unique per hospital...) are checked there, once; when this step fails, the
--      sidecar deletes the login.
--
-- Deactivation (rpc/set_doctor_active, rpc/set_pharmacist_active) marks the profile and the
-- membership inactive: every policy reads the membership, so access ends on the next query,
-- even with an access token issued before. The sidecar then bans the login, unless it still
-- has an active membership elsewhere or is a patient's.
--
-- Errors carry a stable snake_case code in DETAIL, which the sidecar returns as its `code`:
--   42501 not_hospital_admin, not_allowed      PT404 doctor_not_found, pharmacist_not_found,
--   22023 invalid_email, full_name_required,         grant_not_found
--         login_mismatch                      PT409 email_exists, grant_used, grant_expired
--   PT422 pharmacy_not_found                  23505 licence_number_exists, staff_record_exists

create table private.staff_provisioning_grants (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    role public.app_role not null
    constraint staff_provisioning_grants_role_provisioned check (role in ('doctor', 'pharmacist')),
    email extensions.citext not null,
    full_name text not null,
    -- The checked columns of the doctors or pharmacists row to create.
    profile jsonb not null,
    created_by uuid not null references auth.users (id) on delete cascade,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null default now() + interval '5 minutes',
    consumed_at timestamptz,
    user_id uuid references auth.users (id) on delete set null
);

create index staff_provisioning_grants_hospital_idx on private.staff_provisioning_grants (hospital_id);
create index staff_provisioning_grants_created_by_idx on private.staff_provisioning_grants (created_by);
create index staff_provisioning_grants_user_idx on private.staff_provisioning_grants (user_id);

revoke all on private.staff_provisioning_grants from public, anon, authenticated, service_role;

-- Who manages whom is personal data too.
create trigger audit_row_change after insert or update or delete on public.staff_memberships
for each row execute function private.audit_row_change('');
create trigger audit_row_change after insert or update or delete on public.doctors
for each row execute function private.audit_row_change('');
create trigger audit_row_change after insert or update or delete on public.pharmacists
for each row execute function private.audit_row_change('');

-- Refuses anyone but an active admin of the hospital (an unknown hospital included).
create function private.require_hospital_admin(hospital uuid)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
    if hospital is null or not hospital = any(private.staff_hospital_ids('{hospital_admin}')) then
        perform private.raise_forbidden(
            'only an active admin of this hospital can manage its staff',
            detail => 'not_hospital_admin',
            hint => 'sign in as an admin of the hospital'
        );
    end if;
end;
$$;

-- Step 1, shared by both kinds of staff. Security definer: the grants table is private and a
-- taken email is only visible in auth.users; the caller is checked first.
create function private.issue_provisioning_grant(
    hospital uuid, staff_role public.app_role, email text, full_name text, profile jsonb
)
returns uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    login_email text := lower(btrim(issue_provisioning_grant.email));
    grant_id uuid;
begin
    perform private.require_hospital_admin(hospital);
    if login_email is null or login_email !~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' then
        perform private.raise_invalid('the email is not a valid address', detail => 'invalid_email');
    end if;
    if coalesce(btrim(issue_provisioning_grant.full_name), '') = '' then
        perform private.raise_invalid('the full name is required', detail => 'full_name_required');
    end if;
    -- Supabase Auth stores emails in lower case.
    if exists (select from auth.users as u where u.email = login_email) then
        perform private.raise_conflict(
            'a login with this email already exists',
            detail => 'email_exists',
            hint => 'use another email, or give the existing login a membership'
        );
    end if;
    -- Grants are short-lived; old ones carry emails nobody needs any more.
    delete from private.staff_provisioning_grants as g where g.expires_at < now() - interval '1 day';
    insert into private.staff_provisioning_grants (hospital_id, role, email, full_name, profile, created_by)
    values (hospital, staff_role, login_email, btrim(issue_provisioning_grant.full_name), profile, auth.uid())
    returning id into grant_id;
    return grant_id;
end;
$$;

-- Step 3's check: the grant is the caller's, unused and fresh, the caller still administers the
-- hospital, and the login is the one the sidecar made for this grant. Marks it used. Security
-- definer: reads the private grants table and the login's app_metadata in auth.users.
create function private.redeem_provisioning_grant(grant_id uuid, login uuid)
returns private.staff_provisioning_grants
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    issued private.staff_provisioning_grants;
    login_email text;
    login_grant text;
begin
    select g.* into issued from private.staff_provisioning_grants as g where g.id = grant_id for update;
    if not found or issued.created_by is distinct from auth.uid() then
        perform private.raise_not_found(
            'no provisioning grant with this id was issued to you', detail => 'grant_not_found'
        );
    end if;
    if issued.consumed_at is not null then
        perform private.raise_conflict('this provisioning grant was already used', detail => 'grant_used');
    end if;
    if issued.expires_at <= now() then
        perform private.raise_conflict(
            'this provisioning grant has expired', detail => 'grant_expired', hint => 'start again'
        );
    end if;
    perform private.require_hospital_admin(issued.hospital_id);
    select lower(u.email), u.raw_app_meta_data ->> 'provisioning_grant' into login_email, login_grant
    from auth.users as u where u.id = login;
    if login_grant is distinct from issued.id::text or login_email is distinct from issued.email::text then
        perform private.raise_invalid(
            'this login was not created for this provisioning grant', detail => 'login_mismatch'
        );
    end if;
    update private.staff_provisioning_grants as g
    set consumed_at = now(), user_id = login
    where g.id = issued.id
    returning g.* into issued;
    return issued;
end;
$$;

-- Whether a login still serves someone once a staff record is deactivated: another active
-- membership (any hospital) or a patient record. Security definer: it looks beyond the
-- hospitals the caller sees, and answers only this yes or no.
create function private.login_keeps_access(member uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (select from public.staff_memberships as m where m.user_id = member and m.is_active)
        or exists (select from public.patients as p where p.user_id = member and p.deleted_at is null);
$$;

-- A staff record as the API shows it: the row, the person's name and login email.
create function private.staff_record(item jsonb, full_name text, email text)
returns jsonb
language sql
immutable
set search_path = ''
as $$
    select (item - 'membership_role') || jsonb_build_object('full_name', full_name, 'email', email);
$$;

-- RPC (step 1 for a doctor) -> the grant id. Security invoker; defaults as in public.doctors.
create function public.begin_doctor_provisioning(
    hospital_id uuid,
    email text,
    full_name text,
    specialty text,
    licence_number text,
    qualification text default null,
    licence_council text default null,
    calendar_color text default null,
    consultation_modes public.consultation_mode[] default null,
    languages text[] default null,
    bio text default null
)
returns uuid
language sql
volatile
set search_path = ''
as $$
    select private.issue_provisioning_grant(
        begin_doctor_provisioning.hospital_id,
        'doctor',
        begin_doctor_provisioning.email,
        begin_doctor_provisioning.full_name,
        jsonb_build_object(
            'specialty', begin_doctor_provisioning.specialty,
            'licence_number', begin_doctor_provisioning.licence_number,
            'qualification', begin_doctor_provisioning.qualification,
            'licence_council', begin_doctor_provisioning.licence_council,
            'calendar_color', coalesce(begin_doctor_provisioning.calendar_color, '#3B82F6'),
            'consultation_modes', coalesce(
                begin_doctor_provisioning.consultation_modes, '{video,audio,in_person}'
            ),
            'languages', coalesce(begin_doctor_provisioning.languages, '{}'),
            'bio', begin_doctor_provisioning.bio
        )
    );
$$;

-- RPC (step 1 for a pharmacist) -> the grant id. Without a pharmacy, the hospital's default.
create function public.begin_pharmacist_provisioning(
    hospital_id uuid,
    email text,
    full_name text,
    licence_number text,
    pharmacy_id uuid default null
)
returns uuid
language plpgsql
volatile
set search_path = ''
as $$
declare
    pharmacy uuid;
begin
    perform private.require_hospital_admin(begin_pharmacist_provisioning.hospital_id);
    select ph.id into pharmacy
    from public.pharmacies as ph
    where ph.hospital_id = begin_pharmacist_provisioning.hospital_id
        and ph.is_active
        and coalesce(ph.id = begin_pharmacist_provisioning.pharmacy_id, ph.is_default);
    if pharmacy is null then
        perform private.raise_unprocessable(
            'no active pharmacy of this hospital with this id',
            detail => 'pharmacy_not_found',
            hint => 'name an active pharmacy of the hospital, or set a default one'
        );
    end if;
    return private.issue_provisioning_grant(
        begin_pharmacist_provisioning.hospital_id,
        'pharmacist',
        begin_pharmacist_provisioning.email,
        begin_pharmacist_provisioning.full_name,
        jsonb_build_object('licence_number', begin_pharmacist_provisioning.licence_number, 'pharmacy_id', pharmacy)
    );
end;
$$;

-- RPC: PUT /api/v1/doctors/{id}. Fields left null keep their value. Security invoker: the
-- doctor edits their own profile, the admin any of the hospital's (licence and status are
-- the admin's: guard trigger).
create function public.update_doctor(
    doctor_id uuid,
    full_name text default null,
    specialty text default null,
    qualification text default null,
    licence_number text default null,
    licence_council text default null,
    calendar_color text default null,
    consultation_modes public.consultation_mode[] default null,
    languages text[] default null,
    bio text default null
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    doctor public.doctors;
    person public.profiles;
begin
    if coalesce(btrim(update_doctor.full_name), 'unchanged') = '' then
        perform private.raise_invalid('the full name cannot be blank', detail => 'full_name_required');
    end if;
    perform from public.doctors as d where d.id = update_doctor.doctor_id;
    if not found then
        perform private.raise_not_found('no doctor with this id', detail => 'doctor_not_found');
    end if;
    update public.doctors as d
    set specialty = coalesce(update_doctor.specialty, d.specialty),
        qualification = coalesce(update_doctor.qualification, d.qualification),
        licence_number = coalesce(update_doctor.licence_number, d.licence_number),
        licence_council = coalesce(update_doctor.licence_council, d.licence_council),
        calendar_color = coalesce(update_doctor.calendar_color, d.calendar_color),
        consultation_modes = coalesce(update_doctor.consultation_modes, d.consultation_modes),
        languages = coalesce(update_doctor.languages, d.languages),
        bio = coalesce(update_doctor.bio, d.bio)
    where d.id = update_doctor.doctor_id
    returning d.* into doctor;
    if not found then
        perform private.raise_forbidden(
            'only an admin of the doctor''s hospital or the doctor can change this profile',
            detail => 'not_allowed'
        );
    end if;
    update public.profiles as p
    set full_name = coalesce(btrim(update_doctor.full_name), p.full_name)
    where p.id = doctor.user_id
    returning p.* into person;
    return private.staff_record(to_jsonb(doctor), person.full_name, person.email::text);
exception
    when unique_violation then
        raise exception using
            errcode = '23505',
            message = 'another doctor of this hospital holds this licence number',
            detail = 'licence_number_exists';
end;
$$;

-- RPC: PUT /api/v1/pharmacists/{id}. Fields left null keep their value; the admin's.
create function public.update_pharmacist(
    pharmacist_id uuid,
    full_name text default null,
    licence_number text default null,
    pharmacy_id uuid default null
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    pharmacist public.pharmacists;
    person public.profiles;
begin
    if coalesce(btrim(update_pharmacist.full_name), 'unchanged') = '' then
        perform private.raise_invalid('the full name cannot be blank', detail => 'full_name_required');
    end if;
    perform from public.pharmacists as ph where ph.id = update_pharmacist.pharmacist_id;
    if not found then
        perform private.raise_not_found('no pharmacist with this id', detail => 'pharmacist_not_found');
    end if;
    update public.pharmacists as ph
    set licence_number = coalesce(update_pharmacist.licence_number, ph.licence_number),
        pharmacy_id = coalesce(update_pharmacist.pharmacy_id, ph.pharmacy_id)
    where ph.id = update_pharmacist.pharmacist_id
    returning ph.* into pharmacist;
    if not found then
        perform private.raise_forbidden(
            'only an admin of the pharmacist''s hospital can change this profile', detail => 'not_allowed'
        );
    end if;
    update public.profiles as p
    set full_name = coalesce(btrim(update_pharmacist.full_name), p.full_name)
    where p.id = pharmacist.user_id
    returning p.* into person;
    return private.staff_record(to_jsonb(pharmacist), person.full_name, person.email::text);
exception
    when foreign_key_violation then
        perform private.raise_unprocessable(
            'no pharmacy of this hospital with this id', detail => 'pharmacy_not_found'
        );
end;
$$;

-- Deactivates (active => false) or reactivates a doctor's or a pharmacist's record at its
-- hospital, with the membership in that role -> the record as the API shows it, plus
-- `login_keeps_access`: whether the login must stay usable for another role. Deactivation
-- also ends the login's sessions; an unknown id is PT404. Security invoker: after
-- private.require_hospital_admin, the admin's own policies apply.
create function private.set_staff_active(staff_role public.app_role, staff_id uuid, active boolean)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    staff jsonb;
    person public.profiles;
begin
    if set_staff_active.staff_role = 'doctor' then
        select to_jsonb(d.*) into staff from public.doctors as d where d.id = set_staff_active.staff_id;
    else
        select to_jsonb(ph.*) into staff from public.pharmacists as ph where ph.id = set_staff_active.staff_id;
    end if;
    if staff is null then
        perform private.raise_not_found(
            format('no %s with this id', set_staff_active.staff_role),
            detail => format('%s_not_found', set_staff_active.staff_role)
        );
    end if;
    perform private.require_hospital_admin((staff ->> 'hospital_id')::uuid);
    -- Read while the person is still on the staff directory the caller sees (deactivating).
    select p.* into person from public.profiles as p where p.id = (staff ->> 'user_id')::uuid;
    if set_staff_active.staff_role = 'doctor' then
        update public.doctors as d set is_active = set_staff_active.active
        where d.id = set_staff_active.staff_id
        returning to_jsonb(d.*) into staff;
    else
        update public.pharmacists as ph set is_active = set_staff_active.active
        where ph.id = set_staff_active.staff_id
        returning to_jsonb(ph.*) into staff;
    end if;
    update public.staff_memberships as m set is_active = set_staff_active.active
    where m.user_id = (staff ->> 'user_id')::uuid
        and m.hospital_id = (staff ->> 'hospital_id')::uuid
        and m.role = set_staff_active.staff_role;
    if not set_staff_active.active then
        perform private.end_deactivated_staff_sessions(
            (staff ->> 'user_id')::uuid, (staff ->> 'hospital_id')::uuid, set_staff_active.staff_role
        );
    end if;
    if person.id is null then
        -- Reactivated: back on the directory only now.
        select p.* into person from public.profiles as p where p.id = (staff ->> 'user_id')::uuid;
    end if;
    return private.staff_record(staff, person.full_name, person.email::text)
        || jsonb_build_object('login_keeps_access', private.login_keeps_access((staff ->> 'user_id')::uuid));
end;
$$;

-- RPC: deactivate (active => false) or reactivate a doctor (private.set_staff_active).
create function public.set_doctor_active(doctor_id uuid, active boolean)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.set_staff_active('doctor', set_doctor_active.doctor_id, set_doctor_active.active);
$$;

-- RPC: the same for a pharmacist.
create function public.set_pharmacist_active(pharmacist_id uuid, active boolean)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.set_staff_active('pharmacist', set_pharmacist_active.pharmacist_id, set_pharmacist_active.active);
$$;

grant execute on function private.require_hospital_admin(uuid) to authenticated;
grant execute on function private.issue_provisioning_grant(uuid, public.app_role, text, text, jsonb) to authenticated;
grant execute on function private.login_keeps_access(uuid) to authenticated;
grant execute on function private.staff_record(jsonb, text, text) to authenticated;
grant execute on function private.set_staff_active(public.app_role, uuid, boolean) to authenticated, service_role;

grant execute on function public.begin_doctor_provisioning(
    uuid, text, text, text, text, text, text, text, public.consultation_mode[], text[], text
) to authenticated;
grant execute on function public.begin_pharmacist_provisioning(uuid, text, text, text, uuid) to authenticated;
grant execute on function public.update_doctor(
    uuid, text, text, text, text, text, text, public.consultation_mode[], text[], text
) to authenticated;
grant execute on function public.update_pharmacist(uuid, text, text, uuid) to authenticated;
grant execute on function public.set_doctor_active(uuid, boolean) to authenticated;
grant execute on function public.set_pharmacist_active(uuid, boolean) to authenticated;
