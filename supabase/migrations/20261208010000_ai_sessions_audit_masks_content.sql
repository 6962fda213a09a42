-- The audit trigger of ai_sessions copied content_encrypted (a call's transcript, a copilot
-- session's summary) into audit.log as ciphertext: the trail is kept for years and is never
-- re-encrypted by a key rotation. Like every other encrypted column, it is logged as
-- '[encrypted]'; audit_coverage now checks this for every registered encrypted column.
drop trigger audit_row_change on public.ai_sessions;

create trigger audit_row_change
after insert or update or delete on public.ai_sessions
for each row execute function private.audit_row_change('patient_id', 'content_encrypted');
