"""Who signs in and who is staff: the account steps the database cannot take alone.

`patient_login` bridges a Firebase phone sign-in to the patient's Supabase login,
`staff_provisioning` creates, bans and unbans staff logins around the database's RPCs,
`staff_records` and `sessions` are the shapes those answer with. It is a package named for its
domain, like every later feature of the sidecar (not a `services/` grab bag): routes/ call it
over HTTP, it calls integrations/, and it imports no route.
"""
