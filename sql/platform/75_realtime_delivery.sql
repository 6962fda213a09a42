-- How devstack's Realtime (devstack/realtime) learns of new broadcasts (Postgres Changes come
-- from the WAL instead, devstack/realtime/changes.py). Supabase Realtime reads
-- inserts into realtime.messages from the WAL; devstack's gateway LISTENs instead. Only the
-- message's id goes out (and, for a client's broadcast, which socket sent it), so no payload
-- or topic ever travels on a channel any database session could LISTEN to; the gateway reads
-- the row itself. NOTIFY is delivered at commit, and never for a rolled-back insert, such as
-- Realtime's own authorization probes.

-- The Realtime role logs in (65_service_logins.sql).

create function realtime.devstack_announce()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform pg_catalog.pg_notify(
        'devstack_realtime',
        pg_catalog.json_build_object(
            'id', new.id,
            'origin', nullif(pg_catalog.current_setting('realtime.devstack_origin', true), '')
        )::text
    );
    return null;
end;
$$;

alter function realtime.devstack_announce() owner to supabase_realtime_admin;

create trigger devstack_announce
after insert on realtime.messages
for each row when (new.extension = 'broadcast')
execute function realtime.devstack_announce();

-- Supabase keeps realtime.messages in daily partitions and drops those older than three days.
-- pg_cron exists only in the database its worker serves (30_extensions.sql).
do $$
begin
    if pg_catalog.to_regnamespace('cron') is not null then
        perform cron.schedule(
            'devstack-realtime-messages-retention', '17 * * * *',
            $job$delete from realtime.messages where inserted_at < now() - interval '3 days'$job$
        );
    end if;
end;
$$;
