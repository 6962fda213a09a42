-- Consent (seed 002, Consent Management): versioned consent documents per hospital and
-- purpose; patients grant and withdraw (each a new row: the history is kept, nothing is
-- updated or deleted). The current state is the latest event per patient, hospital and
-- purpose, read on every query by private.has_consent, so a withdrawal takes effect on the
-- next query everywhere it is checked:
--   record_sharing     RLS of the clinical tables: another hospital's care team reads a
--                      record shared with it (public.record_shares) only while the patient's
--                      consent at the record's hospital stands (explicit grant required);
--   contact_whatsapp / contact_sms / contact_email
--                      the outbox: messages on a channel the patient withdrew are refused at
--                      enqueue and pending ones are cancelled by the withdrawal (care messages
--                      are allowed until withdrawn);
--   external_pharmacy  reserved: prescriptions can only go to the hospital's own pharmacies
--                      (a same-hospital foreign key) until outside pharmacies exist.

create type public.consent_purpose as enum (
    'record_sharing', 'external_pharmacy', 'contact_whatsapp', 'contact_sms', 'contact_email'
);
create type public.consent_action as enum ('granted', 'withdrawn');

create table public.consent_documents (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id) on delete restrict,
    purpose public.consent_purpose not null,
    version integer not null constraint consent_documents_version_positive check (version > 0),
    title text not null constraint consent_documents_title_present check (length(btrim(title)) > 0),
    body text not null constraint consent_documents_body_present check (length(btrim(body)) > 0),
    published_at timestamptz not null default now(),
    created_by uuid references public.profiles (id) on delete set null default auth.uid(),
    constraint consent_documents_version_unique unique (hospital_id, purpose, version),
    constraint consent_documents_id_hospital_key unique (id, hospital_id)
);

create index consent_documents_created_by_idx on public.consent_documents (created_by);

create table public.consent_events (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    hospital_id uuid not null,
    document_id uuid not null,
    purpose public.consent_purpose not null,
    action public.consent_action not null,
    recorded_at timestamptz not null default clock_timestamp(),
    recorded_by uuid references public.profiles (id) on delete set null default auth.uid(),
    constraint consent_events_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict,
    constraint consent_events_document_fkey foreign key (document_id, hospital_id)
    references public.consent_documents (id, hospital_id) on delete restrict
);

create index consent_events_current_idx on public.consent_events (patient_id, hospital_id, purpose, recorded_at);
create index consent_events_document_idx on public.consent_events (document_id, hospital_id);
create index consent_events_recorded_by_idx on public.consent_events (recorded_by);

-- The event's purpose is its document's.
create function private.fill_consent_purpose()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    -- Security definer: the document is readable by the patient, but not necessarily by
    -- whoever records on their behalf through another policy.
    select d.purpose into new.purpose from public.consent_documents as d where d.id = new.document_id;
    return new;
end;
$$;

create trigger consent_events_fill_purpose
before insert on public.consent_events
for each row execute function private.fill_consent_purpose();

-- The latest decision of this patient at this hospital for this purpose: true only when it
-- is a grant. Security definer: policies call it whatever the caller may read of consents.
create function private.has_consent(patient uuid, hospital uuid, purpose public.consent_purpose)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce((
        select e.action = 'granted'
        from public.consent_events as e
        where e.patient_id = has_consent.patient
            and e.hospital_id = has_consent.hospital
            and e.purpose = has_consent.purpose
        order by e.recorded_at desc, e.id desc
        limit 1
    ), false);
$$;

-- Whether a patient withdrew contact on this channel at this hospital (latest decision).
create function private.contact_withdrawn(patient uuid, hospital uuid, channel text)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce((
        select e.action = 'withdrawn'
        from public.consent_events as e
        where e.patient_id = contact_withdrawn.patient
            and e.hospital_id = contact_withdrawn.hospital
            and e.purpose = ('contact_' || contact_withdrawn.channel)::public.consent_purpose
        order by e.recorded_at desc, e.id desc
        limit 1
    ), false);
$$;

-- Outbox boundary: a message on a channel the patient withdrew is never sent.
create function private.outbox_respect_contact_consent()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if new.recipient_kind = 'patient'
        and new.channel in ('sms', 'whatsapp', 'email')
        and new.hospital_id is not null
        and private.contact_withdrawn(new.recipient_id, new.hospital_id, new.channel) then
        new.state := 'cancelled';
        new.last_error := format('the patient withdrew consent to contact by %s', new.channel);
    end if;
    return new;
