-- Prescriptions expire on time: public.expire_prescriptions() existed, but nothing ran it.
-- A pg_cron job runs it every 15 minutes, as the system (no JWT: the state machine lets the
-- system take the `expired` transitions, which no person may take), so each expiry is
-- recorded in status_history and tells the patient through the outbox.
-- Between two runs nobody is misled: verify_prescription checks valid_until itself and the
-- prescription guard refuses approving or readying a prescription past it.
-- pg_cron is off on a new hosted Supabase project: enable it where it is available and this
-- is its database (Supabase: `postgres`); elsewhere (the tests' scratch databases) say so
-- and move on. cron.schedule replaces a job of the same name.
do $$
begin
    if not exists (select from pg_catalog.pg_extension as e where e.extname = 'pg_cron')
        and exists (select from pg_catalog.pg_available_extensions as e where e.name = 'pg_cron')
        and current_database() = coalesce(nullif(current_setting('cron.database_name', true), ''), 'postgres') then
        begin
            create extension pg_cron with schema pg_catalog;
        exception
            when others then
                raise notice 'pg_cron could not be enabled (%): run public.expire_prescriptions() '
                'every 15 minutes by other means', sqlerrm;
        end;
    end if;
    if exists (select from pg_catalog.pg_extension as e where e.extname = 'pg_cron') then
        perform cron.schedule(
            'carebase-expire-prescriptions', '*/15 * * * *', 'select public.expire_prescriptions()'
        );
    else
        raise notice 'pg_cron is not enabled in this database: prescriptions are not expired on a schedule';
    end if;
end;
$$;
