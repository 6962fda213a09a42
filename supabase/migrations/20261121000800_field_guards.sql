-- Field-level rules RLS cannot express: which columns each person may change on a row
-- they may update. Security invoker: they only read the caller's own memberships.

-- A patient keeps their phone number (it is their login) for staff or sign-in to change.
create function private.guard_patient_self_update()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    -- System work (service role, migrations) is not a patient editing their record.
    if (select auth.role()) is distinct from 'authenticated' then
        return new;
    end if;
    if old.user_id = (select auth.uid())
        and new.phone is distinct from old.phone
        and not exists (
            select 1 from public.patient_registrations as r
            where r.patient_id = old.id
                and r.hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}'))
        ) then
        perform private.raise_forbidden(
            'patients cannot change their phone number on their record',
            hint => 'the phone number is the sign-in identity; ask the front desk to change it'
        );
    end if;
    return new;
end;
$$;

create trigger patients_guard_self_update
before update on public.patients
for each row execute function private.guard_patient_self_update();

-- A doctor edits their own profile, but licence and active status are the admin's.
create function private.guard_doctor_self_update()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if (select auth.role()) is distinct from 'authenticated' then
        return new;
    end if;
    if not old.hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
        and (
            new.licence_number is distinct from old.licence_number
            or new.licence_council is distinct from old.licence_council
            or new.is_active is distinct from old.is_active
        ) then
        perform private.raise_forbidden(
            'only a hospital admin can change a doctor''s licence or active status',
            hint => 'ask an admin of your hospital'
        );
    end if;
    return new;
end;
$$;

create trigger doctors_guard_self_update
before update on public.doctors
for each row execute function private.guard_doctor_self_update();

-- A person created through the API must be registered at a hospital in the same
-- transaction: an unregistered person would be invisible to everyone who created them.
create function private.require_patient_registration()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if (select auth.role()) = 'authenticated'
        and not exists (select 1 from public.patient_registrations as r where r.patient_id = new.id) then
        raise exception using
            errcode = '23514',
            message = 'a new patient must be registered at a hospital in the same transaction',
            hint = 'use rpc/register_patient, which creates the patient and the registration together';
    end if;
    return null;
end;
$$;

create constraint trigger patients_require_registration
after insert on public.patients
deferrable initially deferred
for each row execute function private.require_patient_registration();
