-- The prescription API: issuing (encrypting on the way in), the prescriptions as the API
-- lists them (without their contents, which only the logged rpc/read_prescriptions of
-- 20261201090002 decrypts), verifying a code at a pharmacy, and expiry.

-- Prescriptions as seed 000 shows them: status in its upper-case code (PENDING, APPROVED,
-- DENIED, COMPLETED, ...). Masked: PostgREST reads a view with GET, in a read-only
-- transaction where no audit entry can be written, so the view decrypts nothing: `notes` is
-- null and `medications` lists the lines with their quantities only. rpc/read_prescriptions
-- returns the same rows with the contents, each read logged, and fills `undecryptable`.
create view public.prescription_details
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

revoke all on public.prescription_details from anon, authenticated;
grant select on public.prescription_details to authenticated, service_role;

-- RPC: POST /rest/v1/rpc/issue_prescription {"patient_id", "medications": [{"medicine" (or
-- "name"), "strength", "dosage", "frequency", "duration", "quantity", "instructions"}],
-- "pharmacy_id"?, "appointment_id"?, "notes"?, "valid_days"?, "hospital_id"?}.
-- The caller prescribes as their doctor profile at the hospital (the appointment's, the one
-- given, or the one where the patient is in their care). The pharmacy (the doctor's pick,
-- else the patient's choice, else the hospital's default) may belong to another hospital
-- while the patient's external_pharmacy consent at this hospital stands; the result is the
-- prescription in clear for the issuing doctor (a logged read).
create function public.issue_prescription(
    patient_id uuid,
    medications jsonb,
    pharmacy_id uuid default null,
    appointment_id uuid default null,
    notes text default null,
    valid_days integer default 30,
    hospital_id uuid default null
)
returns public.prescription_details
language plpgsql
volatile
set search_path = ''
as $$
declare
    at_hospital uuid := issue_prescription.hospital_id;
    prescriber uuid;
    to_pharmacy uuid := issue_prescription.pharmacy_id;
    pharmacy_hospital uuid;
    new_id uuid := gen_random_uuid();
    line record;
    issued public.prescription_details;
begin
    if jsonb_typeof(issue_prescription.medications) is distinct from 'array'
        or jsonb_array_length(issue_prescription.medications) = 0 then
        perform private.raise_invalid('medications must be a non-empty array');
    end if;
    if issue_prescription.valid_days is null or issue_prescription.valid_days not between 1 and 365 then
        perform private.raise_invalid('valid_days must be between 1 and 365');
    end if;
    if at_hospital is null and issue_prescription.appointment_id is not null then
        select a.hospital_id into at_hospital
        from public.appointments as a where a.id = issue_prescription.appointment_id;
    end if;

    -- The caller's doctor profile at a hospital where the patient is in their care.
    select d.id, d.hospital_id into prescriber, at_hospital
    from public.doctors as d
    join public.care_team_members as c
        on c.hospital_id = d.hospital_id and c.member_id = d.user_id and c.ended_at is null
    where d.id = any(private.own_doctor_ids())
        and c.patient_id = issue_prescription.patient_id
        and (at_hospital is null or d.hospital_id = at_hospital)
    order by d.hospital_id
    limit 1;
    if prescriber is null then
        raise exception using
            errcode = '42501', message = 'only a doctor of the patient''s care team can prescribe for them',
            hint = 'book the patient with you or ask an admin to add you to their care team';
    end if;

    -- The patient's choice at this hospital, while that pharmacy is open.
    if to_pharmacy is null then
        select c.pharmacy_id into to_pharmacy
        from public.patient_pharmacy_choices as c
        where c.patient_id = issue_prescription.patient_id and c.hospital_id = at_hospital
            and private.active_pharmacy_hospital_id(c.pharmacy_id) is not null;
    end if;
    if to_pharmacy is null then
        select ph.id into to_pharmacy
        from public.pharmacies as ph
        where ph.hospital_id = at_hospital and ph.is_default and ph.is_active;
    end if;
    pharmacy_hospital := private.active_pharmacy_hospital_id(to_pharmacy);
    if pharmacy_hospital is null then
        raise exception using
            errcode = 'PT422', message = 'no active pharmacy to send the prescription to',
            hint = 'choose an active pharmacy or ask an admin to set a default one';
    end if;
    if not private.pharmacy_may_receive(to_pharmacy, at_hospital, issue_prescription.patient_id) then
        raise exception using
            errcode = '42501',
            message = 'the patient has not consented to sending prescriptions to an outside pharmacy',
            hint = 'record the patient''s external_pharmacy consent at this hospital, or send it to one of the '
            || 'hospital''s pharmacies';
    end if;

    insert into public.prescriptions (
        id, hospital_id, patient_id, doctor_id, appointment_id, pharmacy_id, notes, valid_until
    )
    values (
        new_id, at_hospital, issue_prescription.patient_id, prescriber, issue_prescription.appointment_id,
        to_pharmacy,
        case
            when issue_prescription.notes is not null
                then private.encrypt_contents(jsonb_build_object('notes', issue_prescription.notes))
        end,
        now() + make_interval(days => issue_prescription.valid_days)
    );

    for line in select m.value, m.n from jsonb_array_elements(issue_prescription.medications) with ordinality as m (value, n) loop
        if coalesce(btrim(coalesce(line.value ->> 'medicine', line.value ->> 'name')), '') = ''
            or jsonb_typeof(line.value -> 'quantity') is distinct from 'number'
            or (line.value ->> 'quantity')::numeric <= 0 then
            perform private.raise_invalid(
                format('medication %s needs a medicine name and a positive quantity', line.n)
            );
        end if;
        insert into public.prescription_items (prescription_id, line_no, details, quantity)
        values (
            new_id, line.n,
            private.encrypt_contents(jsonb_strip_nulls(jsonb_build_object(
                'medicine', coalesce(line.value ->> 'medicine', line.value ->> 'name'),
                'strength', line.value ->> 'strength',
                'dosage', line.value ->> 'dosage',
                'frequency', line.value ->> 'frequency',
                'duration', line.value ->> 'duration',
                'instructions', line.value ->> 'instructions'
            ))),
            (line.value ->> 'quantity')::numeric
        );
    end loop;

    select r.* into issued from private.read_prescriptions(array[new_id]) as r;
    return issued;
