-- Staff of every role (issue 20, item 5; seed 000 "CRUD doctors/pharmacists/staff", seed 003
-- /users): hospital admins provision nurses, front desk, CROs and other admins the way they
-- provision doctors and pharmacists (the login and the records together, or neither), list
-- their staff with roles and login state, deactivate and reactivate any member, and force a
-- password reset. One path for every role:
--
--   * rpc/begin_staff_provisioning(hospital_id, email, full_name, role, profile): the grant of
--     20261124000300 for any staff role, the profile checked as an invitation's
--     (private.invitation_profile: a doctor's specialty and licence, a pharmacist's licence and
--     pharmacy, nothing for the other roles); the sidecar then creates the login and redeems
--     the grant with rpc/complete_staff_provisioning, as for a doctor.
--   * rpc/staff_members(hospital_id): the staff of the hospitals the caller administers, one row
--     per membership, with the login's last sign-in, whether it is banned and whether it must
--     change its password.
--   * rpc/set_staff_member_active(membership_id, active): deactivates or reactivates any member,
--     through private.set_staff_active for a doctor or a pharmacist (their profile row too);
--     deactivation ends the login's sessions unless it serves another role. Not oneself.
--   * rpc/begin_password_reset(user_id): an admin forces a staff member's password to be reset:
--     every session of the login ends at once; the sidecar then replaces the password with a
--     temporary one (shown once to the admin) and marks the login `password_change_required`,
--     which the user's own password change clears. Only for a login that serves no hospital
--     the admin does not administer and no patient record, and never the admin's own.
--
-- Errors (DETAIL): 42501 not_hospital_admin, not_allowed; 22023 invalid_role, invalid_profile,
-- invalid_email, full_name_required; PT404 staff_member_not_found; PT409 email_exists,
-- cannot_deactivate_self, cannot_reset_own_password, login_serves_elsewhere; PT422
-- pharmacy_not_found; 23505 licence_number_exists.

alter table private.staff_provisioning_grants drop constraint staff_provisioning_grants_role_provisioned;
alter table private.staff_provisioning_grants add constraint staff_provisioning_grants_role_staff check (
    role <> 'patient'
);

-- RPC (provisioning step 1, any staff role) -> the grant id.
create function public.begin_staff_provisioning(
    hospital_id uuid,
    email text,
    full_name text,
    role public.app_role,
    profile jsonb default '{}'
)
returns uuid
language plpgsql
volatile
set search_path = ''
as $$
begin
    perform private.require_hospital_admin(begin_staff_provisioning.hospital_id);
    if begin_staff_provisioning.role is null or begin_staff_provisioning.role = 'patient' then
        perform private.raise_invalid('staff are provisioned in a staff role', detail => 'invalid_role');
    end if;
    return private.issue_provisioning_grant(
        begin_staff_provisioning.hospital_id,
        begin_staff_provisioning.role,
        begin_staff_provisioning.email,
        begin_staff_provisioning.full_name,
        private.invitation_profile(
            begin_staff_provisioning.hospital_id, begin_staff_provisioning.role, begin_staff_provisioning.profile
        )
    );
end;
$$;

