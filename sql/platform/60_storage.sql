-- Schema `storage` in the shape Supabase Storage leaves it: buckets and objects (which
-- migrations seed and guard with policies) and the path helpers policies use. The Storage API
-- itself is not here; until devstack serves /storage/v1 these tables only hold metadata.
-- Row-level security is what guards objects, so the API roles hold every table privilege.

create schema storage authorization supabase_admin;

create table storage.buckets (
    id text not null,
    name text not null,
    owner uuid,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    public boolean default false,
    avif_autodetection boolean default false,
    file_size_limit bigint,
    allowed_mime_types text[],
    owner_id text,
    constraint buckets_pkey primary key (id)
);
comment on column storage.buckets.owner is 'Field is deprecated, use owner_id instead';
create unique index bname on storage.buckets (name);

create table storage.objects (
    id uuid not null default gen_random_uuid(),
    bucket_id text,
    name text,
    owner uuid,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    last_accessed_at timestamptz default now(),
    metadata jsonb,
    path_tokens text[] generated always as (string_to_array(name, '/')) stored,
    version text,
    owner_id text,
    user_metadata jsonb,
    constraint objects_pkey primary key (id),
    constraint "objects_bucketId_fkey" foreign key (bucket_id) references storage.buckets (id)
);
comment on column storage.objects.owner is 'Field is deprecated, use owner_id instead';
create unique index bucketid_objname on storage.objects (bucket_id, name);
create index name_prefix_search on storage.objects (name text_pattern_ops);

alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;

-- Path helpers for policies, e.g. `(storage.foldername(name))[1] = (select auth.uid())::text`.
-- 'a/b/c.png': foldername {a,b}, filename 'c.png', extension 'png' (the last dot's suffix).
create function storage.foldername(name text)
returns text[]
language plpgsql
immutable
set search_path = ''
as $$
declare
    _parts text[];
begin
    _parts := pg_catalog.string_to_array(name, '/');
    return _parts[1 : pg_catalog.array_length(_parts, 1) - 1];
end;
$$;

create function storage.filename(name text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
    _parts text[];
begin
    _parts := pg_catalog.string_to_array(name, '/');
    return _parts[pg_catalog.array_length(_parts, 1)];
end;
$$;

create function storage.extension(name text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
    _parts text[];
    _filename text;
begin
    _parts := pg_catalog.string_to_array(name, '/');
    _filename := _parts[pg_catalog.array_length(_parts, 1)];
    return pg_catalog.reverse(pg_catalog.split_part(pg_catalog.reverse(_filename), '.', 1));
end;
$$;

-- Storage keeps objects.updated_at current on every update.
create function storage.update_updated_at_column()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    new.updated_at := pg_catalog.now();
    return new;
end;
$$;

create trigger update_objects_updated_at
before update on storage.objects
for each row execute function storage.update_updated_at_column();

alter table storage.buckets owner to supabase_storage_admin;
alter table storage.objects owner to supabase_storage_admin;
alter function storage.foldername(text) owner to supabase_storage_admin;
alter function storage.filename(text) owner to supabase_storage_admin;
alter function storage.extension(text) owner to supabase_storage_admin;
alter function storage.update_updated_at_column() owner to supabase_storage_admin;

grant all on schema storage to supabase_storage_admin with grant option;
grant usage on schema storage to postgres with grant option;
grant usage on schema storage to anon, authenticated, service_role;

grant all on storage.buckets, storage.objects to anon, authenticated, service_role;
grant all on storage.buckets, storage.objects to postgres with grant option;

-- What Supabase Storage creates later is granted the same way.
alter default privileges for role supabase_storage_admin in schema storage
grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_storage_admin in schema storage
grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_storage_admin in schema storage
grant all on sequences to postgres, anon, authenticated, service_role;
