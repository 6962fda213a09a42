-- A doctor's whole weekly schedule in one call (seed 003 PUT /doctors/:id/schedule).
-- Until now weekly hours changed row by row on doctor_working_hours: replacing a week took
-- several requests, and a failure half-way left a half-changed schedule that find_slots and
-- patients saw at once. public.set_doctor_schedule replaces every weekly range of one doctor
-- in one transaction: all of the new list is stored, or nothing changes.
--
-- Ranges are checked by the table's own constraints (weekday, start before end, modes, slot
-- length, no overlap on a weekday); a broken one is reported as 22023 naming the item.
-- Dated exceptions (time off, extra hours) stay single rows of
-- doctor_availability_exceptions: each is one dated fact, added or removed atomically on
-- its own, and a weekly replacement must not wipe them.

-- RPC: POST /rest/v1/rpc/set_doctor_schedule
-- {"doctor_id", "hours": [{"weekday", "starts_at", "ends_at", "consultation_modes"?,
-- "slot_minutes"?, "valid_from"?, "valid_until"?}, ...], "time_zone"?}
-- -> the doctor's new weekly ranges (rows of doctor_working_hours), by weekday and time.
-- Times are wall-clock times in the hospital's time zone; `time_zone`, when given, must be
-- that zone, so that a client thinking in another zone is told instead of silently
-- misread. [] clears the weekly schedule. Security invoker: the table's RLS applies (a
-- doctor their own; the hospital's admin and front desk any of its doctors').
-- Errors: 22023 bad input (message names the item and the rule), PT404 doctor not found (or
-- not visible), 42501 not allowed.
create function public.set_doctor_schedule(doctor_id uuid, hours jsonb, time_zone text default null)
returns setof public.doctor_working_hours
language plpgsql
volatile
set search_path = ''
as $$
declare
    schedule_fields constant text[] := array[
        'weekday', 'starts_at', 'ends_at', 'consultation_modes', 'slot_minutes', 'valid_from', 'valid_until'
    ];
    doctor_hospital uuid;
    hospital_zone text;
    item jsonb;
    item_no integer := 0;
    unknown_fields text;
    -- The table's column defaults, for fields an item leaves out.
    table_defaults public.doctor_working_hours;
    range_row public.doctor_working_hours;
    failed_constraint text;
    failed_column text;
    overlapped text;
    failure text;
