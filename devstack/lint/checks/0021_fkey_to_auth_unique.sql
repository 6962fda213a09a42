-- A foreign key to a unique constraint of the auth schema other than its primary key: Supabase
-- Auth may change such constraints, and the key would then block its upgrades.
select
    'ERROR' as level,
    format('%s.%s', n.nspname, c.relname) as object,
    format('foreign key %s references a unique constraint of %s', k.conname, k.confrelid::regclass) as detail,
    'reference the primary key (auth.users.id) instead' as remedy
from pg_catalog.pg_constraint as k
inner join pg_catalog.pg_class as c on k.conrelid = c.oid
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
inner join pg_catalog.pg_class as target on k.confrelid = target.oid
inner join pg_catalog.pg_index as i on k.conindid = i.indexrelid
where
    k.contype = 'f'
    and target.relnamespace::regnamespace::text = 'auth'
    and i.indisunique
    and not i.indisprimary
