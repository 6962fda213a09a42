-- A calendar flag asks a person to act (call the patient, rebook, tell the doctor); once they
-- have, they close it with what they did. Until now a flag closed only when its inbox entry
-- was re-applied successfully, so a clash settled by hand stayed open for ever.

alter table public.calendar_sync_flags
add column resolution text,
add constraint calendar_sync_flags_resolution_length check (char_length(resolution) <= 500);

comment on column public.calendar_sync_flags.resolution is
'What the person who closed the flag did (rpc/resolve_calendar_flag); null when a re-apply '
'closed it.';

-- Security definer: API roles may not update flags; this closes one, for its hospital's staff.
create function private.resolve_calendar_flag(flag_id uuid, resolution text)
returns public.calendar_sync_flags
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    flag public.calendar_sync_flags;
    said constant text := nullif(btrim(resolve_calendar_flag.resolution), '');
begin
    select f.* into flag from public.calendar_sync_flags as f where f.id = flag_id for update;
    if flag.id is null or not flag.hospital_id = any(private.staff_hospital_ids('{front_desk,hospital_admin}')) then
        perform private.raise_not_found('calendar flag not found', 'calendar_flag_not_found');
    end if;
    if said is null or char_length(said) > 500 then
        perform private.raise_invalid(
            'say what was done, in at most 500 characters', 'resolution_required',
            'e.g. "called the patient, moved to Friday 10:00"'
        );
    end if;
    if flag.resolved_at is not null then
        perform private.raise_conflict('this flag is resolved already', 'already_resolved');
    end if;
    update public.calendar_sync_flags as f
    set resolved_at = now(), resolved_by = auth.uid(), resolution = said
    where f.id = flag.id
    returning f.* into flag;
    return flag;
end;
$$;

grant execute on function private.resolve_calendar_flag(uuid, text) to authenticated;

-- RPC: POST /rest/v1/rpc/resolve_calendar_flag {"flag_id": ..., "resolution": "..."}.
create function public.resolve_calendar_flag(flag_id uuid, resolution text)
returns public.calendar_sync_flags
language sql
volatile
set search_path = ''
as $$
    select private.resolve_calendar_flag(resolve_calendar_flag.flag_id, resolve_calendar_flag.resolution);
$$;

grant execute on function public.resolve_calendar_flag(uuid, text) to authenticated;

comment on function public.resolve_calendar_flag(uuid, text) is
'Closes a calendar flag of the caller''s hospital (front desk, hospital admin) with what was '
'done about it; answers the flag. The change is in the audit trail. Errors: 404 '
'calendar_flag_not_found (no such flag within reach), 400 resolution_required (empty or over '
'500 characters), 409 already_resolved.';
