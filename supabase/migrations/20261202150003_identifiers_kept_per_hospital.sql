-- Each hospital keeps the national numbers it recorded (issue 10, finding 1).
--
-- Identifiers are seen and revealed only at the hospital that recorded them (or wherever the
-- patient is registered, when the patient recorded them: 20261202100002). A second
-- hospital that registers the same person, with their consent, records the number again as
-- its own row rather than reading the first hospital's: one row per patient, kind and
-- recorder. One person, one number still holds across patients, now as an exclusion
-- constraint (the same number under two patient rows is refused; under one patient at two
-- hospitals it is the same person).

alter table public.patient_identifiers drop constraint patient_identifiers_one_per_kind;
alter table public.patient_identifiers
add constraint patient_identifiers_one_per_kind_and_recorder
unique nulls not distinct (patient_id, kind, recorded_at_hospital_id);

alter table public.patient_identifiers drop constraint patient_identifiers_blind_index_unique;
alter table public.patient_identifiers
add constraint patient_identifiers_number_held_once
exclude using gist (kind with =, blind_index with =, patient_id with <>);

comment on constraint patient_identifiers_number_held_once on public.patient_identifiers is
'One person, one national number: the same number under two patient rows is refused.';