end;
$$;

create trigger outbox_respect_contact_consent
before insert on private.outbox
for each row execute function private.outbox_respect_contact_consent();

-- A withdrawal of contact cancels what is still waiting to go out. Security definer: writes
-- the private outbox.
create function private.cancel_withdrawn_contact()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if new.action = 'withdrawn' and new.purpose::text like 'contact\_%' then
        update private.outbox as o
        set state = 'cancelled', last_error = format('the patient withdrew consent (%s)', new.purpose)
        where o.recipient_kind = 'patient'
            and o.recipient_id = new.patient_id
            and o.hospital_id = new.hospital_id
            and o.channel = substr(new.purpose::text, length('contact_') + 1)
            and o.state = 'pending';
    end if;
    return null;
end;
$$;

create trigger consent_events_cancel_withdrawn_contact
after insert on public.consent_events
for each row execute function private.cancel_withdrawn_contact();

create index outbox_recipient_idx on private.outbox (recipient_id, channel) where state = 'pending';

-- A patient's record at one hospital shared with another (e.g. a referral). Effective only
-- while not revoked and while the patient's record_sharing consent at the source hospital
-- stands.
create table public.record_shares (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    hospital_id uuid not null,
    target_hospital_id uuid not null references public.hospitals (id) on delete restrict,
    reason text,
    created_by uuid references public.profiles (id) on delete set null default auth.uid(),
    created_at timestamptz not null default now(),
    revoked_at timestamptz,
    constraint record_shares_other_hospital check (target_hospital_id <> hospital_id),
    constraint record_shares_registration_fkey foreign key (patient_id, hospital_id)
    references public.patient_registrations (patient_id, hospital_id) on delete restrict
);

create index record_shares_registration_idx on public.record_shares (patient_id, hospital_id);
create index record_shares_target_idx on public.record_shares (target_hospital_id, patient_id);
create index record_shares_created_by_idx on public.record_shares (created_by);

-- Whether the caller may read this patient's clinical rows of `hospital` through a share:
-- an active share to a hospital where the caller is on the patient's care team, and the
-- patient's consent at `hospital`. Security definer, like the access helpers.
create function private.shared_with_caller(patient uuid, hospital uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return exists (
        select from public.record_shares as s
        where s.patient_id = shared_with_caller.patient
            and s.hospital_id = shared_with_caller.hospital
            and s.revoked_at is null
            and private.on_care_team(s.patient_id, s.target_hospital_id)
    )
    and private.has_consent(shared_with_caller.patient, shared_with_caller.hospital, 'record_sharing');
end;
$$;

-- Row-level security -------------------------------------------------------------------------
alter table public.consent_documents enable row level security;
alter table public.consent_events enable row level security;
alter table public.record_shares enable row level security;

revoke all on public.consent_documents, public.consent_events, public.record_shares from anon, authenticated;
grant all on public.consent_documents, public.consent_events, public.record_shares to service_role;
grant select, insert on public.consent_documents to authenticated;
grant select on public.consent_events to authenticated;
grant insert (patient_id, hospital_id, document_id, action) on public.consent_events to authenticated;
grant select, insert on public.record_shares to authenticated;
grant update (revoked_at) on public.record_shares to authenticated;

-- Documents: published by the hospital's admin, read by its staff and its patients.
create policy consent_documents_select on public.consent_documents
for select to authenticated
using (
    hospital_id = any((select private.staff_hospital_ids())::uuid[])
    or hospital_id = any((select private.patient_registered_hospital_ids())::uuid[])
);

create policy consent_documents_insert_admin on public.consent_documents
for insert to authenticated
with check (
    hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[])
    and created_by = (select auth.uid())
);

-- Events: the patient's own, and those the front desk and admins of the hospital record
-- (paper consent at the counter).
create policy consent_events_select on public.consent_events
for select to authenticated
using (
    patient_id = (select private.own_patient_id())
    or hospital_id = any((select private.staff_hospital_ids('{front_desk,hospital_admin}'))::uuid[])
);

