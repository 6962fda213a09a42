-- A national identifier held by another patient is refused without naming anything of them
-- (issue 10, finding 12).
--
-- The rule stays: one person, one number (patient_identifiers_blind_index_unique across all
-- hospitals). The same person registered at two hospitals is one patient row and shares the
-- number; two patient rows cannot. But the refusal was PostgreSQL's own: 'duplicate key
-- value violates unique constraint "patient_identifiers_blind_index_unique"', which told a
-- front desk that the Aadhaar number they typed is a carebase patient's, and by the
-- constraint's name that it is another patient's national number. It is now one answer
-- with a stable code, the same wherever the holder is registered (the caller's hospital or
-- another): 23505 (HTTP 409), 'this national identifier cannot be recorded for this
-- patient', detail national_id_unavailable. That a refusal happens at all still says that
-- someone holds the number; a uniqueness rule cannot avoid that much, and the answer says
-- nothing more (not who, not where).
--
-- A before trigger, so that the RPC and a direct write of the table answer alike. It takes
-- a transaction-level advisory lock per (kind, number) first: two writers of one new number
-- queue, and the second then sees the first's committed row and gets this answer rather
-- than the constraint's.

-- Security definer: the holder is usually a row the caller cannot see. It answers only a
-- caller who may write this patient's identifiers (else RLS refuses the row as it would any
-- other, whoever holds the number).
create function private.refuse_national_id_held_by_another()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if not private.acting_as_system() and not private.can_see_patient_identifiers(new.patient_id) then
        return new;
    end if;
    perform pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('national_id:' || new.kind || ':' || encode(new.blind_index, 'hex'), 0)
    );
    if exists (
        select from public.patient_identifiers as i
        where i.kind = new.kind and i.blind_index = new.blind_index and i.patient_id <> new.patient_id
    ) then
        raise exception using
            errcode = '23505',
            message = 'this national identifier cannot be recorded for this patient',
            detail = 'national_id_unavailable',
            hint = 'check the number against the patient''s document';
    end if;
    return new;
end;
$$;

create trigger patient_identifiers_one_person_per_number
before insert or update of kind, blind_index on public.patient_identifiers
for each row execute function private.refuse_national_id_held_by_another();
