-- The audit trigger on every table holding personal or clinical data, existing and new.
-- Arguments (private.audit_row_change): the column naming the row's patient ('' when none),
-- then the columns whose values never enter the log (ciphertexts, blind indexes).

create trigger audit_row_change after insert or update or delete on public.profiles
for each row execute function private.audit_row_change('');
create trigger audit_row_change after insert or update or delete on public.patients
for each row execute function private.audit_row_change('id');
create trigger audit_row_change after insert or update or delete on public.patient_registrations
for each row execute function private.audit_row_change();
create trigger audit_row_change after insert or update or delete on public.care_team_members
for each row execute function private.audit_row_change();
create trigger audit_row_change after insert or update or delete on public.appointments
for each row execute function private.audit_row_change();
create trigger audit_row_change after insert or update or delete on public.prescriptions
for each row execute function private.audit_row_change('patient_id', 'notes');
create trigger audit_row_change after insert or update or delete on public.prescription_items
for each row execute function private.audit_row_change('', 'details');
create trigger audit_row_change after insert or update or delete on public.prescription_dispensings
for each row execute function private.audit_row_change('');
create trigger audit_row_change after insert or update or delete on public.patient_identifiers
for each row execute function private.audit_row_change('patient_id', 'value_encrypted', 'blind_index');
create trigger audit_row_change after insert or update or delete on public.consent_documents
for each row execute function private.audit_row_change('');
create trigger audit_row_change after insert or update or delete on public.consent_events
for each row execute function private.audit_row_change();
create trigger audit_row_change after insert or update or delete on public.record_shares
for each row execute function private.audit_row_change();
create trigger audit_row_change after insert or update or delete on public.medical_profiles
for each row execute function private.audit_row_change('patient_id', 'details_encrypted');
create trigger audit_row_change after insert or update or delete on public.encounters
for each row execute function private.audit_row_change();
create trigger audit_row_change after insert or update or delete on public.clinical_notes
for each row execute function private.audit_row_change('patient_id', 'soap_encrypted');
create trigger audit_row_change after insert or update or delete on public.clinical_note_addenda
for each row execute function private.audit_row_change('patient_id', 'body_encrypted');
create trigger audit_row_change after insert or update or delete on public.vital_signs
for each row execute function private.audit_row_change();
create trigger audit_row_change after insert or update or delete on public.diagnoses
for each row execute function private.audit_row_change();
create trigger audit_row_change after insert or update or delete on public.patient_documents
for each row execute function private.audit_row_change();
create trigger audit_row_change after insert or update or delete on public.lab_results
for each row execute function private.audit_row_change('patient_id', 'notes_encrypted');
