-- Every read of decrypted prescription contents leaves a READ entry in the audit trail.
--
-- PostgREST reads a view with GET, in a read-only transaction where no audit row can be
-- written, so the prescription_details view (20261122000800) shows prescriptions without
-- their contents (the lines keep their quantities, which are in clear anyway). The contents
-- come only from the RPC below, which checks access, appends one READ entry per prescription
-- naming the patient and the hospital (so the read appears in the patient's
-- record_disclosures and the hospital admin's audit_trail), then decrypts.

-- Prescriptions in clear, for those who may read them (private.can_read_prescription: the
-- patient, the issuing doctor, the pharmacy it was sent to), each read a READ entry. Ids the
-- caller may not read are left out, as RLS would. Security definer: decrypts and appends to
-- the audit trail; it checks access itself.
create function private.read_prescriptions(prescription_ids uuid[])
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
        perform private.require_phi_aal2(rx.patient_id);
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

-- RPC: POST /rest/v1/rpc/read_prescriptions {"prescription_ids": [...]}: the prescriptions in
-- clear (seed 000 GET /prescriptions/{id}), newest first, each read logged.
create function public.read_prescriptions(prescription_ids uuid[])
returns setof public.prescription_details
language sql
volatile
set search_path = ''
as $$
    select * from private.read_prescriptions(read_prescriptions.prescription_ids);
$$;

grant execute on function private.read_prescriptions(uuid[]) to authenticated, service_role;
grant execute on function public.read_prescriptions(uuid[]) to authenticated, service_role;
