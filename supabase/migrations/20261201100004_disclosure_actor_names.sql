-- A patient's accounting of disclosures names every reader of their record.
--
-- record_disclosures took the reader's name from public.profiles under the patient's own RLS,
-- which shows a patient only the staff of the hospitals they are registered at. A reader from
-- elsewhere (the outside pharmacist a prescription was sent to, a doctor of the hospital a
-- record was shared with) appeared with an empty name. The patient is entitled to know who
-- read their record (HIPAA accounting of disclosures, seed 002 access logging).
--
-- The name now comes from the helper below, keyed by the audit entry rather than by the user:
-- it answers only for an entry about the caller's own record, and only with the actor's display
-- name. profiles stays as it was: the patient gains no directory, email or phone of anyone,
-- and cannot learn the name of a user who never touched their record.

-- The display name of the actor of one audit entry, when the entry is about the caller's own
-- patient record; null otherwise. Security definer: the actor's profile is outside what the
-- patient may read in profiles; the entry check above keeps it to their own disclosures.
-- (seq, occurred_at) is the log's primary key: one row, its partition found by occurred_at.
create function private.disclosure_actor_name(entry_seq bigint, entry_occurred_at timestamptz)
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select p.full_name
        from audit.log as l
        join public.profiles as p on p.id = l.actor_id
        where l.seq = disclosure_actor_name.entry_seq
            and l.occurred_at = disclosure_actor_name.entry_occurred_at
            and l.patient_id = (select private.own_patient_id())
    );
end;
$$;

revoke execute on function private.disclosure_actor_name(bigint, timestamptz) from public, anon;
grant execute on function private.disclosure_actor_name(bigint, timestamptz) to authenticated, service_role;

-- Same view as in 20261123000100, the name from the helper.
create or replace view public.record_disclosures
with (security_invoker = true) as
select
    l.seq,
    l.occurred_at,
    l.actor_id,
    private.disclosure_actor_name(l.seq, l.occurred_at) as actor_name,
    l.actor_roles,
    l.hospital_id,
    l.action,
    l.table_name,
    l.row_id,
    l.request_method
from audit.log as l
where l.patient_id = (select private.own_patient_id());
