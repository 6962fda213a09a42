-- Concurrent bookings of one slot: a clean 23P01 conflict, never a deadlock.
--
-- An exclusion constraint is checked after the row is in the index. Two transactions that
-- insert overlapping appointments at the same instant can each find the other's
-- uncommitted row and wait for it: PostgreSQL then aborts one with 40P01 (deadlock)
-- instead of reporting the clash. Taking a transaction-level advisory lock per booked key
-- (doctor, patient, room) before the row is written makes such writers queue; the second
-- one then sees the committed first booking and fails with 23P01 naming it. Keys are
-- locked in sorted order so that two bookings sharing several keys cannot wait on each
-- other in a cycle. Only active rows whose booked keys or times change take the locks.

create function private.lock_booking_keys()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    booking_key bigint;
begin
    if new.status in ('cancelled', 'no_show') then
        return new;
    end if;
    for booking_key in
        select distinct pg_catalog.hashtextextended(k, 0)
        from unnest(array[
            'appointment:doctor:' || new.doctor_user_id,
            'appointment:patient:' || new.patient_id,
            'appointment:resource:' || new.hospital_id || ':' || new.resource
        ]) as k
        where k is not null
        order by 1
    loop
        perform pg_catalog.pg_advisory_xact_lock(booking_key);
    end loop;
    return new;
end;
$$;

-- Named to sort after appointments_fill_doctor_user: doctor_user_id is set by then.
create trigger appointments_lock_booking_keys
before insert or update of doctor_id, patient_id, hospital_id, resource, starts_at, ends_at, status
on public.appointments
for each row execute function private.lock_booking_keys();
