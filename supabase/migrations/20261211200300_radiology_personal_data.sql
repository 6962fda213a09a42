-- The radiology, CDSS and code tables' personal columns in the personal-data registry
-- (20261209110000), so that `carebase db masked-copy` replaces them: the two branches landed
-- side by side. A DICOM header names the patient and carries their hospital number; study and
-- instance UIDs are unique to one patient's images; what a code system says is not personal.
insert into private.personal_data_columns (table_name, column_name, kind, note) values
('public.radiology_scans', 'indication_encrypted', 'free_text', null),
('public.radiology_scans', 'status_reason', 'free_text', null),
('public.dicom_uploads', 'reason', 'free_text', null),
('public.dicom_uploads', 'header_patient_id', 'identifier', null),
('public.dicom_studies', 'study_instance_uid', 'identifier', null),
('public.dicom_studies', 'accession_number', 'identifier', null),
('public.dicom_studies', 'study_description', 'free_text', null),
('public.dicom_series', 'series_instance_uid', 'identifier', null),
('public.dicom_series', 'series_description', 'free_text', null),
('public.dicom_series', 'body_part', 'none', 'a DICOM body part term (CHEST, HEART)'),
('public.dicom_instances', 'sop_instance_uid', 'identifier', null),
('public.dicom_instances', 'dicom_patient_id', 'identifier', null),
('public.dicom_instances', 'dicom_patient_name', 'person_name', null),
('public.dicom_instances', 'sop_class_uid', 'none', 'a DICOM class, the same for every image of a kind'),
('public.dicom_instances', 'transfer_syntax_uid', 'none', 'a DICOM encoding, the same for many images'),
('public.cdss_analyses', 'result_encrypted', 'json', null),
('public.cdss_analyses', 'review_reason_encrypted', 'free_text', null),
('public.cdss_analyses', 'status_reason', 'free_text', null),
('public.cdss_analyses', 'error', 'free_text', null),
('public.cdss_analyses', 'model_name', 'none', 'the analysing model''s name'),
('public.diagnosis_code_findings', 'reason', 'none', 'why a stored code is not in the code table; names no one'),
('public.diagnosis_codes', 'description', 'none', 'a code system''s own text (Essential (primary) hypertension)');
