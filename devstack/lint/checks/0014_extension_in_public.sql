-- An extension installed in public puts its functions and types in the API schema.
select
    'WARN' as level,
    e.extname as object,
    'is installed in the public schema' as detail,
    'alter extension ... set schema extensions (or create it there)' as remedy
from pg_catalog.pg_extension as e
where
    e.extnamespace = 'public'::regnamespace
    and e.extname <> 'plpgsql'
