-- Who sees a record share at the target hospital: only those who need it.
--
-- Every staff member of the target hospital (front desk, CRO, pharmacists included) saw the
-- shares made to it, with the patient and the free-text reason (often clinical: "referral
-- for cardiac work-up"). Now the target side is the patient's care team there (the doctors
-- and nurses who read the shared record) and the target hospital's admin (who oversees what
-- the hospital receives). The source side is unchanged: the patient, the source hospital's
-- admin and the patient's care team there.

drop policy record_shares_select on public.record_shares;
create policy record_shares_select on public.record_shares
for select to authenticated
using (
    patient_id = (select private.own_patient_id())
    or hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[])
    or private.on_care_team(patient_id, hospital_id)
    or target_hospital_id = any((select private.staff_hospital_ids('{hospital_admin}'))::uuid[])
    or private.on_care_team(patient_id, target_hospital_id)
);
