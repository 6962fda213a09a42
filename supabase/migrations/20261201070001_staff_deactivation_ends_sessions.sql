-- Deactivating a doctor or a pharmacist ends every session of their login (issue 6: the
-- deactivation "bans the login and ends its sessions"), unless the login still serves another
-- role (private.login_keeps_access), whose sessions it then needs.
--
-- Why in SQL: Supabase Auth has no admin endpoint that signs a user out by id (POST /logout
-- signs out the holder of the access token it is given), and a ban refuses new sign-ins and
-- refreshes but leaves the sessions in place, so lifting it would bring every refresh token
-- back. Deleting the login's rows from auth.sessions is what Supabase Auth itself does for a
-- global sign-out; their refresh tokens go with them (refresh_tokens.session_id cascades).
-- Done inside the deactivating RPC's transaction: the records and the sessions change
-- together or not at all, the same on Supabase and on devstack.
--
-- The deactivating RPCs are defined once, in final form, in the migration that created them
-- (20261124000300): public.set_doctor_active and public.set_pharmacist_active, through
-- private.set_staff_active, which calls the function below.

-- Security definer: only the table owner and postgres may delete from auth.sessions. It does
-- only what the deactivation it serves allows: the caller administers the hospital, the
-- login's membership there in that role is inactive, and the login serves nothing else.
create function private.end_deactivated_staff_sessions(member uuid, hospital uuid, staff_role public.app_role)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    perform private.require_hospital_admin(hospital);
    if not exists (
        select from public.staff_memberships as m
        where m.user_id = member and m.hospital_id = hospital and m.role = staff_role and not m.is_active
    ) or private.login_keeps_access(member) then
        return;
    end if;
    -- Refresh tokens older than sessions have none to cascade from.
    delete from auth.refresh_tokens as t where t.user_id = member::text and t.session_id is null;
    delete from auth.sessions as s where s.user_id = member;
end;
$$;

grant execute on function private.end_deactivated_staff_sessions(uuid, uuid, public.app_role) to authenticated;
