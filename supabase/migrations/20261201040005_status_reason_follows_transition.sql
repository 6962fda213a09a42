-- A status reason belongs to the transition that gave it. The state machine trigger fires
-- only when `status` is written, so an update of `status_reason` alone went unchecked: a
-- doctor could reword the pharmacy's reason for a denial, or a patient the clinic's reason
-- for a cancellation, and the row then disagreed with status_history. Now the reason
-- changes only with a change of status, or (appointments) with a move to a new time, which
-- is how reschedule_appointment records why; the system (service role, jobs) may still
-- correct it. Raises PT409 (HTTP 409).
create function private.keep_status_reason()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    before_row jsonb := to_jsonb(old);
    after_row jsonb := to_jsonb(new);
begin
    if new.status_reason is not distinct from old.status_reason
        or (after_row ->> 'status') is distinct from (before_row ->> 'status')
        or private.acting_as_system() then
        return new;
    end if;
    if tg_table_name = 'appointments'
        and (after_row ->> 'starts_at', after_row ->> 'ends_at')
        is distinct from (before_row ->> 'starts_at', before_row ->> 'ends_at') then
        return new;
    end if;
    perform private.raise_conflict(
        format('the reason of a %s cannot be changed without a change of status', rtrim(tg_table_name, 's')),
        detail => format('%s %s', tg_table_name, new.id),
        hint => 'set status_reason together with the new status'
    );
end;
$$;

create trigger appointments_keep_status_reason
before update of status_reason on public.appointments
for each row execute function private.keep_status_reason();

create trigger prescriptions_keep_status_reason
before update of status_reason on public.prescriptions
for each row execute function private.keep_status_reason();
