-- A write pointing at another hospital's row is refused before anything about that row is
-- said (issue 10, finding 12).
--
-- Row triggers run before row-level security checks the new row. Three of them looked up
-- the row a write named and answered from it: "addenda are for signed notes" told a doctor
-- of another hospital whether that hospital's note was signed, and "the appointment is not
-- this patient's at this hospital" (notes, prescriptions) whether an appointment id was a
-- given patient's. Now:
--   * the addendum guard refuses first, with the answer row-level security gives, unless
--     the caller is on the note's care team;
--   * a prescription's appointment is the same patient's at the same hospital by a composite
--     foreign key (as notes' since 20261202100003), checked after row-level security, and
--     the two triggers no longer look.

-- Security definer: reads the note whatever the caller's RLS, and says nothing of it to a
-- caller who may not add to it.
create or replace function private.guard_note_addendum()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    note public.clinical_notes;
begin
    select n.* into note from public.clinical_notes as n where n.id = new.note_id;
    if not private.acting_as_system()
        and (note.id is null or not private.on_care_team(note.patient_id, note.hospital_id)) then
        raise exception using
            errcode = '42501',
            message = 'new row violates row-level security policy for table "clinical_note_addenda"';
    end if;
    if note.status is distinct from 'signed' then
        raise exception using
            errcode = 'PT409', message = 'addenda are for signed notes', hint = 'edit the draft instead';
    end if;
    new.patient_id := note.patient_id;
    new.hospital_id := note.hospital_id;
    return new;
end;
$$;

alter table public.prescriptions drop constraint prescriptions_appointment_id_fkey;
alter table public.prescriptions add constraint prescriptions_appointment_same_patient_fkey
foreign key (appointment_id, patient_id, hospital_id)
references public.appointments (id, patient_id, hospital_id) on delete set null (appointment_id);
drop index public.prescriptions_appointment_idx;
create index prescriptions_appointment_idx on public.prescriptions (appointment_id, patient_id, hospital_id);

create or replace function private.guard_prescription()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op = 'UPDATE' and new.status is distinct from old.status
        and new.status in ('approved', 'ready_for_pickup', 'completed')
        and old.valid_until <= now() then
        raise exception using
            errcode = 'PT409',
            message = format('prescription expired on %s', old.valid_until),
            hint = 'ask the doctor for a new prescription';
    end if;
    return new;
end;
$$;

-- The note guard: the ciphertexts of a signed note are compared before decrypting them (so a
-- note whose content cannot be decrypted can still be archived), and there is no appointment
-- lookup any more (the composite key of 20261202100003 checks it after row-level security).
create or replace function private.guard_clinical_note()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op = 'INSERT' then
        if new.status <> 'draft' then
            raise exception using
                errcode = '22023', message = 'a note is written as a draft, then signed';
        end if;
        return new;
    end if;
    if old.status = 'signed' then
        if (to_jsonb(new) - 'deleted_at' - 'updated_at' - 'soap_encrypted')
            = (to_jsonb(old) - 'deleted_at' - 'updated_at' - 'soap_encrypted') then
            if new.soap_encrypted = old.soap_encrypted then
                return new;
            end if;
            if private.decrypt_field(new.soap_encrypted) = private.decrypt_field(old.soap_encrypted) then
                return new;
            end if;
        end if;
        raise exception using
            errcode = 'PT409', message = 'a signed note cannot be changed',
            hint = 'add an addendum (rpc/add_note_addendum)';
    end if;
    if not private.acting_as_system() and old.author_id <> (select auth.uid())
        and new.deleted_at is not distinct from old.deleted_at then
        raise exception using
            errcode = '42501', message = 'only the author edits or signs a draft note';
    end if;
    if new.status = 'signed' then
        new.signed_at := clock_timestamp();
    end if;
    return new;
end;
$$;

revoke execute on function private.guard_note_addendum() from public;
revoke execute on function private.guard_prescription() from public;
revoke execute on function private.guard_clinical_note() from public;
