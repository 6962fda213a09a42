-- One way for migrations to schedule a job, instead of a copy of the same DO block each
-- (20261201040001, 20261201050004 wrote it out; jobs from here on call this). pg_cron is off
-- on a new hosted Supabase project: it is enabled where it is available and this is its
-- database (Supabase: `postgres`); elsewhere (the tests' scratch databases) the job is named in
-- a notice and the migration moves on. cron.schedule replaces a job of the same name.
create function private.schedule_job(job_name text, schedule text, command text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    if not exists (select from pg_catalog.pg_extension as e where e.extname = 'pg_cron')
        and exists (select from pg_catalog.pg_available_extensions as e where e.name = 'pg_cron')
        and pg_catalog.current_database()
        = coalesce(nullif(pg_catalog.current_setting('cron.database_name', true), ''), 'postgres') then
        begin
            create extension pg_cron with schema pg_catalog;
        exception
            when others then
                raise notice 'pg_cron could not be enabled (%)', sqlerrm;
        end;
    end if;
    if exists (select from pg_catalog.pg_extension as e where e.extname = 'pg_cron') then
        perform cron.schedule(job_name, schedule, command);
    else
        raise notice 'pg_cron is not enabled in this database: job % (%, at %) is not scheduled; run it by other means',
            job_name, command, schedule;
    end if;
end;
$$;

comment on function private.schedule_job(text, text, text) is
'Schedules (or reschedules) a pg_cron job from a migration, enabling pg_cron where this is its '
'database; elsewhere says in a notice that the job is not scheduled.';
