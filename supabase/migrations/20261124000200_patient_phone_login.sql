-- Patient phone login (seed 000 epic A). The sidecar has verified a Firebase ID token, so the
-- caller holds this phone; these functions say which Supabase Auth user signs in with it and
-- find, link or create the patient behind that user, in one transaction.
--
-- Linking rule. A phone is not a person: families share one, and a number typed wrongly at
-- the front desk belongs to a stranger. Linking hands the phone's holder every record of that
-- patient, while a new empty record exposes nothing and can be merged later. So an existing
-- record is linked only when it is the ONLY patient record (archived ones included) that
-- carries this phone and it has no login yet; any doubt creates a new patient instead.
--
-- Service role only: the functions trust that the phone was proven by an OTP.

-- Security definer (both helpers): auth.users and the lockout counters are not readable by
-- the API roles; the grants below keep the functions to the service role.

-- A login begins: which Supabase Auth user signs in with this phone (null: nobody yet). An
-- active staff login's phone is refused: an OTP must never open a staff login, which needs its
-- password (and MFA). The login's password is a server-held secret, so failed attempts
-- against it are someone else's guesses: proving the phone lifts the lockout they caused.
create function private.begin_patient_login(phone public.phone_e164)
returns uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    found uuid;
begin
    -- Supabase Auth stores phone numbers without the '+'.
    select u.id into found
    from auth.users as u
    where u.phone = ltrim(begin_patient_login.phone, '+') and u.deleted_at is null;

    if private.is_active_staff(found) then
        perform private.raise_conflict(
            'this phone number belongs to a staff account',
            detail => 'staff_phone',
            hint => 'staff sign in with email and password'
        );
    end if;
    delete from private.login_attempts as a where a.user_id = found;
    return found;
end;
$$;

-- Links the login to the patient record of its phone; refuses an active staff login.
create function private.link_patient_login(
    user_id uuid, phone public.phone_e164, full_name text default null
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    login_phone text;
    patient_id uuid;
    archived_at timestamptz;
    outcome text;
    candidates uuid[];
begin
    -- Concurrent logins for one phone take turns, so that they agree on one patient.
    perform pg_advisory_xact_lock(hashtextextended('patient_phone_login:' || link_patient_login.phone, 0));

    select u.phone into login_phone
    from auth.users as u
    where u.id = link_patient_login.user_id and u.deleted_at is null;
    if login_phone is distinct from ltrim(link_patient_login.phone, '+') then
        perform private.raise_unprocessable(
            'this login does not sign in with this phone number', detail => 'login_phone_mismatch'
        );
    end if;
    if private.is_active_staff(link_patient_login.user_id) then
        perform private.raise_conflict(
            'this phone number belongs to a staff account',
            detail => 'staff_phone',
            hint => 'staff sign in with email and password'
        );
    end if;

    select p.id, p.deleted_at into patient_id, archived_at
    from public.patients as p
    where p.user_id = link_patient_login.user_id;

    if patient_id is not null then
        if archived_at is not null then
            perform private.raise_conflict(
                'the patient record of this login is archived',
                detail => 'patient_archived',
                hint => 'ask the hospital to restore the record'
            );
        end if;
        outcome := 'existing';
    else
        select array_agg(p.id) into candidates
        from public.patients as p
        where p.phone = link_patient_login.phone;

        if cardinality(candidates) = 1 then
            update public.patients as p
            set user_id = link_patient_login.user_id
            where p.id = candidates[1] and p.user_id is null and p.deleted_at is null
            returning p.id into patient_id;
        end if;

        if patient_id is not null then
            outcome := 'linked';
        else
            -- The name is asked for at sign-up; until then the phone stands in for it.
            insert into public.patients (user_id, full_name, phone)
            values (
                link_patient_login.user_id,
                coalesce(nullif(btrim(link_patient_login.full_name), ''), link_patient_login.phone),
                link_patient_login.phone
            )
            returning id into patient_id;
            outcome := 'created';
        end if;
    end if;

    return jsonb_build_object(
        'user_id', link_patient_login.user_id, 'patient_id', patient_id, 'outcome', outcome
    );
end;
$$;

grant execute on function private.begin_patient_login(public.phone_e164) to service_role;
grant execute on function private.link_patient_login(uuid, public.phone_e164, text) to service_role;

-- RPC: POST /rest/v1/rpc/begin_patient_login {"phone": "+91..."} -> the user id, or null when
-- nobody signs in with this phone yet. Refuses a staff account's phone (PT409 staff_phone).
create function public.begin_patient_login(phone text)
returns uuid
language sql
volatile
set search_path = ''
as $$
    select private.begin_patient_login(begin_patient_login.phone::public.phone_e164);
$$;

-- RPC: POST /rest/v1/rpc/link_patient_login {"user_id", "phone", "full_name"?} ->
-- {user_id, patient_id, outcome: existing | linked | created}.
create function public.link_patient_login(user_id uuid, phone text, full_name text default null)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.link_patient_login(
        link_patient_login.user_id, link_patient_login.phone::public.phone_e164, link_patient_login.full_name
    );
$$;

revoke execute on function public.begin_patient_login(text) from authenticated;
revoke execute on function public.link_patient_login(uuid, text, text) from authenticated;
grant execute on function public.begin_patient_login(text) to service_role;
grant execute on function public.link_patient_login(uuid, text, text) to service_role;
