"""Who signs in and who is staff: the account steps the database cannot take alone.

`patient_login` bridges a Firebase phone sign-in to the patient's Supabase login,
`staff_login` is the staff's password grant, `staff_provisioning` creates, bans and unbans
staff logins around the database's RPCs, `staff_records` and `sessions` are the shapes those
answer with. A package named for its domain, as every later feature of the sidecar will be
(the design's `copilot/`), rather than a `services/` grab bag: routes/ call it, it calls
integrations/, and it imports no route.
"""
