-- Prescriptions: issued by a doctor of the patient's care team, optionally from an
-- appointment, routed to a pharmacy of the hospital, and moved through their states by the
-- pharmacy (approve / deny / ready / completed), the doctor (cancel before approval), the
-- patient (picked up) and the system (expiry). The medication contents are encrypted in the
-- column (private.encrypt_contents, 20261201090001, under the versioned field keys);
-- quantities stay in clear so that partial fulfilment can be checked by a constraint
-- (dispensed never exceeds prescribed).

-- The key contents were first encrypted under: a random passphrase created once in Vault.
-- Only 20261201090001 still reads it (vault.decrypted_secrets), to re-encrypt such values
-- under the field keys, and then drops private.prescription_key; never the API roles.
select
    vault.create_secret(
        encode(extensions.gen_random_bytes(32), 'base64'),
        'carebase_prescription_key',
        'pgcrypto passphrase for prescription contents (public.prescriptions, public.prescription_items)'
    )
where not exists (
    select from vault.secrets
    where name = 'carebase_prescription_key'
);

-- Security definer: Vault is readable by its owner only. Not granted to any API role.
create function private.prescription_key()
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    passphrase text;
begin
    select s.decrypted_secret into passphrase
    from vault.decrypted_secrets as s
    where s.name = 'carebase_prescription_key';
    if passphrase is null then
        raise exception using
            errcode = '55000', message = 'the prescription key is missing from Vault',
            hint = 'create the secret carebase_prescription_key (see migration 20261122000700)';
    end if;
    return passphrase;
end;
$$;

-- Short code a pharmacy checks authenticity with: 8 characters without look-alikes.
create function private.new_verification_code()
returns text
language sql
volatile
set search_path = ''
as $$
    select string_agg(
        substr('ABCDEFGHJKLMNPQRSTUVWXYZ23456789', (get_byte(b.bytes, i) % 32) + 1, 1), '' order by i
    )
    from (select extensions.gen_random_bytes(8) as bytes) as b
    cross join generate_series(0, 7) as i;
$$;

-- Pharmacies where the caller works as an active pharmacist. Security definer, like the
-- other access helpers; returns only the caller's own.
create function private.own_pharmacy_ids()
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select coalesce(array_agg(distinct ph.pharmacy_id), '{}')
        from public.pharmacists as ph
        join public.staff_memberships as m
            on m.user_id = ph.user_id and m.hospital_id = ph.hospital_id and m.role = 'pharmacist'
        join public.hospitals as h on h.id = ph.hospital_id
        where ph.user_id = (select auth.uid())
            and ph.is_active
            and m.is_active
            and h.is_active
    );
end;
$$;

create type public.prescription_status as enum (
    'pending', 'approved', 'denied', 'ready_for_pickup', 'completed', 'cancelled', 'expired'
);

create table public.prescriptions (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete restrict,
    patient_id uuid not null,
    doctor_id uuid not null,
    appointment_id uuid references public.appointments (id) on delete set null,
    pharmacy_id uuid not null,
    status public.prescription_status not null default 'pending',
    status_reason text,
    status_changed_at timestamptz not null default now(),
    verification_code text not null default private.new_verification_code()
    constraint prescriptions_verification_code_unique unique,
    -- Encrypted free-text notes for the patient and the pharmacy.
    notes bytea,
    issued_at timestamptz not null default now(),
    valid_until timestamptz not null default now() + interval '30 days',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint prescriptions_validity_order check (valid_until > issued_at),
    constraint prescriptions_doctor_same_hospital_fkey foreign key (doctor_id, hospital_id)
    references public.doctors (id, hospital_id) on delete restrict,
    constraint prescriptions_patient_registered_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict,
    constraint prescriptions_pharmacy_same_hospital_fkey foreign key (pharmacy_id, hospital_id)
    references public.pharmacies (id, hospital_id) on delete restrict
);

create index prescriptions_patient_idx on public.prescriptions (patient_id, hospital_id, issued_at);
create index prescriptions_doctor_idx on public.prescriptions (doctor_id, hospital_id, issued_at);
create index prescriptions_pharmacy_idx on public.prescriptions (pharmacy_id, hospital_id, status);
create index prescriptions_hospital_idx on public.prescriptions (hospital_id, issued_at);
create index prescriptions_appointment_idx on public.prescriptions (appointment_id);

create trigger prescriptions_set_updated_at
before update on public.prescriptions
for each row execute function private.set_updated_at();

