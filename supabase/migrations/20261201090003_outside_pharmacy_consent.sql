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
    select ph.hospital_id from public.pharmacies as ph
    where ph.id = active_pharmacy_hospital_id.pharmacy and ph.is_active;
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

-- The caller's roles for a row of `hospital_id` whose patient is `patient_id` (the state
-- machine and the audit trail ask): as before, plus `pharmacist` for a pharmacist of another
-- hospital's pharmacy holding a prescription of this patient from this hospital under the
-- consent, so that the outside pharmacy approves, denies and hands over what it was sent.
-- Security definer: it reads memberships and prescriptions whatever the caller may read of
-- them; it only ever reports the caller's own roles.
create or replace function private.actor_roles(hospital_id uuid, patient_id uuid default null)
returns public.app_role[]
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    roles public.app_role[];
begin
    select coalesce(array_agg(distinct m.role), '{}') into roles
    from public.staff_memberships as m
    join public.hospitals as h on h.id = m.hospital_id
    where m.user_id = (select auth.uid())
        and m.hospital_id = actor_roles.hospital_id
        and m.is_active
        and h.is_active;
    if actor_roles.patient_id is null then
        return roles;
    end if;
    if actor_roles.patient_id = private.own_patient_id() then
        roles := roles || '{patient}'::public.app_role[];
    end if;
    if not 'pharmacist' = any(roles)
        and exists (select from public.pharmacists as ph where ph.user_id = (select auth.uid()) and ph.is_active)
        and exists (
            select from public.prescriptions as p
            where p.patient_id = actor_roles.patient_id
                and p.hospital_id = actor_roles.hospital_id
                and p.pharmacy_id = any(private.own_pharmacy_ids())
                and private.pharmacy_may_receive(p.pharmacy_id, p.hospital_id, p.patient_id)
        ) then
        roles := roles || '{pharmacist}'::public.app_role[];
    end if;
    return roles;
end;
$$;

-- Who reads the contents in clear (rpc/read_prescriptions): the patient, the issuing doctor,
-- and the pharmacy it was sent to, an outside one only under the consent. Security definer,
-- like the access helpers.
create or replace function private.can_read_prescription(prescription_id uuid)
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

-- RPC: POST /rest/v1/rpc/issue_prescription. Same signature as in 20261201040004; the
-- pharmacy (the doctor's pick, else the patient's choice, else the hospital's default) may
-- belong to another hospital while the patient's external_pharmacy consent at this hospital
-- stands; the result is the prescription in clear for the issuing doctor (a logged read).
create or replace function public.issue_prescription(
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
        raise exception using
            errcode = '22023', message = 'medications must be a non-empty array';
    end if;
    if issue_prescription.valid_days is null or issue_prescription.valid_days not between 1 and 365 then
        raise exception using errcode = '22023', message = 'valid_days must be between 1 and 365';
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
            raise exception using
                errcode = '22023',
                message = format('medication %s needs a medicine name and a positive quantity', line.n);
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

revoke execute on function private.active_pharmacy_hospital_id(uuid) from public;
revoke execute on function private.pharmacy_may_receive(uuid, uuid, uuid) from public;
revoke execute on function private.guard_prescription_pharmacy() from public;
grant execute on function private.active_pharmacy_hospital_id(uuid) to authenticated, service_role;
grant execute on function private.pharmacy_may_receive(uuid, uuid, uuid) to authenticated, service_role;
