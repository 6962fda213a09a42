-- One profile per auth.users row, created and kept in step by triggers on auth.users.
create table public.profiles (
    id uuid primary key references auth.users (id) on delete cascade,
    full_name text not null default '',
    email extensions.citext,
    phone public.phone_e164,
    avatar_url text,
    preferred_language text not null default 'en',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create trigger profiles_set_updated_at
before update on public.profiles
for each row execute function private.set_updated_at();

alter table public.profiles enable row level security;

-- Supabase Auth stores phone numbers as digits without the leading '+'.
create function private.auth_phone_to_e164(phone text)
returns text
language sql
immutable
set search_path = ''
as $$
    select case when nullif(phone, '') is null then null
        when left(phone, 1) = '+' then phone
        else '+' || phone end;
$$;

-- Security definer: runs inside Supabase Auth's transaction as supabase_auth_admin, which
-- holds no privilege on public tables.
create function private.sync_profile_from_auth_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    insert into public.profiles as p (id, full_name, email, phone)
    values (
        new.id,
        coalesce(new.raw_user_meta_data ->> 'full_name', new.raw_user_meta_data ->> 'name', ''),
        nullif(new.email, ''),
        private.auth_phone_to_e164(new.phone)
    )
    on conflict (id) do update
        set email = excluded.email,
            phone = excluded.phone,
            full_name = case when excluded.full_name = '' then p.full_name else excluded.full_name end;
    return new;
end;
$$;

create trigger on_auth_user_created
after insert on auth.users
for each row execute function private.sync_profile_from_auth_user();

create trigger on_auth_user_contact_changed
after update of email, phone, raw_user_meta_data on auth.users
for each row execute function private.sync_profile_from_auth_user();