create table public.prescription_items (
    id uuid primary key default gen_random_uuid(),
    prescription_id uuid not null references public.prescriptions (id) on delete cascade,
    line_no integer not null constraint prescription_items_line_no_positive check (line_no > 0),
    -- Encrypted {medicine, strength, dosage, frequency, duration, instructions}.
    details bytea not null,
    quantity numeric(10, 2) not null constraint prescription_items_quantity_positive check (quantity > 0),
    dispensed_quantity numeric(10, 2) not null default 0,
    constraint prescription_items_line_unique unique (prescription_id, line_no),
    constraint prescription_items_never_over_dispensed check (dispensed_quantity between 0 and quantity)
);

create table public.prescription_dispensings (
    id uuid primary key default gen_random_uuid(),
    prescription_item_id uuid not null references public.prescription_items (id) on delete cascade,
    quantity numeric(10, 2) not null constraint prescription_dispensings_quantity_positive check (quantity > 0),
    dispensed_by uuid references public.profiles (id) on delete set null default auth.uid(),
    dispensed_at timestamptz not null default now()
);

create index prescription_dispensings_item_idx on public.prescription_dispensings (prescription_item_id);
create index prescription_dispensings_dispensed_by_idx on public.prescription_dispensings (dispensed_by);

-- The prescription machine (seed 000: PENDING / APPROVED / DENIED / COMPLETED) ---------------
insert into private.state_machine_states (machine, state, label, position, is_terminal)
values
('prescription', 'pending', 'Pending', 1, false),
('prescription', 'approved', 'Approved', 2, false),
('prescription', 'denied', 'Denied', 3, true),
('prescription', 'ready_for_pickup', 'Ready for pickup', 4, false),
('prescription', 'completed', 'Completed', 5, true),
('prescription', 'cancelled', 'Cancelled', 6, true),
('prescription', 'expired', 'Expired', 7, true);

insert into private.state_transitions (machine, from_state, to_state, roles, requires_reason, description)
values
('prescription', null, 'pending', '{doctor}', false, 'issued by a doctor of the care team'),
('prescription', 'pending', 'approved', '{pharmacist}', false, 'the pharmacy accepts it'),
('prescription', 'pending', 'denied', '{pharmacist}', true, 'the pharmacy refuses it'),
('prescription', 'pending', 'cancelled', '{doctor}', true, 'withdrawn by the doctor before approval'),
('prescription', 'approved', 'ready_for_pickup', '{pharmacist}', false, 'prepared'),
('prescription', 'ready_for_pickup', 'completed', '{pharmacist,patient}', false, 'picked up'),
('prescription', 'pending', 'expired', '{}', false, 'validity window passed'),
('prescription', 'approved', 'expired', '{}', false, 'validity window passed'),
('prescription', 'ready_for_pickup', 'expired', '{}', false, 'validity window passed');

create trigger prescriptions_state_machine
before insert or update of status on public.prescriptions
for each row execute function private.enforce_state_machine('prescription');

-- Rules RLS cannot express. Security definer: reads the appointment whatever the doctor may
-- read of it (a doctor sees only their own appointments anyway).
create function private.guard_prescription()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op = 'UPDATE' and new.status is distinct from old.status
        and new.status in ('approved', 'ready_for_pickup', 'completed')
        and old.valid_until <= now() then
        perform private.raise_conflict(
            format('prescription expired on %s', old.valid_until),
            hint => 'ask the doctor for a new prescription'
        );
    end if;
    return new;
end;
$$;

create trigger prescriptions_guard
before insert or update on public.prescriptions
for each row execute function private.guard_prescription();

-- Dispensing: only while approved or ready, never more than what remains. Security definer:
-- pharmacists record dispensings but may not write the items' running total.
create function private.apply_dispensing()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    item public.prescription_items;
    state public.prescription_status;
begin
    select i.* into item from public.prescription_items as i where i.id = new.prescription_item_id for update;
    select p.status into state from public.prescriptions as p where p.id = item.prescription_id;
    if state not in ('approved', 'ready_for_pickup') then
        perform private.raise_conflict(
            format('a %s prescription cannot be dispensed', state), hint => 'approve it first'
        );
    end if;
    if item.dispensed_quantity + new.quantity > item.quantity then
        raise exception using
            errcode = '23514',
            message = format(
                'cannot dispense %s: only %s of %s remain on line %s',
                new.quantity, item.quantity - item.dispensed_quantity, item.quantity, item.line_no
            ),
            hint = 'dispense at most what remains';
    end if;
    update public.prescription_items as i
    set dispensed_quantity = i.dispensed_quantity + new.quantity
    where i.id = item.id;
    return new;
end;
$$;

create trigger prescription_dispensings_apply
before insert on public.prescription_dispensings
for each row execute function private.apply_dispensing();

