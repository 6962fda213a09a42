-- A prescription's verification hash over its clear content (issue 18 item 5, follow-up): the
-- hash of 20261211130000 covered the sealed bytes of its notes and lines, so re-encrypting them
-- (a key rotation, or a value re-written in the new string-to-key) showed every printout made
-- before as "changed". It covers now a canonical form of what the PDF prints: the parties, the
-- dates (UTC), the notes and each line's text and quantity in clear, computed here where the
-- keys are; only the hash leaves the database, never the content.
--
-- Printouts made before carry the old (version 1) hash in their token: rpc/document_verification
-- answers the hashes such a token may still match (content_hashes_v1): the sealed hash as it is
-- now, and the one recorded below when this migration ran, as long as the clear content is still
-- what it was then (so a rotation after this migration does not void them either).

-- The version 1 hash: the sealed contents, parties and dates, as 20261211130000 computed it.
create function private.prescription_sealed_hash(prescription_id uuid)
returns text
language sql
stable
security definer
set search_path = ''
as $$
    select encode(extensions.digest(
        concat_ws(
            '|', p.hospital_id, p.patient_id, p.doctor_id, p.issued_at, p.valid_until,
            encode(coalesce(p.notes, ''::bytea), 'hex'),
            (
                select string_agg(encode(it.details, 'hex'), ',' order by it.line_no)
                from public.prescription_items as it where it.prescription_id = p.id
            )
        ),
        'sha256'
    ), 'hex')
    from public.prescriptions as p where p.id = prescription_sealed_hash.prescription_id;
$$;

comment on function private.prescription_sealed_hash(uuid) is
'The version 1 verification hash of a prescription (its sealed bytes, 20261211130000), which '
'tokens printed before 20261213161000 carry; null for an unknown prescription.';

-- The version 2 hash (what tokens carry from now on) is private.document_content_hash's.
create or replace function private.document_content_hash(kind text, document_id uuid)
returns text
language sql
stable
security definer
set search_path = ''
as $$
    select case document_content_hash.kind
        when 'invoice' then (
            select encode(extensions.digest(
                (to_jsonb(i) - '{status,status_reason,status_changed_at,amount_paid,amount_credited,updated_at}'::text[])::text
                || coalesce((
                    select jsonb_agg(to_jsonb(l) - '{updated_at}'::text[] order by l.line_no)::text
                    from public.invoice_lines as l where l.invoice_id = i.id
                ), ''),
                'sha256'
            ), 'hex')
            from public.invoices as i where i.id = document_content_hash.document_id
        )
        when 'prescription' then (
            -- jsonb's text is canonical (keys sorted); a value that cannot be decrypted hashes as
            -- its problem, so that the document shows as changed rather than failing the lookup.
            select encode(extensions.digest(
                jsonb_build_object(
                    'hospital_id', p.hospital_id, 'patient_id', p.patient_id, 'doctor_id', p.doctor_id,
                    'issued_at', p.issued_at at time zone 'UTC', 'valid_until', p.valid_until at time zone 'UTC',
                    'notes', (select coalesce(d.plaintext, d.problem) from private.try_decrypt_field(p.notes) as d),
                    'items', (
                        select jsonb_agg(
                            jsonb_build_object(
                                'line_no', it.line_no, 'quantity', it.quantity,
                                'details', (
                                    select coalesce(d.plaintext, d.problem)
                                    from private.try_decrypt_field(it.details) as d
                                )
                            )
                            order by it.line_no
                        )
                        from public.prescription_items as it where it.prescription_id = p.id
                    )
                )::text,
                'sha256'
            ), 'hex')
            from public.prescriptions as p where p.id = document_content_hash.document_id
        )
    end;
$$;

-- Each prescription's version 1 hash and its clear content's hash when this migration ran.
-- Append-only by use: written here and by private.record_prescription_sealed_hashes (a restore
-- of an older database), read by the verification.
create table private.prescription_sealed_hashes (
    prescription_id uuid primary key references public.prescriptions (id) on delete cascade,
    sealed_hash text not null,
    content_hash text not null,
    recorded_at timestamptz not null default now()
);

