-- Registering a person at a hospital needs the person, not their UUID (issue 10, finding 1).
--
-- Front desk of hospital A could POST /patient_registrations with the id of a patient of
-- hospital B and from then on see B's patient, reveal their national identifier, read B's
-- audit entries about them and change their sign-in phone. Now:
--   * a registration is inserted only for a person created in the same transaction
--     (rpc/register_patient), or for one who proved their presence: the patient issues a
--     short-lived code in their app (rpc/issue_registration_code) and tells it to the desk,
--     which registers them with rpc/register_existing_patient;
--   * national identifiers are seen and revealed only at the hospital that recorded them
--     (or everywhere the patient is registered when the patient recorded them);
--   * an admin's audit trail holds their hospital's entries, not other hospitals' entries
--     about the same person;
--   * the phone, which is the patient's sign-in, is changed by staff only at the hospital
--     where the patient was first registered (their home hospital).
--
-- The changed function and view are defined once, in final form, in the migrations that
-- created them: private.reveal_patient_identifier (20261123000300) and public.audit_trail
-- (20261123000100).

-- Which persons this transaction may register: a comma-separated list of ids in a
-- transaction-local setting. Clients cannot set it: PostgREST exposes no way to set
-- arbitrary settings, and only the functions below add to it.
create function private.allow_registration_of(patient uuid)
returns void
language sql
volatile
set search_path = ''
as $$
    select set_config(
        'carebase.registrable_patients',
        coalesce(current_setting('carebase.registrable_patients', true), '') || allow_registration_of.patient || ',',
        true
    );
$$;

create function private.registrable_in_this_transaction(patient uuid)
returns boolean
language sql
stable
set search_path = ''
as $$
    select strpos(
        coalesce(current_setting('carebase.registrable_patients', true), ''),
        registrable_in_this_transaction.patient::text || ','
    ) > 0;
$$;

-- A person created through the API may be registered in the same transaction. Security
-- definer: the API roles hold no right to call private.allow_registration_of themselves.
create function private.mark_new_patient_registrable()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if (select auth.role()) = 'authenticated' then
        perform private.allow_registration_of(new.id);
    end if;
    return null;
end;
$$;

create trigger patients_mark_registrable
after insert on public.patients
for each row execute function private.mark_new_patient_registrable();

drop policy patient_registrations_insert_registering_staff on public.patient_registrations;
create policy patient_registrations_insert_registering_staff on public.patient_registrations
for insert to authenticated
with check (
    hospital_id = any((select private.staff_hospital_ids('{front_desk,hospital_admin,cro}'))::uuid[])
    and deleted_at is null
    and registered_by = (select auth.uid())
    and private.registrable_in_this_transaction(patient_id)
);

-- Presence codes -------------------------------------------------------------------------
create table private.registration_codes (
    code_hash bytea primary key,
    patient_id uuid not null references public.patients (id) on delete cascade,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz,
    used_at_hospital_id uuid references public.hospitals (id) on delete set null,
    used_by uuid references auth.users (id) on delete set null
);

create index registration_codes_patient_idx on private.registration_codes (patient_id);
create index registration_codes_hospital_idx on private.registration_codes (used_at_hospital_id);
create index registration_codes_used_by_idx on private.registration_codes (used_by);

-- Security definer: writes the private code table for the calling patient only.
create function private.issue_registration_code()
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    patient uuid := private.own_patient_id();
    alphabet constant text := 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
    random_bytes bytea := extensions.gen_random_bytes(8);
    code text := '';
    expires timestamptz := now() + interval '15 minutes';
begin
    if patient is null then
        raise exception using
            errcode = '42501', message = 'only a signed-in patient issues a registration code',
            hint = 'sign in with the patient''s phone number first';
    end if;
    for i in 0..7 loop
        code := code || substr(alphabet, get_byte(random_bytes, i) % 32 + 1, 1);
    end loop;
    -- One live code per patient: a new one replaces the old.
    delete from private.registration_codes as c where c.patient_id = patient and c.used_at is null;
    insert into private.registration_codes (code_hash, patient_id, expires_at)
    values (extensions.digest(code, 'sha256'), patient, expires);
    return jsonb_build_object('code', code, 'expires_at', expires);
end;
$$;

-- Security definer: reads and spends a code of a patient the caller cannot see yet.
-- The answer for a wrong, used or expired code is the same.
create function private.spend_registration_code(hospital uuid, code text)
returns uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    patient uuid;
begin
    if not spend_registration_code.hospital = any(private.staff_hospital_ids('{front_desk,hospital_admin,cro}')) then
        perform private.raise_forbidden('only the front office of this hospital registers patients');
    end if;
    update private.registration_codes as c
    set used_at = now(), used_at_hospital_id = spend_registration_code.hospital, used_by = (select auth.uid())
    where c.code_hash = extensions.digest(upper(btrim(coalesce(spend_registration_code.code, ''))), 'sha256')
        and c.used_at is null
        and c.expires_at > now()
    returning c.patient_id into patient;
    if patient is null then
        raise exception using
            errcode = 'PT404', message = 'no such registration code',
            hint = 'the patient issues a new code in their app (codes last 15 minutes and work once)';
    end if;
    perform private.allow_registration_of(patient);
    return patient;
end;
$$;

-- RPC: POST /rest/v1/rpc/issue_registration_code, by the patient in their app.
create function public.issue_registration_code()
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.issue_registration_code();
$$;

comment on function public.issue_registration_code() is
'A patient proves presence at a new hospital: returns {code, expires_at}, an 8-character code '
'valid once for 15 minutes, which the patient tells the front desk.';

