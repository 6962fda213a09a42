-- A column of a reg* type that stores object ids pg_upgrade cannot carry over: the database
-- could not be upgraded in place.
select
    'WARN' as level,
    format('%s.%s.%s', n.nspname, c.relname, a.attname) as object,
    format('has the type %s, which pg_upgrade does not support', a.atttypid::regtype) as detail,
    'store the name as text (or regclass/regtype, which upgrades keep)' as remedy
from pg_catalog.pg_attribute as a
inner join pg_catalog.pg_class as c on a.attrelid = c.oid
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
where
    a.attnum > 0
    and not a.attisdropped
    and a.atttypid in (
        'pg_catalog.regcollation'::regtype, 'pg_catalog.regconfig'::regtype, 'pg_catalog.regdictionary'::regtype,
        'pg_catalog.regnamespace'::regtype, 'pg_catalog.regoper'::regtype, 'pg_catalog.regoperator'::regtype,
        'pg_catalog.regproc'::regtype, 'pg_catalog.regprocedure'::regtype
    )
    and n.nspname not in ('pg_catalog', 'information_schema', 'pgsodium')
