-- A critical lab result always reaches someone who can act on it.
--
-- It told the ordering doctor, else one doctor of the patient's care team; with neither, no
-- message was queued and nobody heard of it. It also told a doctor whose membership had been
-- revoked (the care-team row outlives the membership). Now, first match wins:
--   1. the ordering doctor, while they hold an active doctor membership at the hospital;
--   2. else one doctor of the patient's care team there (the primary first), same condition;
--   3. else every nurse of the care team there with an active nurse membership: seed 004
--      gives doctors and nurses (only) the lab results, so a nurse can open the result and act;
--   4. else every active admin of the hospital, who can read the result row and find a doctor.
-- The message is the same as before: kind lab_result_critical, ids only, no test or value.
-- Same trigger as in 20261123000500 otherwise. Security definer: writes the private outbox
-- and reads memberships and care teams whatever the writer of the result may read.
create or replace function private.notify_critical_lab_result()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    recipients uuid[];
    recipient uuid;
begin
    if new.status <> 'critical' or (tg_op = 'UPDATE' and old.status = 'critical') then
        return null;
    end if;

    if new.ordered_by is not null and private.holds_active_role(new.ordered_by, new.hospital_id, 'doctor') then
        recipients := array[new.ordered_by];
    end if;
    if recipients is null then
        select array[c.member_id] into recipients
        from public.care_team_members as c
        where c.patient_id = new.patient_id and c.hospital_id = new.hospital_id
            and c.member_role = 'doctor' and c.ended_at is null
            and private.holds_active_role(c.member_id, c.hospital_id, 'doctor')
        order by c.is_primary desc, c.assigned_at
        limit 1;
    end if;
    if recipients is null then
        select array_agg(distinct c.member_id) into recipients
        from public.care_team_members as c
        where c.patient_id = new.patient_id and c.hospital_id = new.hospital_id
            and c.member_role = 'nurse' and c.ended_at is null
            and private.holds_active_role(c.member_id, c.hospital_id, 'nurse');
    end if;
    if recipients is null then
        select array_agg(distinct m.user_id) into recipients
        from public.staff_memberships as m
        where m.hospital_id = new.hospital_id and m.role = 'hospital_admin' and m.is_active;
    end if;

    foreach recipient in array coalesce(recipients, '{}') loop
        perform private.enqueue(
            'lab_result_critical', 'lab_result', new.id, new.hospital_id, 'user', recipient, 'push',
            jsonb_build_object('lab_result_id', new.id, 'patient_id', new.patient_id)
        );
    end loop;
    return null;
end;
$$;

revoke execute on function private.notify_critical_lab_result() from public;
