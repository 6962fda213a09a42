-- Reads of clinical data through PostgREST: the pre-request function.
--
-- PostgREST calls public.db_pre_request() at the start of every request's transaction
-- (configured below as pgrst.db_pre_request on the authenticator role; on a hosted project
-- the same statement runs in a migration, then `notify pgrst, 'reload config'`).
--
-- For a request on a clinical resource (private.audited_resources) it appends a READ entry
-- to the audit trail with the request context: who, which resource, method, path, request
-- id, IP and user agent. PostgREST runs GET and HEAD in READ ONLY transactions, where
-- nothing can be written; so that no clinical read escapes the trail, such requests are
-- refused (PT405) with a hint naming the logged RPC to use instead (POST runs read-write).
-- The RPCs that decrypt log per patient and row themselves.

create table private.audited_resources (
    -- The first path segment after /rest/v1 (a table or view name).
    resource text primary key,
    -- Where clients read it instead of a GET.
    read_with text not null
);

insert into private.audited_resources (resource, read_with)
values
('medical_profiles', 'POST /rest/v1/rpc/patient_timeline, or a write with return=representation'),
('encounters', 'POST /rest/v1/rpc/patient_timeline'),
('clinical_notes', 'POST /rest/v1/rpc/clinical_note'),
('clinical_note_addenda', 'POST /rest/v1/rpc/clinical_note'),
('vital_signs', 'POST /rest/v1/rpc/patient_timeline'),
('diagnoses', 'POST /rest/v1/rpc/patient_timeline'),
('lab_results', 'POST /rest/v1/rpc/patient_timeline'),
('patient_documents', 'POST /rest/v1/rpc/patient_timeline'),
('patient_timeline', 'POST /rest/v1/rpc/patient_timeline');

grant select on private.audited_resources to authenticated, service_role;

-- Security definer: appends to the audit trail and marks what it logged. Called by
-- public.db_pre_request only.
create function private.log_request_read(resource text)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    perform private.log_request_level_read(log_request_read.resource, 'pre-request');
end;
$$;

-- The pre-request function. Security invoker and in public because PostgREST calls it as
-- the request's role, anon included (anon holds no usage on schema private): anonymous
-- requests return at once (they read nothing clinical anyway). On clinical resources it also
-- refuses the request shapes that can roll back after rows were read, and knows the RPCs that
-- disclose record contents (private.audited_resources).
create function public.db_pre_request()
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    path text := coalesce(nullif(current_setting('request.path', true), ''), '/');
    method text := upper(coalesce(nullif(current_setting('request.method', true), ''), 'GET'));
    headers jsonb := coalesce(nullif(current_setting('request.headers', true), '')::jsonb, '{}');
    prefer text := lower(coalesce(headers ->> 'prefer', ''));
    accept text := lower(coalesce(headers ->> 'accept', ''));
    segments text [] := string_to_array(regexp_replace(path, '^(/rest/v1)?/+', ''), '/');
    target text := coalesce(segments[1], '');
    -- Plain text, not a private row type: anon, with no usage on schema private, calls this.
    read_with text;
    refused text;
begin
    if coalesce(auth.role(), 'anon') not in ('authenticated', 'service_role') then
        return;
    end if;
    if target = 'rpc' then
        target := 'rpc/' || coalesce(segments[2], '');
    end if;
    if target = '' then
        return;
    end if;
    select r.read_with into read_with from private.audited_resources as r where r.resource = target;
    if read_with is null then
        return;
    end if;
    if current_setting('transaction_read_only') = 'on' then
        raise exception using
            errcode = 'PT405',
            message = format('%s %s cannot be logged in a read-only request', method, target),
            hint = format('clinical records are read through logged calls: %s', read_with);
    end if;
    refused := case
        when prefer ~ '(^|,)\s*tx\s*=\s*rollback\s*(,|$)' then 'Prefer: tx=rollback'
        when prefer ~ '(^|,)\s*max-affected\s*=' then 'Prefer: max-affected'
        when accept ~ 'application/vnd\.pgrst\.plan' then 'Accept: application/vnd.pgrst.plan'
        when accept ~ 'application/vnd\.pgrst\.object'
            and (
                method in ('PATCH', 'PUT', 'DELETE')
                or exists (
                    select from pg_catalog.pg_proc as p
                    where p.pronamespace = 'public'::regnamespace and p.proname = coalesce(segments[2], '')
                        and p.proretset
                )
            )
            then 'Accept: application/vnd.pgrst.object (singular) on a ' || method || ' of several rows'
    end;
    if refused is not null then
        raise exception using
            errcode = 'PT400',
            message = format('%s is not accepted on %s', refused, target),
            detail = 'the request could roll back after reading clinical rows, and take the audit entry with it',
            hint = 'send the request without it; clinical records are changed and read one logged request at a time';
    end if;
    if target not like 'rpc/%' then
        perform private.log_request_read(target);
    end if;
end;
$$;

comment on function public.db_pre_request() is
'PostgREST''s db-pre-request: logs a READ entry for requests on clinical resources, refuses them in read-only '
'requests (PT405) and refuses the request shapes that could roll back the entry (PT400). Not an API call.';

grant execute on function public.db_pre_request() to anon, authenticated, service_role;
grant execute on function private.log_request_read(text) to authenticated, service_role;

-- PostgREST's in-database configuration (read by the authenticator role at startup and on
-- `notify pgrst, 'reload config'`). Setting a custom parameter on a role needs the right to
-- set it (PostgreSQL 15: superuser or GRANT SET ON PARAMETER); where the migrating role lacks
-- it, the same setting goes in the PostgREST configuration (PGRST_DB_PRE_REQUEST, or
-- db_pre_request in the devstack gateway) and this step says so.
do $$
begin
    alter role authenticator set pgrst.db_pre_request = 'public.db_pre_request';
    notify pgrst, 'reload config';
exception
    when insufficient_privilege then
        raise notice 'set PostgREST db-pre-request = public.db_pre_request in its configuration';
end;
$$;
