-- One primary diagnosis among those recorded without an encounter.
--
-- A diagnosis has an encounter when it was made at a visit (seed 003 records diagnoses with
-- their medical record, `isPrimary` per record); one primary per encounter is enforced since
-- 20261123000500. Without an encounter a diagnosis is an entry of the patient's problem list
-- at a hospital, and there "primary" is the patient's main current condition: at most one per
-- patient per hospital. Archived rows (deleted_at) and resolved ones (resolved_at) no longer
-- count, so that a resolved main problem does not block recording the next one; each hospital
-- keeps its own list, as its records are its own.
--
-- Existing data: the demo seed records no diagnoses; a database holding two current primaries
-- of one patient at one hospital without an encounter fails this migration, naming the pair,
-- for a clinician to choose which stays primary (not something to decide silently).

create unique index diagnoses_one_current_primary_without_encounter
on public.diagnoses (patient_id, hospital_id)
where is_primary and encounter_id is null and deleted_at is null and resolved_at is null;
