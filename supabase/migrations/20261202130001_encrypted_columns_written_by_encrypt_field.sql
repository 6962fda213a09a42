-- An encrypted column holds only what private.encrypt_field produced, in the same transaction.
--
-- Until now the API roles held INSERT/UPDATE on the encrypted columns (the encrypting RPCs run
-- as the caller, so that row-level security decides who writes), and nothing checked the
-- value: a care-team doctor could POST /rest/v1/clinical_notes or /rest/v1/prescription_items
-- with arbitrary bytes (or plain text) as the ciphertext, after which every read of that row
-- failed with a server error. A ciphertext copied from another row would be stored just as
-- well, and read back in clear by whoever may read the new row (e.g. a hospital admin, who
-- selects notes' ciphertexts but may not decrypt them, pasting one into a row they can read).
--
-- Now private.encrypt_field records a digest of every ciphertext it returns, for the current
-- transaction only, and a trigger on every encrypted column accepts a new value only if it
-- is such a fresh ciphertext, consuming the record (one value, one row): only what the
-- encrypting functions produced from clear content can be stored. Raw bytes, plain
-- text and copied ciphertexts are refused (42501, detail encrypted_column_direct_write) for
-- every role, service role and table owner included; an unchanged value is not checked. The
-- privileges and row-level security still decide who writes a row: the encrypting RPCs are
-- unchanged. Registering a column in private.encrypted_columns installs its triggers, so a
-- new encrypted column is protected (and rotated) as soon as it is registered.
--
-- The changed function is defined once, in final form, in the migration that created it:
-- private.encrypt_field (20261123000200).

-- Ciphertexts private.encrypt_field returned, by transaction, until a row stores them.
-- Unlogged: a crash loses only values of transactions that could not commit anyway.
create unlogged table private.fresh_ciphertexts (
    xact xid8 not null default pg_current_xact_id(),
    digest bytea not null,
    primary key (xact, digest)
);

revoke all on private.fresh_ciphertexts from public, anon, authenticated, service_role;

-- Trigger (BEFORE INSERT / UPDATE of an encrypted column, whose name is the argument): the
-- new value must be a ciphertext private.encrypt_field returned in this transaction and that
-- no row stored yet. Named to fire before the table's other triggers, so a raw value is
-- refused before anything looks at it (or tries to decrypt it). Security definer: consumes
-- the record in private.fresh_ciphertexts.
create function private.require_fresh_ciphertext()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    stored bytea;
begin
    execute format('select ($1).%I', tg_argv[0]) into stored using new;
    if stored is null then
        return new;
    end if;
    delete from private.fresh_ciphertexts as f
    where f.xact = pg_current_xact_id() and f.digest = extensions.digest(stored, 'sha256');
    if not found then
        raise exception using
            errcode = '42501',
            message = format('%s.%s is written only by the functions that encrypt it', tg_table_name, tg_argv[0]),
            detail = 'encrypted_column_direct_write',
            hint = 'send the clear content to the RPC that writes it (e.g. rpc/write_clinical_note, '
            || 'rpc/update_clinical_note, rpc/add_note_addendum, rpc/issue_prescription, rpc/set_patient_identifier)';
    end if;
    return new;
end;
$$;

-- Installs the two triggers of one encrypted column: <table>_ciphertext_<column>_on_insert
-- and _on_update (an unchanged value is not checked).
create function private.protect_encrypted_column(target regclass, column_name text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    table_name text := (select c.relname from pg_catalog.pg_class as c where c.oid = target);
begin
    execute format(
        'create trigger %1$I before insert on %2$s for each row when (new.%3$I is not null)
         execute function private.require_fresh_ciphertext(%3$L)',
        format('%s_ciphertext_%s_on_insert', table_name, protect_encrypted_column.column_name), target,
        protect_encrypted_column.column_name
    );
    execute format(
        'create trigger %1$I before update on %2$s for each row
         when (new.%3$I is not null and new.%3$I is distinct from old.%3$I)
         execute function private.require_fresh_ciphertext(%3$L)',
        format('%s_ciphertext_%s_on_update', table_name, protect_encrypted_column.column_name), target,
        protect_encrypted_column.column_name
    );
end;
$$;

-- Registering a column for rotation protects it too (migrations insert into the registry).
create function private.encrypted_column_registered()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform private.protect_encrypted_column(new.table_name, new.column_name);
    return null;
end;
$$;

create trigger encrypted_columns_protected
after insert on private.encrypted_columns
for each row execute function private.encrypted_column_registered();

select private.protect_encrypted_column(c.table_name, c.column_name)
from private.encrypted_columns as c;

-- A national number's blind index and last digits are derived from it: they change only
-- together with a fresh ciphertext (rpc/set_patient_identifier writes the three at once), not
-- alone through PATCH, which would make the exact lookup miss the patient or mask a number
-- that is not theirs.
create function private.guard_identifier_derived_columns()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if (new.blind_index, new.last4) is distinct from (old.blind_index, old.last4)
        and new.value_encrypted is not distinct from old.value_encrypted then
        perform private.raise_forbidden(
            'a national number''s blind index and last digits change only with the number',
            detail => 'encrypted_column_direct_write',
            hint => 'use rpc/set_patient_identifier'
        );
    end if;
    return new;
end;
$$;

create trigger patient_identifiers_ciphertext_derived_columns
before update on public.patient_identifiers
for each row execute function private.guard_identifier_derived_columns();
