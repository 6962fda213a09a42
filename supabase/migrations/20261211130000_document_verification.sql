-- Verifiable PDFs (issue 18 item 5): the sidecar renders invoices and prescriptions as PDFs
-- whose QR code carries a signed token naming only the document's kind, id and content hash.
-- GET /api/v1/verify/{token} (public) asks this function, with the service role only, for the
-- document's current status and content hash; it answers no personal data: the hospital, the
-- issuing doctor's name, the invoice number, dates and status.

-- The content a PDF shows and a verification vouches for, as a hash: an invoice's row without
-- what payments move (status, amounts paid and credited) plus its lines; a prescription's
-- sealed contents, parties and dates. Another hash than the token's: the document changed.
create function private.document_content_hash(kind text, document_id uuid)
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
            from public.prescriptions as p where p.id = document_content_hash.document_id
        )
    end;
$$;

comment on function private.document_content_hash(text, uuid) is
'The sha256 (hex) of what an invoice''s or prescription''s PDF vouches for, without what moves '
'on its own (an invoice''s status and paid amounts); null for an unknown document.';

-- Service role only: the public verify route after its rate limit. Answers null for an unknown
-- document; never a patient's name or anything clinical. Security definer: reads the document
-- whoever it belongs to; only the service role may call it.
create function private.document_verification(kind text, document_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    answer jsonb;
begin
    if document_verification.kind not in ('invoice', 'prescription') then
        perform private.raise_invalid(
            format('unknown document kind %s', document_verification.kind), 'document_kind_unknown'
        );
    end if;
    if document_verification.kind = 'invoice' then
        select jsonb_build_object(
            'kind', 'invoice', 'id', i.id, 'number', i.number, 'status', i.status,
            'issued_at', i.issued_at, 'hospital', h.name, 'total', i.total, 'currency', i.currency,
            'letterhead', jsonb_build_object(
                'name', h.name, 'address', h.address, 'city', h.city, 'state', h.state, 'phone', h.phone,
                'email', h.email
            )
        ) into answer
        from public.invoices as i
        join public.hospitals as h on h.id = i.hospital_id
        where i.id = document_verification.document_id;
    else
        select jsonb_build_object(
            'kind', 'prescription', 'id', p.id, 'status', p.status, 'issued_at', p.issued_at,
            'valid_until', p.valid_until, 'hospital', h.name, 'doctor', pr.full_name,
            'letterhead', jsonb_build_object(
                'name', h.name, 'address', h.address, 'city', h.city, 'state', h.state, 'phone', h.phone,
                'email', h.email
            ),
            'prescriber', jsonb_build_object(
                'name', pr.full_name, 'qualification', d.qualification, 'licence_number', d.licence_number,
                'licence_council', d.licence_council
            )
        ) into answer
        from public.prescriptions as p
        join public.hospitals as h on h.id = p.hospital_id
        join public.doctors as d on d.id = p.doctor_id
        join public.profiles as pr on pr.id = d.user_id
        where p.id = document_verification.document_id;
    end if;
    if answer is null then
        return null;
    end if;
    return answer || jsonb_build_object(
        'content_hash', private.document_content_hash(document_verification.kind, document_verification.document_id)
    );
end;
$$;

comment on function private.document_verification(text, uuid) is
'The body of rpc/document_verification (service role only).';

-- RPC: POST /rest/v1/rpc/document_verification {"kind", "document_id"} (service role only).
create function public.document_verification(kind text, document_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select private.document_verification(document_verification.kind, document_verification.document_id);
$$;

revoke all on function private.document_content_hash(text, uuid) from public, anon, authenticated;
revoke all on function private.document_verification(text, uuid) from public, anon, authenticated;
revoke all on function public.document_verification(text, uuid) from public, anon, authenticated;
grant execute on function private.document_content_hash(text, uuid) to service_role;
grant execute on function private.document_verification(text, uuid) to service_role;
grant execute on function public.document_verification(text, uuid) to service_role;

comment on function public.document_verification(text, uuid) is
'Service role only (the sidecar''s public GET /api/v1/verify/{token}, after it checked the '
'token''s signature, and its PDF routes after the caller read the record): an invoice''s or '
'prescription''s kind, id, status, issue date, hospital, number (invoice) or doctor '
'(prescription), the hospital''s letterhead and the doctor''s registration (printed on the '
'PDF; the verify route shows only name, number, date and status) and current content_hash; '
'null when there is no such document. No patient data. Raises document_kind_unknown for another kind.';

-- The rendered PDFs: private, written and signed by the sidecar's service role only (no
-- object policy for authenticated: a reader gets a short-lived signed URL after the sidecar
-- read the record with their own token).
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('document-pdfs', 'document-pdfs', false, 10485760, '{application/pdf}')
on conflict (id) do nothing;
