-- Two or more indexes that are the same index under different names: every write pays for each.
select
    'WARN' as level,
    format('%s.%s', n.nspname, c.relname) as object,
    format('has identical indexes: %s', string_agg(x.relname, ', ' order by x.relname)) as detail,
    'drop all but one of them' as remedy
from pg_catalog.pg_index as i
inner join pg_catalog.pg_class as x on i.indexrelid = x.oid
inner join pg_catalog.pg_class as c on i.indrelid = c.oid
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
where
    c.relkind in ('r', 'm', 'p')
    and n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
    and not exists (
        select from pg_catalog.pg_depend as d
        where d.objid = c.oid and d.deptype = 'e'
    )
group by
    n.nspname,
    c.relname,
    i.indrelid,
    x.relam,
    i.indisunique,
    i.indnkeyatts,
    i.indkey::text,
    i.indclass::text,
    i.indcollation::text,
    i.indoption::text,
    coalesce(pg_catalog.pg_get_expr(i.indexprs, i.indrelid), ''),
    coalesce(pg_catalog.pg_get_expr(i.indpred, i.indrelid), '')
having count(*) > 1
