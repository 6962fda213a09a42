-- A stored value that cannot be decrypted (damaged, written as raw bytes before migration
-- 2026120213000100, or under a key that is missing or retired) is a clear error for its own
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
--     {"undecryptable": true}, and the new column `undecryptable` names the fields ('notes',
--     'medications'; empty when all were read);
--   rotation skips such values (private.undecryptable_fields() lists them for operators).

-- The key version a ciphertext names; 0 (no key) for a value too short to name one, which
-- used to fail with "index out of range" and stop rotation.
create or replace function private.field_key_version(ciphertext bytea)
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

-- Decrypts with the key version the ciphertext names; a value that cannot be decrypted is
-- PT409 (HTTP 409), detail undecryptable_field, for the record being read. Security definer:
-- the key. Not granted to any API role: only private readers that check access first call it.
create or replace function private.decrypt_field(ciphertext bytea)
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

-- The prescription_details view gains `undecryptable` (always null here: the view decrypts
-- nothing); rpc/read_prescriptions fills it. The rest is as in 2026120109000200.
create or replace view public.prescription_details
with (security_invoker = true) as
select
    p.id,
    p.hospital_id,
    p.patient_id,
    p.doctor_id,
    p.appointment_id,
    p.pharmacy_id,
    p.status,
    p.status_reason,
    p.status_changed_at,
    p.verification_code,
    p.issued_at,
    p.valid_until,
    upper(p.status::text) as status_code,
    null::text as notes,
    (
        select
            coalesce(jsonb_agg(
                jsonb_build_object(
                    'item_id', i.id, 'line_no', i.line_no, 'quantity', i.quantity,
                    'dispensed_quantity', i.dispensed_quantity
                )
                order by i.line_no
            ), '[]')
        from public.prescription_items as i
        where i.prescription_id = p.id
    ) as medications,
    null::text[] as undecryptable
from public.prescriptions as p;

comment on column public.prescription_details.undecryptable is
'Filled by rpc/read_prescriptions: the content fields that could not be decrypted (notes, medications), '
'empty when all were read; null in this view, which decrypts nothing.';

-- As in 2026120109000200, but a value that cannot be decrypted no longer fails the whole call:
-- that prescription comes back without it, marked (see the header). Security definer:
-- decrypts and appends to the audit trail; it checks access itself.
create or replace function private.read_prescriptions(prescription_ids uuid[])
returns setof public.prescription_details
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    rx public.prescription_details;
    opened record;
    lines_unreadable boolean;
begin
    if cardinality(read_prescriptions.prescription_ids) > 100 then
        raise exception using
            errcode = '22023', message = 'at most 100 prescriptions per call',
            hint = 'list prescriptions with GET /rest/v1/prescription_details, then read the ones you need';
    end if;
    for rx in
        select pd.* from public.prescription_details as pd
        where pd.id = any(read_prescriptions.prescription_ids) and private.can_read_prescription(pd.id)
        order by pd.issued_at desc, pd.id
    loop
        perform private.audit_append(
            'READ', 'public.prescriptions', rx.id::text, rx.hospital_id, rx.patient_id, '{medications,notes}'
        );
        rx.undecryptable := '{}';
        select d.content, d.problem into opened
        from public.prescriptions as p
        cross join lateral private.try_decrypt_object(p.notes) as d
        where p.id = rx.id;
        rx.notes := opened.content ->> 'notes';
        if opened.problem is not null then
            rx.undecryptable := rx.undecryptable || 'notes'::text;
        end if;
        select
            coalesce(jsonb_agg(
                coalesce(d.content, jsonb_build_object('undecryptable', true))
                || jsonb_build_object(
                    'item_id', i.id, 'line_no', i.line_no, 'quantity', i.quantity,
                    'dispensed_quantity', i.dispensed_quantity
                )
                order by i.line_no
            ), '[]'),
            coalesce(bool_or(d.problem is not null), false)
        into rx.medications, lines_unreadable
        from public.prescription_items as i
        cross join lateral private.try_decrypt_object(i.details) as d
        where i.prescription_id = rx.id;
        if lines_unreadable then
            rx.undecryptable := rx.undecryptable || 'medications'::text;
        end if;
        return next rx;
    end loop;
end;
$$;

-- As in 20261123000200, but values that cannot be decrypted are skipped (they would stop
-- every batch for good; private.undecryptable_fields lists them), and the records of fresh
-- ciphertexts left by finished transactions (an encryption never stored) are pruned.
create or replace function private.rotate_field_encryption(batch_size integer default 500)
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

-- As in 20261123000500, but an archive (or any change leaving the ciphertext as it was) of a
-- signed note compares the ciphertexts first, so a note whose content cannot be decrypted can
-- still be archived, and nothing is decrypted for it. Security definer: compares the decrypted
-- content on re-encryption.
create or replace function private.guard_clinical_note()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op = 'INSERT' then
        if new.status <> 'draft' then
            raise exception using
                errcode = '22023', message = 'a note is written as a draft, then signed';
        end if;
        if new.appointment_id is not null and not exists (
            select from public.appointments as a
            where a.id = new.appointment_id and a.patient_id = new.patient_id and a.hospital_id = new.hospital_id
        ) then
            raise exception using
                errcode = '22023', message = 'the appointment is not this patient''s at this hospital';
        end if;
        return new;
    end if;
    if old.status = 'signed' then
        if (to_jsonb(new) - 'deleted_at' - 'updated_at' - 'soap_encrypted')
            = (to_jsonb(old) - 'deleted_at' - 'updated_at' - 'soap_encrypted') then
            if new.soap_encrypted = old.soap_encrypted then
                return new;
            end if;
            if private.decrypt_field(new.soap_encrypted) = private.decrypt_field(old.soap_encrypted) then
                return new;
            end if;
        end if;
        raise exception using
            errcode = 'PT409', message = 'a signed note cannot be changed',
            hint = 'add an addendum (rpc/add_note_addendum)';
    end if;
    if not private.acting_as_system() and old.author_id <> (select auth.uid()) and new.deleted_at is not distinct from old.deleted_at then
        raise exception using
            errcode = '42501', message = 'only the author edits or signs a draft note';
    end if;
    if new.status = 'signed' then
        new.signed_at := clock_timestamp();
    end if;
    return new;
end;
$$;

revoke execute on function private.try_decrypt_field(bytea) from public;
revoke execute on function private.try_decrypt_object(bytea) from public;
revoke execute on function private.undecryptable_fields(integer) from public;
grant execute on function private.undecryptable_fields(integer) to service_role;