create policy consent_events_insert on public.consent_events
for insert to authenticated
with check (
    recorded_by = (select auth.uid())
    and (
        (
            patient_id = (select private.own_patient_id())
            and hospital_id = any((select private.patient_registered_hospital_ids())::uuid[])
        )
        or hospital_id = any((select private.staff_hospital_ids('{front_desk,hospital_admin}'))::uuid[])
    )
);

-- Shares: made and revoked by the patient, or by the source hospital's admin or a doctor of
-- the patient's care team there; seen by those and, at the target hospital, only by those
-- who need them: its admin and the patient's care team there (the reason is often clinical).
create policy record_shares_select on public.record_shares
for select to authenticated
using (
    patient_id = (select private.own_patient_id())
    or hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[])
    or private.on_care_team(patient_id, hospital_id)
    or target_hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[])
    or private.on_care_team(patient_id, target_hospital_id)
);

create policy record_shares_insert on public.record_shares
for insert to authenticated
with check (
    created_by = (select auth.uid())
    and revoked_at is null
    and (
        patient_id = (select private.own_patient_id())
        or hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[])
        or (
            hospital_id = any((select private.staff_hospital_ids('{doctor}'))::uuid[])
            and private.on_care_team(patient_id, hospital_id)
        )
    )
);

create policy record_shares_update on public.record_shares
for update to authenticated
using (
    patient_id = (select private.own_patient_id())
    or hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[])
    or (
        hospital_id = any((select private.staff_hospital_ids('{doctor}'))::uuid[])
        and private.on_care_team(patient_id, hospital_id)
    )
)
with check (true);

-- The current decision per patient, hospital and purpose (under the events' RLS).
create view public.patient_consents
with (security_invoker = true) as
select distinct on (e.patient_id, e.hospital_id, e.purpose)
    e.patient_id,
    e.hospital_id,
    e.purpose,
    e.action = 'granted' as granted,
    e.document_id,
    d.version,
    e.recorded_at
from public.consent_events as e
inner join public.consent_documents as d on e.document_id = d.id
order by e.patient_id asc, e.hospital_id asc, e.purpose asc, e.recorded_at desc, e.id desc;

revoke all on public.patient_consents from anon, authenticated;
grant select on public.patient_consents to authenticated, service_role;

-- RPCs: the calling patient grants the consent a document asks for, or withdraws consent
-- for a purpose at a hospital (staff pass patient_id when recording on paper).
create function public.grant_consent(document_id uuid, patient_id uuid default null)
returns public.consent_events
language plpgsql
volatile
set search_path = ''
as $$
declare
    document public.consent_documents;
    recorded public.consent_events;
begin
    select d.* into document from public.consent_documents as d where d.id = grant_consent.document_id;
    if document.id is null then
        perform private.raise_not_found(
            'no such consent document', hint => 'list the documents of your hospital in consent_documents'
        );
    end if;
    insert into public.consent_events (patient_id, hospital_id, document_id, action)
    values (
        coalesce(grant_consent.patient_id, private.own_patient_id()), document.hospital_id, document.id, 'granted'
    )
    returning * into recorded;
    return recorded;
end;
$$;

create function public.withdraw_consent(
    hospital_id uuid, purpose public.consent_purpose, patient_id uuid default null
)
returns public.consent_events
language plpgsql
volatile
set search_path = ''
as $$
declare
    document_id uuid;
    recorded public.consent_events;
begin
    select d.id into document_id
    from public.consent_documents as d
    where d.hospital_id = withdraw_consent.hospital_id and d.purpose = withdraw_consent.purpose
    order by d.version desc
    limit 1;
    if document_id is null then
        raise exception using
            errcode = 'PT404', message = format('the hospital has no consent document for %s', withdraw_consent.purpose);
    end if;
    insert into public.consent_events (patient_id, hospital_id, document_id, action)
    values (
        coalesce(withdraw_consent.patient_id, private.own_patient_id()), withdraw_consent.hospital_id, document_id,
        'withdrawn'
    )
    returning * into recorded;
    return recorded;
end;
$$;

grant execute on function private.has_consent(uuid, uuid, public.consent_purpose) to authenticated, service_role;
grant execute on function private.contact_withdrawn(uuid, uuid, text) to authenticated, service_role;
grant execute on function private.shared_with_caller(uuid, uuid) to authenticated, service_role;
grant execute on function public.grant_consent(uuid, uuid) to authenticated, service_role;
grant execute on function public.withdraw_consent(uuid, public.consent_purpose, uuid) to authenticated, service_role;