-- Notifications. Security definer: writes the private outbox.
create function private.notify_prescription_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    kind text;
    payload jsonb := jsonb_build_object(
        'prescription_id', new.id, 'status', new.status, 'pharmacy_id', new.pharmacy_id, 'doctor_id', new.doctor_id
    );
begin
    if tg_op = 'INSERT' then
        kind := 'prescription_issued';
    elsif new.status is distinct from old.status then
        kind := case new.status
            when 'approved' then 'prescription_approved'
            when 'denied' then 'prescription_denied'
            when 'ready_for_pickup' then 'prescription_ready'
            when 'cancelled' then 'prescription_cancelled'
            when 'expired' then 'prescription_expired'
        end;
    end if;
    if kind is null then
        return null;
    end if;
    if new.status in ('denied', 'cancelled') then
        payload := payload || jsonb_build_object('reason', new.status_reason);
    end if;
    perform private.enqueue(
        kind, 'prescription', new.id, new.hospital_id, 'patient', new.patient_id,
        private.patient_channel(new.patient_id), payload
    );
    if kind in ('prescription_issued', 'prescription_cancelled') then
        perform private.enqueue(kind, 'prescription', new.id, new.hospital_id, 'pharmacy', new.pharmacy_id, 'push', payload);
    end if;
    return null;
end;
$$;

create trigger prescriptions_notify
after insert or update on public.prescriptions
for each row execute function private.notify_prescription_change();

-- Row-level security --------------------------------------------------------------------
alter table public.prescriptions enable row level security;
alter table public.prescription_items enable row level security;
alter table public.prescription_dispensings enable row level security;

revoke all on public.prescriptions, public.prescription_items, public.prescription_dispensings
from anon, authenticated;
grant all on public.prescriptions, public.prescription_items, public.prescription_dispensings to service_role;
grant select, insert on public.prescriptions to authenticated;
grant update (status, status_reason) on public.prescriptions to authenticated;
grant select, insert on public.prescription_items to authenticated;
grant select, insert on public.prescription_dispensings to authenticated;

-- The patient, the issuing doctor, the pharmacy it was sent to, and the hospital's admin
-- (oversight; the contents stay encrypted for them).
create policy prescriptions_select_patient on public.prescriptions
for select to authenticated
using (patient_id = (select private.own_patient_id()));

create policy prescriptions_select_doctor on public.prescriptions
for select to authenticated
using (doctor_id = any((select private.own_doctor_ids())::uuid[]));

create policy prescriptions_select_pharmacy on public.prescriptions
for select to authenticated
using (pharmacy_id = any((select private.own_pharmacy_ids())::uuid[]));

create policy prescriptions_select_admin on public.prescriptions
for select to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]));

-- A doctor prescribes as themself, for a patient of their care team at that hospital.
create policy prescriptions_insert_doctor on public.prescriptions
for insert to authenticated
with check (
    doctor_id = any((select private.own_doctor_ids())::uuid[])
    and patient_id = any((select private.care_team_patient_ids())::uuid[])
    and private.on_care_team(patient_id, hospital_id)
);

-- Status changes; the state machine limits each to its roles.
create policy prescriptions_update_doctor on public.prescriptions
for update to authenticated
using (doctor_id = any((select private.own_doctor_ids())::uuid[]))
with check (doctor_id = any((select private.own_doctor_ids())::uuid[]));

create policy prescriptions_update_pharmacy on public.prescriptions
for update to authenticated
using (pharmacy_id = any((select private.own_pharmacy_ids())::uuid[]))
with check (pharmacy_id = any((select private.own_pharmacy_ids())::uuid[]));

create policy prescriptions_update_patient on public.prescriptions
for update to authenticated
using (patient_id = (select private.own_patient_id()))
with check (patient_id = (select private.own_patient_id()));

create policy prescription_items_select on public.prescription_items
for select to authenticated
using (exists (
    select from public.prescriptions as p
    where p.id = prescription_items.prescription_id
));

create policy prescription_items_insert_doctor on public.prescription_items
for insert to authenticated
with check (
    exists (
        select from public.prescriptions as p
        where
            p.id = prescription_items.prescription_id
            and p.status = 'pending'
            and p.doctor_id = any((select private.own_doctor_ids())::uuid[])
    )
);

create policy prescription_dispensings_select on public.prescription_dispensings
for select to authenticated
using (exists (
    select from public.prescription_items as i
    where i.id = prescription_dispensings.prescription_item_id
));

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
    )
);

create policy status_history_select_prescription on public.status_history
for select to authenticated
using (
    machine = 'prescription'
    and exists (
        select from public.prescriptions as p
        where p.id = status_history.subject_id
    )
);

grant execute on function private.new_verification_code() to authenticated, service_role;
grant execute on function private.own_pharmacy_ids() to authenticated;
