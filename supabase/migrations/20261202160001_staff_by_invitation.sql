-- Staff join a hospital only in two ways (issue 10, finding 11): provisioning, where the admin
-- creates the login itself, so the person is new; or an invitation the person accepts. An admin
-- could before insert a membership for any user id (a patient's, another hospital's staff
-- member's), then read that person's profile and email as "their staff".
--
--   * Nobody but the service role inserts into staff_memberships (no API role holds INSERT
--     on it, 20261121000700). The admin keeps UPDATE of is_active only (deactivate,
--     reactivate a member of their hospital): user, hospital and role cannot be changed (no
--     column privilege).
--   * doctors and pharmacists rows are inserted only for a person who already holds that role
--     at that hospital (a restrictive policy, besides the foreign key to the membership).
--   * rpc/invite_staff(hospital_id, email, role, profile): an admin invites an email. The answer
--     is the same whether a login has this email or not. The invitee, signed in with that
--     email verified, reads their open invitations (GET /rest/v1/staff_invitations) and calls
--     rpc/accept_staff_invitation or rpc/decline_staff_invitation; the admin can
--     rpc/revoke_staff_invitation. An invitation lives 7 days and is accepted once.
--   * A decline is the invitee's own business: the admin sees the invitation open until it
--     expires, as if it were ignored, so a decline does not tell the admin that a login exists.
--
-- Errors (DETAIL carries the code):
--   22023 invalid_email, invalid_role, invalid_profile        PT404 invitation_not_found
--   42501 not_hospital_admin                                  PT409 invitation_used,
--   PT422 pharmacy_not_found                                        invitation_revoked,
--   23505 licence_number_exists, staff_record_exists                invitation_declined,
--                                                                   invitation_expired,
--                                                                   hospital_inactive,
--                                                                   already_member

-- No direct staff inserts ------------------------------------------------------------------------
create policy doctors_insert_only_for_doctor_members on public.doctors
as restrictive
for insert to authenticated
with check (
    exists (
        select from public.staff_memberships as m
        where m.user_id = doctors.user_id and m.hospital_id = doctors.hospital_id and m.role = 'doctor'
    )
);

create policy pharmacists_insert_only_for_pharmacist_members on public.pharmacists
as restrictive
for insert to authenticated
with check (
    exists (
        select from public.staff_memberships as m
        where
            m.user_id = pharmacists.user_id and m.hospital_id = pharmacists.hospital_id
            and m.role = 'pharmacist'
    )
);

-- Creating the records of a new member --------------------------------------------------------------
-- The membership and, for a doctor or a pharmacist, the profile row from the checked profile
-- (as built by begin_doctor_provisioning, begin_pharmacist_provisioning or invite_staff).
-- -> {"membership": ..., "profile": ... or null}. Security definer: the API roles may not insert
-- memberships; only private.complete_provisioning_grant and private.accept_staff_invitation call
-- it, after their own checks, and no API role may execute it.
create function private.create_staff_records(
    member uuid, hospital uuid, staff_role public.app_role, profile jsonb, decided_by uuid
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    membership jsonb;
    created jsonb;
    violated text;
begin
    insert into public.staff_memberships as m (user_id, hospital_id, role, created_by)
    values (member, hospital, staff_role, decided_by)
    returning to_jsonb(m.*) into membership;
    if staff_role = 'doctor' then
        insert into public.doctors as d (
            user_id, hospital_id, specialty, licence_number, qualification, licence_council,
            calendar_color, consultation_modes, languages, bio
        )
        select
            member, hospital, p.specialty, p.licence_number, p.qualification,
            p.licence_council, p.calendar_color, p.consultation_modes, p.languages, p.bio
        from jsonb_populate_record(null::public.doctors, profile) as p
        returning to_jsonb(d.*) into created;
    elsif staff_role = 'pharmacist' then
        insert into public.pharmacists as ph (user_id, hospital_id, pharmacy_id, licence_number)
        select member, hospital, p.pharmacy_id, p.licence_number
        from jsonb_populate_record(null::public.pharmacists, profile) as p
        returning to_jsonb(ph.*) into created;
    end if;
    return jsonb_build_object('membership', membership, 'profile', created);
exception
    when unique_violation then
        get stacked diagnostics violated = constraint_name;
        if violated = 'doctors_licence_unique_per_hospital' then
            raise exception using
                errcode = '23505',
                message = 'another doctor of this hospital holds this licence number',
                detail = 'licence_number_exists',
                hint = 'check the licence number';
        end if;
        raise exception using
            errcode = '23505',
            message = format('this staff record already exists (%s)', violated),
            detail = 'staff_record_exists';
end;
$$;

-- Provisioning step 3 (see 20261124000300_staff_provisioning.sql): redeem the grant, then
-- create the records. Security definer: create_staff_records is not the caller's to run; the
-- grant (the caller's own, fresh, for the login made for it, while they still administer the
-- hospital) is what allows it.
create function private.complete_provisioning_grant(grant_id uuid, login uuid)
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
    return private.staff_record(created -> 'profile', issued.full_name, issued.email::text);
end;
$$;

-- RPC (provisioning step 3, see 20261124000300_staff_provisioning.sql) -> the new doctor or
-- pharmacist, through the function above: the admin inserts no membership themself.
create function public.complete_staff_provisioning(grant_id uuid, user_id uuid)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.complete_provisioning_grant(
        complete_staff_provisioning.grant_id, complete_staff_provisioning.user_id
    );
$$;

-- Invitations ------------------------------------------------------------------------------------
create table public.staff_invitations (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete restrict,
    -- The invitee cannot read the hospital before joining it: its name travels with the
    -- invitation.
    hospital_name text not null,
    email extensions.citext not null,
    role public.app_role not null constraint staff_invitations_staff_role check (role <> 'patient'),
    -- The doctor's or pharmacist's profile to create on acceptance, checked when inviting.
    profile jsonb not null default '{}',
    invited_by uuid references public.profiles (id) on delete set null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null default now() + interval '7 days',
    accepted_at timestamptz,
    accepted_by uuid references public.profiles (id) on delete set null,
    revoked_at timestamptz,
    revoked_by uuid references public.profiles (id) on delete set null,
    updated_at timestamptz not null default now(),
    constraint staff_invitations_accepted_or_revoked check (accepted_at is null or revoked_at is null)
);

-- One open invitation per person, hospital and role: inviting again renews it.
create unique index staff_invitations_one_open_idx
on public.staff_invitations (hospital_id, email, role) where accepted_at is null and revoked_at is null;
create index staff_invitations_hospital_idx on public.staff_invitations (hospital_id);
create index staff_invitations_email_idx on public.staff_invitations (email);
create index staff_invitations_invited_by_idx on public.staff_invitations (invited_by);
create index staff_invitations_accepted_by_idx on public.staff_invitations (accepted_by);
create index staff_invitations_revoked_by_idx on public.staff_invitations (revoked_by);

create trigger staff_invitations_set_updated_at
before update on public.staff_invitations
for each row execute function private.set_updated_at();

create trigger audit_row_change after insert or update or delete on public.staff_invitations
for each row execute function private.audit_row_change('');

-- Declines, kept apart so that the admin's view of an invitation does not change.
create table private.staff_invitation_declines (
    invitation_id uuid primary key references public.staff_invitations (id) on delete cascade,
    declined_by uuid not null references auth.users (id) on delete cascade,
    declined_at timestamptz not null default now()
);

create index staff_invitation_declines_declined_by_idx on private.staff_invitation_declines (declined_by);
-- Audited without a hospital, so that the hospital's admins do not read it in audit_trail.
create trigger audit_row_change after insert or update or delete on private.staff_invitation_declines
for each row execute function private.audit_row_change('');
revoke all on private.staff_invitation_declines from public, anon, authenticated, service_role;

-- The caller's login email, when Supabase Auth has verified it (null otherwise). Security
-- definer: auth.users is not readable by the API roles; it answers about the caller only.
create function private.verified_email()
returns extensions.citext
language sql
stable
security definer
set search_path = ''
as $$
    select u.email::extensions.citext
    from auth.users as u
    where u.id = (select auth.uid()) and u.email_confirmed_at is not null and u.deleted_at is null;
$$;

-- The invitations the caller declined. Security definer: the declines table is private.
create function private.declined_invitation_ids()
returns uuid[]
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(array_agg(d.invitation_id), '{}')
    from private.staff_invitation_declines as d
    where d.declined_by = (select auth.uid());
$$;

alter table public.staff_invitations enable row level security;
revoke all on public.staff_invitations from anon, authenticated;
grant select on public.staff_invitations to authenticated;
grant all on public.staff_invitations to service_role;

-- Writes go through the RPCs below; clients only read.
create policy staff_invitations_select_admin on public.staff_invitations
for select to authenticated
using (hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[]));

create policy staff_invitations_select_open_to_invitee on public.staff_invitations
for select to authenticated
using (
    email = (select private.verified_email())
    and accepted_at is null
    and revoked_at is null
    and expires_at > now()
    and id <> all((select private.declined_invitation_ids())::uuid[])
);

-- The profile row an invitation creates, checked as provisioning checks it, with the same
-- defaults: a doctor needs a specialty and a licence number; a pharmacist a licence number and
-- an active pharmacy of the hospital (by default its default one); other roles take none.
create function private.invitation_profile(hospital uuid, staff_role public.app_role, profile jsonb)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    given jsonb := coalesce(profile, '{}');
    allowed text [] := case staff_role
        when 'doctor' then array[
            'specialty', 'licence_number', 'qualification', 'licence_council', 'calendar_color',
            'consultation_modes', 'languages', 'bio'
        ]
        when 'pharmacist' then array['licence_number', 'pharmacy_id']
        else '{}'::text []
    end;
    doctor public.doctors;
    pharmacist public.pharmacists;
    pharmacy uuid;
begin
    if jsonb_typeof(given) <> 'object' or exists (
        select from jsonb_object_keys(given) as k (key) where k.key <> all(allowed)
    ) then
        perform private.raise_invalid(
            format('the profile of a %s takes only these fields: %s', staff_role, allowed),
            detail => 'invalid_profile'
        );
    end if;
    if staff_role = 'doctor' then
        doctor := jsonb_populate_record(null::public.doctors, given);
        if coalesce(btrim(doctor.specialty), '') = '' or coalesce(btrim(doctor.licence_number), '') = '' then
            perform private.raise_invalid(
                'a doctor''s profile needs a specialty and a licence number', detail => 'invalid_profile'
            );
        end if;
        if coalesce(doctor.calendar_color, '#3B82F6') !~ '^#[0-9A-Fa-f]{6}$'
            or cardinality(coalesce(doctor.consultation_modes, '{video}')) = 0 then
            perform private.raise_invalid(
                'the calendar colour or the consultation modes are not valid', detail => 'invalid_profile'
            );
        end if;
        if exists (
            select from public.doctors as d
            where d.hospital_id = hospital and d.licence_number = doctor.licence_number
        ) then
            raise exception using
                errcode = '23505',
                message = 'another doctor of this hospital holds this licence number',
                detail = 'licence_number_exists',
                hint = 'check the licence number';
        end if;
        return jsonb_build_object(
            'specialty', doctor.specialty,
            'licence_number', doctor.licence_number,
            'qualification', doctor.qualification,
            'licence_council', doctor.licence_council,
            'calendar_color', coalesce(doctor.calendar_color, '#3B82F6'),
            'consultation_modes', coalesce(doctor.consultation_modes, '{video,audio,in_person}'),
            'languages', coalesce(doctor.languages, '{}'),
            'bio', doctor.bio
        );
    elsif staff_role = 'pharmacist' then
        pharmacist := jsonb_populate_record(null::public.pharmacists, given);
        if coalesce(btrim(pharmacist.licence_number), '') = '' then
            perform private.raise_invalid(
                'a pharmacist''s profile needs a licence number', detail => 'invalid_profile'
            );
        end if;
        select ph.id into pharmacy
        from public.pharmacies as ph
        where ph.hospital_id = hospital
            and ph.is_active
            and coalesce(ph.id = pharmacist.pharmacy_id, ph.is_default);
        if pharmacy is null then
            perform private.raise_unprocessable(
                'no active pharmacy of this hospital with this id',
                detail => 'pharmacy_not_found',
                hint => 'name an active pharmacy of the hospital, or set a default one'
            );
        end if;
        return jsonb_build_object('licence_number', pharmacist.licence_number, 'pharmacy_id', pharmacy);
    end if;
    return '{}'::jsonb;
end;
$$;

-- Inviting (or inviting again, which renews the open invitation for 7 days) -> its id. Nothing
-- here looks at auth.users: the answer does not depend on whether the email has a login.
-- Security definer: clients cannot write invitations; the caller is checked first.
create function private.invite_staff(
    hospital uuid, invitee_email text, staff_role public.app_role, invitee_profile jsonb
)
returns uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    invitee text := lower(btrim(invitee_email));
    checked jsonb;
    invitation uuid;
begin
    perform private.require_hospital_admin(hospital);
    if invitee is null or invitee !~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' then
        perform private.raise_invalid('the email is not a valid address', detail => 'invalid_email');
    end if;
    if staff_role is null or staff_role = 'patient' then
        perform private.raise_invalid('invitations are for staff roles', detail => 'invalid_role');
    end if;
    checked := private.invitation_profile(hospital, staff_role, invitee_profile);
    insert into public.staff_invitations as i (hospital_id, hospital_name, email, role, profile, invited_by)
    select hospital, h.name, invitee, staff_role, checked, auth.uid()
    from public.hospitals as h where h.id = hospital
    on conflict (hospital_id, email, role) where accepted_at is null and revoked_at is null
    do update set
        hospital_name = excluded.hospital_name,
        profile = excluded.profile,
        invited_by = excluded.invited_by,
        expires_at = now() + interval '7 days'
    returning i.id into invitation;
    return invitation;
end;
$$;

-- The open invitation with this id addressed to the caller's verified email, locked; anything
-- else is "not found", so that nobody learns of invitations addressed to others.
create function private.invitation_for_caller(invitation_id uuid)
returns public.staff_invitations
language plpgsql
volatile
set search_path = ''
as $$
declare
    invitation public.staff_invitations;
begin
    select i.* into invitation
    from public.staff_invitations as i
    where i.id = invitation_for_caller.invitation_id
    for update;
    if not found or invitation.email is distinct from private.verified_email() then
        raise exception using
            errcode = 'PT404', message = 'no invitation with this id is addressed to you',
            detail = 'invitation_not_found',
            hint = 'invitations are for the verified email of your login';
    end if;
    if invitation.accepted_at is not null then
        perform private.raise_conflict('this invitation was already accepted', detail => 'invitation_used');
    end if;
    if invitation.revoked_at is not null then
        perform private.raise_conflict(
            'this invitation was withdrawn by the hospital', detail => 'invitation_revoked'
        );
    end if;
    if invitation.id = any(private.declined_invitation_ids()) then
        raise exception using
            errcode = 'PT409', message = 'you declined this invitation', detail = 'invitation_declined',
            hint = 'ask the hospital for a new invitation';
    end if;
    if invitation.expires_at <= now() then
        raise exception using
            errcode = 'PT409', message = 'this invitation has expired', detail = 'invitation_expired',
            hint = 'ask the hospital for a new invitation';
    end if;
    return invitation;
end;
$$;

-- Accepting: the caller becomes a member in the invited role, with the profile row for a doctor
-- or a pharmacist. Security definer: the caller may not insert memberships; the invitation,
-- addressed to their verified email, open and from an active hospital, is what allows it.
create function private.accept_staff_invitation(invitation_id uuid)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    invitation public.staff_invitations := private.invitation_for_caller(invitation_id);
    created jsonb;
begin
    if not exists (select from public.hospitals as h where h.id = invitation.hospital_id and h.is_active) then
        perform private.raise_conflict('this hospital is no longer active', detail => 'hospital_inactive');
    end if;
    if exists (
        select from public.staff_memberships as m
        where m.user_id = auth.uid() and m.hospital_id = invitation.hospital_id and m.role = invitation.role
    ) then
        raise exception using
            errcode = 'PT409', message = 'you already hold this role at this hospital',
            detail = 'already_member',
            hint = 'an inactive membership is reactivated by the hospital''s admin';
    end if;
    created := private.create_staff_records(
        auth.uid(), invitation.hospital_id, invitation.role, invitation.profile, invitation.invited_by
    );
    update public.staff_invitations as i
    set accepted_at = now(), accepted_by = auth.uid()
    where i.id = invitation.id;
    return jsonb_build_object(
        'invitation_id', invitation.id,
        'hospital_id', invitation.hospital_id,
        'hospital_name', invitation.hospital_name,
        'role', invitation.role,
        'membership_id', created -> 'membership' ->> 'id',
        'profile', created -> 'profile'
    );
end;
$$;

-- Declining: the invitation leaves the invitee's list and can no longer be accepted. Security
-- definer: the declines table is private (the admin does not learn of it).
create function private.decline_staff_invitation(invitation_id uuid)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    invitation public.staff_invitations := private.invitation_for_caller(invitation_id);
begin
    insert into private.staff_invitation_declines (invitation_id, declined_by)
    values (invitation.id, auth.uid());
end;
$$;

-- Revoking: an admin of the invitation's hospital withdraws it while it is open. Security
-- definer: clients cannot write invitations; the caller is checked first, and an invitation of
-- another hospital is "not found".
create function private.revoke_staff_invitation(invitation_id uuid)
returns uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    invitation public.staff_invitations;
begin
    select i.* into invitation
    from public.staff_invitations as i
    where i.id = revoke_staff_invitation.invitation_id
        and i.hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
    for update;
    if not found then
        perform private.raise_not_found(
            'no invitation of your hospital with this id', detail => 'invitation_not_found'
        );
    end if;
    if invitation.accepted_at is not null then
        raise exception using
            errcode = 'PT409', message = 'this invitation was already accepted', detail = 'invitation_used',
            hint = 'deactivate the membership instead';
    end if;
    if invitation.revoked_at is null then
        update public.staff_invitations as i
        set revoked_at = now(), revoked_by = auth.uid()
        where i.id = invitation.id;
    end if;
    return invitation.id;
end;
$$;

-- RPCs ---------------------------------------------------------------------------------------------
-- RPC: POST /rest/v1/rpc/invite_staff {hospital_id, email, role, profile?} -> the invitation.
create function public.invite_staff(hospital_id uuid, email text, role public.app_role, profile jsonb default '{}')
returns public.staff_invitations
language plpgsql
volatile
set search_path = ''
as $$
declare
    invitation_id uuid := private.invite_staff(
        invite_staff.hospital_id, invite_staff.email, invite_staff.role, invite_staff.profile
    );
    invitation public.staff_invitations;
begin
    -- A statement of its own: it sees the row the call above wrote.
    select i.* into invitation from public.staff_invitations as i where i.id = invitation_id;
    return invitation;
end;
$$;

-- RPC: POST /rest/v1/rpc/accept_staff_invitation {invitation_id} -> the new membership.
create function public.accept_staff_invitation(invitation_id uuid)
returns jsonb
language sql
volatile
set search_path = ''
as $$
    select private.accept_staff_invitation(accept_staff_invitation.invitation_id);
$$;

-- RPC: POST /rest/v1/rpc/decline_staff_invitation {invitation_id} -> nothing.
create function public.decline_staff_invitation(invitation_id uuid)
returns void
language sql
volatile
set search_path = ''
as $$
    select private.decline_staff_invitation(decline_staff_invitation.invitation_id);
$$;

-- RPC: POST /rest/v1/rpc/revoke_staff_invitation {invitation_id} -> the invitation.
create function public.revoke_staff_invitation(invitation_id uuid)
returns public.staff_invitations
language plpgsql
volatile
set search_path = ''
as $$
declare
    revoked uuid := private.revoke_staff_invitation(revoke_staff_invitation.invitation_id);
    invitation public.staff_invitations;
begin
    select i.* into invitation from public.staff_invitations as i where i.id = revoked;
    return invitation;
end;
$$;

comment on table public.staff_invitations is
'Invitations of existing logins to a hospital''s staff. Admins of the hospital read all of '
'theirs; an invitee reads the open ones addressed to their verified email. Written only '
'through rpc/invite_staff, accept_staff_invitation, decline_staff_invitation and '
'revoke_staff_invitation. Open until accepted, revoked or expired (7 days); a decline is not '
'shown to the hospital.';
comment on column public.staff_invitations.hospital_name is 'The inviting hospital''s name when invited.';
comment on column public.staff_invitations.email is 'The invitee''s email, as the admin typed it (lower case).';
comment on column public.staff_invitations.profile is
'The doctor''s or pharmacist''s profile created on acceptance (specialty, licence_number, ... '
'or licence_number, pharmacy_id); {} for other roles.';
comment on function public.invite_staff(uuid, text, public.app_role, jsonb) is
'Invites an email to the hospital''s staff in a role (hospital admin). The answer is the same '
'whether or not a login has this email; inviting again renews the open invitation. A doctor''s '
'profile needs specialty and licence_number; a pharmacist''s licence_number (pharmacy_id: the '
'hospital''s default when left out).';
comment on function public.accept_staff_invitation(uuid) is
'Accepts an open invitation addressed to your verified email: you become a member of the '
'hospital in the role (a doctor or pharmacist with the profile). Your other sessions end when '
'you were not staff before: sign in again with email and password.';
comment on function public.decline_staff_invitation(uuid) is
'Declines an open invitation addressed to your verified email. The hospital is not told.';
comment on function public.revoke_staff_invitation(uuid) is
'Withdraws an open invitation of your hospital (hospital admin).';

grant execute on function private.complete_provisioning_grant(uuid, uuid) to authenticated;
grant execute on function private.verified_email() to authenticated;
grant execute on function private.declined_invitation_ids() to authenticated;
grant execute on function private.invite_staff(uuid, text, public.app_role, jsonb) to authenticated;
grant execute on function private.accept_staff_invitation(uuid) to authenticated;
grant execute on function private.decline_staff_invitation(uuid) to authenticated;
grant execute on function private.revoke_staff_invitation(uuid) to authenticated;

grant execute on function public.complete_staff_provisioning(uuid, uuid) to authenticated;
grant execute on function public.invite_staff(uuid, text, public.app_role, jsonb) to authenticated;
grant execute on function public.accept_staff_invitation(uuid) to authenticated;
grant execute on function public.decline_staff_invitation(uuid) to authenticated;
grant execute on function public.revoke_staff_invitation(uuid) to authenticated;
