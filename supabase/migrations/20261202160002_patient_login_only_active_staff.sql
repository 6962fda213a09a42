-- Patient phone login and staff (issue 10, finding 11). Before, any membership, even one
-- deactivated years ago, made a phone a "staff phone" refused a patient session: a former
-- staff member could not be a patient. Now only an active membership at an active hospital
-- does (the login is staff now, and an OTP must never open a staff login).
--
-- The other way round: a login that becomes staff again (reactivation, an accepted
-- invitation: its first active membership at an active hospital) ends the sessions it had,
-- since they may come from the phone login; staff sign in with email and password (and MFA).
--
-- The changed functions are defined once, in final form, in the migration that created them:
-- private.begin_patient_login (20261124000200), private.link_patient_login (20261124000200).

-- Whether the login is staff now. Security definer: it looks at every hospital's roster and
-- answers only this yes or no; the service role's phone login functions call it.
create function private.is_active_staff(member uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select exists (
        select from public.staff_memberships as m
        join public.hospitals as h on h.id = m.hospital_id
        where m.user_id = member and m.is_active and h.is_active
    );
$$;

-- A login that becomes staff ends the sessions it had (see the top of this file). Security
-- definer: only the owner deletes from auth.sessions; it acts only on the login whose first
-- active membership this row is.
create function private.end_sessions_of_new_staff()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    if tg_op = 'UPDATE' and old.is_active then
        return null;
    end if;
    if exists (
        select from public.staff_memberships as m
        join public.hospitals as h on h.id = m.hospital_id
        where m.user_id = new.user_id and m.id <> new.id and m.is_active and h.is_active
    ) then
        return null;
    end if;
    delete from auth.refresh_tokens as t where t.user_id = new.user_id::text and t.session_id is null;
    delete from auth.sessions as s where s.user_id = new.user_id;
    return null;
end;
$$;

create trigger staff_memberships_new_staff_signs_in_again
after insert or update of is_active on public.staff_memberships
for each row when (new.is_active) execute function private.end_sessions_of_new_staff();
