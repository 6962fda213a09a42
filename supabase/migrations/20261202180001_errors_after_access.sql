-- A write pointing at another hospital's row is refused before anything about that row is
-- said (issue 10, finding 12).
--
-- Row triggers run before row-level security checks the new row. Three of them looked up
-- the row a write named and answered from it: "addenda are for signed notes" told a doctor
-- of another hospital whether that hospital's note was signed, and "the appointment is not
-- this patient's at this hospital" (notes, prescriptions) whether an appointment id was a
-- given patient's. Now:
--   * the addendum guard refuses first, with the answer row-level security gives, unless
--     the caller is on the note's care team;
--   * a prescription's appointment is the same patient's at the same hospital by a composite
--     foreign key (as notes' since 20261202100003), checked after row-level security, and
--     the two triggers no longer look.
--
-- The changed functions are defined once, in final form, in the migration that created them:
-- private.guard_prescription (20261122000700), private.guard_clinical_note (20261123000500),
-- private.guard_note_addendum (20261123000500).

alter table public.prescriptions drop constraint prescriptions_appointment_id_fkey;
alter table public.prescriptions add constraint prescriptions_appointment_same_patient_fkey
foreign key (appointment_id, patient_id, hospital_id)
references public.appointments (id, patient_id, hospital_id) on delete set null (appointment_id);
drop index public.prescriptions_appointment_idx;
create index prescriptions_appointment_idx on public.prescriptions (appointment_id, patient_id, hospital_id);
