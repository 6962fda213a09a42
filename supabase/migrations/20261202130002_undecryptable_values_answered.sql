-- A stored value that cannot be decrypted (damaged, written as raw bytes before migration
-- 20261202130001, or under a key that is missing or retired) is a clear error for its own
-- record, never a server error for the whole read, and never blocks key rotation.
--
-- Until now private.decrypt_field let pgcrypto's "Wrong key or corrupt data" (39000) or the
-- key lookup's 55000 through: HTTP 500 for rpc/clinical_note, for every rpc/read_prescriptions
-- call that included the prescription, and rpc/rotate_field_encryption stopped at the value
-- for good. It is decided in one place now:
--   private.try_decrypt_field(ciphertext) -> (plaintext, problem): never fails on a bad value;
--     problem is 'corrupt' or 'key_missing';
--   private.decrypt_field(ciphertext): the clear text, or PT409 (HTTP 409) with detail
--     undecryptable_field: what the single-record readers answer (rpc/clinical_note,
--     rpc/reveal_patient_identifier);
--   rpc/read_prescriptions returns every prescription asked for; one whose notes or lines
--     cannot be decrypted comes back without them, each such line marked
--     {"undecryptable": true}, and the column `undecryptable` (of prescription_details,
--     null in the view itself) names the fields ('notes', 'medications'; empty when all
--     were read);
--   rotation skips such values (private.undecryptable_fields() lists them for operators).
--
-- The changed functions are defined once, in final form, in the migration that created them:
-- private.field_key_version (20261123000200), private.decrypt_field (20261123000200),
-- private.rotate_field_encryption (20261123000200).

-- Decrypts without failing on a bad value: problem is null (plaintext is the clear text, or
-- null for a null value), 'key_missing' (the key version it names is unknown or retired) or
-- 'corrupt' (not a ciphertext of that key: raw bytes, plain text, damaged). Not granted to
-- any API role; it runs as the owner when the private readers call it.
create function private.try_decrypt_field(ciphertext bytea, out plaintext text, out problem text)
returns record
language plpgsql
stable
set search_path = ''
as $$
begin
    if ciphertext is null then
        return;
    end if;
    if octet_length(ciphertext) < 3 then
        problem := 'corrupt';
        return;
    end if;
    begin
        plaintext := extensions.pgp_sym_decrypt(
            substring(ciphertext from 3), private.field_key(private.field_key_version(ciphertext))
        );
    exception
        when object_not_in_prerequisite_state then
            problem := 'key_missing';
        when external_routine_invocation_exception or data_exception then
            problem := 'corrupt';
    end;
end;
$$;

-- The same for contents stored as a JSON object (SOAP notes, prescription lines and notes):
-- problem 'not_json' when the clear text is not a JSON object.
create function private.try_decrypt_object(ciphertext bytea, out content jsonb, out problem text)
returns record
language plpgsql
stable
set search_path = ''
as $$
declare
    clear text;
begin
    select d.plaintext, d.problem into clear, problem from private.try_decrypt_field(ciphertext) as d;
    if problem is not null or clear is null then
        return;
    end if;
    begin
        content := clear::jsonb;
    exception when data_exception then
        problem := 'not_json';
        return;
    end;
    if jsonb_typeof(content) <> 'object' then
        content := null;
        problem := 'not_json';
    end if;
end;
$$;

-- private.read_prescriptions returns each prescription with what could be read and marks the
-- rest (see the header); its one body is in 20261201090002, where it is created.

-- Values of the encrypted columns that cannot be decrypted, at most max_rows of them, for
-- operators (service role): restore them from a backup, or archive the record. Decrypts every
-- value: run it off-peak. Security definer: reads every encrypted column.
create function private.undecryptable_fields(max_rows integer default 100)
returns table (table_name regclass, column_name text, row_id uuid, problem text)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    target private.encrypted_columns;
begin
    for target in select c.* from private.encrypted_columns as c order by c.table_name::text, c.column_name loop
        return query execute format(
            'select %1$L::regclass, %2$L, t.id, d.problem from %1$s as t
             cross join lateral private.try_decrypt_field(t.%2$I) as d
             where t.%2$I is not null and d.problem is not null
             order by t.id limit $1',
            target.table_name, target.column_name
        ) using undecryptable_fields.max_rows;
    end loop;
end;
$$;

-- private.guard_clinical_note compares the ciphertexts of a signed note before decrypting them,
-- so a note whose content cannot be decrypted can still be archived; its body is in
-- 20261202180001, which also drops the appointment lookup.

grant execute on function private.undecryptable_fields(integer) to service_role;
