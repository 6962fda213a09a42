-- PostgREST's in-database configuration: on Supabase, `postgres` may set `pgrst.*` settings
-- on the authenticator role (supautils allows it), e.g.
--   alter role authenticator set pgrst.db_pre_request = 'public.db_pre_request';
-- Plain PostgreSQL 15 reserves that to superusers unless SET is granted on the parameter.
-- Parameter privileges are cluster-wide and granting twice is harmless.
-- noqa: disable=PRS
grant set on parameter
pgrst.db_pre_request,
pgrst.db_schemas,
pgrst.db_extra_search_path,
pgrst.db_max_rows,
pgrst.db_aggregates_enabled,
pgrst.db_plan_enabled
to postgres;
-- noqa: enable=PRS
