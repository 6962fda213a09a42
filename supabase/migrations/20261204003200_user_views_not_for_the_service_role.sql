-- audit_trail (an admin's hospitals) and record_disclosures (a patient's own record) are views
-- of what the signed-in user may see, computed from who they are. The service role is nobody:
-- it held select on both (the schema's default grants), yet every read failed with
-- "permission denied for function" on the helpers that name the user. It reads audit.log
-- directly when it must; the API no longer offers it these two views.
revoke select on public.audit_trail, public.record_disclosures from service_role;
