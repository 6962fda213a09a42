-- Staff: memberships (who works where, in which role), doctors, pharmacies and pharmacists.

create table public.staff_memberships (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references public.profiles (id) on delete cascade,
    hospital_id uuid not null references public.hospitals (id) on delete restrict,
    role public.app_role not null constraint staff_memberships_not_patient check (role <> 'patient'),
    is_active boolean not null default true,
    deactivated_at timestamptz,
    created_by uuid references public.profiles (id) on delete set null default auth.uid(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint staff_memberships_one_role_each unique (user_id, hospital_id, role),
    constraint staff_memberships_deactivated_when_inactive check (is_active = (deactivated_at is null))
);

create index staff_memberships_hospital_role_idx on public.staff_memberships (hospital_id, role);
create index staff_memberships_created_by_idx on public.staff_memberships (created_by);

-- Deactivation is recorded with its time; reactivation clears it.
create function private.stamp_membership_deactivation()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if new.is_active then
        new.deactivated_at := null;
    elsif tg_op = 'INSERT' or old.is_active then
        new.deactivated_at := coalesce(new.deactivated_at, now());
    end if;
    return new;
end;
$$;

create trigger staff_memberships_stamp_deactivation
before insert or update of is_active on public.staff_memberships
for each row execute function private.stamp_membership_deactivation();

create trigger staff_memberships_set_updated_at
before update on public.staff_memberships
for each row execute function private.set_updated_at();

create type public.consultation_mode as enum ('video', 'audio', 'in_person');

-- A doctor's professional profile at one hospital. The foreign key to the membership makes
-- a doctor row without an active-or-not doctor membership impossible.
create table public.doctors (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null,
    hospital_id uuid not null references public.hospitals (id) on delete restrict,
    membership_role public.app_role not null generated always as ('doctor') stored,
    specialty text not null constraint doctors_specialty_present check (length(btrim(specialty)) > 0),
    qualification text,
    licence_number text not null
    constraint doctors_licence_number_present check (length(btrim(licence_number)) > 0),
    licence_council text,
    calendar_color text not null default '#3B82F6'
    constraint doctors_calendar_color_hex check (calendar_color ~ '^#[0-9A-Fa-f]{6}$'),
    consultation_modes public.consultation_mode[] not null default '{video,audio,in_person}'
    constraint doctors_consultation_modes_present check (cardinality(consultation_modes) > 0),
    languages text[] not null default '{}',
    bio text,
    is_active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint doctors_one_profile_per_hospital unique (user_id, hospital_id),
    constraint doctors_licence_unique_per_hospital unique (hospital_id, licence_number),
    constraint doctors_membership_fkey foreign key (user_id, hospital_id, membership_role)
    references public.staff_memberships (user_id, hospital_id, role) on delete cascade
);

create index doctors_hospital_specialty_idx on public.doctors (hospital_id, specialty);

create trigger doctors_set_updated_at
before update on public.doctors
for each row execute function private.set_updated_at();

create table public.pharmacies (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete restrict,
    name text not null constraint pharmacies_name_present check (length(btrim(name)) > 0),
    licence_number text,
    phone public.phone_e164,
    email extensions.citext,
    address text,
    -- Prescriptions go to the hospital's default pharmacy unless the patient picks another.
    is_default boolean not null default false,
    is_active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint pharmacies_name_unique_per_hospital unique (hospital_id, name),
    -- Target of same-hospital foreign keys.
    constraint pharmacies_id_hospital_key unique (id, hospital_id)
);

create unique index pharmacies_one_default_per_hospital
on public.pharmacies (hospital_id) where is_default;

create trigger pharmacies_set_updated_at
before update on public.pharmacies
for each row execute function private.set_updated_at();

create table public.pharmacists (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null,
    hospital_id uuid not null references public.hospitals (id) on delete restrict,
    membership_role public.app_role not null generated always as ('pharmacist') stored,
    pharmacy_id uuid not null,
    licence_number text not null
    constraint pharmacists_licence_number_present check (length(btrim(licence_number)) > 0),
    is_active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint pharmacists_one_profile_per_hospital unique (user_id, hospital_id),
    constraint pharmacists_membership_fkey foreign key (user_id, hospital_id, membership_role)
    references public.staff_memberships (user_id, hospital_id, role) on delete cascade,
    -- A pharmacist works at a pharmacy of their own hospital.
    constraint pharmacists_pharmacy_same_hospital_fkey foreign key (pharmacy_id, hospital_id)
    references public.pharmacies (id, hospital_id) on delete restrict
);

create index pharmacists_pharmacy_idx on public.pharmacists (pharmacy_id, hospital_id);
create index pharmacists_hospital_idx on public.pharmacists (hospital_id);

create trigger pharmacists_set_updated_at
before update on public.pharmacists
for each row execute function private.set_updated_at();

alter table public.staff_memberships enable row level security;
alter table public.doctors enable row level security;
alter table public.pharmacies enable row level security;
alter table public.pharmacists enable row level security;
