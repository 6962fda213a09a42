-- Cal.com out (issue 14, item 3): what carebase needs to act in a doctor's Cal.com account.
--
--   * The doctor's Cal.com API key lives in Vault (vault.create_secret / update_secret); the
--     one private table below holds only the secret's id. A hospital admin sets or clears it
--     with rpc/set_doctor_calendar_key, which never answers the key; the worker (service role)
--     reads it with rpc/calendar_api_key and falls back to the deployment's CALCOM_API_KEY.
--     No table or column a client can read holds a key.
--   * The link gains the doctor's Cal.com schedule id (working hours are pushed to it) and
--     when a key was last set (a date, never the key).

alter table public.doctor_calendar_links
add column cal_schedule_id bigint,
add column api_key_set_at timestamptz,
add constraint doctor_calendar_links_schedule_id_positive check (cal_schedule_id > 0);

grant insert (cal_schedule_id) on public.doctor_calendar_links to authenticated;
grant update (cal_schedule_id) on public.doctor_calendar_links to authenticated;

comment on column public.doctor_calendar_links.cal_schedule_id is
'The Cal.com schedule the doctor''s working hours and exceptions are pushed to (null: none).';
comment on column public.doctor_calendar_links.api_key_set_at is
'When a hospital admin last stored the doctor''s own Cal.com API key '
'(rpc/set_doctor_calendar_key); null: none, the deployment''s key is used. The key itself is '
'in Vault, readable by nobody through the API.';

create table private.doctor_calendar_credentials (
    doctor_id uuid primary key references public.doctors (id) on delete cascade,
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    -- vault.secrets.id (no foreign key: Vault's tables are not ours to reference).
    secret_id uuid not null unique,
    set_by uuid references public.profiles (id) on delete set null,
    set_at timestamptz not null default now()
);

create index doctor_calendar_credentials_hospital_idx on private.doctor_calendar_credentials (hospital_id);
create index doctor_calendar_credentials_set_by_idx on private.doctor_calendar_credentials (set_by);

alter table private.doctor_calendar_credentials enable row level security;
revoke all on private.doctor_calendar_credentials from anon, authenticated, service_role;

comment on table private.doctor_calendar_credentials is
'Which Vault secret holds a doctor''s Cal.com API key (the key is only in Vault).';

-- A removed credential (the doctor deleted, or the key cleared) takes its secret with it.
-- Security definer: Vault is its owner's.
create function private.forget_calendar_secret()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    delete from vault.secrets as s where s.id = old.secret_id;
    return null;
end;
$$;

create trigger doctor_calendar_credentials_forget_secret
after delete on private.doctor_calendar_credentials
for each row execute function private.forget_calendar_secret();

-- Sets (api_key given) or clears (null or empty) a doctor's Cal.com key. Security definer:
-- Vault and the credentials table are not the admin's to touch; the doctor must be of a
-- hospital the caller administers (else the same PT404 as no such doctor: a UUID grants
-- nothing). Audited without the key.
create function private.set_doctor_calendar_key(doctor_id uuid, api_key text)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    doctor public.doctors;
    existing private.doctor_calendar_credentials;
    key text := nullif(btrim(api_key), '');
    secret uuid;
    action text;
begin
    select d.* into doctor from public.doctors as d where d.id = set_doctor_calendar_key.doctor_id;
    if doctor.id is null or not doctor.hospital_id = any(private.staff_hospital_ids('{hospital_admin}')) then
        perform private.raise_not_found(
            'no such doctor in your hospitals', hint => 'a hospital admin sets the keys of their own doctors'
        );
    end if;
    if key is not null and (length(key) > 500 or key ~ '[[:space:][:cntrl:]]') then
        perform private.raise_invalid(
            'the Cal.com API key must be one word of at most 500 characters',
            hint => 'paste the key from Cal.com settings, developer, API keys'
        );
    end if;

    select c.* into existing
    from private.doctor_calendar_credentials as c
    where c.doctor_id = doctor.id
    for update;

    if key is null then
        action := case when existing.doctor_id is null then 'clear_none' else 'clear' end;
        delete from private.doctor_calendar_credentials as c where c.doctor_id = doctor.id;
    elsif existing.doctor_id is null then
        action := 'set';
        secret := vault.create_secret(
            key, 'carebase_calcom_key_' || doctor.id::text,
            'Cal.com API key of a carebase doctor (rpc/set_doctor_calendar_key)'
        );
        insert into private.doctor_calendar_credentials (doctor_id, hospital_id, secret_id, set_by)
        values (doctor.id, doctor.hospital_id, secret, auth.uid());
    else
        action := 'replace';
        perform vault.update_secret(existing.secret_id, key);
        update private.doctor_calendar_credentials as c
        set set_by = auth.uid(), set_at = now()
        where c.doctor_id = doctor.id;
    end if;

    update public.doctor_calendar_links as l
    set api_key_set_at = case when key is null then null else now() end
    where l.doctor_id = doctor.id;

    perform private.audit_append(
        'UPDATE', 'private.doctor_calendar_credentials', doctor.id::text, doctor.hospital_id, null,
        '{api_key}', null, null, jsonb_build_object('action', action)
    );
    return jsonb_build_object('doctor_id', doctor.id, 'has_key', key is not null);
end;
$$;

create function public.set_doctor_calendar_key(doctor_id uuid, api_key text)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.set_doctor_calendar_key(set_doctor_calendar_key.doctor_id, set_doctor_calendar_key.api_key);
$$;

grant execute on function private.set_doctor_calendar_key(uuid, text) to authenticated;
grant execute on function public.set_doctor_calendar_key(uuid, text) to authenticated;

comment on function public.set_doctor_calendar_key(uuid, text) is
'Stores a doctor''s own Cal.com API key in Vault (hospital admins of the doctor''s hospital); '
'null or empty clears it, and the worker then uses the deployment''s key. Answers {doctor_id, '
'has_key}, never the key; audited. The worker creates, moves and cancels the doctor''s '
'Cal.com bookings with it. Errors: PT404 no such doctor in your hospitals, 22023 not a key.';

-- The key the worker acts with for a doctor (null: none stored; the deployment's key then).
-- Security definer: Vault. Service role only.
create function private.calendar_api_key(doctor_id uuid)
returns text
language sql
stable
security definer
set search_path = ''
as $$
    select s.decrypted_secret
    from private.doctor_calendar_credentials as c
    join vault.decrypted_secrets as s on s.id = c.secret_id
    where c.doctor_id = calendar_api_key.doctor_id;
$$;

create function public.calendar_api_key(doctor_id uuid)
returns text
language sql
stable
set search_path = ''
as $$
    select private.calendar_api_key(calendar_api_key.doctor_id);
$$;

revoke execute on function public.calendar_api_key(uuid) from authenticated;
grant execute on function private.calendar_api_key(uuid) to service_role;
grant execute on function public.calendar_api_key(uuid) to service_role;

comment on function public.calendar_api_key(uuid) is
'The doctor''s own Cal.com API key from Vault, for the worker (service role only); null when '
'none is stored.';
