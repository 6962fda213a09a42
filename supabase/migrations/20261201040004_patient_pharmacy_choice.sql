-- The patient's choice of pharmacy. A prescription goes to the pharmacy the doctor names
-- (e.g. the one the patient asks for in the consult), else to the pharmacy the patient chose
-- at that hospital, else to the hospital's default pharmacy. Before, the patient had no
-- way to record a standing choice. `issue_prescription` routes by it (its one
-- definition, in 20261122000800, also sends to outside pharmacies under consent).

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
