-- One pending reminder per appointment, by construction. The appointment trigger
-- (private.notify_appointment_change, 20261122000400) withdraws the waiting reminder before
-- it queues a new one, but nothing stopped another writer (a script, a worker putting a
-- reminder back to `pending`, an admin retrying a dead one) from leaving two waiting: the
-- patient would be reminded twice. A unique partial index now refuses a second pending `appointment_reminder`
-- for the same appointment whatever path writes it.

-- On a live database: wait at most a few seconds for the lock instead of queueing every
-- outbox writer behind it (the migration then fails and is simply run again). The lock
-- (share row exclusive: reads and claims' row locks go on, writes wait) keeps a duplicate
-- from being written between the clean-up and the index build; only pending reminders are
-- indexed, so the build is short. (CREATE INDEX CONCURRENTLY cannot run inside the
-- migration's transaction.)
set local lock_timeout = '5s';
lock table private.outbox in share row exclusive mode;

-- Duplicates left by earlier paths: keep the newest pending reminder of each appointment (the
-- one queued for its current time) and withdraw the others, as the trigger does.
update private.outbox as o
set
    state = 'cancelled',
    last_error = 'superseded: a newer reminder of this appointment is waiting'
where
    o.kind = 'appointment_reminder'
    and o.state = 'pending'
    and exists (
        select from private.outbox as newer
        where
            newer.subject_id = o.subject_id
            and newer.kind = 'appointment_reminder'
            and newer.state = 'pending'
            and (newer.created_at, newer.id) > (o.created_at, o.id)
    );

create unique index outbox_one_pending_reminder_idx
on private.outbox (subject_id) where kind = 'appointment_reminder' and state = 'pending';

-- A reminder coming back to `pending` while a newer one of its appointment waits (the
-- appointment moved while a worker held it, or it died and an admin retries it) would break
-- the rule. A worker's retry (processing -> pending) is withdrawn instead: the newer reminder
-- carries the current time. An admin's retry (dead -> pending) is refused with a clear
-- message: there is nothing to send again.
create function private.reminder_retry_superseded()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if not exists (
        select from private.outbox as o
        where o.subject_id = new.subject_id
            and o.kind = 'appointment_reminder'
            and o.state = 'pending'
            and o.id <> new.id
    ) then
        return new;
    end if;
    if old.state = 'dead' then
        raise exception using
            errcode = 'PT409', message = 'a newer reminder of this appointment is already waiting',
            hint = 'nothing to retry: the patient will be reminded of the appointment''s current time';
    end if;
    new.state := 'cancelled';
    new.last_error := 'superseded: a newer reminder of this appointment is waiting';
    return new;
end;
$$;

create trigger outbox_reminder_retry_superseded
before update of state on private.outbox
for each row
when (new.kind = 'appointment_reminder' and new.state = 'pending' and old.state <> 'pending')
execute function private.reminder_retry_superseded();
