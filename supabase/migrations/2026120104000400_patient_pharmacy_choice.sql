-- The patient's choice of pharmacy. A prescription goes to the pharmacy the doctor names
-- (e.g. the one the patient asks for in the consult), else to the pharmacy the patient chose
-- at that hospital, else to the hospital's default pharmacy. Before, the patient had no
-- way to record a standing choice.

-- One choice per patient and hospital, of one of that hospital's pharmacies.
create table public.patient_pharmacy_choices (
    patient_id uuid not null,
    hospital_id uuid not null,
    pharmacy_id uuid not null,
    chosen_by uuid references public.profiles (id) on delete set null default auth.uid(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (patient_id, hospital_id),
    constraint patient_pharmacy_choices_patient_registered_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete cascade,
    constraint patient_pharmacy_choices_pharmacy_same_hospital_fkey foreign key (pharmacy_id, hospital_id)
    references public.pharmacies (id, hospital_id) on delete cascade
);

create index patient_pharmacy_choices_hospital_idx on public.patient_pharmacy_choices (hospital_id);
create index patient_pharmacy_choices_pharmacy_idx on public.patient_pharmacy_choices (pharmacy_id, hospital_id);
create index patient_pharmacy_choices_chosen_by_idx on public.patient_pharmacy_choices (chosen_by);

create trigger patient_pharmacy_choices_set_updated_at
before update on public.patient_pharmacy_choices
for each row execute function private.set_updated_at();

create trigger audit_row_change after insert or update or delete on public.patient_pharmacy_choices
for each row execute function private.audit_row_change();

alter table public.patient_pharmacy_choices enable row level security;

revoke all on public.patient_pharmacy_choices from anon, authenticated;
grant all on public.patient_pharmacy_choices to service_role;
grant select, insert, delete on public.patient_pharmacy_choices to authenticated;
grant update (pharmacy_id) on public.patient_pharmacy_choices to authenticated;

-- The patient, and the hospital's front desk, admin and doctors (who prescribe).
create policy patient_pharmacy_choices_select on public.patient_pharmacy_choices
for select to authenticated
using (
    patient_id = (select private.own_patient_id())
    or hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk,doctor}'))::uuid[])
);

-- The patient chooses; the front desk or admin records the choice for a patient without
-- the app. Only an active pharmacy the chooser can see may be chosen.
create policy patient_pharmacy_choices_insert on public.patient_pharmacy_choices
for insert to authenticated
with check (
    (
        patient_id = (select private.own_patient_id())
        or hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
    )
    and exists (
        select from public.pharmacies as ph
        where ph.id = patient_pharmacy_choices.pharmacy_id and ph.is_active
    )
);

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
    and exists (
        select from public.pharmacies as ph
        where ph.id = patient_pharmacy_choices.pharmacy_id and ph.is_active
    )
);

create policy patient_pharmacy_choices_delete on public.patient_pharmacy_choices
for delete to authenticated
using (
    patient_id = (select private.own_patient_id())
    or hospital_id = any((select private.staff_hospital_ids('{hospital_admin,front_desk}'))::uuid[])
);

-- RPC: POST /rest/v1/rpc/issue_prescription. Same signature and behaviour as in
-- 20261122000800, but the pharmacy defaults to the patient's choice before the hospital's
-- default.
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

    -- The patient's choice at this hospital, while that pharmacy is active.
    if to_pharmacy is null then
        select c.pharmacy_id into to_pharmacy
        from public.patient_pharmacy_choices as c
        join public.pharmacies as ph on ph.id = c.pharmacy_id and ph.is_active
        where c.patient_id = issue_prescription.patient_id and c.hospital_id = at_hospital;
    end if;
    if to_pharmacy is null then
        select ph.id into to_pharmacy
        from public.pharmacies as ph
        where ph.hospital_id = at_hospital and ph.is_default and ph.is_active;
    end if;
    if to_pharmacy is null or not exists (
        select from public.pharmacies as ph where ph.id = to_pharmacy and ph.hospital_id = at_hospital and ph.is_active
    ) then
        raise exception using
            errcode = 'PT422', message = 'no active pharmacy of this hospital to send the prescription to',
            hint = 'choose an active pharmacy of the hospital or ask an admin to set a default one';
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

    select pd.* into issued from public.prescription_details as pd where pd.id = new_id;
    return issued;
end;
$$;