revoke all on private.prescription_sealed_hashes from public, anon, authenticated, service_role;

comment on table private.prescription_sealed_hashes is
'Each prescription''s version 1 (sealed) verification hash and its clear content hash when '
'20261213161000 ran: a token printed before stays valid while the clear content is unchanged, '
'whatever was re-encrypted since.';

-- Records the version 1 hashes of the prescriptions not recorded yet; returns how many.
create function private.record_prescription_sealed_hashes()
returns integer
language sql
volatile
security definer
set search_path = ''
as $$
    with recorded as (
        insert into private.prescription_sealed_hashes (prescription_id, sealed_hash, content_hash)
        select
            p.id,
            private.prescription_sealed_hash(p.id),
            private.document_content_hash('prescription', p.id)
        from public.prescriptions as p
        on conflict (prescription_id) do nothing
        returning 1
    )

    select count(*)::integer from recorded;
$$;

comment on function private.record_prescription_sealed_hashes() is
'Records the version 1 verification hash of every prescription not recorded yet (run by '
'20261213161000; again after restoring a database dumped before it). Returns how many.';

select private.record_prescription_sealed_hashes();

-- The version 1 hashes a token printed before may match: the sealed hash now, and the one
-- recorded while the clear content is unchanged since. An invoice's hash did not change.
create function private.document_content_hashes_v1(kind text, document_id uuid)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select case document_content_hashes_v1.kind
        when 'invoice' then
            jsonb_build_array(private.document_content_hash('invoice', document_content_hashes_v1.document_id))
        when 'prescription' then
            jsonb_build_array(private.prescription_sealed_hash(document_content_hashes_v1.document_id))
            || coalesce((
                select jsonb_build_array(r.sealed_hash)
                from private.prescription_sealed_hashes as r
                where
                    r.prescription_id = document_content_hashes_v1.document_id
                    and r.content_hash = private.document_content_hash('prescription', r.prescription_id)
            ), '[]'::jsonb)
    end;
$$;

comment on function private.document_content_hashes_v1(text, uuid) is
'The hashes a version 1 verification token (printed before 20261213161000) may carry and still '
'match the document: its sealed hash now, and the one recorded then while the clear content is '
'unchanged.';

-- rpc/document_verification answers both versions: content_hash (tokens from now on) and
-- content_hashes_v1 (tokens printed before).
create or replace function public.document_verification(kind text, document_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select private.document_verification(document_verification.kind, document_verification.document_id)
        || jsonb_build_object(
            'content_hashes_v1',
            private.document_content_hashes_v1(document_verification.kind, document_verification.document_id)
        );
$$;

revoke all on function private.prescription_sealed_hash(uuid) from public, anon, authenticated;
revoke all on function private.record_prescription_sealed_hashes() from public, anon, authenticated, service_role;
revoke all on function private.document_content_hashes_v1(text, uuid) from public, anon, authenticated;
grant execute on function private.prescription_sealed_hash(uuid) to service_role;
grant execute on function private.document_content_hashes_v1(text, uuid) to service_role;

comment on function private.document_content_hash(text, uuid) is
'The sha256 (hex) of what an invoice''s or prescription''s PDF vouches for, without what moves '
'on its own (an invoice''s status and paid amounts); a prescription''s over its clear content '
'(unchanged by re-encryption). Null for an unknown document.';

comment on function public.document_verification(text, uuid) is
'Service role only (the sidecar''s public GET /api/v1/verify/{token}, after it checked the '
'token''s signature, and its PDF routes after the caller read the record): an invoice''s or '
'prescription''s kind, id, status, issue date, hospital, number (invoice) or doctor '
'(prescription), the hospital''s letterhead and the doctor''s registration (printed on the '
'PDF; the verify route shows only name, number, date and status), its current content_hash '
'and content_hashes_v1 (what a token printed before 20261213161000 may carry); null when '
'there is no such document. No patient data. Raises document_kind_unknown for another kind.';

insert into private.personal_data_columns (table_name, column_name, kind, note) values
(
    'private.prescription_sealed_hashes', 'content_hash', 'none',
    'a sha256 of the clear content (with the parties'' ids), not the content'
);
