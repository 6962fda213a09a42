-- Registering a patient at a hospital: the person and the registration in one transaction.

-- RPC: POST /rest/v1/rpc/register_patient. Security invoker: the insert policies decide
-- who may register at which hospital (front desk, admin, CRO of that hospital).
-- Returns the registration with its MRN (generated unless given).
create function public.register_patient(
    hospital_id uuid,
    full_name text,
    phone text default null,
    date_of_birth date default null,
    sex public.sex default null,
    email text default null,
    mrn text default null,
    preferred_language text default 'en',
    referral_source text default null
)
returns public.patient_registrations
language plpgsql
volatile
set search_path = ''
as $$
declare
    -- Chosen here because the new person is not yet visible to the caller (no registration),
    -- so INSERT ... RETURNING would be refused by the select policies.
    new_patient_id uuid := gen_random_uuid();
    registration public.patient_registrations;
begin
    insert into public.patients (id, full_name, phone, date_of_birth, sex, email, preferred_language)
    values (
        new_patient_id,
        register_patient.full_name,
        register_patient.phone,
        register_patient.date_of_birth,
        register_patient.sex,
        register_patient.email,
        register_patient.preferred_language
    );
    insert into public.patient_registrations (patient_id, hospital_id, mrn, referral_source)
    values (new_patient_id, register_patient.hospital_id, register_patient.mrn, register_patient.referral_source)
    returning * into registration;
    return registration;
end;
$$;

grant execute on function public.register_patient(uuid, text, text, date, public.sex, text, text, text, text)
to authenticated, service_role;
