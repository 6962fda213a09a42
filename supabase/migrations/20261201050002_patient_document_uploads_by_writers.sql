-- Uploading a patient document's file needs the right to write the record, not only to read
-- it. The object policy of 20261123000500 let anyone who could see a document row upload the
-- file at its path: the patient, or another hospital's care team reading through a share,
-- could put their own file behind a document the care team registered and had not uploaded
-- yet. Now the upload mirrors the documents' insert policies: the patient's care team at the
-- document's hospital, and that hospital's front desk for insurance and consent paperwork.

drop policy patient_documents_objects_insert on storage.objects;

create policy patient_documents_objects_insert on storage.objects
for insert to authenticated
with check (
    bucket_id = 'patient-documents'
    and (storage.foldername(name))[1] = 'patients'
    and exists (
        select from public.patient_documents as d
        where
            d.storage_path = objects.name
            and d.patient_id::text = (storage.foldername(objects.name))[2]
            and (
                private.on_care_team(d.patient_id, d.hospital_id)
                or (
                    d.document_type in ('insurance', 'consent')
                    and d.hospital_id = any((select private.staff_hospital_ids('{front_desk}'))::uuid[])
                )
            )
    )
);
