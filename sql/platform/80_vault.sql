-- Schema `vault` with the interface of Supabase Vault (supabase_vault 0.3): secrets stored
-- encrypted in vault.secrets, written through vault.create_secret / update_secret and read in
-- clear through the vault.decrypted_secrets view. Supabase encrypts with libsodium under a
-- root key kept outside the database; here pgcrypto encrypts under a random per-database root
-- key kept in _devstack, which only the superuser can read. Each secret's passphrase is
-- derived from the root key, its id and its nonce, so a ciphertext copied to another row does
-- not decrypt. Like Supabase, postgres and service_role may use the vault; the API roles
-- anon and authenticated may not even see the schema.

create schema vault authorization supabase_admin;

create table _devstack.vault_root_key (
    singleton boolean primary key default true check (singleton),
    root_key bytea not null default extensions.gen_random_bytes(32)
);
revoke all on _devstack.vault_root_key from public;
insert into _devstack.vault_root_key default values;

create table vault.secrets (
    id uuid primary key default gen_random_uuid(),
    name text,
    description text not null default '',
    secret text not null,
    key_id uuid,
    nonce bytea default extensions.gen_random_bytes(16),
    created_at timestamptz not null default current_timestamp,
    updated_at timestamptz not null default current_timestamp
);
comment on table vault.secrets is 'Table with encrypted `secret` column for storing sensitive information on disk.';
create unique index secrets_name_idx on vault.secrets (name) where name is not null;

-- Security definer: only the superuser may read the root key. Internal to create_secret and
-- update_secret, which run as the superuser too.
create function vault._encrypt_secret(plaintext text, secret_id uuid, nonce bytea)
returns text
language sql
volatile
security definer
set search_path = ''
as $$
    select pg_catalog.encode(
        extensions.pgp_sym_encrypt(
            plaintext,
            pg_catalog.encode(
                extensions.hmac(
                    pg_catalog.convert_to(secret_id::text || ':' || pg_catalog.encode(nonce, 'hex'), 'utf8'),
                    k.root_key,
                    'sha256'
                ),
                'hex'
            ),
            'cipher-algo=aes256, s2k-mode=1'
        ),
        'base64'
    )
    from _devstack.vault_root_key as k;
$$;

-- Security definer: only the superuser may read the root key. Called by the view
-- vault.decrypted_secrets, whose readers therefore need execute on it (as on Supabase, where
-- they need it on vault._crypto_aead_det_decrypt).
create function vault._decrypt_secret(ciphertext text, secret_id uuid, nonce bytea)
returns text
language sql
stable
security definer
set search_path = ''
as $$
    select extensions.pgp_sym_decrypt(
        pg_catalog.decode(ciphertext, 'base64'),
        pg_catalog.encode(
            extensions.hmac(
                pg_catalog.convert_to(secret_id::text || ':' || pg_catalog.encode(nonce, 'hex'), 'utf8'),
                k.root_key,
                'sha256'
            ),
            'hex'
        )
    )
    from _devstack.vault_root_key as k;
$$;

create view vault.decrypted_secrets as
select
    s.id,
    s.name,
    s.description,
    s.secret,
    vault._decrypt_secret(s.secret, s.id, s.nonce) as decrypted_secret,
    s.key_id,
    s.nonce,
    s.created_at,
    s.updated_at
from vault.secrets as s;

-- Security definer, as on Supabase: callers may not write vault.secrets directly, so the
-- clear text never reaches the table. new_key_id is accepted and ignored, as in Vault 0.3.
create function vault.create_secret(
    new_secret text,
    new_name text default null,
    new_description text default '',
    new_key_id uuid default null
)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
    new_id uuid := pg_catalog.gen_random_uuid();
    new_nonce bytea := extensions.gen_random_bytes(16);
begin
    insert into vault.secrets (id, secret, name, description, nonce)
    values (
        new_id,
        vault._encrypt_secret(new_secret, new_id, new_nonce),
        new_name,
        new_description,
        new_nonce
    );
    return new_id;
end;
$$;

-- Security definer, as on Supabase. Null arguments leave the field as it is.
create function vault.update_secret(
    secret_id uuid,
    new_secret text default null,
    new_name text default null,
    new_description text default null,
    new_key_id uuid default null
)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    update vault.secrets as s
    set
        secret = case
            when new_secret is null then s.secret
            else vault._encrypt_secret(new_secret, s.id, s.nonce)
        end,
        name = coalesce(new_name, s.name),
        description = coalesce(new_description, s.description),
        updated_at = pg_catalog.now()
    where s.id = update_secret.secret_id;
end;
$$;

revoke all on function vault._encrypt_secret(text, uuid, bytea) from public;
revoke all on function vault._decrypt_secret(text, uuid, bytea) from public;
revoke all on function vault.create_secret(text, text, text, uuid) from public;
revoke all on function vault.update_secret(uuid, text, text, text, uuid) from public;

grant usage on schema vault to postgres with grant option;
grant usage on schema vault to service_role;

grant select, references, delete, truncate on vault.secrets, vault.decrypted_secrets to postgres with grant option;
grant select, delete on vault.secrets, vault.decrypted_secrets to service_role;

grant execute on function
vault.create_secret(text, text, text, uuid),
vault.update_secret(uuid, text, text, text, uuid),
vault._decrypt_secret(text, uuid, bytea)
to postgres with grant option;
grant execute on function
vault.create_secret(text, text, text, uuid),
vault.update_secret(uuid, text, text, text, uuid),
vault._decrypt_secret(text, uuid, bytea)
to service_role;
