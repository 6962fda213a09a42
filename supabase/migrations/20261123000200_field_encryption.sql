-- Field encryption (DESIGN.md, Encryption; docs/field-encryption.md): versioned keys held in
-- Vault and used only inside private functions, self-describing ciphertexts (the first two
-- bytes name the key version), a keyed blind index (HMAC-SHA256) for exact lookups, masks
-- for list views, and key rotation that re-encrypts in small batches while the old key keeps
-- decrypting (no downtime).
--
-- Ciphertext layout: int2 key version (big endian) || pgp_sym_encrypt(text, key, aes256).

-- Which key versions exist and which one encrypts. The secrets themselves live in Vault
-- under secret_name; this table holds no key material.
create table private.field_keys (
    version integer primary key constraint field_keys_version_positive check (version between 1 and 32767),
    secret_name text not null constraint field_keys_secret_name_unique unique,
    -- active: encrypts and decrypts (exactly one); decrypt_only: rotation in progress or done;
    -- retired: every ciphertext was re-encrypted and the Vault secret may be deleted.
    state text not null default 'active' constraint field_keys_state_known check (
        state in ('active', 'decrypt_only', 'retired')
    ),
    created_at timestamptz not null default now(),
    retired_at timestamptz
);

create unique index field_keys_one_active on private.field_keys (state) where state = 'active';

-- Every encrypted column, so that rotation finds them all (each table has an `id uuid`).
create table private.encrypted_columns (
    table_name regclass not null,
    column_name text not null,
    primary key (table_name, column_name)
);

-- Creates a new key version in Vault and makes it the one that encrypts; the previous one
-- keeps decrypting until rotation re-encrypted everything. Security definer: writes Vault.
-- Returns the new version. For the service role and migrations only.
create function private.create_field_key()
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    new_version integer;
    name text;
begin
    -- One rotation start at a time.
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('carebase_field_keys'));
    select coalesce(max(k.version), 0) + 1 into new_version from private.field_keys as k;
    name := format('carebase_field_key_v%s', new_version);
    perform vault.create_secret(
        encode(extensions.gen_random_bytes(32), 'base64'), name,
        format('pgcrypto passphrase for encrypted fields, key version %s', new_version)
    );
    update private.field_keys as k set state = 'decrypt_only' where k.state = 'active';
    insert into private.field_keys (version, secret_name) values (new_version, name);
    return new_version;
end;
$$;

select private.create_field_key()
where not exists (select from private.field_keys);

-- The blind-index key: separate from the encryption keys (a blind index must stay stable
-- across encryption-key rotations; changing it means recomputing every index).
select
    vault.create_secret(
        encode(extensions.gen_random_bytes(32), 'base64'),
        'carebase_blind_index_key',
        'HMAC-SHA256 key for blind indexes of encrypted fields (exact-match lookups)'
    )
where not exists (
    select from vault.secrets
    where name = 'carebase_blind_index_key'
);

-- Security definer: Vault is readable by its owner only. Granted to no API role.
create function private.field_key(version integer)
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    passphrase text;
begin
    select s.decrypted_secret into passphrase
    from private.field_keys as k
    join vault.decrypted_secrets as s on s.name = k.secret_name
    where k.version = field_key.version and k.state <> 'retired';
    if passphrase is null then
        raise exception using
            errcode = '55000', message = format('field key version %s is missing or retired', field_key.version),
            hint = 'see docs/field-encryption.md (key rotation)';
    end if;
    return passphrase;
end;
$$;

create function private.active_field_key_version()
returns integer
language sql
stable
set search_path = ''
as $$
    select k.version from private.field_keys as k where k.state = 'active';
$$;

-- Encrypts under the active key, and records the fresh ciphertext (private.fresh_ciphertexts).
-- Security definer: needs the key. Granted to the API roles (encrypting reveals nothing);
-- decrypting is reserved to the private readers.
create function private.encrypt_field(plaintext text)
returns bytea
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    version integer := private.active_field_key_version();
    sealed bytea;
begin
    if plaintext is null then
        return null;
    end if;
    sealed := int2send(version::smallint)
        || extensions.pgp_sym_encrypt(plaintext, private.field_key(version), 'cipher-algo=aes256');
    insert into private.fresh_ciphertexts (digest) values (extensions.digest(sealed, 'sha256'));
    return sealed;
end;
$$;

-- The key version a ciphertext names; 0 (no key) for a value too short to name one (so that
-- rotation does not stop on it).
create function private.field_key_version(ciphertext bytea)
returns integer
language sql
immutable
set search_path = ''
as $$
    select case
        when ciphertext is null then null
        when octet_length(ciphertext) < 2 then 0
        else get_byte(ciphertext, 0) * 256 + get_byte(ciphertext, 1)
    end;
$$;

-- Decrypts with the key version the ciphertext names; a value that cannot be decrypted is
-- PT409 (HTTP 409), detail undecryptable_field, for the record being read. Security definer:
-- the key. Not granted to any API role: only private readers that check access first call it.
create function private.decrypt_field(ciphertext bytea)
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    opened record;
begin
    select d.plaintext, d.problem into opened from private.try_decrypt_field(ciphertext) as d;
    if opened.problem is not null then
        raise exception using
            errcode = 'PT409',
            message = 'the encrypted content of this record cannot be decrypted',
            detail = 'undecryptable_field',
            hint = case opened.problem
                when 'key_missing' then 'the key it was encrypted with is missing or retired'
                else 'the stored value is not a ciphertext of its key (damaged, or written without encryption)'
            end || '; ask an administrator (docs/field-encryption.md, values that cannot be decrypted)';
    end if;
    return opened.plaintext;