begin
    if jsonb_typeof(set_doctor_schedule.hours) is distinct from 'array' then
        perform private.raise_invalid(
            'hours must be a JSON array of weekly ranges', hint => 'send [] to clear the weekly schedule'
        );
    end if;

    select d.hospital_id, h.time_zone into doctor_hospital, hospital_zone
    from public.doctors as d
    join public.hospitals as h on h.id = d.hospital_id
    where d.id = set_doctor_schedule.doctor_id;
    if doctor_hospital is null then
        perform private.raise_not_found('no such doctor', hint => 'list doctors with GET /rest/v1/doctors');
    end if;

    -- Checked up front: under RLS alone a refused caller's delete matches no row and [] looks done.
    if not (
        private.acting_as_system()
        or doctor_hospital = any(private.staff_hospital_ids('{hospital_admin,front_desk}'))
        or set_doctor_schedule.doctor_id = any(private.own_doctor_ids())
    ) then
        raise exception using
            errcode = '42501', message = 'you may not change this doctor''s working hours',
            hint = 'the doctor, or an admin or the front desk of their hospital, sets them';
    end if;

    if set_doctor_schedule.time_zone is not null and set_doctor_schedule.time_zone <> hospital_zone then
        raise exception using
            errcode = '22023',
            message = format(
                'working hours are wall-clock times of the hospital''s time zone %s, not %s',
                hospital_zone, set_doctor_schedule.time_zone
            ),
            hint = 'give the times in the hospital''s local time, or leave time_zone out';
    end if;

    -- Shape first: a misspelt field would otherwise fall back to a default unnoticed.
    for item in select e.value from jsonb_array_elements(set_doctor_schedule.hours) as e loop
        item_no := item_no + 1;
        if jsonb_typeof(item) is distinct from 'object' then
            perform private.raise_invalid(format('hours item %s must be an object', item_no));
        end if;
        select string_agg(k.key, ', ' order by k.key) into unknown_fields
        from jsonb_object_keys(item) as k (key)
        where k.key <> all(schedule_fields);
        if unknown_fields is not null then
            raise exception using
                errcode = '22023', message = format('hours item %s has unknown fields: %s', item_no, unknown_fields),
                hint = format('the fields are %s', array_to_string(schedule_fields, ', '));
        end if;
    end loop;

    -- Two replacements of one doctor's week run one after the other, so that neither
    -- stores its list beside the other's.
    perform pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('doctor_working_hours:' || set_doctor_schedule.doctor_id, 0)
    );

    delete from public.doctor_working_hours as w
    where w.doctor_id = set_doctor_schedule.doctor_id;

    table_defaults.consultation_modes := '{video,audio,in_person}';
    table_defaults.slot_minutes := 15;
    item_no := 0;
    begin
        for item in select e.value from jsonb_array_elements(set_doctor_schedule.hours) as e loop
            item_no := item_no + 1;
            range_row := jsonb_populate_record(table_defaults, item);
            insert into public.doctor_working_hours (
                doctor_id, hospital_id, weekday, starts_at, ends_at, consultation_modes, slot_minutes,
                valid_from, valid_until
            )
            values (
                set_doctor_schedule.doctor_id, doctor_hospital, range_row.weekday, range_row.starts_at,
                range_row.ends_at, range_row.consultation_modes, range_row.slot_minutes, range_row.valid_from,
                range_row.valid_until
            );
        end loop;
    exception when integrity_constraint_violation or data_exception then
        get stacked diagnostics
            failed_constraint = constraint_name, failed_column = column_name, failure = message_text;
        if failed_constraint = 'doctor_working_hours_no_overlap' then
            -- The earlier item it overlaps (earlier items were all stored by then).
            select 'item ' || min(e.n) into overlapped
            from jsonb_array_elements(set_doctor_schedule.hours) with ordinality as e (value, n)
            cross join lateral jsonb_populate_record(table_defaults, e.value) as r
            where e.n < item_no
                and r.weekday = range_row.weekday
                and daterange(r.valid_from, r.valid_until, '[]')
                && daterange(range_row.valid_from, range_row.valid_until, '[]')
                and tsrange(date '2000-01-01' + r.starts_at, date '2000-01-01' + r.ends_at)
                && tsrange(date '2000-01-01' + range_row.starts_at, date '2000-01-01' + range_row.ends_at);
        end if;
        -- Raising here aborts the call: the deleted schedule comes back with it.
        raise exception using
            errcode = '22023',
            message = format('hours item %s: %s', item_no, case
                when failed_constraint = 'doctor_working_hours_weekday_iso'
                    then 'weekday must be 1 (Monday) to 7 (Sunday)'
                when failed_constraint = 'doctor_working_hours_range_order'
                    then 'ends_at must be after starts_at (24:00 for midnight)'
                when failed_constraint = 'doctor_working_hours_modes_present'
                    then 'consultation_modes must name at least one mode'
                when failed_constraint = 'doctor_working_hours_slot_length'
                    then 'slot_minutes must be between 5 and 480'
                when failed_constraint = 'doctor_working_hours_validity_order'
                    then 'valid_until must not be before valid_from'
                when failed_constraint = 'doctor_working_hours_no_overlap'
                    then format('overlaps %s on the same weekday', coalesce(overlapped, 'another range'))
                when failed_column <> '' then format('%s is required', failed_column)
                else failure
            end),
            detail = failure,
            hint = 'nothing was changed; correct the item and send the whole list again';
    end;

    return query
    select w.*
    from public.doctor_working_hours as w
    where w.doctor_id = set_doctor_schedule.doctor_id
    order by w.weekday, w.valid_from nulls first, w.starts_at;
end;
$$;

grant execute on function public.set_doctor_schedule(uuid, jsonb, text) to authenticated, service_role;
