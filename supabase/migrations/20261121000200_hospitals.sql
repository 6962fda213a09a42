-- Hospitals are the tenants: every tenant-scoped row carries a hospital_id.
create table public.hospitals (
    id uuid primary key default gen_random_uuid(),
    -- Short upper-case code; prefixes the hospital's MRNs (e.g. NAB-2026-000001).
    code text not null unique constraint hospitals_code_format check (code ~ '^[A-Z][A-Z0-9]{1,9}$'),
    name text not null constraint hospitals_name_present check (length(btrim(name)) > 0),
    address text,
    city text,
    state text,
    country_code text not null default 'IN'
    constraint hospitals_country_code_format check (country_code ~ '^[A-Z]{2}$'),
    time_zone text not null default 'Asia/Kolkata'
    constraint hospitals_time_zone_known check (private.is_time_zone(time_zone)),
    phone public.phone_e164,
    email extensions.citext,
    is_active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create trigger hospitals_set_updated_at
before update on public.hospitals
for each row execute function private.set_updated_at();

alter table public.hospitals enable row level security;