-- Provisioning step 3, as in 20261202160001, answering the membership for a role without a
-- profile row (nurse, front desk, CRO, admin) where a doctor or a pharmacist answers its row.
create or replace function private.complete_provisioning_grant(grant_id uuid, login uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    issued private.staff_provisioning_grants;
    created jsonb;
begin
    issued := private.redeem_provisioning_grant(grant_id, login);
    created := private.create_staff_records(
        issued.user_id, issued.hospital_id, issued.role, issued.profile, auth.uid()
    );
    return private.staff_record(
        coalesce(nullif(created -> 'profile', 'null'), created -> 'membership'), issued.full_name, issued.email::text
    );
end;
$$;

-- What the staff list shows of each login the caller administers: the person's name, email and
-- phone (also while deactivated, when the staff directory no longer shows them), last sign-in,
-- ban and the pending password change. Security definer: auth.users is not the API's; only
-- logins holding a membership (any state) at a hospital the caller administers are answered.
create function private.staff_login_states(members uuid[])
returns table (
    user_id uuid, full_name text, email text, phone text, last_sign_in_at timestamptz, banned boolean,
    password_change_required boolean
)
language sql
stable
security definer
set search_path = ''
as $$
    select u.id, p.full_name, coalesce(p.email::text, u.email), p.phone::text, u.last_sign_in_at,
        coalesce(u.banned_until > now(), false),
        coalesce((u.raw_app_meta_data ->> 'password_change_required')::boolean, false)
    from auth.users as u
    left join public.profiles as p on p.id = u.id
    where u.id = any(members)
        and exists (
            select from public.staff_memberships as m
            where m.user_id = u.id and m.hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
        );
$$;

-- RPC (seed 003 GET /users): the staff of the hospitals the caller administers (or of one of
-- them), one row per membership. Security invoker: the caller's policies choose the rows.
create function public.staff_members(hospital_id uuid default null)
returns table (
    membership_id uuid,
    user_id uuid,
    hospital_id uuid,
    role public.app_role,
    is_active boolean,
    deactivated_at timestamptz,
    full_name text,
    email text,
    phone text,
    doctor_id uuid,
    pharmacist_id uuid,
    joined_at timestamptz,
    last_sign_in_at timestamptz,
    banned boolean,
    password_change_required boolean
)
language sql
stable
set search_path = ''
as $$
    with members as (
        select m.* from public.staff_memberships as m
        where m.hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
            and (staff_members.hospital_id is null or m.hospital_id = staff_members.hospital_id)
    ),
    logins as (
        select s.* from private.staff_login_states(array(select distinct members.user_id from members)) as s
    )
    select m.id, m.user_id, m.hospital_id, m.role, m.is_active, m.deactivated_at, l.full_name, l.email, l.phone,
        (select d.id from public.doctors as d where d.user_id = m.user_id and d.hospital_id = m.hospital_id
            and m.role = 'doctor'),
        (select ph.id from public.pharmacists as ph where ph.user_id = m.user_id and ph.hospital_id = m.hospital_id
            and m.role = 'pharmacist'),
        m.created_at, l.last_sign_in_at, coalesce(l.banned, false), coalesce(l.password_change_required, false)
    from members as m
    left join logins as l on l.user_id = m.user_id
    order by m.hospital_id, m.role, l.full_name, m.id;
$$;

-- RPC: deactivates (active => false) or reactivates any staff member by membership -> their row
-- of staff_members with `login_keeps_access` (whether the login must stay usable for another
-- role; the sidecar bans the login only when it need not). A doctor or a pharmacist goes
-- through private.set_staff_active (their profile row too); deactivation ends the login's
-- sessions (private.end_deactivated_staff_sessions). Security invoker.
create function public.set_staff_member_active(membership_id uuid, active boolean)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    member public.staff_memberships;
    profile_id uuid;
begin
    select m.* into member from public.staff_memberships as m where m.id = set_staff_member_active.membership_id;
    if member.id is null then
        perform private.raise_not_found('no staff member with this id', detail => 'staff_member_not_found');
    end if;
    perform private.require_hospital_admin(member.hospital_id);
    if member.user_id = (select auth.uid()) then
        perform private.raise_conflict(
            'an admin does not deactivate or reactivate their own membership',
            detail => 'cannot_deactivate_self', hint => 'ask another admin of the hospital'
        );
    end if;
    if member.role in ('doctor', 'pharmacist') then
        select x.id into profile_id
        from (
            select d.id from public.doctors as d
            where member.role = 'doctor' and d.user_id = member.user_id and d.hospital_id = member.hospital_id
            union all
            select ph.id from public.pharmacists as ph
            where member.role = 'pharmacist' and ph.user_id = member.user_id and ph.hospital_id = member.hospital_id
        ) as x;
    end if;
    if profile_id is not null then
        perform private.set_staff_active(member.role, profile_id, set_staff_member_active.active);
    else
        update public.staff_memberships as m set is_active = set_staff_member_active.active
        where m.id = member.id;
        if not set_staff_member_active.active then
            perform private.end_deactivated_staff_sessions(member.user_id, member.hospital_id, member.role);
        end if;
    end if;
    return (
        select to_jsonb(s.*) from public.staff_members(member.hospital_id) as s where s.membership_id = member.id
    ) || jsonb_build_object('login_keeps_access', private.login_keeps_access(member.user_id));
end;
$$;

-- RPC (admin): begins a forced password reset of a staff member's login -> {user_id, email}.
-- Ends every session of the login (its refresh tokens with them) in this transaction; the
-- sidecar then sets the temporary password and the `password_change_required` mark. Security
-- definer: reads every membership of the login and deletes from auth.sessions, after checking
-- that the caller administers a hospital where the login is staff and that the login serves
-- nothing beyond the hospitals the caller administers.
create function private.begin_password_reset(member uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    administered constant uuid [] := private.staff_hospital_ids('{hospital_admin}');
    hospital uuid;
    login_email text;
begin
    select m.hospital_id into hospital from public.staff_memberships as m
    where m.user_id = member and m.hospital_id = any(administered)
    order by m.is_active desc, m.created_at
    limit 1;
    if hospital is null then
        perform private.raise_not_found('no staff member with this id', detail => 'staff_member_not_found');
    end if;
    if member = (select auth.uid()) then
        perform private.raise_conflict(
            'change your own password with your current one', detail => 'cannot_reset_own_password',
            hint => 'PATCH /api/v1/users/{id}/password'
        );
    end if;
    if exists (
        select from public.staff_memberships as m
        where m.user_id = member and m.is_active and not m.hospital_id = any(administered)
    ) or exists (select from public.patients as p where p.user_id = member and p.deleted_at is null) then
        perform private.raise_conflict(
            'this login also serves another hospital or a patient record; its password is not yours to reset',
            detail => 'login_serves_elsewhere', hint => 'the person changes it themself, or every admin concerned agrees'
        );
    end if;
    select u.email into login_email from auth.users as u where u.id = member;
    delete from auth.refresh_tokens as t where t.user_id = member::text and t.session_id is null;
    delete from auth.sessions as s where s.user_id = member;
    perform private.audit_append(
        'UPDATE', 'auth.users', member::text, hospital, null, '{encrypted_password}', null, null,
        jsonb_build_object('event', 'password_reset_forced')
    );
    return jsonb_build_object('user_id', member, 'email', login_email);
end;
$$;

create function public.begin_password_reset(user_id uuid)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.begin_password_reset(begin_password_reset.user_id);
$$;

grant execute on function private.invitation_profile(uuid, public.app_role, jsonb) to authenticated;
grant execute on function private.staff_login_states(uuid[]) to authenticated;
grant execute on function private.begin_password_reset(uuid) to authenticated;
grant execute on function public.begin_staff_provisioning(uuid, text, text, public.app_role, jsonb) to authenticated;
grant execute on function public.staff_members(uuid) to authenticated;
grant execute on function public.set_staff_member_active(uuid, boolean) to authenticated;
grant execute on function public.begin_password_reset(uuid) to authenticated;

comment on function public.begin_staff_provisioning(uuid, text, text, public.app_role, jsonb) is
'Provisioning step 1 for any staff role (hospital admin; the sidecar''s POST /api/v1/staff drives
it): checks the caller administers the hospital, the email is free and the profile fits the role
(doctor: specialty, licence_number...; pharmacist: licence_number, pharmacy_id; other roles: {})
-> a single-use grant for rpc/complete_staff_provisioning. Errors: 42501 not_hospital_admin; 22023
invalid_role, invalid_profile, invalid_email, full_name_required; PT409 email_exists; PT422
pharmacy_not_found; 23505 licence_number_exists.';
comment on function public.staff_members(uuid) is
'The staff of the hospitals the caller administers (seed 003 GET /users), one row per membership:
role, active or not, name, email, phone, the doctor or pharmacist profile id, when they joined,
the login''s last sign-in, whether it is banned and whether it must change its password.
hospital_id narrows it to one hospital. Others get no rows.';
comment on function public.set_staff_member_active(uuid, boolean) is
'Deactivate (active false) or reactivate any staff member by membership id (hospital admin): a
doctor''s or pharmacist''s profile row follows; deactivation ends the login''s sessions unless it
serves another role (login_keeps_access in the answer). Errors: PT404 staff_member_not_found;
42501 not_hospital_admin; PT409 cannot_deactivate_self.';
comment on function public.begin_password_reset(uuid) is
'Force a staff member''s password reset (hospital admin; the sidecar''s POST
/api/v1/users/{id}/password-reset drives it): ends every session of the login now -> {user_id,
email}. Errors: PT404 staff_member_not_found; PT409 cannot_reset_own_password,
login_serves_elsewhere.';
