-- National identifiers (Aadhaar, SSN) of patients: encrypted in the column, found by exact
-- value through a keyed blind index, shown masked (XXXX-XXXX-1234, ***-**-6789) and revealed
-- in clear only through an RPC that writes a READ entry to the audit trail.

create type public.national_id_kind as enum ('aadhaar', 'ssn');

create table public.patient_identifiers (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null references public.patients (id) on delete restrict,
    kind public.national_id_kind not null,
    -- private.encrypt_field(digits); never readable in clear by an API role.
    value_encrypted bytea not null,
    blind_index bytea not null,
    last4 text not null constraint patient_identifiers_last4_format check (last4 ~ '^[0-9]{4}$'),
    masked text generated always as (
        case kind when 'aadhaar' then 'XXXX-XXXX-' || last4 else '***-**-' || last4 end
    ) stored,
    created_by uuid references public.profiles (id) on delete set null default auth.uid(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint patient_identifiers_one_per_kind unique (patient_id, kind),
    -- One person per national number.
    constraint patient_identifiers_blind_index_unique unique (kind, blind_index)
);

create index patient_identifiers_created_by_idx on public.patient_identifiers (created_by);

create trigger patient_identifiers_set_updated_at
before update on public.patient_identifiers
for each row execute function private.set_updated_at();

insert into private.encrypted_columns (table_name, column_name)
values ('public.patient_identifiers', 'value_encrypted');

-- Whether the caller may see (masked) or reveal this patient's identifiers: the patient,
-- and the front desk and admins of a hospital where the patient is registered and not
-- archived. Clinical staff, CRO and pharmacists do not need national numbers.
create function private.can_see_patient_identifiers(patient uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return coalesce(can_see_patient_identifiers.patient = private.own_patient_id(), false)
        or exists (
            select from public.patient_registrations as r
            where r.patient_id = can_see_patient_identifiers.patient
                and r.deleted_at is null
                and r.hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
        );
end;
$$;

alter table public.patient_identifiers enable row level security;
revoke all on public.patient_identifiers from anon, authenticated;
grant all on public.patient_identifiers to service_role;
-- The ciphertext and the blind index stay out of reach: only the mask is selectable.
grant select (id, patient_id, kind, last4, masked, created_by, created_at, updated_at)
on public.patient_identifiers to authenticated;
grant insert (patient_id, kind, value_encrypted, blind_index, last4) on public.patient_identifiers to authenticated;
grant update (value_encrypted, blind_index, last4) on public.patient_identifiers to authenticated;

create policy patient_identifiers_select on public.patient_identifiers
for select to authenticated
using (private.can_see_patient_identifiers(patient_id));

create policy patient_identifiers_insert on public.patient_identifiers
for insert to authenticated
with check (private.can_see_patient_identifiers(patient_id) and created_by = (select auth.uid()));

create policy patient_identifiers_update on public.patient_identifiers
for update to authenticated
using (private.can_see_patient_identifiers(patient_id))
with check (private.can_see_patient_identifiers(patient_id));

-- Validates and normalizes a national number: Aadhaar 12 digits (first not 0 or 1), SSN 9.
create function private.normalize_national_id(kind public.national_id_kind, value text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
    digits text := regexp_replace(coalesce(value, ''), '[\s-]', '', 'g');
begin
    if (kind = 'aadhaar' and digits !~ '^[2-9][0-9]{11}$') or (kind = 'ssn' and digits !~ '^[0-9]{9}$') then
        raise exception using
            errcode = '22023', message = format('not a valid %s number', kind),
            hint = case kind when 'aadhaar' then '12 digits, e.g. 2345 6789 0123' else '9 digits, e.g. 123-45-6789' end;
    end if;
    return digits;
end;
$$;

-- RPC: POST /rest/v1/rpc/set_patient_identifier. Security invoker: the policies decide.
create function public.set_patient_identifier(patient_id uuid, kind public.national_id_kind, value text)
returns public.patient_identifiers
language plpgsql
volatile
set search_path = ''
as $$
declare
    digits text := private.normalize_national_id(set_patient_identifier.kind, set_patient_identifier.value);
    saved_id uuid;
    saved public.patient_identifiers;
begin
    -- Update, else insert (ON CONFLICT DO UPDATE would need SELECT on the secret columns).
    update public.patient_identifiers as i
    set value_encrypted = private.encrypt_field(digits),
        blind_index = private.blind_index(set_patient_identifier.kind::text, digits),
        last4 = right(digits, 4)
    where i.patient_id = set_patient_identifier.patient_id and i.kind = set_patient_identifier.kind
    returning i.id into saved_id;
    if saved_id is null then
        insert into public.patient_identifiers as i (patient_id, kind, value_encrypted, blind_index, last4)
        values (
            set_patient_identifier.patient_id, set_patient_identifier.kind, private.encrypt_field(digits),
            private.blind_index(set_patient_identifier.kind::text, digits), right(digits, 4)
        )
        returning i.id into saved_id;
    end if;
    -- The caller may not select the ciphertext or the blind index: they come back null.
    select i.id, i.patient_id, i.kind, null::bytea, null::bytea, i.last4, i.masked, i.created_by, i.created_at,
        i.updated_at
    into saved
    from public.patient_identifiers as i where i.id = saved_id;
    return saved;
end;
$$;

-- Exact lookup through the blind index, among the patients the caller may see.
-- Security definer: compares blind indexes the caller may not select. Returns patient ids.
create function private.find_patients_by_identifier(kind public.national_id_kind, value text)
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
        and private.can_see_patient_identifiers(i.patient_id);
$$;

-- RPC: GET /rest/v1/rpc/find_patient_by_identifier?kind=aadhaar&value=...
create function public.find_patient_by_identifier(kind public.national_id_kind, value text)
returns setof public.patients
language sql
stable
set search_path = ''
as $$
    select p.* from public.patients as p
    where p.id in (select private.find_patients_by_identifier(find_patient_by_identifier.kind, find_patient_by_identifier.value));
$$;

-- The number in clear, for those who may see it, logged as a READ in the audit trail.
-- Security definer: decrypts and appends to the audit trail.
create function private.reveal_patient_identifier(identifier_id uuid)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    found public.patient_identifiers;
begin
    select i.* into found from public.patient_identifiers as i where i.id = reveal_patient_identifier.identifier_id;
    if found.id is null or not private.can_see_patient_identifier(found.patient_id, found.recorded_at_hospital_id) then
        raise exception using
            errcode = '42501', message = 'you may not see this identifier',
            hint = 'the patient, and the front desk and admins of the hospital that recorded it, may';
    end if;
    perform private.audit_append(
        'READ', 'public.patient_identifiers', found.id::text, found.recorded_at_hospital_id, found.patient_id,
        '{value_encrypted}', null, null, jsonb_build_object('purpose', 'reveal national identifier')
    );
    return private.decrypt_field(found.value_encrypted);
end;
$$;

-- RPC: POST /rest/v1/rpc/reveal_patient_identifier (volatile: it writes the audit entry).
create function public.reveal_patient_identifier(identifier_id uuid)
returns text
language sql
volatile
set search_path = ''
as $$
    select private.reveal_patient_identifier(reveal_patient_identifier.identifier_id);
$$;

grant execute on function private.can_see_patient_identifiers(uuid) to authenticated, service_role;
grant execute on function private.normalize_national_id(public.national_id_kind, text) to authenticated, service_role;
grant execute on function private.blind_index(text, text) to authenticated, service_role;
grant execute on function private.find_patients_by_identifier(public.national_id_kind, text)
to authenticated, service_role;
grant execute on function private.reveal_patient_identifier(uuid) to authenticated, service_role;
grant execute on function public.set_patient_identifier(uuid, public.national_id_kind, text)
to authenticated, service_role;
grant execute on function public.find_patient_by_identifier(public.national_id_kind, text)
to authenticated, service_role;
grant execute on function public.reveal_patient_identifier(uuid) to authenticated, service_role;