-- RPC: POST /rest/v1/rpc/register_existing_patient. Security invoker: the registration is
-- inserted under the caller's policies once the code has been spent.
create function public.register_existing_patient(
    hospital_id uuid,
    code text,
    mrn text default null,
    referral_source text default null
)
returns public.patient_registrations
language plpgsql
volatile
set search_path = ''
as $$
declare
    patient uuid := private.spend_registration_code(register_existing_patient.hospital_id, register_existing_patient.code);
    registration public.patient_registrations;
begin
    insert into public.patient_registrations (patient_id, hospital_id, mrn, referral_source)
    values (patient, register_existing_patient.hospital_id, register_existing_patient.mrn,
        register_existing_patient.referral_source)
    returning * into registration;
    return registration;
exception
    when unique_violation then
        perform private.raise_conflict('the patient is already registered at this hospital');
end;
$$;

comment on function public.register_existing_patient(uuid, text, text, text) is
'Front desk, CRO or admin registers a person already known elsewhere, with the code the '
'patient issued in their app (rpc/issue_registration_code).';

-- The sign-in phone ------------------------------------------------------------------------
-- Security definer: reads the patient's registrations at every hospital.
create function private.guard_patient_phone_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    home uuid;
begin
    if (select auth.role()) is distinct from 'authenticated'
        or new.phone is not distinct from old.phone
        or old.user_id = (select auth.uid()) then
        return new;
    end if;
    select r.hospital_id into home
    from public.patient_registrations as r
    where r.patient_id = old.id and r.deleted_at is null
    order by r.registered_at, r.id
    limit 1;
    if home is null or not home = any(private.staff_hospital_ids('{front_desk,hospital_admin}')) then
        perform private.raise_forbidden(
            'the phone number is the patient''s sign-in and is changed at their home hospital',
            hint => 'the hospital where the patient was first registered changes it'
        );
    end if;
    return new;
end;
$$;

create trigger patients_guard_phone_change
before update of phone on public.patients
for each row execute function private.guard_patient_phone_change();

-- National identifiers ---------------------------------------------------------------------
alter table public.patient_identifiers
add column recorded_at_hospital_id uuid references public.hospitals (id) on delete restrict;
create index patient_identifiers_recorded_at_hospital_idx on public.patient_identifiers (recorded_at_hospital_id);

comment on column public.patient_identifiers.recorded_at_hospital_id is
'The hospital whose staff recorded the number (null: the patient did); only that hospital sees and reveals it.';

-- Existing numbers belong to the hospital their recorder served the patient at.
update public.patient_identifiers as i
set recorded_at_hospital_id = (
    select r.hospital_id
    from public.patient_registrations as r
    inner join public.staff_memberships as m on r.hospital_id = m.hospital_id and m.user_id = i.created_by
    where r.patient_id = i.patient_id
    order by r.registered_at
    limit 1
);

-- Security definer: reads the caller's memberships and the patient's registrations.
create function private.stamp_identifier_hospital()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if private.acting_as_system() or new.patient_id = private.own_patient_id() then
        return new;
    end if;
    select r.hospital_id into new.recorded_at_hospital_id
    from public.patient_registrations as r
    where r.patient_id = new.patient_id
        and r.deleted_at is null
        and r.hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
    order by r.registered_at
    limit 1;
    return new;
end;
$$;

create trigger patient_identifiers_stamp_hospital
before insert on public.patient_identifiers
for each row execute function private.stamp_identifier_hospital();

create function private.can_see_patient_identifier(patient uuid, recorded_at uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return coalesce(can_see_patient_identifier.patient = private.own_patient_id(), false)
        or exists (
            select from public.patient_registrations as r
            where r.patient_id = can_see_patient_identifier.patient
                and r.deleted_at is null
                and r.hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
                and (can_see_patient_identifier.recorded_at is null or r.hospital_id = can_see_patient_identifier.recorded_at)
        );
end;
$$;

drop policy patient_identifiers_select on public.patient_identifiers;
create policy patient_identifiers_select on public.patient_identifiers
for select to authenticated
using (private.can_see_patient_identifier(patient_id, recorded_at_hospital_id));

drop policy patient_identifiers_update on public.patient_identifiers;
create policy patient_identifiers_update on public.patient_identifiers
for update to authenticated
using (private.can_see_patient_identifier(patient_id, recorded_at_hospital_id))
with check (private.can_see_patient_identifier(patient_id, recorded_at_hospital_id));

grant select (recorded_at_hospital_id) on public.patient_identifiers to authenticated;

create or replace function private.find_patients_by_identifier(kind public.national_id_kind, value text)
returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
    select i.patient_id
    from public.patient_identifiers as i
    where i.kind = find_patients_by_identifier.kind
        and i.blind_index = private.blind_index(
            find_patients_by_identifier.kind::text,
            private.normalize_national_id(find_patients_by_identifier.kind, find_patients_by_identifier.value)
        )
        and private.can_see_patient_identifier(i.patient_id, i.recorded_at_hospital_id);
$$;

grant execute on function private.registrable_in_this_transaction(uuid) to authenticated, service_role;
grant execute on function private.can_see_patient_identifier(uuid, uuid) to authenticated, service_role;
grant execute on function private.issue_registration_code() to authenticated;
grant execute on function private.spend_registration_code(uuid, text) to authenticated;
grant execute on function public.issue_registration_code() to authenticated;
grant execute on function public.register_existing_patient(uuid, text, text, text) to authenticated;
revoke all on private.registration_codes from public, anon, authenticated;
