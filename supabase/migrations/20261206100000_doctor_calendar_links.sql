-- Which Cal.com user is which doctor (issue 14, seed 000 epic D). A Cal.com webhook names its
-- organizer by Cal.com user id and email; the admin of the doctor's hospital stores them here,
-- with the doctor's Cal.com event type ids (for the outbound sync, later). No API key or
-- token lives here: secrets go to Vault, never to a table a client can read.
--
-- Organizer -> doctor (private.calendar_doctor_for): the links whose Cal.com user id is the
-- organizer's; only when none has it, the links with the organizer's email and no other user
-- id. Exactly one must match; none or several is an unprocessable event (never a guess), so
-- two hospitals linking one Cal.com user stop each other's events rather than share them.

create table public.doctor_calendar_links (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    doctor_id uuid not null unique,
    cal_user_id bigint,
    cal_email extensions.citext,
    cal_event_type_ids bigint[] not null default '{}',
    created_by uuid default auth.uid() references public.profiles (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint doctor_calendar_links_doctor_same_hospital_fkey foreign key (doctor_id, hospital_id)
    references public.doctors (id, hospital_id) on delete cascade,
    constraint doctor_calendar_links_names_someone check (cal_user_id is not null or cal_email is not null),
    constraint doctor_calendar_links_user_id_positive check (cal_user_id > 0),
    constraint doctor_calendar_links_email_format check (cal_email ~ '^[^@\s]+@[^@\s]+$'),
    constraint doctor_calendar_links_event_types_positive check (0 < all(cal_event_type_ids))
);

create index doctor_calendar_links_hospital_idx on public.doctor_calendar_links (hospital_id);
create index doctor_calendar_links_cal_user_idx on public.doctor_calendar_links (cal_user_id);
create index doctor_calendar_links_cal_email_idx on public.doctor_calendar_links (cal_email);
create index doctor_calendar_links_created_by_idx on public.doctor_calendar_links (created_by);

alter table public.doctor_calendar_links enable row level security;

-- The hospital's admins manage the links; the doctor reads their own.
create policy doctor_calendar_links_select_admin_or_doctor on public.doctor_calendar_links
for select to authenticated
using (
    hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
    or doctor_id = any(private.own_doctor_ids())
);

create policy doctor_calendar_links_insert_admin on public.doctor_calendar_links
for insert to authenticated
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create policy doctor_calendar_links_update_admin on public.doctor_calendar_links
for update to authenticated
using (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')))
with check (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

create policy doctor_calendar_links_delete_admin on public.doctor_calendar_links
for delete to authenticated
using (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

revoke all on public.doctor_calendar_links from anon, authenticated;
grant select, delete on public.doctor_calendar_links to authenticated;
grant insert (doctor_id, hospital_id, cal_user_id, cal_email, cal_event_type_ids)
on public.doctor_calendar_links to authenticated;
grant update (cal_user_id, cal_email, cal_event_type_ids) on public.doctor_calendar_links to authenticated;
grant all on public.doctor_calendar_links to service_role;

create trigger doctor_calendar_links_set_updated_at
before update on public.doctor_calendar_links
for each row execute function private.set_updated_at();

create trigger audit_row_change
after insert or update or delete on public.doctor_calendar_links
for each row execute function private.audit_row_change('');

comment on table public.doctor_calendar_links is
'A doctor''s Cal.com account: the Cal.com user id and email that name them as organizer of a '
'booking, and their event type ids (seed 000 epic D). One per doctor; written by the admins '
'of the doctor''s hospital, read by them and the doctor. A Cal.com webhook is applied to the '
'doctor whose link holds the organizer''s user id, else (no link holds it) the one link with '
'the organizer''s email; none or several matching leaves the event unprocessable in the '
'inbox (rpc/webhook_inbox_entries), to re-apply once the link is right. No API key or token '
'is stored here. Errors: 23505 the doctor already has a link, 23503 a doctor of another '
'hospital, 23514 neither a user id nor an email.';
comment on column public.doctor_calendar_links.cal_user_id is
'The Cal.com user id (payload.organizer.id of its webhooks).';
comment on column public.doctor_calendar_links.cal_email is
'The Cal.com account''s email (payload.organizer.email), matched when no link holds the user id.';
comment on column public.doctor_calendar_links.cal_event_type_ids is
'The doctor''s Cal.com event type ids (for booking from carebase into Cal.com).';

-- Organizer -> doctor link. Security definer: the webhook (service role) and a hospital
-- admin's re-apply must see every hospital's links to tell "one match" from "several".
create function private.calendar_links_for(cal_user_id bigint, cal_email text)
returns setof public.doctor_calendar_links
language sql
stable
security definer
set search_path = ''
as $$
    select l.*
    from public.doctor_calendar_links as l
    where l.cal_user_id = calendar_links_for.cal_user_id
    union all
    select l.*
    from public.doctor_calendar_links as l
    where l.cal_email = calendar_links_for.cal_email::extensions.citext
        and (l.cal_user_id is null or l.cal_user_id = calendar_links_for.cal_user_id)
        and not exists (
            select from public.doctor_calendar_links as other
            where other.cal_user_id = calendar_links_for.cal_user_id
        )
        and l.cal_user_id is distinct from calendar_links_for.cal_user_id;
$$;

comment on function private.calendar_links_for(bigint, text) is
'The doctor links an organizer names: those holding its Cal.com user id, else those with its '
'email and no other user id. The caller takes exactly one or refuses.';
