-- Care-team access follows the (patient, hospital) pair, a live hospital and a live membership
-- (issue 10, findings 2 and 3).
--
-- private.on_care_team did not look at the hospital: a deactivated hospital's care team kept
-- reading and writing the clinical record, although its staff lose everything else at once.
-- holds_active_role, which decides who may join a care team, had the same gap.
--
-- A doctor with profiles at two hospitals could book, at hospital B, a patient whose care
-- team they were on at hospital A (the doctor insert policy asked for the patient only), and
-- the booking trigger then put them on B's care team, opening B's record. Now a doctor books
-- only patients whose care team they are on at that hospital, and booking adds the doctor to
-- the care team only when the booker may decide who treats the patient there: the patient,
-- the hospital's front office (front desk, CRO, admin), or the system (voice agent, Cal.com).
--
-- The changed functions are defined once, in final form, in the migration that created them:
-- private.on_care_team (20261121000600), private.holds_active_role (20261121000600),
-- private.add_booked_doctor_to_care_team (20261122000400).

drop policy appointments_insert_doctor on public.appointments;
create policy appointments_insert_doctor on public.appointments
for insert to authenticated
with check (
    doctor_id = any((select private.own_doctor_ids())::uuid[])
    and private.on_care_team(patient_id, hospital_id)
);
