-- Prescriptions sent to a pharmacy of another hospital, only with the patient's consent
-- (issue 5: consent is checked where data crosses a boundary, "sending a prescription to an
-- outside pharmacy").
--
-- Until now a prescription could only go to a pharmacy of its own hospital (a same-hospital
-- foreign key), so the external_pharmacy consent purpose was never checked. Now:
--   routing   a prescription (and a patient's standing choice) may name any active pharmacy;
--             one of another hospital is accepted only while the patient's external_pharmacy
--             consent at the prescription's hospital stands (a trigger, whatever path writes
--             the row; issue_prescription says so before trying);
--   reading   the outside pharmacy's pharmacists read and work the prescription (RLS on
--             prescriptions, and through it on items, dispensings, status history and the
--             prescription_details view; rpc/read_prescriptions for the contents) only while
--             that consent stands, checked on every query: a withdrawal cuts them off at once;
--   working   for the state machine they act as pharmacists for that prescription's hospital
--             and patient (private.actor_roles), under the same consent.
-- The hospital's own pharmacies are unaffected.
--
-- The changed functions are defined once, in final form, in the migration that created them:
-- private.actor_roles (20261122000100), public.issue_prescription (20261122000800).

alter table public.prescriptions
drop constraint prescriptions_pharmacy_same_hospital_fkey,
add constraint prescriptions_pharmacy_fkey foreign key (pharmacy_id)
references public.pharmacies (id) on delete restrict;

alter table public.patient_pharmacy_choices
drop constraint patient_pharmacy_choices_pharmacy_same_hospital_fkey,
add constraint patient_pharmacy_choices_pharmacy_fkey foreign key (pharmacy_id)
references public.pharmacies (id) on delete cascade;

-- The hospital of an active pharmacy (null when unknown or closed). Security definer: a doctor
-- or patient routes to a pharmacy of another hospital, which their RLS does not show them;
-- they learn only whether the id is an open pharmacy.
create function private.active_pharmacy_hospital_id(pharmacy uuid)
returns uuid
language sql
stable
security definer
set search_path = ''
as $$
    select ph.hospital_id
    from public.pharmacies as ph
    join public.hospitals as h on h.id = ph.hospital_id
    where ph.id = active_pharmacy_hospital_id.pharmacy and ph.is_active and h.is_active;
$$;

-- Whether a prescription of this patient at this hospital may be with this pharmacy: one of
-- the hospital's own, or any other while the patient's external_pharmacy consent at the
-- hospital stands (read afresh on every call). Security definer, like the access helpers.
create function private.pharmacy_may_receive(pharmacy uuid, hospital uuid, patient uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (
        select from public.pharmacies as ph
        where ph.id = pharmacy_may_receive.pharmacy and ph.hospital_id = pharmacy_may_receive.hospital
    )
    or private.has_consent(pharmacy_may_receive.patient, pharmacy_may_receive.hospital, 'external_pharmacy');
$$;

-- The routing boundary, whatever path writes the row (RPC, direct insert, service role).
create function private.guard_prescription_pharmacy()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if not private.pharmacy_may_receive(new.pharmacy_id, new.hospital_id, new.patient_id) then
        raise exception using
            errcode = '42501',
            message = 'the patient has not consented to sending prescriptions to an outside pharmacy',
            hint = 'record the patient''s external_pharmacy consent at this hospital, or send it to one of the '
            || 'hospital''s pharmacies';
    end if;
    return new;
end;
$$;

create trigger prescriptions_outside_pharmacy_consent
before insert or update of pharmacy_id, hospital_id, patient_id on public.prescriptions
for each row execute function private.guard_prescription_pharmacy();

-- The pharmacy's access, now under the consent when the pharmacy is outside the hospital.
drop policy prescriptions_select_pharmacy on public.prescriptions;
create policy prescriptions_select_pharmacy on public.prescriptions
for select to authenticated
using (
    pharmacy_id = any((select private.own_pharmacy_ids())::uuid[])
    and private.pharmacy_may_receive(pharmacy_id, hospital_id, patient_id)
);

drop policy prescriptions_update_pharmacy on public.prescriptions;
create policy prescriptions_update_pharmacy on public.prescriptions
for update to authenticated
using (
    pharmacy_id = any((select private.own_pharmacy_ids())::uuid[])
    and private.pharmacy_may_receive(pharmacy_id, hospital_id, patient_id)
)
with check (
    pharmacy_id = any((select private.own_pharmacy_ids())::uuid[])
    and private.pharmacy_may_receive(pharmacy_id, hospital_id, patient_id)
);

drop policy prescription_dispensings_insert_pharmacy on public.prescription_dispensings;
create policy prescription_dispensings_insert_pharmacy on public.prescription_dispensings
for insert to authenticated
with check (
    dispensed_by = (select auth.uid())
    and exists (
        select from public.prescription_items as i
        inner join public.prescriptions as p on i.prescription_id = p.id
        where
            i.id = prescription_dispensings.prescription_item_id
            and p.pharmacy_id = any((select private.own_pharmacy_ids())::uuid[])
            and private.pharmacy_may_receive(p.pharmacy_id, p.hospital_id, p.patient_id)
    )
);

-- Who reads the contents in clear (rpc/read_prescriptions): the patient, the issuing doctor,
-- and the pharmacy it was sent to, an outside one only under the consent. Security definer,
-- like the access helpers.
create function private.can_read_prescription(prescription_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (
        select from public.prescriptions as p
        where p.id = can_read_prescription.prescription_id
            and (
                p.patient_id = private.own_patient_id()
                or p.doctor_id = any(private.own_doctor_ids())
                or (
                    p.pharmacy_id = any(private.own_pharmacy_ids())
                    and private.pharmacy_may_receive(p.pharmacy_id, p.hospital_id, p.patient_id)
                )
            )
    );
$$;

-- A standing choice may name any active pharmacy (checked without the chooser's RLS, which
-- shows only their hospitals' pharmacies); the consent is checked when a prescription is
-- routed by it.
drop policy patient_pharmacy_choices_insert on public.patient_pharmacy_choices;
create policy patient_pharmacy_choices_insert on public.patient_pharmacy_choices
for insert to authenticated
with check (
    (
        patient_id = (select private.own_patient_id())
        or hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
    )
    and private.active_pharmacy_hospital_id(pharmacy_id) is not null
);

drop policy patient_pharmacy_choices_update on public.patient_pharmacy_choices;
create policy patient_pharmacy_choices_update on public.patient_pharmacy_choices
for update to authenticated
using (
    patient_id = (select private.own_patient_id())
    or hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
)
with check (
    (
        patient_id = (select private.own_patient_id())
        or hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
    )
    and private.active_pharmacy_hospital_id(pharmacy_id) is not null
);

grant execute on function private.can_read_prescription(uuid) to authenticated, service_role;
grant execute on function private.active_pharmacy_hospital_id(uuid) to authenticated, service_role;
grant execute on function private.pharmacy_may_receive(uuid, uuid, uuid) to authenticated, service_role;