end;
$$;

-- Keyed blind index of a value of some kind ('aadhaar', 'ssn', ...), normalized first.
-- Security definer: the key. Deterministic by design: equal values give equal indexes.
create function private.blind_index(kind text, value text)
returns bytea
language sql
stable
security definer
set search_path = ''
as $$
    select extensions.hmac(
        convert_to(blind_index.kind || ':' || regexp_replace(lower(blind_index.value), '[^0-9a-z]', '', 'g'), 'UTF8'),
        convert_to(s.decrypted_secret, 'UTF8'),
        'sha256'
    )
    from vault.decrypted_secrets as s
    where s.name = 'carebase_blind_index_key';
$$;

-- Re-encrypts up to batch_size rows per encrypted column whose ciphertext is not under the
-- active key, skipping rows others hold locked (run it repeatedly, e.g. from pg_cron, until
-- it returns 0; then private.retire_field_keys()). Readers keep working throughout: every
-- ciphertext names its key. Values that cannot be decrypted are skipped (they would stop
-- every batch; private.undecryptable_fields lists them), and the records of fresh
-- ciphertexts left by finished transactions are pruned. Returns how many were re-encrypted.
create function private.rotate_field_encryption(batch_size integer default 500)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    target private.encrypted_columns;
    active integer := private.active_field_key_version();
    done integer;
    total integer := 0;
begin
    delete from private.fresh_ciphertexts as f where f.xact < pg_snapshot_xmin(pg_current_snapshot());
    for target in select c.* from private.encrypted_columns as c order by c.table_name::text, c.column_name loop
        execute format(
            'update %1$s as t set %2$I = private.encrypt_field(private.decrypt_field(t.%2$I))
             where t.id in (
                 select s.id from %1$s as s
                 where s.%2$I is not null and private.field_key_version(s.%2$I) <> $1
                     and (private.try_decrypt_field(s.%2$I)).problem is null
                 limit $2 for update skip locked
             )',
            target.table_name, target.column_name
        ) using active, batch_size;
        get diagnostics done = row_count;
        total := total + done;
    end loop;
    return total;
end;
$$;

-- Marks decrypt-only keys no ciphertext uses any more as retired. Returns how many.
create function private.retire_field_keys()
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    target private.encrypted_columns;
    in_use integer [] := '{}';
    found integer [];
    retired integer;
begin
    for target in select c.* from private.encrypted_columns as c loop
        execute format(
            'select coalesce(array_agg(distinct private.field_key_version(t.%2$I)), ''{}'') from %1$s as t
             where t.%2$I is not null',
            target.table_name, target.column_name
        ) into found;
        in_use := in_use || found;
    end loop;
    update private.field_keys as k
    set state = 'retired', retired_at = now()
    where k.state = 'decrypt_only' and not k.version = any(in_use);
    get diagnostics retired = row_count;
    return retired;
end;
$$;

-- RPCs for the service role (operations): start a rotation, run a batch, retire keys.
create function public.rotate_field_key()
returns integer
language sql
volatile
set search_path = ''
as $$
    select private.create_field_key();
$$;

create function public.rotate_field_encryption(batch_size integer default 500)
returns integer
language sql
volatile
set search_path = ''
as $$
    select private.rotate_field_encryption(rotate_field_encryption.batch_size);
$$;

create function public.retire_field_keys()
returns integer
language sql
volatile
set search_path = ''
as $$
    select private.retire_field_keys();
$$;

-- Masks for list views: XXXX-XXXX-1234 (Aadhaar), ***-**-6789 (SSN).
create function private.mask_identifier(kind text, last4 text)
returns text
language sql
immutable
set search_path = ''
as $$
    select case mask_identifier.kind
        when 'aadhaar' then 'XXXX-XXXX-' || mask_identifier.last4
        when 'ssn' then '***-**-' || mask_identifier.last4
        else '****' || mask_identifier.last4
    end;
$$;

revoke all on private.field_keys, private.encrypted_columns from public, anon, authenticated, service_role;
grant select on private.field_keys to service_role;

grant execute on function private.encrypt_field(text) to authenticated, service_role;
grant execute on function private.field_key_version(bytea) to authenticated, service_role;
grant execute on function private.active_field_key_version() to authenticated, service_role;
grant execute on function private.mask_identifier(text, text) to authenticated, service_role;
grant execute on function private.create_field_key() to service_role;
grant execute on function private.rotate_field_encryption(integer) to service_role;
grant execute on function private.retire_field_keys() to service_role;
revoke execute on function public.rotate_field_key() from authenticated;
revoke execute on function public.rotate_field_encryption(integer) from authenticated;
revoke execute on function public.retire_field_keys() from authenticated;
grant execute on function public.rotate_field_key() to service_role;
grant execute on function public.rotate_field_encryption(integer) to service_role;
grant execute on function public.retire_field_keys() to service_role;
