-- A foreign key whose columns lead no valid index: deletes and updates of the referenced row
-- scan the referencing table, and joins along the key cannot use an index.
select
    'INFO' as level,
    format('%s.%s', n.nspname, c.relname) as object,
    format('foreign key %s has no index that starts with its columns', k.conname) as detail,
    'create an index on the foreign key columns (in any order, leading the index)' as remedy
from pg_catalog.pg_constraint as k
inner join pg_catalog.pg_class as c on k.conrelid = c.oid
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
where
    k.contype = 'f'
    and n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
    and not exists (
        select from pg_catalog.pg_depend as d
        where d.objid = c.oid and d.deptype = 'e'
    )
    and not exists (
        select from pg_catalog.pg_index as i
        where
            i.indrelid = k.conrelid
            and i.indisvalid
            and (i.indkey::int2[])[0:cardinality(k.conkey) - 1] @> k.conkey
            and cardinality(k.conkey) <= i.indnkeyatts
    )
