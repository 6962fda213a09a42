-- Patients: a person-level identity, registered per hospital under an MRN, with a care team.

create type public.sex as enum ('female', 'male', 'other', 'unknown');

create table public.patients (
    id uuid primary key default gen_random_uuid(),
    -- The patient's login, when they have one (phone OTP through Firebase).
    user_id uuid unique references auth.users (id) on delete set null,
    full_name text not null constraint patients_full_name_present check (length(btrim(full_name)) > 0),
    date_of_birth date
    constraint patients_date_of_birth_plausible check (date_of_birth between '1900-01-01' and current_date),
    sex public.sex,
    -- Not unique: in rural clinics a family often shares one phone.
    phone public.phone_e164,
    email extensions.citext,
    preferred_language text not null default 'en',
    address_line text,
    city text,
    district text,
    state text,
    postal_code text,
    emergency_contact_name text,
    emergency_contact_phone public.phone_e164,
    emergency_contact_relation text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    -- Soft delete: archived patients are hidden from everyone but hospital admins.
    deleted_at timestamptz
);

create index patients_phone_idx on public.patients (phone);
create index patients_full_name_trgm_idx on public.patients using gin (full_name extensions.gin_trgm_ops);

create trigger patients_set_updated_at
before update on public.patients
for each row execute function private.set_updated_at();

create table public.patient_registrations (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null references public.patients (id) on delete restrict,
    hospital_id uuid not null references public.hospitals (id) on delete restrict,
    -- Medical record number (UHID), unique within the hospital; generated when not given.
    mrn text not null constraint patient_registrations_mrn_format check (mrn ~ '^[A-Za-z0-9][A-Za-z0-9/-]{2,31}$'),
    registered_at timestamptz not null default now(),
    registered_by uuid references public.profiles (id) on delete set null default auth.uid(),
    referral_source text,
    updated_at timestamptz not null default now(),
    deleted_at timestamptz,
    constraint patient_registrations_mrn_unique_per_hospital unique (hospital_id, mrn),
    constraint patient_registrations_once_per_hospital unique (patient_id, hospital_id)
);

create index patient_registrations_registered_by_idx on public.patient_registrations (registered_by);

create table private.mrn_counters (
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    year integer not null,
    last_value integer not null,
    primary key (hospital_id, year)
);

-- Security definer: the counter table is private. The row lock taken by the upsert makes
-- concurrent registrations draw distinct numbers.
create function private.next_mrn(hospital_id uuid)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
    year integer := extract(year from now() at time zone 'UTC')::integer;
    code text;
    number integer;
begin
    select h.code into code from public.hospitals as h where h.id = next_mrn.hospital_id;
    insert into private.mrn_counters as c (hospital_id, year, last_value)
    values (next_mrn.hospital_id, year, 1)
    on conflict on constraint mrn_counters_pkey do update set last_value = c.last_value + 1
    returning c.last_value into number;
    return format('%s-%s-%s', code, year, lpad(number::text, 6, '0'));
end;
$$;

create function private.assign_mrn()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if new.mrn is null or btrim(new.mrn) = '' then
        new.mrn := private.next_mrn(new.hospital_id);
    end if;
    return new;
end;
$$;

create trigger patient_registrations_assign_mrn
before insert on public.patient_registrations
for each row execute function private.assign_mrn();

create trigger patient_registrations_set_updated_at
before update on public.patient_registrations
for each row execute function private.set_updated_at();

-- Which doctors and nurses of a hospital look after which patient.
create table public.care_team_members (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    hospital_id uuid not null,
    member_id uuid not null,
    member_role public.app_role not null
    constraint care_team_members_clinical_role check (member_role in ('doctor', 'nurse')),
    is_primary boolean not null default false,
    assigned_at timestamptz not null default now(),
    assigned_by uuid references public.profiles (id) on delete set null default auth.uid(),
    ended_at timestamptz,
    -- Only a patient registered at the hospital, only a member of its staff in that role.
    constraint care_team_members_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict,
    constraint care_team_members_membership_fkey foreign key (member_id, hospital_id, member_role)
    references public.staff_memberships (user_id, hospital_id, role) on delete cascade,
    constraint care_team_members_end_after_start check (ended_at is null or ended_at >= assigned_at)
);

create unique index care_team_members_one_active_assignment
on public.care_team_members (patient_id, hospital_id, member_id) where ended_at is null;
create unique index care_team_members_one_primary_doctor
on public.care_team_members (patient_id, hospital_id) where is_primary and ended_at is null;
create index care_team_members_registration_idx on public.care_team_members (patient_id, hospital_id);
create index care_team_members_member_idx on public.care_team_members (member_id, hospital_id, member_role);
create index care_team_members_assigned_by_idx on public.care_team_members (assigned_by);

-- Erasing a person (patients.deleted_at, platform work) archives their registrations too.
create function private.archive_registrations_of_deleted_patient()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    update public.patient_registrations as r
    set deleted_at = new.deleted_at
    where r.patient_id = new.id and r.deleted_at is null;
    return null;
end;
$$;

create trigger patients_archive_registrations
after update of deleted_at on public.patients
for each row when (old.deleted_at is null and new.deleted_at is not null)
execute function private.archive_registrations_of_deleted_patient();

alter table public.patients enable row level security;
alter table public.patient_registrations enable row level security;
alter table public.care_team_members enable row level security;
