-- Clinical records are archived (deleted_at), never deleted (seed 002: DELETE = archive;
-- DESIGN.md, Soft delete). API roles hold no DELETE on the clinical tables, but the service
-- role does, and a deleted signed note or final lab result would be gone for good (the audit
-- trail would only say that it was). A BEFORE DELETE trigger refuses it for every role; a
-- superuser can still disable it, as with the audit trail.

create function private.refuse_clinical_delete()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform private.raise_forbidden(
        format('%s rows are archived, never deleted', tg_table_name),
        hint => 'set deleted_at (the hospital''s admin archives and restores)'
    );
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
            'create trigger %1$s_never_deleted before delete on public.%1$I
             for each row execute function private.refuse_clinical_delete()',
            t
        );
        execute format(
            'create trigger %1$s_never_truncated before truncate on public.%1$I
             for each statement execute function private.refuse_clinical_delete()',
            t
        );
    end loop;
end;
$$;
