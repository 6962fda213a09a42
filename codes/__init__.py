"""Reference code systems in the database: ICD-10-CM from the simple-icd-10-cm package (the
CDC's public-domain release), or another system a hospital licenses from a file, loaded into
public.code_systems, public.diagnosis_code_groups and public.diagnosis_codes
(`carebase codes load`; `carebase up` and `carebase db reset` load ICD-10-CM)."""
