-- Every reference a caller writes stays within their reach (issue 10; found by the generated
-- reference-reach test, supabase/tests/reach_references.test.sql).
--
-- 1. A clinical row that names an appointment, encounter, note or document names one of the
--    same patient at the same hospital: composite foreign keys on (id, patient_id,
--    hospital_id) instead of the id alone, so a care-team doctor of A can no longer hang
--    their row on B's encounter, or an addendum on A's note under B's patient.
-- 2. Who wrote a row is the caller, by construction: the columns that default to auth.uid()
--    (recorded_by, diagnosed_by, uploaded_by, created_by...) are no longer writable by the
--    API roles, so they take their default and cannot be forged to name another person.
--    Columns the policies already pinned to auth.uid() follow the same rule.
-- 3. The doctor who ordered a lab result is a doctor of the result's hospital.
-- 4. A pharmacy of a deactivated hospital is not an active pharmacy.
--
-- The changed function is defined once, in final form, in the migration that created it:
-- private.active_pharmacy_hospital_id (20261201090003).

-- 1. Same patient, same hospital -------------------------------------------------------------
alter table public.appointments
add constraint appointments_id_patient_hospital_key unique (id, patient_id, hospital_id);
alter table public.encounters
add constraint encounters_id_patient_hospital_key unique (id, patient_id, hospital_id);
alter table public.clinical_notes
add constraint clinical_notes_id_patient_hospital_key unique (id, patient_id, hospital_id);
alter table public.patient_documents
add constraint patient_documents_id_patient_hospital_key unique (id, patient_id, hospital_id);

alter table public.encounters drop constraint encounters_appointment_id_fkey;
alter table public.encounters add constraint encounters_appointment_same_patient_fkey
foreign key (appointment_id, patient_id, hospital_id)
references public.appointments (id, patient_id, hospital_id) on delete restrict;

alter table public.clinical_notes drop constraint clinical_notes_appointment_id_fkey;
alter table public.clinical_notes add constraint clinical_notes_appointment_same_patient_fkey
foreign key (appointment_id, patient_id, hospital_id)
references public.appointments (id, patient_id, hospital_id) on delete restrict;
drop index public.clinical_notes_appointment_idx;
create index clinical_notes_appointment_idx on public.clinical_notes (appointment_id, patient_id, hospital_id);

alter table public.clinical_notes drop constraint clinical_notes_encounter_id_fkey;
alter table public.clinical_notes add constraint clinical_notes_encounter_same_patient_fkey
foreign key (encounter_id, patient_id, hospital_id)
references public.encounters (id, patient_id, hospital_id) on delete restrict;
drop index public.clinical_notes_encounter_idx;
create index clinical_notes_encounter_idx on public.clinical_notes (encounter_id, patient_id, hospital_id);

alter table public.clinical_note_addenda drop constraint clinical_note_addenda_note_id_fkey;
alter table public.clinical_note_addenda add constraint clinical_note_addenda_note_same_patient_fkey
foreign key (note_id, patient_id, hospital_id)
references public.clinical_notes (id, patient_id, hospital_id) on delete restrict;
drop index public.clinical_note_addenda_note_idx;
create index clinical_note_addenda_note_idx on public.clinical_note_addenda (
    note_id, patient_id, hospital_id, created_at
);

alter table public.vital_signs drop constraint vital_signs_encounter_id_fkey;
alter table public.vital_signs add constraint vital_signs_encounter_same_patient_fkey
foreign key (encounter_id, patient_id, hospital_id)
references public.encounters (id, patient_id, hospital_id) on delete restrict;
drop index public.vital_signs_encounter_idx;
create index vital_signs_encounter_idx on public.vital_signs (encounter_id, patient_id, hospital_id);

