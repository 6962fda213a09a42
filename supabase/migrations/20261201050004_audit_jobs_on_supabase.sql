-- The daily audit anchor and the monthly partitions ahead are pg_cron jobs. Migration
-- 20261123000100 scheduled them only where the `cron` schema already existed: on a hosted
-- Supabase project, where pg_cron is off until someone enables it, neither would ever run
-- (no anchor: tail truncation undetectable; no new partitions: every entry in the default
-- partition). Enable pg_cron where it is available and this is its database (Supabase:
-- `postgres`), then (re)schedule both jobs; cron.schedule replaces a job of the same name.
-- Elsewhere (scratch databases of the tests) it says so and moves on.

do $$
begin
    if not exists (select from pg_catalog.pg_extension as e where e.extname = 'pg_cron')
        and exists (select from pg_catalog.pg_available_extensions as e where e.name = 'pg_cron')
        and current_database() = coalesce(nullif(current_setting('cron.database_name', true), ''), 'postgres') then
        begin
            create extension pg_cron with schema pg_catalog;
        exception
            when others then
                raise notice 'pg_cron could not be enabled (%): schedule private.anchor_audit_chain() daily '
                'and private.audit_ensure_partitions(3) daily by other means', sqlerrm;
        end;
    end if;
    if exists (select from pg_catalog.pg_extension as e where e.extname = 'pg_cron') then
        perform cron.schedule('carebase-audit-anchor', '5 0 * * *', 'select private.anchor_audit_chain()');
        perform cron.schedule('carebase-audit-partitions', '15 0 * * *', 'select private.audit_ensure_partitions(3)');
    else
        raise notice 'pg_cron is not enabled in this database: the audit anchor and partitions are not scheduled';
    end if;
end;
$$;