end;
$$;

-- Authenticity check by verification code. Security definer: a pharmacy checks codes of
-- prescriptions it cannot otherwise read; it learns only validity, doctor, date and status.
-- Only active pharmacists may ask.
create function private.verify_prescription(code text)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    hit record;
begin
    if cardinality(private.staff_hospital_ids('{pharmacist}')) = 0 and not private.acting_as_system() then
        perform private.raise_forbidden('only pharmacists can verify prescriptions');
    end if;
    select
        p.status,
        p.issued_at,
        p.valid_until,
        pr.full_name as doctor_name,
        d.licence_number,
        h.name as hospital_name
    into hit
    from public.prescriptions as p
    join public.doctors as d on d.id = p.doctor_id
    join public.profiles as pr on pr.id = d.user_id
    join public.hospitals as h on h.id = p.hospital_id
    where p.verification_code = upper(btrim(verify_prescription.code));
    if not found then
        return jsonb_build_object('valid', false, 'status', null);
    end if;
    return jsonb_build_object(
        'valid', hit.status in ('pending', 'approved', 'ready_for_pickup') and hit.valid_until > now(),
        'status', upper(hit.status::text),
        'doctor_name', hit.doctor_name,
        'doctor_licence_number', hit.licence_number,
        'hospital_name', hit.hospital_name,
        'issued_on', (hit.issued_at at time zone 'UTC')::date
    );
end;
$$;

-- RPC: GET /rest/v1/rpc/verify_prescription?code=ABCD2345.
create function public.verify_prescription(code text)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select private.verify_prescription(verify_prescription.code);
$$;

-- RPC for the system (service role or pg_cron): expires prescriptions past their validity.
-- Returns how many expired.
create function public.expire_prescriptions()
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    expired integer;
begin
    update public.prescriptions as p
    set status = 'expired'
    where p.valid_until <= now() and p.status in ('pending', 'approved', 'ready_for_pickup');
    get diagnostics expired = row_count;
    return expired;
end;
$$;

grant execute on function public.issue_prescription(uuid, jsonb, uuid, uuid, text, integer, uuid)
to authenticated, service_role;
grant execute on function public.verify_prescription(text) to authenticated, service_role;
revoke execute on function public.expire_prescriptions() from authenticated;
grant execute on function public.expire_prescriptions() to service_role;

grant execute on function private.verify_prescription(text) to authenticated, service_role;
