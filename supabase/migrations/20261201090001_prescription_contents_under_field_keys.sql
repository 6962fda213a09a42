-- Prescription contents under the versioned field keys, so that key rotation covers them.
--
-- Until now prescriptions.notes and prescription_items.details were encrypted under one key of
-- their own (Vault secret carebase_prescription_key, migration 20261122000700), outside
-- private.encrypted_columns: private.rotate_field_encryption skipped them and that key could
-- never be rotated. Now they use the field-encryption layout (2-byte key version followed by
-- pgp_sym_encrypt under carebase_field_key_v<N>) and are registered for rotation.
--
-- Existing values are re-encrypted here. A value in the old layout is a bare OpenPGP message,
-- whose first byte always has its high bit set, so it reads as a "key version" above 32767,
-- which no field key can have: that is what selects them.

-- Encrypts medication contents under the active field key (rpc/issue_prescription calls it).
-- Security definer: needs the key (through private.encrypt_field). Granted to the API roles
-- because encrypting reveals nothing; decrypting is reserved to the logged readers.
create function private.encrypt_contents(contents jsonb)
returns bytea
language sql
volatile
security definer
set search_path = ''
as $$
    select private.encrypt_field(encrypt_contents.contents::text);
$$;

update public.prescription_items as i
set details = private.encrypt_field(extensions.pgp_sym_decrypt(i.details, private.prescription_key()))
where private.field_key_version(i.details) > 32767;

update public.prescriptions as p
set notes = private.encrypt_field(extensions.pgp_sym_decrypt(p.notes, private.prescription_key()))
where p.notes is not null and private.field_key_version(p.notes) > 32767;

insert into private.encrypted_columns (table_name, column_name)
values
('public.prescriptions', 'notes'),
('public.prescription_items', 'details')
on conflict do nothing;

-- Nothing reads the old key any more. The Vault secret carebase_prescription_key is left in
-- place, like a retired field key: delete it once backups older than this migration expire.
drop function private.prescription_key();

grant execute on function private.encrypt_contents(jsonb) to authenticated, service_role;
