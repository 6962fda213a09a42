-- Every API request that reads clinical rows leaves a READ entry in the audit trail, or is
-- refused.
--
-- The pre-request function (20261123000800) logs, or refuses in read-only requests, the
-- requests whose target is a clinical resource. PostgREST embedding reaches the same tables
-- from any other resource, e.g. GET /rest/v1/patient_registrations?select=*,lab_results(*),
-- and that read was neither logged nor refused. PostgREST does not pass the query string to
-- the database, so the pre-request function cannot see embeds; row-level security can.
--
-- One RESTRICTIVE select policy on each clinical table calls private.clinical_read_logged
-- once per statement (an init plan), when the statement first meets a row of the table:
--   not an API request (no request.method: SQL sessions, jobs)  -> allowed, nothing logged;
--   already logged for that table in this transaction            -> allowed;
--   read-only request (GET, HEAD)                                -> refused (PT405, the logged
--                                                                   call to use in the hint);
--   read-write request                                           -> one READ entry for the
--                                                                   table, then allowed.
-- The pre-request function and the timeline RPC, which log their own READ entries, mark the
-- tables they logged so that the policy does not log them twice.
--
-- A request-level READ entry names no row, so it carries the caller's hospital (when they are
-- staff of exactly one) and the caller's own patient record: before, it carried neither, and
-- no admin could see it in public.audit_trail.
--
-- The changed functions are defined once, in final form, in the migration that created them:
-- private.log_timeline_read (20261123000600), private.log_request_read (20261123000800).

-- Security definer: appends to the audit trail.
create function private.log_request_level_read(resource text, via text)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    hospitals uuid [] := private.staff_hospital_ids();
begin
    perform private.audit_append(
        'READ', 'public.' || log_request_level_read.resource, null,
        case when cardinality(hospitals) = 1 then hospitals[1] end, private.own_patient_id(), '{}', null, null,
        jsonb_build_object('via', log_request_level_read.via)
    );
    perform set_config('carebase.read_logged.' || log_request_level_read.resource, 'on', true);
end;
$$;

-- Security definer: appends to the audit trail.
create function private.clinical_read_logged(resource text)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    flag text := 'carebase.read_logged.' || clinical_read_logged.resource;
begin
    if coalesce(current_setting('request.method', true), '') = '' then
        return true;
    end if;
    if coalesce(current_setting(flag, true), '') = 'on' then
        return true;
    end if;
    if current_setting('transaction_read_only') = 'on' then
        raise exception using
            errcode = 'PT405',
            message = format('%s cannot be read in a read-only request: the read could not be logged', resource),
            hint = 'clinical records are read through logged calls: POST /rest/v1/rpc/patient_timeline '
            || 'or POST /rest/v1/rpc/clinical_note';
    end if;
    perform private.log_request_level_read(clinical_read_logged.resource, 'row-level security');
    return true;
end;
$$;

do $$
declare
    t text;
begin
    foreach t in array array[
        'medical_profiles', 'encounters', 'clinical_notes', 'clinical_note_addenda', 'vital_signs', 'diagnoses',
        'patient_documents', 'lab_results'
    ] loop
        execute format(
            'create policy %1$s_read_logged on public.%1$I as restrictive for select to authenticated
             using ((select private.clinical_read_logged(%1$L)))',
            t
        );
    end loop;
end;
$$;

grant execute on function private.clinical_read_logged(text) to authenticated, service_role;