alter table public.diagnoses drop constraint diagnoses_encounter_id_fkey;
alter table public.diagnoses add constraint diagnoses_encounter_same_patient_fkey
foreign key (encounter_id, patient_id, hospital_id)
references public.encounters (id, patient_id, hospital_id) on delete restrict;
drop index public.diagnoses_encounter_idx;
create index diagnoses_encounter_idx on public.diagnoses (encounter_id, patient_id, hospital_id);

alter table public.lab_results drop constraint lab_results_encounter_id_fkey;
alter table public.lab_results add constraint lab_results_encounter_same_patient_fkey
foreign key (encounter_id, patient_id, hospital_id)
references public.encounters (id, patient_id, hospital_id) on delete restrict;
drop index public.lab_results_encounter_idx;
create index lab_results_encounter_idx on public.lab_results (encounter_id, patient_id, hospital_id);

alter table public.lab_results drop constraint lab_results_attachment_id_fkey;
alter table public.lab_results add constraint lab_results_attachment_same_patient_fkey
foreign key (attachment_id, patient_id, hospital_id)
references public.patient_documents (id, patient_id, hospital_id) on delete set null (attachment_id);
drop index public.lab_results_attachment_idx;
create index lab_results_attachment_idx on public.lab_results (attachment_id, patient_id, hospital_id);

-- 2. Who wrote a row -------------------------------------------------------------------------
-- Where the API roles hold INSERT on the whole table, it becomes a grant on every other
-- column; where they hold it per column, the author column is taken out.
do $$
declare
    author record;
    other_columns text;
begin
    for author in
        select
            c.oid::regclass as table_name,
            array_agg(a.attname::text) as columns,
            exists (
                select from information_schema.table_privileges as p
                where p.grantee = 'authenticated' and p.privilege_type = 'INSERT'
                    and p.table_schema = 'public' and p.table_name = c.relname
            ) as whole_table
        from pg_catalog.pg_constraint as k
        join pg_catalog.pg_class as c on c.oid = k.conrelid
        join pg_catalog.pg_attribute as a on a.attrelid = c.oid and a.attnum = k.conkey[1]
        join pg_catalog.pg_attrdef as d on d.adrelid = c.oid and d.adnum = a.attnum
        where k.contype = 'f'
            and cardinality(k.conkey) = 1
            and c.relnamespace = 'public'::regnamespace
            and k.confrelid in ('public.profiles'::regclass, 'auth.users'::regclass)
            and pg_catalog.pg_get_expr(d.adbin, d.adrelid) = 'auth.uid()'
            and has_column_privilege('authenticated', c.oid, a.attname, 'INSERT')
        group by c.oid, c.relname
    loop
        if author.whole_table then
            select string_agg(quote_ident(a.attname), ', ' order by a.attnum) into other_columns
            from pg_catalog.pg_attribute as a
            where a.attrelid = author.table_name and a.attnum > 0 and not a.attisdropped
                and a.attgenerated = '' and not a.attname = any(author.columns);
            execute format('revoke insert on %s from authenticated', author.table_name);
            execute format('grant insert (%s) on %s to authenticated', other_columns, author.table_name);
        else
            execute format(
                'revoke insert (%s) on %s from authenticated',
                (select string_agg(quote_ident(col), ', ') from unnest(author.columns) as col), author.table_name
            );
        end if;
    end loop;
end;
$$;

-- 3. The ordering doctor -------------------------------------------------------------------------
-- Security definer: reads the named doctor's membership.
create function private.guard_lab_result_orderer()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if not private.acting_as_system()
        and new.ordered_by is not null
        and not private.holds_active_role(new.ordered_by, new.hospital_id, 'doctor') then
        raise exception using
            errcode = '42501', message = 'the ordering doctor is not a doctor of this hospital',
            hint = 'name an active doctor of the hospital, or leave ordered_by out';
    end if;
    return new;
end;
$$;

create trigger lab_results_guard_orderer
before insert or update of ordered_by on public.lab_results
for each row execute function private.guard_lab_result_orderer();
